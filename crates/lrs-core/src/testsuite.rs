//! The port test suites, written once and run against every backend: each
//! store crate calls `store_suite` and each log crate calls `log_suite` from
//! its own tests (enable the `testsuite` feature).

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use crate::log::EventLog;
use crate::store::{Order, QueryStore, Table, WriteBatch};

fn key(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// Checks a query store: point reads, ordered partition scans with bounds and
/// limits in both directions, partition isolation, overwrite and delete.
pub async fn store_suite(store: Arc<dyn QueryStore>) {
    let mut batch = WriteBatch::default();
    for clustering in [5u64, 1, 3, 2, 4] {
        batch.put(Table::ByStored, key("p1"), clustering.to_be_bytes().to_vec(), format!("v{clustering}").into_bytes());
    }
    batch.put(Table::ByStored, key("p10"), 9u64.to_be_bytes().to_vec(), key("other partition"));
    batch.put(Table::ByVerb, key("p1"), 1u64.to_be_bytes().to_vec(), key("other table"));
    store.write(batch).await.expect("write");

    let got = store.get(Table::ByStored, &key("p1"), &3u64.to_be_bytes()).await.expect("get");
    assert_eq!(got, Some(key("v3")), "point read");
    assert_eq!(store.get(Table::ByStored, &key("p1"), &9u64.to_be_bytes()).await.expect("get"), None);
    assert_eq!(store.get(Table::ByStored, &key("p2"), &3u64.to_be_bytes()).await.expect("get"), None);

    let all = (Bound::Unbounded, Bound::Unbounded);
    let values = |rows: Vec<(Vec<u8>, Vec<u8>)>| {
        rows.into_iter().map(|(_, v)| String::from_utf8(v).unwrap()).collect::<Vec<_>>()
    };
    let ascending = store.scan(Table::ByStored, &key("p1"), all.clone(), Order::Ascending, 100).await.expect("scan");
    assert_eq!(values(ascending), ["v1", "v2", "v3", "v4", "v5"], "ascending scan stays in its partition and table");
    let descending = store.scan(Table::ByStored, &key("p1"), all.clone(), Order::Descending, 2).await.expect("scan");
    assert_eq!(values(descending), ["v5", "v4"], "descending scan with limit");
    let range = (Bound::Excluded(2u64.to_be_bytes().to_vec()), Bound::Included(4u64.to_be_bytes().to_vec()));
    let ranged = store.scan(Table::ByStored, &key("p1"), range.clone(), Order::Ascending, 100).await.expect("scan");
    assert_eq!(values(ranged), ["v3", "v4"], "exclusive low, inclusive high");
    let ranged = store.scan(Table::ByStored, &key("p1"), range, Order::Descending, 100).await.expect("scan");
    assert_eq!(values(ranged), ["v4", "v3"], "ranges walk backwards too");
    let other = store.scan(Table::ByStored, &key("p10"), all.clone(), Order::Ascending, 100).await.expect("scan");
    assert_eq!(values(other), ["other partition"], "a partition whose key extends another's is separate");

    let mut batch = WriteBatch::default();
    batch.put(Table::ByStored, key("p1"), 3u64.to_be_bytes().to_vec(), key("v3b"));
    batch.delete(Table::ByStored, key("p1"), 1u64.to_be_bytes().to_vec());
    store.write(batch).await.expect("write");
    let after = store.scan(Table::ByStored, &key("p1"), all, Order::Ascending, 100).await.expect("scan");
    assert_eq!(values(after), ["v2", "v3b", "v4", "v5"], "overwrite and delete");
}

/// Reads `count` records from `from` the way a projector does: read after
/// read (a remote log may answer fewer than asked), never more than asked.
async fn read_exactly(log: &dyn EventLog, from: u64, count: usize) -> Vec<crate::log::LogRecord> {
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while records.len() < count {
        assert!(tokio::time::Instant::now() < deadline, "only {} of {count} records arrived", records.len());
        let want = count - records.len();
        let batch = log.read(0, from + records.len() as u64, want, Duration::from_secs(1)).await.expect("read");
        assert!(batch.len() <= want, "a read returned more than its limit");
        records.extend(batch);
    }
    records
}

/// Checks an event log: durable appends get increasing offsets per
/// partition, reads start at any offset, and a read waits for new records.
pub async fn log_suite(log: Arc<dyn EventLog>) {
    let start = log.end_offset(0).await.expect("end offset");
    let mut offsets = Vec::new();
    for i in 0..5u8 {
        let (partition, offset) = log.append(b"tenant-a", vec![i; 3]).await.expect("append");
        assert_eq!(partition, 0);
        offsets.push(offset);
    }
    assert_eq!(offsets, (start..start + 5).collect::<Vec<_>>(), "consecutive offsets");
    assert_eq!(log.end_offset(0).await.expect("end offset"), start + 5);

    let records = read_exactly(log.as_ref(), start + 2, 2).await;
    let read: Vec<(u64, Vec<u8>)> = records.iter().map(|r| (r.offset, r.payload.clone())).collect();
    assert_eq!(read, [(start + 2, vec![2; 3]), (start + 3, vec![3; 3])], "read from an offset with a limit");
    let times: Vec<i64> = read_exactly(log.as_ref(), start, 5).await.iter().map(|r| r.timestamp_micros).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "record times never go back");

    let empty = log.read(0, start + 5, 10, Duration::from_millis(50)).await.expect("read");
    assert!(empty.is_empty(), "nothing past the end");
    let waiter = {
        let log = log.clone();
        tokio::spawn(async move { log.read(0, start + 5, 10, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    log.append(b"tenant-a", b"late".to_vec()).await.expect("append");
    let woken =
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("read woke").expect("task").expect("read");
    assert_eq!(woken.first().map(|r| r.payload.clone()), Some(b"late".to_vec()), "a waiting read sees a new record");
}

/// Checks what a store must do without ordered scans: point reads by full key
/// (an empty clustering key included), batches across tables applied in batch
/// order (also for two writes of one row in one batch), overwrite, delete,
/// repeated batches, partition and table isolation, many rows read at once
/// (`get_many`), and a complete `dump`. The part of `store_suite` that a
/// server without clustering order can prove.
pub async fn store_point_suite(store: Arc<dyn QueryStore>) {
    let mut batch = WriteBatch::default();
    batch.put(Table::Statements, key("t1"), Vec::new(), key("row"));
    batch.put(Table::Meta, key("p1"), key("a"), key("1"));
    batch.put(Table::Meta, key("p1"), key("b"), key("2"));
    batch.put(Table::Meta, key("p10"), key("a"), key("other partition"));
    batch.put(Table::Agents, key("p1"), key("a"), key("other table"));
    batch.put(Table::Meta, key("p1"), key("gone"), key("x"));
    batch.delete(Table::Meta, key("p1"), key("gone"));
    batch.delete(Table::Meta, key("p1"), key("back"));
    batch.put(Table::Meta, key("p1"), key("back"), key("3"));
    batch.put(Table::Meta, key("p1"), key("twice"), key("first"));
    batch.put(Table::Meta, key("p1"), key("twice"), key("second"));
    store.write(batch.clone()).await.expect("write");
    store.write(batch).await.expect("the same batch again (idempotent)");
    store.write(WriteBatch::default()).await.expect("an empty batch");

    let get = |table: Table, partition: &'static str, clustering: &'static str| {
        let store = store.clone();
        async move { store.get(table, &key(partition), &key(clustering)).await.expect("get") }
    };
    assert_eq!(get(Table::Statements, "t1", "").await, Some(key("row")), "empty clustering key");
    assert_eq!(get(Table::Meta, "p1", "a").await, Some(key("1")), "point read");
    assert_eq!(get(Table::Meta, "p10", "a").await, Some(key("other partition")), "partition isolation");
    assert_eq!(get(Table::Agents, "p1", "a").await, Some(key("other table")), "table isolation");
    assert_eq!(get(Table::Agents, "p1", "b").await, None, "rows stay in their table");
    assert_eq!(get(Table::Meta, "p", "a").await, None, "a partition key prefix is another partition");
    assert_eq!(get(Table::Meta, "p1", "").await, None, "an empty clustering key is its own row");
    assert_eq!(get(Table::Meta, "p1", "gone").await, None, "put then delete in one batch");
    assert_eq!(get(Table::Meta, "p1", "back").await, Some(key("3")), "delete then put in one batch");
    assert_eq!(get(Table::Meta, "p1", "twice").await, Some(key("second")), "the last put of a row wins");

    let mut batch = WriteBatch::default();
    batch.put(Table::Meta, key("p1"), key("a"), key("1b"));
    batch.delete(Table::Meta, key("p1"), key("b"));
    batch.delete(Table::Meta, key("p1"), key("never written"));
    batch.put(Table::Agents, key("p2"), key("a"), Vec::new());
    store.write(batch).await.expect("write");
    assert_eq!(get(Table::Meta, "p1", "a").await, Some(key("1b")), "overwrite");
    assert_eq!(get(Table::Meta, "p1", "b").await, None, "delete");
    assert_eq!(get(Table::Agents, "p2", "a").await, Some(Vec::new()), "an empty value is a present row");

    // Many rows read at once (more than a store may read in one go, in
    // chunks of unequal length), in the keys' order, across partitions, a
    // missing row as none.
    let mut batch = WriteBatch::default();
    for i in 0..40 {
        batch.put(Table::ByStored, key(&format!("many{}", i % 3)), key(&format!("{i:02}")), key(&format!("v{i}")));
    }
    store.write(batch).await.expect("write");
    let keys: Vec<_> = (0..97).rev().map(|i| (key(&format!("many{}", i % 3)), key(&format!("{i:02}")))).collect();
    let expected: Vec<_> = (0..97).rev().map(|i| (i < 40).then(|| key(&format!("v{i}")))).collect();
    assert_eq!(store.get_many(Table::ByStored, keys).await.expect("get_many"), expected);
    let few = vec![(key("many1"), key("01")), (key("many2"), key("01"))];
    assert_eq!(store.get_many(Table::ByStored, few).await.expect("get_many"), [Some(key("v1")), None]);
    assert!(store.get_many(Table::ByStored, Vec::new()).await.expect("get_many").is_empty());

    let mut meta = store.dump(Table::Meta).await.expect("dump");
    meta.sort();
    let row = |p: &str, c: &str, v: &str| (key(p), key(c), key(v));
    assert_eq!(
        meta,
        [
            row("p1", "a", "1b"),
            row("p1", "back", "3"),
            row("p1", "twice", "second"),
            row("p10", "a", "other partition")
        ],
        "dump holds every live row of its table and no other"
    );
    let mut agents = store.dump(Table::Agents).await.expect("dump");
    agents.sort();
    assert_eq!(agents, [row("p1", "a", "other table"), row("p2", "a", "")]);
    assert!(store.dump(Table::Documents).await.expect("dump").is_empty(), "an untouched table dumps empty");
}
