//! The reference store (embedded) passes `store_point_suite` too, so the
//! suite the kassandra tests rely on asks for the port's behaviour, not for
//! the ScyllaDB store's.

use std::sync::Arc;

use lrs_core::testsuite::store_point_suite;
use lrs_embedded::EmbeddedStore;

#[tokio::test]
async fn embedded_store_passes_the_point_suite() {
    let dir = tempfile::tempdir().unwrap();
    store_point_suite(Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap())).await;
}
