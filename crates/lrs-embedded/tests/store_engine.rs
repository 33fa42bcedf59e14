//! The embedded store's engine (fjall, patched in vendor/fjall) under a write
//! flood: memtables are rotated and flushed however far compaction lags, so
//! the memory the engine holds stays bounded, and it never deadlocks.
//!
//! Upstream fjall 3.1.13 drops rotation requests once its worker queue is
//! full of compaction requests; this test fails on it (the write buffer grows
//! to hundreds of memtables' worth).

use fjall::{Database, KeyspaceCreateOptions};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEYSPACES: usize = 16;
const MEMTABLE_BYTES: u64 = 64 * 1024;
const WRITERS: u64 = 4;
const ROWS_PER_WRITER: u64 = 400_000;

/// A key spread over the whole key space, so that flushed tables overlap and
/// compaction has real merging to do.
fn spread(n: u64) -> [u8; 8] {
    n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes()
}

#[test]
fn the_write_buffer_stays_bounded_under_a_write_flood() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::builder(dir.path()).worker_threads(2).open().expect("open");
    let options = || KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES);
    let keyspaces: Vec<_> = (0..KEYSPACES).map(|i| db.keyspace(&format!("k{i}"), options).expect("keyspace")).collect();

    let done = Arc::new(AtomicBool::new(false));
    let largest = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (db, done, largest) = (db.clone(), done.clone(), largest.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                largest.fetch_max(db.write_buffer_size(), Ordering::AcqRel);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (db, keyspaces) = (db.clone(), keyspaces.clone());
            std::thread::spawn(move || {
                let value = [w as u8; 100];
                for chunk in 0..ROWS_PER_WRITER / 100 {
                    let mut batch = db.batch();
                    for i in 0..100 {
                        let n = (w * ROWS_PER_WRITER) + chunk * 100 + i;
                        batch.insert(&keyspaces[(n as usize) % KEYSPACES], spread(n), value);
                    }
                    batch.commit().expect("commit");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
    done.store(true, Ordering::Release);
    watcher.join().expect("watcher");

    // What was written: about 110 bytes a row (key, value and the engine's
    // overhead) in memtables of 64 KB, spread evenly over the keyspaces.
    let written = WRITERS * ROWS_PER_WRITER * 110;
    let memtables_written = written / MEMTABLE_BYTES;
    // Each keyspace holds its active memtable and at most four sealed ones
    // before writes wait (5 MB here), but a memtable goes on growing until a
    // worker gets to rotate it, behind the flushes queued before (each ends
    // with an fsync). An engine that stops rotating holds all that was
    // written (267 MB); allow half of it.
    let bound = written / 2;
    assert!(bound > KEYSPACES as u64 * 5 * MEMTABLE_BYTES * 4, "the flood is far larger than the memtables");
    let largest = largest.load(Ordering::Acquire);
    println!(
        "{} MB written ({memtables_written} memtables' worth) in {:?}; largest write buffer {} KB, bound {} KB",
        written >> 20,
        started.elapsed(),
        largest >> 10,
        bound >> 10
    );
    assert!(largest > 0, "the watcher saw the write buffer");
    assert!(
        largest <= bound,
        "the write buffer reached {} KB, more than {} KB: memtables were not rotated",
        largest >> 10,
        bound >> 10
    );
    for (i, keyspace) in keyspaces.iter().enumerate() {
        let n = (0..WRITERS * ROWS_PER_WRITER).rev().find(|n| (*n as usize) % KEYSPACES == i).expect("a row");
        assert!(keyspace.get(spread(n)).expect("read").is_some(), "keyspace {i} holds its last row");
    }
}

/// Closing the engine ends its workers also while every core is busy and
/// the workers wait for work. A first version of the patch hung closing in
/// a CI run (a worker waiting on two queues with a flume `Selector` missed
/// the close request the closing thread drained first); this test did not
/// reproduce that hang on this machine, and guards the close against
/// hanging at all.
#[test]
fn the_store_closes_while_every_core_is_busy() {
    let busy = Arc::new(AtomicBool::new(true));
    let burners: Vec<_> = (0..8)
        .map(|_| {
            let busy = busy.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while busy.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            })
        })
        .collect();
    let (done, closed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for round in 0..40 {
            let dir = tempfile::tempdir().expect("temp dir");
            let db = Database::builder(dir.path()).worker_threads(2).open().expect("open");
            let keyspace = db.keyspace("k", KeyspaceCreateOptions::default).expect("keyspace");
            keyspace.insert(spread(round), [1u8; 10]).expect("insert");
            // The workers are waiting for work when the close begins.
            std::thread::sleep(Duration::from_millis(20));
            drop(keyspace);
            drop(db);
        }
        done.send(()).expect("report");
    });
    let outcome = closed.recv_timeout(Duration::from_secs(120));
    busy.store(false, Ordering::Relaxed);
    for burner in burners {
        burner.join().expect("burner");
    }
    assert!(outcome.is_ok(), "40 opens and closes did not end within 120 s: a close hangs");
}

/// Writes `rows` keys from `first` into `keyspace` and flushes them into a
/// table of their own (keys in order, so tables do not overlap).
fn write_a_table(keyspace: &fjall::Keyspace, first: u64, rows: u64) {
    for n in first..first + rows {
        keyspace.insert(n.to_be_bytes(), [7u8; 100]).expect("insert");
    }
    keyspace.rotate_memtable_and_wait().expect("flush");
}

/// A keyspace whose tables stay where they are flushed (FIFO compaction
/// without a limit), so that each keeps the layout it was written with.
fn uncompacted() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default().compaction_strategy(Arc::new(fjall::compaction::Fifo::new(u64::MAX, None)))
}

/// Bytes of block index the keyspace holds in memory after one table written
/// with fjall's default layout, and after a second table written once the
/// database in `path` is reopened (with `reopened` options, if any).
fn pinned_index_bytes_of_two_tables(
    path: &std::path::Path,
    reopened: Option<fjall::ReopenedKeyspaceOptions>,
) -> (usize, usize) {
    use fjall::AbstractTree;
    {
        let db = Database::builder(path).open().expect("open");
        let keyspace = db.keyspace("t", uncompacted).expect("keyspace");
        write_a_table(&keyspace, 0, 50_000);
    }
    let mut builder = Database::builder(path);
    if let Some(reopened) = reopened {
        builder = builder.with_reopened_keyspace_options(reopened);
    }
    let db = builder.open().expect("reopen");
    let keyspace = db.keyspace("t", uncompacted).expect("keyspace");
    let one = keyspace.tree.pinned_block_index_size();
    write_a_table(&keyspace, 50_000, 50_000);
    assert_eq!(keyspace.tree.table_count(), 2);
    (one, keyspace.tree.pinned_block_index_size())
}

#[test]
fn a_keyspace_found_on_disk_writes_its_new_tables_in_the_layout_asked_for_when_reopened() {
    use fjall::config::PartitioningPolicy;
    // fjall's own layout for a keyspace made before: the first levels' whole
    // block index in memory, so the second table adds as much as the first.
    let kept = tempfile::tempdir().expect("temp dir");
    let (one, two) = pinned_index_bytes_of_two_tables(kept.path(), None);
    assert!(one > 0 && two >= one + one / 2, "default layout: {one} then {two} bytes");

    // Reopened with partitioned index blocks asked for: the new table keeps
    // only the top of its index in memory, the old one stays as it was written.
    let relaid = tempfile::tempdir().expect("temp dir");
    let reopened: fjall::ReopenedKeyspaceOptions = Arc::new(|name, options| {
        assert_eq!(name, "t");
        options.index_block_partitioning_policy(PartitioningPolicy::all(true))
    });
    let (one_relaid, two_relaid) = pinned_index_bytes_of_two_tables(relaid.path(), Some(reopened));
    assert_eq!(one_relaid, one, "the table written before is read as it was written");
    assert!(two_relaid < one_relaid + one_relaid / 4, "reopened: {one_relaid} then {two_relaid} bytes");
}

/// A keyspace of a database without workers (nothing is flushed) with four
/// sealed memtables: fjall's limit, past which every write to it stalls.
fn stalled_keyspace(path: &std::path::Path) -> (Database, fjall::Keyspace) {
    let db = Database::builder(path).worker_threads_unchecked(0).open().expect("open");
    let keyspace = db.keyspace("t", KeyspaceCreateOptions::default).expect("keyspace");
    for n in 0..4 {
        keyspace.insert(spread(n), [1u8; 10]).expect("insert");
        keyspace.rotate_memtable().expect("rotate");
    }
    (db, keyspace)
}

#[test]
fn a_batch_commits_without_its_write_stall_which_it_then_owes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, keyspace) = stalled_keyspace(dir.path());

    let (sent, received) = std::sync::mpsc::channel();
    let mut batch = db.batch();
    batch.insert(&keyspace, "unthrottled", "1");
    std::thread::spawn(move || sent.send(batch.commit_unthrottled().map(drop).is_ok()));
    assert_eq!(received.recv_timeout(Duration::from_secs(30)), Ok(true), "commit_unthrottled waited");
    assert!(keyspace.get("unthrottled").expect("read").is_some());

    // The plain commit waits out the stall (here for good: nothing flushes).
    let (sent, received) = std::sync::mpsc::channel();
    let mut batch = db.batch();
    batch.insert(&keyspace, "throttled", "1");
    std::thread::spawn(move || sent.send(batch.commit().is_ok()));
    assert!(received.recv_timeout(Duration::from_millis(500)).is_err(), "commit did not wait for the stall");
}

/// The store's keys are ordered by their bytes (byteview, patched in
/// vendor/byteview, compares the first four bytes as a number): slices
/// shorter and longer than four bytes, inline and on the heap, with zero
/// bytes where a shorter one's first four are padded.
#[test]
fn keys_are_in_the_order_of_their_bytes() {
    let mut slices: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..3 {
        let longer: Vec<Vec<u8>> = slices
            .iter()
            .filter(|slice| slice.len() == slices.last().map_or(0, Vec::len))
            .flat_map(|slice| {
                [0u8, 1, 2, 255].map(|byte| {
                    let mut next = slice.clone();
                    next.push(byte);
                    next
                })
            })
            .collect();
        slices.extend(longer);
    }
    for slice in slices.clone() {
        for tail in [&[0u8; 5][..], &[7u8; 30][..]] {
            slices.push([&slice[..], &[0, 0, 0], tail].concat());
        }
    }
    assert_eq!(slices.len(), 85 * 3, "every slice of up to 3 bytes, and two longer ones from each");
    for a in &slices {
        for b in &slices {
            assert_eq!(fjall::Slice::new(a).cmp(&fjall::Slice::new(b)), a.cmp(b), "{a:?} against {b:?}");
        }
    }
}

/// Keys for the skip-list tests: up to 24 bytes over a few values, with long
/// shared starts (as the keys of one table share a tenant and a partition),
/// drawn from a small space so that a batch repeats keys and lands near the
/// keys of the batches before.
fn drawn_key(state: &mut u64) -> Vec<u8> {
    let mut next = || {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    };
    let shape = next();
    let mut key = b"tenant/partition/".to_vec();
    key.truncate((shape % 18) as usize);
    for _ in 0..(shape >> 8) % 7 {
        key.push([0u8, 1, 2, 7, 128, 255][(next() % 6) as usize]);
    }
    key
}

/// The memtable's skip list inserts a batch searching for each key from the
/// place of the one before (vendor/crossbeam-skiplist, `insert_sorted`,
/// patched). Sorted batches, batches with keys repeated (the last value
/// stands), and batches out of order (each key below the one before is
/// searched for from the top) leave the list holding what inserting the
/// pairs one by one leaves: every key in order, found by a search from the
/// top (which follows every level's links), and every range as a sorted
/// map answers it.
#[test]
fn a_sorted_insert_leaves_the_skip_list_that_inserts_one_by_one_leave() {
    use crossbeam_skiplist::SkipMap;
    use std::collections::BTreeMap;
    use std::ops::Bound;

    let (batched, one_by_one) = (SkipMap::new(), SkipMap::new());
    let mut model = BTreeMap::new();
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut value = 0u64;
    for round in 0..300 {
        let mut batch: Vec<(Vec<u8>, u64)> = (0..1 + (round * 7) % 400)
            .map(|_| {
                value += 1;
                (drawn_key(&mut state), value)
            })
            .collect();
        match round % 5 {
            // Out of order: as drawn.
            0 => {}
            // Descending.
            1 => batch.sort_by(|a, b| b.0.cmp(&a.0)),
            // Ascending, repeated keys in the order drawn (a stable sort).
            _ => batch.sort_by(|a, b| a.0.cmp(&b.0)),
        }
        for (key, value) in &batch {
            one_by_one.insert(key.clone(), *value);
            model.insert(key.clone(), *value);
        }
        batched.insert_sorted(batch);
        let entries = |map: &SkipMap<Vec<u8>, u64>| -> Vec<(Vec<u8>, u64)> {
            map.iter().map(|entry| (entry.key().clone(), *entry.value())).collect()
        };
        let expected: Vec<(Vec<u8>, u64)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(entries(&batched), expected, "round {round}: every key, in order, with its last value");
        assert_eq!(entries(&one_by_one), expected, "round {round}: one by one");
        for _ in 0..50 {
            let key = drawn_key(&mut state);
            assert_eq!(batched.get(&key).map(|e| *e.value()), model.get(&key).copied(), "round {round}: {key:?}");
            let high = drawn_key(&mut state);
            if key <= high {
                let range = (Bound::Included(key.clone()), Bound::Excluded(high.clone()));
                let got: Vec<u64> = batched.range(range.clone()).map(|e| *e.value()).collect();
                let want: Vec<u64> = model.range(range).map(|(_, v)| *v).collect();
                assert_eq!(got, want, "round {round}: [{key:?}, {high:?})");
            }
        }
    }
    assert!(model.len() > 10_000, "a list of many levels: {} keys", model.len());
}

/// Readers of the memtable's skip list run while batches are inserted
/// through `insert_sorted`: a reader sees the keys in order, and finds every
/// key of the batches inserted before it looked.
#[test]
fn readers_see_every_key_in_order_while_sorted_batches_go_in() {
    use crossbeam_skiplist::SkipMap;

    let map = Arc::new(SkipMap::new());
    let inserted = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (map, inserted, done) = (map.clone(), inserted.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(Ordering::Acquire) {
                    let before = inserted.load(Ordering::Acquire);
                    let keys: Vec<[u8; 8]> = map.iter().map(|entry| *entry.key()).collect();
                    assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "keys in order");
                    for n in 0..before {
                        assert!(map.contains_key(&spread(n)), "key {n} inserted before the read");
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for batch in 0..200u64 {
        let mut keys: Vec<([u8; 8], u64)> = (batch * 100..batch * 100 + 100).map(|n| (spread(n), n)).collect();
        keys.sort();
        map.insert_sorted(keys);
        inserted.store(batch * 100 + 100, Ordering::Release);
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        assert!(reader.join().expect("a reader") > 0);
    }
    assert_eq!(map.len(), 20_000);
}

thread_local! {
    /// Key comparisons made on this thread (by [`Counted`]).
    static COMPARISONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A key that counts its comparisons.
#[derive(PartialEq, Eq)]
struct Counted([u8; 8]);

impl PartialOrd for Counted {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Counted {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        COMPARISONS.with(|count| count.set(count.get() + 1));
        self.0.cmp(&other.0)
    }
}

fn comparisons_of(work: impl FnOnce()) -> u64 {
    let before = COMPARISONS.with(|count| count.get());
    work();
    COMPARISONS.with(|count| count.get()) - before
}

/// What the finger search is for: the keys of a sorted batch, each near the
/// one before, are each found in a few comparisons, not in the two or so a
/// level from the top of the list that one-by-one inserts take; and a search
/// from the top afterwards still takes about two a level (the links of every
/// level are in order).
#[test]
fn a_sorted_batch_of_near_keys_is_inserted_in_a_few_comparisons_a_key() {
    use crossbeam_skiplist::SkipMap;

    let (batched, one_by_one) = (SkipMap::new(), SkipMap::new());
    // 200,000 keys spread over the key space, in sorted batches of 1,000.
    for batch in 0..200u64 {
        let mut keys: Vec<u64> =
            (batch * 1_000..batch * 1_000 + 1_000).map(|n| n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
        keys.sort_unstable();
        batched.insert_sorted(keys.iter().map(|k| (Counted(k.to_be_bytes()), ())));
        for k in keys {
            one_by_one.insert(Counted(k.to_be_bytes()), ());
        }
    }
    // A batch of 1,000 keys among those of a narrow stretch of the list (as
    // a statement index appends at the ends of its partitions).
    let near: Vec<u64> = (0..1_000u64).map(|n| (1 << 62) + n * 1_000_003).collect();
    let sorted = comparisons_of(|| batched.insert_sorted(near.iter().map(|k| (Counted(k.to_be_bytes()), ()))));
    let each = comparisons_of(|| near.iter().for_each(|k| drop(one_by_one.insert(Counted(k.to_be_bytes()), ()))));
    assert!(each > 25_000, "one by one: {each} comparisons (about two a level)");
    assert!(sorted <= 5_000, "a sorted batch: {sorted} comparisons against {each} one by one (at most five a key)");

    // Searches from the top: as many comparisons in either list.
    let probe: Vec<u64> = (0..1_000u64).map(|n| n.wrapping_mul(0x2545_F491_4F6C_DD1D)).collect();
    let find = |map: &SkipMap<Counted, ()>| {
        comparisons_of(|| probe.iter().for_each(|k| drop(map.get(&Counted(k.to_be_bytes())))))
    };
    let (in_batched, in_one_by_one) = (find(&batched), find(&one_by_one));
    assert!(in_batched < 60_000, "1,000 searches: {in_batched} comparisons");
    assert!(in_batched * 2 < in_one_by_one * 3, "{in_batched} against {in_one_by_one}");
    assert_eq!(batched.len(), one_by_one.len());
}
