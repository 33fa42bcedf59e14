//! Forwarding: each forwarder of each tenant (defined by the operator, kept
//! in the tenant's record) is a worker that reads the tenant's statements
//! in `stored` order after its own durable position and delivers them to
//! another LRS or a webhook, retrying with backoff while the target is
//! down, keeping what it refuses for good as dead letters. Runs beside the
//! projector (`lrs serve`, or the projector role of a cluster); ingest
//! never waits for it.
//!
//! It reads the query tables, not the log: the log holds commands, and
//! whether a statement was stored (not a conflict, not a resend) is the
//! projector's decision, which the tables hold. `stored` grows with every
//! statement the projector applies for a tenant, so a position in `stored`
//! order never skips one that appears later.

pub mod deliver;
pub mod metrics;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lrs_core::query::{QueryError, QueryService};
use lrs_core::store::{QueryStore, StoreError};
use lrs_core::tenants::list_tenants;
use lrs_core::{Tenant, TenantId};
use tokio::sync::watch;
use tracing::warn;

pub use worker::backoff;

/// Failures of forwarding (all retried by the worker).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A read of the statements failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The forwarder's filter cannot be read (checked when it was added).
    #[error("filter: {0}")]
    Filter(String),
}

/// How forwarders pace themselves.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The wait after the first failed delivery (doubled with each failure).
    pub retry_base: Duration,
    /// The longest wait between retries.
    pub retry_max: Duration,
    /// How often an idle forwarder looks for new statements.
    pub poll: Duration,
    /// How long a stored statement may take to be visible in every row of
    /// the tables (0 on the embedded store; a few seconds on ScyllaDB).
    pub settle: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            poll: Duration::from_millis(250),
            settle: Duration::ZERO,
        }
    }
}

/// Starts and stops the workers of every tenant's forwarders.
#[derive(Clone)]
pub struct ForwardingEngine {
    store: Arc<dyn QueryStore>,
    query: QueryService,
    deliverer: deliver::Deliverer,
    settings: Settings,
}

/// A running worker: how to stop it, and the tenant record it sees.
struct Running {
    stop: watch::Sender<bool>,
    tenant: watch::Sender<Arc<Tenant>>,
    task: tokio::task::JoinHandle<()>,
}

/// How often the engine looks at the tenants' forwarders.
const LOOK_EVERY: Duration = Duration::from_secs(1);

impl ForwardingEngine {
    /// Forwarding of the statements in `store`, read through `query`.
    pub fn new(store: Arc<dyn QueryStore>, query: QueryService, settings: Settings) -> Self {
        Self { store, query, deliverer: deliver::Deliverer::default(), settings }
    }

    /// Runs the forwarders until `shutdown` turns true, then stops them
    /// (each after its delivery in flight, whose position it then writes).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        metrics::register();
        let mut running: HashMap<(TenantId, String, i64), Running> = HashMap::new();
        loop {
            match list_tenants(self.store.as_ref()).await {
                Ok(tenants) => self.reconcile(&tenants, &mut running),
                Err(error) => warn!(%error, "cannot list the tenants' forwarders; retrying"),
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep(LOOK_EVERY) => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
        for (_, worker) in running.drain() {
            let _ = worker.stop.send(true);
            let _ = worker.task.await;
        }
    }

    /// Starts the workers of new forwarders, stops those of removed ones,
    /// and hands each the newest record of its tenant.
    fn reconcile(&self, tenants: &[Tenant], running: &mut HashMap<(TenantId, String, i64), Running>) {
        let mut wanted = HashMap::new();
        for tenant in tenants.iter().filter(|tenant| !tenant.deleted) {
            let shared = Arc::new(tenant.clone());
            for forwarder in &tenant.forwarders {
                let key = (tenant.id.clone(), forwarder.name.clone(), forwarder.created_micros);
                wanted.insert(key, (shared.clone(), forwarder.clone()));
            }
        }
        let stopped: Vec<_> = running
            .iter()
            .filter(|(key, worker)| !wanted.contains_key(*key) || worker.task.is_finished())
            .map(|(key, _)| key.clone())
            .collect();
        for key in stopped {
            let Some(worker) = running.remove(&key) else { continue };
            let _ = worker.stop.send(true);
            if !wanted.contains_key(&key) {
                // Removed: its series go once its worker has stopped setting them.
                tokio::spawn(async move {
                    let _ = worker.task.await;
                    metrics::forget(&key.0, &key.1);
                });
            }
        }
        for (key, (tenant, forwarder)) in wanted {
            if let Some(worker) = running.get(&key) {
                if worker.tenant.borrow().revision != tenant.revision {
                    let _ = worker.tenant.send(tenant);
                }
                continue;
            }
            let (stop, stopped) = watch::channel(false);
            let (tenant_tx, tenant_rx) = watch::channel(tenant);
            let worker = worker::Worker {
                tenant: tenant_rx,
                forwarder,
                store: self.store.clone(),
                query: self.query.clone(),
                deliverer: self.deliverer.clone(),
                settings: self.settings,
            };
            let task = tokio::spawn(worker.run(stopped));
            running.insert(key, Running { stop, tenant: tenant_tx, task });
        }
    }
}
