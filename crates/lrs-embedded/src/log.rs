//! The embedded event log: one partition in a redb file, appended by a single
//! writer thread that commits waiting appends together (group commit) and
//! fsyncs before acknowledging.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lrs_core::log::{EventLog, LogError, LogRecord};
use redb::{Database, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot, watch};

use crate::EmbeddedError;

/// Page cache of the log file.
const LOG_CACHE_BYTES: usize = 64 * 1024 * 1024;

const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
/// Appends committed in one transaction at most.
const GROUP_MAX: usize = 1024;

type AppendReply = oneshot::Sender<Result<u64, LogError>>;

/// The on-disk event log of `lrs serve`.
#[derive(Clone)]
pub struct EmbeddedLog {
    db: Arc<Database>,
    writer: Arc<Writer>,
    end: watch::Receiver<u64>,
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
            let table = write.open_table(RECORDS).map_err(|e| open_error(e.into()))?;
            let last = table.last().map_err(|e| open_error(e.into()))?;
            last.map_or(0, |(offset, _)| offset.value() + 1)
        };
        write.commit().map_err(|e| open_error(e.into()))?;
        let (end_sender, end_receiver) = watch::channel(end);
        let (appends, requests) = mpsc::channel(8192);
        let writer_db = db.clone();
        let thread = std::thread::Builder::new()
            .name("lrs-log-writer".into())
            .spawn(move || write_loop(writer_db, requests, end_sender, end))
            .expect("spawn log writer thread");
        let writer = Arc::new(Writer { appends: Some(appends), thread: Some(thread) });
        Ok(Self { db, writer, end: end_receiver })
    }

    fn read_now(&self, from: u64, max: usize) -> Result<Vec<LogRecord>, LogError> {
        let storage = |e: &dyn std::fmt::Display| LogError::Storage(e.to_string());
        let read = self.db.begin_read().map_err(|e| storage(&e))?;
        let table = read.open_table(RECORDS).map_err(|e| storage(&e))?;
        let mut records = Vec::new();
        for entry in table.range(from..).map_err(|e| storage(&e))?.take(max) {
            let (offset, value) = entry.map_err(|e| storage(&e))?;
            let bytes = value.value();
            if bytes.len() < 8 {
                return Err(LogError::Storage(format!("log record {} is truncated", offset.value())));
            }
            records.push(LogRecord {
                partition: 0,
                offset: offset.value(),
                timestamp_micros: i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
                payload: bytes[8..].to_vec(),
            });
        }
        Ok(records)
    }
}

fn write_loop(
    db: Arc<Database>,
    mut requests: mpsc::Receiver<(Vec<u8>, AppendReply)>,
    end_sender: watch::Sender<u64>,
    mut next: u64,
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
        let mut table = write.open_table(RECORDS).map_err(|e| e.to_string())?;
        let mut value = Vec::new();
        for (i, (payload, _)) in group.iter().enumerate() {
            value.clear();
            value.extend_from_slice(&time_micros.to_be_bytes());
            value.extend_from_slice(payload);
            table.insert(first + i as u64, value.as_slice()).map_err(|e| e.to_string())?;
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
}
