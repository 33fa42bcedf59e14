//! Startup of `lrs serve`: build every part, then run until stopped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lrs_core::{Authenticator, CredentialStore, EventLog, Gateway, Projector, QueryService, QueryStore, VerdictBus};
use lrs_embedded::{EmbeddedLog, EmbeddedStore};
use tokio::sync::watch;

use crate::bootstrap::{self, BootstrapCredential};

/// Settings of `lrs serve` (flags, or LRS_ environment variables).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ServeSettings {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LRS_LISTEN", default_value = crate::DEFAULT_LISTEN)]
    listen: String,
    /// Directory holding the log, the query tables and the initial credential.
    #[arg(long, env = "LRS_DATA_DIR", default_value_os_t = crate::default_data_dir())]
    data_dir: PathBuf,
    /// How long a write waits for its verdict before answering 503, in milliseconds.
    #[arg(long, env = "LRS_VERDICT_DEADLINE_MS", default_value_t = 10_000)]
    verdict_deadline_ms: u64,
    /// HTTP worker threads (0 = one per core).
    #[arg(long, env = "LRS_HTTP_WORKERS", default_value_t = 0)]
    http_workers: usize,
}

/// A built, not yet running, all-in-one LRS.
pub(crate) struct Application {
    listener: TcpListener,
    state: lrs_http::AppState,
    projector: Projector,
    credential: BootstrapCredential,
    workers: usize,
}

impl Application {
    /// Opens the data directory, bootstraps the default tenant and binds the port.
    pub(crate) async fn build(settings: ServeSettings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("cannot create data dir {}", settings.data_dir.display()))?;
        let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&settings.data_dir.join("log.redb"))?);
        let store: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&settings.data_dir.join("store.redb"))?);
        let credentials = CredentialStore::new(store.clone());
        let credential = bootstrap::ensure_default_credential(&credentials, &settings.data_dir).await?;
        let bus = VerdictBus::new();
        let deadline = Duration::from_millis(settings.verdict_deadline_ms);
        let state = lrs_http::AppState {
            gateway: Gateway::new(log.clone(), store.clone(), bus.clone(), deadline),
            query: QueryService::new(store.clone(), log.clone()),
            auth: Authenticator::new(credentials),
        };
        let projector = Projector::new(log, store, Arc::new(bus), 0);
        let listener =
            TcpListener::bind(&settings.listen).with_context(|| format!("cannot listen on {}", settings.listen))?;
        let workers = if settings.http_workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            settings.http_workers
        };
        Ok(Self { listener, state, projector, credential, workers })
    }

    /// The port the server listens on.
    pub(crate) fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |addr| addr.port())
    }

    /// Prints the endpoint and a working credential on standard output.
    pub(crate) fn print_banner(&self) {
        let host = self.listener.local_addr().map_or_else(|_| "127.0.0.1".into(), |addr| addr.ip().to_string());
        let endpoint = format!("http://{host}:{}/xapi", self.port());
        println!("LRS ready (embedded log and store)");
        println!("ENDPOINT={endpoint}");
        println!("KEY={}", self.credential.key);
        match &self.credential.secret {
            Some(secret) => println!("SECRET={secret}"),
            None => println!("SECRET=(the value of LRS_BOOTSTRAP_SECRET)"),
        }
        println!("try: curl -u \"$KEY:$SECRET\" -H 'X-Experience-API-Version: 1.0.3' {endpoint}/statements");
    }

    /// Serves until SIGINT or SIGTERM, then stops the projector after its batch.
    pub(crate) async fn run_until_stopped(self) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let projector = tokio::spawn(self.projector.run(stopped));
        let port = self.listener.local_addr().map_or(0, |addr| addr.port());
        let server = lrs_http::serve(self.listener, self.state, self.workers)?;
        tracing::info!(port, "serving");
        let server_result = server.await;
        let _ = stop.send(true);
        let projector_result = projector.await.context("projector task panicked")?;
        server_result.context("http server failed")?;
        projector_result.context("projector failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}
