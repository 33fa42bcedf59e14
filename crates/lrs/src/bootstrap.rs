//! First start: the default tenant and its credential.

use std::path::Path;

use anyhow::Context as _;
use lrs_core::{Credential, CredentialStore, Scope, Tenant, TenantId};
use rand::distributions::{Alphanumeric, DistString};

/// Tenant created on first start.
pub(crate) const DEFAULT_TENANT: &str = "default";
/// File in the data dir holding a generated credential (mode 0600).
const CREDENTIAL_FILE: &str = "initial-credential.json";

/// The credential printed at start.
pub(crate) struct BootstrapCredential {
    /// The key.
    pub(crate) key: String,
    /// The secret, unless it came from the environment.
    pub(crate) secret: Option<String>,
}

/// Makes sure the default tenant has a credential: LRS_BOOTSTRAP_KEY and
/// LRS_BOOTSTRAP_SECRET when set, else the one generated on first start.
pub(crate) async fn ensure_default_credential(
    credentials: &CredentialStore,
    data_dir: &Path,
) -> anyhow::Result<BootstrapCredential> {
    let tenant = TenantId::parse(DEFAULT_TENANT).expect("valid tenant id");
    let from_env = (std::env::var("LRS_BOOTSTRAP_KEY"), std::env::var("LRS_BOOTSTRAP_SECRET"));
    if let (Ok(key), Ok(secret)) = from_env {
        anyhow::ensure!(!key.is_empty() && !key.contains(':'), "LRS_BOOTSTRAP_KEY must be non-empty without ':'");
        anyhow::ensure!(!secret.is_empty(), "LRS_BOOTSTRAP_SECRET must be non-empty");
        upsert(credentials, &tenant, &key, &secret).await?;
        return Ok(BootstrapCredential { key, secret: None });
    }
    let path = data_dir.join(CREDENTIAL_FILE);
    let (key, secret) = match std::fs::read(&path) {
        Ok(bytes) => {
            let saved: serde_json::Value =
                serde_json::from_slice(&bytes).context("unreadable initial credential file")?;
            let field = |name: &str| saved[name].as_str().map(str::to_owned);
            (
                field("key").context("no key in credential file")?,
                field("secret").context("no secret in credential file")?,
            )
        }
        Err(_) => {
            let key = Alphanumeric.sample_string(&mut rand::thread_rng(), 20);
            let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), 40);
            write_private(&path, &serde_json::json!({ "key": key, "secret": secret }).to_string())?;
            (key, secret)
        }
    };
    upsert(credentials, &tenant, &key, &secret).await?;
    Ok(BootstrapCredential { key, secret: Some(secret) })
}

/// The credential of LRS_BOOTSTRAP_KEY / LRS_BOOTSTRAP_SECRET, when both are
/// set, for a gateway that runs beside no store: it knows it before the
/// directory does (the directory's record of the key, once there, wins).
pub(crate) fn credential_from_env() -> Option<(BootstrapCredential, Credential)> {
    let key = std::env::var("LRS_BOOTSTRAP_KEY").ok().filter(|key| !key.is_empty())?;
    let secret = std::env::var("LRS_BOOTSTRAP_SECRET").ok().filter(|secret| !secret.is_empty())?;
    let tenant = TenantId::parse(DEFAULT_TENANT).expect("valid tenant id");
    let credential = Credential::new(tenant, &key, &secret, vec![Scope::All]);
    Some((BootstrapCredential { key, secret: None }, credential))
}

async fn upsert(credentials: &CredentialStore, tenant: &TenantId, key: &str, secret: &str) -> anyhow::Result<()> {
    // Written beside the log, not through it: the revision is the time, so
    // that processes following the directory take it over older copies.
    let revision = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
    if credentials.tenant(tenant).await?.is_none() {
        let mut record = Tenant::new(tenant.clone(), "default tenant");
        record.revision = revision;
        credentials.put_tenant(&record).await?;
    }
    let current = credentials.get(key).await?;
    if current.as_ref().is_some_and(|c| c.revoked) {
        tracing::warn!(key, "the bootstrap credential was revoked by the operator; it stays revoked");
        return Ok(());
    }
    if current.as_ref().is_some_and(|c| c.tenant == *tenant && c.verify(secret)) {
        return Ok(());
    }
    let mut credential = Credential::new(tenant.clone(), key, secret, vec![Scope::All]);
    credential.revision = revision.max(current.map_or(0, |c| c.revision + 1));
    credentials.put(&credential).await?;
    Ok(())
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}
