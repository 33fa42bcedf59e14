//! `lrs admin …`: the operator API from the command line.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

/// Where the operator API is and the token that opens it.
#[derive(Args, Debug)]
pub(crate) struct AdminArgs {
    /// The operator API: the base URL of an LRS process with a store, or
    /// the ADMIN_URL a deployment prints (the same ending in /admin).
    #[arg(long, env = "LRS_ADMIN_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The operator token (LRS_OPERATOR_TOKEN of the server).
    #[arg(long, env = "LRS_OPERATOR_TOKEN", hide_env_values = true)]
    token: String,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Tenants.
    #[command(subcommand)]
    Tenants(TenantCommand),
    /// Credentials.
    #[command(subcommand)]
    Credentials(CredentialCommand),
    /// A tenant's statement plan: xAPI Profiles and their enforcement.
    #[command(subcommand)]
    Profiles(ProfileCommand),
    /// A tenant's forwarders: its statements sent on to another LRS or a webhook.
    #[command(subcommand)]
    Forwarders(ForwarderCommand),
    /// The audit trail of administrative actions.
    Audit,
}

#[derive(Subcommand, Debug)]
enum ProfileCommand {
    /// Load a profile (a JSON-LD file) into a tenant's plan; prints its templates, patterns and warnings.
    Add {
        /// Tenant id.
        tenant: String,
        /// The profile document.
        file: std::path::PathBuf,
        /// Check every statement of the tenant, not only those naming a version of the profile in their category activities.
        #[arg(long)]
        all: bool,
    },
    /// List a tenant's profiles.
    List {
        /// Tenant id.
        tenant: String,
    },
    /// Take a profile out of a tenant's plan.
    Remove {
        /// Tenant id.
        tenant: String,
        /// The profile's IRI.
        profile: String,
    },
    /// Set what happens to statements that break a template: off, report or reject.
    Enforce {
        /// Tenant id.
        tenant: String,
        /// off, report or reject; `inherit` (with --credential) takes the credential back to the tenant's mode.
        mode: String,
        /// Only for this credential key.
        #[arg(long)]
        credential: Option<String>,
    },
}

/// What `lrs admin forwarders add` takes.
#[derive(Args, Debug)]
struct ForwarderAdd {
    /// Tenant id.
    tenant: String,
    /// Its name (lowercase letters, digits, '-' and '_').
    name: String,
    /// The other LRS's xAPI endpoint.
    #[arg(long, conflicts_with = "webhook_url")]
    lrs_endpoint: Option<String>,
    /// The key of the credential the other LRS gave.
    #[arg(long, requires = "lrs_endpoint")]
    lrs_key: Option<String>,
    /// Its secret.
    #[arg(long, env = "LRS_FORWARD_SECRET", hide_env_values = true)]
    lrs_secret: Option<String>,
    /// The xAPI version sent to the other LRS (1.0.3 or 2.0.0).
    #[arg(long, default_value = "1.0.3")]
    lrs_version: String,
    /// The webhook's URL.
    #[arg(long)]
    webhook_url: Option<String>,
    /// The webhook's signing secret (at least 16 characters).
    #[arg(long, env = "LRS_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Only statements with this verb IRI.
    #[arg(long)]
    verb: Option<String>,
    /// Only statements about this activity IRI.
    #[arg(long)]
    activity: Option<String>,
    /// Only statements of this agent (its JSON).
    #[arg(long)]
    agent: Option<String>,
    /// Only statements that match and follow this statement template of the tenant's profiles.
    #[arg(long)]
    template: Option<String>,
    /// Statements per delivery (1 to 500).
    #[arg(long, default_value_t = 100)]
    batch_size: u32,
    /// Start with the statements stored from now on, not with all of them.
    #[arg(long)]
    from_now: bool,
}

#[derive(Subcommand, Debug)]
enum ForwarderCommand {
    /// Add a forwarder: to another LRS (--lrs-endpoint, --lrs-key, --lrs-secret) or a webhook (--webhook-url, --webhook-secret).
    Add(Box<ForwarderAdd>),
    /// List a tenant's forwarders with what each delivered, what is pending and the last error.
    List {
        /// Tenant id.
        tenant: String,
    },
    /// Remove a forwarder (its position and dead letters go with it).
    Remove {
        /// Tenant id.
        tenant: String,
        /// Its name.
        name: String,
    },
    /// List a forwarder's dead letters.
    DeadLetters {
        /// Tenant id.
        tenant: String,
        /// Its name.
        name: String,
    },
    /// Deliver a forwarder's dead letters again.
    Replay {
        /// Tenant id.
        tenant: String,
        /// Its name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Its id (a-z, 0-9, '-', '_').
        id: String,
        /// A display name.
        #[arg(long, default_value = "")]
        name: String,
        /// Requests per second its credentials may make.
        #[arg(long)]
        requests_per_second: Option<u32>,
    },
    /// List tenants.
    List,
    /// Suspend a tenant: its credentials stop working.
    Suspend {
        /// Tenant id.
        id: String,
    },
    /// Resume a suspended tenant.
    Resume {
        /// Tenant id.
        id: String,
    },
    /// Set (or clear) a tenant's request rate limit.
    Limit {
        /// Tenant id.
        id: String,
        /// Requests per second (omit to remove the limit).
        #[arg(long)]
        requests_per_second: Option<u32>,
    },
    /// Set (or clear) how long a tenant's statements are kept.
    Retention {
        /// Tenant id.
        id: String,
        /// Seconds (omit to keep statements for ever).
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Forget an agent of a tenant (erasure): its statements, documents and names.
    Forget {
        /// Tenant id.
        id: String,
        /// The agent, as JSON (e.g. '{"mbox":"mailto:a@example.com"}').
        agent: String,
    },
    /// Delete a tenant for good.
    Delete {
        /// Tenant id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum CredentialCommand {
    /// Issue a credential; its secret is printed once.
    Issue {
        /// Tenant id.
        tenant: String,
        /// A scope (repeat for more): statements/write, statements/read, statements/read/mine, all/read, all, state, profile, define.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// When it expires (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List a tenant's credentials (never their secrets).
    List {
        /// Tenant id.
        tenant: String,
    },
    /// Give a credential a new secret, printed once; the old one stops working.
    Rotate {
        /// Credential key.
        key: String,
    },
    /// Revoke a credential for good.
    Revoke {
        /// Credential key.
        key: String,
    },
}

/// Runs one operator command and prints its JSON answer.
pub(crate) fn run(args: AdminArgs) -> anyhow::Result<()> {
    use reqwest::Method;
    let (method, path, body): (Method, String, Option<Value>) = match args.command {
        AdminCommand::Tenants(TenantCommand::Create { id, name, requests_per_second }) => (
            Method::POST,
            "/admin/tenants".into(),
            Some(json!({"id": id, "name": name, "requests_per_second": requests_per_second})),
        ),
        AdminCommand::Tenants(TenantCommand::List) => (Method::GET, "/admin/tenants".into(), None),
        AdminCommand::Tenants(TenantCommand::Suspend { id }) => {
            (Method::POST, format!("/admin/tenants/{id}/suspend"), None)
        }
        AdminCommand::Tenants(TenantCommand::Resume { id }) => {
            (Method::POST, format!("/admin/tenants/{id}/resume"), None)
        }
        AdminCommand::Tenants(TenantCommand::Limit { id, requests_per_second }) => (
            Method::PUT,
            format!("/admin/tenants/{id}/limits"),
            Some(json!({"requests_per_second": requests_per_second})),
        ),
        AdminCommand::Tenants(TenantCommand::Delete { id }) => (Method::DELETE, format!("/admin/tenants/{id}"), None),
        AdminCommand::Tenants(TenantCommand::Retention { id, seconds }) => {
            (Method::PUT, format!("/admin/tenants/{id}/retention"), Some(json!({"seconds": seconds})))
        }
        AdminCommand::Tenants(TenantCommand::Forget { id, agent }) => {
            let agent: Value = serde_json::from_str(&agent).map_err(|e| anyhow::anyhow!("agent is not JSON: {e}"))?;
            (Method::POST, format!("/admin/tenants/{id}/forget"), Some(json!({"agent": agent})))
        }
        AdminCommand::Credentials(CredentialCommand::Issue { tenant, scopes, expires_at }) => (
            Method::POST,
            format!("/admin/tenants/{tenant}/credentials"),
            Some(json!({"scopes": scopes, "expires_at": expires_at})),
        ),
        AdminCommand::Credentials(CredentialCommand::List { tenant }) => {
            (Method::GET, format!("/admin/tenants/{tenant}/credentials"), None)
        }
        AdminCommand::Credentials(CredentialCommand::Rotate { key }) => {
            (Method::POST, format!("/admin/credentials/{key}/rotate"), None)
        }
        AdminCommand::Credentials(CredentialCommand::Revoke { key }) => {
            (Method::DELETE, format!("/admin/credentials/{key}"), None)
        }
        AdminCommand::Profiles(ProfileCommand::Add { tenant, file, all }) => {
            let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let document: Value =
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", file.display()))?;
            let applies = if all { "?applies=all" } else { "" };
            (Method::POST, format!("/admin/tenants/{tenant}/profiles{applies}"), Some(document))
        }
        AdminCommand::Profiles(ProfileCommand::List { tenant }) => {
            (Method::GET, format!("/admin/tenants/{tenant}/profiles"), None)
        }
        AdminCommand::Profiles(ProfileCommand::Remove { tenant, profile }) => {
            let encoded: String = profile
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                    other => format!("%{other:02X}"),
                })
                .collect();
            (Method::DELETE, format!("/admin/tenants/{tenant}/profiles/{encoded}"), None)
        }
        AdminCommand::Profiles(ProfileCommand::Enforce { tenant, mode, credential }) => {
            let mode = if mode == "inherit" { Value::Null } else { Value::String(mode) };
            (
                Method::PUT,
                format!("/admin/tenants/{tenant}/profile-enforcement"),
                Some(json!({"mode": mode, "credential": credential})),
            )
        }
        AdminCommand::Forwarders(ForwarderCommand::Add(add)) => {
            let ForwarderAdd {
                tenant,
                name,
                lrs_endpoint,
                lrs_key,
                lrs_secret,
                lrs_version,
                webhook_url,
                webhook_secret,
                verb,
                activity,
                agent,
                template,
                batch_size,
                from_now,
            } = *add;
            let target = match (lrs_endpoint, webhook_url) {
                (Some(endpoint), None) => json!({
                    "kind": "lrs",
                    "endpoint": endpoint,
                    "key": lrs_key.unwrap_or_default(),
                    "secret": lrs_secret.unwrap_or_default(),
                    "version": lrs_version,
                }),
                (None, Some(url)) => {
                    json!({"kind": "webhook", "url": url, "secret": webhook_secret.unwrap_or_default()})
                }
                _ => anyhow::bail!("give either --lrs-endpoint (with --lrs-key and --lrs-secret) or --webhook-url"),
            };
            let mut filter = serde_json::Map::new();
            for (field, value) in [("verb", verb), ("activity", activity), ("agent", agent), ("template", template)] {
                if let Some(value) = value {
                    filter.insert(field.into(), Value::String(value));
                }
            }
            let from = if from_now { "now" } else { "start" };
            let body =
                json!({"name": name, "target": target, "filter": filter, "batch_size": batch_size, "from": from});
            (Method::POST, format!("/admin/tenants/{tenant}/forwarders"), Some(body))
        }
        AdminCommand::Forwarders(ForwarderCommand::List { tenant }) => {
            (Method::GET, format!("/admin/tenants/{tenant}/forwarders"), None)
        }
        AdminCommand::Forwarders(ForwarderCommand::Remove { tenant, name }) => {
            (Method::DELETE, format!("/admin/tenants/{tenant}/forwarders/{name}"), None)
        }
        AdminCommand::Forwarders(ForwarderCommand::DeadLetters { tenant, name }) => {
            (Method::GET, format!("/admin/tenants/{tenant}/forwarders/{name}/dead-letters"), None)
        }
        AdminCommand::Forwarders(ForwarderCommand::Replay { tenant, name }) => {
            (Method::POST, format!("/admin/tenants/{tenant}/forwarders/{name}/dead-letters/replay"), None)
        }
        AdminCommand::Audit => (Method::GET, "/admin/audit".into(), None),
    };
    let base = args.url.trim_end_matches('/');
    let url = format!("{}{path}", base.strip_suffix("/admin").unwrap_or(base));
    let mut request = reqwest::blocking::Client::new().request(method, &url).bearer_auth(&args.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}"))?;
    let status = response.status();
    let text = response.text().unwrap_or_default();
    if !text.is_empty() {
        let pretty = serde_json::from_str::<Value>(&text).map(|v| serde_json::to_string_pretty(&v).unwrap_or_default());
        println!("{}", pretty.unwrap_or(text));
    }
    anyhow::ensure!(status.is_success(), "the operator API answered {status}");
    Ok(())
}
