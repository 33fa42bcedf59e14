//! The Kafka event log passes the log suite every log passes: against
//! librdkafka's in-process mock cluster always, and against a real
//! Kafka-protocol broker at LRS_KAFKA_BROKERS (started by `make test` through
//! scripts/kafka-broker.sh). Under CI the real-broker test refuses to skip.

use std::sync::Arc;
use std::time::Duration;

use lrs_core::testsuite::log_suite;
use lrs_core::{EventLog, Verdict, VerdictBus, VerdictSink};
use lrs_kafka::{KafkaLog, KafkaSettings, KafkaVerdicts};
use rdkafka::mocking::MockCluster;
use uuid::Uuid;

fn unique_settings(brokers: &str) -> KafkaSettings {
    let mut settings = KafkaSettings::new(brokers);
    settings.topic_prefix = format!("test-{}", Uuid::new_v4().simple());
    settings.partitions = 3;
    settings
}

/// The broker of the real-broker tests, or `None` (a skip, said out loud) outside CI.
fn real_broker() -> Option<String> {
    match std::env::var("LRS_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.is_empty() => Some(brokers),
        _ => {
            assert!(std::env::var("CI").is_err(), "CI must run the Kafka tests: LRS_KAFKA_BROKERS is not set");
            let why = "LRS_KAFKA_BROKERS is not set; run `make test` to start a broker";
            eprintln!("SKIPPED: {why}");
            // The line scripts/test-all.sh lists after the tests.
            if let Ok(path) = std::env::var("LRS_SKIP_LOG") {
                use std::io::Write as _;
                let test = std::thread::current().name().unwrap_or("a test").to_owned();
                if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                    let _ = writeln!(file, "lrs-kafka {test}: {why}");
                }
            }
            None
        }
    }
}

#[tokio::test]
async fn kafka_log_passes_the_log_suite_on_the_mock_cluster() {
    // librdkafka's mock cluster runs in this process: no real broker here, which
    // is what the next test is for.
    let cluster = MockCluster::new(1).unwrap();
    let mut settings = unique_settings(&cluster.bootstrap_servers());
    settings.create_topics = false;
    cluster.create_topic(&settings.events_topic(), 1, 1).unwrap();
    let log = KafkaLog::connect(settings).await.unwrap();
    log_suite(Arc::new(log)).await;
}

#[tokio::test]
async fn kafka_log_passes_the_log_suite_on_a_real_broker() {
    let Some(brokers) = real_broker() else { return };
    let mut settings = unique_settings(&brokers);
    settings.partitions = 1;
    let log = KafkaLog::connect(settings).await.unwrap();
    log_suite(Arc::new(log)).await;
}

#[tokio::test]
async fn a_tenant_keeps_one_partition_and_every_partition_reads_back() {
    let Some(brokers) = real_broker() else { return };
    let log = KafkaLog::connect(unique_settings(&brokers)).await.unwrap();
    assert_eq!(log.partitions(), 3);
    let mut partition_of_a = None;
    for i in 0..10u8 {
        let (partition, _) = log.append(b"tenant-a", vec![i]).await.unwrap();
        assert_eq!(*partition_of_a.get_or_insert(partition), partition, "one tenant, one partition");
        log.append(format!("tenant-{i}").as_bytes(), vec![100 + i]).await.unwrap();
    }
    let mut total = 0;
    for partition in 0..3 {
        let end = log.end_offset(partition).await.unwrap();
        let records = log.read(partition, 0, 100, Duration::from_secs(2)).await.unwrap();
        assert_eq!(records.len() as u64, end, "partition {partition} reads back whole");
        total += records.len();
    }
    assert_eq!(total, 20);
}

#[tokio::test]
async fn verdicts_reach_a_listening_gateway_through_the_broker() {
    let Some(brokers) = real_broker() else { return };
    let settings = unique_settings(&brokers);
    settings.ensure_topics().await.unwrap();
    let bus = VerdictBus::new();
    KafkaVerdicts::listen(&settings, bus.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let command = Uuid::new_v4();
    let mut wait = bus.register(command);
    let publisher = KafkaVerdicts::new(&settings).unwrap();
    publisher.publish(&[(command, Verdict::Written)]).await;
    let verdict = tokio::time::timeout(Duration::from_secs(15), wait.recv()).await.expect("verdict arrives");
    assert_eq!(verdict, Some(Verdict::Written));
}
