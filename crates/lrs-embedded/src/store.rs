//! The embedded query-table store: one fjall keyspace per query table, keyed
//! by the length-prefixed partition key followed by the clustering key, so one
//! partition is one contiguous, ordered key range. A batch is one fjall write
//! batch, atomic across keyspaces, and every read is of a snapshot opened
//! between two batches: a reader sees a batch whole or not at all.

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use fjall::config::PartitioningPolicy;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable, Snapshot};
use lrs_core::store::{ClusteringRange, Mutation, Order, QueryStore, Rows, StoreError, Table, TableRow, WriteBatch};

use crate::EmbeddedError;

/// How long a projector batch may stay unsynced (see
/// [`QueryStore::write_rebuildable`]): a crash loses at most this much
/// projection work, which the projector then applies again from the log (the
/// batch's position is lost with it, all or nothing).
const FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// Block cache of the store in MiB unless the operator sets another
/// ([`EmbeddedStore::open_with_cache`]).
pub const DEFAULT_CACHE_MB: u64 = 256;

/// Largest memtable of one table before it is flushed (fjall's default is 64
/// MiB for each of the 16 tables).
const MEMTABLE_BYTES: u64 = 16 * 1024 * 1024;

/// Journal kept before memtables are flushed to make room.
const JOURNAL_BYTES: u64 = 256 * 1024 * 1024;

/// The block layout of every table, created now or found on disk (where it
/// shapes the files written from then on): index and filter blocks in
/// partitions of 4 KiB at every level, so that the first read of a file after
/// a start loads one partition of each rather than its whole index and filter
/// (3.8 MB of index for one file of `statements_by_agent` at 10M statements;
/// fjall's default partitions from the fourth level only).
fn block_layout(options: KeyspaceCreateOptions) -> KeyspaceCreateOptions {
    options
        .index_block_partitioning_policy(PartitioningPolicy::all(true))
        .filter_block_partitioning_policy(PartitioningPolicy::all(true))
}

fn row_key(partition: &[u8], clustering: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + partition.len() + clustering.len());
    lay_out_row_key(&mut key, partition, clustering);
    key
}

/// Writes a row's key at the end of `key`: the partition's length, the
/// partition, the clustering key.
fn lay_out_row_key(key: &mut Vec<u8>, partition: &[u8], clustering: &[u8]) {
    key.extend_from_slice(&(partition.len() as u32).to_be_bytes());
    key.extend_from_slice(partition);
    key.extend_from_slice(clustering);
}

fn storage(error: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(error.to_string())
}

/// The on-disk query tables of `lrs serve`.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

/// The database, a keyspace per table, and whether the journal holds writes
/// not yet synced to disk.
struct Inner {
    db: Database,
    keyspaces: Vec<Keyspace>,
    unsynced: AtomicBool,
    /// Held from the read to the write of a [`QueryStore::put_if_absent`]:
    /// this process opens the store exclusively, so that makes it atomic.
    conditional: std::sync::Mutex<()>,
    /// Held (exclusively) while a batch is applied, and (shared) while a
    /// snapshot is opened. fjall makes the rows of a batch readable one by
    /// one as it applies it, and marks the batch visible to snapshots only
    /// at the end; but a flush or compaction that ends meanwhile marks every
    /// sequence number before its own visible, the batch's too. A snapshot
    /// opened then would hold half of the batch.
    commit_gate: std::sync::RwLock<()>,
    /// A snapshot opened after the last batch was applied, before the gate
    /// was let go: what a reader reads while the next batch is applied,
    /// instead of waiting for it (an analytics builder's batch of 14 MB holds
    /// the gate for 12–17 ms).
    last_whole: std::sync::RwLock<Option<Snapshot>>,
}

impl Inner {
    /// The store over `db`, every table's keyspace opened (or created with `options`).
    fn of(db: Database, options: impl Fn() -> KeyspaceCreateOptions) -> Result<Self, fjall::Error> {
        let keyspaces =
            Table::ALL.iter().map(|table| db.keyspace(table.name(), &options)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            db,
            keyspaces,
            unsynced: AtomicBool::new(false),
            conditional: Default::default(),
            commit_gate: Default::default(),
            last_whole: Default::default(),
        })
    }

    /// A snapshot of every batch committed so far, and of no part of one
    /// being applied: while one is, the snapshot taken after the one before.
    fn snapshot(&self) -> Snapshot {
        match self.commit_gate.try_read() {
            Ok(_between_batches) => return self.db.snapshot(),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                let _between_batches = poisoned.into_inner();
                return self.db.snapshot();
            }
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
        let last_whole = self.last_whole.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        match last_whole {
            Some(snapshot) => snapshot,
            // No batch applied since the store was opened: wait for this one.
            None => {
                let _between_batches = self.commit_gate.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                self.db.snapshot()
            }
        }
    }

    /// Commits `write` holding the gate, and keeps a snapshot of the result
    /// for the readers that come while the next batch is applied; then,
    /// the gate let go, waits out the write stall fjall asks of it (up to
    /// 100 ms at a time while a table's memtables wait to be flushed),
    /// which would otherwise hold up every other writer too.
    fn commit(&self, write: fjall::OwnedWriteBatch) -> Result<(), StoreError> {
        let throttle = {
            let _applying = self.commit_gate.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            let committed = write.commit_unthrottled().map_err(storage);
            let whole = self.db.snapshot();
            *self.last_whole.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(whole);
            committed?
        };
        throttle.wait();
        Ok(())
    }

    fn keyspace(&self, table: Table) -> &Keyspace {
        &self.keyspaces[table.index()]
    }

    /// Syncs every earlier write to disk.
    fn sync(&self) -> Result<(), StoreError> {
        if !self.unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        self.db.persist(PersistMode::SyncAll).map_err(storage).inspect_err(|_| {
            self.unsynced.store(true, Ordering::Release);
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(error) = self.sync() {
            tracing::warn!(%error, "cannot sync the store on close; the projector will apply the rest again");
        }
    }
}

/// Syncs `inner` every [`FLUSH_INTERVAL`] until the store is dropped.
fn spawn_syncer(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new().name("lrs-store-sync".into()).spawn(move || loop {
        std::thread::sleep(FLUSH_INTERVAL);
        let Some(inner) = inner.upgrade() else { return };
        if let Err(error) = inner.sync() {
            tracing::warn!(%error, "cannot sync the store; will retry");
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the store syncer; projector batches are synced on close only");
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store in the directory `path`, creating every table.
    pub fn open(path: &Path) -> Result<Self, EmbeddedError> {
        Self::open_with_cache(path, DEFAULT_CACHE_MB << 20)
    }

    /// Opens (or creates) the store in `path` with a block cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Self, EmbeddedError> {
        let open_error = |source: fjall::Error| EmbeddedError::OpenStore {
            path: path.display().to_string(),
            source: Box::new(source),
        };
        let db = Database::builder(path)
            .cache_size(cache_bytes)
            .max_journaling_size(JOURNAL_BYTES)
            // The journal only replays what was not flushed before a crash;
            // its items over 4 KiB (rollups: lists of hashes, sketches)
            // were compressed with lz4 on every write, for bytes that are
            // written once and, unless a crash comes, never read.
            .journal_compression(fjall::CompressionType::None)
            .with_reopened_keyspace_options(Arc::new(|_, options| block_layout(options)))
            .open()
            .map_err(open_error)?;
        let options = || block_layout(KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES));
        let inner = Arc::new(Inner::of(db, options).map_err(open_error)?);
        spawn_syncer(Arc::downgrade(&inner));
        Ok(Self { inner })
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
        if lrs_core::store::empty_range(&low, &high) {
            return Ok(Vec::new());
        }
        // Not `Keyspace::range`: it reads the newest version of each row, also
        // the rows of a batch another thread is applying at that moment.
        let entries = self.inner.snapshot().range::<Vec<u8>, _>(self.inner.keyspace(table), (low, high));
        let entries: Box<dyn Iterator<Item = fjall::Guard>> = match order {
            Order::Ascending => Box::new(entries),
            Order::Descending => Box::new(entries.rev()),
        };
        let mut rows = Vec::new();
        for entry in entries.take(limit) {
            let (key, value) = entry.into_inner().map_err(storage)?;
            if key.starts_with(&prefix) {
                rows.push((key[prefix.len()..].to_vec(), value.to_vec()));
            }
        }
        Ok(rows)
    }

    /// Applies `batch` atomically: synced to disk before returning, or (when
    /// `sync` is false) at the next sync, at most [`FLUSH_INTERVAL`] later.
    fn write_now(&self, batch: WriteBatch, sync: bool) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mode = if sync { Some(PersistMode::SyncAll) } else { None };
        // Sized up front: a batch of the analytics builder holds ~150k rows,
        // and growing it would copy them and fault in fresh pages each time.
        let mut write =
            fjall::OwnedWriteBatch::with_capacity(self.inner.db.clone(), batch.mutations.len()).durability(mode);
        // Applied in key order, table by table: each row's place in the
        // memtable's skip list is then found along the path the row before
        // took, in the CPU's cache, where rows in the order written (a
        // statement's rows in many tables, then the next statement's) send
        // every insert to memory (20% of the CPU of an ingest, measured).
        let SortedBatch { keys, mut values, rows } = SortedBatch::of(batch.mutations);
        for row in &rows {
            let key = &keys[row.key.clone()];
            match values[row.place].take() {
                Some(value) => write.insert(self.inner.keyspace(row.table), key, value),
                None => write.remove(self.inner.keyspace(row.table), key),
            }
        }
        self.inner.commit(write)?;
        if !sync {
            self.inner.unsynced.store(true, Ordering::Release);
        }
        Ok(())
    }
}

/// A batch's rows in the order they are applied: by table, then by key; the
/// writes of one row in the order the batch has them, so the last stands.
struct SortedBatch {
    /// Every row's key ([`lay_out_row_key`]), one after another.
    keys: Vec<u8>,
    /// Every row's value in the batch's order; none for a delete.
    values: Vec<Option<Vec<u8>>>,
    /// The rows, sorted.
    rows: Vec<SortedRow>,
}

/// One row of a [`SortedBatch`].
struct SortedRow {
    table: Table,
    /// The eight bytes of the key after those every key of the table in the
    /// batch starts with (zeros past its end), big-endian: rows whose heads
    /// differ are ordered by them, without comparing whole keys that share a
    /// long start (a tenant, an agent's hash).
    head: u64,
    /// Where the key lies in [`SortedBatch::keys`].
    key: std::ops::Range<usize>,
    /// The row's place in the batch.
    place: usize,
}

impl SortedBatch {
    /// Lays out the keys of `mutations`, and sorts the rows.
    fn of(mutations: Vec<Mutation>) -> Self {
        let length: usize = mutations
            .iter()
            .map(|mutation| match mutation {
                Mutation::Put { partition, clustering, .. } | Mutation::Delete { partition, clustering, .. } => {
                    4 + partition.len() + clustering.len()
                }
            })
            .sum();
        let mut keys = Vec::with_capacity(length);
        let mut values = Vec::with_capacity(mutations.len());
        let mut rows = Vec::with_capacity(mutations.len());
        // Per table: its first key in the batch, and how many bytes every
        // key of the table so far starts with in common with it.
        let mut common: [Option<(usize, usize)>; Table::ALL.len()] = Default::default();
        for (place, mutation) in mutations.into_iter().enumerate() {
            let (table, partition, clustering, value) = match mutation {
                Mutation::Put { table, partition, clustering, value } => (table, partition, clustering, Some(value)),
                Mutation::Delete { table, partition, clustering } => (table, partition, clustering, None),
            };
            let begin = keys.len();
            lay_out_row_key(&mut keys, &partition, &clustering);
            let key = begin..keys.len();
            match &mut common[table.index()] {
                Some((first, shared)) => *shared = shared_start(&keys[*first..*first + *shared], &keys[key.clone()]),
                empty @ None => *empty = Some((key.start, key.len())),
            }
            values.push(value);
            rows.push(SortedRow { table, head: 0, key, place });
        }
        for row in &mut rows {
            let shared = common[row.table.index()].as_ref().map_or(0, |(_, shared)| *shared);
            let mut head = [0u8; 8];
            let after = &keys[row.key.start + shared..row.key.end];
            let taken = after.len().min(8);
            head[..taken].copy_from_slice(&after[..taken]);
            row.head = u64::from_be_bytes(head);
        }
        // Unstable, but no two rows are equal: the writes of one row keep
        // their places.
        rows.sort_unstable_by(|a, b| {
            (a.table, a.head)
                .cmp(&(b.table, b.head))
                .then_with(|| keys[a.key.clone()].cmp(&keys[b.key.clone()]))
                .then(a.place.cmp(&b.place))
        });
        Self { keys, values, rows }
    }
}

/// How many bytes `a` and `b` start with in common.
fn shared_start(a: &[u8], b: &[u8]) -> usize {
    let chunks = a.chunks_exact(8).zip(b.chunks_exact(8)).take_while(|(x, y)| x == y).count();
    let from = chunks * 8;
    from + a[from..].iter().zip(&b[from..]).take_while(|(x, y)| x == y).count()
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

impl EmbeddedStore {
    /// Every row of a table, read now (see [`QueryStore::dump`]).
    pub fn rows_of(&self, table: Table) -> Result<Vec<TableRow>, StoreError> {
        let mut rows = Vec::new();
        for entry in self.inner.snapshot().iter(self.inner.keyspace(table)) {
            let (key, value) = entry.into_inner().map_err(storage)?;
            let Some(length) = key.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize) else {
                continue;
            };
            let Some(partition) = key.get(4..4 + length) else { continue };
            rows.push((partition.to_vec(), key[4 + length..].to_vec(), value.to_vec()));
        }
        Ok(rows)
    }
}

#[async_trait]
impl QueryStore for EmbeddedStore {
    async fn get(&self, table: Table, partition: &[u8], clustering: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let row =
            self.inner.snapshot().get(self.inner.keyspace(table), row_key(partition, clustering)).map_err(storage)?;
        Ok(row.map(|value| value.to_vec()))
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
        self.rows_of(table)
    }

    async fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write_now(batch, true)).await.map_err(storage)?
    }

    async fn write_rebuildable(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write_now(batch, false)).await.map_err(storage)?
    }

    async fn put_if_absent(
        &self,
        table: Table,
        partition: &[u8],
        clustering: &[u8],
        value: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let store = self.clone();
        let key = row_key(partition, clustering);
        tokio::task::spawn_blocking(move || {
            let _only_writer = store.inner.conditional.lock().expect("conditional write lock");
            let keyspace = store.inner.keyspace(table);
            if let Some(existing) = keyspace.get(&key).map_err(storage)? {
                return Ok(Some(existing.to_vec()));
            }
            let mut write = store.inner.db.batch().durability(Some(PersistMode::SyncAll));
            write.insert(keyspace, key, value);
            store.inner.commit(write)?;
            Ok(None)
        })
        .await
        .map_err(storage)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_meta(store: &EmbeddedStore, key: &[u8]) -> Option<Vec<u8>> {
        let keyspace = store.inner.keyspace(Table::Meta);
        store.inner.snapshot().get(keyspace, row_key(key, &[])).expect("read").map(|v| v.to_vec())
    }

    /// A large row goes into the journal as it is, not compressed, and is
    /// read back from the journal when the store is opened again.
    #[test]
    fn the_journal_holds_a_large_row_as_it_is_and_replays_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        // 64 KiB that lz4 would shrink to a few hundred bytes.
        let row: Vec<u8> = b"rollup ".iter().copied().cycle().take(64 << 10).collect();
        {
            let store = EmbeddedStore::open(dir.path()).expect("open");
            let mut batch = WriteBatch::default();
            batch.put(Table::Meta, b"large".to_vec(), Vec::new(), row.clone());
            store.write_now(batch, true).expect("write");
        }
        let journals: Vec<u8> = std::fs::read_dir(dir.path())
            .expect("store dir")
            .flatten()
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "jnl"))
            .flat_map(|entry| std::fs::read(entry.path()).expect("journal"))
            .collect();
        assert!(journals.len() >= row.len(), "the journal holds {} bytes, fewer than the row", journals.len());
        assert!(journals.windows(row.len()).any(|window| window == row), "the row is in the journal as it is");
        let store = EmbeddedStore::open(dir.path()).expect("open again");
        assert_eq!(read_meta(&store, b"large"), Some(row), "read back after the journal is replayed");
    }

    /// A batch is applied in key order, but the writes of one row keep the
    /// order they have in the batch: the last one stands.
    #[test]
    fn a_row_written_many_times_in_a_batch_keeps_the_last_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        let mut batch = WriteBatch::default();
        for n in 0..500u32 {
            // Rows of other tables and partitions around each write of the two rows.
            batch.put(Table::ByVerb, b"p".to_vec(), (500 - n).to_be_bytes().to_vec(), vec![1]);
            batch.put(Table::Meta, b"twice".to_vec(), Vec::new(), n.to_be_bytes().to_vec());
            batch.put(Table::Meta, (n % 13).to_be_bytes().to_vec(), n.to_be_bytes().to_vec(), vec![2]);
            if n % 2 == 0 {
                batch.put(Table::Meta, b"gone".to_vec(), Vec::new(), n.to_be_bytes().to_vec());
            } else {
                batch.delete(Table::Meta, b"gone".to_vec(), Vec::new());
            }
        }
        store.write_now(batch, true).expect("write");
        assert_eq!(read_meta(&store, b"twice"), Some(499u32.to_be_bytes().to_vec()), "the last write stands");
        assert_eq!(read_meta(&store, b"gone"), None, "the last write, a delete, stands");
    }

    /// The rows of a batch come out in the order of (table, key, place in
    /// the batch), whatever the keys share: long common starts, keys that
    /// are starts of others, zero bytes past a shorter key's end.
    #[test]
    fn a_batch_is_sorted_by_table_then_key_then_place() {
        let mut batch = WriteBatch::default();
        let mut state = 7u64;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for n in 0..3000 {
            let table = [Table::Meta, Table::ByAgent, Table::Statements][next() % 3];
            // Partitions of one length with a long shared start, then a
            // varying byte; clustering keys of 0 to 11 bytes from {0, 1, 255}.
            let mut partition = b"tenant-0000000000000000-agent-".to_vec();
            partition.push((next() % 4) as u8);
            let clustering: Vec<u8> = (0..next() % 12).map(|_| [0u8, 1, 255][next() % 3]).collect();
            if n % 5 == 0 {
                batch.delete(table, partition, clustering);
            } else {
                batch.put(table, partition, clustering, (n as u32).to_be_bytes().to_vec());
            }
        }
        let mut expected: Vec<(Table, Vec<u8>, usize)> = batch
            .mutations
            .iter()
            .enumerate()
            .map(|(place, mutation)| match mutation {
                Mutation::Put { table, partition, clustering, .. }
                | Mutation::Delete { table, partition, clustering } => (*table, row_key(partition, clustering), place),
            })
            .collect();
        expected.sort();
        let sorted = SortedBatch::of(batch.mutations);
        let got: Vec<(Table, Vec<u8>, usize)> =
            sorted.rows.iter().map(|row| (row.table, sorted.keys[row.key.clone()].to_vec(), row.place)).collect();
        assert_eq!(got, expected);
        let deletes = sorted.values.iter().filter(|value| value.is_none()).count();
        assert_eq!(deletes, 600, "a delete has no value");
    }

    #[test]
    fn shared_start_counts_the_bytes_two_keys_start_with() {
        assert_eq!(shared_start(b"", b"abc"), 0);
        assert_eq!(shared_start(b"abcdefghij", b"abcdefghij"), 10);
        assert_eq!(shared_start(b"abcdefghij", b"abcdefghiX"), 9);
        assert_eq!(shared_start(b"abcdefghij", b"abcdeXghij"), 5);
        assert_eq!(shared_start(b"abcdefgh", b"abcdefghijk"), 8);
        assert_eq!(shared_start(b"abcdefghijklmnopq", b"abcdefghijklmnopQ"), 16);
    }

    /// A reader that comes while a batch is being applied reads what the
    /// batches before it wrote, at once, and nothing of the one being
    /// applied (here: the gate held, and a row written around it).
    #[test]
    fn a_reader_does_not_wait_for_a_batch_being_applied_nor_sees_part_of_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        let mut before = WriteBatch::default();
        before.put(Table::Meta, b"k".to_vec(), Vec::new(), vec![1]);
        store.write_now(before, true).expect("write");

        let applying = store.inner.commit_gate.write().expect("gate");
        let mut half = store.inner.db.batch();
        half.insert(store.inner.keyspace(Table::Meta), row_key(b"k", &[]), vec![2]);
        half.commit().expect("write around the gate");
        let (sender, received) = std::sync::mpsc::channel();
        let reader = store.clone();
        std::thread::spawn(move || sender.send(read_meta(&reader, b"k")));
        let read = received.recv_timeout(Duration::from_secs(30));
        drop(applying);
        assert_eq!(read, Ok(Some(vec![1])), "the reader waited, or read the batch being applied");
        assert_eq!(read_meta(&store, b"k"), Some(vec![2]), "once applied, the batch is read");
    }

    /// A writer held up by a table's write stall (its memtables waiting to be
    /// flushed; here the database has no workers, so for good) does not hold
    /// up the writers of other tables, nor the readers.
    #[test]
    fn a_write_stall_of_one_table_holds_up_no_other_writer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::builder(dir.path()).worker_threads_unchecked(0).open().expect("open");
        let inner = Inner::of(db, KeyspaceCreateOptions::default).expect("keyspaces");
        let store = EmbeddedStore { inner: Arc::new(inner) };
        let meta = store.inner.keyspace(Table::Meta);
        for n in 0u8..4 {
            meta.insert([n], [n]).expect("insert");
            meta.rotate_memtable().expect("rotate");
        }

        let stalled = store.clone();
        std::thread::spawn(move || {
            let mut batch = WriteBatch::default();
            batch.put(Table::Meta, b"stalled".to_vec(), Vec::new(), vec![1]);
            stalled.write_now(batch, false)
        });
        // The stalled write lands (its stall comes after its commit) before
        // the other is sent; read without the store's gate, which the stalled
        // writer may hold.
        let landed = std::time::Instant::now();
        while meta.get(row_key(b"stalled", &[])).expect("read").is_none() {
            assert!(landed.elapsed() < Duration::from_secs(30), "the stalled write did not land");
            std::thread::sleep(Duration::from_millis(10));
        }
        let (sent, received) = std::sync::mpsc::channel();
        let other = store.clone();
        std::thread::spawn(move || {
            let mut batch = WriteBatch::default();
            batch.put(Table::Audit, b"other".to_vec(), Vec::new(), vec![1]);
            sent.send(other.write_now(batch, false).is_ok())
        });
        assert_eq!(received.recv_timeout(Duration::from_secs(30)), Ok(true), "the other writer waited");
    }
}
