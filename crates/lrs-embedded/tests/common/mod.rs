//! What several tests of this crate share.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use lrs_core::store::{ClusteringRange, Order, Rows, TableRow};
use lrs_core::{QueryStore, StoreError, Table, WriteBatch};
use lrs_embedded::EmbeddedStore;

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
}

impl WatchedStore {
    /// Watches `inner`; nothing fails yet.
    pub(crate) fn new(inner: EmbeddedStore) -> Self {
        Self {
            inner,
            failing: AtomicBool::new(false),
            credential_dumps: AtomicUsize::new(0),
            statement_reads: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl QueryStore for WatchedStore {
    async fn get(&self, table: Table, partition: &[u8], clustering: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if table == Table::Statements {
            self.statement_reads.fetch_add(1, Ordering::SeqCst);
        }
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
