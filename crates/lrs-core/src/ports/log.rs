//! The event-log port: an append-only, partitioned, durable log.

use std::time::Duration;

use async_trait::async_trait;

/// One record read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Partition the record is in.
    pub partition: u32,
    /// Offset of the record in its partition (0, 1, 2, …).
    pub offset: u64,
    /// Time the log accepted the record, microseconds since the Unix epoch.
    pub timestamp_micros: i64,
    /// The encoded envelope.
    pub payload: Vec<u8>,
}

/// Failures of a log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log cannot be reached or did not accept the write.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// The log's storage failed.
    #[error("event log storage failed: {0}")]
    Storage(String),
}

/// An append-only log of events, keyed by tenant so that one tenant's events
/// keep their order.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends a record durably and returns its partition and offset. When
    /// this returns `Ok`, the record survives a crash.
    async fn append(&self, key: &[u8], payload: Vec<u8>) -> Result<(u32, u64), LogError>;

    /// Appends like `append`, carrying the request's trace context
    /// (`traceparent`, `tracestate`) as record headers where the log has them.
    async fn append_traced(
        &self,
        key: &[u8],
        payload: Vec<u8>,
        _trace_context: &[(String, String)],
    ) -> Result<(u32, u64), LogError> {
        self.append(key, payload).await
    }

    /// Reads up to `max` records of `partition` starting at offset `from`,
    /// waiting up to `wait` for the first one to arrive.
    async fn read(&self, partition: u32, from: u64, max: usize, wait: Duration) -> Result<Vec<LogRecord>, LogError>;

    /// The offset the next record of `partition` will get.
    async fn end_offset(&self, partition: u32) -> Result<u64, LogError>;

    /// Number of partitions.
    fn partitions(&self) -> u32;

    /// Why appends fail, when the last one failed and none has succeeded
    /// since (a full disk, say): readiness reports it. `None` when appends
    /// succeed, and from logs that do not keep it (the default): Kafka's
    /// failures pass, and a gateway taken out of traffic would never append
    /// again to clear one; its readiness asks the broker instead.
    fn append_fault(&self) -> Option<String> {
        None
    }

    /// Told after the projector has durably applied `partition` up to `next`
    /// (exclusive). The projector's own position lives in the store, written
    /// with its tables; a log may mirror it (Kafka commits it to the consumer
    /// group, so lag tools see the projector). The default does nothing.
    async fn applied(&self, _partition: u32, _next: u64) -> Result<(), LogError> {
        Ok(())
    }
}
