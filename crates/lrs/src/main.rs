//! `lrs`: the LRS binary. `lrs serve` runs the gateway, the projector and the
//! query service in one process on the embedded log and store; `lrs run
//! --roles …` (and its shortcuts `lrs gateway`, `lrs projector`, `lrs query`)
//! runs any subset of the roles over Kafka; `lrs replay` rebuilds the query
//! tables from the log.

mod admin_cli;
mod app;
mod bootstrap;
mod replay;
mod settings;

use clap::{Parser, Subcommand};
use settings::{Role, Settings};

/// The xAPI Learning Record Store.
#[derive(Parser)]
#[command(name = "lrs", version, about)]
struct Cli {
    /// A TOML file of settings (`listen = "…"`, `kafka_brokers = "…"`, …);
    /// LRS_ variables and flags override it.
    #[arg(long, env = "LRS_CONFIG", global = true)]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role in one process on the embedded log and store (the default deployment).
    Serve(Settings),
    /// Run the roles given by --roles (LRS_ROLES) over the chosen log and store.
    Run(Settings),
    /// Run only the gateway role (writes), normally on Kafka.
    Gateway(Settings),
    /// Run only the projector role.
    Projector(Settings),
    /// Run only the query role (reads).
    Query(Settings),
    /// Rebuild the query tables from the log, with a progress bar (stop the LRS first).
    Replay(Settings),
    /// Create or complete the ScyllaDB keyspace and tables (--store scylla).
    Migrate(Settings),
    /// Administer tenants and credentials through the operator API.
    Admin(admin_cli::AdminArgs),
}

fn main() -> anyhow::Result<()> {
    settings::apply_config_file(std::env::args())?;
    let cli = Cli::parse();
    let _ = &cli.config;
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (settings, roles) = match cli.command {
        Command::Serve(settings) => (settings.embedded_defaults(), Some(Role::ALL.to_vec())),
        Command::Run(settings) => (settings, None),
        Command::Gateway(settings) => (settings, Some(vec![Role::Gateway])),
        Command::Projector(settings) => (settings, Some(vec![Role::Projector])),
        Command::Query(settings) => (settings, Some(vec![Role::Query])),
        Command::Replay(settings) => return runtime.block_on(replay::run(settings)),
        Command::Migrate(settings) => return runtime.block_on(app::migrate(&settings)),
        Command::Admin(args) => return admin_cli::run(args),
    };
    let settings = match roles {
        Some(roles) => settings.with_roles(roles),
        None => settings,
    };
    runtime.block_on(async move {
        let application = app::Application::build(settings).await?;
        application.print_banner();
        application.run_until_stopped().await
    })
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LRS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LRS_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
