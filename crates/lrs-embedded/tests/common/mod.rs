//! What several tests of this crate share.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lrs_core::store::{ClusteringRange, Order, Rows, TableRow};
use lrs_core::{
    EventLog, Gateway, Principal, Projector, QueryService, QueryStore, StoreError, Table, TenantId, VerdictBus,
    WriteBatch,
};
use lrs_embedded::{EmbeddedLog, EmbeddedStore};
use serde_json::json;
use tokio::sync::watch;

/// A gateway, a projector and a query service on an embedded log and a
/// [`WatchedStore`] in one directory, for the tenant `default`.
#[allow(dead_code)] // not every test binary runs the whole pipeline
pub(crate) struct Pipeline {
    /// The store, as the test watches and disturbs it.
    pub(crate) watched: Arc<WatchedStore>,
    /// The gateway (its verdicts awaited for up to 20 s).
    pub(crate) gateway: Arc<Gateway>,
    /// Reads of the same store.
    pub(crate) query: QueryService,
    /// A credential of the tenant `default` with every scope.
    pub(crate) principal: Principal,
    stop: watch::Sender<bool>,
    projector: tokio::task::JoinHandle<()>,
}

#[allow(dead_code)] // not every test binary runs the whole pipeline
impl Pipeline {
    /// Starts it in `dir`, the projector with no projection downstream.
    pub(crate) fn start(dir: &Path) -> Self {
        let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.join("log.redb")).unwrap());
        let watched = Arc::new(WatchedStore::new(EmbeddedStore::open(&dir.join("store")).unwrap()));
        let store: Arc<dyn QueryStore> = watched.clone();
        let bus = VerdictBus::new();
        let gateway = Arc::new(Gateway::new(log.clone(), Some(store.clone()), bus.clone(), Duration::from_secs(20)));
        let query = QueryService::new(store.clone(), log.clone());
        let (stop, stopped) = watch::channel(false);
        let projector = Projector::new(log, store, Arc::new(bus), 0);
        let projector = tokio::spawn(async move { projector.run(stopped).await.unwrap() });
        let principal = Principal::with_all_scopes(
            TenantId::parse("default").unwrap(),
            json!({"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": "default"}}),
        );
        Self { watched, gateway, query, principal, stop, projector }
    }

    /// Stops the projector and waits for it.
    pub(crate) async fn stop(self) {
        self.stop.send(true).unwrap();
        self.projector.await.unwrap();
    }
}

/// The embedded store, watched and disturbed by a test: its writes fail
/// while `failing` is set (a store node away, a full disk), and it counts
/// the reads of the whole credentials table.
pub(crate) struct WatchedStore {
    /// The store itself.
    pub(crate) inner: EmbeddedStore,
    /// Writes fail while this is set.
    pub(crate) failing: AtomicBool,
    /// How many times the whole credentials table was read.
    pub(crate) credential_dumps: AtomicUsize,
    /// How many rows of the `statements` table (by id) were read.
    pub(crate) statement_reads: AtomicUsize,
    /// How many scans of analytics facts were made (a part of a tenant's day each).
    pub(crate) fact_scans: AtomicUsize,
    /// How many scans of log partition 0's stale analytics marks were made.
    pub(crate) stale_scans: AtomicUsize,
    /// While set: a counter a test's other task moves, and its value at
    /// each read (get or scan) since.
    pub(crate) read_marks: std::sync::Mutex<Option<(Arc<AtomicUsize>, Vec<usize>)>>,
    /// The scans of the `quality_names` table: partition and range.
    pub(crate) name_scans: std::sync::Mutex<Vec<(Vec<u8>, ClusteringRange)>>,
    /// How many scans of the statement indexes (by stored, verb, activity,
    /// agent, registration) were made.
    pub(crate) index_scans: AtomicUsize,
}

impl WatchedStore {
    /// Watches `inner`; nothing fails yet.
    pub(crate) fn new(inner: EmbeddedStore) -> Self {
        Self {
            inner,
            failing: AtomicBool::new(false),
            credential_dumps: AtomicUsize::new(0),
            statement_reads: AtomicUsize::new(0),
            fact_scans: AtomicUsize::new(0),
            stale_scans: AtomicUsize::new(0),
            read_marks: std::sync::Mutex::new(None),
            name_scans: std::sync::Mutex::new(Vec::new()),
            index_scans: AtomicUsize::new(0),
        }
    }

    /// Notes the watched counter's value at a read, while one is watched.
    fn mark_read(&self) {
        if let Some((counter, marks)) = self.read_marks.lock().unwrap().as_mut() {
            marks.push(counter.load(Ordering::SeqCst));
        }
    }
}

#[async_trait]
impl QueryStore for WatchedStore {
    async fn get(&self, table: Table, partition: &[u8], clustering: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if table == Table::Statements {
            self.statement_reads.fetch_add(1, Ordering::SeqCst);
        }
        self.mark_read();
        self.inner.get(table, partition, clustering).await
    }

    async fn get_many(&self, table: Table, keys: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.inner.get_many(table, keys).await
    }

    async fn scan(
        &self,
        table: Table,
        partition: &[u8],
        range: ClusteringRange,
        order: Order,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        if table == Table::AnalyticsFacts {
            self.fact_scans.fetch_add(1, Ordering::SeqCst);
        }
        if table == Table::Meta && partition == lrs_core::tables::analytics::stale_partition(0) {
            self.stale_scans.fetch_add(1, Ordering::SeqCst);
        }
        if matches!(table, Table::ByStored | Table::ByVerb | Table::ByActivity | Table::ByAgent | Table::ByRegistration)
        {
            self.index_scans.fetch_add(1, Ordering::SeqCst);
        }
        if table == Table::QualityNames {
            self.name_scans.lock().unwrap().push((partition.to_vec(), range.clone()));
        }
        self.mark_read();
        self.inner.scan(table, partition, range, order, limit).await
    }

    async fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Storage("the store is away (test)".into()));
        }
        self.inner.write(batch).await
    }

    async fn dump(&self, table: Table) -> Result<Vec<TableRow>, StoreError> {
        if table == Table::Credentials {
            self.credential_dumps.fetch_add(1, Ordering::SeqCst);
        }
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
