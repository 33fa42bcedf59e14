//! Credentials and authentication: a credential belongs to exactly one tenant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keys::KeyBuilder;
use crate::store::{QueryStore, StoreError, Table, WriteBatch};
use crate::tenant::TenantId;

/// A stored credential: its secret is kept only as a salted hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Public key (the HTTP Basic user name).
    pub key: String,
    /// Tenant the credential belongs to.
    pub tenant: TenantId,
    /// Hex salt of the secret hash.
    pub salt: String,
    /// Hex SHA-256 of salt and secret.
    pub secret_hash: String,
    /// The Agent set as `authority` on statements written with it.
    pub authority: serde_json::Value,
}

impl Credential {
    /// A credential for `tenant` with the given key and secret.
    pub fn new(tenant: TenantId, key: &str, secret: &str, salt: [u8; 16]) -> Self {
        let salt = hex(&salt);
        let secret_hash = hash_secret(&salt, secret);
        let authority = serde_json::json!({
            "objectType": "Agent",
            "name": format!("credential {key}"),
            "account": { "homePage": "https://lrs.invalid/credentials", "name": key },
        });
        Self { key: key.to_owned(), tenant, salt, secret_hash, authority }
    }

    /// True when `secret` is this credential's secret.
    pub fn verify(&self, secret: &str) -> bool {
        let candidate = hash_secret(&self.salt, secret);
        constant_time_eq(candidate.as_bytes(), self.secret_hash.as_bytes())
    }
}

fn hash_secret(salt: &str, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(secret.as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads and writes credentials in the store's credentials table.
#[derive(Clone)]
pub struct CredentialStore {
    store: Arc<dyn QueryStore>,
}

impl CredentialStore {
    /// Credentials kept in `store`.
    pub fn new(store: Arc<dyn QueryStore>) -> Self {
        Self { store }
    }

    fn partition(key: &str) -> Vec<u8> {
        KeyBuilder::new().str(key).build()
    }

    /// The credential with this key, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Credential>, StoreError> {
        let row = self.store.get(Table::Credentials, &Self::partition(key), &[]).await?;
        Ok(row.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Stores (or replaces) a credential.
    pub async fn put(&self, credential: &Credential) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let value = serde_json::to_vec(credential).expect("credentials serialise");
        batch.put(Table::Credentials, Self::partition(&credential.key), Vec::new(), value);
        self.store.write(batch).await
    }
}

/// Who made a request: the tenant and the authority of its credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The tenant whose data the request reads and writes.
    pub tenant: TenantId,
    /// The Agent set as `authority` on statements it writes.
    pub authority: serde_json::Value,
}

/// Checks HTTP Basic credentials, caching what it has read from the store.
#[derive(Clone)]
pub struct Authenticator {
    credentials: Option<CredentialStore>,
    cache: Arc<Mutex<HashMap<String, Credential>>>,
}

impl Authenticator {
    /// An authenticator over the credentials in a store.
    pub fn new(credentials: CredentialStore) -> Self {
        Self { credentials: Some(credentials), cache: Arc::default() }
    }

    /// An authenticator that knows only the given credentials: for a gateway
    /// that runs beside no store.
    pub fn fixed(credentials: Vec<Credential>) -> Self {
        let cache = credentials.into_iter().map(|c| (c.key.clone(), c)).collect();
        Self { credentials: None, cache: Arc::new(Mutex::new(cache)) }
    }

    /// The principal of a key and secret, or `None` when they do not match.
    pub async fn authenticate(&self, key: &str, secret: &str) -> Result<Option<Principal>, StoreError> {
        let cached = self.cache.lock().expect("auth cache lock").get(key).cloned();
        let credential = match cached {
            Some(credential) => credential,
            None => match self.lookup(key).await? {
                Some(credential) => {
                    self.cache.lock().expect("auth cache lock").insert(key.to_owned(), credential.clone());
                    credential
                }
                None => return Ok(None),
            },
        };
        Ok(credential
            .verify(secret)
            .then(|| Principal { tenant: credential.tenant.clone(), authority: credential.authority.clone() }))
    }
}

impl Authenticator {
    async fn lookup(&self, key: &str) -> Result<Option<Credential>, StoreError> {
        match &self.credentials {
            Some(credentials) => credentials.get(key).await,
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_verifies_its_own_secret_only() {
        let credential = Credential::new(TenantId::parse("t").unwrap(), "key", "s3cret", [7; 16]);
        assert!(credential.verify("s3cret"));
        assert!(!credential.verify("s3cret "));
        assert!(!credential.verify(""));
        assert!(!credential.secret_hash.contains("s3cret"));
    }
}
