//! Keys of the data-quality tables (see `projection/quality`).

use std::ops::Bound;

use uuid::Uuid;

use super::keys::KeyBuilder;
use crate::plan::PatternGroup;
use crate::store::ClusteringRange;
use crate::tenant::TenantId;

/// Partition of a tenant's counts of one day (days since 1970-01-01, UTC, of the log time).
pub fn counts_partition(tenant: &TenantId, day: u32) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).u32(day).build()
}

/// Clustering key of a count: the source (credential key, empty when
/// unknown) and the count's name parts, e.g. `["rejected", "invalid"]`.
pub fn count_clustering(source: &str, name: &[&str]) -> Vec<u8> {
    name.iter().fold(KeyBuilder::new().str(source), |key, part| key.str(part)).build()
}

/// What makes two statements the same event: their timestamp, and a
/// SHA-256 of it with their actor, verb, object and result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventSignature {
    /// The timestamp (microseconds), when it reads as one.
    pub timestamp_micros: Option<i64>,
    /// The SHA-256.
    pub hash: [u8; 32],
}

/// Partition of the statement signature of a tenant: in timestamp order,
/// so that the signatures of a live ingest (timestamps about now) are
/// looked up and written where the last ones were, not all over the table.
pub fn signature_partition(tenant: &TenantId, signature: &EventSignature) -> Vec<u8> {
    let time = signature.timestamp_micros.map_or(0, |micros| (micros as u64) ^ (1 << 63));
    KeyBuilder::new().str(tenant.as_str()).u64(time).bytes(&signature.hash).build()
}

/// Partition of the statements of a pattern group.
pub fn steps_partition(tenant: &TenantId, group: &PatternGroup) -> Vec<u8> {
    let subregistration = group.subregistration.as_deref().unwrap_or("");
    KeyBuilder::new().str(tenant.as_str()).str(&group.profile).str(&group.registration).str(subregistration).build()
}

/// Clustering key of the steps one projector batch added to a pattern
/// group: its log partition and first offset (a batch applied again writes
/// the same row). A row per group and batch, not per statement: a group
/// is followed from all its rows, in timestamp order.
pub fn step_batch_clustering(partition: u32, offset: u64) -> Vec<u8> {
    KeyBuilder::new().u32(partition).u64(offset).build()
}

/// A statement of a pattern group: when it happened, and the templates it followed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// Its timestamp (microseconds).
    pub timestamp_micros: i64,
    /// Its id.
    pub id: Uuid,
    /// The templates it followed (none: it breaks every pattern).
    pub followed: Vec<String>,
}

/// A steps row's value.
pub fn encode_steps(steps: &[Step]) -> Vec<u8> {
    postcard::to_allocvec(steps).expect("steps encode")
}

/// The steps of a row: several for a batch's row ([`step_batch_clustering`]),
/// one for a row of the first layout (clustering [`step_clustering`], a
/// JSON list of templates). None when it does not decode.
pub fn decode_steps(clustering: &[u8], value: &[u8]) -> Vec<Step> {
    if clustering.len() == STEP_CLUSTERING_LEN {
        let Some(id) = clustering.get(8..).and_then(|bytes| Uuid::from_slice(bytes).ok()) else { return Vec::new() };
        let followed = serde_json::from_slice(value).unwrap_or_default();
        return vec![Step { timestamp_micros: step_micros(clustering), id, followed }];
    }
    postcard::from_bytes(value).unwrap_or_default()
}

/// Partition of a tenant's steps not yet in their groups' rows: the steps
/// of groups that were broken and stay broken (their later statements
/// cannot mend them), a row per projector batch (clustering
/// [`step_batch_clustering`]), moved into the groups' rows every few
/// batches and before a group of the tenant is followed again.
pub fn pending_steps_partition(tenant: &TenantId) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str("pending-steps").build()
}

/// The steps of one group, after its partition ([`steps_partition`]).
pub type GroupStepList = (Vec<u8>, Vec<Step>);

/// A pending steps row's value: each group's partition with its steps.
pub fn encode_pending_steps(steps: &[GroupStepList]) -> Vec<u8> {
    postcard::to_allocvec(steps).expect("pending steps encode")
}

/// A pending steps row's steps by group (none when it does not decode).
pub fn decode_pending_steps(bytes: &[u8]) -> Vec<GroupStepList> {
    postcard::from_bytes(bytes).unwrap_or_default()
}

/// Length of a [`step_clustering`] key.
const STEP_CLUSTERING_LEN: usize = 24;

/// Clustering key of a statement of a pattern group in the first layout
/// (a row per statement): in timestamp order.
pub fn step_clustering(timestamp_micros: i64, id: Uuid) -> Vec<u8> {
    // Offset so that times before 1970 sort first.
    KeyBuilder::new().u64((timestamp_micros as u64) ^ (1 << 63)).bytes(id.as_bytes()).build()
}

/// The timestamp of a [`step_clustering`] key (microseconds).
pub fn step_micros(clustering: &[u8]) -> i64 {
    let bytes: [u8; 8] = clustering.get(..8).and_then(|b| b.try_into().ok()).unwrap_or([0; 8]);
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// Partition of a tenant's pattern groups.
pub fn groups_partition(tenant: &TenantId) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).build()
}

/// Clustering key of a pattern group.
pub fn group_clustering(group: &PatternGroup) -> Vec<u8> {
    let subregistration = group.subregistration.as_deref().unwrap_or("");
    KeyBuilder::new().str(&group.profile).str(&group.registration).str(subregistration).build()
}

/// What a drift row names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum NameKind {
    /// A verb display.
    Verb,
    /// An activity definition name.
    Activity,
    /// A learner's name (`actor.name`), kept by a hash of it and the learner's key.
    Learner,
}

impl NameKind {
    fn tag(self) -> &'static str {
        match self {
            NameKind::Verb => "verb",
            NameKind::Activity => "activity",
            NameKind::Learner => "learner",
        }
    }
}

/// Partition of a tenant's names of one kind.
pub fn names_partition(tenant: &TenantId, kind: NameKind) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str(kind.tag()).build()
}

/// Partition of who a learner is under each name it used (clustering: the
/// name's hash; value: the name and identifier, sealed with the learner's
/// key): what the report shows, and what an erasure removes.
pub fn learner_names_partition(tenant: &TenantId, learner: &str) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str("learner-of").str(learner).build()
}

/// What a learner's name is kept under: the hex of the start of its
/// SHA-256 (no name in clear in a key).
pub fn learner_name_hash(name: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(name.as_bytes())[..16])
}

/// Clustering key of a (normalised name, IRI) pair: rows of one name are adjacent.
pub fn name_clustering(name: &str, iri: &str) -> Vec<u8> {
    KeyBuilder::new().str(name).str(iri).build()
}

/// Partition of a tenant's name counts not yet added to their rows: a row
/// per projector batch that counted names (clustering:
/// [`pending_names_clustering`]), added to the rows and deleted every few
/// batches ([`PendingName`]).
pub fn pending_names_partition(tenant: &TenantId) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str("pending").build()
}

/// Clustering key of a batch's pending name counts: its log partition and
/// first offset (a batch applied again writes the same row).
pub fn pending_names_clustering(partition: u32, offset: u64) -> Vec<u8> {
    KeyBuilder::new().u32(partition).u64(offset).build()
}

/// Partition of where a tenant's pending name rows were last merged: a row
/// per log partition ([`pending_names_mark_clustering`]), written with each
/// merge, whose value is the merging batch's first offset (big-endian): no
/// pending row of that log partition is before it. A process that starts
/// reads from there, not from the partition's start, which would step over
/// every row merged and deleted before.
pub fn pending_names_mark_partition(tenant: &TenantId) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str("pending-merged").build()
}

/// Clustering key of a log partition's mark ([`pending_names_mark_partition`]).
pub fn pending_names_mark_clustering(partition: u32) -> Vec<u8> {
    KeyBuilder::new().u32(partition).build()
}

/// The clustering ranges of a tenant's pending name rows
/// ([`pending_names_partition`]) that can hold a row, given its marks
/// (log partition, offset of the last merge): every range but those of the
/// rows each log partition's last merge deleted.
pub fn pending_names_ranges(marks: &[(u32, u64)]) -> Vec<ClusteringRange> {
    let mut marks = marks.to_vec();
    marks.sort_unstable();
    let mut ranges = Vec::with_capacity(marks.len() + 1);
    let mut start = Bound::Unbounded;
    for (partition, offset) in marks {
        ranges.push((start, Bound::Excluded(pending_names_clustering(partition, 0))));
        start = Bound::Included(pending_names_clustering(partition, offset));
    }
    ranges.push((start, Bound::Unbounded));
    ranges
}

/// A mark row's value: the offset of the batch that merged.
pub fn pending_names_mark_value(offset: u64) -> Vec<u8> {
    offset.to_be_bytes().to_vec()
}

/// A mark row's log partition and offset ([`pending_names_mark_partition`]);
/// none when the row does not read as one.
pub fn decode_pending_names_mark(clustering: &[u8], value: &[u8]) -> Option<(u32, u64)> {
    Some((u32::from_be_bytes(clustering.try_into().ok()?), u64::from_be_bytes(value.try_into().ok()?)))
}

/// A name count a batch added, not yet in its row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingName {
    /// What it names.
    pub kind: NameKind,
    /// The normalised name (a learner's: its hash, [`learner_name_hash`]).
    pub name: String,
    /// The IRI it was used with (a learner's: the learner's key).
    pub iri: String,
    /// By how much the count grew.
    pub by: u64,
}

/// A pending-names row's value.
pub fn encode_pending_names(names: &[PendingName]) -> Vec<u8> {
    postcard::to_allocvec(names).expect("pending names encode")
}

/// A pending-names row's names (none when it does not decode).
pub fn decode_pending_names(bytes: &[u8]) -> Vec<PendingName> {
    postcard::from_bytes(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_every_pending_row_but_those_each_partitions_last_merge_deleted() {
        use std::ops::RangeBounds;
        // Log partition 0 last merged at offset 10, partition 2 at 50; partition 1 has no mark.
        let ranges = pending_names_ranges(&[(2, 50), (0, 10)]);
        let read = |partition: u32, offset: u64| {
            let row = pending_names_clustering(partition, offset);
            ranges.iter().filter(|range| range.contains(&row)).count()
        };
        for (partition, offset) in [(0, 0), (0, 9), (2, 0), (2, 49)] {
            assert_eq!(read(partition, offset), 0, "({partition}, {offset}) was merged");
        }
        for (partition, offset) in [(0, 10), (0, 300), (1, 0), (1, u64::MAX), (2, 50), (3, 0), (u32::MAX, 7)] {
            assert_eq!(read(partition, offset), 1, "({partition}, {offset}) is read once");
        }
        assert_eq!(pending_names_ranges(&[]), [(Bound::Unbounded, Bound::Unbounded)], "no mark: all");
    }
}
