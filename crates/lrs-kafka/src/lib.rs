//! The distributed deployment's event log on Apache Kafka (rdkafka), and the
//! verdict channel that brings the projector's verdicts back to gateways in
//! other processes, and the directory feed that tells them every tenant and
//! credential. The only crate that knows rdkafka.

mod directory;
mod log;
mod verdicts;

pub use directory::{follow_directory, KafkaDirectoryFeed};
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
    /// A topic could not be read up to its end in time.
    #[error("kafka topic {topic}: read {read} of {end} records before the deadline")]
    CatchUp {
        /// The topic.
        topic: String,
        /// Records read.
        read: i64,
        /// Records it held when reading began.
        end: i64,
    },
}
