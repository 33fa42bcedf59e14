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

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Change, Changed, Downstream, Learner};
use crate::plan::{PatternGroup, PlanCompiler};
use crate::store::{ClusteringRange, Order, QueryStore, StoreError, Table, WriteBatch};
use crate::tables::quality::{
    count_clustering, counts_partition, decode_pending_names, decode_pending_names_mark, decode_pending_steps,
    decode_steps, encode_pending_names, encode_pending_steps, encode_steps, group_clustering, groups_partition,
    learner_name_hash, learner_names_partition, name_clustering, names_partition, pending_names_clustering,
    pending_names_mark_clustering, pending_names_mark_partition, pending_names_mark_value, pending_names_partition,
    pending_steps_partition, signature_partition, step_batch_clustering, step_clustering, steps_partition,
    EventSignature, GroupStepList, NameKind, PendingName, Step,
};
use crate::tenant::TenantId;
use crate::vault::{seal, sealed_row};

/// The maps of one batch and of what is known between batches: hashed with
/// foldhash, not the default SipHash (their keys are this process's own,
/// and SipHash of the statements' texts was a tenth of the projection).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

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
    /// (tenant, learner key, normalised name) whose sealed row this process
    /// wrote, with the name's hash (worked out once, not per batch).
    learner_names: Arc<quick_cache::sync::Cache<(TenantId, String, String), String>>,
    /// The count rows as this process last wrote them.
    counts: Arc<KnownRows<u64>>,
    /// The pattern groups' rows as this process last wrote them (none: no row).
    groups: Arc<KnownRows<Option<GroupProgress>>>,
    /// Pending-names rows written per (log partition, tenant) since their
    /// last merge (none known: merge at the tenant's next batch).
    pending_rows: Arc<PendingRows>,
    /// Pending-steps rows written per (log partition, tenant) since they
    /// were last moved into their groups' rows (none known: moved at the
    /// tenant's next batch).
    pending_steps: Arc<PendingRows>,
}

/// How many pending rows (of names, or of steps) a process wrote per (log
/// partition, tenant) since they were last merged, and from where they are
/// read when they are merged.
///
/// A merge deletes the rows it read, and the store keeps what it deleted
/// (in its memtable, then in its tables until a compaction drops them), so
/// a read of the whole partition steps over every row merged before: on a
/// store of 10 million statements, a merge after single POSTs took 2.5–10
/// ms of the projector's batch. Rows are keyed by (log partition, first
/// offset of the batch), and a tenant's rows are written by its log
/// partition's projector alone, in log order; so once a merge at offset F
/// is written, the tenant's rows are all at F or after, and the next merge
/// reads from there. That is known once the next batch starts after the
/// merge's batch (it was written); a batch applied again drops it for the
/// partition. Each merge also writes its offset in a mark row, in the same
/// batch: where nothing is known in memory (a process's first merge, the
/// first after a batch applied again), the merge reads from the mark, and
/// reads the whole partition only when there is none.
#[derive(Default)]
struct PendingRows(std::sync::Mutex<PendingState>);

/// What [`PendingRows`] keeps.
#[derive(Default)]
struct PendingState {
    /// Per (log partition, tenant).
    tenants: HashMap<(u32, TenantId), TenantPending>,
    /// Per log partition: the last batch's last offset, and the tenants it
    /// merged with the batch's first offset.
    last_batch: HashMap<u32, (u64, Vec<(TenantId, u64)>)>,
}

/// A tenant's pending rows of one log partition.
#[derive(Default)]
struct TenantPending {
    /// Rows written since the last merge.
    written: usize,
    /// The first offset of its last merge that was written: no row of the
    /// tenant is before it (none known: read them all).
    read_from: Option<u64>,
}

impl PendingRows {
    fn lock(&self) -> std::sync::MutexGuard<'_, PendingState> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a batch of records `first..=last` of a partition: the merges
    /// of the batch before are known to be written when this one starts
    /// after it; when it starts at or before it, no merge of the partition
    /// is relied on.
    fn begin(&self, partition: u32, first: u64, last: u64) {
        let mut state = self.lock();
        let PendingState { tenants, last_batch } = &mut *state;
        match last_batch.insert(partition, (last, Vec::new())) {
            Some((through, merges)) if first > through => {
                for (tenant, from) in merges {
                    tenants.entry((partition, tenant)).or_default().read_from = Some(from);
                }
            }
            Some(_) => {
                for (_, pending) in tenants.iter_mut().filter(|((of, _), _)| *of == partition) {
                    pending.read_from = None;
                }
            }
            None => {}
        }
    }

    /// Whether the tenant's pending rows are to be merged at this batch:
    /// `every` rows were written, or none is known (a process's first batch).
    fn due(&self, partition: u32, tenant: &TenantId, every: usize) -> bool {
        self.lock().tenants.get(&(partition, tenant.clone())).is_none_or(|pending| pending.written + 1 >= every)
    }

    /// The clustering range that holds every pending row of the tenant:
    /// from `clustering` of its last merge's offset when that is known.
    fn range(&self, partition: u32, tenant: &TenantId, clustering: impl Fn(u32, u64) -> Vec<u8>) -> ClusteringRange {
        match self.lock().tenants.get(&(partition, tenant.clone())).and_then(|pending| pending.read_from) {
            Some(from) => (Bound::Included(clustering(partition, from)), Bound::Unbounded),
            None => (Bound::Unbounded, Bound::Unbounded),
        }
    }

    /// Whether where to read the tenant's pending rows from is known in memory.
    fn knows_start(&self, partition: u32, tenant: &TenantId) -> bool {
        self.lock().tenants.get(&(partition, tenant.clone())).is_some_and(|pending| pending.read_from.is_some())
    }

    /// The tenant's pending rows are all at `from` or after: read from a
    /// mark written in the same batch as the merge that deleted those before.
    fn start_at(&self, partition: u32, tenant: &TenantId, from: u64) {
        self.lock().tenants.entry((partition, tenant.clone())).or_default().read_from.get_or_insert(from);
    }

    /// The tenant's pending rows were merged by the batch that started at `first`.
    fn merged(&self, partition: u32, tenant: &TenantId, first: u64) {
        let mut state = self.lock();
        state.tenants.entry((partition, tenant.clone())).or_default().written = 0;
        if let Some((_, merges)) = state.last_batch.get_mut(&partition) {
            merges.push((tenant.clone(), first));
        }
    }

    /// The batch wrote a pending row of the tenant.
    fn written(&self, partition: u32, tenant: &TenantId) {
        self.lock().tenants.entry((partition, tenant.clone())).or_default().written += 1;
    }
}

impl Default for Quality {
    fn default() -> Self {
        Self {
            plans: Arc::default(),
            learner_names: Arc::new(quick_cache::sync::Cache::new(REMEMBERED_NAMES)),
            counts: Arc::default(),
            groups: Arc::default(),
            pending_rows: Arc::default(),
            pending_steps: Arc::default(),
        }
    }
}

/// Rows kept between batches (counts, pattern groups): what saves a point
/// read per row and batch. Each log partition's projector is the only
/// writer of its tenants' rows, and applies batches in log order; a
/// batch's values become known when the next batch starts after it (so it
/// was written), and are dropped when the next one starts at or before it
/// (it was not: the projector retries it). A new process starts with
/// nothing known.
struct KnownRows<V> {
    partitions: std::sync::Mutex<HashMap<u32, PartitionRows<V>>>,
}

impl<V> Default for KnownRows<V> {
    fn default() -> Self {
        Self { partitions: std::sync::Mutex::new(HashMap::default()) }
    }
}

/// Row key of a count: (partition, clustering).
type CountKey = (Vec<u8>, Vec<u8>);

/// What is known of one log partition's rows.
struct PartitionRows<V> {
    /// Values written by batches that were applied.
    known: quick_cache::unsync::Cache<(Table, CountKey), V>,
    /// Values the last batch wrote, and its last log offset.
    pending: HashMap<(Table, CountKey), V>,
    pending_through: Option<u64>,
}

/// Rows known per log partition at most (then read again).
const KNOWN_ROWS: usize = 200_000;

impl<V: Clone> KnownRows<V> {
    /// Starts a batch of records `first..=last` of a partition: takes what
    /// is known of it (a batch that fails leaves nothing known).
    fn begin(&self, partition: u32, first: u64, last: u64) -> PartitionRows<V> {
        let mut partitions = self.partitions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut state = partitions.remove(&partition).unwrap_or_else(|| PartitionRows {
            known: quick_cache::unsync::Cache::new(KNOWN_ROWS),
            pending: HashMap::default(),
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
    fn end(&self, partition: u32, state: PartitionRows<V>) {
        self.partitions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(partition, state);
    }
}

/// A key of [`PartitionRows::known`], looked up without copying it (it
/// hashes as the owned key does).
#[derive(Hash)]
struct KnownKey<'k>(Table, (&'k [u8], &'k [u8]));

impl quick_cache::Equivalent<(Table, CountKey)> for KnownKey<'_> {
    fn equivalent(&self, key: &(Table, CountKey)) -> bool {
        self.0 == key.0 && self.1 .0 == key.1 .0.as_slice() && self.1 .1 == key.1 .1.as_slice()
    }
}

impl<V: Clone> PartitionRows<V> {
    fn get(&mut self, table: Table, key: &CountKey) -> Option<V> {
        self.known.get(&KnownKey(table, (&key.0, &key.1))).cloned()
    }

    fn set(&mut self, table: Table, key: CountKey, value: V) {
        self.pending.insert((table, key), value);
    }

    fn forget(&mut self, table: Table, key: &CountKey) {
        self.known.remove(&(table, key.clone()));
        self.pending.remove(&(table, key.clone()));
    }
}

/// Pending-names rows a tenant gathers before they are added to the name
/// rows. Names are counted per (name, IRI) row: written every batch, the
/// rows were 1.5 writes per statement in the bench (1,000 learners and 500
/// activities); a batch now writes one row of its counts per tenant, and
/// every this many batches they are added up into the name rows at once.
/// The report adds the pending rows to the name rows, so it stays exact.
const MERGE_PENDING_NAMES: usize = 32;

/// Pending-steps rows a tenant gathers before they are moved into their
/// groups' rows (see [`Quality::follow_patterns`]).
const MERGE_PENDING_STEPS: usize = 32;

/// A (tenant, learner key, name) of [`Quality::learner_names`], looked up
/// without copying them (it hashes as the owned key does).
#[derive(Hash)]
struct LearnerName<'a>(&'a TenantId, &'a str, &'a str);

impl quick_cache::Equivalent<(TenantId, String, String)> for LearnerName<'_> {
    fn equivalent(&self, key: &(TenantId, String, String)) -> bool {
        *self.0 == key.0 && self.1 == key.1 && self.2 == key.2
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

/// The pattern groups a batch added statements to (or removed some from),
/// each with its tenant (its row's partition is built once per group, when
/// it is followed).
type NewSteps<'a> = HashMap<(&'a TenantId, Cow<'a, PatternGroup>), GroupSteps<'a>>;

/// What a batch did to a pattern group.
struct GroupSteps<'a> {
    /// The statements it added: timestamp, id, the templates each followed.
    added: Vec<(i64, Uuid, &'a [String])>,
    /// The earliest timestamp among them (`i64::MIN` when it removed one:
    /// the group is followed again).
    earliest: i64,
}

impl GroupSteps<'_> {
    fn new() -> Self {
        Self { added: Vec::new(), earliest: i64::MAX }
    }
}

/// A count's name: its parts (one, or three for a template's or rule's count).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct CountName<'a> {
    parts: [&'a str; 3],
    len: u8,
}

impl<'a> CountName<'a> {
    fn of(name: &[&'a str]) -> Self {
        let mut parts = [""; 3];
        parts[..name.len()].copy_from_slice(name);
        Self { parts, len: name.len() as u8 }
    }

    fn parts(&self) -> &[&'a str] {
        &self.parts[..usize::from(self.len)]
    }
}

/// Count deltas of one batch, keyed by the texts of the changes themselves
/// (a statement adds to several counts and names, and most of them are
/// already in the map: building the row keys once per row and batch rather
/// than per statement saved the projector an allocation per count).
#[derive(Default)]
struct Deltas<'a> {
    /// (tenant, day, source) → the counts every stored statement adds to,
    /// one map entry for all of them.
    statements: HashMap<(&'a TenantId, u32, &'a str), StatementCounts>,
    /// (tenant, day, source, count) → by how much.
    counts: HashMap<(&'a TenantId, u32, &'a str, CountName<'a>), u64>,
    /// (tenant, kind, name, IRI) → by how much.
    names: HashMap<(&'a TenantId, NameKind, &'a str, &'a str), u64>,
    /// (tenant, learner key, name) → by how much, and the learner.
    learners: HashMap<(&'a TenantId, &'a str, &'a str), (u64, &'a Learner)>,
}

impl<'a> Deltas<'a> {
    /// Room for the names and learners of `changes` statements (a few per
    /// source and day for the rest), so the maps do not grow while counting.
    fn with_capacity(changes: usize) -> Self {
        Self {
            statements: HashMap::with_capacity_and_hasher(4, Default::default()),
            counts: HashMap::with_capacity_and_hasher(64, Default::default()),
            names: HashMap::with_capacity_and_hasher(2 * changes, Default::default()),
            learners: HashMap::with_capacity_and_hasher(changes, Default::default()),
        }
    }

    fn count(&mut self, tenant: &'a TenantId, day: u32, source: &'a str, name: &[&'a str], by: u64) {
        *self.counts.entry((tenant, day, source, CountName::of(name))).or_default() += by;
    }

    /// The per-statement counts, added to the others by their names.
    fn fold_statements(&mut self) {
        for ((tenant, day, source), counts) in std::mem::take(&mut self.statements) {
            for (name, by) in counts.named() {
                if by > 0 {
                    self.count(tenant, day, source, &[name], by);
                }
            }
        }
    }
}

/// What the stored statements of one source and day add to its counts.
#[derive(Default)]
struct StatementCounts {
    accepted: u64,
    missing_registration: u64,
    missing_parent: u64,
    future_timestamps: u64,
    late_timestamps: u64,
    duplicates: u64,
}

impl StatementCounts {
    /// Each count with its name in the report.
    fn named(&self) -> [(&'static str, u64); 6] {
        [
            ("accepted", self.accepted),
            ("missing_registration", self.missing_registration),
            ("missing_parent", self.missing_parent),
            ("future_timestamps", self.future_timestamps),
            ("late_timestamps", self.late_timestamps),
            ("duplicates", self.duplicates),
        ]
    }
}

#[async_trait]
impl Downstream for Quality {
    fn name(&self) -> &'static str {
        "quality"
    }

    fn prepare(&self, statement: &Value, learner: Option<&Learner>) -> Option<super::Digest> {
        Some(Arc::new(PreparedDigest::of(statement, learner)))
    }

    fn digest(
        &self,
        statement: &Value,
        learner: Option<&Learner>,
        prepared: Option<&super::Digest>,
        stored_micros: i64,
    ) -> Option<super::Digest> {
        let prepared = prepared.and_then(|prepared| prepared.clone().downcast::<PreparedDigest>().ok());
        let prepared = prepared.unwrap_or_else(|| Arc::new(PreparedDigest::of(statement, learner)));
        Some(Arc::new(StoredDigest::of(prepared, statement, stored_micros)))
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
        let mut deltas = Deltas::with_capacity(changes.len());
        // Signatures written or dropped in this batch (the store shows the
        // state before it): the statement id that holds each, or none.
        let mut signatures: HashMap<Vec<u8>, Option<Uuid>> =
            HashMap::with_capacity_and_hasher(changes.len(), Default::default());
        let mut steps: NewSteps = HashMap::default();
        // Statements this batch removes from pattern groups, and the tenants' records.
        let mut gone_steps: BTreeSet<Uuid> = BTreeSet::new();
        let mut tenants: TenantRecords = HashMap::default();
        // Name counts this batch deletes (an erasure), and the learners forgotten.
        let mut forgotten_counts: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut forgotten_learners: BTreeSet<(TenantId, String)> = BTreeSet::new();
        for Changed { log_time_micros, change, .. } in changes {
            let day = u32::try_from(log_time_micros.div_euclid(DAY_MICROS)).unwrap_or(0);
            match change {
                Change::Stored { tenant, learner, digests, check, .. } => {
                    // Worked out by the statement projection while it had the statement.
                    let Some(stored) = super::digest_of::<StoredDigest>(digests, self.name()) else { continue };
                    let source = stored.prepared.source.as_deref().unwrap_or("");
                    if let Some(check) = check {
                        // What the statement plan found.
                        let (timestamp_micros, id) = (stored.timestamp_micros, stored.prepared.id.unwrap_or_default());
                        for group in &check.groups {
                            let entry = steps.entry((tenant, Cow::Borrowed(group))).or_insert_with(GroupSteps::new);
                            entry.added.push((timestamp_micros, id, &check.followed));
                            entry.earliest = entry.earliest.min(timestamp_micros);
                        }
                        for template in &check.followed {
                            deltas.count(tenant, day, source, &["template", "matched", template], 1);
                        }
                        for broken in &check.broken {
                            deltas.count(tenant, day, source, &["template", "matched", &broken.template], 1);
                            deltas.count(tenant, day, source, &["template", "invalid", &broken.template], 1);
                            deltas.count(tenant, day, source, &["rule", &broken.template, &broken.rule], 1);
                        }
                    }
                    let counts = deltas.statements.entry((tenant, day, source)).or_default();
                    counts.accepted += 1;
                    counts.missing_registration += u64::from(stored.prepared.missing_registration);
                    counts.missing_parent += u64::from(stored.prepared.missing_parent);
                    match stored.timestamp_offset {
                        Some(ahead) if ahead > FUTURE_SKEW_MICROS => counts.future_timestamps += 1,
                        Some(ahead) if ahead < -LATE_MICROS => counts.late_timestamps += 1,
                        _ => {}
                    }
                    let Some((id, signature)) = stored.signed else { continue };
                    let partition = signature_partition(tenant, &signature);
                    let holder = signature_holder(&signatures, store, &partition).await?;
                    match holder {
                        Some(first) if first != id => {
                            deltas.statements.entry((tenant, day, source)).or_default().duplicates += 1
                        }
                        Some(_) => {}
                        None => {
                            batch.put(Table::QualitySignatures, partition.clone(), Vec::new(), id.as_bytes().to_vec());
                            signatures.insert(partition, Some(id));
                        }
                    }
                    if let (Some(learner), Some(name)) = (learner, &stored.prepared.learner_name) {
                        deltas
                            .learners
                            .entry((tenant, learner.key.as_str(), name.as_str()))
                            .or_insert((0, learner))
                            .0 += 1;
                    }
                    for (kind, name, iri) in &stored.prepared.names {
                        *deltas.names.entry((tenant, *kind, name.as_str(), iri.as_str())).or_default() += 1;
                    }
                }
                Change::Removed { tenant, statement, learner } => {
                    // A voided, erased or expired statement no longer holds its
                    // signature (the signature is kept under the learner's
                    // pseudonymous key, and goes with the statement).
                    let Some(id) = statement_id(statement) else { continue };
                    // Nor a step in the pattern groups it was in: they are followed again without it.
                    let record = tenant_record(&mut tenants, store, tenant).await?;
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
                            // Its row, when it was written in the first layout
                            // (a batch's row loses it when the group is followed again).
                            let clustering = step_clustering(timestamp_micros, id);
                            batch.delete(Table::QualityPatternSteps, partition.clone(), clustering);
                            let entry = steps.entry((tenant, Cow::Owned(group))).or_insert_with(GroupSteps::new);
                            // Followed again even when it was broken.
                            entry.earliest = i64::MIN;
                            gone_steps.insert(id);
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
                    let hashes: BTreeSet<String> =
                        stored.into_iter().map(|(hash, _)| String::from_utf8_lossy(&hash).into_owned()).collect();
                    // Its names counted earlier in this batch are not written,
                    // nor those pending from earlier batches (merged below).
                    deltas.learners.retain(|(counted_tenant, learner, _), _| {
                        !(*counted_tenant == tenant && *learner == key.as_str())
                    });
                    forgotten_learners.insert((tenant.clone(), key.clone()));
                    for hash in hashes {
                        let counted = name_clustering(&hash, &key);
                        let counts = names_partition(tenant, NameKind::Learner);
                        batch.delete(Table::QualityNames, counts.clone(), counted.clone());
                        forgotten_counts.push((counts, counted));
                        batch.delete(Table::QualityNames, partition.clone(), hash.into_bytes());
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
        let first_offset = changes.first().map_or(0, |changed| changed.offset);
        let last_offset = changes.last().map_or(0, |changed| changed.offset);
        self.pending_rows.begin(partition, first_offset, last_offset);
        self.pending_steps.begin(partition, first_offset, last_offset);
        let mut groups = self.groups.begin(partition, first_offset, last_offset);
        self.follow_patterns(steps, &gone_steps, partition, first_offset, &mut tenants, &mut groups, store, batch)
            .await?;
        self.groups.end(partition, groups);
        // The counts as the last written batch left them (this projection
        // is their only writer), else as stored.
        let mut counts = self.counts.begin(partition, first_offset, last_offset);
        for forgotten in forgotten_counts {
            counts.forget(Table::QualityNames, &forgotten);
        }
        // The batch's name counts, per tenant.
        let mut pending: BTreeMap<&TenantId, Vec<PendingName>> = BTreeMap::new();
        deltas.fold_statements();
        for ((tenant, kind, name, iri), by) in deltas.names {
            let (name, iri) = (name.to_owned(), iri.to_owned());
            pending.entry(tenant).or_default().push(PendingName { kind, name, iri, by });
        }
        for ((tenant, _, name), (by, learner)) in deltas.learners {
            let hash = self.remember_learner_name(tenant, name, learner, batch);
            let (kind, iri) = (NameKind::Learner, learner.key.clone());
            pending.entry(tenant).or_default().push(PendingName { kind, name: hash, iri, by });
        }
        for (tenant, _) in &forgotten_learners {
            pending.entry(tenant).or_default();
        }
        let names = self.pending_names(pending, &forgotten_learners, partition, first_offset, store, batch).await?;
        let rows = deltas.counts.into_iter().map(|((tenant, day, source, name), by)| {
            ((counts_partition(tenant, day), count_clustering(source, name.parts())), by)
        });
        let rows: HashMap<CountKey, u64> = rows.fold(HashMap::default(), |mut rows, (key, by)| {
            *rows.entry(key).or_default() += by;
            rows
        });
        for (table, rows) in [(Table::QualityCounts, rows), (Table::QualityNames, names)] {
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
    /// Writes each tenant's name counts of a batch as one pending row; or,
    /// every [`MERGE_PENDING_NAMES`] batches (and when a learner was
    /// forgotten), adds the pending rows and the batch's counts up and
    /// returns them, to be added to the name rows, deleting the pending
    /// rows. Counts of forgotten learners in pending rows are dropped.
    async fn pending_names(
        &self,
        batch_names: BTreeMap<&TenantId, Vec<PendingName>>,
        forgotten: &BTreeSet<(TenantId, String)>,
        partition: u32,
        first_offset: u64,
        store: &dyn QueryStore,
        batch: &mut WriteBatch,
    ) -> Result<HashMap<CountKey, u64>, StoreError> {
        let mut merged: HashMap<CountKey, u64> = HashMap::default();
        for (tenant, names) in batch_names {
            let forgets = forgotten.iter().any(|(forgotten_tenant, _)| forgotten_tenant == tenant);
            let pending_partition = pending_names_partition(tenant);
            if !forgets && !self.pending_rows.due(partition, tenant, MERGE_PENDING_NAMES) {
                let clustering = pending_names_clustering(partition, first_offset);
                batch.put(Table::QualityNames, pending_partition, clustering, encode_pending_names(&names));
                self.pending_rows.written(partition, tenant);
                continue;
            }
            // Where the last merge left off: known in memory, or from its mark
            // (a process's first merge; the first after a batch applied again).
            // A mark at or after this batch's start is this batch's own, or a
            // later one's, applied before and now applied again: not relied on.
            let (marks, mark) = (pending_names_mark_partition(tenant), pending_names_mark_clustering(partition));
            if !self.pending_rows.knows_start(partition, tenant) {
                let row = store.get(Table::QualityNames, &marks, &mark).await?;
                if let Some((_, from)) = row.and_then(|value| decode_pending_names_mark(&mark, &value)) {
                    if from < first_offset {
                        self.pending_rows.start_at(partition, tenant, from);
                    }
                }
            }
            let range = self.pending_rows.range(partition, tenant, pending_names_clustering);
            let rows = store.scan(Table::QualityNames, &pending_partition, range, Order::Ascending, usize::MAX).await?;
            let mut add = |name: &PendingName| {
                let key = (names_partition(tenant, name.kind), name_clustering(&name.name, &name.iri));
                *merged.entry(key).or_default() += name.by;
            };
            for (clustering, value) in rows {
                for name in decode_pending_names(&value) {
                    let erased = name.kind == NameKind::Learner
                        && forgotten
                            .iter()
                            .any(|(forgotten_tenant, key)| forgotten_tenant == tenant && *key == name.iri);
                    if !erased {
                        add(&name);
                    }
                }
                batch.delete(Table::QualityNames, pending_partition.clone(), clustering);
            }
            names.iter().for_each(&mut add);
            batch.put(Table::QualityNames, marks, mark, pending_names_mark_value(first_offset));
            self.pending_rows.merged(partition, tenant, first_offset);
        }
        Ok(merged)
    }

    /// Keeps who a learner is under a name (by the name's hash, under the
    /// learner's key), sealed with its key, once per process. Returns the hash.
    fn remember_learner_name(
        &self,
        tenant: &TenantId,
        name: &str,
        learner: &Learner,
        batch: &mut WriteBatch,
    ) -> String {
        if let Some(hash) = self.learner_names.get(&LearnerName(tenant, &learner.key, name)) {
            return hash;
        }
        let hash = learner_name_hash(name);
        let who = serde_json::to_vec(&serde_json::json!({"name": name, "ifi": learner.ifi})).expect("json");
        let value = match &learner.subject {
            Some(subject) => sealed_row(&seal(&who, std::slice::from_ref(subject))),
            None if learner.key == learner.ifi => who,
            // A subject whose key this batch does not hold: written when it was.
            None => return hash,
        };
        batch.put(Table::QualityNames, learner_names_partition(tenant, &learner.key), hash.clone().into_bytes(), value);
        self.learner_names.insert((tenant.clone(), learner.key.clone(), name.to_owned()), hash.clone());
        hash
    }

    /// Checks each group a batch added statements to (or removed some from)
    /// against its profile's primary patterns: all its statements (those
    /// stored before and those of the batch, but those removed) in timestamp
    /// order. A group left without statements goes. `tenants`: the records
    /// this batch read already; `known`: the group rows as the last batches
    /// wrote them.
    ///
    /// Each group's steps of the batch go in one row of the group. The steps of a group that
    /// was broken and stays broken go in one pending row per tenant and
    /// batch; they are moved into their groups' rows every
    /// [`MERGE_PENDING_STEPS`] batches, on a process's first batch of the
    /// tenant, and whenever a group of the tenant is followed again (then
    /// every group's steps are in its rows when it is read).
    #[allow(clippy::too_many_arguments)]
    async fn follow_patterns<'a>(
        &self,
        steps: NewSteps<'a>,
        gone: &BTreeSet<Uuid>,
        partition: u32,
        first_offset: u64,
        tenants: &mut TenantRecords,
        known: &mut PartitionRows<Option<GroupProgress>>,
        store: &dyn QueryStore,
        batch: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        const GROUPS: Table = Table::QualityPatternGroups;
        const STEPS: Table = Table::QualityPatternSteps;
        let steps_row = step_batch_clustering(partition, first_offset);
        // Each group's progress, and whether it stays broken: it was broken
        // and the batch's statements all come (by timestamp) after its
        // latest one (the greedy match of the same beginning fails the
        // same way), so it is not matched again.
        let mut groups = Vec::with_capacity(steps.len());
        for ((tenant, group), GroupSteps { added, earliest }) in steps {
            let group_partition = steps_partition(tenant, &group);
            let key = (groups_partition(tenant), group_clustering(&group));
            // Known from an earlier batch (else read, and kept known).
            let (progress, was_known) = match known.get(GROUPS, &key) {
                Some(progress) => (progress, true),
                None => {
                    let row = store.get(GROUPS, &key.0, &key.1).await?;
                    (row.and_then(|bytes| serde_json::from_slice::<GroupProgress>(&bytes).ok()), false)
                }
            };
            let stays_broken =
                progress.as_ref().is_some_and(|known| known.progress == "broken" && earliest > known.last_micros);
            // The batch's steps of the group (a statement it also removed is left out).
            let added: Vec<Step> = added
                .into_iter()
                .filter(|(_, id, _)| !gone.contains(id))
                .map(|(timestamp_micros, id, followed)| Step { timestamp_micros, id, followed: followed.to_vec() })
                .collect();
            let partition = group_partition;
            groups.push(TouchedGroup { partition, tenant, group, added, key, progress, was_known, stays_broken });
        }
        // Per tenant: its pending steps moved into their groups' rows, or
        // the batch's steps of groups that stay broken added to them.
        let mut moved: HashMap<Vec<u8>, Vec<Step>> = HashMap::default();
        let mut merging: BTreeSet<&TenantId> = BTreeSet::new();
        let mut staying: BTreeMap<&TenantId, Vec<GroupStepList>> = BTreeMap::new();
        for touched in &mut groups {
            if touched.stays_broken {
                if !touched.added.is_empty() {
                    let pending = staying.entry(touched.tenant).or_default();
                    pending.push((touched.partition.clone(), std::mem::take(&mut touched.added)));
                }
            } else {
                merging.insert(touched.tenant);
            }
        }
        for tenant in staying.keys() {
            if self.pending_steps.due(partition, tenant, MERGE_PENDING_STEPS) {
                merging.insert(tenant);
            }
        }
        for tenant in &merging {
            let pending_partition = pending_steps_partition(tenant);
            let range = self.pending_steps.range(partition, tenant, step_batch_clustering);
            for (clustering, value) in
                store.scan(STEPS, &pending_partition, range, Order::Ascending, usize::MAX).await?
            {
                for (group_partition, steps) in decode_pending_steps(&value) {
                    let steps = steps.into_iter().filter(|step| !gone.contains(&step.id));
                    moved.entry(group_partition).or_default().extend(steps);
                }
                batch.delete(STEPS, pending_partition.clone(), clustering);
            }
            if let Some(staying) = staying.remove(tenant) {
                for (group_partition, steps) in staying {
                    moved.entry(group_partition).or_default().extend(steps);
                }
            }
            self.pending_steps.merged(partition, tenant, first_offset);
        }
        for (tenant, staying) in staying {
            if !staying.is_empty() {
                batch.put(STEPS, pending_steps_partition(tenant), steps_row.to_vec(), encode_pending_steps(&staying));
            }
            self.pending_steps.written(partition, tenant);
        }
        for touched in groups {
            let TouchedGroup { partition: group_partition, tenant, group, mut added, key, progress, .. } = touched;
            // The group's row of this batch: its steps, and those moved from pending rows.
            added.extend(moved.remove(&group_partition).unwrap_or_default());
            if !added.is_empty() {
                batch.put(STEPS, group_partition.clone(), steps_row.to_vec(), encode_steps(&added));
            }
            if touched.stays_broken {
                // Unchanged: kept known when it was read.
                if !touched.was_known {
                    known.set(GROUPS, key, progress);
                }
                continue;
            }
            let record = tenant_record(tenants, store, tenant).await?;
            let Some(record) = record else { continue };
            let all = (Bound::Unbounded, Bound::Unbounded);
            let stored = store.scan(STEPS, &group_partition, all, Order::Ascending, usize::MAX).await?;
            // The group's statements in timestamp order; rows that held a
            // removed statement are written again without it.
            let mut ordered: BTreeMap<(i64, Uuid), Vec<String>> = BTreeMap::new();
            for (clustering, value) in stored {
                let (kept, removed): (Vec<Step>, Vec<Step>) =
                    decode_steps(&clustering, &value).into_iter().partition(|step| !gone.contains(&step.id));
                if !removed.is_empty() && clustering != steps_row {
                    match kept.is_empty() {
                        true => batch.delete(STEPS, group_partition.clone(), clustering),
                        false => batch.put(STEPS, group_partition.clone(), clustering, encode_steps(&kept)),
                    }
                }
                ordered.extend(kept.into_iter().map(|step| ((step.timestamp_micros, step.id), step.followed)));
            }
            ordered.extend(added.into_iter().map(|step| ((step.timestamp_micros, step.id), step.followed)));
            if ordered.is_empty() {
                known.set(GROUPS, key.clone(), None);
                batch.delete(GROUPS, key.0, key.1);
                continue;
            }
            let last_micros = ordered.keys().next_back().map_or(0, |(micros, _)| *micros);
            let sequence: Vec<BTreeSet<String>> =
                ordered.into_values().map(|templates| templates.into_iter().collect()).collect();
            let profiles = self.plans.profiles(&record);
            let Some((pattern, followed)) = profiles.follow(&group.profile, &sequence) else {
                known.set(GROUPS, key, progress);
                continue;
            };
            let progress = match followed {
                xapi_profiles::Progress::Complete => "complete",
                xapi_profiles::Progress::InProgress => "in_progress",
                xapi_profiles::Progress::Broken => "broken",
            };
            let progress = GroupProgress { pattern, progress: progress.to_owned(), last_micros };
            let value = serde_json::to_vec(&progress).expect("json");
            known.set(GROUPS, key.clone(), Some(progress));
            batch.put(GROUPS, key.0, key.1, value);
        }
        // Pending steps of groups the batch did not touch.
        for (group_partition, steps) in moved {
            batch.put(STEPS, group_partition, steps_row.to_vec(), encode_steps(&steps));
        }
        Ok(())
    }
}

/// A pattern group a batch touched, as [`Quality::follow_patterns`] works on it.
struct TouchedGroup<'a> {
    /// The partition of its steps rows.
    partition: Vec<u8>,
    tenant: &'a TenantId,
    group: Cow<'a, PatternGroup>,
    /// The batch's steps of it (none when they went to the pending row).
    added: Vec<Step>,
    /// Its progress row's key.
    key: CountKey,
    /// Its progress as the last batch left it, if any.
    progress: Option<GroupProgress>,
    /// Its progress was known from an earlier batch (not read from the store).
    was_known: bool,
    /// It was broken, and the batch's statements all come after its latest one.
    stays_broken: bool,
}

/// The tenants' records a batch read, each once.
type TenantRecords = HashMap<TenantId, Option<Arc<crate::tenants::Tenant>>>;

/// A tenant's record: as this batch read it already, else from the store.
async fn tenant_record(
    tenants: &mut TenantRecords,
    store: &dyn QueryStore,
    tenant: &TenantId,
) -> Result<Option<Arc<crate::tenants::Tenant>>, StoreError> {
    if let Some(record) = tenants.get(tenant) {
        return Ok(record.clone());
    }
    let record = crate::tenants::load_tenant(store, tenant).await?.map(Arc::new);
    tenants.insert(tenant.clone(), record.clone());
    Ok(record)
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
/// two steps: what the statement as sent tells ([`PreparedDigest`], on the
/// read-ahead task), and what depends on when it was stored (by the
/// statement projection, on the projector's path).
#[derive(Debug)]
struct StoredDigest {
    /// What was worked out of the statement as sent.
    prepared: Arc<PreparedDigest>,
    /// Its timestamp, microseconds since the epoch (`stored` when it does not parse).
    timestamp_micros: i64,
    /// How far its timestamp is ahead of `stored`, microseconds.
    timestamp_offset: Option<i64>,
    /// Its id and event signature; `None` for a voiding statement (counted
    /// in no duplicate or name) or one without an id.
    signed: Option<(Uuid, EventSignature)>,
}

impl StoredDigest {
    /// Finishes `prepared` with the statement as stored (its `stored`, and
    /// the `timestamp` it was given when sent without one).
    fn of(prepared: Arc<PreparedDigest>, statement: &Value, stored_micros: i64) -> Self {
        let timestamp = statement.get("timestamp").and_then(Value::as_str);
        let timestamp_micros = timestamp
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
            .map(|time| time.timestamp_micros());
        let signed = prepared
            .signing
            .as_ref()
            .map(|(id, signing)| (*id, EventParts::finish(signing.clone(), timestamp.unwrap_or(""), timestamp_micros)));
        let timestamp_offset = timestamp_micros.map(|micros| micros - stored_micros);
        Self { prepared, timestamp_micros: timestamp_micros.unwrap_or(stored_micros), timestamp_offset, signed }
    }
}

/// What the quality projection works out of a statement as sent, before
/// the projector decides it.
#[derive(Debug)]
struct PreparedDigest {
    /// Its id.
    id: Option<Uuid>,
    /// The credential that sent it.
    source: Option<String>,
    /// It has no `context.registration`.
    missing_registration: bool,
    /// It names no parent or grouping activity.
    missing_parent: bool,
    /// Its id and its event signature's hash over all but the timestamp;
    /// `None` for a voiding statement (counted in no duplicate or name) or
    /// one without an id.
    signing: Option<(Uuid, Sha256)>,
    /// Its actor's name, normalised (when it has one and is signed).
    learner_name: Option<String>,
    /// The verb displays and activity names it uses (when it is signed).
    names: Vec<(NameKind, String, String)>,
}

impl PreparedDigest {
    fn of(statement: &Value, learner: Option<&Learner>) -> Self {
        // The members, in one walk over the statement's (a dozen) members.
        let top = TopMembers::of(statement);
        let (verb, object, context) = (top.verb, top.object, top.context);
        let verb_id = verb.and_then(|verb| verb.get("id")).and_then(Value::as_str);
        let counted = verb_id != Some(xapi::VOIDED_VERB);
        let id = top.id.and_then(Value::as_str).and_then(|id| Uuid::parse_str(id).ok());
        let signing = id
            .filter(|_| counted)
            .map(|id| (id, EventParts { actor: top.actor, verb_id, object, result: top.result }.prefix(learner)));
        let learner_name = match signing {
            Some(_) => top
                .actor
                .and_then(|actor| actor.get("name"))
                .and_then(Value::as_str)
                .map(normalise_name)
                .filter(|name| !name.is_empty()),
            None => None,
        };
        Self {
            id,
            source: top.authority.and_then(super::statements::source_of_authority),
            missing_registration: context.and_then(|context| context.get("registration")).is_none(),
            missing_parent: !has_parent(context),
            names: if signing.is_some() { names_of(verb, verb_id, object) } else { Vec::new() },
            signing,
            learner_name,
        }
    }
}

/// The top-level members of a statement the prepared digest reads.
#[derive(Default)]
struct TopMembers<'s> {
    id: Option<&'s Value>,
    actor: Option<&'s Value>,
    verb: Option<&'s Value>,
    object: Option<&'s Value>,
    result: Option<&'s Value>,
    context: Option<&'s Value>,
    authority: Option<&'s Value>,
}

impl<'s> TopMembers<'s> {
    fn of(statement: &'s Value) -> Self {
        let mut top = Self::default();
        let Some(members) = statement.as_object() else { return top };
        for (name, value) in members {
            let slot = match name.as_str() {
                "id" => &mut top.id,
                "actor" => &mut top.actor,
                "verb" => &mut top.verb,
                "object" => &mut top.object,
                "result" => &mut top.result,
                "context" => &mut top.context,
                "authority" => &mut top.authority,
                _ => continue,
            };
            *slot = Some(value);
        }
        top
    }
}

fn statement_id(statement: &Value) -> Option<Uuid> {
    statement.get("id").and_then(Value::as_str).and_then(|id| Uuid::parse_str(id).ok())
}

/// Whether the statement names its course or module: a parent or grouping context activity.
fn has_parent(context: Option<&Value>) -> bool {
    let lists = context.and_then(|context| context.get("contextActivities"));
    ["parent", "grouping"].iter().any(|list| {
        lists
            .and_then(|lists| lists.get(list))
            .is_some_and(|value| value.as_array().is_none_or(|items| !items.is_empty()))
    })
}

/// What makes two statements the same event: actor (its pseudonymous key
/// when it has one), verb, object, result and timestamp, as a SHA-256.
fn signature(statement: &Value, learner: Option<&Learner>) -> EventSignature {
    let timestamp = statement.get("timestamp").and_then(Value::as_str).unwrap_or("");
    let micros = chrono::DateTime::parse_from_rfc3339(timestamp).ok().map(|time| time.timestamp_micros());
    let parts = EventParts {
        actor: statement.get("actor"),
        verb_id: xapi::str_at(statement, &["verb", "id"]),
        object: statement.get("object"),
        result: statement.get("result"),
    };
    EventParts::finish(parts.prefix(learner), timestamp, micros)
}

/// The members of a statement its signature is made of.
struct EventParts<'s> {
    actor: Option<&'s Value>,
    verb_id: Option<&'s str>,
    object: Option<&'s Value>,
    result: Option<&'s Value>,
}

impl EventParts<'_> {
    /// The signature's hash fed with all but the timestamp: the SHA-256
    /// of the parts' canonical text, which [`EventParts::finish`] ends with
    /// the timestamp (the same bytes, so the same signatures, as when the
    /// whole text was hashed at once).
    fn prefix(&self, learner: Option<&Learner>) -> Sha256 {
        let mut text = Vec::with_capacity(512);
        match learner {
            Some(learner) => text.extend_from_slice(learner.key.as_bytes()),
            None => canonical_text(self.actor.unwrap_or(&Value::Null), &mut text),
        }
        text.push(0);
        text.extend_from_slice(self.verb_id.unwrap_or("").as_bytes());
        text.push(0);
        canonical_text(self.object.unwrap_or(&Value::Null), &mut text);
        text.push(0);
        canonical_text(self.result.unwrap_or(&Value::Null), &mut text);
        text.push(0);
        Sha256::new_with_prefix(&text)
    }

    /// The signature: `prefix` ended with the timestamp (its microseconds
    /// when it parses, else its text).
    fn finish(mut prefix: Sha256, timestamp: &str, timestamp_micros: Option<i64>) -> EventSignature {
        match timestamp_micros {
            Some(micros) => prefix.update(micros.to_be_bytes()),
            None => prefix.update(timestamp.as_bytes()),
        }
        EventSignature { timestamp_micros, hash: prefix.finalize().into() }
    }
}

/// Writes a JSON value with its object keys in sorted order.
fn canonical_text(value: &Value, text: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            text.push(b'{');
            let member = |text: &mut Vec<u8>, key: &String, value: &Value| {
                serde_json::to_writer(&mut *text, key).expect("a string serialises");
                text.push(b':');
                canonical_text(value, text);
                text.push(b',');
            };
            if map.keys().is_sorted() {
                for (key, value) in map {
                    member(text, key, value);
                }
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                for (key, value) in entries {
                    member(text, key, value);
                }
            }
            text.push(b'}');
        }
        Value::Array(items) => {
            text.push(b'[');
            for item in items {
                canonical_text(item, text);
                text.push(b',');
            }
            text.push(b']');
        }
        Value::String(string) => serde_json::to_writer(&mut *text, string).expect("a string serialises"),
        Value::Number(number) => {
            use std::io::Write as _;
            write!(text, "{number}").expect("a number writes to a vector");
        }
        Value::Bool(true) => text.extend_from_slice(b"true"),
        Value::Bool(false) => text.extend_from_slice(b"false"),
        Value::Null => text.extend_from_slice(b"null"),
    }
}

/// A name as drift compares it: trimmed, lower case.
pub fn normalise_name(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The verb displays and object activity names a statement uses, each with its IRI.
fn names_of(verb: Option<&Value>, verb_id: Option<&str>, object: Option<&Value>) -> Vec<(NameKind, String, String)> {
    let mut names = Vec::new();
    let mut add = |kind: NameKind, map: Option<&Value>, iri: Option<&str>| {
        let (Some(Value::Object(map)), Some(iri)) = (map, iri) else { return };
        // Distinct and in order (a sorted vector: a map has a language or two).
        let mut distinct: Vec<String> =
            map.values().filter_map(Value::as_str).map(normalise_name).filter(|n| !n.is_empty()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        names.extend(distinct.into_iter().map(|name| (kind, name, iri.to_owned())));
    };
    add(NameKind::Verb, verb.and_then(|verb| verb.get("display")), verb_id);
    let Some(object) = object else { return names };
    let object_is_activity = object.get("objectType").and_then(Value::as_str).is_none_or(|kind| kind == "Activity");
    if object_is_activity {
        let name = object.get("definition").and_then(|definition| definition.get("name"));
        add(NameKind::Activity, name, object.get("id").and_then(Value::as_str));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn micros(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text).expect("a timestamp").timestamp_micros()
    }

    fn hash(statement: &Value) -> [u8; 32] {
        signature(statement, None).hash
    }

    #[test]
    fn a_known_row_is_found_by_its_borrowed_key() {
        use std::hash::BuildHasher as _;
        let key: CountKey = (b"partition".to_vec(), b"clustering".to_vec());
        let hasher = foldhash::fast::FixedState::with_seed(7);
        let borrowed = KnownKey(Table::QualityCounts, (&key.0, &key.1));
        // Rows found through batches by this lookup: counts_are_known_after_their_batch_was_written_….
        assert_eq!(hasher.hash_one(&borrowed), hasher.hash_one(&(Table::QualityCounts, key)));
    }

    #[test]
    fn steps_rows_of_both_layouts_decode() {
        let id = Uuid::new_v4();
        // The first layout: a row per statement, its templates as JSON.
        let old = decode_steps(&step_clustering(-5, id), br#"["http://t/a"]"#);
        assert_eq!(old, vec![Step { timestamp_micros: -5, id, followed: vec!["http://t/a".to_owned()] }]);
        // A row per group and batch.
        let steps = vec![
            Step { timestamp_micros: 7, id, followed: vec![] },
            Step { timestamp_micros: 3, id: Uuid::new_v4(), followed: vec!["http://t/b".to_owned()] },
        ];
        assert_eq!(decode_steps(&step_batch_clustering(1, 42), &encode_steps(&steps)), steps);
    }

    #[test]
    fn signature_rows_sort_by_the_event_timestamp() {
        let tenant = TenantId::parse("t").unwrap();
        let at = |timestamp: &str, verb: &str| {
            let statement = json!({"actor": {"mbox": "mailto:a@x"}, "verb": {"id": verb},
                "object": {"id": "o"}, "timestamp": timestamp});
            signature_partition(&tenant, &signature(&statement, None))
        };
        // Whatever the rest of the event, a later timestamp sorts after:
        // a live ingest reads and writes at the end of the table.
        let mut keys =
            vec![at("2026-01-01T10:00:02Z", "a"), at("2026-01-01T10:00:01Z", "z"), at("2025-12-31T23:00:00Z", "m")];
        keys.sort();
        assert_eq!(
            keys,
            vec![at("2025-12-31T23:00:00Z", "m"), at("2026-01-01T10:00:01Z", "z"), at("2026-01-01T10:00:02Z", "a")]
        );
        // The same event, its timestamp written another way: the same row.
        assert_eq!(at("2026-01-01T10:00:01Z", "z"), at("2026-01-01T11:00:01+01:00", "z"));
        assert_ne!(at("2026-01-01T10:00:01Z", "z"), at("2026-01-01T10:00:01Z", "y"));
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

    /// How signatures were fed before [`canonical_text`] (a key set and a
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
    fn a_learner_name_is_found_by_its_borrowed_key() {
        let cache = quick_cache::sync::Cache::new(10);
        let tenant = TenantId::parse("t").unwrap();
        cache.insert((tenant.clone(), "key".to_owned(), "ann".to_owned()), "hash".to_owned());
        assert_eq!(cache.get(&LearnerName(&tenant, "key", "ann")), Some("hash".to_owned()));
        assert_eq!(cache.get(&LearnerName(&tenant, "key", "bob")), None);
        assert_eq!(cache.get(&LearnerName(&tenant, "other", "ann")), None);
    }

    #[test]
    fn counts_are_known_after_their_batch_was_written_and_forgotten_when_it_is_retried() {
        let counts = KnownRows::<u64>::default();
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
        third.forget(Table::QualityNames, &key);
        assert_eq!(third.get(Table::QualityNames, &key), None, "an erasure deleted it");
        // A batch that fails before it ends leaves nothing known.
        let _lost = counts.begin(0, 31, 40);
        assert_eq!(counts.begin(0, 41, 50).get(Table::QualityNames, &key), None);
        // Partitions apart.
        assert_eq!(counts.begin(1, 1, 10).get(Table::QualityNames, &key), None);
    }

    #[test]
    fn pending_rows_are_read_from_the_last_merge_written_and_whole_after_a_retry() {
        let rows = PendingRows::default();
        let tenant = TenantId::parse("t").unwrap();
        let from = |range: ClusteringRange| match range {
            (Bound::Included(start), Bound::Unbounded) => Some(start),
            (Bound::Unbounded, Bound::Unbounded) => None,
            other => panic!("{other:?}"),
        };
        let clustering = pending_names_clustering;
        // A new process knows nothing: it merges at once, reading every row.
        rows.begin(0, 1, 10);
        assert!(rows.due(0, &tenant, MERGE_PENDING_NAMES));
        assert_eq!(from(rows.range(0, &tenant, clustering)), None);
        rows.merged(0, &tenant, 1);
        // Until the next batch starts after it, the merge may not be written.
        assert_eq!(from(rows.range(0, &tenant, clustering)), None);
        rows.begin(0, 11, 20);
        assert_eq!(from(rows.range(0, &tenant, clustering)), Some(clustering(0, 1)));
        assert!(!rows.due(0, &tenant, MERGE_PENDING_NAMES));
        rows.written(0, &tenant);
        // Another partition's tenant, and another tenant, know nothing.
        assert_eq!(from(rows.range(1, &tenant, clustering)), None);
        assert_eq!(from(rows.range(0, &TenantId::parse("u").unwrap(), clustering)), None);
        // Later merges move the start on, once written.
        rows.begin(0, 21, 30);
        rows.merged(0, &tenant, 21);
        rows.begin(0, 31, 40);
        assert_eq!(from(rows.range(0, &tenant, clustering)), Some(clustering(0, 21)));
        rows.merged(0, &tenant, 31);
        // That batch is applied again (its write failed: the rows it merged
        // are still there), so the next merge reads every row.
        rows.begin(0, 31, 40);
        assert_eq!(from(rows.range(0, &tenant, clustering)), None);
        rows.merged(0, &tenant, 31);
        rows.begin(0, 41, 50);
        assert_eq!(from(rows.range(0, &tenant, clustering)), Some(clustering(0, 31)));
        // The start sorts before every row a later batch writes, and after the merged ones.
        assert!(clustering(0, 31) <= clustering(0, 41) && clustering(0, 30) < clustering(0, 31));
        assert!(clustering(0, 300) > clustering(0, 31), "offsets compare as numbers");
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
            let mut now = Vec::new();
            canonical_text(value, &mut now);
            let mut before = Sha256::new();
            canonical_as_before(value, &mut before);
            assert_eq!(Sha256::digest(&now), before.finalize(), "{value}");
        }
    }

    #[test]
    fn names_are_trimmed_lowercased_and_counted_once_per_statement() {
        let statement = json!({"verb": {"id": "http://v/watched", "display": {"en-US": " Watched ", "en-GB": "watched"}},
            "object": {"id": "http://a/1", "definition": {"name": {"en": "Intro Video"}}}});
        let names = names_of(statement.get("verb"), xapi::str_at(&statement, &["verb", "id"]), statement.get("object"));
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
        let stored_micros = micros("2026-01-01T09:00:00Z");
        let digest = StoredDigest::of(Arc::new(PreparedDigest::of(&statement, None)), &statement, stored_micros);
        assert_eq!(digest.signed, Some((id, signature(&statement, None))));
        assert_eq!(digest.prepared.learner_name.as_deref(), Some("ann"));
        assert_eq!(
            digest.prepared.names,
            names_of(statement.get("verb"), xapi::str_at(&statement, &["verb", "id"]), statement.get("object"))
        );
        assert!(digest.prepared.missing_registration && digest.prepared.missing_parent);
        assert_eq!(digest.timestamp_offset, Some(3_600_000_000), "an hour ahead of stored");
        assert_eq!(digest.timestamp_micros, micros("2026-01-01T10:00:00Z"));
        let voiding = json!({"id": Uuid::new_v4().to_string(), "actor": {"mbox": "mailto:a@x", "name": "Ann"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
            "object": {"objectType": "StatementRef", "id": id.to_string()},
            "context": {"registration": Uuid::new_v4().to_string()}});
        // Stored without a timestamp (as the statement projection never
        // stores one): its time is `stored`.
        let digest = StoredDigest::of(Arc::new(PreparedDigest::of(&voiding, None)), &voiding, stored_micros);
        assert_eq!((digest.timestamp_micros, digest.timestamp_offset), (stored_micros, None));
        let prepared = &digest.prepared;
        assert_eq!((&digest.signed, &prepared.learner_name, prepared.names.len()), (&None, &None, 0));
        assert!(!prepared.missing_registration && prepared.missing_parent);
    }

    #[test]
    fn a_digest_prepared_before_the_statement_was_stored_signs_it_as_stored() {
        // Prepared from the statement as sent (no timestamp, no stored),
        // finished with the statement as the projector stored it: its
        // signature is that of the stored statement, and with another
        // timestamp it would differ.
        let learner = Learner { key: "subject-key".into(), ifi: "mbox:mailto:a@x".into(), subject: None };
        let sent = json!({"id": Uuid::new_v4().to_string(), "actor": {"mbox": "mailto:a@x"},
            "verb": {"id": "http://v/watched"}, "object": {"id": "http://a/1"}, "result": {"success": true}});
        let prepared = Arc::new(PreparedDigest::of(&sent, Some(&learner)));
        let mut stored = sent.clone();
        stored["timestamp"] = json!("2026-01-01T10:00:00.123456Z");
        stored["stored"] = json!("2026-01-01T10:00:00.123456Z");
        let stored_micros = micros("2026-01-01T10:00:00.123456Z");
        let digest = StoredDigest::of(prepared.clone(), &stored, stored_micros);
        let (_, signed) = digest.signed.expect("signed");
        assert_eq!(signed, signature(&stored, Some(&learner)));
        assert_eq!(signed.timestamp_micros, Some(1_767_261_600_123_456));
        assert_eq!(digest.timestamp_offset, Some(0));
        stored["timestamp"] = json!("2026-01-01T10:00:01Z");
        assert_ne!(StoredDigest::of(prepared, &stored, stored_micros).signed.expect("signed").1, signed);
    }

    #[test]
    fn a_parent_or_grouping_activity_names_the_course() {
        assert!(!has_parent(json!({}).get("context")));
        assert!(!has_parent(json!({"context": {"contextActivities": {"parent": []}}}).get("context")));
        assert!(has_parent(json!({"context": {"contextActivities": {"grouping": [{"id": "c"}]}}}).get("context")));
        assert!(has_parent(json!({"context": {"contextActivities": {"parent": {"id": "c"}}}}).get("context")));
    }
}
