//! The analytics projection: rollups of the statements per tenant, by day
//! and by month of their `timestamp` (UTC) and over all days, of every
//! group of each dimension (verb, activity, parent, platform, source,
//! learner, and all statements), and each learner's progress per activity.
//! A question about a year then reads a dozen month rows per group, never
//! the statements; one about all of a tenant's days reads one row of
//! measure values per group, recomputed from the group's months when it
//! changed (when the outbox empties, and every 30 s while it does not).
//!
//! It runs in two steps. Downstream of the statement projection, in the
//! same batch (and so at the same log position), [`Analytics`] writes what
//! each change means for analytics into an outbox: one row per batch (up to
//! [`OUTBOX_ROW_ENTRIES`] entries, one per statement). The [`builder::RollupBuilder`] applies the outbox in log
//! order, many batches at a time, writing the facts, rollups and progress
//! rows and deleting the entries it applied in one atomic write, so that a
//! crash neither loses nor repeats an effect and a group touched by a
//! thousand statements is written once, not a thousand times:
//! - a stored statement adds its fact (one row per statement, by day; and an
//!   entry in its learner's list) and its aggregates to every group it
//!   counts in, in its day and its month;
//! - a statement voided, erased or past retention removes its fact, and the
//!   groups it counted in are recomputed: a day from the day's remaining
//!   facts, a month from its days (sketches cannot subtract);
//! - a pass of under 10,000 statements writes what it adds to a
//!   rollup as a small delta row beside the group's row, under the pass's
//!   version, and notes it in the builder's list; readers merge a group's
//!   row with its deltas, and the builder folds them into the row when a
//!   group has 32 or its first is a minute old (ADR 0011). A larger pass,
//!   or a recomputation, writes the rollups it touches whole;
//! - a forgotten agent's learner rows go; its statements were removed by
//!   the statement projection before.
//!
//! Voiding statements count nowhere. Nothing here names a learner: learners
//! are kept under their subject, and who a subject stands for is sealed with
//! its key (gone with an erasure).

pub mod aggregate;
pub mod builder;
pub mod fact;
pub mod measure;
pub mod progress;
pub mod top;

use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use self::aggregate::Aggregate;
use self::fact::{Dimension, Fact};
use super::{Change, Changed, Downstream};
use crate::store::{Order, QueryStore, StoreError, Table, WriteBatch};
use crate::tables::analytics::{
    delta_clustering, deltas_partition, facts_partition, learner_identity_partition, outbox_clustering,
    outbox_partition, parse_outbox_clustering, rollup_clustering, rollup_delta_clustering, rollup_group_range,
    rollup_partition, Tier,
};
use crate::tenant::TenantId;
use crate::vault::{seal, sealed_row};

/// Learner keys whose identity row this process wrote (bounded).
const REMEMBERED_LEARNERS: usize = 100_000;

/// The analytics projection's part in the projector's batch: the outbox.
#[derive(Clone)]
pub struct Analytics {
    /// The learner keys whose identity row this process wrote already.
    identities: Arc<quick_cache::sync::Cache<(TenantId, String), ()>>,
}

impl Default for Analytics {
    fn default() -> Self {
        Self { identities: Arc::new(quick_cache::sync::Cache::new(REMEMBERED_LEARNERS)) }
    }
}

/// What one statement change means for analytics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OutboxChange {
    /// A fact to count.
    Added(Fact),
    /// A fact to count no more.
    Removed(Fact),
    /// A forgotten learner (its key) whose rows go.
    Forgotten(String),
}

/// One entry of the outbox: what one change means for analytics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The tenant.
    pub tenant: TenantId,
    /// The log time of the batch that wrote it, microseconds.
    pub log_time_micros: i64,
    /// The change.
    pub change: OutboxChange,
}

impl OutboxEntry {
    /// The row value (compact binary).
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("outbox entries serialise")
    }

    /// Reads a row value back.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

/// Entries one outbox row holds at most: a batch of more is written as
/// several rows.
pub const OUTBOX_ROW_ENTRIES: usize = 1_000;

/// The first byte of an outbox row of several entries. A row of the earlier
/// form (one entry) starts with its tenant's length, 1 to 64.
const OUTBOX_ROW_MARK: u8 = 0;

/// The version of the outbox row form, after [`OUTBOX_ROW_MARK`].
const OUTBOX_ROW_VERSION: u8 = 1;

/// An outbox entry and its place in the log: the offset of the record that
/// made it, and its place among that record's changes. Its outbox key is
/// [`outbox_clustering`] of the two.
pub type OutboxItem = (u64, u32, OutboxEntry);

/// An outbox row's value: its entries in log order. The row is keyed by
/// its last entry's place.
pub fn encode_outbox_row(items: &[OutboxItem]) -> Vec<u8> {
    postcard::to_extend(items, vec![OUTBOX_ROW_MARK, OUTBOX_ROW_VERSION]).expect("outbox entries serialise")
}

/// Reads an outbox row back: its entries, each with its place (a row of the
/// earlier form holds one, at the row's key).
pub fn decode_outbox_row(clustering: &[u8], value: &[u8]) -> Option<Vec<OutboxItem>> {
    match value {
        [OUTBOX_ROW_MARK, OUTBOX_ROW_VERSION, items @ ..] => postcard::from_bytes(items).ok(),
        [OUTBOX_ROW_MARK, ..] => None,
        _ => {
            let (offset, seq) = parse_outbox_clustering(clustering)?;
            Some(vec![(offset, seq, OutboxEntry::decode(value)?)])
        }
    }
}

/// One group's rollup in one period.
pub(crate) type RollupKey = (TenantId, Tier, u32, Dimension, String);

/// The layout of a tenant's rollups that this version writes: 1 adds the
/// week rollups of all statements, the values of days, weeks and months, and
/// the lists of first groups by each measure. A tenant whose rollups began under
/// layout 0 is answered without them (until `lrs replay` rebuilds it).
pub const ROLLUP_LAYOUT: u8 = 1;

/// The first and last day a tenant has facts for, and the layout of its rollups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FactDays {
    /// The first day (days since 1970-01-01).
    pub first: u32,
    /// The last day.
    pub last: u32,
    /// The layout its rollups were kept in from the start ([`ROLLUP_LAYOUT`]).
    pub layout: u8,
}

impl FactDays {
    /// Encodes the row.
    pub fn encode(&self) -> Vec<u8> {
        let mut row = [self.first.to_be_bytes(), self.last.to_be_bytes()].concat();
        row.push(self.layout);
        row
    }

    /// Decodes a row.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            first: u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?),
            last: u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?),
            layout: bytes.get(8).copied().unwrap_or(0),
        })
    }

    /// Whether the tenant's rollups have weeks, values and lists of first groups.
    pub fn ranked(&self) -> bool {
        self.layout >= 1
    }
}

/// Reads one rollup: the group's row merged with the deltas not folded into it yet.
pub(crate) async fn read_rollup(store: &dyn QueryStore, key: &RollupKey) -> Result<Option<Aggregate>, StoreError> {
    let (tenant, tier, period, dimension, value) = key;
    let partition = rollup_partition(tenant, *tier, *period);
    let range = rollup_group_range(dimension.name(), value);
    let rows = store.scan(Table::AnalyticsRollups, &partition, range, Order::Ascending, usize::MAX).await?;
    Ok(merge_rows(rows.iter().map(|(_, bytes)| bytes.as_slice()), Aggregate::decode))
}

/// The merge of a group's row and its deltas, decoded by `decode` (none: no row decodes).
pub(crate) fn merge_rows<'a>(
    rows: impl Iterator<Item = &'a [u8]>,
    decode: impl Fn(&[u8]) -> Option<Aggregate>,
) -> Option<Aggregate> {
    rows.filter_map(decode).reduce(|mut merged, next| {
        merged.merge(&next);
        merged
    })
}

/// Writes one rollup (deletes it when it counts nothing); returns the bytes of the row.
pub(crate) fn write_rollup(batch: &mut WriteBatch, key: &RollupKey, aggregate: Option<&Aggregate>) -> usize {
    let (tenant, tier, period, dimension, value) = key;
    let partition = rollup_partition(tenant, *tier, *period);
    let clustering = rollup_clustering(dimension.name(), value);
    match aggregate.filter(|a| a.statements > 0) {
        Some(aggregate) => {
            let row = aggregate.encode();
            let bytes = row.len();
            batch.put(Table::AnalyticsRollups, partition, clustering, row);
            bytes
        }
        None => {
            batch.delete(Table::AnalyticsRollups, partition, clustering);
            0
        }
    }
}

/// Writes what a builder pass (`version`) adds to a rollup as a delta row
/// beside the group's row, and notes it in `log_partition`'s list of deltas
/// to fold; returns the bytes of the row.
pub(crate) fn write_rollup_delta(
    batch: &mut WriteBatch,
    (log_partition, version): (u32, &[u8]),
    key: &RollupKey,
    delta: &Aggregate,
) -> usize {
    let (tenant, tier, period, dimension, value) = key;
    let partition = rollup_partition(tenant, *tier, *period);
    let clustering = rollup_delta_clustering(dimension.name(), value, version);
    let row = delta.encode();
    let bytes = row.len();
    batch.put(Table::AnalyticsRollups, partition, clustering, row);
    let noted = delta_clustering(tenant, *tier, *period, dimension.name(), value, version);
    batch.put(Table::Meta, deltas_partition(log_partition), noted, Vec::new());
    bytes
}

/// Deletes deltas of a rollup (`versions`: the passes that wrote them) and
/// their notes in `log_partition`'s list.
pub(crate) fn delete_rollup_deltas(batch: &mut WriteBatch, log_partition: u32, key: &RollupKey, versions: &[Vec<u8>]) {
    let (tenant, tier, period, dimension, value) = key;
    let partition = rollup_partition(tenant, *tier, *period);
    for version in versions {
        let clustering = rollup_delta_clustering(dimension.name(), value, version);
        batch.delete(Table::AnalyticsRollups, partition.clone(), clustering);
        let noted = delta_clustering(tenant, *tier, *period, dimension.name(), value, version);
        batch.delete(Table::Meta, deltas_partition(log_partition), noted);
    }
}

/// A group's aggregate over all of a tenant's days (`days`): the merge of
/// its months (read through the builder's cache when given one).
pub(crate) async fn whole_aggregate(
    (store, cache): (&dyn QueryStore, Option<&builder::RollupCache>),
    tenant: &TenantId,
    dimension: Dimension,
    value: &str,
    days: Option<FactDays>,
) -> Result<Aggregate, StoreError> {
    let mut aggregate = Aggregate::default();
    let Some(days) = days else { return Ok(aggregate) };
    for month in fact::month_of_day(days.first)..=fact::month_of_day(days.last) {
        let key = (tenant.clone(), Tier::Month, month, dimension, value.to_owned());
        let stored = match cache {
            Some(cache) => cache.read(store, &key).await?,
            None => read_rollup(store, &key).await?,
        };
        if let Some(stored) = stored {
            aggregate.merge(&stored);
        }
    }
    Ok(aggregate)
}

/// Writes a group's whole-time measure values (in the order of
/// [`measure::Measure::ALL`]; deletes them when there are none: the group
/// counts nothing).
pub(crate) fn write_whole_values(
    batch: &mut WriteBatch,
    tenant: &TenantId,
    dimension: Dimension,
    value: &str,
    values: &[Option<f64>],
) {
    let partition = rollup_partition(tenant, Tier::Whole, 0);
    let clustering = rollup_clustering(dimension.name(), value);
    if !values.is_empty() {
        batch.put(Table::AnalyticsRollups, partition, clustering, measure::encode_value_list(values));
    } else {
        batch.delete(Table::AnalyticsRollups, partition, clustering);
    }
}

/// Every fact a tenant has for a day.
pub async fn facts_of_day(store: &dyn QueryStore, tenant: &TenantId, day: u32) -> Result<Vec<Fact>, StoreError> {
    let all = (Bound::Unbounded, Bound::Unbounded);
    let rows =
        store.scan(Table::AnalyticsFacts, &facts_partition(tenant, day), all, Order::Ascending, usize::MAX).await?;
    Ok(rows.iter().filter_map(|(_, value)| Fact::decode(value)).collect())
}

/// The days of a period of a rollup tier (a day, a week by its Monday, a month).
pub(crate) fn days_of_period(tier: Tier, period: u32) -> std::ops::RangeInclusive<u32> {
    match tier {
        Tier::Month => days_of_month(period),
        Tier::Week => period..=period + 6,
        _ => period..=period,
    }
}

/// The days of a month (as a month index) that are days since 1970-01-01.
pub(crate) fn days_of_month(month: u32) -> std::ops::RangeInclusive<u32> {
    use chrono::NaiveDate;
    let (year, month0) = ((month / 12) as i32, month % 12);
    let first = NaiveDate::from_ymd_opt(year, month0 + 1, 1).unwrap_or_default();
    let next = if month0 == 11 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month0 + 2, 1)
    }
    .unwrap_or_default();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
    let day = |date: NaiveDate| u32::try_from((date - epoch).num_days()).unwrap_or(0);
    day(first)..=day(next).saturating_sub(1)
}

#[async_trait]
impl Downstream for Analytics {
    fn name(&self) -> &'static str {
        "analytics"
    }

    fn digest(
        &self,
        statement: &serde_json::Value,
        learner: Option<&super::Learner>,
        _prepared: Option<&super::Digest>,
        _stored_micros: i64,
    ) -> Option<super::Digest> {
        Some(Arc::new(Fact::of(statement, learner.map(|l| l.key.clone()))))
    }

    async fn apply(
        &self,
        changes: &[Changed],
        partition: u32,
        _store: &dyn QueryStore,
        batch: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        // Each entry is placed by its record and its place among the
        // record's changes, as a replay places them too.
        let mut items: Vec<OutboxItem> = Vec::new();
        let mut seq = 0u32;
        let mut last_offset = None;
        for Changed { offset, log_time_micros, change } in changes {
            if last_offset != Some(*offset) {
                (seq, last_offset) = (0, Some(*offset));
            }
            let mut put = |tenant: &TenantId, change: OutboxChange| {
                let entry = OutboxEntry { tenant: tenant.clone(), log_time_micros: *log_time_micros, change };
                items.push((*offset, seq, entry));
                seq += 1;
            };
            match change {
                Change::Stored { tenant, learner, digests, .. } => {
                    // Worked out by the statement projection while it had the statement.
                    let Some(Some(fact)) = super::digest_of::<Option<Fact>>(digests, self.name()) else { continue };
                    let fact = fact.clone();
                    if let Some(learner) = learner {
                        self.remember_learner(tenant, learner, batch);
                    }
                    put(tenant, OutboxChange::Added(fact));
                }
                Change::Removed { tenant, statement, learner } => {
                    let Some(fact) = Fact::of(statement, learner.as_ref().map(|l| l.key.clone())) else { continue };
                    put(tenant, OutboxChange::Removed(fact));
                }
                Change::Forgotten { tenant, subject } => {
                    self.identities.remove(&(tenant.clone(), crate::vault::subject_index_key(*subject)));
                    put(tenant, OutboxChange::Forgotten(crate::vault::subject_index_key(*subject)));
                }
                Change::Resent { .. } | Change::Rejected { .. } => {}
            }
        }
        // A row per batch (two writes in the store for what were two a
        // statement: its put, and the builder's delete), keyed by its last
        // entry: a batch applied again after a crash, whose rows may begin
        // elsewhere, writes rows the builder reads past what it applied.
        let mut head = None;
        for chunk in items.chunks(OUTBOX_ROW_ENTRIES) {
            let Some((offset, seq, _)) = chunk.last() else { continue };
            let clustering = outbox_clustering(*offset, *seq);
            batch.put(
                Table::AnalyticsOutbox,
                outbox_partition(partition),
                clustering.clone(),
                encode_outbox_row(chunk),
            );
            head = Some(clustering);
        }
        // Where the outbox ends, so that a reader knows whether the builder
        // caught up without scanning the outbox (and the deleted entries in it).
        if let Some(head) = head {
            batch.put(Table::Meta, crate::tables::analytics::outbox_head_partition(partition), Vec::new(), head);
        }
        Ok(())
    }
}

impl Analytics {
    /// Keeps who a learner key stands for, sealed with the learner's key when
    /// it has one (so that an erasure leaves it unreadable): once per key
    /// and process.
    fn remember_learner(&self, tenant: &TenantId, learner: &super::Learner, batch: &mut WriteBatch) {
        let key = (tenant.clone(), learner.key.clone());
        if self.identities.get(&key).is_some() {
            return;
        }
        let value = match &learner.subject {
            Some(subject) => sealed_row(&seal(learner.ifi.as_bytes(), std::slice::from_ref(subject))),
            None if learner.key == learner.ifi => learner.ifi.clone().into_bytes(),
            // A subject whose key this batch does not hold: written when it was.
            None => return,
        };
        batch.put(Table::AnalyticsLearners, learner_identity_partition(tenant, &learner.key), Vec::new(), value);
        self.identities.insert(key, ());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fact_days_of_an_earlier_version_read_as_layout_0() {
        let days = FactDays { first: 20_000, last: 20_364, layout: ROLLUP_LAYOUT };
        assert_eq!(FactDays::decode(&days.encode()), Some(days));
        assert!(days.ranked());
        let earlier = FactDays::decode(&days.encode()[..8]).unwrap();
        assert_eq!((earlier.first, earlier.last, earlier.ranked()), (20_000, 20_364, false));
        assert_eq!(days_of_period(Tier::Week, 20_514), 20_514..=20_520);
    }

    #[test]
    fn a_month_has_its_days() {
        let march_2026 = 2026 * 12 + 2;
        assert_eq!(days_of_month(march_2026), 20_513..=20_543);
        let december_2025 = 2025 * 12 + 11;
        assert_eq!(days_of_month(december_2025).count(), 31);
        assert_eq!(days_of_month(2024 * 12 + 1).count(), 29, "February of a leap year");
    }
}
