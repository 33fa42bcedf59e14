//! `lrs`: the LRS binary. `lrs serve` runs the gateway, the projector and the
//! query service in one process on the embedded log and store; `lrs run
//! --roles …` (and its shortcuts `lrs gateway`, `lrs projector`, `lrs query`)
//! runs any subset of the roles over Kafka; `lrs replay` rebuilds the query
//! tables from the log.

/// mimalloc: the request path allocates many small JSON values across
/// threads, where it beats glibc's allocator (see docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin_cli;
mod app;
mod bench;
mod bootstrap;
mod export_cli;
mod load;
mod replay;
mod settings;
mod telemetry;

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
    /// Load-test an xAPI endpoint: ingest, then each kind of GET.
    Bench(bench::BenchArgs),
    /// Fill the embedded data dir with generated statements, without HTTP (stop the LRS first).
    Load(load::LoadArgs),
    /// Download a tenant's statements as ndjson, csv or parquet into a file.
    Export(export_cli::ExportArgs),
}

fn main() -> anyhow::Result<()> {
    settings::apply_config_file(
        std::env::args(),
        &settings::known_variables(&<Cli as clap::CommandFactory>::command()),
    )?;
    let cli = Cli::parse();
    let _ = &cli.config;
    // Dropped last (after the runtime): flushes the span exporter on exit.
    let _telemetry = telemetry::init(&service_name(&cli.command));
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
        Command::Bench(args) => return runtime.block_on(bench::run(args)),
        Command::Load(args) => return runtime.block_on(load::run(args)),
        Command::Export(args) => return export_cli::run(args),
    };
    let settings = match roles {
        Some(roles) => settings.with_roles(roles),
        None => settings,
    };
    runtime.block_on(async move {
        let signals = app::StopSignals::listen()?;
        let application = app::Application::build(settings).await?;
        application.print_banner();
        application.run_until_stopped(signals).await
    })
}

/// The service name of this process's traces: `lrs` for `lrs serve`,
/// `lrs-` and its roles (or command) otherwise, e.g. `lrs-gateway`.
fn service_name(command: &Command) -> String {
    let role_names = |roles: &[Role]| -> Vec<String> {
        roles.iter().filter_map(|role| Some(clap::ValueEnum::to_possible_value(role)?.get_name().to_owned())).collect()
    };
    let suffix = match command {
        Command::Serve(_) => return "lrs".to_owned(),
        Command::Run(settings) => role_names(&settings.roles).join("-"),
        Command::Gateway(_) => "gateway".to_owned(),
        Command::Projector(_) => "projector".to_owned(),
        Command::Query(_) => "query".to_owned(),
        Command::Replay(_) => "replay".to_owned(),
        Command::Migrate(_) => "migrate".to_owned(),
        Command::Admin(_) => "admin".to_owned(),
        Command::Bench(_) => "bench".to_owned(),
        Command::Load(_) => "load".to_owned(),
        Command::Export(_) => "export".to_owned(),
    };
    format!("lrs-{suffix}")
}
