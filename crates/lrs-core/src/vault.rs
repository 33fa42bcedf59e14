//! Erasure by crypto-shredding. Personal data is sealed before it enters the
//! log and stays sealed in the tables: each statement (and each document
//! about an agent, and what is known of an agent) is encrypted with a data key
//! that only the keys of every agent it names give: the XOR of HChaCha20 of
//! each agent's key over a random salt the seal carries (seals made before
//! 2026-12-06 carry the data key in XOR shares instead, one per agent, each
//! encrypted with that agent's key; they open as they always did). The keys
//! live in a vault beside the log and the tables, never in them, under a
//! pseudonymous subject id; the vault finds an agent's subject by a digest
//! of its identifier, never the identifier itself.
//! Forgetting an agent purges its rows and then destroys its key: every event
//! and every row naming it can no longer be opened, in the log, in the tables,
//! in their files on disk and in any copy of them (docs/adr/0003).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use chacha20::Key;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::keys::KeyBuilder;
use crate::store::{QueryStore, StoreError, Table, WriteBatch};
use crate::tenant::TenantId;

/// An agent's pseudonymous subject id and its key.
#[derive(Clone, PartialEq, Eq)]
pub struct Subject {
    /// Pseudonymous id carried in events and rows instead of the agent.
    pub id: Uuid,
    key: [u8; 32],
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject").field("id", &self.id).field("key", &"***").finish()
    }
}

impl Subject {
    /// A new subject with a random id and key.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self { id: Uuid::new_v4(), key }
    }

    /// A subject from its id and 32-byte key (as a vault sends it).
    pub fn from_parts(id: Uuid, key: &[u8]) -> Option<Self> {
        Some(Self { id, key: key.try_into().ok()? })
    }

    /// Its 256-bit key.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// Its key as base64 (for the vault's HTTP answer to a gateway).
    pub fn key_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key)
    }
}

/// Where a gateway gets the keys it seals personal data with.
#[async_trait]
pub trait SealingKeys: Send + Sync + 'static {
    /// The subject of an agent (its IFI key), created on first use: one per
    /// agent, however many processes ask at once.
    async fn subject(&self, tenant: &TenantId, agent: &str) -> Result<Subject, StoreError>;

    /// The subjects of several agents, in their order, those of new agents
    /// created together (a batch naming a thousand new learners waits for
    /// one creation, not a thousand in turn).
    async fn subjects(&self, tenant: &TenantId, agents: &[&str]) -> Result<Vec<Subject>, StoreError> {
        let mut subjects = Vec::with_capacity(agents.len());
        for agent in agents {
            subjects.push(self.subject(tenant, agent).await?);
        }
        Ok(subjects)
    }

    /// Forgets a subject this process may remember: it was destroyed.
    fn forget_cached(&self, tenant: &TenantId, subject: Uuid);
}

/// The IFI keys of the agents a statement names, but its authority (the
/// LRS's own credential agent): the subjects whose keys seal it.
pub fn personal_agents(statement: &serde_json::Value) -> Vec<String> {
    let authority = statement.get("authority").and_then(xapi::agent_key);
    let mut agents: Vec<String> = xapi::agents_of(statement, true, false)
        .into_iter()
        .filter(|agent| Some(agent) != authority.as_ref())
        .map(|agent| agent.as_str().to_owned())
        .collect();
    agents.sort();
    agents.dedup();
    agents
}

/// The value stored in the index that a row keyed by an agent uses instead
/// of the agent's identifier when the agent has a subject.
pub fn subject_index_key(subject: Uuid) -> String {
    format!("subject:{}", subject.simple())
}

/// The digest the vault finds an agent's subject by: no vault row holds an
/// agent identifier.
fn agent_digest(tenant: &TenantId, agent: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(b"lrs-vault-agent\0");
    digest.update(tenant.as_str().as_bytes());
    digest.update(b"\0");
    digest.update(agent.as_bytes());
    digest.finalize().into()
}

fn by_agent_digest(tenant: &TenantId, digest: &[u8; 32]) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str("by-agent").bytes(digest).build()
}

fn by_subject(tenant: &TenantId, subject: Uuid) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str("subject").bytes(subject.as_bytes()).build()
}

/// The row of a vault written before rows were keyed by digest (the agent's
/// identifier in the key): read, and removed when the subject is destroyed.
fn legacy_by_agent(tenant: &TenantId, agent: &str) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str("agent").str(agent).build()
}

/// Version byte of the binary rows written before [`PAIR_VERSION`]: an
/// agent row and a subject row apart.
const ROW_VERSION: u8 = 2;

/// Version byte of a row that serves as both the subject's and its agent's
/// (written once and named twice, in a file vault one file with two links).
const PAIR_VERSION: u8 = 3;

/// The subject row of a vault written before rows were binary.
#[derive(Deserialize)]
struct LegacySubject {
    id: Uuid,
    agent: String,
    key: String,
}

impl LegacySubject {
    fn subject(&self) -> Option<Subject> {
        let key = base64::engine::general_purpose::STANDARD.decode(&self.key).ok()?;
        Subject::from_parts(self.id, &key)
    }
}

/// A vault row: the subject, and how to find its other row.
#[derive(Clone)]
enum VaultRow {
    /// By agent digest: [3][subject id 16][agent digest 32][key 32], or
    /// (written before) [2][subject id 16][key 32].
    Agent(Subject),
    /// By subject id: the same [3] row, or (written before) [2][agent
    /// digest 32][key 32].
    Subject(Subject, [u8; 32]),
    /// A row of an earlier vault (JSON with the agent's identifier).
    Legacy(Subject, String),
}

impl VaultRow {
    fn subject(&self) -> &Subject {
        match self {
            VaultRow::Agent(subject) | VaultRow::Subject(subject, _) | VaultRow::Legacy(subject, _) => subject,
        }
    }

    fn decode_agent(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [PAIR_VERSION, rest @ ..] if rest.len() == 80 => {
                let subject = Subject::from_parts(Uuid::from_slice(&rest[..16]).ok()?, &rest[48..])?;
                Some(VaultRow::Agent(subject))
            }
            [ROW_VERSION, id @ ..] if id.len() == 48 => {
                let subject = Subject::from_parts(Uuid::from_slice(&id[..16]).ok()?, &id[16..])?;
                Some(VaultRow::Agent(subject))
            }
            _ => Self::decode_legacy(bytes),
        }
    }

    fn decode_subject(bytes: &[u8], id: Uuid) -> Option<Self> {
        match bytes {
            [PAIR_VERSION, rest @ ..] if rest.len() == 80 && rest[..16] == *id.as_bytes() => {
                let digest: [u8; 32] = rest[16..48].try_into().ok()?;
                Some(VaultRow::Subject(Subject::from_parts(id, &rest[48..])?, digest))
            }
            [ROW_VERSION, rest @ ..] if rest.len() == 64 => {
                let digest: [u8; 32] = rest[..32].try_into().ok()?;
                Some(VaultRow::Subject(Subject::from_parts(id, &rest[32..])?, digest))
            }
            _ => Self::decode_legacy(bytes),
        }
    }

    fn decode_legacy(bytes: &[u8]) -> Option<Self> {
        let legacy: LegacySubject = serde_json::from_slice(bytes).ok()?;
        Some(VaultRow::Legacy(legacy.subject()?, legacy.agent))
    }

    /// The row of a subject and its agent.
    fn encode_pair(subject: &Subject, digest: &[u8; 32]) -> Vec<u8> {
        let mut row = Vec::with_capacity(81);
        row.push(PAIR_VERSION);
        row.extend_from_slice(subject.id.as_bytes());
        row.extend_from_slice(digest);
        row.extend_from_slice(&subject.key);
        row
    }
}

/// Where a vault keeps its rows: one value per key, each write durable
/// when it returns.
#[async_trait]
pub trait VaultStore: Send + Sync + 'static {
    /// The value of a key.
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes a value.
    async fn put(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError>;

    /// Writes a value unless the key has one; returns the value it has.
    /// Atomic against every other writer of the vault, in any process.
    async fn put_if_absent(&self, key: &[u8], value: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError>;

    /// The values of keys, in order.
    async fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    /// Writes each row's value under its first key, durably, then under its
    /// second key by [`VaultStore::put_if_absent`]; returns, in order, the
    /// values the second keys had (a subject's row, then its agent's).
    async fn put_pairs(&self, rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let (firsts, seconds) =
            rows.into_iter().map(|(first, second, value)| ((first, value.clone()), (second, value))).unzip();
        self.put_many(firsts).await?;
        self.put_many_if_absent(seconds).await
    }

    /// Writes values, each durable when this returns.
    async fn put_many(&self, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        for (key, value) in rows {
            self.put(&key, value).await?;
        }
        Ok(())
    }

    /// [`VaultStore::put_if_absent`] of each row (each atomic on its own);
    /// returns, in their order, the values the keys already had.
    async fn put_many_if_absent(&self, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut existing = Vec::with_capacity(rows.len());
        for (key, value) in rows {
            existing.push(self.put_if_absent(&key, value).await?);
        }
        Ok(existing)
    }

    /// Removes keys. When this returns, their values are gone from the
    /// store's files where the store can promise it (docs/adr/0003).
    async fn delete(&self, keys: &[Vec<u8>]) -> Result<(), StoreError>;
}

/// A vault's rows in the vault table of a query store (ScyllaDB's shared
/// keyspace: a conditional write is a lightweight transaction).
pub struct TableVaultStore(Arc<dyn QueryStore>);

impl TableVaultStore {
    /// The vault table of `store`.
    pub fn new(store: Arc<dyn QueryStore>) -> Arc<Self> {
        Arc::new(Self(store))
    }
}

#[async_trait]
impl VaultStore for TableVaultStore {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(Table::Vault, key, &[]).await
    }

    async fn put(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put(Table::Vault, key.to_vec(), Vec::new(), value);
        self.0.write(batch).await
    }

    /// Every read in flight at once.
    async fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let reads = keys.iter().cloned().map(|key| {
            let store = Arc::clone(&self.0);
            async move { store.get(Table::Vault, &key, &[]).await }
        });
        in_flight_at_once(reads).await
    }

    async fn put_if_absent(&self, key: &[u8], value: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.put_if_absent(Table::Vault, key, &[], value).await
    }

    async fn put_many(&self, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for (key, value) in rows {
            batch.put(Table::Vault, key, Vec::new(), value);
        }
        self.0.write(batch).await
    }

    /// Each row's conditional write (a lightweight transaction on ScyllaDB)
    /// in flight at once, not one after another.
    async fn put_many_if_absent(&self, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let writes = rows.into_iter().map(|(key, value)| {
            let store = Arc::clone(&self.0);
            async move { store.put_if_absent(Table::Vault, &key, &[], value).await }
        });
        in_flight_at_once(writes).await
    }

    async fn delete(&self, keys: &[Vec<u8>]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for key in keys {
            batch.delete(Table::Vault, key.clone(), Vec::new());
        }
        self.0.write(batch).await
    }
}

/// Runs every one of `calls` at once; their answers in order, or the first error.
async fn in_flight_at_once<T: Send + 'static>(
    calls: impl Iterator<Item = impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static>,
) -> Result<Vec<T>, StoreError> {
    let mut running = tokio::task::JoinSet::new();
    for (place, call) in calls.enumerate() {
        running.spawn(async move { (place, call.await) });
    }
    let mut answers = Vec::with_capacity(running.len());
    while let Some(joined) = running.join_next().await {
        let (place, answer) = joined.map_err(|e| StoreError::Storage(format!("vault: {e}")))?;
        answers.push((place, answer?));
    }
    answers.sort_by_key(|(place, _)| *place);
    Ok(answers.into_iter().map(|(_, answer)| answer).collect())
}

/// The key vault: agent digest → subject, subject → key. It lives outside the
/// log and outside the rebuildable query tables.
#[derive(Clone)]
pub struct KeyVault {
    store: Arc<dyn VaultStore>,
    /// Subjects read lately, by vault row key (see [`KeyVault::with_cache`]).
    cache: Option<Arc<SubjectCache>>,
    /// Held while a subject is created, so that requests of this process
    /// naming a new agent at once wait for one creation (the store's
    /// conditional write makes it one across processes).
    creating: Arc<tokio::sync::Mutex<()>>,
}

/// The subjects a vault read lately, and the lock that keeps a destroyed
/// subject from coming back into the cache.
struct SubjectCache {
    subjects: quick_cache::sync::Cache<Vec<u8>, Subject>,
    /// The by-agent row key each cached subject was found under.
    agent_rows: quick_cache::sync::Cache<Uuid, Vec<u8>>,
    /// Readers hold it from their store read to their cache insert; a destroy
    /// holds it exclusively from its store delete to its cache removal.
    destroying: tokio::sync::RwLock<()>,
}

impl SubjectCache {
    fn forget(&self, tenant: &TenantId, subject: Uuid) {
        self.subjects.remove(&by_subject(tenant, subject));
        if let Some((_, agent_row)) = self.agent_rows.remove(&subject) {
            self.subjects.remove(&agent_row);
        }
    }
}

impl KeyVault {
    /// A vault keeping its rows in `store`.
    pub fn new(store: Arc<dyn VaultStore>) -> Self {
        Self { store, cache: None, creating: Arc::default() }
    }

    /// Keeps up to `capacity` subjects in memory. A subject destroyed by
    /// another process may stay in this cache until [`SealingKeys::forget_cached`]
    /// is called for it: a value sealed with it then fails to project, and
    /// its gateway drops the subject and seals again.
    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.cache = Some(Arc::new(SubjectCache {
            subjects: quick_cache::sync::Cache::new(capacity),
            agent_rows: quick_cache::sync::Cache::new(capacity),
            destroying: tokio::sync::RwLock::new(()),
        }));
        self
    }

    /// A vault row, through the cache; `by_agent` for the rows found by agent.
    async fn read(
        &self,
        row_key: Vec<u8>,
        decode: impl Fn(&[u8]) -> Option<VaultRow>,
        by_agent: bool,
    ) -> Result<Option<Subject>, StoreError> {
        let mut read = self.read_many(vec![row_key], decode, by_agent).await?;
        Ok(read.pop().flatten())
    }

    /// Vault rows, in order, through the cache: those it lacks read from
    /// the store in one go.
    async fn read_many(
        &self,
        row_keys: Vec<Vec<u8>>,
        decode: impl Fn(&[u8]) -> Option<VaultRow>,
        by_agent: bool,
    ) -> Result<Vec<Option<Subject>>, StoreError> {
        let subject_of = |row: Option<Vec<u8>>| row.and_then(|bytes| decode(&bytes)).map(|row| row.subject().clone());
        let Some(cache) = &self.cache else {
            return Ok(self.store.get_many(&row_keys).await?.into_iter().map(subject_of).collect());
        };
        let mut subjects: Vec<Option<Subject>> = row_keys.iter().map(|key| cache.subjects.get(key)).collect();
        let missing: Vec<usize> = (0..row_keys.len()).filter(|at| subjects[*at].is_none()).collect();
        if missing.is_empty() {
            return Ok(subjects);
        }
        let _reading = cache.destroying.read().await;
        let keys: Vec<Vec<u8>> = missing.iter().map(|at| row_keys[*at].clone()).collect();
        let rows = self.store.get_many(&keys).await?;
        for ((at, row_key), row) in missing.into_iter().zip(keys).zip(rows) {
            let Some(subject) = subject_of(row) else { continue };
            if by_agent {
                cache.agent_rows.insert(subject.id, row_key.clone());
            }
            cache.subjects.insert(row_key, subject.clone());
            subjects[at] = Some(subject);
        }
        Ok(subjects)
    }

    /// The subject of an agent, if it has one.
    pub async fn find(&self, tenant: &TenantId, agent: &str) -> Result<Option<Subject>, StoreError> {
        let mut found = self.find_many(tenant, &[agent]).await?;
        Ok(found.pop().flatten())
    }

    /// The subjects of agents, in order, where they have one: read in one
    /// go (rows by digest, then rows of an earlier vault for the rest).
    async fn find_many(&self, tenant: &TenantId, agents: &[&str]) -> Result<Vec<Option<Subject>>, StoreError> {
        let rows = agents.iter().map(|agent| by_agent_digest(tenant, &agent_digest(tenant, agent))).collect();
        let mut found = self.read_many(rows, VaultRow::decode_agent, true).await?;
        let missing: Vec<usize> = (0..agents.len()).filter(|at| found[*at].is_none()).collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let legacy = missing.iter().map(|at| legacy_by_agent(tenant, agents[*at])).collect();
        let earlier = self.read_many(legacy, VaultRow::decode_legacy, true).await?;
        for (at, subject) in missing.into_iter().zip(earlier) {
            found[at] = subject;
        }
        Ok(found)
    }

    /// The subject of an agent, created (with a fresh key) on first use. The
    /// subject row is written first and the agent row by a conditional
    /// write: of two processes creating one at once, the loser takes the
    /// winner's subject and removes its own unused row.
    pub async fn subject(&self, tenant: &TenantId, agent: &str) -> Result<Subject, StoreError> {
        let mut subjects = self.subjects(tenant, &[agent]).await?;
        Ok(subjects.pop().expect("one subject per agent"))
    }

    /// The subjects of `agents`, in their order, as [`KeyVault::subject`]
    /// gives each; those of the agents without one are created together:
    /// their subject rows in one write, then their agent rows in one
    /// conditional write each (a batch naming many new learners waits for
    /// the store about twice, not twice per learner).
    pub async fn subjects(&self, tenant: &TenantId, agents: &[&str]) -> Result<Vec<Subject>, StoreError> {
        let mut found = self.find_many(tenant, agents).await?;
        if found.iter().all(Option::is_some) {
            return Ok(found.into_iter().flatten().collect());
        }
        let _creating = self.creating.lock().await;
        // Each agent without a subject once (a batch may name one twice),
        // unless another request created it while this one waited for the lock.
        let missing: Vec<usize> = (0..agents.len()).filter(|at| found[*at].is_none()).collect();
        let named: Vec<&str> = missing.iter().map(|at| agents[*at]).collect();
        let mut new: Vec<([u8; 32], Subject)> = Vec::new();
        let mut place: HashMap<&str, usize> = HashMap::new();
        for (at, subject) in missing.into_iter().zip(self.find_many(tenant, &named).await?) {
            let agent = agents[at];
            found[at] = subject;
            if found[at].is_none() && !place.contains_key(agent) {
                place.insert(agent, new.len());
                new.push((agent_digest(tenant, agent), Subject::random()));
            }
        }
        let rows = new
            .iter()
            .map(|(digest, subject)| {
                let row = VaultRow::encode_pair(subject, digest);
                (by_subject(tenant, subject.id), by_agent_digest(tenant, digest), row)
            })
            .collect();
        let existing = self.store.put_pairs(rows).await?;
        let mut unused = Vec::new();
        let mut created = Vec::with_capacity(new.len());
        for ((_, subject), existing) in new.into_iter().zip(existing) {
            let Some(existing) = existing else {
                created.push(subject);
                continue;
            };
            unused.push(by_subject(tenant, subject.id));
            let winner = VaultRow::decode_agent(&existing)
                .map(|row| row.subject().clone())
                .ok_or_else(|| StoreError::Storage("the vault holds an unreadable subject".into()))?;
            created.push(winner);
        }
        if !unused.is_empty() {
            self.store.delete(&unused).await?;
        }
        Ok(agents
            .iter()
            .zip(found)
            .map(|(agent, subject)| subject.unwrap_or_else(|| created[place[agent]].clone()))
            .collect())
    }

    /// A subject by its id, unless it was forgotten.
    pub async fn by_id(&self, tenant: &TenantId, subject: Uuid) -> Result<Option<Subject>, StoreError> {
        self.read(by_subject(tenant, subject), |bytes| VaultRow::decode_subject(bytes, subject), false).await
    }

    /// Destroys a subject's key for good: its rows leave the vault (and,
    /// where the store can promise it, the vault's files).
    pub async fn destroy(&self, tenant: &TenantId, subject: Uuid) -> Result<(), StoreError> {
        let subject_row = by_subject(tenant, subject);
        let mut rows = vec![subject_row.clone()];
        match self.store.get(&subject_row).await?.and_then(|b| VaultRow::decode_subject(&b, subject)) {
            Some(VaultRow::Subject(_, digest)) => rows.push(by_agent_digest(tenant, &digest)),
            Some(VaultRow::Legacy(_, agent)) => rows.push(legacy_by_agent(tenant, &agent)),
            Some(VaultRow::Agent(_)) | None => {}
        }
        match &self.cache {
            Some(cache) => {
                let _destroying = cache.destroying.write().await;
                let deleted = self.store.delete(&rows).await;
                cache.forget(tenant, subject);
                deleted
            }
            None => self.store.delete(&rows).await,
        }
    }
}

#[async_trait]
impl SealingKeys for KeyVault {
    async fn subject(&self, tenant: &TenantId, agent: &str) -> Result<Subject, StoreError> {
        KeyVault::subject(self, tenant, agent).await
    }

    async fn subjects(&self, tenant: &TenantId, agents: &[&str]) -> Result<Vec<Subject>, StoreError> {
        KeyVault::subjects(self, tenant, agents).await
    }

    fn forget_cached(&self, tenant: &TenantId, subject: Uuid) {
        if let Some(cache) = &self.cache {
            cache.forget(tenant, subject);
        }
    }
}

/// How a sealed value's bytes were packed before they were encrypted.
///
/// Values sealed before packing existed carry none, which reads as
/// [`Packing::AsIs`]. A packing, once written, is read for ever: its
/// dictionary never changes (a new one would be a new packing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u32", try_from = "u32")]
pub enum Packing {
    /// The value as it was given.
    #[default]
    AsIs,
    /// An LZ4 block, its unpacked length first (4 bytes, little-endian),
    /// compressed against [`XAPI_DICTIONARY`].
    Lz4Xapi,
}

/// The LZ4 dictionary of [`Packing::Lz4Xapi`]: the members, verbs and activity
/// types most statements share, with keys in the order statements are written.
pub const XAPI_DICTIONARY: &[u8] = include_bytes!("xapi-packing-dictionary.txt");

/// [`XAPI_DICTIONARY`] hashed once for LZ4 (vendor/lz4_flex, patch 1).
static XAPI_DICTIONARY_PREPARED: std::sync::LazyLock<lz4_flex::block::PreparedDict<'static>> =
    std::sync::LazyLock::new(|| lz4_flex::block::PreparedDict::new(XAPI_DICTIONARY));

/// Values shorter than this are sealed as they are: too short to gain.
const PACK_FROM_BYTES: usize = 64;

impl Packing {
    /// Whether this is [`Packing::AsIs`] (which a value's JSON form leaves out).
    pub fn is_as_is(&self) -> bool {
        *self == Packing::AsIs
    }

    /// `value` packed, with the packing used: the value as it is when packing
    /// would not make it shorter.
    fn pack(value: &[u8]) -> (std::borrow::Cow<'_, [u8]>, Packing) {
        if value.len() >= PACK_FROM_BYTES {
            let packed = lz4_flex::block::compress_prepend_size_with_prepared_dict(value, &XAPI_DICTIONARY_PREPARED);
            if packed.len() < value.len() {
                return (packed.into(), Packing::Lz4Xapi);
            }
        }
        (value.into(), Packing::AsIs)
    }

    /// `packed` unpacked; `None` when it is not a value this packing wrote.
    fn unpack(self, packed: Vec<u8>) -> Option<Vec<u8>> {
        match self {
            Packing::AsIs => Some(packed),
            Packing::Lz4Xapi => {
                let (length, block) = lz4_flex::block::uncompressed_size(&packed).ok()?;
                // An LZ4 block expands at most 255 times; a larger length is not ours.
                if length > block.len().saturating_mul(255) + PACK_FROM_BYTES {
                    return None;
                }
                let value = lz4_flex::block::decompress_with_dict(block, length, XAPI_DICTIONARY).ok()?;
                (value.len() == length).then_some(value)
            }
        }
    }
}

impl From<Packing> for u32 {
    fn from(packing: Packing) -> u32 {
        match packing {
            Packing::AsIs => 0,
            Packing::Lz4Xapi => 1,
        }
    }
}

impl TryFrom<u32> for Packing {
    type Error = String;

    fn try_from(code: u32) -> Result<Self, String> {
        match code {
            0 => Ok(Packing::AsIs),
            1 => Ok(Packing::Lz4Xapi),
            other => Err(format!("unknown packing {other}")),
        }
    }
}

/// A sealed value: readable only with the key of every subject it names.
///
/// In a JSON payload (sealed document commands, and the statements of logs
/// written before statements were sealed in binary) its bytes are base64; in
/// a row or an envelope it is binary ([`Sealed::to_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The subjects whose keys open it.
    pub subjects: Vec<Uuid>,
    /// Each subject's share of the data key, encrypted with its key (nonce ‖
    /// ciphertext): seals made before 2026-12-06; empty in those with a salt.
    #[serde(with = "crate::serde_base64::list")]
    pub shares: Vec<Vec<u8>>,
    /// The salt the data key is derived from with each subject's key
    /// ([`derive_data_key`], 16 bytes); empty in seals with shares.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "crate::serde_base64::bytes")]
    pub salt: Vec<u8>,
    /// The value, packed, encrypted with the data key (nonce ‖ ciphertext);
    /// the packed value itself when there are no subjects.
    #[serde(with = "crate::serde_base64::bytes")]
    pub ciphertext: Vec<u8>,
    /// How the value was packed before it was encrypted.
    #[serde(default, skip_serializing_if = "Packing::is_as_is")]
    pub packing: Packing,
}

impl Sealed {
    /// The binary form (the protobuf `Sealed` message of proto/event.proto).
    pub fn to_bytes(&self) -> Vec<u8> {
        use prost::Message;
        crate::event::SealedProto::from_sealed(self).encode_to_vec()
    }

    /// Reads the binary form back.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        use prost::Message;
        crate::event::SealedProto::decode(bytes).ok()?.into_sealed().ok()
    }
}

/// The first byte of a row value that holds a [`Sealed`] value (rows in the
/// clear are JSON and start with `{`).
const SEALED_ROW: u8 = 1;

/// A row value holding `sealed`.
pub fn sealed_row(sealed: &Sealed) -> Vec<u8> {
    let mut row = vec![SEALED_ROW];
    row.extend(sealed.to_bytes());
    row
}

/// The sealed value of a row written by [`sealed_row`]; `None` for a row in the clear.
pub fn row_seal(row: &[u8]) -> Option<Sealed> {
    match row {
        [SEALED_ROW, rest @ ..] => Sealed::from_bytes(rest),
        _ => None,
    }
}

/// Bytes of the nonce that leads every ciphertext.
const NONCE_LEN: usize = 12;

/// ChaCha20-Poly1305 (RFC 8439) under `key`: ring's assembly, which on x86-64
/// takes 0.3–1 µs for a statement where the RustCrypto crate took 2.3–3.2 µs
/// (most of it set-up repeated for every value); the bytes are the same.
fn aead_key(key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).expect("a 32-byte ChaCha20-Poly1305 key"))
}

/// `plaintext` encrypted under `key` with a random nonce: the nonce, the
/// ciphertext, its 16-byte tag.
fn encrypt(key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    encrypt_with_nonce(key, nonce, plaintext)
}

/// `plaintext` encrypted under `key` with `nonce`, laid out as `encrypt` lays it out.
fn encrypt_with_nonce(key: &[u8; 32], nonce: [u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + CHACHA20_POLY1305.tag_len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = aead_key(key)
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut out[NONCE_LEN..])
        .expect("a value shorter than 256 GiB encrypts");
    out.extend_from_slice(tag.as_ref());
    out
}

/// What `encrypt` made, decrypted; `None` when another key made it or it was changed.
fn decrypt(key: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    let (nonce, ciphertext) = sealed.split_first_chunk::<NONCE_LEN>()?;
    let mut plaintext = ciphertext.to_vec();
    let len =
        aead_key(key).open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::empty(), &mut plaintext).ok()?.len();
    plaintext.truncate(len);
    Some(plaintext)
}

/// Bytes of the salt a data key is derived from.
const SALT_LEN: usize = 16;

/// The data key of a seal with `salt` over `keys` (each subject's key, in the
/// seal's order): the XOR of HChaCha20 of each key over the salt, its first
/// four bytes XORed with the key's place, so that no key's part cancels
/// another's, even the same key's. Without any one of the keys the rest
/// tell nothing of it.
fn derive_data_key<'a>(salt: &[u8; SALT_LEN], keys: impl Iterator<Item = &'a [u8; 32]>) -> [u8; 32] {
    let mut data_key = [0u8; 32];
    for (place, key) in keys.enumerate() {
        let mut input = *salt;
        let place = u32::try_from(place).unwrap_or(u32::MAX).to_le_bytes();
        input[..4].iter_mut().zip(place).for_each(|(i, p)| *i ^= p);
        let part = chacha20::hchacha::<chacha20::cipher::consts::U10>(Key::from_slice(key), (&input).into());
        data_key.iter_mut().zip(part).for_each(|(d, p)| *d ^= p);
    }
    data_key
}

/// Seals `plaintext` so that it opens only with every one of `subjects`' keys,
/// packed first when that makes it shorter: one encryption, whatever the
/// number of subjects.
pub fn seal(plaintext: &[u8], subjects: &[Subject]) -> Sealed {
    let (plaintext, packing) = Packing::pack(plaintext);
    let ids = subjects.iter().map(|s| s.id).collect();
    if subjects.is_empty() {
        return Sealed {
            subjects: ids,
            shares: Vec::new(),
            salt: Vec::new(),
            ciphertext: plaintext.into_owned(),
            packing,
        };
    }
    let mut salt = [0u8; SALT_LEN];
    rand::thread_rng().fill_bytes(&mut salt);
    let data_key = derive_data_key(&salt, subjects.iter().map(|s| &s.key));
    let ciphertext = encrypt(&data_key, &plaintext);
    Sealed { subjects: ids, shares: Vec::new(), salt: salt.to_vec(), ciphertext, packing }
}

/// Opens a sealed value with its subjects' keys; `None` when any key is gone.
pub fn open(sealed: &Sealed, keys: &[Option<Subject>]) -> Option<Vec<u8>> {
    if sealed.subjects.is_empty() {
        return sealed.packing.unpack(sealed.ciphertext.clone());
    }
    if keys.len() != sealed.subjects.len() {
        return None;
    }
    let data_key = if sealed.salt.is_empty() {
        data_key_of_shares(&sealed.shares, keys)?
    } else {
        let salt: &[u8; SALT_LEN] = sealed.salt.as_slice().try_into().ok()?;
        if !sealed.shares.is_empty() {
            return None;
        }
        let keys = keys.iter().map(|k| k.as_ref().map(|s| &s.key)).collect::<Option<Vec<_>>>()?;
        derive_data_key(salt, keys.into_iter())
    };
    sealed.packing.unpack(decrypt(&data_key, &sealed.ciphertext)?)
}

/// The data key of a seal made before 2026-12-06: its shares decrypted with
/// each subject's key and XORed.
fn data_key_of_shares(shares: &[Vec<u8>], keys: &[Option<Subject>]) -> Option<[u8; 32]> {
    if shares.len() != keys.len() {
        return None;
    }
    let mut data_key = [0u8; 32];
    for (share, subject) in shares.iter().zip(keys) {
        let share = decrypt(&subject.as_ref()?.key, share)?;
        if share.len() != 32 {
            return None;
        }
        data_key.iter_mut().zip(share).for_each(|(d, s)| *d ^= s);
    }
    Some(data_key)
}

/// A sealed value opened with a vault, or the subjects whose keys are gone.
pub enum Opening {
    /// It opened.
    Open {
        /// The value.
        plaintext: Vec<u8>,
        /// Its subjects, in the seal's order.
        subjects: Vec<Subject>,
    },
    /// It cannot be opened: these subjects' keys are gone.
    Shut {
        /// The forgotten subjects among its subjects.
        missing: Vec<Uuid>,
    },
}

/// The subjects of a sealed value with their keys, in the seal's order; or
/// those whose keys the vault no longer has.
pub async fn subjects_of(
    vault: &KeyVault,
    tenant: &TenantId,
    sealed: &Sealed,
) -> Result<Result<Vec<Subject>, Vec<Uuid>>, StoreError> {
    let mut keys = Vec::with_capacity(sealed.subjects.len());
    let mut missing = Vec::new();
    for id in &sealed.subjects {
        match vault.by_id(tenant, *id).await? {
            Some(subject) => keys.push(subject),
            None => missing.push(*id),
        }
    }
    Ok(if missing.is_empty() { Ok(keys) } else { Err(missing) })
}

/// Opens a sealed value with the keys the vault still has.
pub async fn opening(vault: &KeyVault, tenant: &TenantId, sealed: &Sealed) -> Result<Opening, StoreError> {
    let keys = match subjects_of(vault, tenant, sealed).await? {
        Ok(keys) => keys,
        Err(missing) => return Ok(Opening::Shut { missing }),
    };
    let keys: Vec<Option<Subject>> = keys.into_iter().map(Some).collect();
    Ok(match open(sealed, &keys) {
        Some(plaintext) => Opening::Open { plaintext, subjects: keys.into_iter().flatten().collect() },
        None => Opening::Shut { missing: sealed.subjects.clone() },
    })
}

/// Opens a sealed value with the keys the vault still has.
pub async fn open_with(vault: &KeyVault, tenant: &TenantId, sealed: &Sealed) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(match opening(vault, tenant, sealed).await? {
        Opening::Open { plaintext, .. } => Some(plaintext),
        Opening::Shut { .. } => None,
    })
}

/// A row value opened: rows in the clear as they are, sealed rows with the
/// vault's keys (`None` when a key is gone, or there is no vault).
pub async fn open_row(
    vault: Option<&KeyVault>,
    tenant: &TenantId,
    row: Vec<u8>,
) -> Result<Option<Vec<u8>>, StoreError> {
    match (row_seal(&row), vault) {
        (None, _) => Ok(Some(row)),
        (Some(sealed), Some(vault)) => open_with(vault, tenant, &sealed).await,
        (Some(_), None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_every_key_and_not_without_one() {
        let (a, b) = (Subject::random(), Subject::random());
        let sealed = seal(b"personal data", &[a.clone(), b.clone()]);
        assert!(!sealed.ciphertext.windows(8).any(|w| w == b"personal"));
        assert_eq!(open(&sealed, &[Some(a.clone()), Some(b.clone())]), Some(b"personal data".to_vec()));
        assert_eq!(open(&sealed, &[Some(a.clone()), None]), None, "one forgotten subject shreds it");
        let other = Subject { id: b.id, key: Subject::random().key };
        assert_eq!(open(&sealed, &[Some(a), Some(other)]), None, "another key does not open it");
        assert_eq!(open(&seal(b"x", &[]), &[]), Some(b"x".to_vec()));
    }

    #[test]
    fn a_seal_is_one_encryption_and_needs_every_key_in_its_place() {
        let (a, b) = (Subject::random(), Subject::random());
        let sealed = seal(b"personal data", &[a.clone(), b.clone()]);
        assert!(sealed.shares.is_empty(), "no share per subject");
        assert_eq!(sealed.salt.len(), 16);
        assert_eq!(sealed.ciphertext.len(), 12 + b"personal data".len() + 16, "nonce, the value, its tag");
        assert_eq!(open(&sealed, &[Some(b.clone()), Some(a.clone())]), None, "keys out of their places");
        let mut other_salt = sealed.clone();
        other_salt.salt[0] ^= 1;
        assert_eq!(open(&other_salt, &[Some(a.clone()), Some(b.clone())]), None, "another salt derives another key");
        let short_salt = Sealed { salt: vec![0; 15], ..sealed.clone() };
        assert_eq!(open(&short_salt, &[Some(a.clone()), Some(b.clone())]), None);
        let with_shares = Sealed { shares: vec![vec![0; 60], vec![0; 60]], ..sealed.clone() };
        assert_eq!(open(&with_shares, &[Some(a.clone()), Some(b.clone())]), None, "a salt and shares is neither kind");

        // The same subject twice: its two parts do not cancel into a key of zeros.
        let twice = seal(b"personal data", &[a.clone(), a.clone()]);
        assert_eq!(open(&twice, &[Some(a.clone()), Some(a.clone())]), Some(b"personal data".to_vec()));
        assert_eq!(open(&twice, &[Some(a.clone()), None]), None);
        assert_eq!(decrypt(&[0; 32], &twice.ciphertext), None, "the data key is not all zeros");
    }

    #[test]
    fn seals_with_shares_of_earlier_versions_still_open() {
        let (a, b) = (Subject::random(), Subject::random());
        let (mut first, mut data_key) = ([0u8; 32], [0u8; 32]);
        rand::thread_rng().fill_bytes(&mut first);
        rand::thread_rng().fill_bytes(&mut data_key);
        let second: Vec<u8> = first.iter().zip(data_key).map(|(f, d)| f ^ d).collect();
        let old = Sealed {
            subjects: vec![a.id, b.id],
            shares: vec![encrypt(&a.key, &first), encrypt(&b.key, &second)],
            salt: vec![],
            ciphertext: encrypt(&data_key, b"personal data"),
            packing: Packing::AsIs,
        };
        let read = Sealed::from_bytes(&old.to_bytes()).unwrap();
        assert_eq!(open(&read, &[Some(a.clone()), Some(b.clone())]), Some(b"personal data".to_vec()));
        assert_eq!(open(&read, &[Some(a), None]), None);
    }

    #[test]
    fn the_data_key_derivation_opens_what_it_sealed_before() {
        // Sealed when the derivation was introduced, with these keys and salt:
        // if the derivation changes, every seal made since no longer opens.
        let a = Subject::from_parts(Uuid::nil(), &[1; 32]).unwrap();
        let b = Subject::from_parts(Uuid::max(), &[2; 32]).unwrap();
        let sealed = Sealed {
            subjects: vec![a.id, b.id],
            shares: vec![],
            salt: vec![3; 16],
            ciphertext: hex::decode(SEALED_BEFORE).unwrap(),
            packing: Packing::AsIs,
        };
        assert_eq!(open(&sealed, &[Some(a), Some(b)]), Some(b"personal data".to_vec()));
    }

    #[test]
    fn values_are_encrypted_as_the_rustcrypto_crate_encrypted_them() {
        // ChaCha20-Poly1305 of the chacha20poly1305 crate 0.10.1, which sealed
        // every value before 2026-12-07, for this key, nonce and value: the
        // same bytes both ways, so what either wrote the other opens.
        let before = hex::decode(ENCRYPTED_BEFORE).unwrap();
        let mut laid_out = vec![2; 12];
        laid_out.extend(&before);
        assert_eq!(encrypt_with_nonce(&[1; 32], [2; 12], b"personal data"), laid_out);
        assert_eq!(decrypt(&[1; 32], &laid_out), Some(b"personal data".to_vec()));
        for at in 0..laid_out.len() {
            let mut changed = laid_out.clone();
            changed[at] ^= 0x10;
            assert_eq!(decrypt(&[1; 32], &changed), None, "a byte changed at {at} is refused");
        }
        assert_eq!(decrypt(&[1; 32], &laid_out[..27]), None, "shorter than a nonce and a tag");
        assert_eq!(decrypt(&[1; 32], &laid_out[..11]), None, "shorter than a nonce");
        assert_eq!(decrypt(&[1; 32], &encrypt(&[1; 32], b"")), Some(vec![]), "an empty value");
    }

    const ENCRYPTED_BEFORE: &str = "9679805de2cd89b65149888db2fa7f3e903b4e6ebe3f996ad29b52ba81";

    const SEALED_BEFORE: &str = "bfa3b76f6bbcfca09179d8c7d8234107e69de3c732dfc7411c38476352250229c4f3eb4d95fdc65868";

    #[test]
    fn a_seal_survives_its_row_encoding() {
        let stored = seal(b"as sent", &[Subject::random(), Subject::random()]);
        assert_eq!(Sealed::from_bytes(&stored.to_bytes()), Some(stored.clone()));
        assert_eq!(row_seal(&sealed_row(&stored)), Some(stored));
        assert_eq!(row_seal(b"{\"clear\":true}"), None);
    }

    #[test]
    fn the_json_form_of_a_seal_is_base64_as_in_logs_written_before() {
        let old: Sealed = serde_json::from_str(r#"{"subjects":[],"shares":["AAE="],"ciphertext":"eA=="}"#).unwrap();
        assert_eq!(
            old,
            Sealed {
                subjects: vec![],
                shares: vec![vec![0, 1]],
                salt: vec![],
                ciphertext: b"x".to_vec(),
                packing: Packing::AsIs
            }
        );
        assert_eq!(serde_json::to_string(&old).unwrap(), r#"{"subjects":[],"shares":["AAE="],"ciphertext":"eA=="}"#);
        assert!(serde_json::from_str::<Sealed>(r#"{"subjects":[],"shares":[],"ciphertext":"not base64!"}"#).is_err());
    }

    /// A statement as the gateway seals it (members in sorted order).
    fn statement_bytes(n: u32) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "actor": {"mbox": format!("mailto:learner{n}@example.org"), "name": format!("Learner {n}"), "objectType": "Agent"},
            "authority": {"account": {"homePage": "https://lrs.example.org", "name": "key"}, "objectType": "Agent"},
            "context": {"contextActivities": {"parent": [{"id": "https://example.org/courses/7", "objectType": "Activity"}]},
                        "registration": "6f1d8e2a-4c1b-4c63-9d0e-8a1f2b3c4d5e"},
            "id": "0b9f3c1e-2d4a-4e5f-8a6b-7c8d9e0f1a2b",
            "object": {"definition": {"name": {"en-US": "Quiz 3"}, "type": "http://adlnet.gov/expapi/activities/assessment"},
                       "id": "https://example.org/quizzes/3", "objectType": "Activity"},
            "result": {"completion": true, "duration": "PT4M12S", "score": {"raw": 7, "scaled": 0.7}, "success": true},
            "timestamp": "2026-12-05T21:58:22.335Z",
            "verb": {"display": {"en-US": "passed"}, "id": "http://adlnet.gov/expapi/verbs/passed"},
            "version": "1.0.0"
        }))
        .unwrap()
    }

    #[test]
    fn a_statement_is_packed_before_it_is_sealed_and_opens_as_it_was() {
        let (a, b) = (Subject::random(), Subject::random());
        for n in [1, 22, 333] {
            let plaintext = statement_bytes(n);
            let sealed = seal(&plaintext, &[a.clone(), b.clone()]);
            assert_eq!(sealed.packing, Packing::Lz4Xapi);
            // nonce and tag: 28 bytes around the packed value
            let packed = sealed.ciphertext.len() - 28;
            assert!(packed * 10 < plaintext.len() * 7, "{packed} bytes packed of {}", plaintext.len());
            assert_eq!(open(&sealed, &[Some(a.clone()), Some(b.clone())]), Some(plaintext.clone()));
            assert_eq!(open(&sealed, &[Some(a.clone()), None]), None, "packing does not open a shredded value");
            let clear = seal(&plaintext, &[]);
            assert_eq!(clear.packing, Packing::Lz4Xapi);
            assert!(!clear.ciphertext.windows(7).any(|w| w == b"Learner"), "the clear value is packed too");
            assert_eq!(open(&clear, &[]), Some(plaintext.clone()));
            let again = Sealed::from_bytes(&sealed.to_bytes()).unwrap();
            assert_eq!(again, sealed, "the packing survives the binary form");
            let json: Sealed = serde_json::from_str(&serde_json::to_string(&sealed).unwrap()).unwrap();
            assert_eq!(json, sealed, "the packing survives the JSON form");
        }
    }

    #[test]
    fn what_packing_would_not_shorten_is_sealed_as_it_is() {
        let subject = Subject::random();
        let mut noise = vec![0u8; 4096];
        rand::thread_rng().fill_bytes(&mut noise);
        for value in [noise.as_slice(), b"{\"short\":1}"] {
            let sealed = seal(value, std::slice::from_ref(&subject));
            assert_eq!(sealed.packing, Packing::AsIs);
            assert_eq!(sealed.ciphertext.len(), value.len() + 28);
            assert_eq!(open(&sealed, &[Some(subject.clone())]), Some(value.to_vec()));
        }
    }

    #[test]
    fn values_sealed_before_packing_open_as_they_were() {
        let plaintext = statement_bytes(5);
        let subject = Subject::random();
        // the seal of earlier versions: the value encrypted as it was, no packing written
        let mut share = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut share);
        let old = Sealed {
            subjects: vec![subject.id],
            shares: vec![encrypt(&subject.key, &share)],
            salt: vec![],
            ciphertext: encrypt(&share, &plaintext),
            packing: Packing::AsIs,
        };
        let proto = crate::event::SealedProto::from_sealed(&old);
        assert_eq!(proto.packing, 0);
        let read = Sealed::from_bytes(&prost::Message::encode_to_vec(&proto)).unwrap();
        assert_eq!(open(&read, &[Some(subject)]), Some(plaintext));
        let unknown = crate::event::SealedProto { packing: 9, ..proto };
        assert_eq!(Sealed::from_bytes(&prost::Message::encode_to_vec(&unknown)), None, "an unknown packing is refused");
    }

    #[test]
    fn the_dictionary_hashed_once_packs_byte_for_byte_as_hashing_it_each_time() {
        let mut noise = vec![0u8; 70_000];
        rand::thread_rng().fill_bytes(&mut noise);
        let mut values: Vec<Vec<u8>> = [1, 22, 333, 4444].map(statement_bytes).to_vec();
        // sizes around the 64 KiB where the table widens, and text that repeats the dictionary's words
        values.extend([noise[..61_000].to_vec(), noise.clone(), XAPI_DICTIONARY.repeat(3), b"{}".to_vec()]);
        for value in &values {
            let upstream = lz4_flex::block::compress_prepend_size_with_dict(value, XAPI_DICTIONARY);
            let prepared = lz4_flex::block::compress_prepend_size_with_prepared_dict(value, &XAPI_DICTIONARY_PREPARED);
            assert_eq!(prepared, upstream, "{} bytes", value.len());
            let (length, block) = lz4_flex::block::uncompressed_size(&prepared).unwrap();
            assert_eq!(lz4_flex::block::decompress_with_dict(block, length, XAPI_DICTIONARY).unwrap(), *value);
        }
    }

    #[test]
    fn the_packing_dictionary_reads_what_it_packed_before() {
        // Packed with `Packing::Lz4Xapi` when it was introduced: if the
        // dictionary changes, values packed with it no longer read.
        let value = br#"{"actor":{"mbox":"mailto:a@example.org","objectType":"Agent"},"verb":{"display":{"en-US":"completed"},"id":"http://adlnet.gov/expapi/verbs/completed"},"version":"1.0.0"}"#;
        let packed = hex::decode(PACKED_BEFORE).unwrap();
        assert_eq!(Packing::Lz4Xapi.unpack(packed), Some(value.to_vec()));
    }

    const PACKED_BEFORE: &str =
        "a90000000023100f260d02506140657861160b00cc010f6c0e0600ad0101770c0f660a48602e302e30227d";

    #[test]
    fn a_packed_value_that_is_not_ours_does_not_open() {
        let value = statement_bytes(9);
        let (packed, packing) = Packing::pack(&value);
        assert_eq!(packing, Packing::Lz4Xapi);
        let mut huge = packed.to_vec();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Packing::Lz4Xapi.unpack(huge), None, "a length the block cannot hold");
        assert_eq!(Packing::Lz4Xapi.unpack(packed[..packed.len() / 2].to_vec()), None, "a cut block");
        assert_eq!(Packing::Lz4Xapi.unpack(vec![1, 2]), None, "no length");
        let clear = Sealed {
            subjects: vec![],
            shares: vec![],
            salt: vec![],
            ciphertext: vec![200, 0, 0, 0, 7],
            packing: Packing::Lz4Xapi,
        };
        assert_eq!(open(&clear, &[]), None);
    }

    #[test]
    fn vault_rows_hold_no_agent_identifier() {
        let tenant = TenantId::parse("t").unwrap();
        let agent = "mbox:mailto:someone@example.com";
        let subject = Subject::random();
        let digest = agent_digest(&tenant, agent);
        let pair = VaultRow::encode_pair(&subject, &digest);
        for bytes in [by_agent_digest(&tenant, &digest), by_subject(&tenant, subject.id), pair.clone()] {
            assert!(!bytes.windows(7).any(|w| w == b"someone"), "a vault row names the agent");
        }
        let Some(VaultRow::Subject(read, read_digest)) = VaultRow::decode_subject(&pair, subject.id) else {
            panic!("the row does not decode as the subject's")
        };
        assert_eq!((read, read_digest), (subject.clone(), digest));
        assert!(matches!(VaultRow::decode_agent(&pair), Some(VaultRow::Agent(s)) if s == subject));
        assert!(VaultRow::decode_subject(&pair, Uuid::new_v4()).is_none(), "not another subject's row");
        // Rows of the version before, an agent's and a subject's apart.
        let agent_row = [&[2][..], subject.id.as_bytes(), &subject.key].concat();
        let subject_row = [&[2][..], &digest, &subject.key].concat();
        assert!(matches!(VaultRow::decode_agent(&agent_row), Some(VaultRow::Agent(s)) if s == subject));
        let Some(VaultRow::Subject(read, read_digest)) = VaultRow::decode_subject(&subject_row, subject.id) else {
            panic!("a subject row of the version before does not decode")
        };
        assert_eq!((read, read_digest), (subject, digest));
    }
}
