//! Keys of the analytics tables (see `projection/analytics`).

use uuid::Uuid;

use super::keys::{decode_string, KeyBuilder};
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
    /// An ISO week (Monday to Sunday), kept for all statements only; the
    /// period is its Monday (days since 1970-01-01).
    Week,
    /// The measure values of all statements per day, week and month (what a
    /// question by time reads without merging sketches); the period is 0.
    Values,
    /// The first groups of every dimension by one measure's whole-time
    /// value (a list per dimension); the period is the measure's place in
    /// `Measure::ALL`. (Tag 5 held a row per group and measure in an
    /// earlier version; `lrs replay` removes them.)
    Top,
}

impl Tier {
    fn tag(self) -> u8 {
        match self {
            Tier::Day => 0,
            Tier::Month => 1,
            Tier::Whole => 2,
            Tier::Week => 3,
            Tier::Values => 4,
            Tier::Top => 6,
        }
    }

    fn of_tag(tag: u8) -> Option<Self> {
        [Tier::Day, Tier::Month, Tier::Whole, Tier::Week, Tier::Values, Tier::Top].into_iter().find(|t| t.tag() == tag)
    }
}

/// The Monday of the ISO week of a day (days since 1970-01-01, a Thursday).
pub fn week_of_day(day: u32) -> u32 {
    day - (day + 3) % 7
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

/// The clustering range of every rollup (or whole-time values row) of a dimension.
pub fn rollup_dimension_range(dimension: &str) -> (std::ops::Bound<Vec<u8>>, std::ops::Bound<Vec<u8>>) {
    let prefix = rollup_dimension_prefix(dimension);
    let mut end = prefix.clone();
    end.push(0xFF);
    (std::ops::Bound::Included(prefix), std::ops::Bound::Excluded(end))
}

/// Clustering key of the measure values of all statements of one period
/// (a day, an ISO week by its Monday, or a month) in the values partition.
pub fn values_clustering(tier: Tier, period: u32) -> Vec<u8> {
    KeyBuilder::new().bytes(&[tier.tag()]).u32(period).build()
}

/// The period of a values clustering key of `tier`.
pub fn parse_values_clustering(tier: Tier, bytes: &[u8]) -> Option<u32> {
    match bytes {
        [tag, period @ ..] if *tag == tier.tag() => Some(u32::from_be_bytes(period.try_into().ok()?)),
        _ => None,
    }
}

/// The dimension and value of a rollup clustering key, a group's row or
/// one of its deltas.
pub fn parse_rollup_clustering(bytes: &[u8]) -> Option<(String, String)> {
    let (dimension, rest) = decode_string(bytes)?;
    let (value, rest) = decode_string(rest)?;
    matches!(rest.len(), 0 | DELTA_VERSION_BYTES).then_some((dimension, value))
}

/// The bytes of a builder pass's version: its log partition (4) and the
/// clustering key of the last outbox entry it applied (12).
pub const DELTA_VERSION_BYTES: usize = 16;

/// Clustering key of a delta of a group's rollup (what one builder pass
/// added to it): the group's key, then the pass's version. It sorts after
/// the group's own row and before the next group's.
pub fn rollup_delta_clustering(dimension: &str, value: &str, version: &[u8]) -> Vec<u8> {
    KeyBuilder::new().str(dimension).str(value).bytes(version).build()
}

/// The clustering range of a group's rollup and its deltas.
pub fn rollup_group_range(dimension: &str, value: &str) -> (std::ops::Bound<Vec<u8>>, std::ops::Bound<Vec<u8>>) {
    let row = rollup_clustering(dimension, value);
    // A string part ends with 0x00 0x01, which no byte inside one can follow.
    let mut end = row.clone();
    *end.last_mut().expect("a string part ends the key") = 2;
    (std::ops::Bound::Included(row), std::ops::Bound::Excluded(end))
}

/// Meta partition of the deltas that a log partition's builder wrote and
/// has not folded into their groups' rows yet (clustering: see
/// [`delta_clustering`]; no value).
pub fn deltas_partition(log_partition: u32) -> Vec<u8> {
    KeyBuilder::new().str("analytics-deltas").u32(log_partition).build()
}

/// Clustering key of a delta in [`deltas_partition`]: the rollup's tenant,
/// tier, period, dimension name and value, then the pass's version.
pub fn delta_clustering(
    tenant: &TenantId,
    tier: Tier,
    period: u32,
    dimension: &str,
    value: &str,
    version: &[u8],
) -> Vec<u8> {
    let key = KeyBuilder::new().str(tenant.as_str()).bytes(&[tier.tag()]).u32(period);
    key.str(dimension).str(value).bytes(version).build()
}

/// A delta's rollup (tenant, tier, period, dimension, value) and version,
/// from its key in [`deltas_partition`].
pub fn parse_delta_clustering(bytes: &[u8]) -> Option<(TenantId, Tier, u32, Dimension, String, Vec<u8>)> {
    let (tenant, rest) = decode_string(bytes)?;
    let (tag, rest) = rest.split_first()?;
    let period = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let (dimension, rest) = decode_string(&rest[4..])?;
    let (value, version) = decode_string(rest)?;
    if version.len() != DELTA_VERSION_BYTES {
        return None;
    }
    let tenant = TenantId::parse(&tenant).ok()?;
    Some((tenant, Tier::of_tag(*tag)?, period, Dimension::parse(&dimension)?, value, version.to_vec()))
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
/// made it, then its place among that record's changes (log order). A row
/// of several entries is keyed by its last.
pub fn outbox_clustering(offset: u64, seq: u32) -> Vec<u8> {
    KeyBuilder::new().u64(offset).u32(seq).build()
}

/// The record offset and place of an outbox clustering key.
pub fn parse_outbox_clustering(clustering: &[u8]) -> Option<(u64, u32)> {
    let offset = u64::from_be_bytes(clustering.get(..8)?.try_into().ok()?);
    let seq = u32::from_be_bytes(clustering.get(8..12)?.try_into().ok()?);
    (clustering.len() == 12).then_some((offset, seq))
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

/// Meta partition of a tenant's day versions: per day (clustering: the day,
/// big-endian), what the builder wrote when it last changed the day's facts
/// (a reader's copy of a day's facts stands while the version does).
pub fn day_versions_partition(tenant: &TenantId) -> Vec<u8> {
    KeyBuilder::new().str("analytics-days").str(tenant.as_str()).build()
}

/// Clustering key of a day's version.
pub fn day_version_clustering(day: u32) -> Vec<u8> {
    day.to_be_bytes().to_vec()
}

/// Meta partition of what the builder wrote when it last forgot one of a
/// tenant's learners (a reader drops what it holds of the tenant when it changes).
pub fn forgotten_partition(tenant: &TenantId) -> Vec<u8> {
    KeyBuilder::new().str("analytics-forgotten").str(tenant.as_str()).build()
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
        assert_eq!(parse_values_clustering(Tier::Week, &values_clustering(Tier::Week, 20_513)), Some(20_513));
        assert_eq!(parse_values_clustering(Tier::Day, &values_clustering(Tier::Week, 20_513)), None);
    }

    #[test]
    fn a_groups_deltas_lie_in_its_range_and_no_other_groups_do() {
        let version = [7u8; DELTA_VERSION_BYTES];
        let (low, high) = rollup_group_range("verb", "http://example.com/v");
        let inside = |key: &Vec<u8>| match (&low, &high) {
            (std::ops::Bound::Included(low), std::ops::Bound::Excluded(high)) => key >= low && key < high,
            _ => unreachable!(),
        };
        let delta = rollup_delta_clustering("verb", "http://example.com/v", &version);
        assert!(inside(&rollup_clustering("verb", "http://example.com/v")) && inside(&delta));
        assert_eq!(parse_rollup_clustering(&delta), Some(("verb".into(), "http://example.com/v".into())));
        for other in ["http://example.com/v2", "http://example.com/v\u{0}", "http://example.com/", ""] {
            assert!(!inside(&rollup_clustering("verb", other)), "{other}");
            assert!(!inside(&rollup_delta_clustering("verb", other, &version)), "{other}");
        }
        assert!(!inside(&rollup_clustering("verbs", "http://example.com/v")));
        assert_eq!(parse_rollup_clustering(&[rollup_clustering("verb", "v"), vec![1, 2]].concat()), None);
        let tenant = TenantId::parse("t").unwrap();
        let key = delta_clustering(&tenant, Tier::Week, 20_514, "verb", "v\u{0}w", &version);
        let parsed = parse_delta_clustering(&key).unwrap();
        assert_eq!(parsed, (tenant, Tier::Week, 20_514, Dimension::Verb, "v\u{0}w".to_owned(), version.to_vec()));
    }

    #[test]
    fn a_week_starts_on_its_monday() {
        // 2026-03-02 is a Monday (day 20,514); 1970-01-05 was the first Monday.
        for day in 20_514..20_521 {
            assert_eq!(week_of_day(day), 20_514);
        }
        assert_eq!(week_of_day(20_513), 20_507);
        assert_eq!(week_of_day(4), 4);
    }
}
