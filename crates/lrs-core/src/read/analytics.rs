//! Answers analytics questions from the rollups of `projection/analytics`:
//! one measure, optionally by one dimension, over whole days of statement
//! timestamps (UTC). Over all of a tenant's days a question by a
//! dimension reads the measure's list of first groups, and one by day or
//! week reads the measure values kept per day and per week. By a dimension
//! over a range of at most 93 days, or with filters over such a range, it
//! counts the day blocks of the range (`day_blocks`). Otherwise, without a
//! filter, a month row for each whole month of the range and a day row for
//! each other day, per group; with filters, the facts of each day.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use chrono::Datelike;

use crate::projection::analytics::aggregate::{Aggregate, Parts};
use crate::projection::analytics::fact::{month_of_day, Dimension, Fact};
use crate::projection::analytics::measure::decode_value;
pub use crate::projection::analytics::measure::Measure;
use crate::projection::analytics::progress::Progress;
use crate::projection::analytics::top::TopList;
use crate::projection::analytics::{builder, facts_of_day, merge_rows, whole_aggregate, FactDays};
use crate::query::{QueryError, QueryService};
use crate::read::day_blocks::{measure_groups, DayBlocks, BLOCK_DAYS};
use crate::store::{Order, QueryStore, StoreError, Table};
use crate::tables::analytics::{
    analytics_meta_partition, fact_clustering, facts_partition, learner_identity_partition, learner_partition,
    parse_learner_fact_clustering, parse_rollup_clustering, parse_values_clustering, rollup_dimension_prefix,
    rollup_dimension_range, rollup_group_range, rollup_partition, values_clustering, week_of_day, Tier,
};
use crate::tenant::TenantId;
use crate::vault::{open_row, subject_index_key, KeyVault};

/// What rows a question is broken down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    /// Days (`YYYY-MM-DD`).
    Day,
    /// ISO weeks (`YYYY-Www`).
    Week,
    /// Months (`YYYY-MM`).
    Month,
    /// The groups of a dimension.
    Group(Dimension),
}

impl By {
    /// Parses a `by` value.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "day" => Some(By::Day),
            "week" => Some(By::Week),
            "month" => Some(By::Month),
            other => Dimension::parse(other).filter(|d| *d != Dimension::All).map(By::Group),
        }
    }

    fn is_time(self) -> bool {
        matches!(self, By::Day | By::Week | By::Month)
    }
}

/// A question.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalyticsQuery {
    /// What to measure.
    pub measure: Measure,
    /// What to break it down by (none: one row).
    pub by: Option<By>,
    /// The first day (days since 1970-01-01), when bounded.
    pub since_day: Option<u32>,
    /// The day after the last one, when bounded.
    pub until_day: Option<u32>,
    /// Only statements in these groups.
    pub filters: Vec<(Dimension, String)>,
    /// Most rows answered.
    pub limit: usize,
}

/// One row of an answer.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AnalyticsRow {
    /// The group: a day, week, month, or a dimension's value.
    pub key: String,
    /// The measure over it.
    pub value: f64,
}

/// A learner's progress in one activity, as answered.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PathStep {
    /// The activity.
    pub activity: String,
    /// What the learner did there.
    #[serde(flatten)]
    pub progress: Progress,
}

/// Answers analytics questions.
#[derive(Clone)]
pub struct AnalyticsService {
    store: std::sync::Arc<dyn QueryStore>,
    vault: Option<KeyVault>,
    query: QueryService,
    blocks: std::sync::Arc<DayBlocks>,
    /// Tenants that asked a question since the last warming.
    asked: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<TenantId>>>,
}

/// Bytes of day blocks an analytics service keeps by default.
pub const DEFAULT_BLOCK_BUDGET: u64 = 256 << 20;

/// `YYYY-MM-DD` of a day.
pub fn day_text(day: u32) -> String {
    date_of(day).format("%Y-%m-%d").to_string()
}

fn date_of(day: u32) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp(i64::from(day) * 86_400, 0).unwrap_or_default().date_naive()
}

fn time_key(by: By, day: u32) -> String {
    let date = date_of(day);
    match by {
        By::Week => {
            let week = date.iso_week();
            format!("{}-W{:02}", week.year(), week.week())
        }
        By::Month => date.format("%Y-%m").to_string(),
        _ => day_text(day),
    }
}

/// The first day of a month index.
fn first_day_of_month(month: u32) -> u32 {
    let date = chrono::NaiveDate::from_ymd_opt((month / 12) as i32, month % 12 + 1, 1).unwrap_or_default();
    u32::try_from((date - chrono::NaiveDate::default()).num_days()).unwrap_or(0)
}

/// Splits days [first, end) into months and the days outside them. A month
/// serves when the range holds every day of it that can have facts (those
/// within `known`), so that a range from a tenant's first day starts with
/// its first month, not with its days.
fn segments(first: u32, end: u32, known: FactDays) -> Vec<(Tier, u32)> {
    let mut segments = Vec::new();
    let mut day = first;
    while day < end {
        let month = month_of_day(day);
        let month_start = first_day_of_month(month);
        let month_end = first_day_of_month(month + 1);
        if day <= month_start.max(known.first) && month_end.min(known.last + 1) <= end {
            segments.push((Tier::Month, month));
            day = month_end;
        } else {
            segments.push((Tier::Day, day));
            day += 1;
        }
    }
    segments
}

impl AnalyticsService {
    /// Answers from `store`, opening who learners are with `vault`; `query`
    /// tells how far the projection has come.
    pub fn new(store: std::sync::Arc<dyn QueryStore>, vault: Option<KeyVault>, query: QueryService) -> Self {
        let blocks = std::sync::Arc::new(DayBlocks::new(DEFAULT_BLOCK_BUDGET));
        Self { store, vault, query, blocks, asked: Default::default() }
    }

    /// Builds the day blocks of the last `days` days with facts of each
    /// tenant (every tenant when `all`, else those that asked a question
    /// since the last call), so that the questions dashboards ask most —
    /// the last weeks — find them: the newest day first, until the blocks
    /// take half the budget, leaving out a day whose block alone would take
    /// more (its facts counted in its rollup first, so they are not read
    /// for nothing). Returns how many tenants it warmed.
    pub async fn warm(&self, days: u32, all: bool) -> Result<usize, QueryError> {
        let asked: Vec<TenantId> =
            std::mem::take(&mut *self.asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
                .into_iter()
                .collect();
        let tenants = if all {
            crate::tenancy::tenants::list_tenants(self.store.as_ref())
                .await?
                .into_iter()
                .filter(|t| !t.deleted)
                .map(|t| t.id)
                .collect()
        } else {
            asked
        };
        let (mut warmed, mut too_large) = (0, 0);
        for tenant in tenants {
            let Some(known) = self.fact_days(&tenant).await? else { continue };
            let end = known.last + 1;
            let first = end.saturating_sub(days.min(BLOCK_DAYS)).max(known.first);
            if !self.blocks.has_room() {
                break;
            }
            for day in (first..end).rev() {
                if !self.blocks.has_room() {
                    break;
                }
                let facts =
                    self.total(&tenant, (Tier::Day, day), Parts::Counts).await?.map_or(0, |total| total.statements);
                if facts == 0 {
                    continue;
                }
                if !self.blocks.warms(facts) {
                    too_large += 1;
                    continue;
                }
                self.blocks.load(self.store.as_ref(), &tenant, day, day + 1).await?;
            }
            warmed += 1;
        }
        if too_large > 0 {
            tracing::info!(
                days = too_large,
                "days not warmed: a block of one would take over half of LRS_ANALYTICS_CACHE_MB"
            );
        }
        Ok(warmed)
    }

    /// Whether the day block of a tenant's day is held (for tests and reports).
    pub fn holds_day(&self, tenant: &TenantId, day: u32) -> bool {
        self.blocks.holds(tenant, day)
    }

    /// The same service keeping at most about `bytes` of day blocks.
    pub fn with_block_budget(mut self, bytes: u64) -> Self {
        self.blocks = std::sync::Arc::new(DayBlocks::new(bytes));
        self
    }

    /// The time up to which answers are complete: as for statements when the
    /// analytics builders have applied their whole outbox and refreshed
    /// every whole-time value, else the log time of the last entry the
    /// furthest-behind one applied (or of its last refresh).
    pub async fn consistent_through(&self, tenant: &TenantId) -> Result<chrono::DateTime<chrono::Utc>, QueryError> {
        let mut through = self.query.consistent_through(tenant).await?;
        let time = |micros: i64| chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
        for partition in 0..self.query.log_partitions() {
            let store = self.store.as_ref();
            if !builder::caught_up(store, partition).await? {
                through = through.min(time(builder::BuilderPosition::load(store, partition).await?.log_time_micros));
            }
            if let Some(whole) = builder::whole_through(store, partition).await? {
                through = through.min(time(whole));
            }
        }
        Ok(through)
    }

    /// The rollups of one group dimension in one period: a group's row and
    /// each of its deltas not folded yet (a group can come more than once).
    async fn rollups(
        &self,
        tenant: &TenantId,
        (tier, period): (Tier, u32),
        dimension: Dimension,
        parts: Parts,
    ) -> Result<Vec<(String, Aggregate)>, QueryError> {
        let range = rollup_dimension_range(dimension.name());
        let partition = rollup_partition(tenant, tier, period);
        let rows = self.store.scan(Table::AnalyticsRollups, &partition, range, Order::Ascending, usize::MAX).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(clustering, value)| {
                let (_, group) = parse_rollup_clustering(&clustering)?;
                Some((group, Aggregate::decode_parts(&value, parts)?))
            })
            .collect())
    }

    /// The aggregate of every statement of one day (or month): its row and
    /// the deltas not folded into it yet.
    async fn total(
        &self,
        tenant: &TenantId,
        segment: (Tier, u32),
        parts: Parts,
    ) -> Result<Option<Aggregate>, QueryError> {
        let range = rollup_group_range(Dimension::All.name(), "");
        let partition = rollup_partition(tenant, segment.0, segment.1);
        let rows = self.store.scan(Table::AnalyticsRollups, &partition, range, Order::Ascending, usize::MAX).await?;
        Ok(merge_rows(rows.iter().map(|(_, bytes)| bytes.as_slice()), |bytes| Aggregate::decode_parts(bytes, parts)))
    }

    /// The days a tenant has facts for.
    async fn fact_days(&self, tenant: &TenantId) -> Result<Option<FactDays>, QueryError> {
        let row = self.store.get(Table::Meta, &analytics_meta_partition(tenant), &[]).await?;
        Ok(row.and_then(|bytes| FactDays::decode(&bytes)))
    }

    /// Answers a question: its rows, in order, at most `limit` of them.
    pub async fn answer(&self, tenant: &TenantId, query: &AnalyticsQuery) -> Result<Vec<AnalyticsRow>, QueryError> {
        self.asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(tenant.clone());
        let Some(known) = self.fact_days(tenant).await? else { return Ok(Vec::new()) };
        let first = query.since_day.unwrap_or(known.first).max(known.first);
        let end = query.until_day.unwrap_or(known.last + 1).min(known.last + 1);
        if first >= end {
            return Ok(Vec::new());
        }
        let whole_time = first == known.first && end == known.last + 1;
        let unfiltered = query.filters.is_empty();
        // Filters, or groups over a bounded range: the day blocks, when the
        // range is short enough to hold.
        let blocked =
            end - first <= BLOCK_DAYS && (!unfiltered || (!whole_time && matches!(query.by, Some(By::Group(_)))));
        let mut rows = if blocked {
            self.read_blocks(tenant, query, first, end).await?
        } else if unfiltered && whole_time && !query.by.is_some_and(By::is_time) {
            match query.by {
                Some(By::Group(dimension)) if known.ranked() => {
                    match self.read_top(tenant, dimension, query.measure, query.limit).await? {
                        Some(rows) => rows,
                        None => self.read_whole_values(tenant, query).await?,
                    }
                }
                _ => self.read_whole_values(tenant, query).await?,
            }
        } else if unfiltered && known.ranked() && matches!(query.by, Some(By::Day | By::Week)) {
            self.read_time_values(tenant, query, first, end, known).await?
        } else {
            let groups = if query.filters.is_empty() {
                self.read_rollups(tenant, query.by, query.measure.parts(), first, end, known).await?
            } else {
                self.read_facts(tenant, query, first, end).await?.into_iter().collect()
            };
            groups
                .into_iter()
                .filter_map(|(key, aggregate)| Some(AnalyticsRow { key, value: query.measure.of(&aggregate)? }))
                .collect()
        };
        if query.by.is_some_and(|by| !by.is_time()) {
            rows.sort_by(|a, b| b.value.total_cmp(&a.value).then_with(|| a.key.cmp(&b.key)));
        }
        rows.truncate(query.limit);
        if query.by == Some(By::Group(Dimension::Learner)) {
            for row in &mut rows {
                row.key = self.learner_name(tenant, &row.key).await?;
            }
            rows.sort_by(|a, b| b.value.total_cmp(&a.value).then_with(|| a.key.cmp(&b.key)));
        }
        Ok(rows)
    }

    /// A question from the day blocks of its range: the rows with the
    /// `limit` largest values (and those tied with the last), or every
    /// period of a question by time.
    async fn read_blocks(
        &self,
        tenant: &TenantId,
        query: &AnalyticsQuery,
        first: u32,
        end: u32,
    ) -> Result<Vec<AnalyticsRow>, QueryError> {
        for _ in 0..5 {
            let Some(blocks) = self.blocks.load(self.store.as_ref(), tenant, first, end).await? else { continue };
            let Some(filters) = self.blocks.filter_ids(tenant, &blocks, &query.filters) else { continue };
            let mut groups = measure_groups(&blocks, query.measure, query.by, &filters);
            match query.by {
                Some(By::Group(_)) => {}
                Some(time) => {
                    return Ok(groups
                        .into_iter()
                        .map(|(period, value)| {
                            let day = if time == By::Month { first_day_of_month(period) } else { period };
                            AnalyticsRow { key: time_key(time, day), value }
                        })
                        .collect())
                }
                None => {
                    return Ok(groups.into_iter().map(|(_, value)| AnalyticsRow { key: "all".into(), value }).collect())
                }
            }
            groups.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
            if let Some(last) = groups.get(query.limit.saturating_sub(1)).map(|g| g.1) {
                let kept = groups.partition_point(|g| g.1 >= last);
                groups.truncate(kept);
            }
            let ids: Vec<u32> = groups.iter().map(|g| g.0).collect();
            let Some(keys) = self.blocks.texts(tenant, &blocks, &ids) else { continue };
            return Ok(keys.into_iter().zip(groups).map(|(key, (_, value))| AnalyticsRow { key, value }).collect());
        }
        Err(StoreError::Unavailable("a learner was forgotten while answering; ask again".into()).into())
    }

    /// A question over all of a tenant's days, without filters: the measure
    /// values kept beside the whole-time rollups (one row per group).
    async fn read_whole_values(
        &self,
        tenant: &TenantId,
        query: &AnalyticsQuery,
    ) -> Result<Vec<AnalyticsRow>, QueryError> {
        let dimension = match query.by {
            Some(By::Group(dimension)) => dimension,
            _ => Dimension::All,
        };
        let range = rollup_dimension_range(dimension.name());
        let partition = rollup_partition(tenant, Tier::Whole, 0);
        let entries = self.store.scan(Table::AnalyticsRollups, &partition, range, Order::Ascending, usize::MAX).await?;
        let mut rows = Vec::with_capacity(entries.len());
        for (clustering, bytes) in entries {
            let Some((_, group)) = parse_rollup_clustering(&clustering) else { continue };
            let value = match decode_value(&bytes, query.measure) {
                Some(value) => value,
                // A row of another layout of the measures: from the months.
                None => {
                    let days = self.fact_days(tenant).await?;
                    let aggregate =
                        whole_aggregate((self.store.as_ref(), None), tenant, dimension, &group, days).await?;
                    query.measure.of(&aggregate)
                }
            };
            let key = if dimension == Dimension::All { "all".to_owned() } else { group };
            rows.extend(value.map(|value| AnalyticsRow { key, value }));
        }
        Ok(rows)
    }

    /// A question over all of a tenant's days by a dimension, without
    /// filters: the first `limit` groups of the measure's list; `None` when
    /// the list is missing (not built yet) or shorter than `limit`.
    async fn read_top(
        &self,
        tenant: &TenantId,
        dimension: Dimension,
        measure: Measure,
        limit: usize,
    ) -> Result<Option<Vec<AnalyticsRow>>, QueryError> {
        let partition = rollup_partition(tenant, Tier::Top, measure.place() as u32);
        let clustering = rollup_dimension_prefix(dimension.name());
        let row = self.store.get(Table::AnalyticsRollups, &partition, &clustering).await?;
        let Some(list) = row.and_then(|bytes| TopList::decode(&bytes)) else { return Ok(None) };
        Ok(list
            .first(limit)
            .map(|first| first.iter().map(|(value, key)| AnalyticsRow { key: key.clone(), value: *value }).collect()))
    }

    /// A question by day or week without filters: the values of each day,
    /// and of each week the range holds whole (every day of it that can
    /// have facts); a week cut by the range merges its days in it.
    async fn read_time_values(
        &self,
        tenant: &TenantId,
        query: &AnalyticsQuery,
        first: u32,
        end: u32,
        known: FactDays,
    ) -> Result<Vec<AnalyticsRow>, QueryError> {
        let partition = rollup_partition(tenant, Tier::Values, 0);
        let value = |bytes: &[u8]| decode_value(bytes, query.measure).flatten();
        if query.by == Some(By::Day) {
            let range = (
                Bound::Included(values_clustering(Tier::Day, first)),
                Bound::Excluded(values_clustering(Tier::Day, end)),
            );
            let entries =
                self.store.scan(Table::AnalyticsRollups, &partition, range, Order::Ascending, usize::MAX).await?;
            return Ok(entries
                .iter()
                .filter_map(|(clustering, bytes)| {
                    let day = parse_values_clustering(Tier::Day, clustering)?;
                    Some(AnalyticsRow { key: day_text(day), value: value(bytes)? })
                })
                .collect());
        }
        let mut rows = Vec::new();
        let mut monday = week_of_day(first);
        while monday < end {
            let next = monday + 7;
            let found = if first <= monday.max(known.first) && next.min(known.last + 1) <= end {
                let clustering = values_clustering(Tier::Week, monday);
                let row = self.store.get(Table::AnalyticsRollups, &partition, &clustering).await?;
                row.and_then(|bytes| value(&bytes))
            } else {
                let mut week: Option<Aggregate> = None;
                for day in monday.max(first)..next.min(end) {
                    if let Some(total) = self.total(tenant, (Tier::Day, day), query.measure.parts()).await? {
                        week.get_or_insert_with(Aggregate::default).merge(&total);
                    }
                }
                week.and_then(|week| query.measure.of(&week))
            };
            rows.extend(found.map(|value| AnalyticsRow { key: time_key(By::Week, monday), value }));
            monday = next;
        }
        Ok(rows)
    }

    async fn read_rollups(
        &self,
        tenant: &TenantId,
        by: Option<By>,
        parts: Parts,
        first: u32,
        end: u32,
        known: FactDays,
    ) -> Result<Vec<(String, Aggregate)>, QueryError> {
        let mut groups: BTreeMap<String, Aggregate> = BTreeMap::new();
        match by {
            None | Some(By::Month) => {
                for segment in segments(first, end, known) {
                    let Some(total) = self.total(tenant, segment, parts).await? else { continue };
                    let day = match segment {
                        (Tier::Month, month) => first_day_of_month(month),
                        (_, day) => day,
                    };
                    let key = if by.is_some() { time_key(By::Month, day) } else { "all".to_owned() };
                    groups.entry(key).or_default().merge(&total);
                }
            }
            Some(By::Day) | Some(By::Week) => {
                let by = by.expect("matched");
                for day in first..end {
                    if let Some(total) = self.total(tenant, (Tier::Day, day), parts).await? {
                        groups.entry(time_key(by, day)).or_default().merge(&total);
                    }
                }
            }
            Some(By::Group(dimension)) => {
                // Many groups (a learner each): merged by hash, sorted by value later.
                let mut merged: HashMap<String, Aggregate> = HashMap::new();
                for segment in segments(first, end, known) {
                    for (group, aggregate) in self.rollups(tenant, segment, dimension, parts).await? {
                        match merged.entry(group) {
                            Entry::Occupied(mut known) => known.get_mut().merge(&aggregate),
                            Entry::Vacant(new) => {
                                new.insert(aggregate);
                            }
                        }
                    }
                }
                return Ok(merged.into_iter().collect());
            }
        }
        Ok(groups.into_iter().collect())
    }

    async fn read_facts(
        &self,
        tenant: &TenantId,
        query: &AnalyticsQuery,
        first: u32,
        end: u32,
    ) -> Result<BTreeMap<String, Aggregate>, QueryError> {
        let mut groups: BTreeMap<String, Aggregate> = BTreeMap::new();
        for day in first..end {
            for fact in facts_of_day(self.store.as_ref(), tenant, day).await? {
                if !query.filters.iter().all(|(dimension, value)| fact.has(*dimension, value)) {
                    continue;
                }
                for key in group_keys(&fact, query.by, day) {
                    groups.entry(key).or_default().add(&fact);
                }
            }
        }
        Ok(groups)
    }

    /// Who a learner key stands for: its identifier (`mailto:…` for an
    /// mbox), opened with the vault's key when sealed.
    async fn learner_name(&self, tenant: &TenantId, key: &str) -> Result<String, QueryError> {
        let row = self.store.get(Table::AnalyticsLearners, &learner_identity_partition(tenant, key), &[]).await?;
        let ifi = match row {
            Some(row) => {
                open_row(self.vault.as_ref(), tenant, row).await?.and_then(|bytes| String::from_utf8(bytes).ok())
            }
            None => None,
        };
        Ok(display_ifi(&ifi.unwrap_or_else(|| key.to_owned())))
    }

    /// A learner's path: its progress in every activity, across sources and
    /// platforms (from its facts), by the time it last worked on each (most
    /// recent first).
    pub async fn learner_path(&self, tenant: &TenantId, agent: &str) -> Result<Vec<PathStep>, QueryError> {
        let key = match &self.vault {
            Some(vault) => match vault.find(tenant, agent).await? {
                Some(subject) => subject_index_key(subject.id),
                None => agent.to_owned(),
            },
            None => agent.to_owned(),
        };
        let all = (Bound::Unbounded, Bound::Unbounded);
        let partition = learner_partition(tenant, &key);
        let entries =
            self.store.scan(Table::AnalyticsLearnerFacts, &partition, all, Order::Ascending, usize::MAX).await?;
        let mut progress: BTreeMap<String, Progress> = BTreeMap::new();
        for (entry, _) in entries {
            let Some((day, id)) = parse_learner_fact_clustering(&entry) else { continue };
            let row =
                self.store.get(Table::AnalyticsFacts, &facts_partition(tenant, day), &fact_clustering(id)).await?;
            let Some(fact) = row.and_then(|bytes| Fact::decode(&bytes)) else { continue };
            if let Some(activity) = &fact.activity {
                progress.entry(activity.clone()).or_default().add(&fact);
            }
        }
        let mut steps: Vec<PathStep> =
            progress.into_iter().map(|(activity, progress)| PathStep { activity, progress }).collect();
        steps.sort_by(|a, b| b.progress.last_micros.cmp(&a.progress.last_micros).then(a.activity.cmp(&b.activity)));
        Ok(steps)
    }
}

/// The groups a fact counts in, for a question broken down by `by`.
fn group_keys(fact: &Fact, by: Option<By>, day: u32) -> Vec<String> {
    match by {
        None => vec!["all".to_owned()],
        Some(time) if time.is_time() => vec![time_key(time, day)],
        Some(By::Group(dimension)) => {
            fact.groups().into_iter().filter(|(d, _)| *d == dimension).map(|(_, value)| value.to_owned()).collect()
        }
        Some(_) => Vec::new(),
    }
}

/// An identifier as answered: `mailto:…` for an mbox, the key for others.
pub(crate) fn display_ifi(ifi: &str) -> String {
    ifi.strip_prefix("mbox:").unwrap_or(ifi).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_splits_into_whole_months_and_the_days_outside_them() {
        let march_2026 = 2026 * 12 + 2;
        let (march_1, april_1) = (first_day_of_month(march_2026), first_day_of_month(march_2026 + 1));
        assert_eq!(day_text(march_1), "2026-03-01");
        let always = FactDays { first: 0, last: u32::MAX - 1, layout: 1 };
        assert_eq!(segments(march_1, april_1, always), [(Tier::Month, march_2026)]);
        let parts = segments(march_1 - 2, april_1 + 1, always);
        assert_eq!(parts.first(), Some(&(Tier::Day, march_1 - 2)));
        assert!(parts.contains(&(Tier::Month, march_2026)));
        assert_eq!(parts.last(), Some(&(Tier::Day, april_1)));
        assert_eq!(parts.len(), 4);
        // Facts from March 10 to April 1: March 10 onwards is all of March,
        // April 1 all of April.
        let known = FactDays { first: march_1 + 9, last: april_1, layout: 1 };
        let april = (Tier::Month, march_2026 + 1);
        assert_eq!(segments(march_1 + 9, april_1 + 1, known), [(Tier::Month, march_2026), april]);
        assert_eq!(segments(march_1 + 10, april_1, known).len(), 21, "a day short of the facts: days");
        assert_eq!(time_key(By::Week, march_1), "2026-W09");
        assert_eq!(time_key(By::Month, march_1 + 5), "2026-03");
    }

    #[test]
    fn measures_and_dimensions_parse_by_their_api_names() {
        for measure in Measure::ALL {
            assert_eq!(Measure::parse(measure.name()), Some(measure));
        }
        assert_eq!(By::parse("week"), Some(By::Week));
        assert_eq!(By::parse("learner"), Some(By::Group(Dimension::Learner)));
        assert_eq!(By::parse("colour"), None);
        assert_eq!(display_ifi("mbox:mailto:a@b.c"), "mailto:a@b.c");
    }
}
