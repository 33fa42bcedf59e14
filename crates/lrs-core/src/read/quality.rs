//! The data-quality report, read from the tables of `projection/quality`.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use serde::Serialize;

use crate::projection::quality::{decode_count, GroupProgress};
use crate::read::analytics::display_ifi;
use crate::store::{Order, QueryStore, StoreError, Table};
use crate::tables::keys::decode_strings;
use crate::tables::quality::{
    counts_partition, decode_pending_names, decode_pending_names_mark, groups_partition, learner_names_partition,
    names_partition, pending_names_mark_partition, pending_names_partition, pending_names_ranges, NameKind,
};
use crate::tenant::TenantId;
use crate::vault::{open_row, KeyVault};

/// Most days one report covers.
pub const MAX_REPORT_DAYS: u32 = 3660;

/// The counts of one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SourceCounts {
    /// The credential key (empty when the statements named no credential).
    pub source: String,
    /// Statements stored.
    pub accepted: u64,
    /// Statements in refused requests.
    pub rejected: u64,
    /// The refused statements by reason.
    pub rejections: Vec<ReasonCount>,
    /// Accepted statements that repeat an earlier accepted statement's event under another id.
    pub duplicates: u64,
    /// Statements sent again with the id and content of a stored one.
    pub resent: u64,
    /// Accepted statements without a context registration.
    pub missing_registration: u64,
    /// Accepted statements without a parent or grouping context activity.
    pub missing_parent: u64,
    /// Accepted statements whose timestamp is ahead of `stored` by more than the allowed skew.
    pub future_timestamps: u64,
    /// Accepted statements whose timestamp is long before `stored`.
    pub late_timestamps: u64,
}

/// A count with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    /// Why.
    pub reason: String,
    /// How many.
    pub count: u64,
}

/// A rule of a template with how often it failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleCount {
    /// The rule's location (and selector).
    pub rule: String,
    /// How many statements broke it.
    pub count: u64,
}

/// What the statement plan found about one template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TemplateCounts {
    /// The template's IRI.
    pub template: String,
    /// Statements that matched its determining properties.
    pub matched: u64,
    /// Of those, the statements that broke a rule.
    pub invalid: u64,
    /// The rules broken, with how often.
    pub failures: Vec<RuleCount>,
}

/// One name used with several IRIs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriftGroup {
    /// The name (trimmed, lower case).
    pub name: String,
    /// The IRIs it is used with.
    pub ids: Vec<String>,
    /// How many statements used it with each IRI.
    pub counts: Vec<u64>,
}

/// Naming drift of a tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Verb displays shared by several verb IRIs.
    pub verbs: Vec<DriftGroup>,
    /// Activity names shared by several activity IRIs.
    pub activities: Vec<DriftGroup>,
    /// Learner names (`actor.name`) used by several learners: `ids` are
    /// their identifiers (`mailto:…` for an mbox), in order.
    pub learners: Vec<DriftGroup>,
}

/// The report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QualityReport {
    /// Counts per source, by source.
    pub sources: Vec<SourceCounts>,
    /// Naming drift (over all of the tenant's statements).
    pub drift: Drift,
    /// Templates of the tenant's profiles that statements matched.
    pub profiles: Vec<TemplateCounts>,
    /// How the tenant's registrations follow its profiles' primary patterns.
    pub patterns: Vec<PatternCounts>,
}

/// How many pattern groups (registrations under a profile) follow a primary pattern how far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PatternCounts {
    /// The profile's IRI.
    pub profile: String,
    /// The primary pattern the groups follow best.
    pub pattern: String,
    /// Groups whose statements follow it to its end.
    pub complete: u64,
    /// Groups whose statements follow it so far.
    pub in_progress: u64,
    /// Groups whose statements break it.
    pub broken: u64,
}

/// Reads the quality tables.
#[derive(Clone)]
pub struct QualityService {
    store: Arc<dyn QueryStore>,
    vault: Option<KeyVault>,
}

impl QualityService {
    /// A service reading `store`.
    pub fn new(store: Arc<dyn QueryStore>) -> Self {
        Self { store, vault: None }
    }

    /// The same service opening learners' names with `vault`.
    pub fn with_vault(mut self, vault: KeyVault) -> Self {
        self.vault = Some(vault);
        self
    }

    /// The report of a tenant's days `first..=last` (days since 1970-01-01, UTC).
    pub async fn report(&self, tenant: &TenantId, first: u32, last: u32) -> Result<QualityReport, StoreError> {
        let all = (Bound::Unbounded, Bound::Unbounded);
        let mut sources: BTreeMap<String, SourceCounts> = BTreeMap::new();
        let mut rejections: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut templates: BTreeMap<String, TemplateCounts> = BTreeMap::new();
        let mut rules: BTreeMap<(String, String), u64> = BTreeMap::new();
        for day in first..=last.min(first.saturating_add(MAX_REPORT_DAYS)) {
            let partition = counts_partition(tenant, day);
            let rows =
                self.store.scan(Table::QualityCounts, &partition, all.clone(), Order::Ascending, usize::MAX).await?;
            for (clustering, value) in rows {
                let Some(parts) = decode_strings(&clustering) else { continue };
                let count = decode_count(&value);
                let Some((source, name)) = parts.split_first() else { continue };
                let counts = sources
                    .entry(source.clone())
                    .or_insert_with(|| SourceCounts { source: source.clone(), ..SourceCounts::default() });
                let name: Vec<&str> = name.iter().map(String::as_str).collect();
                match name.as_slice() {
                    ["accepted"] => counts.accepted += count,
                    ["rejected", reason] => {
                        counts.rejected += count;
                        *rejections.entry((source.clone(), (*reason).to_owned())).or_default() += count;
                    }
                    ["duplicates"] => counts.duplicates += count,
                    ["resent"] => counts.resent += count,
                    ["missing_registration"] => counts.missing_registration += count,
                    ["missing_parent"] => counts.missing_parent += count,
                    ["future_timestamps"] => counts.future_timestamps += count,
                    ["late_timestamps"] => counts.late_timestamps += count,
                    ["template", kind, template] => {
                        let entry = templates.entry((*template).to_owned()).or_insert_with(|| TemplateCounts {
                            template: (*template).to_owned(),
                            ..Default::default()
                        });
                        match *kind {
                            "matched" => entry.matched += count,
                            "invalid" => entry.invalid += count,
                            _ => {}
                        }
                    }
                    ["rule", template, rule] => {
                        *rules.entry(((*template).to_owned(), (*rule).to_owned())).or_default() += count;
                    }
                    _ => {}
                }
            }
        }
        for ((source, reason), count) in rejections {
            if let Some(counts) = sources.get_mut(&source) {
                counts.rejections.push(ReasonCount { reason, count });
            }
        }
        for ((template, rule), count) in rules {
            if let Some(entry) = templates.get_mut(&template) {
                entry.failures.push(RuleCount { rule, count });
            }
        }
        for entry in templates.values_mut() {
            entry.failures.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.rule.cmp(&b.rule)));
        }
        let drift = Drift {
            verbs: self.drift(tenant, NameKind::Verb).await?,
            activities: self.drift(tenant, NameKind::Activity).await?,
            learners: self.learner_drift(tenant).await?,
        };
        Ok(QualityReport {
            sources: sources.into_values().collect(),
            drift,
            profiles: templates.into_values().collect(),
            patterns: self.patterns(tenant).await?,
        })
    }

    /// The tenant's pattern groups, counted by profile, pattern and progress
    /// (over all days: a registration spans days).
    async fn patterns(&self, tenant: &TenantId) -> Result<Vec<PatternCounts>, StoreError> {
        let all = (Bound::Unbounded, Bound::Unbounded);
        let rows = self
            .store
            .scan(Table::QualityPatternGroups, &groups_partition(tenant), all, Order::Ascending, usize::MAX)
            .await?;
        let mut counts: BTreeMap<(String, String), PatternCounts> = BTreeMap::new();
        for (clustering, value) in rows {
            let Some(parts) = decode_strings(&clustering) else { continue };
            let Some(profile) = parts.first() else { continue };
            let Ok(group) = serde_json::from_slice::<GroupProgress>(&value) else { continue };
            let entry = counts.entry((profile.clone(), group.pattern.clone())).or_insert_with(|| PatternCounts {
                profile: profile.clone(),
                pattern: group.pattern.clone(),
                ..Default::default()
            });
            match group.progress.as_str() {
                "complete" => entry.complete += 1,
                "in_progress" => entry.in_progress += 1,
                _ => entry.broken += 1,
            }
        }
        Ok(counts.into_values().collect())
    }

    /// The learner names used by two learners or more: counted by the
    /// name's hash and learner key, shown with what the learner's sealed row
    /// says (a learner forgotten meanwhile is left out).
    async fn learner_drift(&self, tenant: &TenantId) -> Result<Vec<DriftGroup>, StoreError> {
        let mut by_name: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        for ((hash, key), count) in self.name_counts(tenant, NameKind::Learner).await? {
            by_name.entry(hash).or_default().push((key, count));
        }
        let mut groups = Vec::new();
        for (hash, learners) in by_name.into_iter().filter(|(_, learners)| learners.len() > 1) {
            let mut name = None;
            let mut found: Vec<(String, u64)> = Vec::new();
            for (key, count) in learners {
                let row = self
                    .store
                    .get(Table::QualityNames, &learner_names_partition(tenant, &key), hash.as_bytes())
                    .await?;
                let Some(row) = row else { continue };
                let Some(opened) = open_row(self.vault.as_ref(), tenant, row).await? else { continue };
                let Ok(who) = serde_json::from_slice::<serde_json::Value>(&opened) else { continue };
                let ifi = who["ifi"].as_str().unwrap_or_default();
                found.push((display_ifi(ifi), count));
                name = name.or_else(|| who["name"].as_str().map(str::to_owned));
            }
            if let (Some(name), true) = (name, found.len() > 1) {
                found.sort();
                let (ids, counts) = found.into_iter().unzip();
                groups.push(DriftGroup { name, ids, counts });
            }
        }
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(groups)
    }

    /// The names of one kind used with two IRIs or more.
    async fn drift(&self, tenant: &TenantId, kind: NameKind) -> Result<Vec<DriftGroup>, StoreError> {
        let mut groups: Vec<DriftGroup> = Vec::new();
        for ((name, iri), count) in self.name_counts(tenant, kind).await? {
            match groups.last_mut() {
                Some(group) if group.name == name => {
                    group.ids.push(iri);
                    group.counts.push(count);
                }
                _ => groups.push(DriftGroup { name, ids: vec![iri], counts: vec![count] }),
            }
        }
        groups.retain(|group| group.ids.len() > 1);
        Ok(groups)
    }

    /// A tenant's counts of names of one kind, by (name, IRI): their rows
    /// and the counts the projector has not added to them yet.
    async fn name_counts(
        &self,
        tenant: &TenantId,
        kind: NameKind,
    ) -> Result<BTreeMap<(String, String), u64>, StoreError> {
        let all = (Bound::Unbounded, Bound::Unbounded);
        let partition = names_partition(tenant, kind);
        let rows = self.store.scan(Table::QualityNames, &partition, all.clone(), Order::Ascending, usize::MAX).await?;
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (clustering, value) in rows {
            let Some(parts) = decode_strings(&clustering) else { continue };
            let [name, iri] = parts.as_slice() else { continue };
            *counts.entry((name.clone(), iri.clone())).or_default() += decode_count(&value);
        }
        // The pending rows, but not over those the last merges deleted (the
        // store keeps them until a compaction): the merges' marks say where.
        let marks = pending_names_mark_partition(tenant);
        let marks = self.store.scan(Table::QualityNames, &marks, all, Order::Ascending, usize::MAX).await?;
        let marks: Vec<_> =
            marks.iter().filter_map(|(clustering, value)| decode_pending_names_mark(clustering, value)).collect();
        let pending = pending_names_partition(tenant);
        for range in pending_names_ranges(&marks) {
            for (_, value) in
                self.store.scan(Table::QualityNames, &pending, range, Order::Ascending, usize::MAX).await?
            {
                for name in decode_pending_names(&value).into_iter().filter(|name| name.kind == kind) {
                    *counts.entry((name.name, name.iri)).or_default() += name.by;
                }
            }
        }
        Ok(counts)
    }
}
