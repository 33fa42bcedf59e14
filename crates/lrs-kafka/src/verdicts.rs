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

    /// Listens to the verdicts topic from its end and hands every verdict to
    /// `bus`, on a thread of its own, until `bus`'s process exits.
    pub fn listen(settings: &KafkaSettings, bus: VerdictBus) -> Result<(), KafkaSetupError> {
        let consumer: BaseConsumer = settings.consumer(&format!("lrs-gateway-{}", Uuid::new_v4()))?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&settings.verdicts_topic(), 0, Offset::End)?;
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
