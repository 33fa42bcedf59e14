//! Keys of the data-quality tables (see `projection/quality`).

use super::keys::KeyBuilder;
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

/// Partition of the statement signature of a tenant (a SHA-256 of what
/// makes two statements the same event).
pub fn signature_partition(tenant: &TenantId, signature: &[u8; 32]) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).bytes(signature).build()
}

/// What a drift row names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// A verb display.
    Verb,
    /// An activity definition name.
    Activity,
}

impl NameKind {
    fn tag(self) -> &'static str {
        match self {
            NameKind::Verb => "verb",
            NameKind::Activity => "activity",
        }
    }
}

/// Partition of a tenant's names of one kind.
pub fn names_partition(tenant: &TenantId, kind: NameKind) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str(kind.tag()).build()
}

/// Clustering key of a (normalised name, IRI) pair: rows of one name are adjacent.
pub fn name_clustering(name: &str, iri: &str) -> Vec<u8> {
    KeyBuilder::new().str(name).str(iri).build()
}
