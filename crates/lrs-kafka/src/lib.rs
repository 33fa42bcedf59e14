//! The distributed deployment's event log on Apache Kafka (rdkafka), and the
//! verdict channel that brings the projector's verdicts back to gateways in
//! other processes. The only crate that knows rdkafka.

mod log;
mod verdicts;

pub use log::{KafkaLog, KafkaSettings};
pub use verdicts::KafkaVerdicts;

/// Failures setting up Kafka clients.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    /// A client could not be created or the cluster did not answer.
    #[error("kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    /// The topic does not exist or has no partitions.
    #[error("kafka topic {0} has no partitions (is it created?)")]
    NoPartitions(String),
}
