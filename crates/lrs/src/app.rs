//! Startup: build the parts of the configured roles, then run until stopped.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context as _;
use lrs_core::analytics::AnalyticsService;
use lrs_core::projection::analytics::builder::RollupBuilder;
use lrs_core::projection::analytics::Analytics;
use lrs_core::vault::{KeyVault, SealingKeys, TableVaultStore};
use lrs_core::{
    Authenticator, CredentialStore, DirectoryFeed, EventLog, FollowedDirectory, Gateway, Projector, QueryService,
    QueryStore, StatementHandoff, StoreDirectory, VerdictBus, VerdictSink,
};
use lrs_embedded::{EmbeddedLog, EmbeddedStore};
use lrs_kafka::{KafkaLog, KafkaVerdicts};
use tokio::sync::watch;

use crate::bootstrap::{self, BootstrapCredential};
use crate::settings::{LogBackend, Role, Secret, Settings, StoreBackend};

/// A built, not yet running, LRS process.
pub(crate) struct Application {
    listener: TcpListener,
    state: lrs_http::AppState,
    projectors: Vec<Projector>,
    builders: Vec<RollupBuilder>,
    forwarding: Option<lrs_forward::ForwardingEngine>,
    credential: Option<BootstrapCredential>,
    workers: usize,
    description: String,
    /// The analytics warm-up's thread, stopped when the application ends.
    warmer: Option<AnalyticsWarmer>,
}

/// SIGTERM and SIGINT, listened for by a serving process before it builds
/// its [`Application`]: a signal that comes while it is still starting
/// (before the HTTP server listens for its own) stops it as one that comes
/// later does, instead of ending the process by the signal's default action.
pub(crate) struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Listens for both from now on (for the rest of the process: tokio does
    /// not give the default action back).
    pub(crate) fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        Ok(Self { terminate, interrupt })
    }

    /// The first of them to come.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

/// How long a process sharing the tables with the projector (ScyllaDB) may
/// answer from a tenant or credential record it read: the bound on how soon
/// an operator's change holds there.
const SHARED_DIRECTORY_FRESHNESS: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a gateway may take, at start, to read the directory feed.
const DIRECTORY_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(60);

/// What `lrs load` drives: the in-process write path without HTTP.
pub(crate) struct Loader {
    /// The gateway.
    pub(crate) gateway: lrs_core::Gateway,
    /// The bootstrap credential's principal.
    pub(crate) principal: lrs_core::Principal,
    /// The projectors.
    pub(crate) projectors: Vec<Projector>,
    /// The analytics builders.
    pub(crate) builders: Vec<RollupBuilder>,
}

/// Subjects the embedded vault keeps in memory (about 200 bytes each).
const VAULT_CACHE_SUBJECTS: usize = 100_000;

/// Opens the configured event log.
pub(crate) async fn open_log(settings: &Settings) -> anyhow::Result<Arc<dyn EventLog>> {
    Ok(match settings.log {
        LogBackend::Embedded => {
            std::fs::create_dir_all(&settings.data_dir)
                .with_context(|| format!("cannot create data dir {}", settings.data_dir.display()))?;
            Arc::new(EmbeddedLog::open(&settings.data_dir.join("log.redb"))?)
        }
        LogBackend::Kafka => Arc::new(
            KafkaLog::connect(settings.kafka())
                .await
                .with_context(|| format!("cannot reach Kafka at {}", settings.kafka_brokers))?,
        ),
    })
}

/// Opens the configured store.
pub(crate) async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn QueryStore>> {
    match settings.store {
        StoreBackend::Embedded => {
            std::fs::create_dir_all(&settings.data_dir)
                .with_context(|| format!("cannot create data dir {}", settings.data_dir.display()))?;
            let path = settings.data_dir.join("store");
            Ok(Arc::new(
                EmbeddedStore::open_with_cache(&path, settings.store_cache_mb << 20)
                    .with_context(|| "is another lrs process using this data dir?")?,
            ))
        }
        StoreBackend::Scylla => {
            let store = lrs_scylla::ScyllaStore::connect(settings.scylla()?)
                .await
                .with_context(|| format!("cannot reach ScyllaDB at {:?}", settings.scylla_nodes))?;
            Ok(Arc::new(store))
        }
    }
}

/// The Bearer JWT verifier of LRS_JWT_HS256_SECRET and/or LRS_JWT_RS256_PUBLIC_KEY (a PEM file).
fn jwt_verifier(settings: &Settings) -> anyhow::Result<Option<lrs_core::JwtVerifier>> {
    let pem = match &settings.jwt_rs256_public_key {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?),
        None => None,
    };
    let secret = settings.jwt_hs256_secret.as_ref().map(Secret::expose).filter(|s| !s.is_empty());
    if secret.is_none() && pem.is_none() {
        return Ok(None);
    }
    Ok(Some(lrs_core::JwtVerifier::new(secret.map(str::as_bytes), pem.as_deref()).map_err(anyhow::Error::msg)?))
}

/// Applies every tenant's retention now and then (statements past it are
/// already hidden from answers; this removes them from the tables).
fn spawn_retention_sweeper(admin: lrs_core::AdminService, every_seconds: u64) {
    if every_seconds == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(every_seconds));
        interval.tick().await;
        loop {
            interval.tick().await;
            if let Err(error) = admin.apply_retention().await {
                tracing::warn!(%error, "retention sweep failed");
            }
        }
    });
}

/// The thread that builds the day blocks of each tenant's last `days` days
/// at start, then every minute those of the tenants that asked since (see
/// `AnalyticsService::warm`), at the lowest CPU priority: building them takes
/// seconds of a core after a start on a large store, and the answers asked
/// meanwhile go first. Dropping it stops the thread and waits for it.
struct AnalyticsWarmer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AnalyticsWarmer {
    /// Starts the thread; `None` when `days` is 0 or no thread can start.
    fn start(analytics: AnalyticsService, days: u32) -> Option<Self> {
        if days == 0 {
            return None;
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let spawned = std::thread::Builder::new().name("lrs-analytics-warm".into()).spawn(move || {
            lowest_priority();
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => return tracing::warn!(%error, "cannot start the analytics warm-up"),
            };
            runtime.block_on(async move {
                tokio::select! {
                    _ = stopped => {}
                    () = warm_analytics(analytics, days) => {}
                }
            });
        });
        match spawned {
            Ok(thread) => Some(Self { stop: Some(stop), thread: Some(thread) }),
            Err(error) => {
                tracing::warn!(%error, "cannot start the analytics warm-up");
                None
            }
        }
    }
}

impl Drop for AnalyticsWarmer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The warm-up: every tenant once, then every minute those that asked.
async fn warm_analytics(analytics: AnalyticsService, days: u32) {
    let started = std::time::Instant::now();
    match analytics.warm(days, true).await {
        Ok(tenants) => tracing::info!(tenants, seconds = started.elapsed().as_secs_f64(), "analytics day blocks built"),
        Err(error) => tracing::warn!(%error, "building analytics day blocks failed"),
    }
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(60));
    interval.tick().await;
    loop {
        interval.tick().await;
        if let Err(error) = analytics.warm(days, false).await {
            tracing::warn!(%error, "building analytics day blocks failed");
        }
    }
}

/// Puts the calling thread (and the threads it starts) at nice 19, the
/// lowest CPU priority; on Linux a priority is a thread's own.
fn lowest_priority() {
    if let Err(error) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19) {
        tracing::warn!(%error, "the analytics warm-up runs at the normal priority");
    }
}

/// The key vault of erasure: a file per row in `keys/` beside the embedded
/// store (replay never touches it; an earlier version's `vault/` is moved
/// into it), or the vault table of ScyllaDB.
pub(crate) fn open_vault(settings: &Settings, store: Arc<dyn QueryStore>) -> anyhow::Result<KeyVault> {
    Ok(match settings.store {
        StoreBackend::Embedded => {
            let files =
                lrs_embedded::open_vault_moving(&settings.data_dir.join("keys"), &settings.data_dir.join("vault"))?;
            KeyVault::new(Arc::new(files)).with_cache(VAULT_CACHE_SUBJECTS)
        }
        // Shared with other processes: a subject destroyed by the projector
        // may stay in this cache; the projector then refuses what is sealed
        // with it and the gateway seals again (docs/adr/0002).
        StoreBackend::Scylla => KeyVault::new(TableVaultStore::new(store)).with_cache(VAULT_CACHE_SUBJECTS),
    })
}

/// `lrs migrate`: creates (or completes) the ScyllaDB keyspace and tables.
pub(crate) async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.store == StoreBackend::Scylla,
        "lrs migrate is for --store scylla; the embedded store needs none"
    );
    let store = lrs_scylla::ScyllaStore::connect(settings.scylla()?).await?;
    store.migrate().await?;
    println!("keyspace {} is up to date", store.keyspace());
    Ok(())
}

/// Applies each partition's log up to its end before serving; a failure is
/// logged and left to the running projector, which retries.
async fn recover_projections(projectors: &[Projector]) {
    for projector in projectors {
        let (Ok(from), started) = (projector.position().await, std::time::Instant::now()) else { continue };
        match projector.catch_up_with(|_| {}).await {
            Ok(()) => {
                let to = projector.position().await.unwrap_or(from);
                if to > from {
                    tracing::info!(
                        events = to - from,
                        millis = started.elapsed().as_millis() as u64,
                        "applied the log's tail before serving"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "cannot apply the log's tail before serving; the projector retries"),
        }
    }
}

impl Application {
    /// Opens the log and the store the roles need, bootstraps the default
    /// tenant, and binds the port.
    pub(crate) async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check()?;
        let log = open_log(&settings).await?;
        // A process reads the tables when it projects or answers reads, or
        // when they live in the shared ScyllaDB keyspace; a gateway of the
        // embedded-store cluster has none and follows the directory feed.
        let needs_store =
            settings.has(Role::Projector) || settings.has(Role::Query) || settings.store == StoreBackend::Scylla;
        let store = if needs_store { Some(open_store(&settings).await?) } else { None };
        let mut forgotten_listener = None;
        let (auth, credential) = match &store {
            Some(store) => {
                let credentials = CredentialStore::new(store.clone());
                let credential = bootstrap::ensure_default_credential(&credentials, &settings.data_dir).await?;
                // The writer of the tables reads them at every request; a
                // process sharing them with the writer (ScyllaDB) remembers
                // what it read for a second.
                let directory = if settings.has(Role::Projector) {
                    StoreDirectory::new(store.clone())
                } else {
                    StoreDirectory::remembering(store.clone(), SHARED_DIRECTORY_FRESHNESS)
                };
                (Authenticator::new(Arc::new(directory)), Some(credential))
            }
            None => {
                let directory = FollowedDirectory::new();
                forgotten_listener = Some(directory.clone());
                let kafka = settings.kafka();
                let follower = directory.clone();
                tokio::task::spawn_blocking(move || lrs_kafka::follow_directory(&kafka, follower, DIRECTORY_CATCH_UP))
                    .await
                    .context("directory follower panicked")?
                    .context("cannot read the directory of tenants and credentials")?;
                let auth = Authenticator::new(Arc::new(directory));
                match bootstrap::credential_from_env() {
                    Some((credential, fixed)) => (auth.with_fixed(vec![fixed]), Some(credential)),
                    None => (auth, None),
                }
            }
        };

        let auth = match jwt_verifier(&settings)? {
            Some(verifier) => auth.with_jwt(verifier),
            None => auth,
        };
        let bus = VerdictBus::new();
        let verdicts: Arc<dyn VerdictSink> = match settings.log {
            LogBackend::Embedded => Arc::new(bus.clone()),
            LogBackend::Kafka => {
                if settings.has(Role::Gateway) || store.is_some() {
                    KafkaVerdicts::listen(&settings.kafka(), bus.clone())?;
                }
                Arc::new(KafkaVerdicts::new(&settings.kafka())?)
            }
        };
        let vault = match &store {
            Some(store) => Some(open_vault(&settings, store.clone())?),
            None => None,
        };
        // Personal data is sealed before it enters the log, whatever the
        // roles: with the vault beside the store, or with the vault of the
        // projector process over HTTP (a gateway of the embedded-store cluster).
        let sealing_keys: Arc<dyn SealingKeys> = match (&vault, &settings.vault_url, &settings.vault_token) {
            (Some(vault), _, _) => Arc::new(vault.clone()),
            (None, Some(url), Some(token)) => {
                let remote = lrs_http::RemoteVault::new(url, token.expose()).map_err(anyhow::Error::msg)?;
                if let Some(directory) = &forgotten_listener {
                    let remote = remote.clone();
                    directory.on_forgotten(Arc::new(move |tenant, subject| remote.forget_cached(tenant, subject)));
                }
                remote
            }
            (None, _, _) => anyhow::bail!(
                "a gateway without a store seals personal data with the vault of the projector process: \
                 set LRS_VAULT_URL (that process's address) and LRS_VAULT_TOKEN (the token it was started with)"
            ),
        };
        let with_vault = |gateway: Gateway| gateway.with_vault(sealing_keys.clone());
        // A gateway and a projector in one process: the statements the
        // gateway seals go to the projector in memory as well (ADR 0012).
        let handoff = (settings.has(Role::Gateway) && settings.has(Role::Projector) && store.is_some())
            .then(StatementHandoff::default);
        let gateway = settings.has(Role::Gateway).then(|| {
            let gateway =
                with_vault(Gateway::new(log.clone(), store.clone(), bus.clone(), settings.verdict_deadline()));
            match &handoff {
                Some(handoff) => gateway.with_handoff(handoff.clone()),
                None => gateway,
            }
        });
        let query = match (&store, settings.has(Role::Query)) {
            (Some(store), true) => {
                let query = QueryService::new(store.clone(), log.clone());
                Some(match &vault {
                    Some(vault) => query.with_vault(vault.clone()),
                    None => query,
                })
            }
            _ => None,
        };
        // The projector tells processes without a store every tenant and credential.
        let directory_feed: Option<Arc<dyn DirectoryFeed>> = match (settings.log, settings.has(Role::Projector)) {
            (LogBackend::Kafka, true) => Some(Arc::new(lrs_kafka::KafkaDirectoryFeed::new(&settings.kafka())?)),
            _ => None,
        };
        let analytics_outbox = Analytics::default();
        let quality_projection = lrs_core::projection::quality::Quality::default();
        let projectors = match (&store, settings.has(Role::Projector)) {
            (Some(store), true) => (0..log.partitions())
                .map(|partition| {
                    let projector = Projector::new(log.clone(), store.clone(), verdicts.clone(), partition);
                    let projector = match settings.analytics {
                        true => projector.with_downstream(Arc::new(analytics_outbox.clone())),
                        false => projector,
                    };
                    let projector = match settings.quality {
                        true => projector.with_downstream(Arc::new(quality_projection.clone())),
                        false => projector,
                    };
                    let projector = match &directory_feed {
                        Some(feed) => projector.with_directory_feed(feed.clone()),
                        None => projector,
                    };
                    let projector = match &handoff {
                        Some(handoff) => projector.with_handoff(handoff.clone()),
                        None => projector,
                    };
                    match &vault {
                        Some(vault) => projector.with_vault(vault.clone()),
                        None => projector,
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        if let (Some(store), Some(feed)) = (&store, &directory_feed) {
            let published = lrs_core::directory::publish_snapshot(store.as_ref(), feed.as_ref())
                .await
                .context("cannot publish the directory of tenants and credentials")?;
            tracing::info!(records = published, "directory published");
        }
        let health = lrs_core::health::HealthCheck::new(log.clone(), store.clone());
        let health = match settings.has(Role::Projector) {
            true => health.with_projector_lag_bound(settings.ready_max_lag),
            false => health,
        };
        lrs_core::metrics::set_tenant_labels(settings.metrics_tenant_labels);
        let listener =
            TcpListener::bind(&settings.listen).with_context(|| format!("cannot listen on {}", settings.listen))?;
        let workers = if settings.http_workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            settings.http_workers
        };
        let roles: Vec<String> = settings.roles.iter().map(|r| format!("{r:?}").to_lowercase()).collect();
        let description = format!("roles {} on the {:?} log", roles.join(","), settings.log).to_lowercase();
        // Administration writes through the log like any command, so any process with a store can serve it.
        let admin = store.as_ref().map(|store| {
            let writer =
                with_vault(Gateway::new(log.clone(), Some(store.clone()), bus.clone(), settings.verdict_deadline()));
            let admin = lrs_core::AdminService::new(writer, store.clone());
            match &vault {
                Some(vault) => admin.with_vault(vault.clone()),
                None => admin,
            }
        });
        if let (Some(admin), true) = (&admin, settings.has(Role::Projector)) {
            spawn_retention_sweeper(admin.clone(), settings.retention_sweep_seconds);
        }
        let operator_token =
            settings.operator_token.as_ref().map(|token| token.expose().to_owned()).filter(|token| !token.is_empty());
        let mut warmer = None;
        let analytics = match (&store, &query, settings.analytics) {
            (Some(store), Some(query), true) => {
                let service = AnalyticsService::new(store.clone(), vault.clone(), query.clone())
                    .with_block_budget(settings.analytics_cache_mb << 20);
                warmer = AnalyticsWarmer::start(service.clone(), settings.analytics_warm_days);
                Some(service)
            }
            _ => None,
        };
        let quality = match (&store, &query, settings.quality) {
            (Some(store), Some(_), true) => {
                let service = lrs_core::quality::QualityService::new(store.clone());
                Some(match &vault {
                    Some(vault) => service.with_vault(vault.clone()),
                    None => service,
                })
            }
            _ => None,
        };
        let state = lrs_http::AppState {
            gateway,
            query,
            analytics,
            quality,
            auth,
            health: Some(health),
            admin,
            operator_token,
            replicas: settings.replicas,
            vault,
            vault_token: settings.vault_token.as_ref().map(|t| t.expose().to_owned()).filter(|t| !t.is_empty()),
        };
        // Beside each projector, the analytics builder of its log partition.
        let builders = match (&store, settings.has(Role::Projector) && settings.analytics) {
            (Some(store), true) => {
                (0..log.partitions()).map(|partition| RollupBuilder::new(store.clone(), partition)).collect()
            }
            _ => Vec::new(),
        };
        // The embedded store keeps what the projectors applied in memory
        // until its journal is flushed, so after a crash the query tables may
        // miss the last acknowledged statements: they are applied again from
        // the log before the first request is answered.
        if settings.store == StoreBackend::Embedded {
            recover_projections(&projectors).await;
        }
        // Beside the projectors, the tenants' forwarders (one process
        // delivers each: the one that projects).
        let forwarding = match (&store, &state.query, settings.has(Role::Projector) && settings.forwarding) {
            (Some(store), Some(query), true) => Some(lrs_forward::ForwardingEngine::new(
                store.clone(),
                query.clone(),
                lrs_forward::Settings {
                    retry_base: std::time::Duration::from_millis(settings.forward_retry_base_ms.max(1)),
                    retry_max: std::time::Duration::from_millis(settings.forward_retry_max_ms.max(1)),
                    // ScyllaDB makes a batch visible row by row.
                    settle: match settings.store {
                        StoreBackend::Embedded => std::time::Duration::ZERO,
                        StoreBackend::Scylla => std::time::Duration::from_secs(5),
                    },
                    ..lrs_forward::Settings::default()
                },
            )),
            _ => None,
        };
        Ok(Self { listener, state, projectors, builders, forwarding, credential, workers, description, warmer })
    }

    /// The gateway, a principal of the bootstrap credential, the projectors
    /// and the analytics builders, for `lrs load` (which writes without HTTP).
    pub(crate) async fn into_loader(self) -> anyhow::Result<Loader> {
        let gateway = self.state.gateway.context("the loader needs the gateway role")?;
        let credential = self.credential.context("the loader needs the bootstrap credential")?;
        let secret = match credential.secret {
            Some(secret) => secret,
            None => std::env::var("LRS_BOOTSTRAP_SECRET").context("LRS_BOOTSTRAP_SECRET")?,
        };
        let principal = self
            .state
            .auth
            .authenticate(&credential.key, &secret)
            .await?
            .map_err(|error| anyhow::anyhow!("the bootstrap credential does not authenticate: {error}"))?;
        Ok(Loader { gateway, principal, projectors: self.projectors, builders: self.builders })
    }

    /// Prints the endpoint and a working credential on standard output.
    pub(crate) fn print_banner(&self) {
        let host = self.listener.local_addr().map_or_else(|_| "127.0.0.1".into(), |addr| addr.ip().to_string());
        let port = self.listener.local_addr().map_or(0, |addr| addr.port());
        let endpoint = format!("http://{host}:{port}/xapi");
        println!("LRS ready ({})", self.description);
        println!("ENDPOINT={endpoint}");
        match &self.credential {
            Some(credential) => {
                println!("KEY={}", credential.key);
                match &credential.secret {
                    Some(secret) => println!("SECRET={secret}"),
                    None => println!("SECRET=(the value of LRS_BOOTSTRAP_SECRET)"),
                }
            }
            None => println!("KEY=(none: issue credentials through the operator API)"),
        }
        println!("try: curl -u \"$KEY:$SECRET\" -H 'X-Experience-API-Version: 1.0.3' {endpoint}/statements");
    }

    /// Serves until SIGINT or SIGTERM (`signals`), then stops the projectors after their batch.
    pub(crate) async fn run_until_stopped(self, mut signals: StopSignals) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let projectors: Vec<_> =
            self.projectors.into_iter().map(|projector| tokio::spawn(projector.run(stopped.clone()))).collect();
        let builders: Vec<_> =
            self.builders.into_iter().map(|builder| tokio::spawn(builder.run(stopped.clone()))).collect();
        let forwarding = self.forwarding.map(|engine| tokio::spawn(engine.run(stopped.clone())));
        let port = self.listener.local_addr().map_or(0, |addr| addr.port());
        let server = lrs_http::serve(self.listener, self.state, self.workers)?;
        let handle = server.handle();
        let stopper = tokio::spawn(async move {
            signals.recv().await;
            handle.stop(true).await;
        });
        tracing::info!(port, "serving");
        let server_result = server.await;
        stopper.abort();
        let _ = stop.send(true);
        for projector in projectors {
            projector.await.context("projector task panicked")?.context("projector failed")?;
        }
        for builder in builders {
            builder.await.context("analytics builder task panicked")?;
        }
        if let Some(forwarding) = forwarding {
            forwarding.await.context("forwarding task panicked")?;
        }
        drop(self.warmer);
        server_result.context("http server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}
