//! The audit trail is kept one partition per month (not one partition for
//! ever), and read back whole and in time order across the months and the
//! single partition earlier versions wrote.

use std::sync::Arc;
use std::time::Duration;

use lrs_core::keys::KeyBuilder;
use lrs_core::tables::{audit_months_partition, audit_partition, audit_partition_before_months, month_of_micros};
use lrs_core::tenants::{audit_trail, AuditEntry};
use lrs_core::{AdminService, EventLog, Gateway, Projector, QueryStore, Table, VerdictBus, WriteBatch};
use lrs_embedded::{EmbeddedLog, EmbeddedStore};
use tokio::sync::watch;

fn entry(time_micros: i64, action: &str) -> AuditEntry {
    AuditEntry { time_micros, action: action.into(), tenant: "acme".into(), credential: None, detail: None }
}

/// The clustering key the projector gives an entry: its time first.
fn clustering(time_micros: i64) -> Vec<u8> {
    KeyBuilder::new().u64(time_micros as u64).u32(0).u64(0).build()
}

#[tokio::test]
async fn the_audit_trail_is_kept_by_month_and_read_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let store = EmbeddedStore::open(&dir.path().join("store")).unwrap();
    let shared: Arc<dyn QueryStore> = Arc::new(store.clone());
    let bus = VerdictBus::new();
    let gateway = Gateway::new(log.clone(), Some(shared.clone()), bus.clone(), Duration::from_secs(10));
    let projector = Projector::new(log, shared.clone(), Arc::new(bus), 0);
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(async move { projector.run(stopped).await.unwrap() });
    let admin = AdminService::new(gateway, shared.clone());
    admin.create_tenant("acme", "Acme", None).await.unwrap();
    stop.send(true).unwrap();
    running.await.unwrap();

    // The projector wrote the entry into this month's partition.
    let now = chrono::Utc::now().timestamp_micros();
    let rows = store.dump(Table::Audit).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows.iter().all(|(partition, _, _)| *partition == audit_partition(month_of_micros(now))), "{rows:?}");

    // Entries of an earlier version (one partition) and of a month ago.
    let year = 365 * 86_400_000_000_i64;
    let (before, last_month) = (now - year, now - 31 * 86_400_000_000_i64);
    let mut batch = WriteBatch::default();
    let before_entry = serde_json::to_vec(&entry(before, "tenant.suspend")).unwrap();
    batch.put(Table::Audit, audit_partition_before_months(), clustering(before), before_entry);
    let month = month_of_micros(last_month);
    let last_month_entry = serde_json::to_vec(&entry(last_month, "tenant.resume")).unwrap();
    batch.put(Table::Audit, audit_partition(month), clustering(last_month), last_month_entry);
    batch.put(Table::Meta, audit_months_partition(), month.to_be_bytes().to_vec(), Vec::new());
    shared.write(batch).await.unwrap();

    let trail = audit_trail(shared.as_ref()).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["tenant.suspend", "tenant.resume", "tenant.create"], "oldest first, every partition");
    assert!(trail.windows(2).all(|pair| pair[0].time_micros <= pair[1].time_micros));
}
