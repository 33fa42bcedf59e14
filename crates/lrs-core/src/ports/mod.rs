//! The two ports every backend implements (the event log, the query tables) and the verdict channel back to the gateways.

pub mod log;
pub mod store;
pub mod verdict;
