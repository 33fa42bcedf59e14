//! The directory of tenants and credentials that every process answering
//! tenant requests authenticates against.
//!
//! The projector is the only writer of the tenant and credential tables. A
//! process that reads those tables (`lrs serve`, or any process beside a shared
//! ScyllaDB keyspace) uses a [`StoreDirectory`]. A process that has no store
//! (a gateway of the distributed deployment on the embedded store) follows a
//! [`DirectoryFeed`] instead: the projector publishes every tenant and credential
//! record it applies, before it answers the operator, and all of them when it
//! starts, and the gateway keeps them in a [`FollowedDirectory`] in memory. No
//! request to the process owning the store is made on a request's path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Credential, CredentialStore};
use crate::store::{QueryStore, StoreError, Table};
use crate::tenant::TenantId;
use crate::tenants::Tenant;

/// One change the projector made that processes without a store must learn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum DirectoryEntry {
    /// A tenant record, as the projector stored it.
    Tenant {
        /// The record.
        tenant: Tenant,
    },
    /// A credential record, as the projector stored it (its secret only hashed).
    Credential {
        /// The record.
        credential: Credential,
    },
    /// An agent's key was destroyed: nothing may be sealed with it any more.
    Forgotten {
        /// The agent's tenant.
        tenant: TenantId,
        /// The agent's pseudonymous subject id.
        subject: Uuid,
    },
}

impl DirectoryEntry {
    /// The entry's key: a later entry with the same key replaces an earlier
    /// one (the feed may keep only the last entry of each key).
    pub fn key(&self) -> String {
        match self {
            DirectoryEntry::Tenant { tenant } => format!("tenant/{}", tenant.id),
            DirectoryEntry::Credential { credential } => format!("credential/{}", credential.key),
            DirectoryEntry::Forgotten { tenant, subject } => format!("forgotten/{tenant}/{subject}"),
        }
    }
}

/// Where the projector publishes directory entries.
#[async_trait]
pub trait DirectoryFeed: Send + Sync + 'static {
    /// Publishes `entries` in order; returns once the feed holds all of them.
    async fn publish(&self, entries: &[DirectoryEntry]) -> Result<(), StoreError>;
}

/// Looks up the records a request is authenticated against.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// The credential with this key, if any.
    async fn credential(&self, key: &str) -> Result<Option<Credential>, StoreError>;

    /// The tenant record, if any.
    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError>;
}

/// Publishes every tenant and credential record of `store` on `feed`: the
/// projector does this when it starts, so that a feed which missed an entry
/// (or a record written at bootstrap, not through the log) catches up.
pub async fn publish_snapshot(store: &dyn QueryStore, feed: &dyn DirectoryFeed) -> Result<usize, StoreError> {
    let mut entries = Vec::new();
    for (_, _, value) in store.dump(Table::Tenants).await? {
        if let Ok(tenant) = serde_json::from_slice::<Tenant>(&value) {
            entries.push(DirectoryEntry::Tenant { tenant });
        }
    }
    for (_, _, value) in store.dump(Table::Credentials).await? {
        if let Ok(credential) = serde_json::from_slice::<Credential>(&value) {
            entries.push(DirectoryEntry::Credential { credential });
        }
    }
    feed.publish(&entries).await?;
    Ok(entries.len())
}

/// Records looked up lately, with when they were read.
type Recent<T> = quick_cache::sync::Cache<String, (Instant, Option<T>)>;

/// Most records a [`StoreDirectory`] remembers (unknown keys included).
const STORE_DIRECTORY_CACHE: usize = 10_000;

/// The directory read from the store's tables, optionally remembering what
/// it read for a short time (a change then holds after at most that time).
pub struct StoreDirectory {
    credentials: CredentialStore,
    fresh_for: Duration,
    recent_credentials: Recent<Credential>,
    recent_tenants: Recent<Tenant>,
}

impl StoreDirectory {
    /// Reads `store` on every lookup (the process that writes it, or shares it).
    pub fn new(store: Arc<dyn QueryStore>) -> Self {
        Self::remembering(store, Duration::ZERO)
    }

    /// Reads `store`, and answers from what it read within `fresh_for`.
    pub fn remembering(store: Arc<dyn QueryStore>, fresh_for: Duration) -> Self {
        Self {
            credentials: CredentialStore::new(store),
            fresh_for,
            recent_credentials: quick_cache::sync::Cache::new(STORE_DIRECTORY_CACHE),
            recent_tenants: quick_cache::sync::Cache::new(STORE_DIRECTORY_CACHE),
        }
    }

    fn remembered<T: Clone>(&self, recent: &Recent<T>, key: &str) -> Option<Option<T>> {
        if self.fresh_for.is_zero() {
            return None;
        }
        let (read_at, value) = recent.get(key)?;
        (read_at.elapsed() < self.fresh_for).then_some(value)
    }
}

#[async_trait]
impl Directory for StoreDirectory {
    async fn credential(&self, key: &str) -> Result<Option<Credential>, StoreError> {
        if let Some(known) = self.remembered(&self.recent_credentials, key) {
            return Ok(known);
        }
        let credential = self.credentials.get(key).await?;
        if !self.fresh_for.is_zero() {
            self.recent_credentials.insert(key.to_owned(), (Instant::now(), credential.clone()));
        }
        Ok(credential)
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        if let Some(known) = self.remembered(&self.recent_tenants, id.as_str()) {
            return Ok(known);
        }
        let tenant = self.credentials.tenant(id).await?;
        if !self.fresh_for.is_zero() {
            self.recent_tenants.insert(id.as_str().to_owned(), (Instant::now(), tenant.clone()));
        }
        Ok(tenant)
    }
}

/// Called with the tenant and subject id of each forgotten agent.
pub type ForgottenListener = Arc<dyn Fn(&TenantId, Uuid) + Send + Sync>;

/// The directory kept in memory from a [`DirectoryFeed`]: every tenant and
/// credential record, the newest revision of each.
#[derive(Clone, Default)]
pub struct FollowedDirectory {
    records: Arc<RwLock<Records>>,
    listeners: Arc<Mutex<Vec<ForgottenListener>>>,
}

#[derive(Default)]
struct Records {
    tenants: HashMap<TenantId, Tenant>,
    credentials: HashMap<String, Credential>,
}

impl FollowedDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one entry of the feed: a record replaces the one it has unless
    /// that one has a higher revision; a forgotten subject goes to the listeners.
    pub fn apply(&self, entry: DirectoryEntry) {
        match entry {
            DirectoryEntry::Tenant { tenant } => {
                let mut records = self.records.write().expect("directory lock");
                let newer = records.tenants.get(&tenant.id).is_none_or(|known| known.revision <= tenant.revision);
                if newer {
                    records.tenants.insert(tenant.id.clone(), tenant);
                }
            }
            DirectoryEntry::Credential { credential } => {
                let mut records = self.records.write().expect("directory lock");
                let newer =
                    records.credentials.get(&credential.key).is_none_or(|known| known.revision <= credential.revision);
                if newer {
                    records.credentials.insert(credential.key.clone(), credential);
                }
            }
            DirectoryEntry::Forgotten { tenant, subject } => {
                let listeners = self.listeners.lock().expect("directory listeners lock").clone();
                for listener in listeners {
                    listener(&tenant, subject);
                }
            }
        }
    }

    /// Calls `listener` for every agent forgotten from now on.
    pub fn on_forgotten(&self, listener: ForgottenListener) {
        self.listeners.lock().expect("directory listeners lock").push(listener);
    }

    /// How many tenants and credentials it knows.
    pub fn len(&self) -> (usize, usize) {
        let records = self.records.read().expect("directory lock");
        (records.tenants.len(), records.credentials.len())
    }
}

#[async_trait]
impl Directory for FollowedDirectory {
    async fn credential(&self, key: &str) -> Result<Option<Credential>, StoreError> {
        Ok(self.records.read().expect("directory lock").credentials.get(key).cloned())
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        Ok(self.records.read().expect("directory lock").tenants.get(id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;

    fn credential(revision: u64, revoked: bool) -> Credential {
        let mut credential = Credential::new(TenantId::parse("t").unwrap(), "k", "s", vec![Scope::All]);
        credential.revision = revision;
        credential.revoked = revoked;
        credential
    }

    #[tokio::test]
    async fn a_followed_directory_keeps_the_newest_revision_whatever_the_order() {
        let directory = FollowedDirectory::new();
        directory.apply(DirectoryEntry::Credential { credential: credential(5, true) });
        directory.apply(DirectoryEntry::Credential { credential: credential(3, false) });
        assert!(directory.credential("k").await.unwrap().unwrap().revoked, "an older copy does not undo a revocation");
        directory.apply(DirectoryEntry::Credential { credential: credential(7, false) });
        assert!(!directory.credential("k").await.unwrap().unwrap().revoked);
        assert_eq!(directory.credential("other").await.unwrap(), None);
    }

    #[tokio::test]
    async fn forgotten_subjects_reach_every_listener() {
        let directory = FollowedDirectory::new();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = heard.clone();
        directory.on_forgotten(Arc::new(move |tenant, subject| {
            sink.lock().unwrap().push((tenant.clone(), subject));
        }));
        let subject = Uuid::new_v4();
        let tenant = TenantId::parse("t").unwrap();
        directory.apply(DirectoryEntry::Forgotten { tenant: tenant.clone(), subject });
        assert_eq!(*heard.lock().unwrap(), [(tenant, subject)]);
    }

    #[test]
    fn entries_of_one_record_share_a_key() {
        let a = DirectoryEntry::Credential { credential: credential(1, false) };
        let b = DirectoryEntry::Credential { credential: credential(2, true) };
        assert_eq!(a.key(), b.key());
        let round_trip: DirectoryEntry = serde_json::from_slice(&serde_json::to_vec(&b).unwrap()).unwrap();
        assert_eq!(round_trip, b);
    }
}
