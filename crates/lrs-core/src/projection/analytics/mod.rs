//! The analytics projection: rollups of the statements per tenant, by day
//! and by month of their `timestamp` (UTC), of every group of each dimension
//! (verb, activity, parent, platform, source, learner, and all statements),
//! and each learner's progress per activity. A question about a year then
//! reads a dozen month rows per group, never the statements.
//!
//! It runs downstream of the statement projection, in the same batch:
//! - a stored statement adds its fact (one row per statement, by day; and an
//!   entry in its learner's list) and its aggregates to every group it
//!   counts in, in its day and its month;
//! - a statement voided, erased or past retention removes its fact, and the
//!   groups it counted in are recomputed: a day from the day's remaining
//!   facts, a month from its days (sketches cannot subtract);
//! - a forgotten agent's learner rows go; its statements were removed by
//!   the statement projection before.
//!
//! Voiding statements count nowhere. Nothing here names a learner: learners
//! are kept under their subject, and who a subject stands for is sealed with
//! its key (gone with an erasure).

pub mod aggregate;
pub mod fact;
pub mod progress;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;

use async_trait::async_trait;
use uuid::Uuid;

use self::aggregate::Aggregate;
use self::fact::{month_of_day, Dimension, Fact};
use self::progress::Progress;
use super::{Change, Downstream, Learner};
use crate::store::{Order, QueryStore, StoreError, Table, WriteBatch};
use crate::tables::analytics::{
    analytics_meta_partition, fact_clustering, facts_partition, learner_fact_clustering, learner_identity_partition,
    learner_partition, parse_learner_fact_clustering, progress_clustering, rollup_clustering, rollup_partition, Tier,
};
use crate::tenant::TenantId;
use crate::vault::{seal, sealed_row};

/// The analytics projection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Analytics;

/// One group's rollup in one period.
type RollupKey = (TenantId, Tier, u32, Dimension, String);

/// The first and last day a tenant has facts for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FactDays {
    /// The first day (days since 1970-01-01).
    pub first: u32,
    /// The last day.
    pub last: u32,
}

impl FactDays {
    /// Encodes the row.
    pub fn encode(&self) -> Vec<u8> {
        [self.first.to_be_bytes(), self.last.to_be_bytes()].concat()
    }

    /// Decodes a row.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            first: u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?),
            last: u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?),
        })
    }
}

/// Reads one rollup.
async fn read_rollup(store: &dyn QueryStore, key: &RollupKey) -> Result<Option<Aggregate>, StoreError> {
    let (tenant, tier, period, dimension, value) = key;
    let row = store
        .get(
            Table::AnalyticsRollups,
            &rollup_partition(tenant, *tier, *period),
            &rollup_clustering(dimension.name(), value),
        )
        .await?;
    Ok(row.and_then(|bytes| Aggregate::decode(&bytes)))
}

fn write_rollup(batch: &mut WriteBatch, key: &RollupKey, aggregate: Option<&Aggregate>) {
    let (tenant, tier, period, dimension, value) = key;
    let partition = rollup_partition(tenant, *tier, *period);
    let clustering = rollup_clustering(dimension.name(), value);
    match aggregate.filter(|a| a.statements > 0) {
        Some(aggregate) => batch.put(Table::AnalyticsRollups, partition, clustering, aggregate.encode()),
        None => batch.delete(Table::AnalyticsRollups, partition, clustering),
    }
}

/// Every fact a tenant has for a day.
pub async fn facts_of_day(store: &dyn QueryStore, tenant: &TenantId, day: u32) -> Result<Vec<Fact>, StoreError> {
    let all = (Bound::Unbounded, Bound::Unbounded);
    let rows =
        store.scan(Table::AnalyticsFacts, &facts_partition(tenant, day), all, Order::Ascending, usize::MAX).await?;
    Ok(rows.iter().filter_map(|(_, value)| Fact::decode(value)).collect())
}

/// The days of a month (as a month index) that are days since 1970-01-01.
fn days_of_month(month: u32) -> std::ops::RangeInclusive<u32> {
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

    async fn apply(
        &self,
        changes: &[Change],
        store: &dyn QueryStore,
        batch: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        // Per day: the facts this batch adds (as they stand at its end: a
        // statement stored and removed in one batch is not there), and those
        // it removes from what the store holds. The fact rows are written in
        // the order of the changes.
        let mut added: BTreeMap<(TenantId, u32), Vec<Fact>> = BTreeMap::new();
        let mut removed: BTreeMap<(TenantId, u32), Vec<Fact>> = BTreeMap::new();
        let mut learners: HashMap<(TenantId, String), &Learner> = HashMap::new();
        let mut forgotten: Vec<(TenantId, String)> = Vec::new();
        for change in changes {
            match change {
                Change::Stored { tenant, statement, learner } => {
                    let Some(fact) = Fact::of(statement, learner.as_ref().map(|l| l.key.clone())) else { continue };
                    if let Some(learner) = learner {
                        learners.entry((tenant.clone(), learner.key.clone())).or_insert(learner);
                    }
                    let day = fact.day();
                    batch.put(
                        Table::AnalyticsFacts,
                        facts_partition(tenant, day),
                        fact_clustering(fact.id),
                        fact.encode(),
                    );
                    if let Some(learner) = &fact.learner {
                        let entry = learner_fact_clustering(day, fact.id);
                        batch.put(Table::AnalyticsLearnerFacts, learner_partition(tenant, learner), entry, Vec::new());
                    }
                    added.entry((tenant.clone(), day)).or_default().push(fact);
                }
                Change::Removed { tenant, statement, learner } => {
                    let Some(fact) = Fact::of(statement, learner.as_ref().map(|l| l.key.clone())) else { continue };
                    let day = fact.day();
                    batch.delete(Table::AnalyticsFacts, facts_partition(tenant, day), fact_clustering(fact.id));
                    if let Some(learner) = &fact.learner {
                        let entry = learner_fact_clustering(day, fact.id);
                        batch.delete(Table::AnalyticsLearnerFacts, learner_partition(tenant, learner), entry);
                    }
                    if let Some(facts) = added.get_mut(&(tenant.clone(), day)) {
                        facts.retain(|f| f.id != fact.id);
                    }
                    removed.entry((tenant.clone(), day)).or_default().push(fact);
                }
                Change::Forgotten { tenant, subject } => {
                    forgotten.push((tenant.clone(), crate::vault::subject_index_key(*subject)));
                }
            }
        }

        self.roll_up(&added, &removed, store, batch).await?;
        self.track_progress(&added, &removed, store, batch).await?;
        self.remember_learners(&learners, batch);
        self.widen_fact_days(&added, store, batch).await?;
        for (tenant, key) in forgotten {
            self.forget_learner(&tenant, &key, store, batch).await?;
        }
        Ok(())
    }
}

impl Analytics {
    /// Updates the rollups: adds the new facts to the groups they count in,
    /// and recomputes the groups of days (and months) that lost facts.
    async fn roll_up(
        &self,
        added: &BTreeMap<(TenantId, u32), Vec<Fact>>,
        removed: &BTreeMap<(TenantId, u32), Vec<Fact>>,
        store: &dyn QueryStore,
        batch: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        // The day aggregates as they are after this batch.
        let mut days: HashMap<RollupKey, Aggregate> = HashMap::new();
        // Month groups that must be recomputed from their days.
        let mut recompute_months: BTreeSet<RollupKey> = BTreeSet::new();
        let mut month_deltas: HashMap<RollupKey, Aggregate> = HashMap::new();
        let day_keys: BTreeSet<&(TenantId, u32)> = added.keys().chain(removed.keys()).collect();
        for day_key in day_keys {
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
                    let groups: BTreeSet<(Dimension, String)> = gone
                        .iter()
                        .chain(new)
                        .flat_map(|fact| fact.groups().into_iter().map(|(d, v)| (d, v.to_owned())))
                        .collect();
                    for (dimension, value) in groups {
                        let mut aggregate = Aggregate::default();
                        facts.iter().filter(|f| f.has(dimension, &value)).for_each(|f| aggregate.add(f));
                        let month = (tenant.clone(), Tier::Month, month_of_day(*day), dimension, value.clone());
                        recompute_months.insert(month);
                        days.insert((tenant.clone(), Tier::Day, *day, dimension, value), aggregate);
                    }
                }
                None => {
                    let mut deltas: HashMap<(Dimension, String), Aggregate> = HashMap::new();
                    for fact in new {
                        for (dimension, value) in fact.groups() {
                            deltas.entry((dimension, value.to_owned())).or_default().add(fact);
                        }
                    }
                    for ((dimension, value), delta) in deltas {
                        let day_key = (tenant.clone(), Tier::Day, *day, dimension, value.clone());
                        let mut aggregate = read_rollup(store, &day_key).await?.unwrap_or_default();
                        aggregate.merge(&delta);
                        days.insert(day_key, aggregate);
                        let month_key = (tenant.clone(), Tier::Month, month_of_day(*day), dimension, value);
                        month_deltas.entry(month_key).or_default().merge(&delta);
                    }
                }
            }
        }
        for (key, aggregate) in &days {
            write_rollup(batch, key, Some(aggregate));
        }
        // Months: from their days when one of them lost facts, else by adding.
        for key in &recompute_months {
            let (tenant, _, month, dimension, value) = key;
            let mut aggregate = Aggregate::default();
            for day in days_of_month(*month) {
                let day_key = (tenant.clone(), Tier::Day, day, *dimension, value.clone());
                match days.get(&day_key) {
                    Some(known) => aggregate.merge(known),
                    None => {
                        if let Some(stored) = read_rollup(store, &day_key).await? {
                            aggregate.merge(&stored);
                        }
                    }
                }
            }
            write_rollup(batch, key, Some(&aggregate));
        }
        for (key, delta) in month_deltas {
            if recompute_months.contains(&key) {
                continue;
            }
            let mut aggregate = read_rollup(store, &key).await?.unwrap_or_default();
            aggregate.merge(&delta);
            write_rollup(batch, &key, Some(&aggregate));
        }
        Ok(())
    }

    /// Updates each learner's progress per activity: by adding new facts, or
    /// from all of the learner's facts when one of them went.
    async fn track_progress(
        &self,
        added: &BTreeMap<(TenantId, u32), Vec<Fact>>,
        removed: &BTreeMap<(TenantId, u32), Vec<Fact>>,
        store: &dyn QueryStore,
        batch: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        let learner_of = |((tenant, _), facts): (&(TenantId, u32), &Vec<Fact>)| {
            facts.iter().filter_map(move |f| Some((tenant.clone(), f.learner.clone()?))).collect::<Vec<_>>()
        };
        let recompute: BTreeSet<(TenantId, String)> = removed.iter().flat_map(learner_of).collect();
        let new_ids: HashSet<Uuid> = added.values().flatten().map(|f| f.id).collect();
        let gone_ids: HashSet<Uuid> = removed.values().flatten().map(|f| f.id).collect();
        for (tenant, learner) in &recompute {
            let partition = learner_partition(tenant, learner);
            let all = (Bound::Unbounded, Bound::Unbounded);
            let entries =
                store.scan(Table::AnalyticsLearnerFacts, &partition, all.clone(), Order::Ascending, usize::MAX).await?;
            let mut facts = Vec::new();
            for (entry, _) in entries {
                let Some((day, id)) = parse_learner_fact_clustering(&entry) else { continue };
                if gone_ids.contains(&id) || new_ids.contains(&id) {
                    continue;
                }
                let row = store.get(Table::AnalyticsFacts, &facts_partition(tenant, day), &fact_clustering(id)).await?;
                facts.extend(row.and_then(|bytes| Fact::decode(&bytes)));
            }
            facts.extend(added.values().flatten().filter(|f| f.learner.as_deref() == Some(learner.as_str())).cloned());
            let mut progress: BTreeMap<String, Progress> = BTreeMap::new();
            for fact in &facts {
                if let Some(activity) = &fact.activity {
                    progress.entry(activity.clone()).or_default().add(fact);
                }
            }
            for (activity, _) in
                store.scan(Table::AnalyticsProgress, &partition, all, Order::Ascending, usize::MAX).await?
            {
                batch.delete(Table::AnalyticsProgress, partition.clone(), activity);
            }
            for (activity, row) in progress {
                batch.put(Table::AnalyticsProgress, partition.clone(), progress_clustering(&activity), row.encode());
            }
        }
        let mut deltas: BTreeMap<(TenantId, String, String), Progress> = BTreeMap::new();
        for ((tenant, _), facts) in added {
            for fact in facts {
                let (Some(learner), Some(activity)) = (&fact.learner, &fact.activity) else { continue };
                if recompute.contains(&(tenant.clone(), learner.clone())) {
                    continue;
                }
                deltas.entry((tenant.clone(), learner.clone(), activity.clone())).or_default().add(fact);
            }
        }
        for ((tenant, learner, activity), delta) in deltas {
            let partition = learner_partition(&tenant, &learner);
            let clustering = progress_clustering(&activity);
            let stored = store.get(Table::AnalyticsProgress, &partition, &clustering).await?;
            let mut progress = stored.and_then(|bytes| Progress::decode(&bytes)).unwrap_or_default();
            progress.merge(&delta);
            batch.put(Table::AnalyticsProgress, partition, clustering, progress.encode());
        }
        Ok(())
    }

    /// Keeps who each learner key stands for, sealed with the learner's key
    /// when it has one (so that an erasure leaves it unreadable).
    fn remember_learners(&self, learners: &HashMap<(TenantId, String), &Learner>, batch: &mut WriteBatch) {
        for ((tenant, key), learner) in learners {
            let value = match &learner.subject {
                Some(subject) => sealed_row(&seal(learner.ifi.as_bytes(), std::slice::from_ref(subject))),
                None if learner.key == learner.ifi => learner.ifi.clone().into_bytes(),
                // A subject whose key this batch does not hold: its row was written when it was.
                None => continue,
            };
            batch.put(Table::AnalyticsLearners, learner_identity_partition(tenant, key), Vec::new(), value);
        }
    }

    /// Widens each tenant's first and last day with facts.
    async fn widen_fact_days(
        &self,
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
                Some(known) => FactDays { first: known.first.min(first), last: known.last.max(last) },
                None => FactDays { first, last },
            };
            if Some(days) != known {
                batch.put(Table::Meta, partition, Vec::new(), days.encode());
            }
        }
        Ok(())
    }

    /// Removes what is kept under a forgotten learner's key.
    async fn forget_learner(
        &self,
        tenant: &TenantId,
        key: &str,
        store: &dyn QueryStore,
        batch: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        batch.delete(Table::AnalyticsLearners, learner_identity_partition(tenant, key), Vec::new());
        let partition = learner_partition(tenant, key);
        let all = (Bound::Unbounded, Bound::Unbounded);
        for table in [Table::AnalyticsProgress, Table::AnalyticsLearnerFacts] {
            for (clustering, _) in store.scan(table, &partition, all.clone(), Order::Ascending, usize::MAX).await? {
                batch.delete(table, partition.clone(), clustering);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_has_its_days() {
        let march_2026 = 2026 * 12 + 2;
        assert_eq!(days_of_month(march_2026), 20_513..=20_543);
        let december_2025 = 2025 * 12 + 11;
        assert_eq!(days_of_month(december_2025).count(), 31);
        assert_eq!(days_of_month(2024 * 12 + 1).count(), 29, "February of a leap year");
    }
}
