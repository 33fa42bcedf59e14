//! The read path: answers from the query tables.

pub mod query;
