//! The event log on a Kafka topic: an idempotent producer with acks=all, the
//! tenant as the message key, and one reader per partition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lrs_core::log::{EventLog, LogError, LogRecord};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::KafkaSetupError;

/// Where the log lives and how it is created.
#[derive(Clone, Debug)]
pub struct KafkaSettings {
    /// `bootstrap.servers`, e.g. `127.0.0.1:9092`.
    pub brokers: String,
    /// Name prefix of the topics (`<prefix>.events`, `<prefix>.verdicts`).
    pub topic_prefix: String,
    /// Partitions of the events topic when this process creates it.
    pub partitions: i32,
    /// Replication factor when this process creates a topic.
    pub replication: i32,
    /// Create missing topics with the admin API (not supported by librdkafka's mock cluster).
    pub create_topics: bool,
    /// How long a produce may take before the write is answered 503.
    pub delivery_timeout: Duration,
}

impl KafkaSettings {
    /// Settings for `brokers` with the defaults of the other fields.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic_prefix: "lrs".into(),
            partitions: 6,
            replication: 1,
            create_topics: true,
            delivery_timeout: Duration::from_secs(10),
        }
    }

    /// The topic of command events.
    pub fn events_topic(&self) -> String {
        format!("{}.events", self.topic_prefix)
    }

    /// The topic of verdicts.
    pub fn verdicts_topic(&self) -> String {
        format!("{}.verdicts", self.topic_prefix)
    }

    /// The compacted topic of the directory of tenants and credentials.
    pub fn directory_topic(&self) -> String {
        format!("{}.directory", self.topic_prefix)
    }

    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers).set("broker.address.family", "v4");
        config
    }

    pub(crate) fn producer(&self) -> Result<FutureProducer, KafkaSetupError> {
        let timeout_ms = self.delivery_timeout.as_millis().to_string();
        Ok(self
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "1")
            .set("message.timeout.ms", &timeout_ms)
            .create()?)
    }

    pub(crate) fn consumer(&self, group: &str) -> Result<BaseConsumer, KafkaSetupError> {
        Ok(self
            .client_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "20")
            .create()?)
    }

    /// Creates the topics if they are missing (a no-op when they exist).
    pub async fn ensure_topics(&self) -> Result<(), KafkaSetupError> {
        if !self.create_topics {
            return Ok(());
        }
        let admin: AdminClient<_> = self.client_config().create()?;
        let events = self.events_topic();
        let verdicts = self.verdicts_topic();
        let directory = self.directory_topic();
        let topics = [
            NewTopic::new(&events, self.partitions, TopicReplication::Fixed(self.replication)),
            NewTopic::new(&verdicts, 1, TopicReplication::Fixed(self.replication)),
            // Keyed by record: compaction keeps the newest of each, for ever.
            NewTopic::new(&directory, 1, TopicReplication::Fixed(self.replication)).set("cleanup.policy", "compact"),
        ];
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics(&topics, &options).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(KafkaSetupError::Client(rdkafka::error::KafkaError::AdminOp(code)))
                        .inspect_err(|_| tracing::error!(%topic, ?code, "cannot create topic"));
                }
            }
        }
        Ok(())
    }
}

/// The event log on Kafka.
#[derive(Clone)]
pub struct KafkaLog {
    settings: KafkaSettings,
    topic: String,
    producer: Arc<std::sync::RwLock<FutureProducer>>,
    metadata: Arc<BaseConsumer>,
    partitions: u32,
    readers: Arc<Mutex<HashMap<u32, Arc<Mutex<PartitionReader>>>>>,
}

/// A consumer assigned to one partition, and where it will read next.
struct PartitionReader {
    consumer: BaseConsumer,
    next: Option<i64>,
}

impl KafkaLog {
    /// Connects to the cluster, creating the topics when allowed, and learns
    /// the partition count of the events topic.
    pub async fn connect(settings: KafkaSettings) -> Result<Self, KafkaSetupError> {
        settings.ensure_topics().await?;
        let topic = settings.events_topic();
        let producer = settings.producer()?;
        let metadata = Arc::new(settings.consumer("lrs-metadata")?);
        let partitions = {
            let metadata = metadata.clone();
            let topic = topic.clone();
            tokio::task::spawn_blocking(move || count_partitions(&metadata, &topic))
                .await
                .map_err(|_| KafkaSetupError::NoPartitions(settings.events_topic()))??
        };
        let producer = Arc::new(std::sync::RwLock::new(producer));
        Ok(Self { settings, topic, producer, metadata, partitions, readers: Arc::default() })
    }

    fn reader(&self, partition: u32) -> Result<Arc<Mutex<PartitionReader>>, LogError> {
        let mut readers = self.readers.lock().expect("readers lock");
        if let Some(reader) = readers.get(&partition) {
            return Ok(reader.clone());
        }
        let consumer = self.settings.consumer("lrs-projector").map_err(|e| LogError::Unavailable(e.to_string()))?;
        let reader = Arc::new(Mutex::new(PartitionReader { consumer, next: None }));
        readers.insert(partition, reader.clone());
        Ok(reader)
    }

    /// Replaces a producer whose write failed with a new one (a new producer id
    /// at the next send): a write that failed was answered 503 and its retry
    /// is safe, and a broker that lost its producer state while it was down
    /// then never sees the old producer id again.
    fn renew_producer(&self, failed: &FutureProducer) {
        let mut current = self.producer.write().expect("producer lock");
        if !std::ptr::eq(current.client().native_ptr(), failed.client().native_ptr()) {
            return; // another request renewed it already
        }
        match self.settings.producer() {
            Ok(fresh) => *current = fresh,
            Err(error) => tracing::warn!(%error, "cannot create a new Kafka producer"),
        }
    }

    /// Records the projector's position in the consumer group (asynchronously),
    /// so that Kafka tools see the projector's lag. The store keeps the
    /// authoritative position.
    pub fn commit_position(&self, partition: u32, next: u64) -> Result<(), LogError> {
        let reader = self.reader(partition)?;
        let reader = reader.lock().expect("reader lock");
        let mut list = TopicPartitionList::new();
        let offset = Offset::Offset(i64::try_from(next).unwrap_or(i64::MAX));
        list.add_partition_offset(&self.topic, partition as i32, offset).map_err(unavailable)?;
        reader.consumer.commit(&list, rdkafka::consumer::CommitMode::Async).map_err(unavailable)
    }
}

fn count_partitions(consumer: &BaseConsumer, topic: &str) -> Result<u32, KafkaSetupError> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let count = metadata.topics().iter().find(|t| t.name() == topic).map_or(0, |t| t.partitions().len());
    if count == 0 {
        return Err(KafkaSetupError::NoPartitions(topic.to_owned()));
    }
    Ok(count as u32)
}

fn unavailable(error: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(error.to_string())
}

fn read_blocking(
    reader: &mut PartitionReader,
    topic: &str,
    partition: u32,
    from: u64,
    max: usize,
    wait: Duration,
) -> Result<Vec<LogRecord>, LogError> {
    let from = i64::try_from(from).unwrap_or(i64::MAX);
    if reader.next != Some(from) {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition as i32, Offset::Offset(from)).map_err(unavailable)?;
        reader.consumer.assign(&list).map_err(unavailable)?;
        reader.next = Some(from);
    }
    let deadline = Instant::now() + wait;
    let mut records = Vec::new();
    while records.len() < max {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let timeout = if records.is_empty() { remaining.max(Duration::from_millis(1)) } else { Duration::ZERO };
        let Some(message) = reader.consumer.poll(timeout) else {
            if records.is_empty() && Instant::now() < deadline {
                continue;
            }
            break;
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                reader.next = None;
                return Err(unavailable(error));
            }
        };
        let offset = message.offset();
        if offset < reader.next.unwrap_or(0) {
            continue;
        }
        reader.next = Some(offset + 1);
        let millis = message.timestamp().to_millis().unwrap_or(0);
        records.push(LogRecord {
            partition,
            offset: offset as u64,
            timestamp_micros: millis.saturating_mul(1000),
            payload: message.payload().unwrap_or_default().to_vec(),
        });
    }
    Ok(records)
}

#[async_trait]
impl EventLog for KafkaLog {
    async fn append(&self, key: &[u8], payload: Vec<u8>) -> Result<(u32, u64), LogError> {
        self.append_traced(key, payload, &[]).await
    }

    async fn append_traced(
        &self,
        key: &[u8],
        payload: Vec<u8>,
        trace_context: &[(String, String)],
    ) -> Result<(u32, u64), LogError> {
        let mut headers = OwnedHeaders::new_with_capacity(trace_context.len());
        for (name, value) in trace_context {
            headers = headers.insert(Header { key: name, value: Some(value.as_bytes()) });
        }
        let record = FutureRecord::to(&self.topic).key(key).payload(&payload).headers(headers);
        let producer = self.producer.read().expect("producer lock").clone();
        match producer.send(record, self.settings.delivery_timeout).await {
            Ok(delivery) => Ok((delivery.partition as u32, delivery.offset as u64)),
            Err((error, _)) => {
                self.renew_producer(&producer);
                Err(LogError::Unavailable(error.to_string()))
            }
        }
    }

    async fn read(&self, partition: u32, from: u64, max: usize, wait: Duration) -> Result<Vec<LogRecord>, LogError> {
        let reader = self.reader(partition)?;
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            let mut reader = reader.lock().expect("reader lock");
            read_blocking(&mut reader, &topic, partition, from, max, wait)
        })
        .await
        .map_err(unavailable)?
    }

    async fn end_offset(&self, partition: u32) -> Result<u64, LogError> {
        let metadata = self.metadata.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            metadata
                .fetch_watermarks(&topic, partition as i32, Duration::from_secs(5))
                .map(|(_, high)| high.max(0) as u64)
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)
    }

    fn partitions(&self) -> u32 {
        self.partitions
    }

    async fn applied(&self, partition: u32, next: u64) -> Result<(), LogError> {
        self.commit_position(partition, next)
    }
}
