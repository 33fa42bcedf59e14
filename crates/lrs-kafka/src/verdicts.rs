//! The verdict channel: the projector publishes each command's verdict on the
//! verdicts topic, and every gateway process listens to it and wakes the
//! request awaiting that command. A gateway therefore needs nothing but Kafka.

use std::time::Duration;

use async_trait::async_trait;
use lrs_core::{Verdict, VerdictBus, VerdictSink};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use uuid::Uuid;

use crate::{KafkaSettings, KafkaSetupError};

/// Publishes verdicts on the verdicts topic.
#[derive(Clone)]
pub struct KafkaVerdicts {
    producer: FutureProducer,
    topic: String,
}

impl KafkaVerdicts {
    /// A publisher on the settings' verdicts topic.
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaSetupError> {
        Ok(Self { producer: settings.producer()?, topic: settings.verdicts_topic() })
    }

    /// Listens to the verdicts topic from its current end and hands every
    /// verdict to `bus`, on a thread of its own, until `bus`'s process exits.
    ///
    /// The end is read from the broker before this returns and assigned as a
    /// concrete offset: with `Offset::End` librdkafka resolves the end only at
    /// its first fetch, and a verdict published before that fetch (the first
    /// request after start-up, on a slow machine) would be missed and its
    /// request answered 503.
    pub fn listen(settings: &KafkaSettings, bus: VerdictBus) -> Result<(), KafkaSetupError> {
        let consumer: BaseConsumer = settings.consumer(&format!("lrs-gateway-{}", Uuid::new_v4()))?;
        let topic = settings.verdicts_topic();
        let (_, end) = consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10))?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&topic, 0, Offset::Offset(end))?;
        consumer.assign(&list)?;
        std::thread::Builder::new()
            .name("lrs-verdicts".into())
            .spawn(move || loop {
                match consumer.poll(Duration::from_millis(500)) {
                    Some(Ok(message)) => {
                        let parsed =
                            message.payload().and_then(|bytes| serde_json::from_slice::<serde_json::Value>(bytes).ok());
                        let Some(parsed) = parsed else { continue };
                        let command = parsed["command_id"].as_str().and_then(|id| Uuid::parse_str(id).ok());
                        let verdict = serde_json::from_value::<Verdict>(parsed["verdict"].clone()).ok();
                        if let (Some(command), Some(verdict)) = (command, verdict) {
                            bus.publish(command, verdict);
                        }
                    }
                    Some(Err(error)) => tracing::warn!(%error, "verdict channel read failed"),
                    None => {}
                }
            })
            .expect("spawn verdict listener");
        Ok(())
    }
}

#[async_trait]
impl VerdictSink for KafkaVerdicts {
    async fn publish(&self, verdicts: &[(Uuid, Verdict)]) {
        let sends = verdicts.iter().map(|(command_id, verdict)| {
            let payload = json!({ "command_id": command_id.to_string(), "verdict": verdict }).to_string();
            let key = command_id.as_bytes().to_vec();
            let producer = self.producer.clone();
            let topic = self.topic.clone();
            async move {
                let record = FutureRecord::to(&topic).key(&key).payload(&payload);
                if let Err((error, _)) = producer.send(record, Duration::from_secs(5)).await {
                    tracing::warn!(%error, "cannot publish a verdict; its gateway will answer 503");
                }
            }
        });
        futures::future::join_all(sends).await;
    }
}
