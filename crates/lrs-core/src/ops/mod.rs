//! Operations: Prometheus metrics, readiness and the trace context that travels with a command.

pub mod health;
pub mod metrics;
pub mod trace;
