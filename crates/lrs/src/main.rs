//! `lrs`: the LRS binary. `lrs serve` runs the gateway, the projector and the
//! query service in one process on the embedded log and store.

mod app;
mod bootstrap;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The xAPI Learning Record Store.
#[derive(Parser)]
#[command(name = "lrs", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role in one process on the embedded log and store.
    Serve(app::ServeSettings),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(settings) => runtime.block_on(async move {
            let application = app::Application::build(settings).await?;
            application.print_banner();
            application.run_until_stopped().await
        }),
    }
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

/// Default listen address.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

fn default_data_dir() -> PathBuf {
    PathBuf::from("lrs-data")
}
