//! The read path: answers from the query tables.

pub mod analytics;
pub mod quality;
pub mod query;
