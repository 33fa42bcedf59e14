//! The verdict table does not grow for ever: a verdict row is written only
//! for a command a gateway awaits (a UUIDv7 id) and younger than the
//! retention, the gateway finds it there when the bus misses it, and the
//! projector drops the buckets past the retention — and, once, the rows an
//! earlier version kept by tenant and command id.

use std::sync::Arc;
use std::time::Duration;

use lrs_core::event::Command;
use lrs_core::tables::{command_minute, verdict_bucket, verdict_key};
use lrs_core::{
    EventLog, Gateway, Principal, Projector, QueryStore, Table, TenantId, Verdict, VerdictBus, VerdictSink, WriteBatch,
};
use lrs_embedded::{EmbeddedLog, EmbeddedStore};
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;
use xapi::Version;

/// A sink that loses every verdict, as a bus between processes can.
struct Lost;

#[async_trait::async_trait]
impl VerdictSink for Lost {
    async fn publish(&self, _verdicts: &[(Uuid, Verdict)]) {}
}

fn principal() -> Principal {
    Principal::with_all_scopes(
        TenantId::parse("default").unwrap(),
        json!({"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": "default"}}),
    )
}

fn statement() -> serde_json::Value {
    json!({"actor": {"mbox": "mailto:v@example.com"}, "verb": {"id": "http://example.com/verbs/did"},
           "object": {"id": "http://example.com/verdicts"}})
}

async fn verdict_rows(store: &EmbeddedStore) -> Vec<(Vec<u8>, Vec<u8>)> {
    store.dump(Table::Verdicts).await.unwrap().into_iter().map(|(p, c, _)| (p, c)).collect()
}

#[tokio::test]
async fn verdicts_are_kept_while_awaited_and_dropped_after_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let store = EmbeddedStore::open(&dir.path().join("store")).unwrap();
    let shared: Arc<dyn QueryStore> = Arc::new(store.clone());
    let tenant = TenantId::parse("default").unwrap();

    // A row as an earlier version wrote it: partition (tenant, command id).
    let earlier = lrs_core::keys::KeyBuilder::new().str("default").bytes(Uuid::new_v4().as_bytes()).build();
    let mut batch = WriteBatch::default();
    batch.put(Table::Verdicts, earlier.clone(), Vec::new(), b"{}".to_vec());
    // And one of this version, two hours old.
    let two_hours_ago = chrono::Utc::now().timestamp() as u64 / 60 - 120;
    batch.put(Table::Verdicts, verdict_bucket(0, two_hours_ago), b"old".to_vec(), b"{}".to_vec());
    shared.write(batch).await.unwrap();

    // The projector's verdicts never reach the gateway's bus: the gateway
    // must find its answer in the table once its deadline passes.
    let bus = VerdictBus::new();
    let gateway = Gateway::new(log.clone(), Some(shared.clone()), bus, Duration::from_millis(300));
    let projector = Projector::new(log.clone(), shared.clone(), Arc::new(Lost), 0);
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(async move { projector.run(stopped).await.unwrap() });
    let ids = gateway.store_statements(&principal(), statement(), Version::V1_0_3, None, Vec::new()).await;
    assert_eq!(ids.map(|ids| ids.len()).ok(), Some(1), "the gateway read its verdict from the table");
    stop.send(true).unwrap();
    running.await.unwrap();

    // Its first sweep (at start) dropped the earlier version's row and the
    // two-hour-old bucket; the fresh verdict stays.
    let rows = verdict_rows(&store).await;
    assert_eq!(rows.len(), 1, "only the fresh verdict: {rows:?}");
    assert!(rows.iter().all(|(partition, _)| partition != &earlier));

    // A command older than the retention (a replay of an old log) gets no
    // row, nor does one whose id says no one awaits it (not a UUIDv7).
    let hours_ago = uuid::Timestamp::from_unix(uuid::NoContext, chrono::Utc::now().timestamp() as u64 - 7_200, 0);
    let old_id = Uuid::new_v7(hours_ago);
    assert!(command_minute(old_id).is_some() && command_minute(Uuid::new_v4()).is_none());
    let command =
        Command::StoreStatements { statements: vec![statement()], checks: Vec::new(), ids_made: Default::default() };
    for id in [old_id, Uuid::new_v4()] {
        let payload = lrs_core::event::encode(&tenant, id, chrono::Utc::now().timestamp_micros(), &command);
        log.append(b"default", payload).await.unwrap();
    }
    let projector = Projector::new(log.clone(), shared.clone(), Arc::new(Lost), 0)
        .with_verdict_retention(Duration::from_secs(3600));
    let end = log.end_offset(0).await.unwrap();
    projector.catch_up_with(|_| {}).await.unwrap();
    assert_eq!(projector.position().await.unwrap(), end);
    assert!(verdict_key(0, &tenant, old_id).is_some());
    assert_eq!(verdict_rows(&store).await.len(), 1, "no row for the old command nor the unawaited one");

    // With a retention of a minute, a sweep drops the fresh verdict two
    // minutes on; here its bucket is moved back in time instead of waiting.
    let (partition, clustering) = verdict_rows(&store).await.remove(0);
    let mut batch = WriteBatch::default();
    batch.delete(Table::Verdicts, partition, clustering.clone());
    batch.put(Table::Verdicts, verdict_bucket(0, two_hours_ago + 100), clustering, b"{}".to_vec());
    let now = chrono::Utc::now().timestamp() as u64 / 60;
    batch.put(Table::Verdicts, verdict_bucket(0, now), b"current".to_vec(), b"{}".to_vec());
    shared.write(batch).await.unwrap();
    let short = Projector::new(log, shared.clone(), Arc::new(Lost), 0).with_verdict_retention(Duration::from_secs(60));
    assert_eq!(short.sweep_verdicts().await.unwrap(), 1, "the bucket past the retention goes");
    let rows = verdict_rows(&store).await;
    assert_eq!(rows.len(), 1, "the current minute stays: {rows:?}");
    assert_eq!(rows[0].1, b"current".to_vec());
}
