//! The embedded deployment without HTTP: each store operation, the
//! projection of a command of 100 statements, and a POST of 100 statements
//! through the gateway with its verdict awaited (validation, sealing, the
//! durable log append, projection), as `lrs serve` runs them.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lrs_core::store::{Order, Table};
use lrs_core::vault::KeyVault;
use lrs_core::{event, Command, EventLog, Gateway, Principal, Projector, QueryStore, TenantId, VerdictBus, WriteBatch};
use lrs_embedded::{EmbeddedLog, EmbeddedStore};
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use uuid::Uuid;
use xapi::Version;

fn statement(i: usize) -> Value {
    json!({
        "actor": {"objectType": "Agent", "name": format!("Learner {}", i % 1000), "mbox": format!("mailto:learner{}@example.com", i % 1000)},
        "verb": {"id": format!("http://example.com/verbs/v{}", i % 20), "display": {"en-US": "verb"}},
        "object": {"id": format!("http://example.com/activities/a{}", i % 500), "definition": {
            "name": {"en-US": format!("Activity {}", i % 500)},
            "type": "http://adlnet.gov/expapi/activities/assessment"}},
        "result": {"score": {"scaled": 0.75}, "success": true, "completion": true, "duration": "PT12M30S"},
        "context": {"registration": format!("00000000-0000-4000-8000-{:012}", i % 200),
                    "contextActivities": {"parent": [{"id": format!("http://example.com/courses/c{}", i % 10)}]},
                    "instructor": {"mbox": format!("mailto:teacher{}@example.com", i % 10)}},
    })
}

/// A statement as the gateway hands it to the log (id, authority, version set).
fn prepared(i: usize) -> Value {
    let mut statement = statement(i);
    statement["id"] = json!(Uuid::new_v4().to_string());
    statement["authority"] =
        json!({"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": "bench"}});
    statement["version"] = json!("1.0.3");
    statement["timestamp"] = json!("2026-11-22T10:00:00.123Z");
    statement
}

fn principal() -> Principal {
    Principal::with_all_scopes(
        TenantId::parse("bench").unwrap(),
        json!({"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": "bench"}}),
    )
}

/// The rows of `statements` statements' worth of index rows, in one partition each.
fn index_batch(round: u64, rows: usize) -> WriteBatch {
    let mut batch = WriteBatch::default();
    for i in 0..rows {
        let partition = format!("bench/verb/{}", i % 20).into_bytes();
        let clustering = (round * rows as u64 + i as u64).to_be_bytes().to_vec();
        batch.put(Table::ByVerb, partition, clustering, Uuid::new_v4().as_bytes().to_vec());
    }
    batch
}

fn store_benches(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("store")).unwrap();
    // Rows to read, whichever benchmarks the filter runs.
    runtime.block_on(store.write(index_batch(0, 1600))).unwrap();
    let mut group = c.benchmark_group("store");
    let mut round = 0;
    group.throughput(Throughput::Elements(1600));
    group.bench_function("write_rebuildable/1600_rows", |b| {
        b.iter_batched(
            || {
                round += 1;
                index_batch(round, 1600)
            },
            |batch| runtime.block_on(store.write_rebuildable(batch)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Elements(16));
    group.bench_function("write_durable/16_rows", |b| {
        b.iter_batched(
            || {
                round += 1;
                index_batch(round, 16)
            },
            |batch| runtime.block_on(store.write(batch)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Elements(1));
    let partition = b"bench/verb/3".to_vec();
    let some_key = runtime
        .block_on(store.scan(
            Table::ByVerb,
            &partition,
            (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
            Order::Descending,
            1,
        ))
        .unwrap()[0]
        .0
        .clone();
    group.bench_function("get/hit", |b| {
        b.iter(|| runtime.block_on(store.get(Table::ByVerb, &partition, &some_key)).unwrap().unwrap())
    });
    group.bench_function("get/miss", |b| {
        b.iter(|| runtime.block_on(store.get(Table::Statements, Uuid::new_v4().as_bytes(), &[])).unwrap())
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("scan/newest_100", |b| {
        b.iter(|| {
            let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
            let rows = runtime.block_on(store.scan(Table::ByVerb, &partition, all, Order::Descending, 100)).unwrap();
            assert_eq!(rows.len(), 100);
        })
    });
    group.finish();
}

fn projection_benches(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let store: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    let bus = VerdictBus::new();
    let projector = Projector::new(log.clone(), store, Arc::new(bus), 0);
    let tenant = TenantId::parse("bench").unwrap();
    let mut group = c.benchmark_group("projection");
    group.throughput(Throughput::Elements(100));
    group.sample_size(30);
    let mut next = 0;
    group.bench_function("project/100_statements", |b| {
        b.iter_batched(
            || {
                let statements = (next..next + 100).map(prepared).collect();
                next += 100;
                let command = Command::StoreStatements { statements, checks: Vec::new(), ids_made: Default::default() };
                let payload = event::encode(&tenant, Uuid::new_v4(), chrono::Utc::now().timestamp_micros(), &command);
                runtime.block_on(log.append(b"bench", payload)).unwrap();
            },
            |()| runtime.block_on(projector.catch_up_with(|_| {})).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn gateway_benches(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let store: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    let vault = KeyVault::new(Arc::new(lrs_embedded::FileVault::open(&dir.path().join("keys")).unwrap()));
    let bus = VerdictBus::new();
    let gateway = Gateway::new(log.clone(), Some(store.clone()), bus.clone(), Duration::from_secs(30))
        .with_vault(Arc::new(vault.clone()));
    let projector = Projector::new(log, store, Arc::new(bus), 0).with_vault(vault);
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    runtime.spawn(async move { projector.run(stopped).await });
    let principal = principal();
    let mut group = c.benchmark_group("gateway");
    group.throughput(Throughput::Elements(100));
    group.sample_size(30);
    let mut next = 0;
    group.bench_function("post_100_statements_verdict_awaited", |b| {
        b.iter_batched(
            || {
                let body = Value::Array((next..next + 100).map(statement).collect());
                next += 100;
                body
            },
            |body| {
                let ids = runtime
                    .block_on(gateway.store_statements(&principal, body, Version::V1_0_3, None, Vec::new()))
                    .unwrap();
                assert_eq!(ids.len(), 100);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(embedded_benches, store_benches, projection_benches, gateway_benches);
criterion_main!(embedded_benches);
