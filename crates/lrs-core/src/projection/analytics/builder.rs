//! The analytics builder: applies the analytics outbox in log order, many
//! entries at a time, and deletes what it applied in the same atomic write.
//! One runs beside each projector (one per log partition); a replay drains
//! it at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Mutex};
use tracing::warn;
use uuid::Uuid;

use super::aggregate::{Aggregate, FactHashes};
use super::fact::{month_of_day, Dimension, Fact};
use super::measure::{decode_values, encode_values, values, Measure};
use super::top::TopList;
use super::{
    days_of_period, decode_outbox_row, delete_rollup_deltas, facts_of_day, read_rollup, whole_aggregate, write_rollup,
    write_rollup_delta, write_whole_values, FactDays, OutboxChange, OutboxEntry, RollupKey, ROLLUP_LAYOUT,
};
use crate::metrics;
use crate::store::{Order, PartitionPages, QueryStore, StoreError, Table, WriteBatch};
use crate::tables::analytics::{
    analytics_meta_partition, builder_position_partition, day_version_clustering, day_versions_partition,
    deltas_partition, fact_clustering, facts_partition, forgotten_partition, learner_fact_clustering,
    learner_identity_partition, learner_partition, outbox_clustering, outbox_head_partition, outbox_partition,
    parse_delta_clustering, parse_outbox_clustering, parse_rollup_clustering, parse_stale_clustering,
    rollup_dimension_prefix, rollup_dimension_range, rollup_partition, stale_clustering, stale_flag_partition,
    stale_partition, values_clustering, week_of_day, whole_position_partition, Tier,
};
use crate::tenant::TenantId;

/// The builder's maps, hashed with foldhash rather than the default SipHash
/// (their keys are this process's own: no one chooses them to collide).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The builder's sets, hashed as its maps are.
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// Outbox entries applied in one write at most.
const ENTRIES_PER_WRITE: usize = 50_000;

/// Outbox rows read at a time (each holds up to
/// [`super::OUTBOX_ROW_ENTRIES`] entries).
const OUTBOX_ROWS_PER_READ: usize = 16;

/// Stale whole-time values refreshed in one write at most.
const GROUPS_PER_REFRESH: usize = 2_000;

/// How often the whole-time values are refreshed while the outbox stays
/// busy (when it empties they are refreshed at once): a group touched in
/// every second is recomputed once in this time, not every second.
const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// How long the builder waits after applying what the outbox held (unless
/// it held a full write's worth): a group touched by many statements in
/// that time is written once. The bound on how far analytics trail the
/// statements.
const IDLE: Duration = Duration::from_millis(1000);

/// How long the builder waits after a pass that applied at least
/// [`BUSY_ENTRIES`] (statements keep coming): the groups they touch are
/// written once in this time, not once a second. Under load, the bound on
/// how far analytics trail the statements.
const BUSY: Duration = Duration::from_millis(5000);

/// Entries in a pass from which the builder counts as busy.
const BUSY_ENTRIES: usize = 1_000;

/// A pass of fewer entries than this writes what it adds to each day, week
/// and month rollup as a delta row beside the group's row (ADR 0011): a
/// trickle of statements into a large store writes kilobytes, not every
/// large row it touches (two passes of about 1,000 and 2,000 entries wrote
/// 88 MB whole on the 10M store). A larger pass (a bulk load, a replay)
/// writes each rollup it touches whole, folding in its deltas: its deltas
/// would be about as large as the rows.
const DELTA_ENTRIES: usize = 10_000;

/// A group with this many deltas is folded into its row.
const FOLD_DELTAS: usize = 32;

/// A group whose first delta is this old is folded into its row.
const FOLD_AFTER: Duration = Duration::from_secs(60);

/// Groups folded in one write at most.
const FOLD_GROUPS: usize = 64;

/// Bytes of rows a write of folds holds at most (but one row at least): a
/// fold holds the store's other writes back as little as a pass does.
const FOLD_BYTES: usize = 256 << 10;

/// The pause between two writes of folds, so that a fold of many groups
/// does not hold the store's writes back in one go.
const FOLD_PAUSE: Duration = Duration::from_millis(50);

/// Where the builder of a log partition stands: the outbox entry it applied
/// last, and that entry's log time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuilderPosition {
    /// The clustering key of the last applied entry (empty: none yet).
    pub last: Vec<u8>,
    /// Its log time, microseconds.
    pub log_time_micros: i64,
}

impl BuilderPosition {
    fn encode(&self) -> Vec<u8> {
        let mut row = self.log_time_micros.to_be_bytes().to_vec();
        row.extend_from_slice(&self.last);
        row
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let log_time_micros = i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        Some(Self { last: bytes[8..].to_vec(), log_time_micros })
    }

    /// Reads the position of a log partition's builder.
    pub async fn load(store: &dyn QueryStore, log_partition: u32) -> Result<Self, StoreError> {
        let row = store.get(Table::Meta, &builder_position_partition(log_partition), &[]).await?;
        Ok(row.and_then(|bytes| Self::decode(&bytes)).unwrap_or_default())
    }
}

/// The range of outbox entries after a position.
fn after(position: &BuilderPosition) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let low = if position.last.is_empty() { Bound::Unbounded } else { Bound::Excluded(position.last.clone()) };
    (low, Bound::Unbounded)
}

/// The log time (microseconds) up to which the whole-time values of a log
/// partition's groups are complete when some are stale.
pub async fn whole_through(store: &dyn QueryStore, log_partition: u32) -> Result<Option<i64>, StoreError> {
    let stale = match store.get(Table::Meta, &stale_flag_partition(log_partition), &[]).await? {
        Some(flag) => flag.first() == Some(&1),
        // Written before the flag existed: look at the marks.
        None => {
            let partition = stale_partition(log_partition);
            let all = (Bound::Unbounded, Bound::Unbounded);
            !store.scan(Table::Meta, &partition, all, Order::Ascending, 1).await?.is_empty()
        }
    };
    if !stale {
        return Ok(None);
    }
    let row = store.get(Table::Meta, &whole_position_partition(log_partition), &[]).await?;
    Ok(Some(row.and_then(|bytes| Some(i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))).unwrap_or(0)))
}

/// Whether the builder of a log partition has applied every outbox entry.
pub async fn caught_up(store: &dyn QueryStore, log_partition: u32) -> Result<bool, StoreError> {
    let position = BuilderPosition::load(store, log_partition).await?;
    if let Some(head) = store.get(Table::Meta, &outbox_head_partition(log_partition), &[]).await? {
        return Ok(position.last >= head);
    }
    let partition = outbox_partition(log_partition);
    let pending = store.scan(Table::AnalyticsOutbox, &partition, after(&position), Order::Ascending, 1).await?;
    Ok(pending.is_empty())
}

/// Bytes of decoded rollups a builder keeps.
const CACHE_BYTES: u64 = 64 << 20;

/// The rollups a builder read or wrote last, decoded (a row that is absent
/// as `None`), bounded by their size: a group that statements touch in
/// every pass is read and decoded once, not in every pass. It mirrors the
/// store because the builder is the only writer of its tenants' rollups (a
/// tenant's records are all in one log partition): a rollup enters when it
/// is read from the store, or once the write of its new value succeeded;
/// after a failed write (which may have landed) it is emptied.
pub(crate) struct RollupCache(quick_cache::sync::Cache<RollupKey, Option<Aggregate>, RollupWeight>);

/// What a decoded rollup weighs: about its bytes in memory.
#[derive(Clone)]
pub(crate) struct RollupWeight;

impl quick_cache::Weighter<RollupKey, Option<Aggregate>> for RollupWeight {
    fn weight(&self, key: &RollupKey, value: &Option<Aggregate>) -> u64 {
        (key.0.as_str().len() + key.4.len() + value.as_ref().map_or(0, Aggregate::weight)) as u64 + 64
    }
}

impl RollupCache {
    fn new(bytes: u64) -> Self {
        Self(quick_cache::sync::Cache::with_weighter((bytes / 4096) as usize, bytes, RollupWeight))
    }

    /// A rollup: from the cache, else from the store (then kept).
    pub(crate) async fn read(&self, store: &dyn QueryStore, key: &RollupKey) -> Result<Option<Aggregate>, StoreError> {
        if let Some(known) = self.0.get(key) {
            return Ok(known);
        }
        let stored = read_rollup(store, key).await?;
        self.0.insert(key.clone(), stored.clone());
        Ok(stored)
    }

    /// A rollup as it is with `delta` added (not kept: the write may fail).
    async fn with_added(
        &self,
        store: &dyn QueryStore,
        key: &RollupKey,
        delta: &Aggregate,
    ) -> Result<Aggregate, StoreError> {
        let mut aggregate = self.read(store, key).await?.unwrap_or_default();
        aggregate.merge(delta);
        Ok(aggregate)
    }

    /// Keeps what a successful write wrote.
    fn wrote(&self, written: Vec<(RollupKey, Written)>) {
        for (key, change) in written {
            match change {
                Written::Whole(aggregate) => {
                    self.0.insert(key, aggregate.filter(|a| a.statements > 0));
                }
                Written::Delta { now: Some(aggregate), .. } => {
                    self.0.insert(key, Some(*aggregate));
                }
                // A rollup not kept stays so (it is read whole when asked for).
                Written::Delta { added, now: None } => {
                    if let Some((key, known)) = self.0.remove(&key) {
                        let merged = match known {
                            Some(mut known) => {
                                known.merge(&added);
                                known
                            }
                            None => added,
                        };
                        self.0.insert(key, Some(merged));
                    }
                }
            }
        }
    }

    /// Forgets everything (after a write that failed, or may have).
    fn clear(&self) {
        self.0.clear();
    }
}

/// What a write did to a rollup (for the cache and the list of deltas,
/// once it succeeded).
pub(crate) enum Written {
    /// Written whole, its deltas deleted: it is this now (none: it counts nothing).
    Whole(Option<Aggregate>),
    /// Added to by a delta row: what it adds, and what the rollup is now
    /// where the pass worked it out.
    Delta { added: Aggregate, now: Option<Box<Aggregate>> },
}

/// The deltas of a builder's rollups not folded yet: per rollup, the
/// versions of the passes that wrote them and when the first was written
/// (for those found at a start: when they were found, so that a start,
/// when the store is cold, is not also when they are folded). It mirrors
/// the builder's list in the store, read at its first use.
#[derive(Default)]
struct PendingDeltas(HashMap<RollupKey, GroupDeltas>);

/// The deltas of one rollup not folded yet.
struct GroupDeltas {
    versions: Vec<Vec<u8>>,
    since: Instant,
}

impl GroupDeltas {
    /// Whether it is time to fold them into the group's row.
    fn due(&self) -> bool {
        self.versions.len() >= FOLD_DELTAS || self.since.elapsed() >= FOLD_AFTER
    }
}

impl PendingDeltas {
    /// The list of a log partition's builder, from the store.
    async fn load(store: &dyn QueryStore, log_partition: u32) -> Result<Self, StoreError> {
        let all = (Bound::Unbounded, Bound::Unbounded);
        let rows = store.scan(Table::Meta, &deltas_partition(log_partition), all, Order::Ascending, usize::MAX).await?;
        let mut pending = Self::default();
        let found = Instant::now();
        for (clustering, _) in rows {
            let Some((tenant, tier, period, dimension, value, version)) = parse_delta_clustering(&clustering) else {
                warn!(partition = log_partition, "skipping an unreadable note of an analytics delta");
                continue;
            };
            let group = pending.0.entry((tenant, tier, period, dimension, value));
            group.or_insert(GroupDeltas { versions: Vec::new(), since: found }).versions.push(version);
        }
        Ok(pending)
    }

    /// The versions of a rollup's deltas (none: it has none).
    fn versions(&self, key: &RollupKey) -> &[Vec<u8>] {
        self.0.get(key).map_or(&[], |group| &group.versions)
    }

    /// Notes what a successful write of pass `version` wrote.
    fn wrote(&mut self, version: &[u8], written: &[(RollupKey, Written)]) {
        for (key, change) in written {
            match change {
                Written::Whole(_) => {
                    self.0.remove(key);
                }
                Written::Delta { .. } => {
                    let group = self.0.entry(key.clone());
                    let group = group.or_insert_with(|| GroupDeltas { versions: Vec::new(), since: Instant::now() });
                    group.versions.push(version.to_vec());
                }
            }
        }
    }
}

/// Applies one log partition's analytics outbox.
#[derive(Clone)]
pub struct RollupBuilder {
    store: Arc<dyn QueryStore>,
    partition: u32,
    cache: Arc<RollupCache>,
    /// Its deltas not folded yet (none: to be read from the store).
    pending: Arc<Mutex<Option<PendingDeltas>>>,
    /// The keys of its stale marks, as the store holds them (none: to be
    /// read from the store). A scan of the marks walks every version of
    /// every key written and deleted since the store's last flush, about
    /// 10 million instructions a refresh under load; this is read once.
    stale: Arc<Mutex<Option<BTreeSet<Vec<u8>>>>>,
}

impl RollupBuilder {
    /// The builder of `partition`'s outbox in `store`.
    pub fn new(store: Arc<dyn QueryStore>, partition: u32) -> Self {
        let cache = Arc::new(RollupCache::new(CACHE_BYTES));
        let (pending, stale) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
        Self { store, partition, cache, pending, stale }
    }

    /// The keys of the stale marks, read from the store at their first use
    /// (and after a write failed), [`GROUPS_PER_REFRESH`] at a time.
    async fn stale<'a>(
        &self,
        guard: &'a mut Option<BTreeSet<Vec<u8>>>,
    ) -> Result<&'a mut BTreeSet<Vec<u8>>, StoreError> {
        if guard.is_none() {
            let partition = stale_partition(self.partition);
            let mut pages = PartitionPages::new(self.store.as_ref(), Table::Meta, &partition, GROUPS_PER_REFRESH);
            let mut marks = BTreeSet::new();
            while let Some(rows) = pages.next().await? {
                marks.extend(rows.into_iter().map(|(key, _)| key));
            }
            *guard = Some(marks);
        }
        Ok(guard.as_mut().expect("just loaded"))
    }

    /// The list of deltas not folded, read from the store at its first use
    /// (and after a write failed).
    async fn pending<'a>(&self, guard: &'a mut Option<PendingDeltas>) -> Result<&'a mut PendingDeltas, StoreError> {
        if guard.is_none() {
            *guard = Some(PendingDeltas::load(self.store.as_ref(), self.partition).await?);
        }
        Ok(guard.as_mut().expect("just loaded"))
    }

    /// Folds the deltas of up to [`FOLD_GROUPS`] rollups (and about
    /// [`FOLD_BYTES`] of rows) into their rows in one write: those due
    /// ([`FOLD_DELTAS`] deltas, or the first [`FOLD_AFTER`] old), or any
    /// when `all`. Returns how many it folded.
    pub async fn fold_deltas(&self, all: bool) -> Result<usize, StoreError> {
        let store = self.store.as_ref();
        let mut guard = self.pending.lock().await;
        let pending = self.pending(&mut guard).await?;
        let due: Vec<RollupKey> = pending
            .0
            .iter()
            .filter(|(_, group)| all || group.due())
            .map(|(key, _)| key.clone())
            .take(FOLD_GROUPS)
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let mut batch = WriteBatch::default();
        let mut written = Vec::with_capacity(due.len());
        let mut bytes = 0;
        for key in due {
            if bytes >= FOLD_BYTES {
                break;
            }
            yield_when_due().await;
            let whole = self.cache.read(store, &key).await?;
            bytes += write_rollup(&mut batch, &key, whole.as_ref());
            delete_rollup_deltas(&mut batch, self.partition, &key, pending.versions(&key));
            written.push((key, Written::Whole(whole)));
        }
        if let Err(error) = store.write_rebuildable(batch).await {
            self.cache.clear();
            *guard = None;
            return Err(error);
        }
        let folded = written.len();
        pending.wrote(&[], &written);
        self.cache.wrote(written);
        metrics::rollup_bytes_written("fold", bytes);
        metrics::builder_step("fold", started);
        Ok(folded)
    }

    /// Folds every due delta, a write at a time with [`FOLD_PAUSE`]
    /// between them, until none is due or `shutdown`.
    async fn fold_due(&self, shutdown: &mut watch::Receiver<bool>) -> Result<(), StoreError> {
        while self.fold_deltas(false).await? > 0 {
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                _ = tokio::time::sleep(FOLD_PAUSE) => {}
            }
        }
        Ok(())
    }

    /// Applies the outbox until `shutdown` turns true, retrying after a
    /// failure; refreshes the whole-time values when the outbox empties, and
    /// every [`REFRESH_EVERY`] while it does not.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut pause = IDLE;
        let mut refreshed = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let step = self.apply_next(ENTRIES_PER_WRITE).await;
            let step = match step {
                Ok(applied) if applied < ENTRIES_PER_WRITE || refreshed.elapsed() >= REFRESH_EVERY => {
                    refreshed = tokio::time::Instant::now();
                    self.refresh_whole().await.map(|_| applied)
                }
                other => other,
            };
            let step = match step {
                Ok(applied) => self.fold_due(&mut shutdown).await.map(|()| applied),
                failed => failed,
            };
            let wait = match step {
                Ok(applied) if applied < ENTRIES_PER_WRITE => {
                    pause = IDLE;
                    if applied >= BUSY_ENTRIES {
                        BUSY
                    } else {
                        IDLE
                    }
                }
                Ok(_) => continue,
                Err(error) => {
                    warn!(%error, partition = self.partition, "analytics builder step failed; retrying");
                    pause = (pause * 2).min(Duration::from_secs(5));
                    pause
                }
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Applies every entry of the outbox, refreshes the whole-time values
    /// and folds every delta (a replay's last step, and tests).
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut applied = 0;
        loop {
            let done = self.apply_next(ENTRIES_PER_WRITE).await?;
            if done == 0 {
                self.refresh_whole().await?;
                while self.fold_deltas(true).await? > 0 {}
                return Ok(applied);
            }
            applied += done;
        }
    }

    /// Recomputes the whole-time values of every group marked stale, from
    /// its months, and records up to which log time they are complete.
    /// Returns how many groups it refreshed.
    pub async fn refresh_whole(&self) -> Result<usize, StoreError> {
        let started = Instant::now();
        let refreshed = self.refresh_stale().await;
        match refreshed {
            Ok(0) => {}
            Ok(_) => metrics::builder_step("refresh", started),
            Err(_) => self.cache.clear(),
        }
        refreshed
    }

    async fn refresh_stale(&self) -> Result<usize, StoreError> {
        let store = self.store.as_ref();
        let through = BuilderPosition::load(store, self.partition).await?.log_time_micros;
        let partition = stale_partition(self.partition);
        let mut guard = self.stale.lock().await;
        let marks = self.stale(&mut guard).await?;
        let mut spans: HashMap<TenantId, Option<FactDays>> = HashMap::default();
        let mut refreshed = 0;
        let mut moved: HashMap<(TenantId, Dimension), Vec<GroupValues>> = HashMap::default();
        loop {
            let rows: Vec<Vec<u8>> = marks.iter().take(GROUPS_PER_REFRESH).cloned().collect();
            let mut batch = WriteBatch::default();
            for clustering in &rows {
                batch.delete(Table::Meta, partition.clone(), clustering.clone());
                let Some((tenant, dimension, value)) = parse_stale_clustering(clustering) else { continue };
                let days = match spans.get(&tenant) {
                    Some(days) => *days,
                    None => {
                        let row = store.get(Table::Meta, &analytics_meta_partition(&tenant), &[]).await?;
                        let days = row.and_then(|bytes| FactDays::decode(&bytes));
                        spans.insert(tenant.clone(), days);
                        days
                    }
                };
                let aggregate = whole_aggregate((store, Some(&self.cache)), &tenant, dimension, &value, days).await?;
                let new = if aggregate.statements > 0 { values(&aggregate) } else { Vec::new() };
                write_whole_values(&mut batch, &tenant, dimension, &value, &new);
                if dimension != Dimension::All {
                    moved.entry((tenant, dimension)).or_default().push((value, new));
                }
            }
            for ((tenant, dimension), groups) in moved.drain() {
                move_in_tops(store, &mut batch, (&tenant, dimension), &groups).await?;
            }
            refreshed += rows.len();
            let last = rows.len() < GROUPS_PER_REFRESH;
            if last && refreshed > 0 {
                batch.put(
                    Table::Meta,
                    whole_position_partition(self.partition),
                    Vec::new(),
                    through.to_be_bytes().to_vec(),
                );
            }
            if last && refreshed > 0 {
                batch.put(Table::Meta, stale_flag_partition(self.partition), Vec::new(), vec![0]);
            }
            if !batch.is_empty() {
                if let Err(error) = store.write_rebuildable(batch).await {
                    *guard = None;
                    return Err(error);
                }
            }
            for clustering in &rows {
                marks.remove(clustering);
            }
            if last {
                return Ok(refreshed);
            }
        }
    }

    /// Applies up to `max` entries after the position in one write; returns how many.
    pub async fn apply_next(&self, max: usize) -> Result<usize, StoreError> {
        let store = self.store.as_ref();
        let mut guard = self.pending.lock().await;
        let pending = self.pending(&mut guard).await?;
        let position = BuilderPosition::load(store, self.partition).await?;
        let partition = outbox_partition(self.partition);
        let started = Instant::now();
        // An outbox delete per row, a fact and a learner's entry per entry,
        // then the rollups.
        let mut batch = WriteBatch::with_capacity(1024);
        let mut entries = Vec::new();
        // Entries taken and unreadable rows skipped.
        let mut taken = 0;
        // The place of the last entry applied before, and the key of the
        // last entry taken (or unreadable row skipped).
        let applied = parse_outbox_clustering(&position.last);
        let mut last = None;
        let mut range = after(&position);
        'read: loop {
            let rows =
                store.scan(Table::AnalyticsOutbox, &partition, range, Order::Ascending, OUTBOX_ROWS_PER_READ).await?;
            let Some((end, _)) = rows.last() else { break };
            range = (Bound::Excluded(end.clone()), Bound::Unbounded);
            let more = rows.len() == OUTBOX_ROWS_PER_READ;
            for (clustering, value) in rows {
                if taken == max {
                    break 'read;
                }
                let Some(items) = decode_outbox_row(&clustering, &value).filter(|items| !items.is_empty()) else {
                    warn!(partition = self.partition, "skipping an unreadable analytics outbox row");
                    batch.delete(Table::AnalyticsOutbox, partition.clone(), clustering.clone());
                    last = Some(clustering);
                    taken += 1;
                    continue;
                };
                // A row may begin at or before the position: a batch applied
                // again, or a row taken in part by the last pass.
                let mut row_taken = None;
                let mut whole = true;
                for (offset, seq, entry) in items {
                    if applied.is_some_and(|applied| (offset, seq) <= applied) {
                        continue;
                    }
                    if taken == max {
                        whole = false;
                        break;
                    }
                    row_taken = Some((offset, seq));
                    entries.push(entry);
                    taken += 1;
                }
                if let Some((offset, seq)) = row_taken {
                    last = Some(outbox_clustering(offset, seq));
                }
                if !whole {
                    break 'read;
                }
                // Every entry of the row taken (it is keyed by its last).
                batch.delete(Table::AnalyticsOutbox, partition.clone(), clustering);
            }
            if !more {
                break;
            }
        }
        let Some(last) = last else { return Ok(0) };
        let log_time_micros = entries.last().map_or(position.log_time_micros, |entry| entry.log_time_micros);
        // Unique to this write: the builder's partition and its last entry.
        let mut version = self.partition.to_be_bytes().to_vec();
        version.extend_from_slice(&last);
        let (mut written, mut marked) = (Vec::new(), Vec::new());
        let rollups = Rollups { pass: (self.partition, &version), pending, as_deltas: taken < DELTA_ENTRIES };
        let out = (&mut batch, &mut written, &mut marked);
        let bytes = apply_entries(entries, rollups, (store, &self.cache), out).await?;
        let next = BuilderPosition { last, log_time_micros };
        batch.put(Table::Meta, builder_position_partition(self.partition), Vec::new(), next.encode());
        if let Err(error) = store.write_rebuildable(batch).await {
            self.cache.clear();
            *guard = None;
            *self.stale.lock().await = None;
            return Err(error);
        }
        pending.wrote(&version, &written);
        if let Some(marks) = self.stale.lock().await.as_mut() {
            marks.extend(marked);
        }
        self.cache.wrote(written);
        metrics::rollup_bytes_written("whole", bytes.whole);
        metrics::rollup_bytes_written("delta", bytes.delta);
        metrics::builder_step("apply", started);
        Ok(taken)
    }
}

/// How a pass writes its rollups.
struct Rollups<'a> {
    /// The builder's log partition and the pass's version.
    pass: (u32, &'a [u8]),
    /// The deltas not folded yet (deleted where a rollup is written whole).
    pending: &'a PendingDeltas,
    /// Whether what it adds to a rollup is written as a delta.
    as_deltas: bool,
}

/// What a pass writes: its batch, the rollups it wrote, and the keys of the
/// stale marks it put.
type PassOut<'a> = (&'a mut WriteBatch, &'a mut Vec<(RollupKey, Written)>, &'a mut Vec<Vec<u8>>);

/// Applies outbox entries, in order, to the facts, rollups and progress
/// rows; marks every day whose facts change, and every tenant that forgets
/// a learner, with the pass's version (what readers' copies of facts are checked by).
async fn apply_entries(
    entries: Vec<OutboxEntry>,
    rollups: Rollups<'_>,
    (store, cache): (&dyn QueryStore, &RollupCache),
    (batch, written, marked): PassOut<'_>,
) -> Result<RollupBytes, StoreError> {
    let (log_partition, version) = rollups.pass;
    // Per day: the facts these entries add (as they stand at the end: a
    // statement stored and removed here is not there), and those they
    // remove from what the store holds. The fact rows are written in order.
    let mut added: BTreeMap<(TenantId, u32), Vec<Fact>> = BTreeMap::new();
    let mut removed: BTreeMap<(TenantId, u32), Vec<Fact>> = BTreeMap::new();
    let mut forgotten: Vec<(TenantId, String)> = Vec::new();
    for entry in entries {
        let tenant = &entry.tenant;
        match entry.change {
            OutboxChange::Added(fact) => {
                let day = fact.day();
                batch.put(Table::AnalyticsFacts, facts_partition(tenant, day), fact_clustering(fact.id), fact.encode());
                if let Some(learner) = &fact.learner {
                    let index = learner_fact_clustering(day, fact.id);
                    batch.put(Table::AnalyticsLearnerFacts, learner_partition(tenant, learner), index, Vec::new());
                }
                added.entry((tenant.clone(), day)).or_default().push(fact);
            }
            OutboxChange::Removed(fact) => {
                let day = fact.day();
                batch.delete(Table::AnalyticsFacts, facts_partition(tenant, day), fact_clustering(fact.id));
                if let Some(learner) = &fact.learner {
                    let index = learner_fact_clustering(day, fact.id);
                    batch.delete(Table::AnalyticsLearnerFacts, learner_partition(tenant, learner), index);
                }
                if let Some(facts) = added.get_mut(&(tenant.clone(), day)) {
                    facts.retain(|f| f.id != fact.id);
                }
                removed.entry((tenant.clone(), day)).or_default().push(fact);
            }
            OutboxChange::Forgotten(key) => forgotten.push((tenant.clone(), key)),
        }
    }
    for (tenant, day) in added.keys().chain(removed.keys()) {
        batch.put(Table::Meta, day_versions_partition(tenant), day_version_clustering(*day), version.to_vec());
    }
    let (touched, bytes) = roll_up(&added, &removed, rollups, (store, cache), batch, written).await?;
    if !touched.is_empty() {
        batch.put(Table::Meta, stale_flag_partition(log_partition), Vec::new(), vec![1]);
    }
    for (tenant, dimension, value) in touched {
        let clustering = stale_clustering(&tenant, dimension, &value);
        batch.put(Table::Meta, stale_partition(log_partition), clustering.clone(), Vec::new());
        marked.push(clustering);
    }
    widen_fact_days(&added, store, batch).await?;
    for (tenant, key) in forgotten {
        batch.put(Table::Meta, forgotten_partition(&tenant), Vec::new(), version.to_vec());
        forget_learner(&tenant, &key, store, batch).await?;
    }
    Ok(bytes)
}

/// Bytes of rollup rows a pass writes: whole, and as deltas.
#[derive(Default)]
struct RollupBytes {
    whole: usize,
    delta: usize,
}

/// The coarser periods a group's day counts in: its month, and for all
/// statements its ISO week too (what questions by week read).
fn coarse_keys(tenant: &TenantId, day: u32, dimension: Dimension, value: &str) -> Vec<RollupKey> {
    let mut keys = vec![(tenant.clone(), Tier::Month, month_of_day(day), dimension, value.to_owned())];
    if dimension == Dimension::All {
        keys.push((tenant.clone(), Tier::Week, week_of_day(day), dimension, value.to_owned()));
    }
    keys
}

/// Updates the rollups: adds the new facts to the groups they count in,
/// and recomputes the groups of days (and their weeks and months) that lost
/// facts. What it adds is written as deltas when `rollups` says so; what it
/// recomputes is written whole. Returns the groups it touched (whose
/// whole-time values are now stale), and adds what it writes to `written`
/// (for the cache and the list of deltas, once the write succeeded).
async fn roll_up(
    added: &BTreeMap<(TenantId, u32), Vec<Fact>>,
    removed: &BTreeMap<(TenantId, u32), Vec<Fact>>,
    rollups: Rollups<'_>,
    (store, cache): (&dyn QueryStore, &RollupCache),
    batch: &mut WriteBatch,
    written: &mut Vec<(RollupKey, Written)>,
) -> Result<(BTreeSet<GroupKey>, RollupBytes), StoreError> {
    let mut bytes = RollupBytes::default();
    // The day aggregates as they are after this batch, where written whole...
    let mut days: HashMap<RollupKey, Aggregate> = HashMap::default();
    // ...and what it adds to the others, written as deltas.
    let mut day_deltas: HashMap<RollupKey, Aggregate> = HashMap::default();
    // Week and month groups that must be recomputed from their days.
    let mut recompute: BTreeSet<RollupKey> = BTreeSet::new();
    let mut coarse_deltas: HashMap<RollupKey, Aggregate> = HashMap::default();
    let day_keys: BTreeSet<&(TenantId, u32)> = added.keys().chain(removed.keys()).collect();
    for day_key in day_keys {
        yield_when_due().await;
        let (tenant, day) = day_key;
        let new = added.get(day_key).map(Vec::as_slice).unwrap_or_default();
        match removed.get(day_key) {
            Some(gone) => {
                // Recompute every group the day's changes touch, from its facts.
                let gone_ids: HashSet<Uuid> = gone.iter().map(|f| f.id).collect();
                let mut facts: Vec<Fact> = facts_of_day(store, tenant, *day)
                    .await?
                    .into_iter()
                    .filter(|f| !gone_ids.contains(&f.id))
                    .collect();
                facts.extend(new.iter().cloned());
                let hashes: Vec<FactHashes> = facts.iter().map(FactHashes::of).collect();
                let groups: BTreeSet<(Dimension, String)> = gone
                    .iter()
                    .chain(new)
                    .flat_map(|fact| fact.groups().into_iter().map(|(d, v)| (d, v.to_owned())))
                    .collect();
                for (dimension, value) in groups {
                    let mut aggregate = Aggregate::default();
                    for (fact, hashes) in facts.iter().zip(&hashes) {
                        if fact.has(dimension, &value) {
                            aggregate.add_hashed(fact, *hashes);
                        }
                    }
                    recompute.extend(coarse_keys(tenant, *day, dimension, &value));
                    days.insert((tenant.clone(), Tier::Day, *day, dimension, value), aggregate);
                }
            }
            None => {
                // Keyed by the facts' own texts: a group is copied once, not once per fact.
                let mut deltas: HashMap<(Dimension, &str), Aggregate> = HashMap::default();
                for fact in new {
                    let hashes = FactHashes::of(fact);
                    for group in fact.groups() {
                        deltas.entry(group).or_default().add_hashed(fact, hashes);
                    }
                }
                for ((dimension, value), delta) in deltas {
                    for coarse in coarse_keys(tenant, *day, dimension, value) {
                        coarse_deltas.entry(coarse).or_default().merge(&delta);
                    }
                    let day_key = (tenant.clone(), Tier::Day, *day, dimension, value.to_owned());
                    if rollups.as_deltas {
                        day_deltas.insert(day_key, delta);
                    } else {
                        let aggregate = cache.with_added(store, &day_key, &delta).await?;
                        days.insert(day_key, aggregate);
                    }
                }
            }
        }
    }
    // Weeks and months: from their days when one of them lost facts, else by adding.
    let mut coarse: HashMap<RollupKey, Aggregate> = HashMap::default();
    for key in &recompute {
        yield_when_due().await;
        let (tenant, tier, period, dimension, value) = key;
        let mut aggregate = Aggregate::default();
        for day in days_of_period(*tier, *period) {
            let day_key = (tenant.clone(), Tier::Day, day, *dimension, value.clone());
            match days.get(&day_key) {
                Some(known) => aggregate.merge(known),
                None => {
                    if let Some(stored) = cache.read(store, &day_key).await? {
                        aggregate.merge(&stored);
                    }
                    if let Some(delta) = day_deltas.get(&day_key) {
                        aggregate.merge(delta);
                    }
                }
            }
        }
        coarse.insert(key.clone(), aggregate);
    }
    let mut coarse_added: HashMap<RollupKey, Aggregate> = HashMap::default();
    for (key, delta) in coarse_deltas {
        if recompute.contains(&key) {
            continue;
        }
        if rollups.as_deltas {
            coarse_added.insert(key, delta);
        } else {
            let aggregate = cache.with_added(store, &key, &delta).await?;
            coarse.insert(key, aggregate);
        }
    }
    for (key, aggregate) in days.iter().chain(&coarse) {
        bytes.whole += write_rollup(batch, key, Some(aggregate));
        delete_rollup_deltas(batch, rollups.pass.0, key, rollups.pending.versions(key));
        if key.3 == Dimension::All {
            write_time_values(batch, key, aggregate);
        }
    }
    let touched = coarse
        .keys()
        .chain(coarse_added.keys())
        .filter(|key| key.1 == Tier::Month)
        .map(|(tenant, _, _, dimension, value)| (tenant.clone(), *dimension, value.clone()))
        .collect();
    written.extend(days.into_iter().chain(coarse).map(|(key, aggregate)| {
        let kept = (aggregate.statements > 0).then_some(aggregate);
        (key, Written::Whole(kept))
    }));
    for (key, added) in day_deltas.into_iter().chain(coarse_added) {
        yield_when_due().await;
        bytes.delta += write_rollup_delta(batch, rollups.pass, &key, &added);
        // The measure values of all statements need the whole rollup.
        let now = if key.3 == Dimension::All {
            let now = cache.with_added(store, &key, &added).await?;
            write_time_values(batch, &key, &now);
            Some(Box::new(now))
        } else {
            None
        };
        written.push((key, Written::Delta { added, now }));
    }
    Ok((touched, bytes))
}

/// Writes the measure values of all statements of a day, week or month
/// (deletes them when it counts nothing).
fn write_time_values(batch: &mut WriteBatch, key: &RollupKey, aggregate: &Aggregate) {
    let (tenant, tier, period, _, _) = key;
    let partition = rollup_partition(tenant, Tier::Values, 0);
    let clustering = values_clustering(*tier, *period);
    if aggregate.statements > 0 {
        batch.put(Table::AnalyticsRollups, partition, clustering, encode_values(aggregate));
    } else {
        batch.delete(Table::AnalyticsRollups, partition, clustering);
    }
}

/// Moves refreshed groups of one dimension (with their whole-time values
/// in the order of [`Measure::ALL`]; none: gone) in the dimension's lists
/// of first groups, rebuilding a list that is missing (a tenant begun by an
/// earlier version) or too short from every group's whole-time values.
async fn move_in_tops(
    store: &dyn QueryStore,
    batch: &mut WriteBatch,
    (tenant, dimension): (&TenantId, Dimension),
    groups: &[GroupValues],
) -> Result<(), StoreError> {
    let clustering = rollup_dimension_prefix(dimension.name());
    let mut lists = Vec::with_capacity(Measure::ALL.len());
    for place in 0..Measure::ALL.len() {
        let partition = rollup_partition(tenant, Tier::Top, place as u32);
        let row = store.get(Table::AnalyticsRollups, &partition, &clustering).await?;
        lists.push(row.and_then(|bytes| TopList::decode(&bytes)));
    }
    let mut every: Option<Vec<GroupValues>> = None;
    for (place, list) in lists.into_iter().enumerate() {
        let mut changed = list.is_none();
        let mut list = match list {
            Some(list) => list,
            None => from_whole_values(store, tenant, dimension, place, &mut every).await?,
        };
        let moves: Vec<(&str, Option<f64>)> =
            groups.iter().map(|(group, values)| (group.as_str(), values.get(place).copied().flatten())).collect();
        changed |= list.update_all(&moves);
        if list.too_short() {
            list = from_whole_values(store, tenant, dimension, place, &mut every).await?;
            list.update_all(&moves);
            changed = true;
        }
        if changed {
            let partition = rollup_partition(tenant, Tier::Top, place as u32);
            batch.put(Table::AnalyticsRollups, partition, clustering.clone(), list.encode());
        }
    }
    Ok(())
}

/// A dimension's list of first groups by the measure at `place`, from every
/// group's whole-time values (read once into `every` for all measures).
async fn from_whole_values(
    store: &dyn QueryStore,
    tenant: &TenantId,
    dimension: Dimension,
    place: usize,
    every: &mut Option<Vec<GroupValues>>,
) -> Result<TopList, StoreError> {
    if every.is_none() {
        let range = rollup_dimension_range(dimension.name());
        let partition = rollup_partition(tenant, Tier::Whole, 0);
        let rows = store.scan(Table::AnalyticsRollups, &partition, range, Order::Ascending, usize::MAX).await?;
        *every = Some(
            rows.iter()
                .filter_map(|(clustering, bytes)| {
                    let (_, group) = parse_rollup_clustering(clustering)?;
                    Some((group, decode_values(bytes)?))
                })
                .collect(),
        );
    }
    let groups = every.as_deref().unwrap_or_default();
    Ok(TopList::of(
        groups
            .iter()
            .filter_map(|(group, values)| Some((values.get(place).copied().flatten()?, group.clone())))
            .collect(),
    ))
}

/// A group and its whole-time value of every measure (in the order of
/// [`Measure::ALL`]; empty: it has none).
type GroupValues = (String, Vec<Option<f64>>);

/// A group of a tenant: its dimension and value.
type GroupKey = (TenantId, Dimension, String);

/// Widens each tenant's first and last day with facts.
async fn widen_fact_days(
    added: &BTreeMap<(TenantId, u32), Vec<Fact>>,
    store: &dyn QueryStore,
    batch: &mut WriteBatch,
) -> Result<(), StoreError> {
    let mut widest: BTreeMap<&TenantId, (u32, u32)> = BTreeMap::new();
    for (tenant, day) in added.keys() {
        let range = widest.entry(tenant).or_insert((*day, *day));
        *range = (range.0.min(*day), range.1.max(*day));
    }
    for (tenant, (first, last)) in widest {
        let partition = analytics_meta_partition(tenant);
        let known = store.get(Table::Meta, &partition, &[]).await?.and_then(|b| FactDays::decode(&b));
        let days = match known {
            Some(known) => FactDays { first: known.first.min(first), last: known.last.max(last), ..known },
            None => FactDays { first, last, layout: ROLLUP_LAYOUT },
        };
        if Some(days) != known {
            batch.put(Table::Meta, partition, Vec::new(), days.encode());
        }
    }
    Ok(())
}

/// Removes what is kept under a forgotten learner's key.
async fn forget_learner(
    tenant: &TenantId,
    key: &str,
    store: &dyn QueryStore,
    batch: &mut WriteBatch,
) -> Result<(), StoreError> {
    batch.delete(Table::AnalyticsLearners, learner_identity_partition(tenant, key), Vec::new());
    let partition = learner_partition(tenant, key);
    let all = (Bound::Unbounded, Bound::Unbounded);
    for table in [Table::AnalyticsLearnerFacts] {
        for (clustering, _) in store.scan(table, &partition, all.clone(), Order::Ascending, usize::MAX).await? {
            batch.delete(table, partition.clone(), clustering);
        }
    }
    Ok(())
}

/// Lets the other tasks of the runtime (the projectors, whose batches the
/// single POSTs wait for) run when this one has used its share: a builder
/// pass reads and merges for up to a few hundred milliseconds without
/// awaiting anything that would yield (the store answers at once).
async fn yield_when_due() {
    tokio::task::coop::consume_budget().await;
}
