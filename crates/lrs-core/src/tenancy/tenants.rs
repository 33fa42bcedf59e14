//! Tenants: isolated LRSs on one deployment, with their limits.

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
        }
    }

    /// The `stored` time (microseconds) before which its statements are past retention, at `now`.
    pub fn retention_cutoff(&self, now_micros: i64) -> Option<u64> {
        let seconds = self.retention_seconds?;
        let cutoff = now_micros.saturating_sub(i64::try_from(seconds.saturating_mul(1_000_000)).unwrap_or(i64::MAX));
        Some(u64::try_from(cutoff).unwrap_or(0))
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

/// Reads a tenant's record.
pub async fn load_tenant(store: &dyn QueryStore, tenant: &TenantId) -> Result<Option<Tenant>, StoreError> {
    let row = store.get(Table::Tenants, &tenant_partition(tenant), &[]).await?;
    Ok(row.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
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
}

/// The audit trail, oldest first.
pub async fn audit_trail(store: &dyn QueryStore) -> Result<Vec<AuditEntry>, StoreError> {
    let rows = store.dump(Table::Audit).await?;
    let mut entries: Vec<(Vec<u8>, Vec<u8>, AuditEntry)> =
        rows.into_iter().filter_map(|(p, c, value)| Some((p, c, serde_json::from_slice(&value).ok()?))).collect();
    entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Ok(entries.into_iter().map(|(_, _, entry)| entry).collect())
}
