//! `ScyllaStore`: the query tables on ScyllaDB through prepared statements.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use futures::TryStreamExt;
use lrs_core::store::{ClusteringRange, Mutation, Order, QueryStore, Rows, StoreError, Table, TableRow, WriteBatch};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;

use crate::{cql, ScyllaError, ScyllaSettings};

/// The query tables in a ScyllaDB keyspace.
///
/// Cheap to clone (one shared session). Every data statement is prepared once
/// and cached by its text; tables must exist (`migrate`) before the first
/// read or write.
#[derive(Clone)]
pub struct ScyllaStore {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    settings: ScyllaSettings,
    prepared: Mutex<HashMap<String, PreparedStatement>>,
}

impl std::fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScyllaStore").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

impl ScyllaStore {
    /// Opens a session to the contact points of `settings`. Creates nothing:
    /// call [`ScyllaStore::migrate`] (or `lrs migrate`) before first use.
    pub async fn connect(settings: ScyllaSettings) -> Result<Self, ScyllaError> {
        settings.validate()?;
        let mut builder = SessionBuilder::new()
            .known_nodes(&settings.nodes)
            .connection_timeout(settings.connect_timeout)
            .auto_await_schema_agreement(settings.await_schema_agreement);
        if let Some(credentials) = &settings.credentials {
            builder = builder.user(&credentials.username, &credentials.password);
        }
        let session = builder
            .build()
            .await
            .map_err(|source| ScyllaError::Connect { nodes: settings.nodes.join(","), source: Box::new(source) })?;
        tracing::info!(nodes = %settings.nodes.join(","), keyspace = %settings.keyspace, "connected to ScyllaDB");
        Ok(Self { inner: Arc::new(Inner { session, settings, prepared: Mutex::new(HashMap::new()) }) })
    }

    /// Creates the keyspace (with the configured replication) and every
    /// query table, each `IF NOT EXISTS`: safe to run again on a live cluster.
    /// Never alters or drops anything.
    pub async fn migrate(&self) -> Result<(), ScyllaError> {
        let keyspace = &self.inner.settings.keyspace;
        let mut statements = vec![cql::create_keyspace(keyspace, &self.inner.settings.replication.cql())];
        statements.extend(Table::ALL.into_iter().map(|table| cql::create_table(keyspace, table)));
        for statement in statements {
            self.inner
                .session
                .query_unpaged(statement.as_str(), ())
                .await
                .map_err(|source| ScyllaError::Execute { cql: statement.clone(), source: Box::new(source) })?;
        }
        tracing::info!(%keyspace, tables = Table::ALL.len(), "ScyllaDB schema is in place");
        Ok(())
    }

    /// The keyspace holding the tables.
    pub fn keyspace(&self) -> &str {
        &self.inner.settings.keyspace
    }

    /// The settings the store was opened with.
    pub fn settings(&self) -> &ScyllaSettings {
        &self.inner.settings
    }

    async fn prepared(&self, cql: String) -> Result<PreparedStatement, ScyllaError> {
        if let Some(statement) = self.cache().get(&cql) {
            return Ok(statement.clone());
        }
        let mut statement = self
            .inner
            .session
            .prepare(cql.as_str())
            .await
            .map_err(|source| ScyllaError::Prepare { cql: cql.clone(), source: Box::new(source) })?;
        // Plain upserts, deletes and reads: safe for the driver to retry.
        statement.set_is_idempotent(true);
        self.cache().insert(cql, statement.clone());
        Ok(statement)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, PreparedStatement>> {
        self.inner.prepared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn get_row(&self, table: Table, partition: &[u8], clustering: &[u8]) -> Result<Option<Vec<u8>>, ScyllaError> {
        let cql = cql::get(self.keyspace(), table);
        let statement = self.prepared(cql.clone()).await?;
        let result = self
            .inner
            .session
            .execute_unpaged(&statement, (partition, clustering))
            .await
            .map_err(|source| ScyllaError::Execute { cql: cql.clone(), source: Box::new(source) })?;
        let shape = |reason: String| ScyllaError::Shape { cql: cql.clone(), reason };
        let rows = result.into_rows_result().map_err(|e| shape(e.to_string()))?;
        let row = rows.maybe_first_row::<(Vec<u8>, Option<Vec<u8>>)>().map_err(|e| shape(e.to_string()))?;
        // Only the row with exactly this key counts: a server that reads
        // `c = ?` as a slice start (kassandra does) must not leak a neighbour.
        Ok(row.filter(|(c, _)| c == clustering).map(|(_, value)| value.unwrap_or_default()))
    }

    /// `INSERT … IF NOT EXISTS`: `None` when applied, else the value it found.
    async fn insert_if_absent(
        &self,
        table: Table,
        partition: &[u8],
        clustering: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>, ScyllaError> {
        let cql = cql::insert_if_absent(self.keyspace(), table);
        let statement = self.prepared(cql.clone()).await?;
        let result = self
            .inner
            .session
            .execute_unpaged(&statement, (partition, clustering, value))
            .await
            .map_err(|source| ScyllaError::Execute { cql: cql.clone(), source: Box::new(source) })?;
        let shape = |reason: String| ScyllaError::Shape { cql: cql.clone(), reason };
        let rows = result.into_rows_result().map_err(|e| shape(e.to_string()))?;
        let names: Vec<String> = rows.column_specs().iter().map(|spec| spec.name().to_owned()).collect();
        let row = rows
            .maybe_first_row::<scylla::value::Row>()
            .map_err(|e| shape(e.to_string()))?
            .ok_or_else(|| shape("a lightweight transaction answered no row".into()))?;
        let column =
            |name: &str| names.iter().position(|n| n == name).and_then(|i| row.columns.get(i).cloned().flatten());
        match column("[applied]") {
            Some(scylla::value::CqlValue::Boolean(true)) => Ok(None),
            Some(scylla::value::CqlValue::Boolean(false)) => match column("v") {
                Some(scylla::value::CqlValue::Blob(existing)) => Ok(Some(existing)),
                _ => Ok(Some(Vec::new())),
            },
            other => Err(shape(format!("[applied] is {other:?}, not a boolean"))),
        }
    }

    async fn scan_rows(
        &self,
        table: Table,
        partition: &[u8],
        (low, high): ClusteringRange,
        order: Order,
        limit: usize,
    ) -> Result<Rows, ScyllaError> {
        if limit == 0 || lrs_core::store::empty_range(&low, &high) {
            return Ok(Vec::new());
        }
        let cql = cql::scan(self.keyspace(), table, &low, &high, order);
        let mut statement = self.prepared(cql.clone()).await?;
        let limit = limit.min(i32::MAX as usize);
        statement.set_page_size(page_size(self.inner.settings.page_size, limit));
        let mut values = vec![CqlValue::Blob(partition.to_vec())];
        for bound in [low, high] {
            if let Bound::Included(key) | Bound::Excluded(key) = bound {
                values.push(CqlValue::Blob(key));
            }
        }
        values.push(CqlValue::Int(limit as i32));
        let mut rows = Vec::new();
        self.paged(&cql, statement, values, |(c, v): (Vec<u8>, Option<Vec<u8>>)| {
            rows.push((c, v.unwrap_or_default()));
            rows.len() < limit
        })
        .await?;
        Ok(rows)
    }

    async fn dump_rows(&self, table: Table) -> Result<Vec<TableRow>, ScyllaError> {
        let cql = cql::dump(self.keyspace(), table);
        let mut statement = self.prepared(cql.clone()).await?;
        statement.set_page_size(page_size(self.inner.settings.page_size, usize::MAX));
        let mut rows = Vec::new();
        self.paged(&cql, statement, (), |(p, c, v): (Vec<u8>, Vec<u8>, Option<Vec<u8>>)| {
            rows.push((p, c, v.unwrap_or_default()));
            true
        })
        .await?;
        // Partitions come back in token order; sort for a stable, comparable dump.
        rows.sort_unstable();
        Ok(rows)
    }

    /// Runs a paged read, handing each row to `keep_going` until it says stop.
    async fn paged<R>(
        &self,
        cql: &str,
        statement: PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
        mut keep_going: impl FnMut(R) -> bool,
    ) -> Result<(), ScyllaError>
    where
        R: for<'frame, 'metadata> scylla::deserialize::row::DeserializeRow<'frame, 'metadata>,
    {
        let pager = self
            .inner
            .session
            .execute_iter(statement, values)
            .await
            .map_err(|source| ScyllaError::Pager { cql: cql.to_owned(), source: Box::new(source) })?;
        let mut stream =
            pager.rows_stream::<R>().map_err(|e| ScyllaError::Shape { cql: cql.to_owned(), reason: e.to_string() })?;
        while let Some(row) = stream
            .try_next()
            .await
            .map_err(|source| ScyllaError::Rows { cql: cql.to_owned(), source: Box::new(source) })?
        {
            if !keep_going(row) {
                break;
            }
        }
        Ok(())
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<(), ScyllaError> {
        let mutations = coalesce(batch.mutations);
        if mutations.is_empty() {
            return Ok(());
        }
        let mut logged = Batch::new(BatchType::Logged);
        logged.set_is_idempotent(true);
        let mut values: Vec<Vec<Vec<u8>>> = Vec::with_capacity(mutations.len());
        for mutation in mutations {
            match mutation {
                Mutation::Put { table, partition, clustering, value } => {
                    logged.append_statement(self.prepared(cql::insert(self.keyspace(), table)).await?);
                    values.push(vec![partition, clustering, value]);
                }
                Mutation::Delete { table, partition, clustering } => {
                    logged.append_statement(self.prepared(cql::delete(self.keyspace(), table)).await?);
                    values.push(vec![partition, clustering]);
                }
            }
        }
        let statements = values.len();
        self.inner
            .session
            .batch(&logged, values)
            .await
            .map_err(|source| ScyllaError::Batch { statements, source: Box::new(source) })?;
        Ok(())
    }
}

/// Keeps only the last mutation of each row, in first-seen order: a CQL
/// batch gives all its statements one timestamp, so a put and a delete of the
/// same row would otherwise resolve by tombstone/value order, not batch order.
fn coalesce(mutations: Vec<Mutation>) -> Vec<Mutation> {
    fn row(mutation: &Mutation) -> (Table, &[u8], &[u8]) {
        match mutation {
            Mutation::Put { table, partition, clustering, .. } | Mutation::Delete { table, partition, clustering } => {
                (*table, partition, clustering)
            }
        }
    }
    let mut last = HashMap::new();
    for (index, mutation) in mutations.iter().enumerate() {
        last.insert(row(mutation), index);
    }
    let keep: std::collections::HashSet<usize> = last.into_values().collect();
    mutations.into_iter().enumerate().filter(|(index, _)| keep.contains(index)).map(|(_, m)| m).collect()
}

fn page_size(configured: u32, limit: usize) -> i32 {
    (configured as usize).min(limit).clamp(1, i32::MAX as usize) as i32
}

#[async_trait]
impl QueryStore for ScyllaStore {
    async fn get(&self, table: Table, partition: &[u8], clustering: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_row(table, partition, clustering).await?)
    }

    async fn get_many(&self, table: Table, keys: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let reads = keys.iter().map(|(partition, clustering)| self.get_row(table, partition, clustering));
        Ok(futures::future::try_join_all(reads).await?)
    }

    async fn scan(
        &self,
        table: Table,
        partition: &[u8],
        range: ClusteringRange,
        order: Order,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        Ok(self.scan_rows(table, partition, range, order, limit).await?)
    }

    async fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        Ok(self.write_batch(batch).await?)
    }

    async fn dump(&self, table: Table) -> Result<Vec<TableRow>, StoreError> {
        Ok(self.dump_rows(table).await?)
    }

    async fn put_if_absent(
        &self,
        table: Table,
        partition: &[u8],
        clustering: &[u8],
        value: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.insert_if_absent(table, partition, clustering, &value).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesce_keeps_the_last_write_of_each_row_in_order() {
        let mut batch = WriteBatch::default();
        batch.put(Table::Meta, b"p".to_vec(), b"a".to_vec(), b"1".to_vec());
        batch.put(Table::Meta, b"p".to_vec(), b"b".to_vec(), b"2".to_vec());
        batch.delete(Table::Meta, b"p".to_vec(), b"a".to_vec());
        batch.put(Table::Agents, b"p".to_vec(), b"a".to_vec(), b"3".to_vec());
        batch.put(Table::Meta, b"p".to_vec(), b"b".to_vec(), b"4".to_vec());
        let mut expected = WriteBatch::default();
        expected.delete(Table::Meta, b"p".to_vec(), b"a".to_vec());
        expected.put(Table::Agents, b"p".to_vec(), b"a".to_vec(), b"3".to_vec());
        expected.put(Table::Meta, b"p".to_vec(), b"b".to_vec(), b"4".to_vec());
        assert_eq!(coalesce(batch.mutations), expected.mutations);
    }

    #[test]
    fn empty_ranges_are_answered_without_a_query() {
        let k = |b: u8| vec![b];
        assert!(lrs_core::store::empty_range(&Bound::Included(k(3)), &Bound::Included(k(2))));
        assert!(!lrs_core::store::empty_range(&Bound::Included(k(2)), &Bound::Included(k(2))));
        assert!(lrs_core::store::empty_range(&Bound::Excluded(k(2)), &Bound::Included(k(2))));
        assert!(lrs_core::store::empty_range(&Bound::Included(k(2)), &Bound::Excluded(k(2))));
        assert!(!lrs_core::store::empty_range(&Bound::Excluded(k(1)), &Bound::Excluded(k(3))));
        assert!(!lrs_core::store::empty_range(&Bound::Unbounded, &Bound::Excluded(k(0))));
    }

    #[test]
    fn page_size_never_exceeds_the_limit() {
        assert_eq!(page_size(1000, 5), 5);
        assert_eq!(page_size(1000, usize::MAX), 1000);
        assert_eq!(page_size(7, 100), 7);
    }
}
