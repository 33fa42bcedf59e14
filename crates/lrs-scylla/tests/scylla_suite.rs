//! The full port suite (ordered scans, ranges, DESC, limits) against a real
//! ScyllaDB at `SCYLLA_URI` (host:port). Kassandra ignores clustering order
//! and range conditions, so this test is `#[ignore]`d with that reason
//! (cargo test prints it) and `make test` runs it with `--ignored` when
//! `SCYLLA_URI` is set; run without one, it fails rather than passes.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lrs_core::testsuite::{store_point_suite, store_suite};
use lrs_scylla::{ScyllaSettings, ScyllaStore};

async fn real_store(uri: &str, name: &str) -> ScyllaStore {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let keyspace = format!("lrs_test_{name}_{}_{}", std::process::id(), nanos % 1_000_000_000);
    let store = ScyllaStore::connect(ScyllaSettings::new([uri], keyspace)).await.expect("connect to SCYLLA_URI");
    store.migrate().await.expect("migrate");
    store
}

#[tokio::test]
#[ignore = "needs a real ScyllaDB at SCYLLA_URI: kassandra ignores clustering order and ranges"]
async fn scylla_store_passes_the_store_suite_on_a_real_scylladb() {
    let uri = std::env::var("SCYLLA_URI")
        .ok()
        .filter(|uri| !uri.is_empty())
        .expect("this test needs a real ScyllaDB: set SCYLLA_URI=host:port (make test runs it then)");
    store_suite(Arc::new(real_store(&uri, "order").await)).await;
    store_point_suite(Arc::new(real_store(&uri, "points").await)).await;
}
