//! Day blocks: a tenant's facts of one day held in memory as columns, every
//! text (learner key, verb, activity, parent, platform, source) replaced by
//! its number in the tenant's dictionary. A question over a bounded range by
//! a group dimension, or with filters, is answered from the blocks of its
//! days in one pass over plain arrays, exactly (no sketches), instead of
//! merging one rollup per group and day. A block is built from the facts
//! table the first time a question needs its day, and kept, in a cache
//! bounded in bytes, while the day's version stands: the builder rewrites it
//! in the same write as every change of the day's facts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::analytics::By;
use crate::projection::analytics::fact::{month_of_day, Dimension, FactRef};
use crate::projection::analytics::measure::Measure;
use crate::store::{Order, PartitionPages, QueryStore, StoreError, Table};
use crate::tables::analytics::{
    day_version_clustering, day_versions_partition, facts_partition, forgotten_partition, week_of_day,
};
use crate::tenant::TenantId;

/// No value (a fact without a learner, an activity, a platform…).
const NONE: u32 = u32::MAX;

/// The longest range (in days) answered from blocks; a longer one merges
/// rollups (its months serve whole) and holds less in memory.
pub const BLOCK_DAYS: u32 = 93;

/// Facts read from the store at a time while a day's block is built.
const FACTS_PER_READ: usize = 4_096;

/// How long a block is trusted without its version changing: bounds what a
/// store whose batches are not isolated (ScyllaDB) could leave stale.
const MAX_AGE: Duration = Duration::from_secs(600);

/// What one fact takes in a block's columns: five numbers, where its
/// parents end, success and completion, score and duration.
const COLUMN_BYTES: u64 = 6 * 4 + 2 + 16;

/// About what a fact takes in a block with one parent, to weigh a day before
/// building it.
const FACT_BYTES: u64 = COLUMN_BYTES + 4;

/// What a block takes beside its facts.
const BLOCK_BYTES: u64 = 256;

/// The facts of one day, column by column.
#[derive(Default)]
pub struct Block {
    learner: Vec<u32>,
    activity: Vec<u32>,
    verb: Vec<u32>,
    platform: Vec<u32>,
    source: Vec<u32>,
    /// Where each fact's parents end in `parents`.
    parent_ends: Vec<u32>,
    parents: Vec<u32>,
    /// `result.success`: -1 unset, 0 false, 1 true.
    success: Vec<i8>,
    completes: Vec<bool>,
    /// `result.score.scaled`, NaN when unset.
    score: Vec<f64>,
    /// `result.duration` in seconds, NaN when unset.
    duration: Vec<f64>,
}

impl Block {
    fn len(&self) -> usize {
        self.verb.len()
    }

    /// What it holds in memory, roughly.
    fn bytes(&self) -> u64 {
        (self.len() as u64) * COLUMN_BYTES + (self.parents.len() as u64) * 4 + BLOCK_BYTES
    }

    fn push(&mut self, fact: &FactRef<'_>, names: &mut Names) {
        let mut id = |text: Option<&str>| text.map_or(NONE, |text| names.id(text));
        self.learner.push(id(fact.learner));
        self.activity.push(id(fact.activity));
        self.verb.push(id(Some(fact.verb)));
        self.platform.push(id(fact.platform));
        self.source.push(id(fact.source));
        for parent in &fact.parents {
            self.parents.push(id(Some(parent)));
        }
        self.parent_ends.push(self.parents.len() as u32);
        self.success.push(fact.success.map_or(-1, i8::from));
        self.completes.push(fact.completes);
        self.score.push(fact.score.filter(|s| s.is_finite()).unwrap_or(f64::NAN));
        self.duration.push(fact.duration.filter(|d| d.is_finite()).unwrap_or(f64::NAN));
    }

    fn parents_of(&self, fact: usize) -> &[u32] {
        let start = if fact == 0 { 0 } else { self.parent_ends[fact - 1] as usize };
        &self.parents[start..self.parent_ends[fact] as usize]
    }

    /// The one value of a single-valued dimension.
    fn single(&self, dimension: Dimension, fact: usize) -> u32 {
        match dimension {
            Dimension::All => 0,
            Dimension::Verb => self.verb[fact],
            Dimension::Activity => self.activity[fact],
            Dimension::Platform => self.platform[fact],
            Dimension::Source => self.source[fact],
            Dimension::Learner => self.learner[fact],
            Dimension::Parent => NONE,
        }
    }

    fn has(&self, dimension: Dimension, fact: usize, id: u32) -> bool {
        match dimension {
            Dimension::Parent => self.parents_of(fact).contains(&id),
            other => self.single(other, fact) == id,
        }
    }
}

/// A tenant's dictionary: every text its blocks hold, numbered.
#[derive(Default)]
struct Names {
    ids: HashMap<Arc<str>, u32, foldhash::fast::RandomState>,
    texts: Vec<Arc<str>>,
    bytes: u64,
}

impl Names {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        let shared: Arc<str> = text.into();
        let id = self.texts.len() as u32;
        self.texts.push(shared.clone());
        self.ids.insert(shared, id);
        self.bytes += text.len() as u64 * 2 + 64;
        id
    }
}

/// What the cache holds of one tenant besides its blocks.
struct TenantNames {
    /// Blocks of another generation number with another dictionary.
    generation: u64,
    /// The tenant's forgotten mark when the dictionary began.
    forgotten: Option<Vec<u8>>,
    names: Names,
}

#[derive(Clone)]
struct CachedDay {
    generation: u64,
    version: Option<Vec<u8>>,
    built: Instant,
    block: Arc<Block>,
}

#[derive(Clone)]
struct BlockWeight;

impl quick_cache::Weighter<(TenantId, u32), CachedDay> for BlockWeight {
    fn weight(&self, _key: &(TenantId, u32), day: &CachedDay) -> u64 {
        day.block.bytes()
    }
}

/// The blocks of a range of days, numbered by one dictionary.
pub struct RangeBlocks {
    generation: u64,
    days: Vec<(u32, Arc<Block>)>,
}

/// The cache of day blocks of every tenant, bounded in bytes.
pub struct DayBlocks {
    budget: u64,
    tenants: Mutex<HashMap<TenantId, TenantNames>>,
    days: quick_cache::sync::Cache<(TenantId, u32), CachedDay, BlockWeight>,
    generations: AtomicU64,
}

impl DayBlocks {
    /// A cache holding at most about `budget` bytes of blocks (and a quarter
    /// of that of dictionaries per tenant).
    pub fn new(budget: u64) -> Self {
        // One shard: a shard keeps no block heavier than its share of the
        // budget, and with quick_cache's default of four shards a core a day
        // of over an eighth of it (740,000 facts of the 256 MB default on two
        // cores) was built for every question and never kept.
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(4_096)
            .weight_capacity(budget.max(1))
            .shards(1)
            .build()
            .expect("both capacities are set");
        Self {
            budget,
            tenants: Mutex::new(HashMap::new()),
            days: quick_cache::sync::Cache::with_options(options, BlockWeight, Default::default(), Default::default()),
            generations: AtomicU64::new(1),
        }
    }

    /// Whether the blocks held weigh less than half the budget (room to warm more).
    pub fn has_room(&self) -> bool {
        self.days.weight() < self.budget / 2
    }

    /// Whether a day of `facts` facts is one to warm: its block would take at
    /// most half the budget. A larger day is built when a question needs it.
    pub fn warms(&self, facts: u64) -> bool {
        facts.saturating_mul(FACT_BYTES).saturating_add(BLOCK_BYTES) <= self.budget / 2
    }

    /// Whether the block of a tenant's day is held (for tests and reports).
    pub fn holds(&self, tenant: &TenantId, day: u32) -> bool {
        self.days.contains_key(&(tenant.clone(), day))
    }

    fn tenants(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, TenantNames>> {
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation of a tenant's dictionary, beginning a new one when the
    /// tenant forgot a learner since (nothing of the learner stays here) or
    /// when it grew past its share of the budget.
    fn generation(&self, tenant: &TenantId, forgotten: &Option<Vec<u8>>) -> u64 {
        let mut tenants = self.tenants();
        let fresh = match tenants.get(tenant) {
            Some(known) => known.forgotten != *forgotten || known.names.bytes > self.budget / 4,
            None => true,
        };
        if fresh {
            let generation = self.generations.fetch_add(1, Ordering::Relaxed);
            let names = TenantNames { generation, forgotten: forgotten.clone(), names: Names::default() };
            tenants.insert(tenant.clone(), names);
        }
        tenants[tenant].generation
    }

    /// The blocks of days `first..end` of a tenant: cached while their
    /// version stands, else built from the facts. `None` when the tenant's
    /// dictionary changed meanwhile (ask again).
    pub async fn load(
        &self,
        store: &dyn QueryStore,
        tenant: &TenantId,
        first: u32,
        end: u32,
    ) -> Result<Option<RangeBlocks>, StoreError> {
        let forgotten = store.get(Table::Meta, &forgotten_partition(tenant), &[]).await?;
        let range = (
            std::ops::Bound::Included(day_version_clustering(first)),
            std::ops::Bound::Excluded(day_version_clustering(end)),
        );
        let versions: HashMap<u32, Vec<u8>> = store
            .scan(Table::Meta, &day_versions_partition(tenant), range, Order::Ascending, usize::MAX)
            .await?
            .into_iter()
            .filter_map(|(day, version)| Some((u32::from_be_bytes(day.as_slice().try_into().ok()?), version)))
            .collect();
        let generation = self.generation(tenant, &forgotten);
        let mut days = Vec::with_capacity((end - first) as usize);
        for day in first..end {
            let version = versions.get(&day).cloned();
            let key = (tenant.clone(), day);
            if let Some(cached) = self.days.get(&key) {
                if cached.generation == generation && cached.version == version && cached.built.elapsed() < MAX_AGE {
                    days.push((day, cached.block));
                    continue;
                }
            }
            // The version was read before the facts: a change after it
            // makes the next question build again. The facts are read a
            // part at a time, so that a large day is not held whole as rows
            // beside its block.
            let partition = facts_partition(tenant, day);
            let mut block = Block::default();
            let mut pages = PartitionPages::new(store, Table::AnalyticsFacts, &partition, FACTS_PER_READ);
            while let Some(rows) = pages.next().await? {
                let mut tenants = self.tenants();
                let Some(known) = tenants.get_mut(tenant).filter(|known| known.generation == generation) else {
                    return Ok(None);
                };
                for (_, row) in &rows {
                    if let Some(fact) = FactRef::decode(row) {
                        block.push(&fact, &mut known.names);
                    }
                }
            }
            let block = Arc::new(block);
            let cached = CachedDay { generation, version, built: Instant::now(), block: block.clone() };
            self.days.insert(key, cached);
            days.push((day, block));
        }
        Ok(Some(RangeBlocks { generation, days }))
    }

    /// The numbers of filter values in a tenant's dictionary (`None` inside:
    /// a value no fact has); `None` when the dictionary changed.
    pub fn filter_ids(
        &self,
        tenant: &TenantId,
        blocks: &RangeBlocks,
        filters: &[(Dimension, String)],
    ) -> Option<Vec<(Dimension, Option<u32>)>> {
        let tenants = self.tenants();
        let known = tenants.get(tenant).filter(|known| known.generation == blocks.generation)?;
        Some(
            filters
                .iter()
                .map(|(dimension, value)| (*dimension, known.names.ids.get(value.as_str()).copied()))
                .collect(),
        )
    }

    /// The texts of group numbers of a group dimension; `None` when the
    /// dictionary changed.
    pub fn texts(&self, tenant: &TenantId, blocks: &RangeBlocks, ids: &[u32]) -> Option<Vec<String>> {
        let tenants = self.tenants();
        let known = tenants.get(tenant).filter(|known| known.generation == blocks.generation)?;
        Some(
            ids.iter()
                .map(|id| known.names.texts.get(*id as usize).map_or_else(String::new, |t| t.to_string()))
                .collect(),
        )
    }
}

/// The group (a number) of a question broken down by `by` that the fact
/// counts in: a dictionary number, a day, a week's Monday, a month index.
fn for_each_group(block: &Block, fact: usize, day: u32, by: Option<By>, mut found: impl FnMut(u32)) {
    match by {
        None => found(0),
        Some(By::Day) => found(day),
        Some(By::Week) => found(week_of_day(day)),
        Some(By::Month) => found(month_of_day(day)),
        Some(By::Group(Dimension::Parent)) => block.parents_of(fact).iter().for_each(|p| found(*p)),
        Some(By::Group(dimension)) => {
            let id = block.single(dimension, fact);
            if id != NONE {
                found(id);
            }
        }
    }
}

/// A measure over the facts of `blocks` that pass every filter, per group
/// of `by`: (group number, value) for every group with a statement and a
/// value. Exact: distinct counts count, quantiles pick the value at rank
/// ⌊q·(n−1)⌋ of the sorted values. Linear in the facts but for the
/// distinct (learner, activity) pairs, sorted within each group.
pub fn measure_groups(
    blocks: &RangeBlocks,
    measure: Measure,
    by: Option<By>,
    filters: &[(Dimension, Option<u32>)],
) -> Vec<(u32, f64)> {
    if filters.iter().any(|(_, id)| id.is_none()) {
        return Vec::new();
    }
    // What each counted fact brings to the measure (none: `ABSENT`), with
    // its group, gathered in one pass over the columns.
    let payload = |block: &Block, fact: usize| -> u64 {
        match measure {
            Measure::Statements => 0,
            Measure::Learners | Measure::InteractionsPerLearner => match block.learner[fact] {
                NONE => ABSENT,
                learner => u64::from(learner),
            },
            Measure::Completions | Measure::CompletionRate => {
                let (learner, activity) = (block.learner[fact], block.activity[fact]);
                if learner == NONE || activity == NONE || learner >= 1 << 31 {
                    ABSENT
                } else {
                    (u64::from(learner) << 33) | (u64::from(activity) << 1) | u64::from(block.completes[fact])
                }
            }
            Measure::PassRate => match block.success[fact] {
                -1 => ABSENT,
                success => success as u64,
            },
            Measure::ScoreMean | Measure::ScoreP50 | Measure::ScoreP90 => bits_of(block.score[fact]),
            Measure::DurationP50 | Measure::DurationP90 => bits_of(block.duration[fact]),
        }
    };
    let total: usize = blocks.days.iter().map(|(_, block)| block.len()).sum();
    let mut hits: Vec<(u32, u64)> = Vec::with_capacity(total);
    for (day, block) in &blocks.days {
        for fact in 0..block.len() {
            if filters.iter().all(|(dimension, id)| block.has(*dimension, fact, id.unwrap_or(NONE))) {
                let brings = payload(block, fact);
                for_each_group(block, fact, *day, by, |group| hits.push((group, brings)));
            }
        }
    }
    let Some(top) = hits.iter().map(|hit| hit.0).max() else { return Vec::new() };
    // The payloads of each group together (a counting sort by group).
    let mut starts = vec![0usize; top as usize + 2];
    for (group, _) in &hits {
        starts[*group as usize + 1] += 1;
    }
    for g in 1..starts.len() {
        starts[g] += starts[g - 1];
    }
    let mut next = starts.clone();
    let mut ordered: Vec<u64> = vec![0; hits.len()];
    for (group, brings) in hits {
        ordered[next[group as usize]] = brings;
        next[group as usize] += 1;
    }
    let mut learners_seen = Scratch::default();
    let mut found: Vec<f64> = Vec::new();
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    let mut rows = Vec::new();
    for g in 0..=top as usize {
        let (start, end) = (starts[g], starts[g + 1]);
        if start == end {
            continue;
        }
        let statements = (end - start) as u64;
        let group = &mut ordered[start..end];
        let present = || group.iter().copied().filter(|brings| *brings != ABSENT);
        let value = match measure {
            Measure::Statements => Some(statements as f64),
            Measure::Learners => Some(learners_seen.count(present().map(|l| l as u32)) as f64),
            Measure::InteractionsPerLearner => ratio(statements, learners_seen.count(present().map(|l| l as u32))),
            Measure::PassRate => {
                let set = present().count() as u64;
                ratio(present().sum(), set)
            }
            Measure::ScoreMean => {
                let (sum, count) = present().fold((0.0, 0u64), |(sum, n), bits| (sum + f64::from_bits(bits), n + 1));
                (count > 0).then(|| sum / count as f64)
            }
            Measure::Completions | Measure::CompletionRate => {
                // Sorted, a pair's entries come together, one that completes last.
                group.sort_unstable();
                let pairs = &group[..group.partition_point(|brings| *brings != ABSENT)];
                let (mut seen, mut completed) = (0u64, 0u64);
                for (i, brings) in pairs.iter().enumerate() {
                    if pairs.get(i + 1).is_none_or(|next| next >> 1 != brings >> 1) {
                        seen += 1;
                        completed += brings & 1;
                    }
                }
                if measure == Measure::Completions {
                    Some(completed as f64)
                } else {
                    ratio(completed, seen)
                }
            }
            Measure::ScoreP50 | Measure::ScoreP90 | Measure::DurationP50 | Measure::DurationP90 => {
                let q = if matches!(measure, Measure::ScoreP50 | Measure::DurationP50) { 0.5 } else { 0.9 };
                found.clear();
                found.extend(present().map(f64::from_bits));
                if found.is_empty() {
                    None
                } else {
                    let rank = (q * (found.len() - 1) as f64) as usize;
                    Some(*found.select_nth_unstable_by(rank, f64::total_cmp).1)
                }
            }
        };
        rows.extend(value.map(|value| (g as u32, value)));
    }
    rows
}

/// A fact that brings nothing to the measure (no learner, no score…).
const ABSENT: u64 = u64::MAX;

/// A value as a payload: its bits, or [`ABSENT`] for NaN (unset).
fn bits_of(value: f64) -> u64 {
    if value.is_nan() {
        ABSENT
    } else {
        value.to_bits()
    }
}

/// A set of dictionary numbers reused from group to group: counts the
/// distinct ones of a group in time linear in the group.
#[derive(Default)]
struct Scratch {
    bits: Vec<u64>,
    set: Vec<u32>,
}

impl Scratch {
    fn count(&mut self, ids: impl Iterator<Item = u32>) -> u64 {
        for id in ids {
            let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
            if word >= self.bits.len() {
                self.bits.resize(word + 1, 0);
            }
            if self.bits[word] & bit == 0 {
                self.bits[word] |= bit;
                self.set.push(id);
            }
        }
        let distinct = self.set.len() as u64;
        for id in self.set.drain(..) {
            self.bits[id as usize / 64] = 0;
        }
        distinct
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::analytics::fact::Fact;
    use uuid::Uuid;

    fn fact(learner: &str, activity: &str, parents: &[&str], completes: bool, score: Option<f64>) -> Fact {
        Fact {
            id: Uuid::new_v4(),
            timestamp_micros: 0,
            learner: Some(learner.to_owned()),
            verb: "http://adlnet.gov/expapi/verbs/experienced".to_owned(),
            activity: Some(activity.to_owned()),
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            platform: None,
            source: None,
            success: score.map(|s| s >= 0.5),
            completes,
            score,
            duration: None,
        }
    }

    fn blocks(facts: &[Fact]) -> (RangeBlocks, Names) {
        let mut names = Names::default();
        let mut block = Block::default();
        for fact in facts {
            let row = fact.encode();
            block.push(&FactRef::decode(&row).expect("a fact"), &mut names);
        }
        (RangeBlocks { generation: 0, days: vec![(7, Arc::new(block))] }, names)
    }

    fn by_name(names: &Names, rows: Vec<(u32, f64)>) -> Vec<(String, f64)> {
        let mut named: Vec<(String, f64)> =
            rows.into_iter().map(|(id, value)| (names.texts[id as usize].to_string(), value)).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }

    #[test]
    fn measures_count_distinct_pairs_and_pick_quantiles_by_rank() {
        let facts = [
            fact("l1", "a1", &["c1"], false, Some(0.2)),
            fact("l1", "a1", &["c1"], true, Some(0.8)),
            fact("l2", "a1", &["c1", "c2"], false, None),
            fact("l2", "a2", &["c2"], true, Some(0.4)),
        ];
        let (blocks, names) = blocks(&facts);
        let parent = Some(By::Group(Dimension::Parent));
        let learners = by_name(&names, measure_groups(&blocks, Measure::Learners, parent, &[]));
        assert_eq!(learners, [("c1".to_owned(), 2.0), ("c2".to_owned(), 1.0)]);
        // c1: pairs (l1,a1) completed, (l2,a1) not; c2: (l2,a1) not, (l2,a2) completed.
        let rate = by_name(&names, measure_groups(&blocks, Measure::CompletionRate, parent, &[]));
        assert_eq!(rate, [("c1".to_owned(), 0.5), ("c2".to_owned(), 0.5)]);
        let activity = Some(By::Group(Dimension::Activity));
        let p50 = by_name(&names, measure_groups(&blocks, Measure::ScoreP50, activity, &[]));
        assert_eq!(p50, [("a1".to_owned(), 0.2), ("a2".to_owned(), 0.4)], "rank ⌊0.5·(n−1)⌋ of 0.2, 0.8");
        let l2 = names.ids.get("l2").copied();
        let filtered = measure_groups(&blocks, Measure::Statements, None, &[(Dimension::Learner, l2)]);
        assert_eq!(filtered, [(0, 2.0)]);
        let unknown = measure_groups(&blocks, Measure::Statements, None, &[(Dimension::Learner, None)]);
        assert!(unknown.is_empty(), "a filter value no fact has matches nothing");
        let weeks = measure_groups(&blocks, Measure::PassRate, Some(By::Week), &[]);
        assert_eq!(weeks, [(week_of_day(7), 1.0 / 3.0)], "scores 0.2 and 0.4 failed, 0.8 passed");
    }
}
