//! Keys of the analytics tables (see `projection/analytics`).

use uuid::Uuid;

use super::keys::KeyBuilder;
use crate::projection::analytics::fact::Dimension;
use crate::tenant::TenantId;

/// A rollup tier: how long a period is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// A day (UTC); the period is days since 1970-01-01.
    Day,
    /// A calendar month; the period is year × 12 + month (0–11).
    Month,
    /// All of a tenant's days, as measure values (final, not mergeable:
    /// recomputed from the months); the period is 0.
    Whole,
}

impl Tier {
    fn tag(self) -> u8 {
        match self {
            Tier::Day => 0,
            Tier::Month => 1,
            Tier::Whole => 2,
        }
    }
}

/// Partition of a tenant's facts of one day.
pub fn facts_partition(tenant: &TenantId, day: u32) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).u32(day).build()
}

/// Clustering key of a fact: its statement id.
pub fn fact_clustering(id: Uuid) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// Partition of one learner's list of facts.
pub fn learner_partition(tenant: &TenantId, learner: &str) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str(learner).build()
}

/// Clustering key of a learner's fact: its day and statement id.
pub fn learner_fact_clustering(day: u32, id: Uuid) -> Vec<u8> {
    KeyBuilder::new().u32(day).bytes(id.as_bytes()).build()
}

/// The day and statement id of a learner's fact.
pub fn parse_learner_fact_clustering(bytes: &[u8]) -> Option<(u32, Uuid)> {
    let day = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    Some((day, Uuid::from_slice(bytes.get(4..20)?).ok()?))
}

/// Partition of a tenant's rollups of one period.
pub fn rollup_partition(tenant: &TenantId, tier: Tier, period: u32) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).bytes(&[tier.tag()]).u32(period).build()
}

/// Clustering key of a group's rollup: dimension name, then value.
pub fn rollup_clustering(dimension: &str, value: &str) -> Vec<u8> {
    KeyBuilder::new().str(dimension).str(value).build()
}

/// The clustering keys of a dimension's rollups start with this.
pub fn rollup_dimension_prefix(dimension: &str) -> Vec<u8> {
    KeyBuilder::new().str(dimension).build()
}

/// The dimension and value of a rollup clustering key.
pub fn parse_rollup_clustering(bytes: &[u8]) -> Option<(String, String)> {
    let mut parts = super::keys::decode_strings(bytes)?.into_iter();
    Some((parts.next()?, parts.next()?))
}

/// Partition of the row saying who a learner key stands for.
pub fn learner_identity_partition(tenant: &TenantId, learner: &str) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str(learner).build()
}

/// Partition of the analytics outbox of a log partition.
pub fn outbox_partition(log_partition: u32) -> Vec<u8> {
    KeyBuilder::new().u32(log_partition).build()
}

/// Clustering key of an outbox entry: the offset of the log record that
/// made it, then its place among that record's changes (log order).
pub fn outbox_clustering(offset: u64, seq: u32) -> Vec<u8> {
    KeyBuilder::new().u64(offset).u32(seq).build()
}

/// Meta partition of the analytics builder of a log partition: the outbox
/// entry it applied last and that entry's log time.
pub fn builder_position_partition(log_partition: u32) -> Vec<u8> {
    KeyBuilder::new().str("analytics-builder").u32(log_partition).build()
}

/// Meta partition of the last outbox entry the projector of a log partition
/// wrote: the builder has caught up when its position reaches it.
pub fn outbox_head_partition(log_partition: u32) -> Vec<u8> {
    KeyBuilder::new().str("analytics-outbox-head").u32(log_partition).build()
}

/// Meta partition of whether any whole-time value of a log partition is
/// stale (1) or none is (0): read instead of scanning the stale marks.
pub fn stale_flag_partition(log_partition: u32) -> Vec<u8> {
    KeyBuilder::new().str("analytics-stale-flag").u32(log_partition).build()
}

/// Meta partition of the groups whose whole-time values are stale, of the
/// builder of a log partition.
pub fn stale_partition(log_partition: u32) -> Vec<u8> {
    KeyBuilder::new().str("analytics-stale").u32(log_partition).build()
}

/// Clustering key of a stale group: tenant, dimension name, value.
pub fn stale_clustering(tenant: &TenantId, dimension: Dimension, value: &str) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str(dimension.name()).str(value).build()
}

/// The tenant, dimension and value of a stale group's key.
pub fn parse_stale_clustering(bytes: &[u8]) -> Option<(TenantId, Dimension, String)> {
    let mut parts = super::keys::decode_strings(bytes)?.into_iter();
    let tenant = TenantId::parse(&parts.next()?).ok()?;
    let dimension = Dimension::parse(&parts.next()?)?;
    Some((tenant, dimension, parts.next()?))
}

/// Meta partition of the log time up to which the whole-time values of a
/// log partition's builder are complete.
pub fn whole_position_partition(log_partition: u32) -> Vec<u8> {
    KeyBuilder::new().str("analytics-whole").u32(log_partition).build()
}

/// Meta partition of a tenant's analytics: the days it has facts for.
pub fn analytics_meta_partition(tenant: &TenantId) -> Vec<u8> {
    KeyBuilder::new().str("analytics").str(tenant.as_str()).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back() {
        let id = Uuid::new_v4();
        assert_eq!(parse_learner_fact_clustering(&learner_fact_clustering(20_000, id)), Some((20_000, id)));
        let key = rollup_clustering("verb", "http://example.com/v\u{0}x");
        assert!(key.starts_with(&rollup_dimension_prefix("verb")));
        assert_eq!(parse_rollup_clustering(&key), Some(("verb".into(), "http://example.com/v\u{0}x".into())));
        let tenant = TenantId::parse("t").unwrap();
        assert_ne!(rollup_partition(&tenant, Tier::Day, 5), rollup_partition(&tenant, Tier::Month, 5));
    }
}
