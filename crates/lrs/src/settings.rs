//! Settings of every command: flags, each also read from an `LRS_…` variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

/// A role a process can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Role {
    /// Validates writes and appends them to the log.
    Gateway,
    /// Applies the log to the query tables.
    Projector,
    /// Answers reads from the query tables.
    Query,
}

impl Role {
    /// Every role.
    pub(crate) const ALL: [Role; 3] = [Role::Gateway, Role::Projector, Role::Query];
}

/// A setting that is a secret: it never prints.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl Secret {
    /// The secret's value.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Secret(text.to_owned()))
    }
}

/// Which event log to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogBackend {
    /// The on-disk log inside the process (one process only).
    Embedded,
    /// Apache Kafka (or any Kafka-protocol broker).
    Kafka,
}

/// Which store holds the query tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum StoreBackend {
    /// The on-disk store inside the process.
    Embedded,
    /// ScyllaDB (or Cassandra), shared by every process.
    Scylla,
}

/// Settings shared by the commands.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Settings {
    /// Roles of this process (for `lrs run`), comma-separated.
    #[arg(long, env = "LRS_ROLES", value_delimiter = ',', default_values_t = Role::ALL.to_vec(), value_enum)]
    pub(crate) roles: Vec<Role>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LRS_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,
    /// Directory of the embedded log and store and the initial credential.
    #[arg(long, env = "LRS_DATA_DIR", default_value = "lrs-data")]
    pub(crate) data_dir: PathBuf,
    /// The event log.
    #[arg(long, env = "LRS_LOG_BACKEND", value_enum, default_value_t = LogBackend::Embedded)]
    pub(crate) log: LogBackend,
    /// The store of the query tables.
    #[arg(long, env = "LRS_STORE_BACKEND", value_enum, default_value_t = StoreBackend::Embedded)]
    pub(crate) store: StoreBackend,
    /// Kafka bootstrap servers, for `--log kafka`.
    #[arg(long, env = "LRS_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub(crate) kafka_brokers: String,
    /// Prefix of the Kafka topics (`<prefix>.events`, `<prefix>.verdicts`).
    #[arg(long, env = "LRS_KAFKA_TOPIC_PREFIX", default_value = "lrs")]
    pub(crate) kafka_topic_prefix: String,
    /// Partitions of the events topic when this process creates it.
    #[arg(long, env = "LRS_KAFKA_PARTITIONS", default_value_t = 6)]
    pub(crate) kafka_partitions: i32,
    /// ScyllaDB contact points, comma-separated host:port, for `--store scylla`.
    #[arg(long, env = "LRS_SCYLLA_NODES", value_delimiter = ',', default_value = "127.0.0.1:9042")]
    pub(crate) scylla_nodes: Vec<String>,
    /// ScyllaDB keyspace of the query tables.
    #[arg(long, env = "LRS_SCYLLA_KEYSPACE", default_value = "lrs")]
    pub(crate) scylla_keyspace: String,
    /// Wait for schema agreement after `lrs migrate`'s DDL (keep on for real clusters).
    #[arg(long, env = "LRS_SCYLLA_AWAIT_SCHEMA_AGREEMENT", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) scylla_await_schema_agreement: bool,
    /// Replication of the keyspace that `lrs migrate` creates: simple:N or network:dc1=N,dc2=M.
    #[arg(long, env = "LRS_SCYLLA_REPLICATION", default_value = "simple:1")]
    pub(crate) scylla_replication: String,
    /// How often the projector process removes statements past their tenant's retention (0: never).
    #[arg(long, env = "LRS_RETENTION_SWEEP_SECONDS", default_value_t = 3600)]
    pub(crate) retention_sweep_seconds: u64,
    /// The operator token that guards /admin (unset: the operator API is off).
    #[arg(long, env = "LRS_OPERATOR_TOKEN", hide_env_values = true)]
    pub(crate) operator_token: Option<Secret>,
    /// Shared secret of HS256 Bearer tokens (unset: HS256 tokens are refused).
    #[arg(long, env = "LRS_JWT_HS256_SECRET", hide_env_values = true)]
    pub(crate) jwt_hs256_secret: Option<Secret>,
    /// PEM file of the RSA public key of RS256 Bearer tokens.
    #[arg(long, env = "LRS_JWT_RS256_PUBLIC_KEY")]
    pub(crate) jwt_rs256_public_key: Option<PathBuf>,
    /// How long a Kafka produce may take before the write is answered 503, in milliseconds.
    #[arg(long, env = "LRS_KAFKA_DELIVERY_TIMEOUT_MS", default_value_t = 5_000)]
    pub(crate) kafka_delivery_timeout_ms: u64,
    /// How long a write waits for its verdict before answering 503, in milliseconds.
    #[arg(long, env = "LRS_VERDICT_DEADLINE_MS", default_value_t = 10_000)]
    pub(crate) verdict_deadline_ms: u64,
    /// HTTP worker threads (0 = one per core).
    #[arg(long, env = "LRS_HTTP_WORKERS", default_value_t = 0)]
    pub(crate) http_workers: usize,
    /// /readyz answers 503 while the projector trails the log end by more records than this.
    #[arg(long, env = "LRS_READY_MAX_LAG", default_value_t = 10_000)]
    pub(crate) ready_max_lag: u64,
    /// Label metrics with each tenant's id (true) instead of folding tenants into one value.
    #[arg(long, env = "LRS_METRICS_TENANT_LABELS", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) metrics_tenant_labels: bool,
    /// How many processes run this process's roles behind the router: each
    /// enforces 1/replicas of a tenant's requests_per_second (docs/OPERATIONS.md).
    #[arg(long, env = "LRS_REPLICAS", default_value_t = 1)]
    pub(crate) replicas: u32,
    /// Keep the analytics rollups (the analytics projection); off, /analytics answers 503.
    #[arg(long, env = "LRS_ANALYTICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) analytics: bool,
    /// Memory (MB) of the embedded store's block cache (recently read table blocks).
    #[arg(long, env = "LRS_STORE_CACHE_MB", default_value_t = lrs_embedded::DEFAULT_CACHE_MB, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) store_cache_mb: u64,
    /// Memory (MB) of the day blocks that answer analytics questions over bounded ranges and with filters.
    #[arg(long, env = "LRS_ANALYTICS_CACHE_MB", default_value_t = 256)]
    pub(crate) analytics_cache_mb: u64,
    /// Days of each tenant's most recent facts kept in day blocks, built at start and every minute (0: none).
    #[arg(long, env = "LRS_ANALYTICS_WARM_DAYS", default_value_t = 31)]
    pub(crate) analytics_warm_days: u32,
    /// Run the tenants' forwarders beside the projector (off: none delivers; positions are kept).
    #[arg(long, env = "LRS_FORWARDING", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) forwarding: bool,
    /// A forwarder's first wait after a failed delivery, in milliseconds (doubled with each failure).
    #[arg(long, env = "LRS_FORWARD_RETRY_BASE_MS", default_value_t = 500)]
    pub(crate) forward_retry_base_ms: u64,
    /// A forwarder's longest wait between retries, in milliseconds.
    #[arg(long, env = "LRS_FORWARD_RETRY_MAX_MS", default_value_t = 60_000)]
    pub(crate) forward_retry_max_ms: u64,
    /// Keep the data-quality counts (the quality projection); off, /quality answers 503.
    #[arg(long, env = "LRS_QUALITY", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) quality: bool,
    /// Address of the process owning the key vault (projector+query), for a
    /// gateway without a store: it seals personal data with keys from there.
    #[arg(long, env = "LRS_VAULT_URL")]
    pub(crate) vault_url: Option<String>,
    /// Token of the vault route between processes: the owner serves
    /// /internal/v1/vault/subjects with it, gateways send it.
    #[arg(long, env = "LRS_VAULT_TOKEN", hide_env_values = true)]
    pub(crate) vault_token: Option<Secret>,
}

impl Settings {
    /// `lrs serve`: the embedded log and store, whatever the environment says.
    pub(crate) fn embedded_defaults(mut self) -> Self {
        self.log = LogBackend::Embedded;
        self.store = StoreBackend::Embedded;
        self
    }

    /// The same settings with these roles.
    pub(crate) fn with_roles(mut self, roles: Vec<Role>) -> Self {
        self.roles = roles;
        self
    }

    /// True when this process runs `role`.
    pub(crate) fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The verdict deadline.
    pub(crate) fn verdict_deadline(&self) -> Duration {
        Duration::from_millis(self.verdict_deadline_ms)
    }

    /// The Kafka settings.
    pub(crate) fn kafka(&self) -> lrs_kafka::KafkaSettings {
        let mut kafka = lrs_kafka::KafkaSettings::new(&self.kafka_brokers);
        kafka.topic_prefix = self.kafka_topic_prefix.clone();
        kafka.partitions = self.kafka_partitions;
        kafka.delivery_timeout = Duration::from_millis(self.kafka_delivery_timeout_ms);
        kafka
    }

    /// The ScyllaDB settings.
    pub(crate) fn scylla(&self) -> anyhow::Result<lrs_scylla::ScyllaSettings> {
        let mut scylla = lrs_scylla::ScyllaSettings::new(self.scylla_nodes.clone(), self.scylla_keyspace.clone());
        scylla.replication =
            self.scylla_replication.parse().map_err(|e| anyhow::anyhow!("--scylla-replication: {e}"))?;
        scylla.await_schema_agreement = self.scylla_await_schema_agreement;
        Ok(scylla)
    }

    /// Checks that the roles fit the backends: the embedded log lives in one
    /// process with every role; the embedded store in one process with the
    /// projector and the query roles.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.roles.is_empty(), "no roles: use --roles gateway,projector,query or a subset");
        if self.log == LogBackend::Embedded {
            anyhow::ensure!(
                Role::ALL.iter().all(|role| self.has(*role)),
                "the embedded log serves one process only: run every role (lrs serve), or use --log kafka"
            );
        }
        if self.store == StoreBackend::Embedded && (self.has(Role::Projector) || self.has(Role::Query)) {
            anyhow::ensure!(
                self.has(Role::Projector) && self.has(Role::Query),
                "the embedded store serves one process: run the projector and query roles together"
            );
        }
        Ok(())
    }
}

/// Layers a settings file under the environment: each `name = value` of the
/// TOML file given by `--config FILE` (or LRS_CONFIG) becomes `LRS_NAME`
/// unless that variable is already set, so that flags > environment > file >
/// defaults (tests/config_file.rs checks each layer).
///
/// Why not a configuration crate (figment, config): clap already is the one
/// place that names every setting, its type, default, flag and variable; a
/// second layering library would need each of them declared again, and
/// the two lists would drift. Writing the environment is safe here because
/// it happens in `main` before the runtime or any other thread exists.
pub(crate) fn apply_config_file(
    args: impl Iterator<Item = String>,
    known: &std::collections::HashSet<String>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let args: Vec<String> = args.collect();
    let from_args = args.iter().enumerate().find_map(|(i, arg)| match arg.strip_prefix("--config=") {
        Some(path) => Some(path.to_owned()),
        None => (arg == "--config").then(|| args.get(i + 1).cloned()).flatten(),
    });
    let Some(path) = from_args.or_else(|| std::env::var("LRS_CONFIG").ok()) else { return Ok(()) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read settings file {path}"))?;
    let table: toml::Table = text.parse().with_context(|| format!("settings file {path} is not TOML"))?;
    for (name, value) in table {
        let variable = format!("LRS_{}", name.to_uppercase().replace('-', "_"));
        if !known.contains(&variable) {
            anyhow::bail!("settings file {path}: `{name}` is not a setting (no command reads {variable})");
        }
        let value = match value {
            toml::Value::String(text) => text,
            toml::Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map_or_else(|| item.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        if std::env::var_os(&variable).is_none() {
            // Single-threaded here: main has not started the runtime yet.
            set_env(&variable, &value);
        }
    }
    Ok(())
}

/// LRS_ variables read outside clap (bootstrap and telemetry, before or
/// beside the parsed settings).
const READ_DIRECTLY: [&str; 5] =
    ["LRS_BOOTSTRAP_KEY", "LRS_BOOTSTRAP_SECRET", "LRS_LOG", "LRS_LOG_FORMAT", "LRS_OTLP_ENDPOINT"];

/// Every LRS_ variable a command or subcommand of `command` reads (and
/// those read directly): the names a settings file may set.
pub(crate) fn known_variables(command: &clap::Command) -> std::collections::HashSet<String> {
    let mut known: std::collections::HashSet<String> = READ_DIRECTLY.iter().map(|name| (*name).to_owned()).collect();
    known.extend(clap_variables(command));
    known
}

fn clap_variables(command: &clap::Command) -> std::collections::HashSet<String> {
    let mut known: std::collections::HashSet<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env().and_then(|env| env.to_str()).map(str::to_owned))
        .collect();
    for sub in command.get_subcommands() {
        known.extend(clap_variables(sub));
    }
    known
}

fn set_env(name: &str, value: &str) {
    #[allow(deprecated)]
    std::env::set_var(name, value);
}
