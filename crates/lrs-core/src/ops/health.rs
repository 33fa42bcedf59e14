//! Readiness of a process: its event log and its store answer, and its
//! projector (when it runs one) trails the log by no more than a bound.
//! Liveness needs no check: a process that answers is alive.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::log::EventLog;
use crate::store::QueryStore;
use crate::tables::load_position;

/// How long each dependency may take to answer a readiness check.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks the dependencies of one process.
#[derive(Clone)]
pub struct HealthCheck {
    log: Arc<dyn EventLog>,
    store: Option<Arc<dyn QueryStore>>,
    max_lag: Option<u64>,
    timeout: Duration,
}

/// The outcome of one readiness check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// `"ready"` or `"unready"`.
    pub status: &'static str,
    /// Each dependency checked, in order: `log`, `store`, `projector`.
    pub checks: Vec<DependencyCheck>,
}

/// The state of one dependency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DependencyCheck {
    /// `log`, `store` or `projector`.
    pub name: &'static str,
    /// True when the dependency answered (or the projector is within its bound).
    pub ok: bool,
    /// What failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Readiness {
    /// True when every dependency is fine.
    pub fn is_ready(&self) -> bool {
        self.checks.iter().all(|check| check.ok)
    }
}

impl DependencyCheck {
    fn ok(name: &'static str) -> Self {
        Self { name, ok: true, error: None }
    }

    fn failed(name: &'static str, error: String) -> Self {
        Self { name, ok: false, error: Some(error) }
    }
}

impl HealthCheck {
    /// Checks `log` and, when this process has one, `store`.
    pub fn new(log: Arc<dyn EventLog>, store: Option<Arc<dyn QueryStore>>) -> Self {
        Self { log, store, max_lag: None, timeout: DEFAULT_CHECK_TIMEOUT }
    }

    /// Also requires the projector to trail the log end by at most `max_lag`
    /// records on every partition (for processes that run the projector).
    pub fn with_projector_lag_bound(mut self, max_lag: u64) -> Self {
        self.max_lag = Some(max_lag);
        self
    }

    /// Sets how long each dependency may take to answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Asks the log for its end offsets and the store for the projector's
    /// positions, and compares them when a lag bound is set.
    pub async fn readiness(&self) -> Readiness {
        let partitions = self.log.partitions();
        let mut checks = Vec::with_capacity(3);
        let ends = self.with_deadline(self.end_offsets(partitions)).await;
        checks.push(match (&ends, self.log.append_fault()) {
            (Ok(_), None) => DependencyCheck::ok("log"),
            (Ok(_), Some(fault)) => DependencyCheck::failed("log", format!("appends fail: {fault}")),
            (Err(error), _) => DependencyCheck::failed("log", error.clone()),
        });
        let mut positions = None;
        if let Some(store) = &self.store {
            let read = self.with_deadline(positions_of(store.as_ref(), partitions)).await;
            checks.push(match read {
                Ok(read) => {
                    positions = Some(read);
                    DependencyCheck::ok("store")
                }
                Err(error) => DependencyCheck::failed("store", error),
            });
        }
        if let Some(max_lag) = self.max_lag {
            checks.push(match (&ends, &positions) {
                (Ok(ends), Some(positions)) => lag_check(ends, positions, max_lag),
                _ => DependencyCheck::failed("projector", "lag unknown: the log or the store did not answer".into()),
            });
        }
        let status = if checks.iter().all(|check| check.ok) { "ready" } else { "unready" };
        let readiness = Readiness { status, checks };
        crate::metrics::set_readiness(
            readiness.checks.iter().map(|check| (check.name, check.ok)),
            readiness.is_ready(),
        );
        readiness
    }

    async fn end_offsets(&self, partitions: u32) -> Result<Vec<u64>, String> {
        let mut ends = Vec::with_capacity(partitions as usize);
        for partition in 0..partitions {
            ends.push(self.log.end_offset(partition).await.map_err(|error| error.to_string())?);
        }
        Ok(ends)
    }

    async fn with_deadline<T>(&self, check: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
        match tokio::time::timeout(self.timeout, check).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }
}

async fn positions_of(store: &dyn QueryStore, partitions: u32) -> Result<Vec<u64>, String> {
    let mut positions = Vec::with_capacity(partitions as usize);
    for partition in 0..partitions {
        positions.push(load_position(store, partition).await.map_err(|error| error.to_string())?);
    }
    Ok(positions)
}

fn lag_check(ends: &[u64], positions: &[u64], max_lag: u64) -> DependencyCheck {
    let behind = ends
        .iter()
        .zip(positions)
        .enumerate()
        .map(|(partition, (end, position))| (partition, end.saturating_sub(*position)))
        .find(|(_, lag)| *lag > max_lag);
    match behind {
        None => DependencyCheck::ok("projector"),
        Some((partition, lag)) => DependencyCheck::failed(
            "projector",
            format!("partition {partition} is {lag} records behind the log end (bound {max_lag})"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::log::{LogError, LogRecord};
    use crate::store::{ClusteringRange, Order, Rows, StoreError, Table, TableRow, WriteBatch};
    use crate::tables::{position_clustering, positions_partition};

    /// A log of two partitions whose end offset is `end` and that can be taken down.
    #[derive(Default)]
    struct LogDouble {
        down: AtomicBool,
        hang: AtomicBool,
        end: AtomicU64,
    }

    #[async_trait]
    impl EventLog for LogDouble {
        async fn append(&self, _: &[u8], _: Vec<u8>) -> Result<(u32, u64), LogError> {
            Err(LogError::Unavailable("not used".into()))
        }
        async fn read(&self, _: u32, _: u64, _: usize, _: Duration) -> Result<Vec<LogRecord>, LogError> {
            Ok(Vec::new())
        }
        async fn end_offset(&self, _: u32) -> Result<u64, LogError> {
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(LogError::Unavailable("broker unreachable".into()));
            }
            Ok(self.end.load(Ordering::SeqCst))
        }
        fn partitions(&self) -> u32 {
            2
        }
    }

    /// A store holding only the projector positions, that can be taken down.
    #[derive(Default)]
    struct StoreDouble {
        down: AtomicBool,
        /// Position rows by clustering key (their partition is always the positions one).
        positions: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    }

    impl StoreDouble {
        fn set_position(&self, partition: u32, next: u64) {
            self.positions.lock().unwrap().insert(position_clustering(partition), next.to_be_bytes().to_vec());
        }
    }

    #[async_trait]
    impl QueryStore for StoreDouble {
        async fn get(&self, _: Table, partition: &[u8], clustering: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("connection refused".into()));
            }
            if partition != positions_partition() {
                return Ok(None);
            }
            Ok(self.positions.lock().unwrap().get(clustering).cloned())
        }
        async fn scan(&self, _: Table, _: &[u8], _: ClusteringRange, _: Order, _: usize) -> Result<Rows, StoreError> {
            Ok(Vec::new())
        }
        async fn write(&self, _: WriteBatch) -> Result<(), StoreError> {
            Ok(())
        }
        async fn dump(&self, _: Table) -> Result<Vec<TableRow>, StoreError> {
            Ok(Vec::new())
        }
        async fn put_if_absent(&self, _: Table, _: &[u8], _: &[u8], _: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }
    }

    fn failed(readiness: &Readiness) -> Vec<&'static str> {
        readiness.checks.iter().filter(|check| !check.ok).map(|check| check.name).collect()
    }

    #[tokio::test]
    async fn unready_while_the_log_or_the_store_is_down_and_ready_when_it_returns() {
        let log = Arc::new(LogDouble::default());
        let store = Arc::new(StoreDouble::default());
        let check = HealthCheck::new(log.clone(), Some(store.clone())).with_projector_lag_bound(10);
        assert!(check.readiness().await.is_ready());

        log.down.store(true, Ordering::SeqCst);
        let readiness = check.readiness().await;
        assert_eq!(readiness.status, "unready");
        assert_eq!(failed(&readiness), ["log", "projector"]);
        assert!(readiness.checks[0].error.as_deref().unwrap().contains("broker unreachable"));
        log.down.store(false, Ordering::SeqCst);
        assert!(check.readiness().await.is_ready());

        store.down.store(true, Ordering::SeqCst);
        assert_eq!(failed(&check.readiness().await), ["store", "projector"]);
        store.down.store(false, Ordering::SeqCst);
        assert_eq!(check.readiness().await.status, "ready");
    }

    #[tokio::test]
    async fn unready_while_the_projector_trails_the_log_by_more_than_the_bound() {
        let log = Arc::new(LogDouble::default());
        let store = Arc::new(StoreDouble::default());
        let check = HealthCheck::new(log.clone(), Some(store.clone())).with_projector_lag_bound(10);
        log.end.store(100, Ordering::SeqCst);
        store.set_position(0, 95);
        store.set_position(1, 50);
        let readiness = check.readiness().await;
        assert_eq!(failed(&readiness), ["projector"]);
        assert!(readiness.checks[2].error.as_deref().unwrap().contains("partition 1 is 50 records behind"));
        store.set_position(1, 90);
        assert!(check.readiness().await.is_ready());
        // Without a bound (a process with no projector) the lag does not matter.
        store.set_position(1, 0);
        assert!(HealthCheck::new(log, Some(store)).readiness().await.is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dependency_that_hangs_fails_after_the_timeout() {
        let log = Arc::new(LogDouble::default());
        log.hang.store(true, Ordering::SeqCst);
        let check = HealthCheck::new(log, None).with_timeout(Duration::from_millis(300));
        let readiness = check.readiness().await;
        assert_eq!(failed(&readiness), ["log"]);
        assert_eq!(readiness.checks[0].error.as_deref(), Some("no answer within 300 ms"));
    }
}
