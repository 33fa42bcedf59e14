//! The ScyllaDB store against kassandra, an in-process CQL v4 server: schema
//! creation, prepared reads by full key, logged batches, overwrite and delete,
//! paging, blob type mapping and partition isolation. Kassandra ignores
//! clustering order and range conditions, so ordered scans are NOT proved
//! here: that is `scylla_suite.rs`, which needs a real ScyllaDB.

mod common;

use std::ops::Bound;
use std::sync::Arc;

use common::Kassandra;
use lrs_core::store::Order;
use lrs_core::testsuite::store_point_suite;
use lrs_core::{QueryStore, StoreError, Table, WriteBatch};
use lrs_scylla::{ScyllaSettings, ScyllaStore};
use scylla::client::session_builder::SessionBuilder;
use scylla::frame::response::result::{ColumnType, NativeType};
use scylla::response::PagingStateResponse;

#[tokio::test]
async fn migrate_creates_every_table_and_runs_again_without_losing_rows() {
    let server = Kassandra::start().await;
    let store = server.store("lrs_migrate").await;
    let mut batch = WriteBatch::default();
    for table in Table::ALL {
        batch.put(table, table.name().as_bytes().to_vec(), b"c".to_vec(), b"v".to_vec());
    }
    store.write(batch).await.expect("one row in every table");

    store.migrate().await.expect("migrate is repeatable (IF NOT EXISTS)");
    for table in Table::ALL {
        let got = store.get(table, table.name().as_bytes(), b"c").await.expect("get");
        assert_eq!(got.as_deref(), Some(&b"v"[..]), "table {} exists and kept its row", table.name());
    }
}

#[tokio::test]
async fn point_suite_passes_on_kassandra() {
    let server = Kassandra::start().await;
    store_point_suite(Arc::new(server.store("lrs_points").await)).await;
}

#[tokio::test]
async fn dump_pages_through_many_rows_with_a_small_page_size() {
    let server = Kassandra::start().await;
    let mut settings = server.settings("lrs_paging");
    settings.page_size = 7;
    let store = ScyllaStore::connect(settings).await.expect("connect");
    store.migrate().await.expect("migrate");

    let mut expected = Vec::new();
    for write in 0..5u8 {
        let mut batch = WriteBatch::default();
        for row in 0..50u8 {
            let (p, c, v) = (vec![b'p', write], vec![row, 0, 0xFF], vec![write, row]);
            batch.put(Table::ByStored, p.clone(), c.clone(), v.clone());
            expected.push((p, c, v));
        }
        store.write(batch).await.expect("write 50 rows");
    }
    let mut elsewhere = WriteBatch::default();
    elsewhere.put(Table::ByVerb, b"p\0".to_vec(), vec![0], b"other table".to_vec());
    store.write(elsewhere).await.expect("write");
    expected.sort();

    let dumped = store.dump(Table::ByStored).await.expect("dump");
    assert_eq!(dumped.len(), 250, "every row, across 36 pages of 7");
    assert_eq!(dumped, expected, "dump is complete and sorted by (partition, clustering)");

    // The server really pages: one page of the same statement holds 7 rows and says there is more.
    let session = SessionBuilder::new()
        .known_node(server.addr.to_string())
        .auto_await_schema_agreement(false)
        .build()
        .await
        .expect("raw session");
    let mut prepared = session.prepare("SELECT p, c, v FROM lrs_paging.statements_by_stored").await.expect("prepare");
    prepared.set_page_size(7);
    let (page, state) =
        session.execute_single_page(&prepared, (), scylla::response::PagingState::start()).await.expect("first page");
    assert_eq!(page.into_rows_result().expect("rows").rows_num(), 7);
    assert!(matches!(state, PagingStateResponse::HasMorePages { .. }), "more pages follow");
}

#[tokio::test]
async fn blobs_round_trip_byte_for_byte_in_blob_columns() {
    let server = Kassandra::start().await;
    let store = server.store("lrs_blobs").await;
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let large: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut batch = WriteBatch::default();
    batch.put(Table::Attachments, every_byte.clone(), vec![0, 0, 0], large.clone());
    batch.put(Table::Attachments, every_byte.clone(), vec![0xFF; 3], every_byte.clone());
    batch.put(Table::Attachments, vec![0], Vec::new(), Vec::new());
    store.write(batch).await.expect("write");

    let get = |p: Vec<u8>, c: Vec<u8>| {
        let store = store.clone();
        async move { store.get(Table::Attachments, &p, &c).await.expect("get") }
    };
    assert!(get(every_byte.clone(), vec![0, 0, 0]).await == Some(large.clone()), "256 KiB value intact");
    assert!(get(every_byte.clone(), vec![0xFF; 3]).await == Some(every_byte.clone()), "every byte value intact");
    assert!(get(vec![0], Vec::new()).await == Some(Vec::new()), "empty key and empty value");
    assert!(get(every_byte.clone(), vec![0, 0]).await.is_none(), "a clustering key prefix is another row");

    // The CQL columns are blobs holding exactly the bytes written.
    let session = SessionBuilder::new()
        .known_node(server.addr.to_string())
        .auto_await_schema_agreement(false)
        .build()
        .await
        .expect("raw session");
    let prepared = session.prepare("SELECT p, c, v FROM lrs_blobs.attachments WHERE p = ?").await.expect("prepare");
    let rows =
        session.execute_unpaged(&prepared, (&[0u8][..],)).await.expect("select").into_rows_result().expect("rows");
    let blob = ColumnType::Native(NativeType::Blob);
    assert!(rows.column_specs().iter().all(|spec| *spec.typ() == blob), "p, c and v are blob columns");
    let (p, c, v): (Vec<u8>, Vec<u8>, Vec<u8>) = rows.single_row().expect("one row");
    assert_eq!((p, c, v), (vec![0], Vec::new(), Vec::new()));
}

#[tokio::test]
async fn kassandra_answers_clustering_equality_as_a_slice_start_and_get_still_is_exact() {
    // Found here: kassandra reads `WHERE p = ? AND c = ?` as "from c to the
    // end of the partition" (a real ScyllaDB returns only the row `c`). The
    // store checks the returned key, so `get` stays exact on both.
    let server = Kassandra::start().await;
    let store = server.store("lrs_exact").await;
    let mut batch = WriteBatch::default();
    batch.put(Table::Meta, b"p".to_vec(), b"b".to_vec(), b"row b".to_vec());
    store.write(batch).await.expect("write");
    let session = SessionBuilder::new()
        .known_node(server.addr.to_string())
        .auto_await_schema_agreement(false)
        .build()
        .await
        .expect("raw session");
    let prepared = session.prepare("SELECT c, v FROM lrs_exact.meta WHERE p = ? AND c = ?").await.expect("prepare");
    let raw = session
        .execute_unpaged(&prepared, (&b"p"[..], &b"a"[..]))
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .rows_num();
    assert_eq!(raw, 1, "kassandra returns the neighbour row b for c = 'a' (if this fails, kassandra was fixed)");
    assert_eq!(store.get(Table::Meta, b"p", b"a").await.expect("get"), None);
    assert_eq!(store.get(Table::Meta, b"p", b"b").await.expect("get"), Some(b"row b".to_vec()));
}

#[tokio::test]
async fn scans_are_refused_by_kassandra_rather_than_answered_wrongly() {
    // Kassandra cannot parse `ORDER BY`, range conditions or `LIMIT ?`: the
    // prepared scan has fewer bind markers than the store binds, and the
    // driver refuses it. So no ordering/range result is ever "proved" here.
    let server = Kassandra::start().await;
    let store = server.store("lrs_scan").await;
    let mut batch = WriteBatch::default();
    for c in [3u8, 1, 2] {
        batch.put(Table::ByStored, b"p".to_vec(), vec![c], vec![c]);
    }
    store.write(batch).await.expect("write");
    let ranges = [
        (Bound::Unbounded, Bound::Unbounded),
        (Bound::Excluded(vec![1]), Bound::Included(vec![3])),
        (Bound::Included(vec![1]), Bound::Unbounded),
    ];
    for range in ranges {
        for order in [Order::Ascending, Order::Descending] {
            let result = store.scan(Table::ByStored, b"p", range.clone(), order, 2).await;
            assert!(matches!(result, Err(StoreError::Storage(_))), "{range:?} {order:?}: {result:?}");
        }
    }
}

#[tokio::test]
async fn reading_before_migrate_is_a_storage_error() {
    let server = Kassandra::start().await;
    let store = ScyllaStore::connect(server.settings("lrs_missing")).await.expect("connect");
    let result = store.get(Table::Meta, b"p", b"c").await;
    assert!(matches!(result, Err(StoreError::Storage(_))), "{result:?}");
}

#[tokio::test]
async fn an_unreachable_cluster_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut settings = ScyllaSettings::new([format!("127.0.0.1:{port}")], "lrs");
    settings.connect_timeout = std::time::Duration::from_secs(2);
    let error = ScyllaStore::connect(settings).await.expect_err("nothing listens there");
    assert!(error.is_unavailable(), "{error}");
    assert!(matches!(StoreError::from(error), StoreError::Unavailable(_)));
}
