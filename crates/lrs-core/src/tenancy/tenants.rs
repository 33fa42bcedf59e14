//! Tenants: isolated LRSs on one deployment, with their limits.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::keys::KeyBuilder;
use crate::store::{QueryStore, StoreError, Table};
use crate::tenant::TenantId;

/// A tenant's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// A display name.
    #[serde(default)]
    pub name: String,
    /// Suspended tenants' credentials do not authenticate.
    #[serde(default)]
    pub suspended: bool,
    /// Deleted tenants are gone for good.
    #[serde(default)]
    pub deleted: bool,
    /// Requests per second its credentials may make (none: unlimited).
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    /// Statements stored longer ago than this many seconds disappear (none: kept).
    #[serde(default)]
    pub retention_seconds: Option<u64>,
    /// Grows with every change of the record, so that a process following the
    /// directory keeps the newest one whatever order copies arrive in.
    #[serde(default)]
    pub revision: u64,
    /// Its statement plan: the xAPI Profiles its statements are checked against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<TenantProfile>,
    /// What happens to a statement that breaks a template it matches.
    #[serde(default)]
    pub enforcement: Enforcement,
    /// The enforcement of particular credentials (by key), over the tenant's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credential_enforcement: BTreeMap<String, Enforcement>,
    /// Where its statements are sent on to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwarders: Vec<crate::forwarders::Forwarder>,
}

/// A profile a tenant loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantProfile {
    /// The profile's IRI.
    pub id: String,
    /// Whether it applies to every statement of the tenant, not only to
    /// those naming one of its versions among their category activities.
    #[serde(default)]
    pub applies_to_all: bool,
    /// The JSON-LD document as the operator sent it.
    pub document: String,
    /// When it was loaded, microseconds since the epoch.
    pub loaded_micros: i64,
}

/// What the gateway does with a statement that breaks a template it matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// Nothing is checked.
    Off,
    /// The statement is stored and the failure counted in the quality report.
    #[default]
    Report,
    /// The batch is refused with 400.
    Reject,
}

impl Enforcement {
    /// Reads `off`, `report` or `reject`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "off" => Some(Enforcement::Off),
            "report" => Some(Enforcement::Report),
            "reject" => Some(Enforcement::Reject),
            _ => None,
        }
    }
}

impl Tenant {
    /// A new, open tenant.
    pub fn new(id: TenantId, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            suspended: false,
            deleted: false,
            requests_per_second: None,
            retention_seconds: None,
            revision: 0,
            profiles: Vec::new(),
            enforcement: Enforcement::default(),
            credential_enforcement: BTreeMap::new(),
            forwarders: Vec::new(),
        }
    }

    /// The `stored` time (microseconds) before which its statements are past retention, at `now`.
    pub fn retention_cutoff(&self, now_micros: i64) -> Option<u64> {
        let seconds = self.retention_seconds?;
        let cutoff = now_micros.saturating_sub(i64::try_from(seconds.saturating_mul(1_000_000)).unwrap_or(i64::MAX));
        Some(u64::try_from(cutoff).unwrap_or(0))
    }

    /// The enforcement for statements sent with a credential (or a token
    /// subject) of this key.
    pub fn enforcement_for(&self, key: Option<&str>) -> Enforcement {
        key.and_then(|key| self.credential_enforcement.get(key).copied()).unwrap_or(self.enforcement)
    }

    /// True when its credentials may authenticate.
    pub fn is_open(&self) -> bool {
        !self.suspended && !self.deleted
    }
}

/// Partition key of a tenant row.
pub fn tenant_partition(tenant: &TenantId) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).build()
}

/// Tenant records this process parsed, at most this many (the newest kept).
const PARSED_TENANTS_KEPT: usize = 256;

/// The tenant records this process parsed lately, each with the bytes it
/// was parsed from. A record holds its profiles' JSON-LD documents (tens of
/// KB) and is read on every request; it is parsed again only when its bytes
/// changed (the same bytes parse to the same record, whichever store they
/// came from).
static PARSED_TENANTS: std::sync::LazyLock<ParsedTenants> =
    std::sync::LazyLock::new(|| quick_cache::sync::Cache::new(PARSED_TENANTS_KEPT));

/// Tenant records by tenant, each with the bytes it was parsed from.
type ParsedTenants = quick_cache::sync::Cache<TenantId, (Arc<Vec<u8>>, Tenant)>;

/// Reads a tenant's record.
pub async fn load_tenant(store: &dyn QueryStore, tenant: &TenantId) -> Result<Option<Tenant>, StoreError> {
    let Some(bytes) = store.get(Table::Tenants, &tenant_partition(tenant), &[]).await? else { return Ok(None) };
    if let Some((parsed_from, record)) = PARSED_TENANTS.get(tenant) {
        if *parsed_from == bytes {
            return Ok(Some(record));
        }
    }
    let record: Option<Tenant> = serde_json::from_slice(&bytes).ok();
    if let Some(record) = &record {
        PARSED_TENANTS.insert(tenant.clone(), (Arc::new(bytes), record.clone()));
    }
    Ok(record)
}

/// Every tenant record.
pub async fn list_tenants(store: &dyn QueryStore) -> Result<Vec<Tenant>, StoreError> {
    let rows = store.dump(Table::Tenants).await?;
    Ok(rows.into_iter().filter_map(|(_, _, value)| serde_json::from_slice(&value).ok()).collect())
}

/// One entry of the audit trail of administrative actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the projector applied it, microseconds since the epoch.
    pub time_micros: i64,
    /// What was done, e.g. `tenant.create`, `credential.rotate`.
    pub action: String,
    /// The tenant it concerns.
    pub tenant: String,
    /// The credential key it concerns, if any.
    #[serde(default)]
    pub credential: Option<String>,
    /// What else the action records (an export's request and row count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// The audit trail, oldest first: the partition of earlier versions, then
/// each month's partition (the months listed in Meta).
pub async fn audit_trail(store: &dyn QueryStore) -> Result<Vec<AuditEntry>, StoreError> {
    use crate::tables::{audit_months_partition, audit_partition, audit_partition_before_months};
    let all = || (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
    let ascending = crate::store::Order::Ascending;
    let months = store.scan(Table::Meta, &audit_months_partition(), all(), ascending, usize::MAX).await?;
    let mut partitions = vec![audit_partition_before_months()];
    partitions.extend(
        months
            .iter()
            .filter_map(|(month, _)| Some(audit_partition(u32::from_be_bytes(month.as_slice().try_into().ok()?)))),
    );
    let mut entries: Vec<(Vec<u8>, AuditEntry)> = Vec::new();
    for partition in partitions {
        let rows = store.scan(Table::Audit, &partition, all(), ascending, usize::MAX).await?;
        entries.extend(rows.into_iter().filter_map(|(c, value)| Some((c, serde_json::from_slice(&value).ok()?))));
    }
    // The clustering key starts with the time: one order across partitions.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries.into_iter().map(|(_, entry)| entry).collect())
}
