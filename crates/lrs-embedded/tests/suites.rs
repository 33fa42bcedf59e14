//! The embedded log and store pass the port suites every backend passes, and
//! keep what they acknowledged across a reopen.

use std::sync::Arc;

use lrs_core::testsuite::{log_suite, store_point_suite, store_suite};
use lrs_core::{EventLog, QueryStore, Table, WriteBatch};
use lrs_embedded::{EmbeddedLog, EmbeddedStore};

#[tokio::test]
async fn embedded_store_passes_the_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    store_suite(Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap())).await;
}

#[tokio::test]
async fn embedded_store_passes_the_point_suite() {
    let dir = tempfile::tempdir().unwrap();
    store_point_suite(Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap())).await;
}

#[tokio::test]
async fn embedded_log_passes_the_log_suite() {
    let dir = tempfile::tempdir().unwrap();
    log_suite(Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap())).await;
}

#[tokio::test]
async fn embedded_log_keeps_records_and_offsets_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    {
        let log = EmbeddedLog::open(&path).unwrap();
        for i in 0..3u8 {
            log.append(b"t", vec![i]).await.unwrap();
        }
    }
    let log = EmbeddedLog::open(&path).unwrap();
    assert_eq!(log.end_offset(0).await.unwrap(), 3);
    assert_eq!(log.append(b"t", vec![9]).await.unwrap(), (0, 3), "offsets continue after a reopen");
    let payloads: Vec<Vec<u8>> =
        log.read(0, 0, 10, std::time::Duration::ZERO).await.unwrap().into_iter().map(|r| r.payload).collect();
    assert_eq!(payloads, [vec![0], vec![1], vec![2], vec![9]]);
}

#[tokio::test]
async fn embedded_store_keeps_rows_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let store = EmbeddedStore::open(&path).unwrap();
        let mut batch = WriteBatch::default();
        batch.put(Table::Meta, b"p".to_vec(), b"c".to_vec(), b"kept".to_vec());
        store.write(batch).await.unwrap();
    }
    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(store.get(Table::Meta, b"p", b"c").await.unwrap(), Some(b"kept".to_vec()));
}
