//! The write path: validate and normalise a write, seal it, append it to the log, await its verdict.

pub mod attachments;
pub mod gateway;
pub mod plan;
