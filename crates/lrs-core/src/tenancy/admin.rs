//! The operator's administration of tenants and credentials. Every change is
//! a command through the log (so it is ordered, replayable and kept as the
//! audit trail); reads come from the tables.

use std::sync::Arc;

use crate::auth::{generate_key, generate_secret, hash_secret, Credential, CredentialStore, Scope};
use crate::event::Command;
use crate::gateway::{Gateway, GatewayError};
use crate::store::{QueryStore, StoreError};
use crate::tenant::TenantId;
use crate::tenants::{audit_trail, list_tenants, load_tenant, AuditEntry, Tenant};
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
            GatewayError::Invalid(message) => AdminError::Invalid(message),
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
        Ok(tenant)
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
        Ok(list_tenants(self.store.as_ref()).await?.into_iter().filter(|t| !t.deleted).collect())
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

    /// The audit trail of administrative actions, oldest first.
    pub async fn audit(&self) -> Result<Vec<AuditEntry>, AdminError> {
        Ok(audit_trail(self.store.as_ref()).await?)
    }
}
