//! The query tables on ScyllaDB: `ScyllaStore` implements
//! [`lrs_core::QueryStore`] with the scylla driver, one CQL table per
//! [`lrs_core::Table`] of schema `(p blob, c blob, v blob, PRIMARY KEY ((p), c))`
//! clustered ascending. The order-preserving byte keys of `lrs_core::keys`
//! make blob clustering order equal to tuple order.
//!
//! **Architecture Invariant:** the only crate that knows the scylla driver.

mod cql;
mod error;
mod settings;
mod store;

pub use error::ScyllaError;
pub use settings::{Credentials, Replication, ScyllaSettings};
pub use store::ScyllaStore;
