//! The projector keeps what its written batches left in the activity and
//! agent rows (merged definitions, names) for the next batch. A batch whose
//! write fails is applied again from the store as it is, not from what the
//! failed attempt learned: otherwise the retried batch would find its own
//! merge already done and write nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lrs_core::store::{ClusteringRange, Order, Rows, TableRow};
use lrs_core::{
    EventLog, Gateway, Principal, Projector, QueryService, QueryStore, StoreError, Table, TenantId, VerdictBus,
    WriteBatch,
};
use lrs_embedded::{EmbeddedLog, EmbeddedStore};
use serde_json::{json, Value};
use tokio::sync::watch;
use xapi::Version;

/// The embedded store, whose writes fail while `failing` is set (a store
/// node away, a full disk).
struct Flaky {
    inner: EmbeddedStore,
    failing: AtomicBool,
}

#[async_trait]
impl QueryStore for Flaky {
    async fn get(&self, table: Table, partition: &[u8], clustering: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(table, partition, clustering).await
    }

    async fn scan(
        &self,
        table: Table,
        partition: &[u8],
        range: ClusteringRange,
        order: Order,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        self.inner.scan(table, partition, range, order, limit).await
    }

    async fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Storage("the store is away (test)".into()));
        }
        self.inner.write(batch).await
    }

    async fn dump(&self, table: Table) -> Result<Vec<TableRow>, StoreError> {
        self.inner.dump(table).await
    }

    async fn put_if_absent(
        &self,
        table: Table,
        partition: &[u8],
        clustering: &[u8],
        value: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.put_if_absent(table, partition, clustering, value).await
    }
}

const ACTIVITY: &str = "http://example.com/activities/learned";
const MBOX: &str = "mailto:learned@example.com";

fn statement(name: &str, definition: Value) -> Value {
    json!({
        "actor": {"mbox": MBOX, "name": name},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": ACTIVITY, "definition": definition},
    })
}

#[tokio::test]
async fn a_batch_retried_after_a_failed_write_still_merges_the_definition_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let flaky = Arc::new(Flaky {
        inner: EmbeddedStore::open(&dir.path().join("store")).unwrap(),
        failing: AtomicBool::new(false),
    });
    let store: Arc<dyn QueryStore> = flaky.clone();
    let bus = VerdictBus::new();
    let gateway = Arc::new(Gateway::new(log.clone(), Some(store.clone()), bus.clone(), Duration::from_secs(20)));
    let query = QueryService::new(store.clone(), log.clone());
    let (stop, stopped) = watch::channel(false);
    let projector = Projector::new(log, store, Arc::new(bus), 0);
    let projector = tokio::spawn(async move { projector.run(stopped).await.unwrap() });
    let tenant = TenantId::parse("default").unwrap();
    let principal = Principal::with_all_scopes(
        tenant.clone(),
        json!({"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": "default"}}),
    );

    // A first batch, written: the projector now knows the activity and the agent.
    let first = statement("Ann", json!({"name": {"en-US": "One"}}));
    gateway.store_statements(&principal, first, Version::V1_0_3, None, Vec::new()).await.unwrap();

    // The next batch adds to both, but its first writes fail.
    flaky.failing.store(true, Ordering::SeqCst);
    let second = statement("Annie", json!({"description": {"en-US": "Two"}}));
    let posting = {
        let (gateway, principal) = (gateway.clone(), principal.clone());
        tokio::spawn(
            async move { gateway.store_statements(&principal, second, Version::V1_0_3, None, Vec::new()).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!posting.is_finished(), "the batch cannot be stored while the store fails");
    flaky.failing.store(false, Ordering::SeqCst);
    posting.await.unwrap().expect("the batch is stored once the store is back");

    let activity = query.activity(&tenant, ACTIVITY).await.unwrap().expect("the activity is known");
    assert_eq!(activity["definition"]["name"], json!({"en-US": "One"}), "{activity}");
    assert_eq!(activity["definition"]["description"], json!({"en-US": "Two"}), "{activity}");
    let mut names = query.agent_names(&tenant, &format!("mbox:{MBOX}")).await.unwrap();
    names.sort();
    assert_eq!(names, ["Ann", "Annie"]);

    stop.send(true).unwrap();
    projector.await.unwrap();
}
