//! The projector: the single writer of its log partition. It applies commands
//! in log order, decides their verdicts, writes the query tables and its own
//! position in one atomic batch, then hands the verdicts to the waiting
//! gateways. A crash between two batches neither loses nor repeats an effect:
//! on restart it resumes from the position written with the last batch.

pub mod analytics;
mod prepare;
pub mod quality;
pub mod replay;
mod statements;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{debug, warn, Instrument};
use uuid::Uuid;

use prepare::{prepare_all, Prepared};
use statements::{Learned, Step};

use crate::directory::DirectoryFeed;
use crate::event::CommandEvent;
use crate::handoff::StatementHandoff;
use crate::log::{EventLog, LogError, LogRecord};
use crate::metrics;
use crate::store::{Order, QueryStore, StoreError, Table, WriteBatch};
pub use crate::tables::load_position;
use crate::tables::{
    attachment_kept_partition, attachment_partition, attachment_pending_partition, attachment_sent_partition,
    destroy_clustering, destroy_partition, parse_attachment_pending_clustering, parse_destroy_clustering,
    position_clustering, positions_partition, verdict_bucket, verdict_key, verdict_sweep_partition,
};
use crate::tenant::TenantId;
use crate::vault::KeyVault;
use crate::verdict::VerdictSink;

/// What a projection downstream works out from a stored statement ([`Downstream::digest`]).
pub type Digest = Arc<dyn std::any::Any + Send + Sync>;

/// The digests of one stored statement, by the name of the projection that asked.
pub type Digests = Vec<(&'static str, Digest)>;

/// The digest of type `T` that the projection `name` asked for, if there is one.
pub fn digest_of<'d, T: 'static>(digests: &'d Digests, name: &str) -> Option<&'d T> {
    digests.iter().find(|(asker, _)| *asker == name).and_then(|(_, digest)| digest.downcast_ref::<T>())
}

/// What the statement projection did to one statement: what the projections
/// downstream of it (analytics, …) are fed with.
#[derive(Clone, Debug)]
pub enum Change {
    /// Stored (not a repeat of a stored one).
    Stored {
        /// Its tenant.
        tenant: TenantId,
        /// The statement as stored (with `stored` and `timestamp`).
        statement: serde_json::Value,
        /// Its actor.
        learner: Option<Learner>,
        /// What each projection downstream needs of it
        /// ([`Downstream::digest`]), worked out while the statement was at
        /// hand rather than in a second walk over the batch.
        digests: Digests,
        /// What the statement plan found about it (the templates it followed
        /// and broke, its pattern groups), when a plan checked it.
        check: Option<crate::plan::PlanCheck>,
    },
    /// Voided, or removed by an erasure or by retention.
    Removed {
        /// Its tenant.
        tenant: TenantId,
        /// The statement as it was stored.
        statement: serde_json::Value,
        /// Its actor.
        learner: Option<Learner>,
    },
    /// An agent was forgotten: what is kept under its subject goes.
    Forgotten {
        /// Its tenant.
        tenant: TenantId,
        /// Its subject id.
        subject: Uuid,
    },
    /// A statement sent again with the id and content of a stored one.
    Resent {
        /// Its tenant.
        tenant: TenantId,
        /// The credential key that sent it again.
        source: Option<String>,
    },
    /// A write the gateway refused.
    Rejected {
        /// Its tenant.
        tenant: TenantId,
        /// The credential key that sent it.
        source: Option<String>,
        /// Why (`invalid`, `profile`, `conflict`).
        reason: String,
        /// How many statements it held.
        statements: u32,
    },
}

/// The actor of a statement, as projections keep it.
#[derive(Clone, Debug)]
pub struct Learner {
    /// The key rows are kept under: its subject key, or its identifier.
    pub key: String,
    /// Its identifier (`mbox:mailto:…`).
    pub ifi: String,
    /// Its subject with its key, when the statement was sealed for it and
    /// just opened: what a projection seals the identifier with.
    pub subject: Option<crate::vault::Subject>,
}

/// A change with the log record that made it.
#[derive(Clone, Debug)]
pub struct Changed {
    /// The record's offset in its partition.
    pub offset: u64,
    /// The record's log time, microseconds.
    pub log_time_micros: i64,
    /// What it did.
    pub change: Change,
}

/// A projection downstream of the statement projection. It is fed with the
/// changes of each batch and writes its rows into the same batch, so that
/// they share the log position (nothing lost or applied twice after a
/// crash) and a replay rebuilds them with the query tables. A projection
/// whose work is heavy writes what it must do into the batch (an outbox)
/// and does it on its own schedule (see `analytics::builder`).
#[async_trait::async_trait]
pub trait Downstream: Send + Sync + 'static {
    /// Its name, for logs and metrics.
    fn name(&self) -> &'static str;

    /// What it needs of a stored statement, worked out by the statement
    /// projection while the statement is at hand (in the cache), and handed
    /// back in [`Change::Stored`]'s `digests` under this projection's name:
    /// the projector asks every projection it applies, so a projection that
    /// returns one finds it in every `Stored` change it is given.
    ///
    /// `prepared` is what [`Downstream::prepare`] returned for the same
    /// statement, when it returned something; `stored_micros` is its
    /// `stored`, as microseconds since the epoch.
    fn digest(
        &self,
        _statement: &serde_json::Value,
        _learner: Option<&Learner>,
        _prepared: Option<&Digest>,
        _stored_micros: i64,
    ) -> Option<Digest> {
        None
    }

    /// The part of [`Downstream::digest`] that does not depend on what the
    /// projector decides (`stored`, and the `timestamp` of a statement sent
    /// without one), worked out from the statement as sent by the read-ahead
    /// task, beside the projector rather than on its single-writer path.
    fn prepare(&self, _statement: &serde_json::Value, _learner: Option<&Learner>) -> Option<Digest> {
        None
    }

    /// Adds the writes of `changes` (of log partition `partition`) to
    /// `batch`, reading `store` as it was before the batch.
    async fn apply(
        &self,
        changes: &[Changed],
        partition: u32,
        store: &dyn QueryStore,
        batch: &mut WriteBatch,
    ) -> Result<(), StoreError>;
}

/// Records read from the log per projection batch.
const BATCH_RECORDS: usize = 512;

/// How long a verdict row is kept: the gateway that awaits it reads it (when
/// its answer did not come on the bus) within its deadline, seconds; no one
/// reads it after that.
pub const VERDICT_RETENTION: Duration = Duration::from_secs(3600);

/// How long an attachment body waits, in log time, for a statement to keep
/// it before it is collected: its statements' command follows its chunks in
/// the log within moments; one that never comes (refused, or its gateway
/// stopped between the two) leaves the body to collect.
pub const ATTACHMENT_GRACE: Duration = Duration::from_secs(3600);

/// Pending attachment bodies one sweep looks at, at most.
const ATTACHMENT_SWEEP_ROWS: usize = 1000;

/// How often a projector drops the verdict buckets past the retention.
const VERDICT_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Minutes of buckets a projector's first sweep looks back over, beyond the retention.
const FIRST_SWEEP_MINUTES: u64 = 24 * 60;

/// Failures that stop the projector.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The read-ahead stage stopped without saying why (it panicked).
    #[error("the projector's log reader stopped")]
    ReaderGone,
}

/// Projects one partition of the log into the query tables.
pub struct Projector {
    log: Arc<dyn EventLog>,
    store: Arc<dyn QueryStore>,
    verdicts: Arc<dyn VerdictSink>,
    partition: u32,
    vault: Option<KeyVault>,
    directory: Option<Arc<dyn DirectoryFeed>>,
    downstream: Vec<Arc<dyn Downstream>>,
    /// Statements the gateways of this process hand it (ADR 0012).
    handoff: Option<StatementHandoff>,
    /// Subjects this projector forgot: a statement the read-ahead opened
    /// before their key was destroyed is refused all the same. Each batch
    /// takes a snapshot (a cheap clone of the Arc).
    forgotten: Mutex<Arc<HashSet<Uuid>>>,
    /// How long its verdict rows are kept ([`VERDICT_RETENTION`]).
    verdict_retention: Duration,
    /// How long an attachment body waits to be kept ([`ATTACHMENT_GRACE`]).
    attachment_grace: Duration,
    /// What the last written batch left in the activity and agent rows,
    /// for the batch right after it (dropped when a batch fails).
    learned: Mutex<Option<statements::Learned>>,
}

impl Projector {
    /// A projector of `partition` that sends verdicts to `verdicts`.
    pub fn new(
        log: Arc<dyn EventLog>,
        store: Arc<dyn QueryStore>,
        verdicts: Arc<dyn VerdictSink>,
        partition: u32,
    ) -> Self {
        Self {
            log,
            store,
            verdicts,
            partition,
            vault: None,
            directory: None,
            downstream: Vec::new(),
            handoff: None,
            forgotten: Mutex::default(),
            verdict_retention: VERDICT_RETENTION,
            attachment_grace: ATTACHMENT_GRACE,
            learned: Mutex::default(),
        }
    }

    /// Collects attachment bodies after `grace` instead of [`ATTACHMENT_GRACE`] (tests).
    pub fn with_attachment_grace(mut self, grace: Duration) -> Self {
        self.attachment_grace = grace;
        self
    }

    /// Collects the attachment bodies that no stored statement kept within
    /// the grace, counted in log time up to `log_now_micros` (the time of the
    /// last record applied, so that a replay collects as the first run did):
    /// the bodies sent with statements that were refused, or whose command
    /// never reached the log. A body a statement kept stays. Returns how many
    /// bodies it collected.
    pub async fn sweep_attachments(&self, log_now_micros: i64) -> Result<usize, StoreError> {
        let grace = i64::try_from(self.attachment_grace.as_micros()).unwrap_or(i64::MAX);
        let cutoff = log_now_micros.saturating_sub(grace);
        let pending = attachment_pending_partition(self.partition);
        let before = (std::ops::Bound::Unbounded, std::ops::Bound::Excluded(cutoff.max(0).to_be_bytes().to_vec()));
        let rows = self.store.scan(Table::Meta, &pending, before, Order::Ascending, ATTACHMENT_SWEEP_ROWS).await?;
        let mut batch = WriteBatch::default();
        let mut collected = 0;
        let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
        for (clustering, _) in rows {
            batch.delete(Table::Meta, pending.clone(), clustering.clone());
            let Some((sent_at, tenant, sha2)) = parse_attachment_pending_clustering(&clustering) else { continue };
            let sent = attachment_sent_partition(&tenant, &sha2);
            let last_sent = self.store.get(Table::Meta, &sent, &[]).await?;
            let last_sent = last_sent.and_then(|b| b.get(..8)?.try_into().ok()).map(i64::from_be_bytes);
            if last_sent > Some(sent_at) {
                continue; // sent again since: its later row decides
            }
            batch.delete(Table::Meta, sent, Vec::new());
            if self.store.get(Table::Meta, &attachment_kept_partition(&tenant, &sha2), &[]).await?.is_some() {
                continue;
            }
            let body = attachment_partition(&tenant, &sha2);
            for (chunk, _) in
                self.store.scan(Table::Attachments, &body, all.clone(), Order::Ascending, usize::MAX).await?
            {
                batch.delete(Table::Attachments, body.clone(), chunk);
            }
            collected += 1;
        }
        if !batch.is_empty() {
            self.store.write(batch).await?;
        }
        Ok(collected)
    }

    /// Keeps verdict rows for `retention` instead of [`VERDICT_RETENTION`] (tests).
    pub fn with_verdict_retention(mut self, retention: Duration) -> Self {
        self.verdict_retention = retention;
        self
    }

    /// Drops the buckets of verdicts whose commands are older than the
    /// retention, from the one after the last bucket it dropped (kept in
    /// Meta). The first sweep of a store also drops the verdict rows of
    /// earlier versions (keyed by tenant and command, never dropped then).
    /// Returns how many rows it deleted.
    pub async fn sweep_verdicts(&self) -> Result<usize, StoreError> {
        let now_minute = chrono::Utc::now().timestamp().max(0) as u64 / 60;
        let retention_minutes = self.verdict_retention.as_secs().div_ceil(60);
        let Some(cutoff) = now_minute.checked_sub(retention_minutes + 1) else { return Ok(0) };
        let marker = verdict_sweep_partition(self.partition);
        let swept = self.store.get(Table::Meta, &marker, &[]).await?;
        let mut deleted = 0;
        let mut batch = WriteBatch::default();
        let from = match swept.and_then(|bytes| Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))) {
            Some(through) => through + 1,
            None => {
                // The first sweep here: rows of earlier versions (and of any
                // partition layout) go once.
                for (partition, clustering, _) in self.store.dump(Table::Verdicts).await? {
                    if !crate::tables::is_verdict_bucket(&partition) {
                        batch.delete(Table::Verdicts, partition, clustering);
                        deleted += 1;
                    }
                }
                cutoff.saturating_sub(FIRST_SWEEP_MINUTES)
            }
        };
        let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
        for minute in from..=cutoff {
            let bucket = verdict_bucket(self.partition, minute);
            for (clustering, _) in
                self.store.scan(Table::Verdicts, &bucket, all.clone(), Order::Ascending, usize::MAX).await?
            {
                batch.delete(Table::Verdicts, bucket.clone(), clustering);
                deleted += 1;
            }
        }
        batch.put(Table::Meta, marker, Vec::new(), cutoff.to_be_bytes().to_vec());
        self.store.write(batch).await?;
        Ok(deleted)
    }

    /// Also runs `projection` on what each batch did to statements.
    pub fn with_downstream(mut self, projection: Arc<dyn Downstream>) -> Self {
        self.downstream.push(projection);
        self
    }

    /// Publishes the tenant and credential records it writes (and forgotten
    /// subjects) on `feed`, for the processes that follow the directory.
    pub fn with_directory_feed(mut self, feed: Arc<dyn DirectoryFeed>) -> Self {
        self.directory = Some(feed);
        self
    }

    /// Opens sealed events with the keys of `vault` (see `vault.rs`).
    pub fn with_vault(mut self, vault: KeyVault) -> Self {
        self.vault = Some(vault);
        self
    }

    /// Takes the statements the gateways of this process hand it, instead of
    /// opening and parsing them from the log (ADR 0012).
    pub fn with_handoff(mut self, handoff: StatementHandoff) -> Self {
        self.handoff = Some(handoff);
        self
    }

    /// The next offset to apply, as written with the last batch.
    pub async fn position(&self) -> Result<u64, StoreError> {
        load_position(self.store.as_ref(), self.partition).await
    }

    /// Applies the log until `shutdown` turns true; returns after the batch in
    /// progress is written.
    ///
    /// A log or store that fails (a broker restarting, a store node away) is
    /// retried with a growing pause; the projector resumes from the position
    /// it last wrote, so nothing is lost or applied twice.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), ProjectorError> {
        let mut pause = Duration::from_millis(100);
        loop {
            match self.run_until_error(&mut shutdown).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    warn!(%error, partition = self.partition, retry_in_ms = pause.as_millis() as u64, "projector step failed; retrying");
                    tokio::select! {
                        _ = shutdown.changed() => return Ok(()),
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn run_until_error(&self, shutdown: &mut watch::Receiver<bool>) -> Result<(), ProjectorError> {
        self.destroy_pending_keys().await?;
        let mut next = self.position().await?;
        let mut last_applied_micros = None;
        let mut swept: Option<tokio::time::Instant> = None;
        let (sender, mut prepared) = mpsc::channel(READ_AHEAD_BATCHES);
        let reader = ReadAhead {
            log: self.log.clone(),
            vault: self.vault.clone(),
            downstream: self.downstream.clone(),
            handoff: self.handoff.clone(),
            partition: self.partition,
        };
        let _reader = AbortOnDrop(tokio::spawn(reader.run(next, sender)));
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let batch = tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                batch = prepared.recv() => batch.ok_or(ProjectorError::ReaderGone)??,
            };
            // The log's time as far as this projector knows it: the last
            // record it applied, or now when it has applied the whole log.
            let log_now = match batch.last() {
                Some(last) => last.record.timestamp_micros,
                None => chrono::Utc::now().timestamp_micros(),
            };
            if let Some(last) = batch.last() {
                next = last.record.offset + 1;
                last_applied_micros = Some(last.record.timestamp_micros);
                self.apply(batch).await?;
            }
            self.observe_lag(next, last_applied_micros).await;
            if swept.is_none_or(|at| at.elapsed() >= VERDICT_SWEEP_EVERY) {
                swept = Some(tokio::time::Instant::now());
                match self.sweep_verdicts().await {
                    Ok(0) => {}
                    Ok(rows) => debug!(rows, partition = self.partition, "dropped expired verdicts"),
                    Err(error) => warn!(%error, partition = self.partition, "dropping expired verdicts failed"),
                }
                match self.sweep_attachments(log_now).await {
                    Ok(0) => {}
                    Ok(bodies) => {
                        debug!(bodies, partition = self.partition, "collected attachment bodies no statement kept")
                    }
                    Err(error) => warn!(%error, partition = self.partition, "collecting attachment bodies failed"),
                }
            }
        }
    }

    /// Sets the lag and watermark-age gauges of this partition: after each
    /// batch and on each idle poll.
    async fn observe_lag(&self, next: u64, last_applied_micros: Option<i64>) {
        match self.log.end_offset(self.partition).await {
            Ok(end) => metrics::set_lag(self.partition, end.saturating_sub(next), last_applied_micros),
            Err(error) => debug!(%error, "cannot read the log end offset for the lag gauge"),
        }
    }

    /// Applies the log up to its current end and returns (replay), telling
    /// `progress` the next position after each batch.
    pub async fn catch_up_with(&self, mut progress: impl FnMut(u64)) -> Result<(), ProjectorError> {
        self.destroy_pending_keys().await?;
        let end = self.log.end_offset(self.partition).await?;
        let mut next = self.position().await?;
        while next < end {
            let records = self.log.read(self.partition, next, BATCH_RECORDS, Duration::from_secs(5)).await?;
            let Some(last) = records.last() else { continue };
            next = last.offset + 1;
            let prepared = prepare_all(self.vault.as_ref(), &self.downstream, self.handoff.as_ref(), records).await?;
            self.apply(prepared).await?;
            progress(next);
        }
        Ok(())
    }

    /// Destroys the keys of the subjects whose purge was written but whose
    /// key may not have been destroyed yet (a crash in between).
    async fn destroy_pending_keys(&self) -> Result<(), StoreError> {
        let Some(vault) = &self.vault else { return Ok(()) };
        let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
        let partition = destroy_partition(self.partition);
        let pending = self.store.scan(Table::Meta, &partition, all, Order::Ascending, usize::MAX).await?;
        let subjects: Vec<(TenantId, Uuid)> =
            pending.iter().filter_map(|(clustering, _)| parse_destroy_clustering(clustering)).collect();
        self.destroy_keys(vault, &subjects).await
    }

    /// Destroys subjects' keys, then drops their pending-destruction rows.
    async fn destroy_keys(&self, vault: &KeyVault, subjects: &[(TenantId, Uuid)]) -> Result<(), StoreError> {
        if subjects.is_empty() {
            return Ok(());
        }
        let mut done = WriteBatch::default();
        for (tenant, subject) in subjects {
            vault.destroy(tenant, *subject).await?;
            Arc::make_mut(&mut self.forgotten.lock().expect("forgotten lock")).insert(*subject);
            done.delete(Table::Meta, destroy_partition(self.partition), destroy_clustering(tenant, *subject));
        }
        self.store.write(done).await
    }

    #[tracing::instrument(skip_all, fields(partition = self.partition, records = records.len()))]
    async fn apply(&self, mut records: Vec<Prepared>) -> Result<(), ProjectorError> {
        let started = std::time::Instant::now();
        let forgotten = self.forgotten.lock().expect("forgotten lock").clone();
        let statements = records.iter().map(|prepared| prepared.statements.len()).sum();
        // What the last written batch learned, if this batch follows it (a
        // failed batch took it: it may hold rows the store does not).
        let first = records.first().map_or(0, |prepared| prepared.record.offset);
        let learned = self.learned.lock().expect("learned lock").take().filter(|learned| learned.next == first);
        let learned = learned.unwrap_or_else(|| Learned::new(first));
        let mut step =
            Step::new(self.store.as_ref(), self.vault.as_ref(), forgotten, &self.downstream, statements, learned);
        let mut verdicts = Vec::with_capacity(records.len());
        let now_seconds = chrono::Utc::now().timestamp().max(0) as u64;
        for Prepared { record, event, statements } in &mut records {
            let Some(event) = event else { continue };
            let span = command_span(event, record);
            let verdict = step.apply_command(event, record, std::mem::take(statements)).instrument(span).await?;
            // Kept for the gateway that awaits it (the bus may miss it),
            // while it can still be waiting: not for a command no one
            // awaits, nor for one older than the retention (a replay).
            let young = crate::tables::command_minute(event.command_id)
                .is_some_and(|minute| minute * 60 + self.verdict_retention.as_secs() >= now_seconds);
            if let (true, Some((partition, clustering))) =
                (young, verdict_key(self.partition, &event.tenant, event.command_id))
            {
                let value = serde_json::to_vec(&verdict).expect("verdicts serialise");
                step.batch.put(Table::Verdicts, partition, clustering, value);
            }
            verdicts.push((event.command_id, verdict));
        }
        let last = &records.last().expect("apply is called with records").record;
        step.batch.put(
            Table::Meta,
            positions_partition(),
            position_clustering(self.partition),
            (last.offset + 1).to_be_bytes().to_vec(),
        );
        step.flush_tenant_meta();
        for projection in &self.downstream {
            let started = std::time::Instant::now();
            projection.apply(&step.changes, self.partition, self.store.as_ref(), &mut step.batch).await?;
            metrics::downstream_applied(projection.name(), started);
        }
        // Published before the batch is written: a failure leaves the batch
        // to be applied (and published) again, and the operator is answered
        // only after the directory holds the change.
        if let (Some(feed), false) = (&self.directory, step.directory.is_empty()) {
            feed.publish(&step.directory).await?;
        }
        let purged = std::mem::take(&mut step.purged);
        let learned = step.learned.take();
        if purged.is_empty() {
            metrics::timed_store_write(self.store.write_rebuildable(step.batch)).await?;
        } else {
            // An erasure is written durably before the keys go: a purge lost
            // in a crash after that could not be redone without them.
            metrics::timed_store_write(self.store.write(step.batch)).await?;
            if let Some(vault) = &self.vault {
                self.destroy_keys(vault, &purged).await?;
            }
        }
        if let Some(mut learned) = learned {
            learned.next = last.offset + 1;
            *self.learned.lock().expect("learned lock") = Some(learned);
        }
        metrics::batch_applied(self.partition, records.len(), started);
        debug!(next = last.offset + 1, "projected batch");
        if let Err(error) = self.log.applied(self.partition, last.offset + 1).await {
            warn!(%error, "cannot mirror the projector position to the log");
        }
        self.verdicts.publish(&verdicts).await;
        Ok(())
    }
}

/// The span of applying one command, a child of the span that issued it
/// (the envelope's trace context), so gateway and projector share one trace.
fn command_span(event: &CommandEvent, record: &LogRecord) -> tracing::Span {
    let span = tracing::info_span!(
        "project_command",
        tenant = %event.tenant,
        command_id = %event.command_id,
        kind = event.command.kind(),
        partition = record.partition,
        offset = record.offset,
    );
    crate::trace::set_parent(&span, &event.trace_context);
    span
}

/// Batches prepared ahead of the projector and waiting for it.
const READ_AHEAD_BATCHES: usize = 2;

/// The read-ahead stage of a projector: reads the log and prepares batches
/// (decoding events, opening seals, parsing statements) on another task, so
/// that this work runs beside the projector's rather than before it.
struct ReadAhead {
    log: Arc<dyn EventLog>,
    vault: Option<KeyVault>,
    downstream: Vec<Arc<dyn Downstream>>,
    handoff: Option<StatementHandoff>,
    partition: u32,
}

impl ReadAhead {
    /// Prepares batches from offset `next` on until the projector goes away,
    /// or sends the error that stops it. Sends an empty batch after each idle
    /// poll, so that the projector can update its lag gauges.
    async fn run(self, mut next: u64, batches: mpsc::Sender<Result<Vec<Prepared>, ProjectorError>>) {
        loop {
            let prepared = match self.log.read(self.partition, next, BATCH_RECORDS, Duration::from_millis(500)).await {
                Ok(records) => {
                    next = records.last().map_or(next, |last| last.offset + 1);
                    let handoff = self.handoff.as_ref();
                    prepare_all(self.vault.as_ref(), &self.downstream, handoff, records)
                        .await
                        .map_err(ProjectorError::from)
                }
                Err(error) => Err(error.into()),
            };
            let failed = prepared.is_err();
            if batches.send(prepared).await.is_err() || failed {
                return;
            }
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
