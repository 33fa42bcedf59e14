//! The operator's administration of tenants and credentials. Every change is
//! a command through the log (so it is ordered, replayable and kept as the
//! audit trail); reads come from the tables.

use std::sync::Arc;

use crate::auth::{generate_key, generate_secret, hash_secret, Credential, CredentialStore, Scope};
use crate::event::Command;
use crate::forwarders::Forwarder;
use crate::gateway::{Gateway, GatewayError};
use crate::store::{QueryStore, StoreError};
use crate::tables::forwarding::{self, DeadLetter, ForwarderState};
use crate::tenant::TenantId;
use crate::tenants::{audit_trail, list_tenants, load_tenant, AuditEntry, Enforcement, Tenant, TenantProfile};
use crate::vault::KeyVault;

/// Why an administrative request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// 400.
    #[error("{0}")]
    Invalid(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 503.
    #[error("{0}")]
    Unavailable(String),
}

impl From<GatewayError> for AdminError {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::Invalid(message) | GatewayError::BreaksPlan(message) => AdminError::Invalid(message),
            GatewayError::Conflict(message) => AdminError::Conflict(message),
            GatewayError::PreconditionFailed(message) => AdminError::Conflict(message),
            GatewayError::Unavailable(message) => AdminError::Unavailable(message),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        AdminError::Unavailable(error.to_string())
    }
}

/// A credential as the operator sees it: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CredentialView {
    /// Its key.
    pub key: String,
    /// Its tenant.
    pub tenant: String,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// When it expires, microseconds since the epoch.
    pub expires_micros: Option<i64>,
    /// Whether it is revoked.
    pub revoked: bool,
}

impl From<&Credential> for CredentialView {
    fn from(credential: &Credential) -> Self {
        Self {
            key: credential.key.clone(),
            tenant: credential.tenant.to_string(),
            scopes: credential.scopes.clone(),
            expires_micros: credential.expires_micros,
            revoked: credential.revoked,
        }
    }
}

/// A loaded profile as the operator sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProfileView {
    /// The profile's IRI.
    pub id: String,
    /// Whether it applies to every statement of the tenant (else to those
    /// naming one of its versions among their category activities).
    pub applies_to_all: bool,
    /// When it was loaded, microseconds since the epoch.
    pub loaded_micros: i64,
    /// How many statement templates it has.
    pub templates: usize,
    /// How many patterns it has (primary ones included).
    pub patterns: usize,
    /// What the document gets wrong that the checks can live with.
    pub warnings: Vec<String>,
}

impl ProfileView {
    fn of(stored: &TenantProfile) -> Self {
        let compiled = crate::plan::parse_profile(&stored.document);
        let (templates, patterns, warnings) = match &compiled {
            Ok(profile) => (profile.templates.len(), profile.patterns.len(), profile.warnings.clone()),
            Err(error) => (0, 0, vec![format!("no longer compiles: {error}")]),
        };
        Self {
            id: stored.id.clone(),
            applies_to_all: stored.applies_to_all,
            loaded_micros: stored.loaded_micros,
            templates,
            patterns,
            warnings,
        }
    }
}

/// A tenant's enforcement of its profiles.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EnforcementView {
    /// The tenant's mode.
    pub mode: Enforcement,
    /// The modes of particular credentials.
    pub credentials: std::collections::BTreeMap<String, Enforcement>,
}

/// A tenant's record as the operator sees it: its forwarders' secrets hidden.
fn shown(mut tenant: Tenant) -> Tenant {
    tenant.forwarders = tenant.forwarders.iter().map(Forwarder::redacted).collect();
    tenant
}

/// Administration of tenants and credentials.
#[derive(Clone)]
pub struct AdminService {
    gateway: Gateway,
    store: Arc<dyn QueryStore>,
    vault: Option<KeyVault>,
}

impl AdminService {
    /// Administration writing through `gateway` and reading `store`.
    pub fn new(gateway: Gateway, store: Arc<dyn QueryStore>) -> Self {
        Self { gateway, store, vault: None }
    }

    /// Forgets agents through `vault` (crypto-shredding).
    pub fn with_vault(mut self, vault: KeyVault) -> Self {
        self.vault = Some(vault);
        self
    }

    /// Forgets an agent: the projector purges every statement sealed for it,
    /// its documents and what is known of it, then destroys its key, so that
    /// no replay of the log brings any of it back; answered once the key is
    /// gone.
    pub async fn forget_agent(&self, tenant: &TenantId, agent: &str) -> Result<(), AdminError> {
        let Some(vault) = &self.vault else {
            return Err(AdminError::Invalid("erasure needs the key vault, which this process does not have".into()));
        };
        self.tenant(tenant).await?;
        let key = xapi::parse_agent_param(agent).map_err(|e| AdminError::Invalid(e.to_string()))?;
        let subject = vault
            .find(tenant, key.as_str())
            .await?
            .ok_or_else(|| AdminError::NotFound("nothing is stored about this agent".into()))?;
        self.gateway.submit_admin(tenant, &Command::ForgetSubject { subject: subject.id }).await?;
        Ok(())
    }

    async fn tenant(&self, id: &TenantId) -> Result<Tenant, AdminError> {
        load_tenant(self.store.as_ref(), id)
            .await?
            .filter(|tenant| !tenant.deleted)
            .ok_or_else(|| AdminError::NotFound(format!("no tenant {id}")))
    }

    async fn credential(&self, key: &str) -> Result<Credential, AdminError> {
        CredentialStore::new(self.store.clone())
            .get(key)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no credential {key}")))
    }

    async fn put_tenant(&self, tenant: Tenant, create: bool, action: &str) -> Result<Tenant, AdminError> {
        let command = Command::PutTenant { tenant: tenant.clone(), create, action: action.into() };
        self.gateway.submit_admin(&tenant.id, &command).await?;
        Ok(shown(tenant))
    }

    async fn put_credential(&self, credential: Credential, create: bool, action: &str) -> Result<(), AdminError> {
        let tenant = credential.tenant.clone();
        let command = Command::PutCredential { credential, create, action: action.into() };
        self.gateway.submit_admin(&tenant, &command).await?;
        Ok(())
    }

    /// Creates a tenant.
    pub async fn create_tenant(
        &self,
        id: &str,
        name: &str,
        requests_per_second: Option<u32>,
    ) -> Result<Tenant, AdminError> {
        let id = TenantId::parse(id).map_err(|e| AdminError::Invalid(e.to_string()))?;
        let mut tenant = Tenant::new(id, name);
        tenant.requests_per_second = requests_per_second;
        self.put_tenant(tenant, true, "tenant.create").await
    }

    /// Every tenant that is not deleted.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, AdminError> {
        Ok(list_tenants(self.store.as_ref()).await?.into_iter().filter(|t| !t.deleted).map(shown).collect())
    }

    /// Suspends (or resumes) a tenant: its credentials stop (or start again) authenticating.
    pub async fn suspend_tenant(&self, id: &TenantId, suspended: bool) -> Result<Tenant, AdminError> {
        let mut tenant = self.tenant(id).await?;
        tenant.suspended = suspended;
        let action = if suspended { "tenant.suspend" } else { "tenant.resume" };
        self.put_tenant(tenant, false, action).await
    }

    /// Changes a tenant's request rate limit.
    pub async fn set_rate_limit(&self, id: &TenantId, requests_per_second: Option<u32>) -> Result<Tenant, AdminError> {
        let mut tenant = self.tenant(id).await?;
        tenant.requests_per_second = requests_per_second;
        self.put_tenant(tenant, false, "tenant.limits").await
    }

    /// Changes how long a tenant's statements are kept (none: for ever).
    pub async fn set_retention(&self, id: &TenantId, retention_seconds: Option<u64>) -> Result<Tenant, AdminError> {
        let mut tenant = self.tenant(id).await?;
        tenant.retention_seconds = retention_seconds;
        self.put_tenant(tenant, false, "tenant.retention.set").await
    }

    /// Removes, now, every statement past each tenant's retention (a sweeper
    /// calls this periodically).
    pub async fn apply_retention(&self) -> Result<usize, AdminError> {
        let now = chrono::Utc::now().timestamp_micros();
        let mut applied = 0;
        for tenant in self.tenants().await? {
            if let Some(before_micros) = tenant.retention_cutoff(now) {
                self.gateway.submit_admin(&tenant.id, &Command::ApplyRetention { before_micros }).await?;
                applied += 1;
            }
        }
        Ok(applied)
    }

    /// Deletes a tenant: it and its credentials stop working for good.
    pub async fn delete_tenant(&self, id: &TenantId) -> Result<(), AdminError> {
        let mut tenant = self.tenant(id).await?;
        tenant.deleted = true;
        self.put_tenant(tenant, false, "tenant.delete").await?;
        Ok(())
    }

    /// Issues a credential; the secret is returned once and stored only hashed.
    pub async fn issue_credential(
        &self,
        tenant: &TenantId,
        scopes: Vec<Scope>,
        expires_micros: Option<i64>,
    ) -> Result<(CredentialView, String), AdminError> {
        self.tenant(tenant).await?;
        if scopes.is_empty() {
            return Err(AdminError::Invalid("a credential needs at least one scope".into()));
        }
        let key = generate_key();
        let secret = generate_secret();
        let mut credential = Credential::new(tenant.clone(), &key, &secret, scopes);
        credential.expires_micros = expires_micros;
        let view = CredentialView::from(&credential);
        self.put_credential(credential, true, "credential.issue").await?;
        Ok((view, secret))
    }

    /// The credentials of a tenant.
    pub async fn credentials(&self, tenant: &TenantId) -> Result<Vec<CredentialView>, AdminError> {
        self.tenant(tenant).await?;
        let credentials = CredentialStore::new(self.store.clone()).of_tenant(tenant).await?;
        Ok(credentials.iter().map(CredentialView::from).collect())
    }

    /// Gives a credential a new secret; the old one stops working at once.
    pub async fn rotate_credential(&self, key: &str) -> Result<(CredentialView, String), AdminError> {
        let mut credential = self.credential(key).await?;
        if credential.revoked {
            return Err(AdminError::Conflict(format!("credential {key} is revoked")));
        }
        let secret = generate_secret();
        credential.secret_hash = hash_secret(&secret);
        let view = CredentialView::from(&credential);
        self.put_credential(credential, false, "credential.rotate").await?;
        Ok((view, secret))
    }

    /// Revokes a credential for good.
    pub async fn revoke_credential(&self, key: &str) -> Result<(), AdminError> {
        let mut credential = self.credential(key).await?;
        credential.revoked = true;
        self.put_credential(credential, false, "credential.revoke").await
    }

    /// Loads a profile into a tenant's statement plan (replacing a loaded
    /// profile with the same IRI); a document the checks cannot use is
    /// refused saying what is wrong.
    pub async fn add_profile(
        &self,
        id: &TenantId,
        document: &[u8],
        applies_to_all: bool,
    ) -> Result<ProfileView, AdminError> {
        let text = std::str::from_utf8(document).map_err(|_| AdminError::Invalid("the profile is not UTF-8".into()))?;
        let profile = crate::plan::parse_profile(text).map_err(AdminError::Invalid)?;
        let mut tenant = self.tenant(id).await?;
        let stored = TenantProfile {
            id: profile.id.clone(),
            applies_to_all,
            document: text.to_owned(),
            loaded_micros: chrono::Utc::now().timestamp_micros(),
        };
        let view = ProfileView::of(&stored);
        tenant.profiles.retain(|known| known.id != stored.id);
        tenant.profiles.push(stored);
        self.put_tenant(tenant, false, "tenant.profile.add").await?;
        Ok(view)
    }

    /// The profiles of a tenant's statement plan.
    pub async fn profiles(&self, id: &TenantId) -> Result<Vec<ProfileView>, AdminError> {
        Ok(self.tenant(id).await?.profiles.iter().map(ProfileView::of).collect())
    }

    /// Takes a profile out of a tenant's statement plan.
    pub async fn remove_profile(&self, id: &TenantId, profile: &str) -> Result<(), AdminError> {
        let mut tenant = self.tenant(id).await?;
        let before = tenant.profiles.len();
        tenant.profiles.retain(|known| known.id != profile);
        if tenant.profiles.len() == before {
            return Err(AdminError::NotFound(format!("tenant {id} has no profile {profile}")));
        }
        self.put_tenant(tenant, false, "tenant.profile.remove").await?;
        Ok(())
    }

    /// Sets what happens to statements that break a template: for the
    /// tenant, or for one of its credentials (`None` takes the credential
    /// back to the tenant's mode).
    pub async fn set_enforcement(
        &self,
        id: &TenantId,
        mode: Option<Enforcement>,
        credential: Option<&str>,
    ) -> Result<EnforcementView, AdminError> {
        let mut tenant = self.tenant(id).await?;
        match (credential, mode) {
            (Some(key), mode) => {
                let known = self.credential(key).await?;
                if known.tenant != *id {
                    return Err(AdminError::NotFound(format!("tenant {id} has no credential {key}")));
                }
                match mode {
                    Some(mode) => tenant.credential_enforcement.insert(key.to_owned(), mode),
                    None => tenant.credential_enforcement.remove(key),
                };
            }
            (None, Some(mode)) => tenant.enforcement = mode,
            (None, None) => return Err(AdminError::Invalid("mode: off, report or reject".into())),
        }
        let view = EnforcementView { mode: tenant.enforcement, credentials: tenant.credential_enforcement.clone() };
        self.put_tenant(tenant, false, "tenant.profile.enforcement").await?;
        Ok(view)
    }

    /// The enforcement of a tenant's profiles.
    pub async fn enforcement(&self, id: &TenantId) -> Result<EnforcementView, AdminError> {
        let tenant = self.tenant(id).await?;
        Ok(EnforcementView { mode: tenant.enforcement, credentials: tenant.credential_enforcement })
    }

    /// Adds a forwarder to a tenant (409 when it has one of that name); a
    /// template filter must name a template of the tenant's profiles.
    pub async fn add_forwarder(&self, id: &TenantId, mut forwarder: Forwarder) -> Result<Forwarder, AdminError> {
        forwarder.check().map_err(AdminError::Invalid)?;
        let mut tenant = self.tenant(id).await?;
        if tenant.forwarders.iter().any(|known| known.name == forwarder.name) {
            return Err(AdminError::Conflict(format!("tenant {id} has a forwarder {} already", forwarder.name)));
        }
        if let Some(template) = &forwarder.filter.template {
            let profiles = crate::plan::compile(&tenant.profiles);
            let known = profiles.profiles().iter().any(|p| p.profile.templates.iter().any(|t| &t.id == template));
            if !known {
                return Err(AdminError::Invalid(format!(
                    "filter.template: no statement template {template} in tenant {id}'s profiles"
                )));
            }
        }
        forwarder.created_micros = chrono::Utc::now().timestamp_micros();
        tenant.forwarders.push(forwarder.clone());
        self.put_tenant(tenant, false, "tenant.forwarder.add").await?;
        Ok(forwarder.redacted())
    }

    /// A tenant's forwarders, each with what it delivered (secrets hidden).
    pub async fn forwarders(&self, id: &TenantId) -> Result<Vec<(Forwarder, ForwarderState)>, AdminError> {
        let tenant = self.tenant(id).await?;
        let mut views = Vec::with_capacity(tenant.forwarders.len());
        for forwarder in &tenant.forwarders {
            views.push((forwarder.redacted(), self.forwarder_state(id, forwarder).await?));
        }
        Ok(views)
    }

    /// One forwarder with what it delivered (its secret hidden).
    pub async fn forwarder(&self, id: &TenantId, name: &str) -> Result<(Forwarder, ForwarderState), AdminError> {
        let tenant = self.tenant(id).await?;
        let forwarder = tenant
            .forwarders
            .iter()
            .find(|known| known.name == name)
            .ok_or_else(|| AdminError::NotFound(format!("tenant {id} has no forwarder {name}")))?;
        Ok((forwarder.redacted(), self.forwarder_state(id, forwarder).await?))
    }

    async fn forwarder_state(&self, id: &TenantId, forwarder: &Forwarder) -> Result<ForwarderState, AdminError> {
        let state = forwarding::load_state(self.store.as_ref(), id, &forwarder.name).await?;
        Ok(state.filter(|state| state.incarnation == forwarder.created_micros).unwrap_or_default())
    }

    /// Removes a forwarder, its position and its dead letters.
    pub async fn remove_forwarder(&self, id: &TenantId, name: &str) -> Result<(), AdminError> {
        let mut tenant = self.tenant(id).await?;
        let before = tenant.forwarders.len();
        tenant.forwarders.retain(|known| known.name != name);
        if tenant.forwarders.len() == before {
            return Err(AdminError::NotFound(format!("tenant {id} has no forwarder {name}")));
        }
        self.put_tenant(tenant, false, "tenant.forwarder.remove").await?;
        forwarding::forget(self.store.as_ref(), id, name).await?;
        Ok(())
    }

    /// A forwarder's dead letters, oldest first.
    pub async fn dead_letters(&self, id: &TenantId, name: &str) -> Result<Vec<DeadLetter>, AdminError> {
        let (forwarder, _) = self.forwarder(id, name).await?;
        Ok(forwarding::dead_letters(self.store.as_ref(), id, &forwarder.name).await?)
    }

    /// Asks the forwarding engine to deliver a forwarder's dead letters
    /// again; returns how many there are.
    pub async fn replay_dead_letters(&self, id: &TenantId, name: &str) -> Result<usize, AdminError> {
        let letters = self.dead_letters(id, name).await?;
        let now = chrono::Utc::now().timestamp_micros();
        forwarding::request_replay(self.store.as_ref(), id, name, now).await?;
        Ok(letters.len())
    }

    /// The audit trail of administrative actions, oldest first.
    pub async fn audit(&self) -> Result<Vec<AuditEntry>, AdminError> {
        Ok(audit_trail(self.store.as_ref()).await?)
    }
}
