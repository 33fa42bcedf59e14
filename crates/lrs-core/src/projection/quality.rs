//! The data-quality projection: per tenant, source (the credential key) and
//! day of receipt, how many statements were accepted and refused (by
//! reason), sent twice as the same event under another id (duplicates) or
//! again under the same id (resends), came without a registration or a
//! parent activity, or carry a timestamp far from when they were stored;
//! what the statement plan found (templates matched and broken, by rule);
//! and, for naming drift, how often each verb display and activity name was
//! used with each IRI. docs/QUALITY.md explains every count.
//!
//! Everything is written in the statement projector's batch, so it shares
//! the log position (nothing counted twice after a crash) and a replay
//! rebuilds it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Change, Changed, Downstream, Learner};
use crate::plan::{PatternGroup, PlanCompiler};
use crate::store::{Order, QueryStore, StoreError, Table, WriteBatch};
use crate::tables::quality::{
    count_clustering, counts_partition, group_clustering, groups_partition, learner_name_hash, learner_names_partition,
    name_clustering, names_partition, signature_partition, step_clustering, step_micros, steps_partition, NameKind,
};
use crate::tenant::TenantId;
use crate::vault::{seal, sealed_row};

/// A timestamp this much later than `stored` is in the future (clock skew allowed for).
pub const FUTURE_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;
/// A timestamp this much earlier than `stored` is late (sent long after the event).
pub const LATE_MICROS: i64 = 30 * 24 * 3600 * 1_000_000;

const DAY_MICROS: i64 = 86_400_000_000;

/// The data-quality projection.
#[derive(Clone)]
pub struct Quality {
    /// The tenants' profiles, compiled once per change, for their patterns.
    plans: Arc<PlanCompiler>,
    /// (tenant, learner key, name hash) whose sealed row this process wrote.
    learner_names: Arc<quick_cache::sync::Cache<(TenantId, String, String), ()>>,
    /// The count rows as this process last wrote them.
    counts: Arc<KnownCounts>,
}

impl Default for Quality {
    fn default() -> Self {
        Self {
            plans: Arc::default(),
            learner_names: Arc::new(quick_cache::sync::Cache::new(REMEMBERED_NAMES)),
            counts: Arc::new(KnownCounts::default()),
        }
    }
}

/// Count rows kept between batches: what saves a point read per row and
/// batch. Each log partition's projector is the only writer of its tenants'
/// rows, and applies batches in log order; a batch's values become known
/// when the next batch starts after it (so it was written), and are dropped
/// when the next one starts at or before it (it was not: the projector
/// retries it). A new process starts with nothing known.
#[derive(Default)]
struct KnownCounts {
    partitions: std::sync::Mutex<HashMap<u32, PartitionCounts>>,
}

/// Row key of a count: (partition, clustering).
type CountKey = (Vec<u8>, Vec<u8>);

/// What is known of one log partition's count rows.
struct PartitionCounts {
    /// Values written by batches that were applied.
    known: quick_cache::unsync::Cache<(Table, CountKey), u64>,
    /// Values the last batch wrote, and its last log offset.
    pending: HashMap<(Table, CountKey), u64>,
    pending_through: Option<u64>,
}

/// Rows of counts known per log partition at most (then read again).
const KNOWN_COUNTS: usize = 200_000;

impl KnownCounts {
    /// Starts a batch of records `first..=last` of a partition: takes what
    /// is known of it (a batch that fails leaves nothing known).
    fn begin(&self, partition: u32, first: u64, last: u64) -> PartitionCounts {
        let mut partitions = self.partitions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut state = partitions.remove(&partition).unwrap_or_else(|| PartitionCounts {
            known: quick_cache::unsync::Cache::new(KNOWN_COUNTS),
            pending: HashMap::new(),
            pending_through: None,
        });
        let pending = std::mem::take(&mut state.pending);
        match state.pending_through {
            // The previous batch was written: what it wrote is known.
            Some(through) if first > through => {
                for (key, value) in pending {
                    state.known.insert(key, value);
                }
            }
            // It is being applied again (it was not written), or the
            // projector went back: nothing it wrote is known.
            Some(_) => {
                for key in pending.keys() {
                    state.known.remove(key);
                }
            }
            None => {}
        }
        state.pending_through = Some(last);
        state
    }

    /// Keeps what a batch wrote, for the next one.
    fn end(&self, partition: u32, state: PartitionCounts) {
        self.partitions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(partition, state);
    }
}

impl PartitionCounts {
    fn get(&mut self, table: Table, key: &CountKey) -> Option<u64> {
        self.known.get(&(table, key.clone())).copied()
    }

    fn set(&mut self, table: Table, key: CountKey, value: u64) {
        self.pending.insert((table, key), value);
    }

    fn forget(&mut self, key: &CountKey) {
        self.known.remove(&(Table::QualityNames, key.clone()));
        self.pending.remove(&(Table::QualityNames, key.clone()));
    }
}

/// Learner names whose sealed row this process wrote (bounded).
const REMEMBERED_NAMES: usize = 100_000;

/// How a pattern group follows its profile's primary patterns, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupProgress {
    /// The primary pattern it follows best.
    pub pattern: String,
    /// `complete`, `in_progress` or `broken`.
    pub progress: String,
    /// The timestamp of the group's latest statement when it was matched (microseconds).
    #[serde(default)]
    pub last_micros: i64,
}

/// The statements a batch added to pattern groups, by group partition:
/// with the earliest timestamp among them.
type NewSteps = HashMap<Vec<u8>, (TenantId, PatternGroup, BTreeMap<Vec<u8>, Vec<String>>, i64)>;

/// Count deltas of one batch, by (table partition, clustering).
#[derive(Default)]
struct Deltas {
    counts: HashMap<(Vec<u8>, Vec<u8>), u64>,
    names: HashMap<(Vec<u8>, Vec<u8>), u64>,
}

impl Deltas {
    fn count(&mut self, tenant: &TenantId, day: u32, source: &str, name: &[&str], by: u64) {
        *self.counts.entry((counts_partition(tenant, day), count_clustering(source, name))).or_default() += by;
    }
}

#[async_trait]
impl Downstream for Quality {
    fn name(&self) -> &'static str {
        "quality"
    }

    fn digest(&self, statement: &Value, learner: Option<&Learner>) -> Option<super::Digest> {
        Some(std::sync::Arc::new(StoredDigest::of(statement, learner)))
    }

    async fn apply(
        &self,
        changes: &[Changed],
        partition: u32,
        store: &dyn QueryStore,
        batch: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut deltas = Deltas::default();
        // Signatures written or dropped in this batch (the store shows the
        // state before it): the statement id that holds each, or none.
        let mut signatures: HashMap<Vec<u8>, Option<Uuid>> = HashMap::new();
        let mut steps: NewSteps = HashMap::new();
        // (tenant, learner key, name hash) of the sealed name rows this batch writes.
        let mut names_written: Vec<(TenantId, String, String)> = Vec::new();
        // Pattern steps of statements this batch removes, and the tenants' records.
        let mut gone_steps: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut tenants: HashMap<TenantId, Option<crate::tenants::Tenant>> = HashMap::new();
        // Name counts this batch deletes (an erasure).
        let mut forgotten_counts: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for Changed { log_time_micros, change, .. } in changes {
            let day = u32::try_from(log_time_micros.div_euclid(DAY_MICROS)).unwrap_or(0);
            match change {
                Change::Stored { tenant, statement, learner, digests } => {
                    // Worked out by the statement projection while it had the statement.
                    let computed;
                    let stored = match super::digest_of::<StoredDigest>(digests, self.name()) {
                        Some(digest) => digest,
                        None => {
                            computed = StoredDigest::of(statement, learner.as_ref());
                            &computed
                        }
                    };
                    let source = stored.source.as_deref().unwrap_or("");
                    deltas.count(tenant, day, source, &["accepted"], 1);
                    if stored.missing_registration {
                        deltas.count(tenant, day, source, &["missing_registration"], 1);
                    }
                    if stored.missing_parent {
                        deltas.count(tenant, day, source, &["missing_parent"], 1);
                    }
                    match stored.timestamp_offset {
                        Some(ahead) if ahead > FUTURE_SKEW_MICROS => {
                            deltas.count(tenant, day, source, &["future_timestamps"], 1)
                        }
                        Some(ahead) if ahead < -LATE_MICROS => {
                            deltas.count(tenant, day, source, &["late_timestamps"], 1)
                        }
                        _ => {}
                    }
                    let Some((id, signature)) = stored.signed else { continue };
                    let partition = signature_partition(tenant, &signature);
                    let holder = signature_holder(&signatures, store, &partition).await?;
                    match holder {
                        Some(first) if first != id => deltas.count(tenant, day, source, &["duplicates"], 1),
                        Some(_) => {}
                        None => {
                            batch.put(Table::QualitySignatures, partition.clone(), Vec::new(), id.as_bytes().to_vec());
                            signatures.insert(partition, Some(id));
                        }
                    }
                    if let (Some(learner), Some(name)) = (learner, &stored.learner_name) {
                        if let Some(hash) = self.count_learner_name(tenant, name, learner, &mut deltas, batch) {
                            names_written.push((tenant.clone(), learner.key.clone(), hash));
                        }
                    }
                    for (kind, name, iri) in &stored.names {
                        *deltas
                            .names
                            .entry((names_partition(tenant, *kind), name_clustering(name, iri)))
                            .or_default() += 1;
                    }
                }
                Change::Removed { tenant, statement, learner } => {
                    // A voided, erased or expired statement no longer holds its
                    // signature (the signature is kept under the learner's
                    // pseudonymous key, and goes with the statement).
                    let Some(id) = statement_id(statement) else { continue };
                    // Nor a step in the pattern groups it was in: they are followed again without it.
                    let record = match tenants.get(tenant) {
                        Some(record) => record.clone(),
                        None => {
                            let record = crate::tenants::load_tenant(store, tenant).await?;
                            tenants.insert(tenant.clone(), record.clone());
                            record
                        }
                    };
                    if let Some(record) = record.filter(|record| !record.profiles.is_empty()) {
                        let timestamp_micros = statement
                            .get("timestamp")
                            .and_then(Value::as_str)
                            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
                            .map_or(0, |time| time.timestamp_micros());
                        for key in self.plans.profiles(&record).groups(statement) {
                            let group = PatternGroup {
                                profile: key.profile,
                                registration: key.registration,
                                subregistration: key.subregistration,
                            };
                            let partition = steps_partition(tenant, &group);
                            let clustering = step_clustering(timestamp_micros, id);
                            batch.delete(Table::QualityPatternSteps, partition.clone(), clustering.clone());
                            let entry = steps
                                .entry(partition)
                                .or_insert_with(|| (tenant.clone(), group, BTreeMap::new(), i64::MIN));
                            entry.2.remove(&clustering);
                            // Followed again even when it was broken.
                            entry.3 = i64::MIN;
                            gone_steps.insert(clustering);
                        }
                    }
                    let partition = signature_partition(tenant, &signature(statement, learner.as_ref()));
                    let holder = signature_holder(&signatures, store, &partition).await?;
                    if holder == Some(id) {
                        batch.delete(Table::QualitySignatures, partition.clone(), Vec::new());
                        signatures.insert(partition, None);
                    }
                }
                Change::Forgotten { tenant, subject } => {
                    // The learner's names go with it (its rows are under its key).
                    let key = crate::vault::subject_index_key(*subject);
                    let partition = learner_names_partition(tenant, &key);
                    let all = (Bound::Unbounded, Bound::Unbounded);
                    let stored = store.scan(Table::QualityNames, &partition, all, Order::Ascending, usize::MAX).await?;
                    let mut hashes: BTreeSet<String> =
                        stored.into_iter().map(|(hash, _)| String::from_utf8_lossy(&hash).into_owned()).collect();
                    for (written_tenant, written_key, hash) in &names_written {
                        if written_tenant == tenant && *written_key == key {
                            hashes.insert(hash.clone());
                            self.learner_names.remove(&(tenant.clone(), key.clone(), hash.clone()));
                        }
                    }
                    for hash in hashes {
                        let counted = name_clustering(&hash, &key);
                        let counts = names_partition(tenant, NameKind::Learner);
                        batch.delete(Table::QualityNames, counts.clone(), counted.clone());
                        deltas.names.remove(&(counts.clone(), counted.clone()));
                        forgotten_counts.push((counts, counted));
                        batch.delete(Table::QualityNames, partition.clone(), hash.into_bytes());
                    }
                }
                Change::Checked { tenant, source, check, id, timestamp_micros } => {
                    for group in &check.groups {
                        let partition = steps_partition(tenant, group);
                        let clustering = step_clustering(*timestamp_micros, *id);
                        let value = serde_json::to_vec(&check.followed).expect("json");
                        batch.put(Table::QualityPatternSteps, partition.clone(), clustering.clone(), value);
                        let entry = steps
                            .entry(partition)
                            .or_insert_with(|| (tenant.clone(), group.clone(), BTreeMap::new(), i64::MAX));
                        entry.2.insert(clustering, check.followed.clone());
                        entry.3 = entry.3.min(*timestamp_micros);
                    }
                    let source = source.as_deref().unwrap_or("");
                    for template in &check.followed {
                        deltas.count(tenant, day, source, &["template", "matched", template], 1);
                    }
                    for broken in &check.broken {
                        deltas.count(tenant, day, source, &["template", "matched", &broken.template], 1);
                        deltas.count(tenant, day, source, &["template", "invalid", &broken.template], 1);
                        deltas.count(tenant, day, source, &["rule", &broken.template, &broken.rule], 1);
                    }
                }
                Change::Resent { tenant, source } => {
                    deltas.count(tenant, day, source.as_deref().unwrap_or(""), &["resent"], 1);
                }
                Change::Rejected { tenant, source, reason, statements } => {
                    let source = source.as_deref().unwrap_or("");
                    deltas.count(tenant, day, source, &["rejected", reason], u64::from(*statements));
                }
            }
        }
        self.follow_patterns(steps, &gone_steps, &mut tenants, store, batch).await?;
        // The counts as the last written batch left them (this projection
        // is their only writer), else as stored.
        let first_offset = changes.first().map_or(0, |changed| changed.offset);
        let last_offset = changes.last().map_or(0, |changed| changed.offset);
        let mut counts = self.counts.begin(partition, first_offset, last_offset);
        for forgotten in forgotten_counts {
            counts.forget(&forgotten);
        }
        for (table, rows) in [(Table::QualityCounts, deltas.counts), (Table::QualityNames, deltas.names)] {
            for (key, by) in rows {
                let before = match counts.get(table, &key) {
                    Some(known) => known,
                    None => store.get(table, &key.0, &key.1).await?.map_or(0, |bytes| decode_count(&bytes)),
                };
                counts.set(table, key.clone(), before + by);
                batch.put(table, key.0, key.1, (before + by).to_be_bytes().to_vec());
            }
        }
        self.counts.end(partition, counts);
        Ok(())
    }
}

impl Quality {
    /// Counts a statement's learner name under the learner's key (by the
    /// name's hash), and keeps who the learner is under that name, sealed
    /// with its key, once per process. Returns the hash when it wrote that row.
    fn count_learner_name(
        &self,
        tenant: &TenantId,
        name: &str,
        learner: &Learner,
        deltas: &mut Deltas,
        batch: &mut WriteBatch,
    ) -> Option<String> {
        let hash = learner_name_hash(name);
        let counted = name_clustering(&hash, &learner.key);
        *deltas.names.entry((names_partition(tenant, NameKind::Learner), counted)).or_default() += 1;
        let remembered = (tenant.clone(), learner.key.clone(), hash.clone());
        if self.learner_names.get(&remembered).is_some() {
            return None;
        }
        let who = serde_json::to_vec(&serde_json::json!({"name": name, "ifi": learner.ifi})).expect("json");
        let value = match &learner.subject {
            Some(subject) => sealed_row(&seal(&who, std::slice::from_ref(subject))),
            None if learner.key == learner.ifi => who,
            // A subject whose key this batch does not hold: written when it was.
            None => return None,
        };
        batch.put(Table::QualityNames, learner_names_partition(tenant, &learner.key), hash.clone().into_bytes(), value);
        self.learner_names.insert(remembered, ());
        Some(hash)
    }

    /// Checks each group a batch added statements to (or removed some from)
    /// against its profile's primary patterns: all its statements (those
    /// stored before and those of the batch, but those removed) in timestamp
    /// order. A group left without statements goes. `tenants`: the records
    /// this batch read already.
    async fn follow_patterns(
        &self,
        steps: NewSteps,
        gone: &BTreeSet<Vec<u8>>,
        tenants: &mut HashMap<TenantId, Option<crate::tenants::Tenant>>,
        store: &dyn QueryStore,
        batch: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        for (partition, (tenant, group, added, earliest)) in steps {
            // A broken group stays broken when statements come after the
            // ones that broke it (the greedy match of the same beginning
            // fails the same way): it is not matched again.
            let known =
                store.get(Table::QualityPatternGroups, &groups_partition(&tenant), &group_clustering(&group)).await?;
            let known = known.and_then(|bytes| serde_json::from_slice::<GroupProgress>(&bytes).ok());
            if known.as_ref().is_some_and(|known| known.progress == "broken" && earliest >= known.last_micros) {
                continue;
            }
            let record = match tenants.get(&tenant) {
                Some(record) => record.clone(),
                None => {
                    let record = crate::tenants::load_tenant(store, &tenant).await?;
                    tenants.insert(tenant.clone(), record.clone());
                    record
                }
            };
            let Some(record) = record else { continue };
            let all = (Bound::Unbounded, Bound::Unbounded);
            let stored = store.scan(Table::QualityPatternSteps, &partition, all, Order::Ascending, usize::MAX).await?;
            let mut ordered: BTreeMap<Vec<u8>, Vec<String>> = stored
                .into_iter()
                .filter(|(clustering, _)| !gone.contains(clustering))
                .map(|(clustering, value)| (clustering, serde_json::from_slice(&value).unwrap_or_default()))
                .collect();
            ordered.extend(added);
            if ordered.is_empty() {
                batch.delete(Table::QualityPatternGroups, groups_partition(&tenant), group_clustering(&group));
                continue;
            }
            let last_micros = ordered.keys().next_back().map_or(0, |key| step_micros(key));
            let sequence: Vec<BTreeSet<String>> =
                ordered.into_values().map(|templates| templates.into_iter().collect()).collect();
            let profiles = self.plans.profiles(&record);
            let Some((pattern, progress)) = profiles.follow(&group.profile, &sequence) else { continue };
            let progress = match progress {
                xapi_profiles::Progress::Complete => "complete",
                xapi_profiles::Progress::InProgress => "in_progress",
                xapi_profiles::Progress::Broken => "broken",
            };
            let progress = GroupProgress { pattern, progress: progress.to_owned(), last_micros };
            let value = serde_json::to_vec(&progress).expect("json");
            batch.put(Table::QualityPatternGroups, groups_partition(&tenant), group_clustering(&group), value);
        }
        Ok(())
    }
}

/// The statement that holds a signature: as this batch left it, else as stored.
async fn signature_holder(
    batch_signatures: &HashMap<Vec<u8>, Option<Uuid>>,
    store: &dyn QueryStore,
    partition: &[u8],
) -> Result<Option<Uuid>, StoreError> {
    if let Some(known) = batch_signatures.get(partition) {
        return Ok(*known);
    }
    let row = store.get(Table::QualitySignatures, partition, &[]).await?;
    Ok(row.and_then(|bytes| Uuid::from_slice(&bytes).ok()))
}

/// A count as stored.
pub fn decode_count(bytes: &[u8]) -> u64 {
    bytes.try_into().map_or(0, u64::from_be_bytes)
}

/// What the quality projection needs of a stored statement, worked out in
/// one place (by the statement projection while it has the statement).
#[derive(Debug)]
struct StoredDigest {
    /// The credential that sent it.
    source: Option<String>,
    /// It has no `context.registration`.
    missing_registration: bool,
    /// It names no parent or grouping activity.
    missing_parent: bool,
    /// How far its timestamp is ahead of `stored`, microseconds.
    timestamp_offset: Option<i64>,
    /// Its id and event signature; `None` for a voiding statement (counted
    /// in no duplicate or name) or one without an id.
    signed: Option<(Uuid, [u8; 32])>,
    /// Its actor's name, normalised (when it has one).
    learner_name: Option<String>,
    /// The verb displays and activity names it uses.
    names: Vec<(NameKind, String, String)>,
}

impl StoredDigest {
    fn of(statement: &Value, learner: Option<&Learner>) -> Self {
        let counted = !is_voiding(statement);
        let signed = statement_id(statement).filter(|_| counted).map(|id| (id, signature(statement, learner)));
        let learner_name = match signed {
            Some(_) => xapi::str_at(statement, &["actor", "name"]).map(normalise_name).filter(|name| !name.is_empty()),
            None => None,
        };
        Self {
            source: source_of(statement),
            missing_registration: xapi::at_path(statement, &["context", "registration"]).is_none(),
            missing_parent: !has_parent(statement),
            timestamp_offset: timestamp_offset(statement),
            names: if signed.is_some() { names_of(statement) } else { Vec::new() },
            signed,
            learner_name,
        }
    }
}

fn source_of(statement: &Value) -> Option<String> {
    super::statements::source_of(statement)
}

fn statement_id(statement: &Value) -> Option<Uuid> {
    statement.get("id").and_then(Value::as_str).and_then(|id| Uuid::parse_str(id).ok())
}

fn is_voiding(statement: &Value) -> bool {
    xapi::str_at(statement, &["verb", "id"]) == Some("http://adlnet.gov/expapi/verbs/voided")
}

/// Whether the statement names its course or module: a parent or grouping context activity.
fn has_parent(statement: &Value) -> bool {
    let lists = xapi::at_path(statement, &["context", "contextActivities"]);
    ["parent", "grouping"].iter().any(|list| {
        lists
            .and_then(|lists| lists.get(list))
            .is_some_and(|value| value.as_array().is_none_or(|items| !items.is_empty()))
    })
}

/// How far the statement's timestamp is ahead of its `stored` (negative: behind), in microseconds.
fn timestamp_offset(statement: &Value) -> Option<i64> {
    let at = |key: &str| {
        let text = statement.get(key)?.as_str()?;
        chrono::DateTime::parse_from_rfc3339(text).ok().map(|time| time.timestamp_micros())
    };
    Some(at("timestamp")? - at("stored")?)
}

/// What makes two statements the same event: actor (its pseudonymous key
/// when it has one), verb, object, result and timestamp, as a SHA-256.
fn signature(statement: &Value, learner: Option<&Learner>) -> [u8; 32] {
    let mut hash = Sha256::new();
    match learner {
        Some(learner) => hash.update(learner.key.as_bytes()),
        None => canonical(statement.get("actor").unwrap_or(&Value::Null), &mut hash),
    }
    hash.update([0]);
    hash.update(xapi::str_at(statement, &["verb", "id"]).unwrap_or("").as_bytes());
    hash.update([0]);
    canonical(statement.get("object").unwrap_or(&Value::Null), &mut hash);
    hash.update([0]);
    canonical(statement.get("result").unwrap_or(&Value::Null), &mut hash);
    hash.update([0]);
    let timestamp = statement.get("timestamp").and_then(Value::as_str).unwrap_or("");
    match chrono::DateTime::parse_from_rfc3339(timestamp) {
        Ok(time) => hash.update(time.timestamp_micros().to_be_bytes()),
        Err(_) => hash.update(timestamp.as_bytes()),
    }
    hash.finalize().into()
}

/// Feeds a JSON value with its object keys in sorted order.
fn canonical(value: &Value, hash: &mut Sha256) {
    canonical_into(value, hash, &mut Vec::with_capacity(64));
}

/// [`canonical`] with a buffer for the JSON text of keys and scalars.
fn canonical_into(value: &Value, hash: &mut Sha256, text: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            hash.update(b"{");
            for (key, value) in entries {
                text.clear();
                serde_json::to_writer(&mut *text, key).expect("a string serialises");
                hash.update(&text[..]);
                hash.update(b":");
                canonical_into(value, hash, text);
                hash.update(b",");
            }
            hash.update(b"}");
        }
        Value::Array(items) => {
            hash.update(b"[");
            for item in items {
                canonical_into(item, hash, text);
                hash.update(b",");
            }
            hash.update(b"]");
        }
        Value::String(string) => {
            text.clear();
            serde_json::to_writer(&mut *text, string).expect("a string serialises");
            hash.update(&text[..]);
        }
        other => hash.update(other.to_string().as_bytes()),
    }
}

/// A name as drift compares it: trimmed, lower case.
pub fn normalise_name(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The verb displays and object activity names a statement uses, each with its IRI.
fn names_of(statement: &Value) -> Vec<(NameKind, String, String)> {
    let mut names = Vec::new();
    let mut add = |kind: NameKind, map: Option<&Value>, iri: Option<&str>| {
        let (Some(Value::Object(map)), Some(iri)) = (map, iri) else { return };
        let distinct: BTreeSet<String> =
            map.values().filter_map(Value::as_str).map(normalise_name).filter(|n| !n.is_empty()).collect();
        names.extend(distinct.into_iter().map(|name| (kind, name, iri.to_owned())));
    };
    add(NameKind::Verb, xapi::at_path(statement, &["verb", "display"]), xapi::str_at(statement, &["verb", "id"]));
    let object_is_activity = xapi::str_at(statement, &["object", "objectType"]).is_none_or(|kind| kind == "Activity");
    if object_is_activity {
        add(
            NameKind::Activity,
            xapi::at_path(statement, &["object", "definition", "name"]),
            xapi::str_at(statement, &["object", "id"]),
        );
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hash(statement: &Value) -> [u8; 32] {
        signature(statement, None)
    }

    #[test]
    fn the_same_event_has_one_signature_whatever_the_id_key_order_or_timestamp_form() {
        let a = json!({"id": "1", "actor": {"mbox": "mailto:a@x", "name": "A"}, "verb": {"id": "v"},
            "object": {"id": "o", "definition": {"type": "t", "name": {"en": "O"}}}, "result": {"score": {"raw": 1}},
            "timestamp": "2026-01-01T10:00:00Z"});
        let b = json!({"id": "2", "actor": {"name": "A", "mbox": "mailto:a@x"}, "verb": {"id": "v", "display": {"en": "x"}},
            "object": {"definition": {"name": {"en": "O"}, "type": "t"}, "id": "o"}, "result": {"score": {"raw": 1}},
            "timestamp": "2026-01-01T10:00:00.000+00:00"});
        assert_eq!(hash(&a), hash(&b));
        let mut later = b.clone();
        later["timestamp"] = json!("2026-01-01T10:00:01Z");
        assert_ne!(hash(&a), hash(&later));
        let mut other_result = b.clone();
        other_result["result"]["score"]["raw"] = json!(2);
        assert_ne!(hash(&a), hash(&other_result));
    }

    /// How signatures were fed before [`canonical_into`] (a key set and a
    /// string per key and scalar): stored signatures must still match.
    fn canonical_as_before(value: &Value, hash: &mut Sha256) {
        match value {
            Value::Object(map) => {
                let keys: BTreeSet<&String> = map.keys().collect();
                hash.update(b"{");
                for key in keys {
                    hash.update(serde_json::to_string(key).unwrap().as_bytes());
                    hash.update(b":");
                    canonical_as_before(&map[key], hash);
                    hash.update(b",");
                }
                hash.update(b"}");
            }
            Value::Array(items) => {
                hash.update(b"[");
                for item in items {
                    canonical_as_before(item, hash);
                    hash.update(b",");
                }
                hash.update(b"]");
            }
            other => hash.update(other.to_string().as_bytes()),
        }
    }

    #[test]
    fn counts_are_known_after_their_batch_was_written_and_forgotten_when_it_is_retried() {
        let counts = KnownCounts::default();
        let key = (b"partition".to_vec(), b"name".to_vec());
        let mut first = counts.begin(0, 1, 10);
        assert_eq!(first.get(Table::QualityNames, &key), None, "nothing known at start: read the store");
        first.set(Table::QualityNames, key.clone(), 5);
        counts.end(0, first);
        // The next batch starts after it: it was written.
        let mut second = counts.begin(0, 11, 20);
        assert_eq!(second.get(Table::QualityNames, &key), Some(5));
        assert_eq!(second.get(Table::QualityCounts, &key), None, "another table's row");
        second.set(Table::QualityNames, key.clone(), 7);
        counts.end(0, second);
        // The same batch again: its write failed, the store holds 5, not 7.
        let mut retried = counts.begin(0, 11, 20);
        assert_eq!(retried.get(Table::QualityNames, &key), None);
        retried.set(Table::QualityNames, key.clone(), 7);
        counts.end(0, retried);
        let mut third = counts.begin(0, 21, 30);
        assert_eq!(third.get(Table::QualityNames, &key), Some(7));
        third.forget(&key);
        assert_eq!(third.get(Table::QualityNames, &key), None, "an erasure deleted it");
        // A batch that fails before it ends leaves nothing known.
        let _lost = counts.begin(0, 31, 40);
        assert_eq!(counts.begin(0, 41, 50).get(Table::QualityNames, &key), None);
        // Partitions apart.
        assert_eq!(counts.begin(1, 1, 10).get(Table::QualityNames, &key), None);
    }

    #[test]
    fn canonical_feeds_the_same_bytes_as_before() {
        let values = [
            json!({"id": "http://a/\"q\"", "definition": {"name": {"en": "Ünï\ncode\u{1}", "de": "x"},
                   "choices": [{"id": "b"}, {"id": "a"}], "n": [1, -2.5, 1e300, true, null]}}),
            json!({"score": {"scaled": 0.25, "raw": 7, "min": 0}, "success": false, "response": "a[,]b", "extensions": {}}),
            json!([]),
            json!("plain"),
        ];
        for value in &values {
            let (mut now, mut before) = (Sha256::new(), Sha256::new());
            canonical(value, &mut now);
            canonical_as_before(value, &mut before);
            assert_eq!(now.finalize(), before.finalize(), "{value}");
        }
    }

    #[test]
    fn names_are_trimmed_lowercased_and_counted_once_per_statement() {
        let statement = json!({"verb": {"id": "http://v/watched", "display": {"en-US": " Watched ", "en-GB": "watched"}},
            "object": {"id": "http://a/1", "definition": {"name": {"en": "Intro Video"}}}});
        let names = names_of(&statement);
        assert_eq!(
            names,
            vec![
                (NameKind::Verb, "watched".to_owned(), "http://v/watched".to_owned()),
                (NameKind::Activity, "intro video".to_owned(), "http://a/1".to_owned()),
            ]
        );
    }

    #[test]
    fn a_digest_holds_what_the_counts_need_and_a_voiding_statement_signs_nothing() {
        let id = Uuid::new_v4();
        let statement = json!({"id": id.to_string(), "actor": {"mbox": "mailto:a@x", "name": " Ann "},
            "verb": {"id": "http://v/watched", "display": {"en": "Watched"}}, "object": {"id": "http://a/1"},
            "timestamp": "2026-01-01T10:00:00Z", "stored": "2026-01-01T09:00:00Z"});
        let digest = StoredDigest::of(&statement, None);
        assert_eq!(digest.signed, Some((id, signature(&statement, None))));
        assert_eq!(digest.learner_name.as_deref(), Some("ann"));
        assert_eq!(digest.names, names_of(&statement));
        assert!(digest.missing_registration && digest.missing_parent);
        assert_eq!(digest.timestamp_offset, Some(3_600_000_000), "an hour ahead of stored");
        let voiding = json!({"id": Uuid::new_v4().to_string(), "actor": {"mbox": "mailto:a@x", "name": "Ann"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
            "object": {"objectType": "StatementRef", "id": id.to_string()},
            "context": {"registration": Uuid::new_v4().to_string()}});
        let digest = StoredDigest::of(&voiding, None);
        assert_eq!((digest.signed, digest.learner_name, digest.names.len()), (None, None, 0));
        assert!(!digest.missing_registration && digest.missing_parent);
    }

    #[test]
    fn a_parent_or_grouping_activity_names_the_course() {
        assert!(!has_parent(&json!({})));
        assert!(!has_parent(&json!({"context": {"contextActivities": {"parent": []}}})));
        assert!(has_parent(&json!({"context": {"contextActivities": {"grouping": [{"id": "c"}]}}})));
        assert!(has_parent(&json!({"context": {"contextActivities": {"parent": {"id": "c"}}}})));
    }
}
