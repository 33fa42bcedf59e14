//! The read path: answers from the query tables.

pub mod analytics;
pub mod query;
