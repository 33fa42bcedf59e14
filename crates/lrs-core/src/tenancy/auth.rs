//! Credentials, scopes and authentication: a credential (or a JWT) belongs to
//! exactly one tenant and carries the xAPI scopes it grants.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::directory::Directory;
use crate::keys::KeyBuilder;
use crate::store::{QueryStore, StoreError, Table, WriteBatch};
use crate::tenant::TenantId;
use crate::tenants::{load_tenant, Tenant};

/// The xAPI authorization scopes (xAPI 1.0.3 Communication 4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Write statements.
    #[serde(rename = "statements/write")]
    StatementsWrite,
    /// Read any statement.
    #[serde(rename = "statements/read")]
    StatementsRead,
    /// Read the statements this credential wrote.
    #[serde(rename = "statements/read/mine")]
    StatementsReadMine,
    /// Read everything.
    #[serde(rename = "all/read")]
    AllRead,
    /// Everything.
    #[serde(rename = "all")]
    All,
    /// Read and write state documents.
    #[serde(rename = "state")]
    State,
    /// Read and write activity and agent profiles.
    #[serde(rename = "profile")]
    Profile,
    /// Define activities and agents (read their definitions).
    #[serde(rename = "define")]
    Define,
    /// Read the analytics (`/analytics/v1`); `all/read` and `all` grant it too.
    #[serde(rename = "analytics/read")]
    AnalyticsRead,
    /// Export the tenant's statements (`/export/v1`); only `all` grants it too.
    #[serde(rename = "export")]
    Export,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 10] = [
        Scope::StatementsWrite,
        Scope::StatementsRead,
        Scope::StatementsReadMine,
        Scope::AllRead,
        Scope::All,
        Scope::State,
        Scope::Profile,
        Scope::Define,
        Scope::AnalyticsRead,
        Scope::Export,
    ];

    /// The scope's name, e.g. `statements/write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::StatementsWrite => "statements/write",
            Scope::StatementsRead => "statements/read",
            Scope::StatementsReadMine => "statements/read/mine",
            Scope::AllRead => "all/read",
            Scope::All => "all",
            Scope::State => "state",
            Scope::Profile => "profile",
            Scope::Define => "define",
            Scope::AnalyticsRead => "analytics/read",
            Scope::Export => "export",
        }
    }

    /// Parses a scope name.
    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_scopes() -> Vec<Scope> {
    vec![Scope::All]
}

/// A stored credential: its secret is kept only as an argon2 hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Public key (the HTTP Basic user name).
    pub key: String,
    /// Tenant the credential belongs to.
    pub tenant: TenantId,
    /// Argon2 hash of the secret (PHC string).
    pub secret_hash: String,
    /// Scopes it grants.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<Scope>,
    /// When it stops working, microseconds since the epoch.
    #[serde(default)]
    pub expires_micros: Option<i64>,
    /// Revoked credentials never authenticate again.
    #[serde(default)]
    pub revoked: bool,
    /// The Agent set as `authority` on statements written with it.
    pub authority: serde_json::Value,
    /// Grows with every change of the record (see [`Tenant::revision`]).
    #[serde(default)]
    pub revision: u64,
}

/// Hashes a secret with argon2 and a random salt.
pub fn hash_secret(secret: &str) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default().hash_password(secret.as_bytes(), &salt).expect("argon2 hashes any secret").to_string()
}

/// A new random secret: 40 alphanumerics.
pub fn generate_secret() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
}

/// A new random key: 20 alphanumerics.
pub fn generate_key() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}

impl Credential {
    /// A credential for `tenant` with the given key, secret and scopes.
    pub fn new(tenant: TenantId, key: &str, secret: &str, scopes: Vec<Scope>) -> Self {
        let authority = serde_json::json!({
            "objectType": "Agent",
            "name": format!("credential {key}"),
            "account": { "homePage": "https://lrs.invalid/credentials", "name": key },
        });
        Self {
            key: key.to_owned(),
            tenant,
            secret_hash: hash_secret(secret),
            scopes,
            expires_micros: None,
            revoked: false,
            authority,
            revision: 0,
        }
    }

    /// True when `secret` is this credential's secret (slow: argon2).
    pub fn verify(&self, secret: &str) -> bool {
        PasswordHash::new(&self.secret_hash)
            .map(|hash| Argon2::default().verify_password(secret.as_bytes(), &hash).is_ok())
            .unwrap_or(false)
    }

    /// True when it may authenticate at `now` (microseconds).
    pub fn is_active(&self, now_micros: i64) -> bool {
        !self.revoked && self.expires_micros.is_none_or(|expires| now_micros < expires)
    }
}

/// Reads and writes credentials in the store's credentials table.
#[derive(Clone)]
pub struct CredentialStore {
    store: Arc<dyn QueryStore>,
}

/// Partition key of a credential row.
pub fn credential_partition(key: &str) -> Vec<u8> {
    KeyBuilder::new().str(key).build()
}

/// Meta partition listing a tenant's credential keys (one row each, the key
/// as clustering): what listing a tenant's credentials reads.
pub fn tenant_credentials_partition(tenant: &TenantId) -> Vec<u8> {
    KeyBuilder::new().str("tenant-credentials").str(tenant.as_str()).build()
}

/// Meta row present once the lists of every tenant's credential keys hold
/// every credential (written after the first listing filled them from
/// credentials stored before the lists existed).
fn credential_lists_partition() -> Vec<u8> {
    KeyBuilder::new().str("tenant-credentials-complete").build()
}

/// Adds a credential to its tenant's list of keys.
pub fn list_credential(batch: &mut WriteBatch, credential: &Credential) {
    batch.put(
        Table::Meta,
        tenant_credentials_partition(&credential.tenant),
        credential.key.as_bytes().to_vec(),
        Vec::new(),
    );
}

impl CredentialStore {
    /// Credentials kept in `store`.
    pub fn new(store: Arc<dyn QueryStore>) -> Self {
        Self { store }
    }

    /// The credential with this key, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Credential>, StoreError> {
        let row = self.store.get(Table::Credentials, &credential_partition(key), &[]).await?;
        Ok(row.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Stores (or replaces) a credential directly (bootstrap only; the admin API goes through the log).
    pub async fn put(&self, credential: &Credential) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let value = serde_json::to_vec(credential).expect("credentials serialise");
        batch.put(Table::Credentials, credential_partition(&credential.key), Vec::new(), value);
        list_credential(&mut batch, credential);
        self.store.write(batch).await
    }

    /// Stores a tenant record directly (bootstrap only).
    pub async fn put_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let value = serde_json::to_vec(tenant).expect("tenants serialise");
        batch.put(Table::Tenants, crate::tenants::tenant_partition(&tenant.id), Vec::new(), value);
        self.store.write(batch).await
    }

    /// Every credential of a tenant, by its list of keys (not a read of
    /// every tenant's credentials), in key order.
    pub async fn of_tenant(&self, tenant: &TenantId) -> Result<Vec<Credential>, StoreError> {
        self.complete_lists().await?;
        let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
        let partition = tenant_credentials_partition(tenant);
        let keys = self.store.scan(Table::Meta, &partition, all, crate::store::Order::Ascending, usize::MAX).await?;
        let mut credentials = Vec::with_capacity(keys.len());
        for (key, _) in keys {
            let Ok(key) = String::from_utf8(key) else { continue };
            if let Some(credential) = self.get(&key).await?.filter(|c| c.tenant == *tenant) {
                credentials.push(credential);
            }
        }
        Ok(credentials)
    }

    /// Fills the tenants' lists of credential keys from the credentials
    /// table, once per store: credentials stored before the lists existed.
    /// Idempotent, so two processes doing it at once do no harm.
    async fn complete_lists(&self) -> Result<(), StoreError> {
        let marker = credential_lists_partition();
        if self.store.get(Table::Meta, &marker, &[]).await?.is_some() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for (_, _, value) in self.store.dump(Table::Credentials).await? {
            if let Ok(credential) = serde_json::from_slice::<Credential>(&value) {
                list_credential(&mut batch, &credential);
            }
        }
        batch.put(Table::Meta, marker, Vec::new(), vec![1]);
        self.store.write(batch).await
    }

    /// The tenant record, if any.
    pub async fn tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>, StoreError> {
        load_tenant(self.store.as_ref(), tenant).await
    }
}

/// Who made a request: the tenant, the scopes granted and the authority.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The tenant whose data the request reads and writes.
    pub tenant: TenantId,
    /// The Agent set as `authority` on statements it writes.
    pub authority: serde_json::Value,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Its tenant's request rate limit, per second (none: unlimited).
    pub requests_per_second: Option<u32>,
    /// The statement plan its statements are checked against, if any.
    pub plan: Option<crate::plan::StatementPlan>,
}

impl Principal {
    /// A principal with every scope (tests, bootstrap).
    pub fn with_all_scopes(tenant: TenantId, authority: serde_json::Value) -> Self {
        Self { tenant, authority, scopes: vec![Scope::All], requests_per_second: None, plan: None }
    }

    /// The credential key (or token subject) it acts with: its authority's account name.
    pub fn source(&self) -> Option<&str> {
        xapi::str_at(&self.authority, &["account", "name"])
    }

    /// True when it holds any of `scopes` (or `all`).
    pub fn has_any(&self, scopes: &[Scope]) -> bool {
        self.scopes.iter().any(|held| *held == Scope::All || scopes.contains(held))
    }
}

/// What a request learns from its tenant's record.
struct TenantStatus {
    open: bool,
    requests_per_second: Option<u32>,
    plan: Option<crate::plan::StatementPlan>,
}

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Unknown key, wrong secret, or a bad token (401).
    #[error("{0}")]
    Unauthenticated(String),
}

/// A secret that passed argon2: the row's hash it was checked against, and
/// the SHA-256 of the secret, so the next request with it skips argon2.
type Verified = (String, [u8; 32]);

/// Locks of the argon2 checks: a secret's check runs under the lock of its
/// stripe (by its SHA-256), so that requests that come together with a
/// secret not yet verified (after a start, a rotation) wait for one check
/// instead of each running its own, and other secrets (a wrong one sent
/// many times) rarely share its stripe.
const CHECK_STRIPES: usize = 64;

/// Checks HTTP Basic credentials and Bearer JWTs.
#[derive(Clone)]
pub struct Authenticator {
    directory: Arc<dyn Directory>,
    fixed: Arc<HashMap<String, Credential>>,
    verified: Arc<Mutex<HashMap<String, Verified>>>,
    checking: Arc<[tokio::sync::Mutex<()>]>,
    checks: Arc<std::sync::atomic::AtomicU64>,
    jwt: Option<JwtVerifier>,
    plans: Arc<crate::plan::PlanCompiler>,
}

impl Authenticator {
    /// An authenticator over the credentials and tenants of a directory.
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Self {
            directory,
            fixed: Arc::default(),
            verified: Arc::default(),
            checking: (0..CHECK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            checks: Arc::default(),
            jwt: None,
            plans: Arc::default(),
        }
    }

    /// How many argon2 checks of a secret it has run.
    pub fn secret_checks(&self) -> u64 {
        self.checks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether `secret` (its SHA-256 `digest`) passed argon2 against the
    /// credential's current hash before.
    fn verified_before(&self, key: &str, credential: &Credential, digest: &[u8; 32]) -> bool {
        let verified = self.verified.lock().expect("auth cache");
        verified.get(key).is_some_and(|(hash, known)| *hash == credential.secret_hash && known == digest)
    }

    /// Also knows `credentials` while the directory has no record of their
    /// keys (the bootstrap credential of a gateway whose directory has not
    /// heard of it yet); a record in the directory always wins, so a
    /// rotation or revocation holds.
    pub fn with_fixed(mut self, credentials: Vec<Credential>) -> Self {
        self.fixed = Arc::new(credentials.into_iter().map(|c| (c.key.clone(), c)).collect());
        self
    }

    /// Also accepts Bearer JWTs checked by `verifier`.
    pub fn with_jwt(mut self, verifier: JwtVerifier) -> Self {
        self.jwt = Some(verifier);
        self
    }

    async fn lookup(&self, key: &str) -> Result<Option<Credential>, StoreError> {
        match self.directory.credential(key).await? {
            Some(credential) => Ok(Some(credential)),
            None => Ok(self.fixed.get(key).cloned()),
        }
    }

    /// Whether the tenant may authenticate, its request rate limit, and the
    /// statement plan of requests made with credential `key`.
    async fn tenant_status(&self, tenant: &TenantId, key: Option<&str>) -> Result<TenantStatus, StoreError> {
        let record = self.directory.tenant(tenant).await?;
        Ok(TenantStatus {
            open: record.as_ref().is_none_or(Tenant::is_open),
            requests_per_second: record.as_ref().and_then(|t| t.requests_per_second),
            plan: record.as_ref().and_then(|t| self.plans.plan(t, key)),
        })
    }

    /// The principal of a key and secret. The credential is looked up in the
    /// directory on every request (so a rotation or revocation holds as soon
    /// as the directory has it); the slow argon2 check runs once per secret
    /// and record.
    pub async fn authenticate(&self, key: &str, secret: &str) -> Result<Result<Principal, AuthError>, StoreError> {
        let wrong = || Ok(Err(AuthError::Unauthenticated("unknown key or wrong secret".into())));
        let Some(credential) = self.lookup(key).await? else { return wrong() };
        let now = chrono::Utc::now().timestamp_micros();
        if !credential.is_active(now) {
            return Ok(Err(AuthError::Unauthenticated("the credential is revoked or expired".into())));
        }
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if !self.verified_before(key, &credential, &digest) {
            let stripe = digest[0] as usize % self.checking.len();
            let _turn = self.checking[stripe].lock().await;
            if !self.verified_before(key, &credential, &digest) {
                self.checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if !credential.verify(secret) {
                    return wrong();
                }
                let verified = (credential.secret_hash.clone(), digest);
                self.verified.lock().expect("auth cache").insert(key.to_owned(), verified);
            }
        }
        let status = self.tenant_status(&credential.tenant, Some(key)).await?;
        if !status.open {
            return Ok(Err(AuthError::Unauthenticated("the tenant is suspended or deleted".into())));
        }
        Ok(Ok(Principal {
            tenant: credential.tenant,
            authority: credential.authority,
            scopes: credential.scopes,
            requests_per_second: status.requests_per_second,
            plan: status.plan,
        }))
    }

    /// The principal of a Bearer JWT.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Result<Principal, AuthError>, StoreError> {
        let Some(jwt) = &self.jwt else {
            return Ok(Err(AuthError::Unauthenticated("Bearer tokens are not enabled on this LRS".into())));
        };
        let mut principal = match jwt.verify(token) {
            Ok(principal) => principal,
            Err(error) => return Ok(Err(error)),
        };
        let subject = principal.source().map(str::to_owned);
        let status = self.tenant_status(&principal.tenant, subject.as_deref()).await?;
        if !status.open {
            return Ok(Err(AuthError::Unauthenticated("the tenant is suspended or deleted".into())));
        }
        principal.requests_per_second = status.requests_per_second;
        principal.plan = status.plan;
        Ok(Ok(principal))
    }
}

/// Checks Bearer JWTs: HS256 with a shared secret and/or RS256 with a public
/// key; claims `tenant`, `scope` (space-separated) or `scopes` (array), `exp`,
/// optional `sub`; bounded clock skew.
#[derive(Clone)]
pub struct JwtVerifier {
    hs256: Option<jsonwebtoken::DecodingKey>,
    rs256: Option<jsonwebtoken::DecodingKey>,
    leeway_seconds: u64,
}

#[derive(Deserialize)]
struct Claims {
    tenant: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    sub: Option<String>,
}

impl JwtVerifier {
    /// A verifier with an HS256 secret and/or an RS256 public key (PEM).
    pub fn new(hs256_secret: Option<&[u8]>, rs256_public_pem: Option<&[u8]>) -> Result<Self, String> {
        let rs256 = rs256_public_pem
            .map(jsonwebtoken::DecodingKey::from_rsa_pem)
            .transpose()
            .map_err(|e| format!("the RS256 public key is not an RSA PEM key: {e}"))?;
        Ok(Self { hs256: hs256_secret.map(jsonwebtoken::DecodingKey::from_secret), rs256, leeway_seconds: 60 })
    }

    /// The principal a token stands for, or why not.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let bad = |message: String| AuthError::Unauthenticated(message);
        let header = jsonwebtoken::decode_header(token).map_err(|e| bad(format!("malformed token: {e}")))?;
        let key = match header.alg {
            jsonwebtoken::Algorithm::HS256 => self.hs256.as_ref(),
            jsonwebtoken::Algorithm::RS256 => self.rs256.as_ref(),
            _ => None,
        }
        .ok_or_else(|| bad(format!("tokens signed with {:?} are not accepted", header.alg)))?;
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.leeway = self.leeway_seconds;
        validation.set_required_spec_claims(&["exp"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| bad(format!("invalid token: {e}")))?;
        let claims = data.claims;
        let tenant = TenantId::parse(&claims.tenant).map_err(|e| bad(e.to_string()))?;
        let names: Vec<String> = match (claims.scopes, claims.scope) {
            (Some(list), _) => list,
            (None, Some(text)) => text.split_whitespace().map(str::to_owned).collect(),
            (None, None) => Vec::new(),
        };
        let scopes = names
            .iter()
            .map(|name| Scope::parse(name).ok_or_else(|| bad(format!("unknown scope {name:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let subject = claims.sub.unwrap_or_else(|| "anonymous".into());
        let authority = serde_json::json!({
            "objectType": "Agent",
            "name": format!("token {subject}"),
            "account": { "homePage": "https://lrs.invalid/tokens", "name": subject },
        });
        Ok(Principal { tenant, authority, scopes, requests_per_second: None, plan: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory that knows one credential and no tenant record.
    struct OneCredential(Credential);

    #[async_trait::async_trait]
    impl Directory for OneCredential {
        async fn credential(&self, key: &str) -> Result<Option<Credential>, StoreError> {
            Ok((key == self.0.key).then(|| self.0.clone()))
        }

        async fn tenant(&self, _id: &TenantId) -> Result<Option<crate::tenants::Tenant>, StoreError> {
            Ok(None)
        }
    }

    /// Eight requests that come at once with a secret not checked yet (as
    /// after a start) run argon2 once; a wrong secret is checked and refused
    /// each time, and the right one is not checked again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_that_come_together_check_a_secret_once() {
        let credential = Credential::new(TenantId::parse("t").unwrap(), "key", "s3cret", vec![Scope::All]);
        let auth = Authenticator::new(Arc::new(OneCredential(credential)));
        let mut together = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let auth = auth.clone();
            together.spawn(async move { auth.authenticate("key", "s3cret").await.unwrap() });
        }
        while let Some(answer) = together.join_next().await {
            assert_eq!(answer.unwrap().unwrap().tenant.as_str(), "t");
        }
        assert_eq!(auth.secret_checks(), 1);
        for _ in 0..2 {
            assert!(auth.authenticate("key", "wrong").await.unwrap().is_err());
        }
        assert_eq!(auth.secret_checks(), 3, "a wrong secret is checked each time it comes");
        assert!(auth.authenticate("key", "s3cret").await.unwrap().is_ok());
        assert_eq!(auth.secret_checks(), 3);
    }

    #[test]
    fn a_credential_verifies_its_own_secret_only() {
        let credential = Credential::new(TenantId::parse("t").unwrap(), "key", "s3cret", vec![Scope::All]);
        assert!(credential.verify("s3cret"));
        assert!(!credential.verify("s3cret "));
        assert!(!credential.verify(""));
        assert!(!credential.secret_hash.contains("s3cret"));
        assert!(credential.secret_hash.starts_with("$argon2"));
    }

    #[test]
    fn scopes_parse_by_their_xapi_names() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert_eq!(serde_json::to_value(scope).unwrap(), serde_json::json!(scope.as_str()));
        }
        assert_eq!(Scope::parse("statements/delete"), None);
    }

    #[test]
    fn all_grants_every_scope() {
        let tenant = TenantId::parse("t").unwrap();
        let principal = Principal::with_all_scopes(tenant, serde_json::json!({}));
        assert!(principal.has_any(&[Scope::State]));
        let reader = Principal { scopes: vec![Scope::StatementsRead], ..principal };
        assert!(reader.has_any(&[Scope::StatementsRead, Scope::AllRead]));
        assert!(!reader.has_any(&[Scope::StatementsWrite]));
    }

    #[test]
    fn jwt_claims_become_a_principal_and_bad_tokens_are_refused() {
        use jsonwebtoken::{encode, EncodingKey, Header};
        let verifier = JwtVerifier::new(Some(b"shared-secret"), None).unwrap();
        let exp = chrono::Utc::now().timestamp() + 600;
        let claims = serde_json::json!({"tenant": "acme", "scope": "statements/read state", "exp": exp, "sub": "u1"});
        let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(b"shared-secret")).unwrap();
        let principal = verifier.verify(&token).unwrap();
        assert_eq!(principal.tenant.as_str(), "acme");
        assert_eq!(principal.scopes, [Scope::StatementsRead, Scope::State]);
        let forged = encode(&Header::default(), &claims, &EncodingKey::from_secret(b"other")).unwrap();
        assert!(verifier.verify(&forged).is_err());
        let expired = serde_json::json!({"tenant": "acme", "scope": "all", "exp": exp - 3600});
        let expired = encode(&Header::default(), &expired, &EncodingKey::from_secret(b"shared-secret")).unwrap();
        assert!(verifier.verify(&expired).is_err());
        assert!(verifier.verify("not.a.token").is_err());
    }
}
