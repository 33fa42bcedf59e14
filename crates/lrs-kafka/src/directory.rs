//! The directory feed on a compacted topic: the projector publishes each
//! tenant and credential record it writes (keyed by record, so compaction
//! keeps the newest), and every gateway without a store reads the topic from
//! its start into a [`FollowedDirectory`] and follows it from there.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use lrs_core::store::StoreError;
use lrs_core::{DirectoryEntry, DirectoryFeed, FollowedDirectory};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use uuid::Uuid;

use crate::{KafkaSettings, KafkaSetupError};

/// Publishes directory entries on the directory topic.
#[derive(Clone)]
pub struct KafkaDirectoryFeed {
    producer: FutureProducer,
    topic: String,
    timeout: Duration,
}

impl KafkaDirectoryFeed {
    /// A publisher on the settings' directory topic.
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaSetupError> {
        Ok(Self {
            producer: settings.producer()?,
            topic: settings.directory_topic(),
            timeout: settings.delivery_timeout,
        })
    }
}

#[async_trait]
impl DirectoryFeed for KafkaDirectoryFeed {
    async fn publish(&self, entries: &[DirectoryEntry]) -> Result<(), StoreError> {
        // One at a time: the idempotent producer keeps their order, and a
        // failure stops before later entries overtake it.
        for entry in entries {
            let key = entry.key();
            let payload = serde_json::to_vec(entry).expect("directory entries serialise");
            let record = FutureRecord::to(&self.topic).key(&key).payload(&payload);
            self.producer
                .send(record, self.timeout)
                .await
                .map_err(|(error, _)| StoreError::Unavailable(format!("directory feed: {error}")))?;
        }
        Ok(())
    }
}

/// Reads the directory topic from its start into `directory` and returns
/// once it has read every entry published before the call (or after
/// `catch_up` passed, with an error); then goes on following the topic on a
/// thread of its own for the life of the process.
pub fn follow_directory(
    settings: &KafkaSettings,
    directory: FollowedDirectory,
    catch_up: Duration,
) -> Result<(), KafkaSetupError> {
    let consumer: BaseConsumer = settings.consumer(&format!("lrs-directory-{}", Uuid::new_v4()))?;
    let topic = settings.directory_topic();
    let (_, end) = consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10))?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(&topic, 0, Offset::Beginning)?;
    consumer.assign(&list)?;
    let deadline = Instant::now() + catch_up;
    let mut next = 0;
    while next < end {
        if Instant::now() > deadline {
            return Err(KafkaSetupError::CatchUp { topic, read: next, end });
        }
        if let Some(offset) = apply_next(&consumer, &directory, Duration::from_millis(200)) {
            next = offset + 1;
        }
    }
    let (tenants, credentials) = directory.len();
    tracing::info!(tenants, credentials, "directory caught up");
    std::thread::Builder::new()
        .name("lrs-directory".into())
        .spawn(move || loop {
            apply_next(&consumer, &directory, Duration::from_millis(500));
        })
        .expect("spawn directory follower");
    Ok(())
}

/// Polls one message and applies it; returns its offset when there was one.
fn apply_next(consumer: &BaseConsumer, directory: &FollowedDirectory, wait: Duration) -> Option<i64> {
    match consumer.poll(wait)? {
        Ok(message) => {
            let entry = message.payload().and_then(|bytes| serde_json::from_slice::<DirectoryEntry>(bytes).ok());
            match entry {
                Some(entry) => directory.apply(entry),
                None => tracing::warn!(offset = message.offset(), "skipping an unreadable directory entry"),
            }
            Some(message.offset())
        }
        Err(error) => {
            tracing::warn!(%error, "directory feed read failed");
            None
        }
    }
}
