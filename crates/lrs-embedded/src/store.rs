//! The embedded query-table store: one redb table per query table, keyed by
//! the length-prefixed partition key followed by the clustering key, so one
//! partition is one contiguous, ordered key range.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use lrs_core::store::{ClusteringRange, Mutation, Order, QueryStore, Rows, StoreError, Table, TableRow, WriteBatch};
use redb::{Database, ReadableTable, TableDefinition};

use crate::EmbeddedError;

fn definition(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

fn row_key(partition: &[u8], clustering: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + partition.len() + clustering.len());
    key.extend_from_slice(&(partition.len() as u32).to_be_bytes());
    key.extend_from_slice(partition);
    key.extend_from_slice(clustering);
    key
}

fn storage(error: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(error.to_string())
}

/// The on-disk query tables of `lrs serve`.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `path`, creating every table.
    pub fn open(path: &Path) -> Result<Self, EmbeddedError> {
        let open_error =
            |source: redb::Error| EmbeddedError::Open { path: path.display().to_string(), source: Box::new(source) };
        let db =
            Database::builder().set_cache_size(512 * 1024 * 1024).create(path).map_err(|e| open_error(e.into()))?;
        let write = db.begin_write().map_err(|e| open_error(e.into()))?;
        for table in Table::ALL {
            write.open_table(definition(table)).map_err(|e| open_error(e.into()))?;
        }
        write.commit().map_err(|e| open_error(e.into()))?;
        Ok(Self { db: Arc::new(db) })
    }

    fn scan_now(
        &self,
        table: Table,
        partition: &[u8],
        range: ClusteringRange,
        order: Order,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        let prefix = row_key(partition, &[]);
        let low = match range.0 {
            Bound::Included(c) => Bound::Included(row_key(partition, &c)),
            Bound::Excluded(c) => Bound::Excluded(row_key(partition, &c)),
            Bound::Unbounded => Bound::Included(prefix.clone()),
        };
        let high = match range.1 {
            Bound::Included(c) => Bound::Included(row_key(partition, &c)),
            Bound::Excluded(c) => Bound::Excluded(row_key(partition, &c)),
            Bound::Unbounded => match successor(&prefix) {
                Some(next) => Bound::Excluded(next),
                None => Bound::Unbounded,
            },
        };
        let read = self.db.begin_read().map_err(storage)?;
        let table = read.open_table(definition(table)).map_err(storage)?;
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = (as_slice(&low), as_slice(&high));
        let range = table.range::<&[u8]>(bounds).map_err(storage)?;
        let entries: Box<dyn Iterator<Item = _>> = match order {
            Order::Ascending => Box::new(range),
            Order::Descending => Box::new(range.rev()),
        };
        let mut rows = Vec::new();
        for entry in entries.take(limit) {
            let (key, value) = entry.map_err(storage)?;
            let key = key.value();
            if key.starts_with(&prefix) {
                rows.push((key[prefix.len()..].to_vec(), value.value().to_vec()));
            }
        }
        Ok(rows)
    }

    fn write_now(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let write = self.db.begin_write().map_err(storage)?;
        for mutation in &batch.mutations {
            match mutation {
                Mutation::Put { table, partition, clustering, value } => {
                    let mut table = write.open_table(definition(*table)).map_err(storage)?;
                    table.insert(row_key(partition, clustering).as_slice(), value.as_slice()).map_err(storage)?;
                }
                Mutation::Delete { table, partition, clustering } => {
                    let mut table = write.open_table(definition(*table)).map_err(storage)?;
                    table.remove(row_key(partition, clustering).as_slice()).map_err(storage)?;
                }
            }
        }
        write.commit().map_err(storage)
    }
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The smallest key greater than every key starting with `prefix`.
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut next = prefix.to_vec();
    while let Some(last) = next.pop() {
        if last < 0xFF {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
}

#[async_trait]
impl QueryStore for EmbeddedStore {
    async fn get(&self, table: Table, partition: &[u8], clustering: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let read = self.db.begin_read().map_err(storage)?;
        let handle = read.open_table(definition(table)).map_err(storage)?;
        let row = handle.get(row_key(partition, clustering).as_slice()).map_err(storage)?;
        Ok(row.map(|value| value.value().to_vec()))
    }

    async fn scan(
        &self,
        table: Table,
        partition: &[u8],
        range: ClusteringRange,
        order: Order,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        self.scan_now(table, partition, range, order, limit)
    }

    async fn dump(&self, table: Table) -> Result<Vec<TableRow>, StoreError> {
        let read = self.db.begin_read().map_err(storage)?;
        let handle = read.open_table(definition(table)).map_err(storage)?;
        let mut rows = Vec::new();
        for entry in handle.iter().map_err(storage)? {
            let (key, value) = entry.map_err(storage)?;
            let key = key.value();
            let Some(length) = key.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize) else {
                continue;
            };
            let Some(partition) = key.get(4..4 + length) else { continue };
            rows.push((partition.to_vec(), key[4 + length..].to_vec(), value.value().to_vec()));
        }
        Ok(rows)
    }

    async fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write_now(batch)).await.map_err(storage)?
    }
}
