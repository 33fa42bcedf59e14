//! The embedded event log: one partition in a redb file, appended by a single
//! writer thread that commits waiting appends together (group commit) and
//! fsyncs before acknowledging.
//!
//! A record is kept in chunks of at most [`CHUNK_BYTES`]: redb gives a value
//! larger than a page a block of a power of two pages, so a batch of 300 KB
//! kept whole takes 512 KB of the file; in chunks it takes what it holds.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lrs_core::log::{EventLog, LogError, LogRecord};
use redb::{Database, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot, watch};

use crate::EmbeddedError;

/// Page cache of the log file.
const LOG_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Records of logs written before records were chunked: offset → time ‖ payload.
const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
/// Records in chunks: (offset, chunk number) → the chunk of time ‖ payload.
const CHUNKS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("record_chunks");
/// The most bytes of a record one chunk holds: a chunk this long fills a
/// 16 KB block (measured with redb 2.6: 69 KB records take 1.01 bytes of
/// pages per byte in chunks of this size, 1.90 whole).
const CHUNK_BYTES: usize = 16_320;
/// Appends committed in one transaction at most.
const GROUP_MAX: usize = 1024;

type AppendReply = oneshot::Sender<Result<u64, LogError>>;

/// The on-disk event log of `lrs serve`.
#[derive(Clone)]
pub struct EmbeddedLog {
    db: Arc<Database>,
    writer: Arc<Writer>,
    end: watch::Receiver<u64>,
    /// The error of the last append when it failed; cleared by one that
    /// succeeds. redb keeps failing after an I/O error until it is opened
    /// again, so after a full disk this stays until `lrs serve` restarts.
    fault: Arc<Mutex<Option<String>>>,
}

/// The writer thread and the channel feeding it; dropping the last handle
/// closes the channel and waits for the thread, so the file is free again.
struct Writer {
    appends: Option<mpsc::Sender<(Vec<u8>, AppendReply)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.appends.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl EmbeddedLog {
    /// Opens (or creates) the log in `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, EmbeddedError> {
        let open_error =
            |source: redb::Error| EmbeddedError::Open { path: path.display().to_string(), source: Box::new(source) };
        // The projector reads records soon after they are written; a small
        // cache keeps memory flat however long the log grows (redb's default
        // is 1 GiB, filled by the pages of every append).
        let db = Database::builder().set_cache_size(LOG_CACHE_BYTES).create(path).map_err(|e| open_error(e.into()))?;
        let db = Arc::new(db);
        let write = db.begin_write().map_err(|e| open_error(e.into()))?;
        let end = {
            let whole = write.open_table(RECORDS).map_err(|e| open_error(e.into()))?;
            let last_whole = whole.last().map_err(|e| open_error(e.into()))?.map(|(offset, _)| offset.value());
            let chunks = write.open_table(CHUNKS).map_err(|e| open_error(e.into()))?;
            let last_chunked = chunks.last().map_err(|e| open_error(e.into()))?.map(|(key, _)| key.value().0);
            last_whole.max(last_chunked).map_or(0, |offset| offset + 1)
        };
        write.commit().map_err(|e| open_error(e.into()))?;
        let (end_sender, end_receiver) = watch::channel(end);
        let (appends, requests) = mpsc::channel(8192);
        let writer_db = db.clone();
        let fault = Arc::new(Mutex::new(None));
        let writer_fault = fault.clone();
        let thread = std::thread::Builder::new()
            .name("lrs-log-writer".into())
            .spawn(move || write_loop(writer_db, requests, end_sender, end, &writer_fault))
            .expect("spawn log writer thread");
        let writer = Arc::new(Writer { appends: Some(appends), thread: Some(thread) });
        Ok(Self { db, writer, end: end_receiver, fault })
    }

    fn read_now(&self, from: u64, max: usize) -> Result<Vec<LogRecord>, LogError> {
        let storage = |e: &dyn std::fmt::Display| LogError::Storage(e.to_string());
        let read = self.db.begin_read().map_err(|e| storage(&e))?;
        let mut records = Vec::new();
        // Records written whole come before every chunked one.
        let whole = read.open_table(RECORDS).map_err(|e| storage(&e))?;
        for entry in whole.range(from..).map_err(|e| storage(&e))?.take(max) {
            let (offset, value) = entry.map_err(|e| storage(&e))?;
            records.push(record(offset.value(), value.value())?);
        }
        let chunks = match read.open_table(CHUNKS) {
            Ok(chunks) => chunks,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(records),
            Err(e) => return Err(storage(&e)),
        };
        // The record being read and the number of its last chunk.
        let mut current: Option<(LogRecord, u32)> = None;
        for entry in chunks.range((from, 0)..).map_err(|e| storage(&e))? {
            if records.len() == max {
                break;
            }
            let (key, value) = entry.map_err(|e| storage(&e))?;
            let (offset, number) = key.value();
            match &mut current {
                Some((record, last)) if record.offset == offset => {
                    if number != *last + 1 {
                        return Err(LogError::Storage(format!("log record {offset} misses chunk {}", *last + 1)));
                    }
                    *last = number;
                    record.payload.extend_from_slice(value.value());
                }
                _ => {
                    if let Some((done, _)) = current.take() {
                        records.push(done);
                        if records.len() == max {
                            break;
                        }
                    }
                    if number != 0 {
                        return Err(LogError::Storage(format!("log record {offset} misses its first chunk")));
                    }
                    current = Some((record(offset, value.value())?, number));
                }
            }
        }
        if let Some((done, _)) = current {
            if records.len() < max {
                records.push(done);
            }
        }
        Ok(records)
    }
}

/// The record at `offset` from its stored bytes (time ‖ payload), or from
/// its first chunk, which the others extend.
fn record(offset: u64, bytes: &[u8]) -> Result<LogRecord, LogError> {
    if bytes.len() < 8 {
        return Err(LogError::Storage(format!("log record {offset} is truncated")));
    }
    let timestamp_micros = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
    Ok(LogRecord { partition: 0, offset, timestamp_micros, payload: bytes[8..].to_vec() })
}

fn write_loop(
    db: Arc<Database>,
    mut requests: mpsc::Receiver<(Vec<u8>, AppendReply)>,
    end_sender: watch::Sender<u64>,
    mut next: u64,
    fault: &Mutex<Option<String>>,
) {
    let mut last_time = 0i64;
    while let Some(first) = requests.blocking_recv() {
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let now = chrono_now_micros().max(last_time);
        let result = append_group(&db, next, now, &group);
        *fault.lock().expect("not poisoned") = result.as_ref().err().cloned();
        match result {
            Ok(()) => {
                last_time = now;
                let first = next;
                next += group.len() as u64;
                end_sender.send_replace(next);
                for (i, (_, reply)) in group.into_iter().enumerate() {
                    let _ = reply.send(Ok(first + i as u64));
                }
            }
            Err(error) => {
                tracing::error!(%error, "event log append failed");
                for (_, reply) in group {
                    let _ = reply.send(Err(LogError::Storage(error.clone())));
                }
            }
        }
    }
}

fn append_group(db: &Database, first: u64, time_micros: i64, group: &[(Vec<u8>, AppendReply)]) -> Result<(), String> {
    let write = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut table = write.open_table(CHUNKS).map_err(|e| e.to_string())?;
        let mut value = Vec::new();
        for (i, (payload, _)) in group.iter().enumerate() {
            value.clear();
            value.extend_from_slice(&time_micros.to_be_bytes());
            value.extend_from_slice(payload);
            for (number, chunk) in value.chunks(CHUNK_BYTES).enumerate() {
                let key = (first + i as u64, u32::try_from(number).map_err(|e| e.to_string())?);
                table.insert(key, chunk).map_err(|e| e.to_string())?;
            }
        }
    }
    write.commit().map_err(|e| e.to_string())
}

fn chrono_now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[async_trait]
impl EventLog for EmbeddedLog {
    async fn append(&self, _key: &[u8], payload: Vec<u8>) -> Result<(u32, u64), LogError> {
        let (reply, answer) = oneshot::channel();
        let appends = self.writer.appends.as_ref().expect("the sender lives as long as the writer");
        appends.send((payload, reply)).await.map_err(|_| LogError::Unavailable("the log writer has stopped".into()))?;
        let offset = answer.await.map_err(|_| LogError::Unavailable("the log writer has stopped".into()))??;
        Ok((0, offset))
    }

    async fn read(&self, partition: u32, from: u64, max: usize, wait: Duration) -> Result<Vec<LogRecord>, LogError> {
        if partition != 0 {
            return Ok(Vec::new());
        }
        let mut end = self.end.clone();
        if *end.borrow_and_update() <= from && !wait.is_zero() {
            let _ = tokio::time::timeout(wait, end.wait_for(|end| *end > from)).await;
        }
        let log = self.clone();
        tokio::task::spawn_blocking(move || log.read_now(from, max))
            .await
            .map_err(|e| LogError::Storage(e.to_string()))?
    }

    async fn end_offset(&self, _partition: u32) -> Result<u64, LogError> {
        Ok(*self.end.borrow())
    }

    fn partitions(&self) -> u32 {
        1
    }

    fn append_fault(&self) -> Option<String> {
        self.fault.lock().expect("not poisoned").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(length: usize, seed: u8) -> Vec<u8> {
        (0..length).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    async fn read_all(log: &EmbeddedLog, from: u64, max: usize) -> Vec<(u64, Vec<u8>)> {
        let records = log.read(0, from, max, Duration::ZERO).await.unwrap();
        records.into_iter().map(|r| (r.offset, r.payload)).collect()
    }

    #[tokio::test]
    async fn records_of_every_size_read_back_as_they_were_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let lengths = [0, 1, CHUNK_BYTES - 8, CHUNK_BYTES - 7, CHUNK_BYTES, 2 * CHUNK_BYTES + 5, 300_000, 3];
        let expected: Vec<(u64, Vec<u8>)> =
            lengths.iter().enumerate().map(|(i, &length)| (i as u64, payload(length, i as u8))).collect();
        {
            let log = EmbeddedLog::open(&path).unwrap();
            for (offset, bytes) in &expected {
                assert_eq!(log.append(b"t", bytes.clone()).await.unwrap(), (0, *offset));
            }
            assert_eq!(read_all(&log, 0, 100).await, expected);
        }
        let log = EmbeddedLog::open(&path).unwrap();
        assert_eq!(log.end_offset(0).await.unwrap(), lengths.len() as u64);
        assert_eq!(read_all(&log, 0, 100).await, expected, "as appended, after a reopen");
        assert_eq!(read_all(&log, 3, 2).await, expected[3..5], "from the middle, at most max");
        assert_eq!(read_all(&log, 6, 1).await, expected[6..7], "one record of many chunks");
        assert_eq!(read_all(&log, 8, 10).await, [], "nothing past the end");
    }

    #[tokio::test]
    async fn a_log_written_before_records_were_chunked_reads_on_and_grows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let old: Vec<(u64, Vec<u8>)> = (0..3).map(|i| (i, payload(20_000 * i as usize + 5, i as u8))).collect();
        {
            let db = Database::create(&path).unwrap();
            let write = db.begin_write().unwrap();
            {
                let mut table = write.open_table(RECORDS).unwrap();
                for (offset, bytes) in &old {
                    let value = [7i64.to_be_bytes().as_slice(), bytes].concat();
                    table.insert(*offset, value.as_slice()).unwrap();
                }
            }
            write.commit().unwrap();
        }
        let log = EmbeddedLog::open(&path).unwrap();
        assert_eq!(log.end_offset(0).await.unwrap(), 3);
        let new = [payload(40_000, 9), payload(10, 10)];
        for bytes in &new {
            log.append(b"t", bytes.clone()).await.unwrap();
        }
        let mut expected = old.clone();
        expected.extend(new.iter().cloned().enumerate().map(|(i, bytes)| (3 + i as u64, bytes)));
        assert_eq!(read_all(&log, 0, 10).await, expected);
        assert_eq!(read_all(&log, 2, 2).await, expected[2..4], "an old record and a chunked one in one read");
        assert_eq!(read_all(&log, 0, 2).await, expected[..2]);
        let times = log.read(0, 0, 1, Duration::ZERO).await.unwrap();
        assert_eq!(times[0].timestamp_micros, 7, "an old record keeps its time");
    }

    #[tokio::test]
    async fn large_records_take_the_file_space_they_hold() {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open(&dir.path().join("log.redb")).unwrap();
        // a batch of a hundred packed statements, a little over a power of two
        let (records, length) = (200, 69_000);
        for i in 0..records {
            log.append(b"t", payload(length, i as u8)).await.unwrap();
        }
        let stats = log.db.begin_write().unwrap().stats().unwrap();
        let allocated = stats.allocated_pages() * stats.page_size() as u64;
        let held = (records * (length + 8)) as u64;
        assert!(allocated * 10 < held * 12, "{allocated} bytes of pages for {held} bytes of records");
    }
}
