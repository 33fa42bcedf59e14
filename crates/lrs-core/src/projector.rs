//! The projector: the single writer of its log partition. It applies commands
//! in log order, decides their verdicts, writes the query tables and its own
//! position in one atomic batch, then hands the verdicts to the waiting
//! gateways. A crash between two batches neither loses nor repeats an effect:
//! on restart it resumes from the position written with the last batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize as _;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn, Instrument};
use uuid::Uuid;
use xapi::Statement;

use crate::auth::credential_partition;
use crate::directory::{DirectoryEntry, DirectoryFeed};
use crate::documents::{
    decode_content, document_clustering, is_json_media_type, merge_json, Document, DocumentScope, Precondition,
    PreconditionOutcome,
};
use crate::event::{self, Command, CommandEvent};
use crate::keys::KeyBuilder;
use crate::log::{EventLog, LogError, LogRecord};
use crate::metrics;
use crate::store::{Order, QueryStore, StoreError, Table, WriteBatch};
use crate::tables::{
    activity_partition, agent_partition, attachment_partition, bucket_of, index_clustering, position_clustering,
    positions_partition, statement_partition, tenant_meta_partition, verdict_partition, IndexKey, IndexScope,
    StatementRow, TenantMeta,
};
use crate::tenant::TenantId;
use crate::tenants::{tenant_partition, AuditEntry};
use crate::vault::{open_with, KeyVault, Sealed};
use crate::verdict::{Verdict, VerdictSink};

/// Records read from the log per projection batch.
const BATCH_RECORDS: usize = 512;

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
}

impl Projector {
    /// A projector of `partition` that sends verdicts to `verdicts`.
    pub fn new(
        log: Arc<dyn EventLog>,
        store: Arc<dyn QueryStore>,
        verdicts: Arc<dyn VerdictSink>,
        partition: u32,
    ) -> Self {
        Self { log, store, verdicts, partition, vault: None, directory: None }
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
        let mut next = self.position().await?;
        let mut last_applied_micros = None;
        let (sender, mut prepared) = mpsc::channel(READ_AHEAD_BATCHES);
        let reader = ReadAhead { log: self.log.clone(), vault: self.vault.clone(), partition: self.partition };
        let _reader = AbortOnDrop(tokio::spawn(reader.run(next, sender)));
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let batch = tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                batch = prepared.recv() => batch.ok_or(ProjectorError::ReaderGone)??,
            };
            if let Some(last) = batch.last() {
                next = last.record.offset + 1;
                last_applied_micros = Some(last.record.timestamp_micros);
                self.apply(batch).await?;
            }
            self.observe_lag(next, last_applied_micros).await;
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
        let end = self.log.end_offset(self.partition).await?;
        let mut next = self.position().await?;
        while next < end {
            let records = self.log.read(self.partition, next, BATCH_RECORDS, Duration::from_secs(5)).await?;
            let Some(last) = records.last() else { continue };
            next = last.offset + 1;
            self.apply(prepare_all(self.vault.as_ref(), records).await?).await?;
            progress(next);
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(partition = self.partition, records = records.len()))]
    async fn apply(&self, mut records: Vec<Prepared>) -> Result<(), ProjectorError> {
        let started = std::time::Instant::now();
        let mut step = Step::new(self.store.as_ref(), self.vault.as_ref());
        let mut verdicts = Vec::with_capacity(records.len());
        for Prepared { record, event } in &mut records {
            let Some(event) = event else { continue };
            let span = command_span(event, record);
            let verdict = step.apply_command(event, record).instrument(span).await?;
            step.batch.put(
                Table::Verdicts,
                verdict_partition(&event.tenant, event.command_id),
                Vec::new(),
                serde_json::to_vec(&verdict).expect("verdicts serialise"),
            );
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
        // Published before the batch is written: a failure leaves the batch
        // to be applied (and published) again, and the operator is answered
        // only after the directory holds the change.
        if let (Some(feed), false) = (&self.directory, step.directory.is_empty()) {
            feed.publish(&step.directory).await?;
        }
        metrics::timed_store_write(self.store.write_rebuildable(step.batch)).await?;
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

/// A log record decoded, with its sealed statements opened: what the read-ahead
/// stage hands to the projector.
struct Prepared {
    /// The record (its payload no longer needed).
    record: LogRecord,
    /// Its command; `None` when it does not decode (skipped with a warning).
    event: Option<CommandEvent>,
}

/// Decodes a record and opens the statements sealed in it, skipping those
/// that can no longer be opened (their subject was forgotten).
async fn prepare(vault: Option<&KeyVault>, mut record: LogRecord) -> Result<Prepared, StoreError> {
    let payload = std::mem::take(&mut record.payload);
    let mut event = match event::decode(&payload) {
        Ok(event) => event,
        Err(error) => {
            warn!(offset = record.offset, %error, "skipping undecodable log record");
            return Ok(Prepared { record, event: None });
        }
    };
    drop(payload);
    match &mut event.command {
        Command::StoreSealedStatements { statements } => {
            let mut opened = Vec::with_capacity(statements.len());
            for sealed in std::mem::take(statements) {
                match open_sealed_statement(vault, &event.tenant, &sealed).await? {
                    Some(statement) => opened.push(statement),
                    None => debug!("skipping a statement whose subject was forgotten"),
                }
            }
            event.command = Command::StoreStatements { statements: opened };
        }
        // The JSON form of sealed statements, in logs written before they were sealed in binary.
        Command::StoreStatements { statements } if statements.iter().any(is_sealed) => {
            let mut opened = Vec::with_capacity(statements.len());
            for statement in std::mem::take(statements) {
                let sealed = match statement.get("sealed") {
                    None => Some(statement),
                    Some(sealed) => match Sealed::deserialize(sealed) {
                        Ok(sealed) => open_sealed_statement(vault, &event.tenant, &sealed).await?,
                        Err(_) => None,
                    },
                };
                match sealed {
                    Some(statement) => opened.push(statement),
                    None => debug!("skipping a statement whose subject was forgotten"),
                }
            }
            *statements = opened;
        }
        _ => {}
    }
    Ok(Prepared { record, event: Some(event) })
}

/// [`prepare`] for each record, in order.
async fn prepare_all(vault: Option<&KeyVault>, records: Vec<LogRecord>) -> Result<Vec<Prepared>, StoreError> {
    let mut prepared = Vec::with_capacity(records.len());
    for record in records {
        prepared.push(prepare(vault, record).await?);
    }
    Ok(prepared)
}

/// A sealed statement opened; `None` when it can no longer be opened (or
/// there is no vault to open it with).
async fn open_sealed_statement(
    vault: Option<&KeyVault>,
    tenant: &TenantId,
    sealed: &Sealed,
) -> Result<Option<serde_json::Value>, StoreError> {
    let Some(vault) = vault else { return Ok(None) };
    let bytes = open_with(vault, tenant, sealed).await?;
    Ok(bytes.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Batches prepared ahead of the projector and waiting for it.
const READ_AHEAD_BATCHES: usize = 2;

/// The read-ahead stage of a projector: reads the log and prepares batches
/// (decoding events, opening seals, parsing statements) on another task, so
/// that this work runs beside the projector's rather than before it.
struct ReadAhead {
    log: Arc<dyn EventLog>,
    vault: Option<KeyVault>,
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
                    prepare_all(self.vault.as_ref(), records).await.map_err(ProjectorError::from)
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

/// Reads the next offset to apply for a log partition.
pub async fn load_position(store: &dyn QueryStore, partition: u32) -> Result<u64, StoreError> {
    let row = store.get(Table::Meta, &positions_partition(), &position_clustering(partition)).await?;
    Ok(row.and_then(|bytes| Some(u64::from_be_bytes(bytes.as_slice().try_into().ok()?))).unwrap_or(0))
}

/// One projection batch: the writes so far, and the rows they changed, so that
/// later commands of the same batch see the effects of earlier ones.
struct Step<'a> {
    store: &'a dyn QueryStore,
    vault: Option<&'a KeyVault>,
    batch: WriteBatch,
    statements: HashMap<(TenantId, Uuid), Option<StatementRow>>,
    tenants: HashMap<TenantId, TenantMeta>,
    documents: HashMap<(Vec<u8>, Vec<u8>), Option<Document>>,
    /// Canonical activities read or changed in this step, and whether changed.
    activities: HashMap<(TenantId, String), (serde_json::Value, bool)>,
    /// Names known of agents read or changed in this step, and whether changed.
    agents: HashMap<(TenantId, String), (Vec<String>, bool)>,
    /// Revisions of the administrative records written in this step.
    admin_written: HashMap<(Table, Vec<u8>), u64>,
    /// What processes following the directory must learn of this step.
    directory: Vec<DirectoryEntry>,
}

/// A document write as the projector applies it.
struct DocumentWrite<'c> {
    content_type: &'c str,
    content: Vec<u8>,
    merge: bool,
    precondition: &'c Precondition,
}

impl<'a> Step<'a> {
    fn new(store: &'a dyn QueryStore, vault: Option<&'a KeyVault>) -> Self {
        Self {
            store,
            vault,
            batch: WriteBatch::default(),
            statements: HashMap::new(),
            tenants: HashMap::new(),
            documents: HashMap::new(),
            activities: HashMap::new(),
            agents: HashMap::new(),
            admin_written: HashMap::new(),
            directory: Vec::new(),
        }
    }

    async fn statement(&mut self, tenant: &TenantId, id: Uuid) -> Result<Option<StatementRow>, StoreError> {
        let key = (tenant.clone(), id);
        if let Some(row) = self.statements.get(&key) {
            return Ok(row.clone());
        }
        let row = self
            .store
            .get(Table::Statements, &statement_partition(tenant, id), &[])
            .await?
            .and_then(|bytes| StatementRow::decode(&bytes));
        self.statements.insert(key, row.clone());
        Ok(row)
    }

    async fn tenant_meta(&mut self, tenant: &TenantId) -> Result<TenantMeta, StoreError> {
        if let Some(meta) = self.tenants.get(tenant) {
            return Ok(*meta);
        }
        let meta = self
            .store
            .get(Table::Meta, &tenant_meta_partition(tenant), &[])
            .await?
            .map(|bytes| TenantMeta::decode(&bytes))
            .unwrap_or_default();
        self.tenants.insert(tenant.clone(), meta);
        Ok(meta)
    }

    fn put_statement(&mut self, tenant: &TenantId, id: Uuid, row: StatementRow) {
        self.batch.put(Table::Statements, statement_partition(tenant, id), Vec::new(), row.encode());
        self.statements.insert((tenant.clone(), id), Some(row));
    }

    /// The revision of an administrative record about to be written: after
    /// the current one's (in the store or earlier in this batch) and no
    /// earlier than the command's log time; or the verdict refusing a create
    /// of an existing record or a change of a missing one.
    async fn admin_revision(
        &mut self,
        table: Table,
        partition: &[u8],
        create: bool,
        record: &LogRecord,
        what: &str,
    ) -> Result<Result<u64, Verdict>, StoreError> {
        let current = match self.admin_written.get(&(table, partition.to_vec())) {
            Some(revision) => Some(*revision),
            None => self.store.get(table, partition, &[]).await?.map(|bytes| {
                let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                value["revision"].as_u64().unwrap_or(0)
            }),
        };
        if let Some(verdict) = existence_verdict(create, current.is_some(), what) {
            return Ok(Err(verdict));
        }
        let log_time = u64::try_from(record.timestamp_micros).unwrap_or(0);
        Ok(Ok(current.map_or(log_time, |current| log_time.max(current + 1))))
    }

    /// Adds an entry to the audit trail.
    fn audit(&mut self, record: &LogRecord, action: &str, tenant: &str, credential: Option<&str>) {
        let entry = AuditEntry {
            time_micros: record.timestamp_micros,
            action: action.to_owned(),
            tenant: tenant.to_owned(),
            credential: credential.map(str::to_owned),
        };
        let clustering = KeyBuilder::new()
            .u64(u64::try_from(record.timestamp_micros).unwrap_or(0))
            .u32(record.partition)
            .u64(record.offset)
            .build();
        let value = serde_json::to_vec(&entry).expect("json");
        self.batch.put(Table::Audit, KeyBuilder::new().str("audit").build(), clustering, value);
    }

    /// Adds the rows kept in memory during the step to the batch.
    fn flush_tenant_meta(&mut self) {
        for (tenant, meta) in std::mem::take(&mut self.tenants) {
            self.batch.put(Table::Meta, tenant_meta_partition(&tenant), Vec::new(), meta.encode());
        }
        for ((tenant, id), (activity, changed)) in std::mem::take(&mut self.activities) {
            if changed {
                let value = serde_json::to_vec(&activity).expect("json");
                self.batch.put(Table::Activities, activity_partition(&tenant, &id), Vec::new(), value);
            }
        }
        for ((tenant, key), (names, changed)) in std::mem::take(&mut self.agents) {
            if changed {
                let value = serde_json::to_vec(&serde_json::json!({ "names": names })).expect("json");
                self.batch.put(Table::Agents, agent_partition(&tenant, &key), Vec::new(), value);
            }
        }
    }

    async fn document(&mut self, partition: &[u8], clustering: &[u8]) -> Result<Option<Document>, StoreError> {
        let key = (partition.to_vec(), clustering.to_vec());
        if let Some(document) = self.documents.get(&key) {
            return Ok(document.clone());
        }
        let row = self.store.get(Table::Documents, partition, clustering).await?;
        let document = row.and_then(|bytes| Document::decode(&bytes));
        self.documents.insert(key, document.clone());
        Ok(document)
    }

    /// PUT or POST of one document, after its precondition.
    async fn put_document(
        &mut self,
        partition: &[u8],
        id: &str,
        write: DocumentWrite<'_>,
        record: &LogRecord,
    ) -> Result<Verdict, StoreError> {
        let clustering = document_clustering(id);
        let current = self.document(partition, &clustering).await?;
        match write.precondition.check(current.as_ref().map(|d| d.etag.as_str())) {
            PreconditionOutcome::Proceed => {}
            PreconditionOutcome::Failed(message) => return Ok(Verdict::PreconditionFailed { message }),
            PreconditionOutcome::Conflict(message) => return Ok(Verdict::Conflict { message }),
            PreconditionOutcome::Missing(message) => return Ok(Verdict::Rejected { message }),
        }
        let (content_type, content) = match (&current, write.merge) {
            (Some(existing), true) => {
                if !is_json_media_type(write.content_type) {
                    let message = "a POST can only merge an application/json document into a stored one".into();
                    return Ok(Verdict::Rejected { message });
                }
                match merge_json(existing, &write.content) {
                    Ok(merged) => ("application/json".to_owned(), merged),
                    Err(message) => return Ok(Verdict::Rejected { message }),
                }
            }
            _ => (write.content_type.to_owned(), write.content),
        };
        let updated = u64::try_from(record.timestamp_micros).unwrap_or(0);
        let document = Document::new(content_type, content, updated);
        self.batch.put(Table::Documents, partition.to_vec(), clustering.clone(), document.encode());
        self.documents.insert((partition.to_vec(), clustering), Some(document));
        Ok(Verdict::Written)
    }

    /// DELETE of one document, or of every document of a scope.
    async fn delete_documents(
        &mut self,
        partition: &[u8],
        id: Option<&str>,
        precondition: &Precondition,
    ) -> Result<Verdict, StoreError> {
        let clusterings = match id {
            Some(id) => {
                let clustering = document_clustering(id);
                let current = self.document(partition, &clustering).await?;
                if let PreconditionOutcome::Failed(message) =
                    precondition.check(current.as_ref().map(|d| d.etag.as_str()))
                {
                    return Ok(Verdict::PreconditionFailed { message });
                }
                vec![clustering]
            }
            None => {
                let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
                let rows = self.store.scan(Table::Documents, partition, all, Order::Ascending, usize::MAX).await?;
                let mut clusterings: Vec<Vec<u8>> = rows.into_iter().map(|(clustering, _)| clustering).collect();
                clusterings.extend(self.documents.keys().filter(|(p, _)| p == partition).map(|(_, c)| c.clone()));
                clusterings
            }
        };
        for clustering in clusterings {
            self.batch.delete(Table::Documents, partition.to_vec(), clustering.clone());
            self.documents.insert((partition.to_vec(), clustering), None);
        }
        Ok(Verdict::Written)
    }

    /// Folds the activity definitions and agent names of a statement into the
    /// Activities and Agents tables.
    async fn learn_from(&mut self, tenant: &TenantId, statement: &Statement) -> Result<(), StoreError> {
        for activity in activity_objects(statement.value()) {
            let Some(id) = activity.get("id").and_then(serde_json::Value::as_str) else { continue };
            let key = (tenant.clone(), id.to_owned());
            if !self.activities.contains_key(&key) {
                let stored = self.store.get(Table::Activities, &activity_partition(tenant, id), &[]).await?;
                let known = stored.and_then(|bytes| serde_json::from_slice(&bytes).ok());
                let new = known.is_none();
                let known = known.unwrap_or_else(|| serde_json::json!({ "objectType": "Activity", "id": id }));
                self.activities.insert(key.clone(), (known, new));
            }
            if let Some(definition) = activity.get("definition") {
                let (known, changed) = self.activities.get_mut(&key).expect("inserted above");
                *changed |= merge_definition(known, definition);
            }
        }
        for agent in agent_objects(statement.value()) {
            let Some(key) = xapi::agent_key(agent) else { continue };
            let map_key = (tenant.clone(), key.as_str().to_owned());
            if !self.agents.contains_key(&map_key) {
                let stored = self.store.get(Table::Agents, &agent_partition(tenant, key.as_str()), &[]).await?;
                let names: Option<Vec<String>> = stored
                    .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
                    .and_then(|mut v| serde_json::from_value(v["names"].take()).ok());
                let new = names.is_none();
                self.agents.insert(map_key.clone(), (names.unwrap_or_default(), new));
            }
            if let Some(name) = agent.get("name").and_then(serde_json::Value::as_str) {
                let (names, changed) = self.agents.get_mut(&map_key).expect("inserted above");
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                    *changed = true;
                }
            }
        }
        Ok(())
    }

    /// Applies a command, opening a sealed document command first (sealed
    /// statements were opened by [`prepare`]).
    async fn apply_command(&mut self, event: &mut CommandEvent, record: &LogRecord) -> Result<Verdict, StoreError> {
        match &event.command {
            Command::Sealed { sealed } => {
                let Some(vault) = self.vault else { return Ok(Verdict::Written) };
                let Some(bytes) = open_with(vault, &event.tenant, sealed).await? else {
                    debug!("skipping a document command whose subject was forgotten");
                    return Ok(Verdict::Written);
                };
                let Ok(command) = serde_json::from_slice::<Command>(&bytes) else {
                    return Ok(Verdict::Rejected { message: "a sealed command does not decode".into() });
                };
                if !matches!(command, Command::PutDocument { .. } | Command::DeleteDocuments { .. }) {
                    return Ok(Verdict::Rejected { message: "only document commands are sealed".into() });
                }
                let mut inner = CommandEvent { command, ..event.clone() };
                self.apply_plain(&mut inner, record).await
            }
            Command::ApplyRetention { before_micros } => {
                self.apply_retention(&event.tenant, *before_micros).await?;
                self.audit(record, "tenant.retention", event.tenant.as_str(), None);
                Ok(Verdict::Written)
            }
            Command::ForgetSubject { subject } => {
                let Some(vault) = self.vault else { return Ok(Verdict::Written) };
                if let Some(subject) = vault.by_id(&event.tenant, *subject).await? {
                    self.purge_agent(&event.tenant, &subject.agent).await?;
                }
                self.audit(record, "agent.forget", event.tenant.as_str(), None);
                Ok(Verdict::Written)
            }
            _ => self.apply_plain(event, record).await,
        }
    }

    /// Removes every statement naming `agent` (with its index rows), its
    /// documents and what is known of it.
    async fn purge_agent(&mut self, tenant: &TenantId, agent: &str) -> Result<(), StoreError> {
        let meta = self.tenant_meta(tenant).await?;
        let index = IndexKey::agent(tenant, IndexScope::Related, agent);
        let last_bucket = bucket_of(meta.last_stored);
        let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
        for bucket in meta.first_bucket..=last_bucket.max(meta.first_bucket) {
            let rows = self
                .store
                .scan(index.table, &index.partition(bucket), all.clone(), Order::Ascending, usize::MAX)
                .await?;
            for (_, value) in rows {
                let Ok(id) = Uuid::from_slice(&value) else { continue };
                self.delete_statement(tenant, id).await?;
            }
        }
        for (partition, clustering, _) in self.store.dump(Table::Documents).await? {
            if DocumentScope::agent_of_partition(&partition, tenant).as_deref() == Some(agent) {
                self.batch.delete(Table::Documents, partition.clone(), clustering.clone());
                self.documents.insert((partition, clustering), None);
            }
        }
        self.batch.delete(Table::Agents, agent_partition(tenant, agent), Vec::new());
        self.agents.remove(&(tenant.clone(), agent.to_owned()));
        Ok(())
    }

    /// Deletes a statement row and every index row pointing at it.
    async fn delete_statement(&mut self, tenant: &TenantId, id: Uuid) -> Result<(), StoreError> {
        let Some(row) = self.statement(tenant, id).await? else { return Ok(()) };
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&row.json) else { return Ok(()) };
        let keys = self.index_keys_with_targets(tenant, &Statement::from_trusted(json)).await?;
        let bucket = bucket_of(row.stored_micros);
        for key in keys {
            self.batch.delete(key.table, key.partition(bucket), index_clustering(row.stored_micros));
        }
        self.batch.delete(Table::Statements, statement_partition(tenant, id), Vec::new());
        self.statements.insert((tenant.clone(), id), None);
        Ok(())
    }

    /// Deletes the statements stored before `before` (retention).
    async fn apply_retention(&mut self, tenant: &TenantId, before: u64) -> Result<(), StoreError> {
        let meta = self.tenant_meta(tenant).await?;
        if meta.last_stored == 0 {
            return Ok(());
        }
        let index = IndexKey::all(tenant);
        let range = (std::ops::Bound::Unbounded, std::ops::Bound::Excluded(index_clustering(before)));
        for bucket in meta.first_bucket..=bucket_of(before.min(meta.last_stored)) {
            let rows = self
                .store
                .scan(index.table, &index.partition(bucket), range.clone(), Order::Ascending, usize::MAX)
                .await?;
            for (_, value) in rows {
                if let Ok(id) = Uuid::from_slice(&value) {
                    self.delete_statement(tenant, id).await?;
                }
            }
        }
        Ok(())
    }

    async fn apply_plain(&mut self, event: &mut CommandEvent, record: &LogRecord) -> Result<Verdict, StoreError> {
        match &mut event.command {
            Command::StoreStatements { statements } => {
                self.store_statements(&event.tenant, std::mem::take(statements), record).await
            }
            Command::StoreAttachmentChunk { sha2, offset, content } => {
                let Some(content) = decode_content(content) else {
                    return Ok(Verdict::Rejected { message: "attachment chunk is not base64".into() });
                };
                let partition = attachment_partition(&event.tenant, sha2);
                self.batch.put(Table::Attachments, partition, offset.to_be_bytes().to_vec(), content);
                Ok(Verdict::Written)
            }
            Command::PutDocument { kind, scope, id, content_type, content, merge, precondition } => {
                let Some(content) = decode_content(content) else {
                    return Ok(Verdict::Rejected { message: "document content is not base64".into() });
                };
                let write = DocumentWrite { content_type, content, merge: *merge, precondition };
                self.put_document(&scope.partition(&event.tenant, *kind), id, write, record).await
            }
            Command::PutTenant { tenant, create, action } => {
                let partition = tenant_partition(&tenant.id);
                let what = format!("tenant {}", tenant.id);
                let revision = match self.admin_revision(Table::Tenants, &partition, *create, record, &what).await? {
                    Ok(revision) => revision,
                    Err(verdict) => return Ok(verdict),
                };
                let mut tenant = tenant.clone();
                tenant.revision = revision;
                let value = serde_json::to_vec(&tenant).expect("json");
                self.batch.put(Table::Tenants, partition.clone(), Vec::new(), value);
                self.admin_written.insert((Table::Tenants, partition), revision);
                self.audit(record, action, tenant.id.as_str(), None);
                self.directory.push(DirectoryEntry::Tenant { tenant });
                Ok(Verdict::Written)
            }
            Command::PutCredential { credential, create, action } => {
                let partition = credential_partition(&credential.key);
                let what = format!("credential {}", credential.key);
                let revision = match self.admin_revision(Table::Credentials, &partition, *create, record, &what).await?
                {
                    Ok(revision) => revision,
                    Err(verdict) => return Ok(verdict),
                };
                let mut credential = credential.clone();
                credential.revision = revision;
                let value = serde_json::to_vec(&credential).expect("json");
                self.batch.put(Table::Credentials, partition.clone(), Vec::new(), value);
                self.admin_written.insert((Table::Credentials, partition), revision);
                self.audit(record, action, credential.tenant.as_str(), Some(&credential.key));
                self.directory.push(DirectoryEntry::Credential { credential });
                Ok(Verdict::Written)
            }
            Command::DeleteDocuments { kind, scope, id, precondition } => {
                self.delete_documents(&scope.partition(&event.tenant, *kind), id.as_deref(), precondition).await
            }
            Command::Sealed { .. }
            | Command::ForgetSubject { .. }
            | Command::ApplyRetention { .. }
            | Command::StoreSealedStatements { .. } => {
                Ok(Verdict::Rejected { message: "a sealed command cannot be nested".into() })
            }
        }
    }

    /// Decides a batch of statements (all or nothing), then writes the new ones.
    async fn store_statements(
        &mut self,
        tenant: &TenantId,
        statements: Vec<serde_json::Value>,
        record: &LogRecord,
    ) -> Result<Verdict, StoreError> {
        let parsed: Vec<Statement> = statements.into_iter().map(Statement::from_trusted).collect();
        let mut ids = Vec::with_capacity(parsed.len());
        let mut fresh = vec![false; parsed.len()];
        let batch_ids: HashMap<Uuid, &Statement> = parsed.iter().filter_map(|s| Some((s.id()?, s))).collect();
        for (index, statement) in parsed.iter().enumerate() {
            let Some(id) = statement.id() else {
                return Ok(Verdict::Rejected { message: "statement without id reached the projector".into() });
            };
            ids.push(id);
            if let Some(existing) = self.statement(tenant, id).await? {
                let existing_json: serde_json::Value = match serde_json::from_slice(&existing.json) {
                    Ok(json) => json,
                    Err(_) => return Ok(Verdict::Conflict { message: format!("statement {id} already exists") }),
                };
                let mut incoming = statement.value().clone();
                if incoming.get("timestamp").is_none() {
                    if let Some(timestamp) = existing_json.get("timestamp") {
                        incoming["timestamp"] = timestamp.clone();
                    }
                }
                if !xapi::statements_equivalent(&existing_json, &incoming) {
                    return Ok(Verdict::Conflict {
                        message: format!("statement {id} already exists with different content"),
                    });
                }
                continue;
            }
            if let Some(target) = statement.voided_target() {
                let target_is_voiding = match batch_ids.get(&target) {
                    Some(in_batch) => in_batch.voided_target().is_some(),
                    None => match self.statement(tenant, target).await? {
                        Some(row) => row_is_voiding(&row),
                        None => false,
                    },
                };
                if target_is_voiding {
                    return Ok(Verdict::Rejected {
                        message: format!("object.id: statement {target} is a voiding statement and cannot be voided"),
                    });
                }
            }
            fresh[index] = true;
        }
        drop(batch_ids);

        let mut meta = self.tenant_meta(tenant).await?;
        let log_time = u64::try_from(record.timestamp_micros).unwrap_or(0);
        for (statement, id) in parsed.into_iter().zip(&ids).zip(fresh).filter(|(_, fresh)| *fresh).map(|(s, _)| s) {
            let id = *id;
            let stored = log_time.max(meta.last_stored + 1);
            if meta.last_stored == 0 {
                meta.first_bucket = bucket_of(stored);
            }
            meta.last_stored = stored;
            self.put_indexes(tenant, id, stored, &statement).await?;
            self.learn_from(tenant, &statement).await?;
            if let Some(target) = statement.voided_target() {
                if let Some(mut target_row) = self.statement(tenant, target).await? {
                    target_row.voided = true;
                    self.put_statement(tenant, target, target_row);
                }
            }
            let mut json = statement.into_value();
            let stored_text = serde_json::Value::String(xapi::format_timestamp(micros_to_datetime(stored)));
            if json.get("timestamp").is_none() {
                json["timestamp"] = stored_text.clone();
            }
            json["stored"] = stored_text;
            let row =
                StatementRow { voided: false, stored_micros: stored, json: serde_json::to_vec(&json).expect("json") };
            self.put_statement(tenant, id, row);
        }
        self.tenants.insert(tenant.clone(), meta);
        Ok(Verdict::Stored { ids })
    }

    /// Every index key of a statement: its own and those of the statements it
    /// targets through StatementRefs.
    async fn index_keys_with_targets(
        &mut self,
        tenant: &TenantId,
        statement: &Statement,
    ) -> Result<Vec<IndexKey>, StoreError> {
        let mut keys = vec![IndexKey::all(tenant)];
        keys.extend(index_keys(tenant, statement));
        let mut target = statement_ref_target(statement.value());
        for _ in 0..MAX_REFERENCE_DEPTH {
            let Some(target_id) = target else { break };
            let Some(row) = self.statement(tenant, target_id).await? else { break };
            let Ok(json) = serde_json::from_slice::<serde_json::Value>(&row.json) else { break };
            target = statement_ref_target(&json);
            for key in index_keys(tenant, &Statement::from_trusted(json)) {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        Ok(keys)
    }

    /// Writes the index rows of a statement: its own keys, and the keys of the
    /// statements it targets through a StatementRef (so that a filter matching
    /// a target also returns the statements referring to it).
    async fn put_indexes(
        &mut self,
        tenant: &TenantId,
        id: Uuid,
        stored: u64,
        statement: &Statement,
    ) -> Result<(), StoreError> {
        let bucket = bucket_of(stored);
        let keys = self.index_keys_with_targets(tenant, statement).await?;
        for key in keys {
            self.batch.put(key.table, key.partition(bucket), index_clustering(stored), id.as_bytes().to_vec());
        }
        Ok(())
    }
}

/// How many StatementRef hops a filter follows.
pub const MAX_REFERENCE_DEPTH: usize = 8;

/// The id a statement's StatementRef object points at, if its object is one.
pub fn statement_ref_target(json: &serde_json::Value) -> Option<Uuid> {
    let object = json.get("object")?;
    if object.get("objectType")?.as_str()? != "StatementRef" {
        return None;
    }
    Uuid::parse_str(object.get("id")?.as_str()?).ok()
}

/// The filter index keys of a statement's own content.
fn index_keys(tenant: &TenantId, statement: &Statement) -> Vec<IndexKey> {
    let mut keys = vec![IndexKey::verb(tenant, statement.verb_id())];
    keys.extend(statement.activities(false).iter().map(|a| IndexKey::activity(tenant, IndexScope::Direct, a)));
    keys.extend(statement.activities(true).iter().map(|a| IndexKey::activity(tenant, IndexScope::Related, a)));
    keys.extend(statement.agents(false).iter().map(|a| IndexKey::agent(tenant, IndexScope::Direct, a.as_str())));
    keys.extend(statement.agents(true).iter().map(|a| IndexKey::agent(tenant, IndexScope::Related, a.as_str())));
    if let Some(registration) = statement.registration() {
        keys.push(IndexKey::registration(tenant, registration));
    }
    keys
}

/// Every Activity object of a statement: its object, its context activities,
/// and the same inside a SubStatement.
fn activity_objects(statement: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut found = Vec::new();
    let mut parts = vec![statement];
    if let Some(object) = statement.get("object") {
        if object.get("objectType").and_then(serde_json::Value::as_str) == Some("SubStatement") {
            parts.push(object);
        }
    }
    for part in parts {
        if let Some(object) = part.get("object") {
            let kind = object.get("objectType").and_then(serde_json::Value::as_str);
            if kind.is_none() || kind == Some("Activity") {
                found.push(object);
            }
        }
        if let Some(context) = part.pointer("/context/contextActivities").and_then(serde_json::Value::as_object) {
            for value in context.values() {
                match value {
                    serde_json::Value::Array(items) => found.extend(items.iter()),
                    single @ serde_json::Value::Object(_) => found.push(single),
                    _ => {}
                }
            }
        }
    }
    found
}

/// The Agents (not Groups) a statement names as actor, object, instructor or member.
fn agent_objects(statement: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut found = Vec::new();
    for pointer in ["/actor", "/object", "/context/instructor", "/object/actor", "/object/object"] {
        if let Some(agent) = statement.pointer(pointer) {
            match agent.get("objectType").and_then(serde_json::Value::as_str) {
                None | Some("Agent") if pointer != "/object" || agent.get("objectType").is_some() => found.push(agent),
                Some("Group") => {
                    if let Some(members) = agent.get("member").and_then(serde_json::Value::as_array) {
                        found.extend(members.iter());
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// Merges a newly seen definition into the canonical one: language maps gain
/// and update entries, other properties take the newest value. Returns
/// whether the canonical definition changed.
fn merge_definition(activity: &mut serde_json::Value, definition: &serde_json::Value) -> bool {
    let Some(update) = definition.as_object() else { return false };
    let Some(activity) = activity.as_object_mut() else { return false };
    let mut changed = !activity.contains_key("definition");
    let known = activity.entry("definition").or_insert_with(|| serde_json::json!({}));
    let Some(known) = known.as_object_mut() else { return changed };
    for (name, value) in update {
        match (name.as_str(), known.get_mut(name), value) {
            (
                "name" | "description" | "extensions",
                Some(serde_json::Value::Object(current)),
                serde_json::Value::Object(new),
            ) => {
                for (key, entry) in new {
                    if current.get(key) != Some(entry) {
                        current.insert(key.clone(), entry.clone());
                        changed = true;
                    }
                }
            }
            (_, current, _) => {
                if current.as_deref() != Some(value) {
                    known.insert(name.clone(), value.clone());
                    changed = true;
                }
            }
        }
    }
    changed
}

/// The verdict of a create over an existing record, or a change of a missing one.
fn existence_verdict(create: bool, exists: bool, what: &str) -> Option<Verdict> {
    match (create, exists) {
        (true, true) => Some(Verdict::Conflict { message: format!("{what} exists already") }),
        (false, false) => Some(Verdict::Rejected { message: format!("{what} does not exist") }),
        _ => None,
    }
}

fn is_sealed(statement: &serde_json::Value) -> bool {
    statement.get("sealed").is_some()
}

fn row_is_voiding(row: &StatementRow) -> bool {
    serde_json::from_slice::<serde_json::Value>(&row.json)
        .map(|json| Statement::from_trusted(json).voided_target().is_some())
        .unwrap_or(false)
}

/// Converts microseconds since the epoch to a UTC time.
pub fn micros_to_datetime(micros: u64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(i64::try_from(micros).unwrap_or(i64::MAX)).unwrap_or_default()
}
