//! The embedded deployment's storage: an on-disk event log and an on-disk
//! ordered store for the query tables, both on redb (a pure-Rust, ACID,
//! copy-on-write B-tree with checksummed commits), so `lrs serve` needs no
//! other server.

mod log;
mod store;

pub use log::EmbeddedLog;
pub use store::EmbeddedStore;

/// Failures opening the embedded storage.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The database file could not be opened or created.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: Box<redb::Error>,
    },
}
