//! Erasure by crypto-shredding. Personal data reaches the log only sealed:
//! each statement (and each document about an agent) is encrypted with a data
//! key split into XOR shares, one share per agent it names, each share
//! encrypted with that agent's own key. The keys live in a vault beside the
//! log, never in it. Forgetting an agent purges the query tables and then
//! destroys its key: every event naming it can no longer be opened, so a
//! replay of the log cannot bring it back.

use std::sync::Arc;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::keys::KeyBuilder;
use crate::store::{QueryStore, StoreError, Table, WriteBatch};
use crate::tenant::TenantId;

/// An agent's pseudonymous subject id and its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Pseudonymous id carried in events instead of the agent.
    pub id: Uuid,
    /// The agent's IFI key (kept in the vault only).
    pub agent: String,
    /// Its 256-bit key, base64.
    pub key: String,
}

impl Subject {
    fn key_bytes(&self) -> Option<[u8; 32]> {
        base64::engine::general_purpose::STANDARD.decode(&self.key).ok()?.try_into().ok()
    }
}

/// The key vault: agent → subject, subject → key. It lives outside the log
/// and outside the rebuildable query tables.
#[derive(Clone)]
pub struct KeyVault {
    store: Arc<dyn QueryStore>,
    /// Subjects read lately, by vault row key (see [`KeyVault::with_cache`]).
    cache: Option<Arc<SubjectCache>>,
    /// Held while a subject is created, so that two requests naming a new
    /// agent at once in this process create one subject, not two (an orphan
    /// second key would survive the agent's erasure).
    creating: Arc<tokio::sync::Mutex<()>>,
}

/// The subjects a vault read lately, and the lock that keeps a destroyed
/// subject from coming back into the cache.
struct SubjectCache {
    subjects: quick_cache::sync::Cache<Vec<u8>, Subject>,
    /// Readers hold it from their store read to their cache insert; a destroy
    /// holds it exclusively from its store delete to its cache removal.
    destroying: tokio::sync::RwLock<()>,
}

fn by_agent(tenant: &TenantId, agent: &str) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str("agent").str(agent).build()
}

fn by_subject(tenant: &TenantId, subject: Uuid) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str("subject").bytes(subject.as_bytes()).build()
}

impl KeyVault {
    /// A vault kept in `store`'s vault table (a store of its own, for the embedded deployment).
    pub fn new(store: Arc<dyn QueryStore>) -> Self {
        Self { store, cache: None, creating: Arc::default() }
    }

    /// Keeps up to `capacity` subjects in memory. Only for a vault that no
    /// other process changes (the embedded one, which its process opens
    /// exclusively): a subject destroyed elsewhere would stay in this cache.
    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.cache = Some(Arc::new(SubjectCache {
            subjects: quick_cache::sync::Cache::new(capacity),
            destroying: tokio::sync::RwLock::new(()),
        }));
        self
    }

    /// The subject stored under a vault row key, through the cache.
    async fn read(&self, row_key: Vec<u8>) -> Result<Option<Subject>, StoreError> {
        let Some(cache) = &self.cache else {
            let row = self.store.get(Table::Vault, &row_key, &[]).await?;
            return Ok(row.and_then(|bytes| serde_json::from_slice(&bytes).ok()));
        };
        if let Some(subject) = cache.subjects.get(&row_key) {
            return Ok(Some(subject));
        }
        let _reading = cache.destroying.read().await;
        let row = self.store.get(Table::Vault, &row_key, &[]).await?;
        let subject: Option<Subject> = row.and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if let Some(subject) = &subject {
            cache.subjects.insert(row_key, subject.clone());
        }
        Ok(subject)
    }

    /// The subject of an agent, if it has one.
    pub async fn find(&self, tenant: &TenantId, agent: &str) -> Result<Option<Subject>, StoreError> {
        self.read(by_agent(tenant, agent)).await
    }

    /// The subject of an agent, created (with a fresh key) on first use.
    pub async fn subject(&self, tenant: &TenantId, agent: &str) -> Result<Subject, StoreError> {
        if let Some(subject) = self.find(tenant, agent).await? {
            return Ok(subject);
        }
        let _creating = self.creating.lock().await;
        if let Some(subject) = self.find(tenant, agent).await? {
            return Ok(subject);
        }
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let subject = Subject {
            id: Uuid::new_v4(),
            agent: agent.to_owned(),
            key: base64::engine::general_purpose::STANDARD.encode(key),
        };
        let value = serde_json::to_vec(&subject).expect("json");
        let mut batch = WriteBatch::default();
        batch.put(Table::Vault, by_agent(tenant, agent), Vec::new(), value.clone());
        batch.put(Table::Vault, by_subject(tenant, subject.id), Vec::new(), value);
        self.store.write(batch).await?;
        // Two processes sharing a vault (ScyllaDB) may still race to create
        // it: the stored one wins.
        Ok(self.find(tenant, agent).await?.unwrap_or(subject))
    }

    /// A subject by its id, unless it was forgotten.
    pub async fn by_id(&self, tenant: &TenantId, subject: Uuid) -> Result<Option<Subject>, StoreError> {
        self.read(by_subject(tenant, subject)).await
    }

    /// Destroys a subject's key for good.
    pub async fn destroy(&self, tenant: &TenantId, subject: &Subject) -> Result<(), StoreError> {
        let (agent_key, subject_key) = (by_agent(tenant, &subject.agent), by_subject(tenant, subject.id));
        let mut batch = WriteBatch::default();
        batch.delete(Table::Vault, agent_key.clone(), Vec::new());
        batch.delete(Table::Vault, subject_key.clone(), Vec::new());
        let Some(cache) = &self.cache else { return self.store.write(batch).await };
        let _destroying = cache.destroying.write().await;
        let written = self.store.write(batch).await;
        cache.subjects.remove(&agent_key);
        cache.subjects.remove(&subject_key);
        written
    }
}

/// A sealed value: readable only with the key of every subject it names.
///
/// In a JSON payload (sealed document commands, and the statements of logs
/// written before statements were sealed in binary) its bytes are base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The subjects whose keys open it.
    pub subjects: Vec<Uuid>,
    /// Each subject's share of the data key, encrypted with its key (nonce ‖ ciphertext).
    #[serde(with = "base64_list")]
    pub shares: Vec<Vec<u8>>,
    /// The value encrypted with the data key (nonce ‖ ciphertext).
    #[serde(with = "base64_bytes")]
    pub ciphertext: Vec<u8>,
}

/// Bytes as one base64 string.
mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the bytes as base64.
    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// Reads base64 back into bytes.
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// A list of byte strings as base64 strings.
mod base64_list {
    use base64::Engine as _;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes each byte string as base64.
    pub(super) fn serialize<S: Serializer>(list: &[Vec<u8>], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(list.len()))?;
        for bytes in list {
            seq.serialize_element(&base64::engine::general_purpose::STANDARD.encode(bytes))?;
        }
        seq.end()
    }

    /// Reads base64 strings back into byte strings.
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        texts
            .iter()
            .map(|text| base64::engine::general_purpose::STANDARD.decode(text).map_err(serde::de::Error::custom))
            .collect()
    }
}

fn encrypt(key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    let mut out = nonce.to_vec();
    out.extend(cipher.encrypt(Nonce::from_slice(&nonce), plaintext).expect("encryption does not fail"));
    out
}

fn decrypt(key: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 {
        return None;
    }
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    cipher.decrypt(Nonce::from_slice(&sealed[..12]), &sealed[12..]).ok()
}

/// Seals `plaintext` so that it opens only with every one of `subjects`' keys.
pub fn seal(plaintext: &[u8], subjects: &[Subject]) -> Sealed {
    let mut data_key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut data_key);
    let mut shares = Vec::with_capacity(subjects.len());
    let mut remaining = data_key;
    for (index, subject) in subjects.iter().enumerate() {
        let share = if index + 1 == subjects.len() {
            remaining
        } else {
            let mut share = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut share);
            remaining.iter_mut().zip(share).for_each(|(r, s)| *r ^= s);
            share
        };
        let key = subject.key_bytes().expect("vault keys are 32 bytes");
        shares.push(encrypt(&key, &share));
    }
    let ciphertext = if subjects.is_empty() { plaintext.to_vec() } else { encrypt(&data_key, plaintext) };
    Sealed { subjects: subjects.iter().map(|s| s.id).collect(), shares, ciphertext }
}

/// Opens a sealed value with its subjects' keys; `None` when any key is gone.
pub fn open(sealed: &Sealed, keys: &[Option<Subject>]) -> Option<Vec<u8>> {
    if sealed.subjects.is_empty() {
        return Some(sealed.ciphertext.clone());
    }
    let mut data_key = [0u8; 32];
    for (share, subject) in sealed.shares.iter().zip(keys) {
        let key = subject.as_ref()?.key_bytes()?;
        let share = decrypt(&key, share)?;
        data_key.iter_mut().zip(share).for_each(|(d, s)| *d ^= s);
    }
    decrypt(&data_key, &sealed.ciphertext)
}

/// Opens a sealed value with the keys the vault still has.
pub async fn open_with(vault: &KeyVault, tenant: &TenantId, sealed: &Sealed) -> Result<Option<Vec<u8>>, StoreError> {
    let mut keys = Vec::with_capacity(sealed.subjects.len());
    for subject in &sealed.subjects {
        keys.push(vault.by_id(tenant, *subject).await?);
    }
    Ok(open(sealed, &keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(agent: &str) -> Subject {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Subject { id: Uuid::new_v4(), agent: agent.into(), key: base64::engine::general_purpose::STANDARD.encode(key) }
    }

    #[test]
    fn a_sealed_value_opens_with_every_key_and_not_without_one() {
        let (a, b) = (subject("a"), subject("b"));
        let sealed = seal(b"personal data", &[a.clone(), b.clone()]);
        assert!(!sealed.ciphertext.windows(8).any(|w| w == b"personal"));
        assert_eq!(open(&sealed, &[Some(a.clone()), Some(b.clone())]), Some(b"personal data".to_vec()));
        assert_eq!(open(&sealed, &[Some(a.clone()), None]), None, "one forgotten subject shreds it");
        assert_eq!(open(&sealed, &[Some(a), Some(subject("b"))]), None, "another key does not open it");
        assert_eq!(open(&seal(b"x", &[]), &[]), Some(b"x".to_vec()));
    }

    #[test]
    fn the_json_form_of_a_seal_is_base64_as_in_logs_written_before() {
        let old: Sealed = serde_json::from_str(r#"{"subjects":[],"shares":["AAE="],"ciphertext":"eA=="}"#).unwrap();
        assert_eq!(old, Sealed { subjects: vec![], shares: vec![vec![0, 1]], ciphertext: b"x".to_vec() });
        assert_eq!(serde_json::to_string(&old).unwrap(), r#"{"subjects":[],"shares":["AAE="],"ciphertext":"eA=="}"#);
        assert!(serde_json::from_str::<Sealed>(r#"{"subjects":[],"shares":[],"ciphertext":"not base64!"}"#).is_err());
    }
}
