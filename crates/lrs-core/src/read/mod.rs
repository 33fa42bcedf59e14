//! The read path: answers from the query tables.

pub mod analytics;
pub mod day_blocks;
pub mod quality;
pub mod query;
