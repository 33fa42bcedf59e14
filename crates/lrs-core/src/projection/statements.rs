//! The statement projection: applies each command to the query tables in
//! log order and decides its verdict (same id + same content is a no-op,
//! different content 409, a batch is all or nothing, a voiding statement
//! cannot be voided; document preconditions and merge; tenants and
//! credentials; erasure and retention), keeping the merged activity
//! definitions and agent names. One `Step` is one batch of the projector.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tracing::debug;
use uuid::Uuid;
use xapi::Statement;

use super::prepare::{Incoming, OpenSeal, Worked};
use super::{Change, Changed, Downstream, Learner};
use crate::auth::credential_partition;
use crate::directory::DirectoryEntry;
use crate::documents::{
    decode_content, document_clustering, is_json_media_type, merge_json, Document, DocumentScope, Precondition,
    PreconditionOutcome,
};
use crate::event::{Command, CommandEvent};
use crate::keys::KeyBuilder;
use crate::log::LogRecord;
use crate::store::{Order, QueryStore, StoreError, Table, WriteBatch};
use crate::tables::{
    activity_partition, agent_documents_clustering, agent_documents_partition, agent_partition,
    attachment_kept_partition, attachment_partition, attachment_pending_clustering, attachment_pending_partition,
    attachment_sent_partition, bucket_of, day_clustering, decode_stored_row, destroy_clustering, destroy_partition,
    encode_stored_row, forgotten_partition, index_clustering, index_value, parse_agent_documents_clustering,
    parse_index_value, read_statement, set_stored, statement_partition, statement_ref_target, tenant_meta_partition,
    Completion, DayWalk, IndexKey, IndexMatch, IndexScope, RowBody, StatementEntry, StatementRow, TenantMeta,
    MAX_REFERENCE_DEPTH,
};
use crate::tenant::TenantId;
use crate::tenants::{tenant_partition, AuditEntry};
use crate::vault::{
    open_row, open_with, opening, personal_agents, seal, sealed_row, subject_index_key, KeyVault, Opening, Subject,
};
use crate::verdict::Verdict;

/// The maps of one batch, hashed with foldhash rather than the default
/// SipHash (a few lookups per statement; SipHash was 1% of the ingest).
type BatchHashMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One projection batch: the writes so far, and the rows they changed, so that
/// later commands of the same batch see the effects of earlier ones.
pub(crate) struct Step<'a> {
    store: &'a dyn QueryStore,
    vault: Option<&'a KeyVault>,
    pub(crate) batch: WriteBatch,
    statements: BatchHashMap<(TenantId, Uuid), Option<StatementRow>>,
    tenants: BatchHashMap<TenantId, TenantMeta>,
    documents: BatchHashMap<(Vec<u8>, Vec<u8>), Option<Document>>,
    /// Canonical activities read or changed in this step, and whether changed.
    activities: BatchHashMap<(TenantId, String), (serde_json::Value, bool)>,
    /// What is known of agents read or changed in this step, by index key.
    agents: BatchHashMap<(TenantId, String), KnownAgent>,
    /// Revisions of the administrative records written in this step.
    admin_written: BatchHashMap<(Table, Vec<u8>), u64>,
    /// What processes following the directory must learn of this step.
    pub(crate) directory: Vec<DirectoryEntry>,
    /// Subjects the projector forgot before this step.
    forgotten_before: Arc<HashSet<Uuid>>,
    /// Subjects forgotten during this step.
    forgotten_now: HashSet<Uuid>,
    /// Subjects purged in this step, whose keys go once it is written.
    pub(crate) purged: Vec<(TenantId, Uuid)>,
    /// Documents written in this step for agents with a subject.
    agent_documents: BatchHashMap<Uuid, Vec<DocumentKey>>,
    /// What earlier batches left in the activity and agent rows; `None`
    /// once this step erased anything (then nothing is kept for the next).
    pub(crate) learned: Option<Learned>,
    /// What it did to statements, for the projections downstream.
    pub(crate) changes: Vec<Changed>,
    /// The log record being applied: (offset, log time).
    record_at: (u64, i64),
    /// The projections downstream, whose digests stored statements' changes carry.
    downstream: &'a [Arc<dyn Downstream>],
}

/// Where a document row is: its partition and clustering keys.
type DocumentKey = (Vec<u8>, Vec<u8>);

/// The names statements gave an agent, whether they changed in this step,
/// and the subject its row is sealed for (none: a row in the clear).
struct KnownAgent {
    names: Vec<String>,
    changed: bool,
    subject: Option<Subject>,
}

/// Activities kept between batches ([`Learned`]): a merged definition each.
const LEARNED_ACTIVITIES: usize = 20_000;
/// Agents kept between batches ([`Learned`]): their names.
const LEARNED_AGENTS: usize = 100_000;
/// Index partitions (an index key's day) whose day is known listed in
/// `index_days` ([`Learned`]).
const LEARNED_DAYS: usize = 200_000;

/// What the projector's written batches left in the activity and agent rows
/// (merged definitions, names), so that the next batch need not read, open
/// and parse them again: most statements name an activity and agents an
/// earlier batch named. The projector is the only writer of these rows (a
/// tenant's commands all go to one log partition), and keeps this only
/// from one written batch to the batch right after it.
pub(crate) struct Learned {
    /// The log offset it holds for: right after the last written batch.
    pub(crate) next: u64,
    activities: quick_cache::unsync::Cache<(TenantId, String), serde_json::Value>,
    agents: quick_cache::unsync::Cache<(TenantId, String), Vec<String>>,
    /// Index partitions (a key's day) whose day a written batch listed.
    days: quick_cache::unsync::Cache<Vec<u8>, ()>,
}

impl Learned {
    /// Nothing learned yet, for the batch at offset `next`.
    pub(crate) fn new(next: u64) -> Self {
        Self {
            next,
            activities: quick_cache::unsync::Cache::new(LEARNED_ACTIVITIES),
            agents: quick_cache::unsync::Cache::new(LEARNED_AGENTS),
            days: quick_cache::unsync::Cache::new(LEARNED_DAYS),
        }
    }
}

/// A document write as the projector applies it.
struct DocumentWrite<'c> {
    content_type: &'c str,
    content: Vec<u8>,
    merge: bool,
    precondition: &'c Precondition,
}

/// A statement opened from its row, with the subject of each agent it names.
struct OpenedRow {
    json: serde_json::Value,
    agents: HashMap<String, Uuid>,
}

/// Rows a stored statement writes at most in the bench's shape, with every
/// projection on (the statement, its index rows, agents, activities, the
/// downstream projections' rows): what a step's batch is sized for.
const ROWS_PER_STATEMENT: usize = 20;

impl<'a> Step<'a> {
    /// A step over `statements` statements (its batch and changes sized for
    /// them at once: grown by doubling, they were copied over and over into
    /// fresh pages the kernel had to zero).
    pub(crate) fn new(
        store: &'a dyn QueryStore,
        vault: Option<&'a KeyVault>,
        forgotten_before: Arc<HashSet<Uuid>>,
        downstream: &'a [Arc<dyn Downstream>],
        statements: usize,
        learned: Learned,
    ) -> Self {
        Self {
            store,
            vault,
            batch: WriteBatch::with_capacity(statements * ROWS_PER_STATEMENT + 16),
            statements: BatchHashMap::default(),
            tenants: BatchHashMap::default(),
            documents: BatchHashMap::default(),
            activities: BatchHashMap::default(),
            agents: BatchHashMap::default(),
            admin_written: BatchHashMap::default(),
            directory: Vec::new(),
            forgotten_before,
            forgotten_now: HashSet::new(),
            purged: Vec::new(),
            agent_documents: BatchHashMap::default(),
            changes: Vec::with_capacity(statements),
            learned: Some(learned),
            record_at: (0, 0),
            downstream,
        }
    }

    async fn statement(&mut self, tenant: &TenantId, id: Uuid) -> Result<Option<StatementRow>, StoreError> {
        let key = (tenant.clone(), id);
        if let Some(row) = self.statements.get(&key) {
            return Ok(row.clone());
        }
        let row = read_statement(self.store, tenant, id).await?;
        self.statements.insert(key, row.clone());
        Ok(row)
    }

    /// The statement of a row (opened with the vault when sealed); `None`
    /// when it cannot be read.
    async fn open_row(&self, tenant: &TenantId, row: &StatementRow) -> Result<Option<OpenedRow>, StoreError> {
        match &row.body {
            RowBody::Clear(json) => Ok(xapi::parse_json(json).ok().map(|mut json| {
                set_stored(&mut json, row.stored_micros);
                OpenedRow { json, agents: HashMap::new() }
            })),
            RowBody::Sealed(sealed) => {
                let Some(vault) = self.vault else { return Ok(None) };
                let Some(plaintext) = open_with(vault, tenant, sealed).await? else { return Ok(None) };
                let Ok(mut json) = xapi::parse_json(&plaintext) else { return Ok(None) };
                set_stored(&mut json, row.stored_micros);
                let agents = personal_agents(&json).into_iter().zip(sealed.subjects.iter().copied()).collect();
                Ok(Some(OpenedRow { json, agents }))
            }
        }
    }

    /// Records what the record being applied did to a statement.
    fn change(&mut self, change: Change) {
        let (offset, log_time_micros) = self.record_at;
        self.changes.push(Changed { offset, log_time_micros, change });
    }

    /// Whether the projector forgot `subject` in this run (before or in this step).
    fn is_forgotten(&self, subject: &Uuid) -> bool {
        self.forgotten_now.contains(subject) || self.forgotten_before.contains(subject)
    }

    /// Which of `subjects` were forgotten at this point of the log: in this
    /// run, earlier in this batch, or (in a replay) earlier in the log.
    async fn forgotten_among(&self, tenant: &TenantId, subjects: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        let mut gone = Vec::new();
        for subject in subjects {
            let marked = self.is_forgotten(subject)
                || self.store.get(Table::Meta, &forgotten_partition(tenant), subject.as_bytes()).await?.is_some();
            if marked {
                gone.push(*subject);
            }
        }
        Ok(gone)
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

    /// Writes a statement's row where its `stored` time puts it, in
    /// `statements_by_stored` (so that a page's rows are near each other),
    /// and its entry by id pointing there.
    fn put_statement(&mut self, tenant: &TenantId, id: Uuid, row: StatementRow) {
        let stored = row.stored_micros;
        self.batch.put(
            Table::Statements,
            statement_partition(tenant, id),
            Vec::new(),
            StatementEntry::encode_at(stored),
        );
        let partition = IndexKey::all(tenant).partition(bucket_of(stored));
        self.batch.put(Table::ByStored, partition, index_clustering(stored), encode_stored_row(id, &row));
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
        self.audit_with(record, action, tenant, credential, None);
    }

    /// Adds an entry with details to the audit trail.
    fn audit_with(
        &mut self,
        record: &LogRecord,
        action: &str,
        tenant: &str,
        credential: Option<&str>,
        detail: Option<serde_json::Value>,
    ) {
        let entry = AuditEntry {
            time_micros: record.timestamp_micros,
            action: action.to_owned(),
            tenant: tenant.to_owned(),
            credential: credential.map(str::to_owned),
            detail,
        };
        let clustering = KeyBuilder::new()
            .u64(u64::try_from(record.timestamp_micros).unwrap_or(0))
            .u32(record.partition)
            .u64(record.offset)
            .build();
        let value = serde_json::to_vec(&entry).expect("json");
        let month = crate::tables::month_of_micros(record.timestamp_micros);
        self.batch.put(Table::Audit, crate::tables::audit_partition(month), clustering, value);
        let months = crate::tables::audit_months_partition();
        self.batch.put(Table::Meta, months, month.to_be_bytes().to_vec(), Vec::new());
    }

    /// Adds the rows kept in memory during the step to the batch.
    pub(crate) fn flush_tenant_meta(&mut self) {
        for (tenant, meta) in std::mem::take(&mut self.tenants) {
            self.batch.put(Table::Meta, tenant_meta_partition(&tenant), Vec::new(), meta.encode());
        }
        // What the rows hold once the batch is written, kept for the next.
        for ((tenant, id), (activity, changed)) in std::mem::take(&mut self.activities) {
            if changed {
                let value = serde_json::to_vec(&activity).expect("json");
                self.batch.put(Table::Activities, activity_partition(&tenant, &id), Vec::new(), value);
            }
            if let Some(learned) = &mut self.learned {
                learned.activities.insert((tenant, id), activity);
            }
        }
        for ((tenant, key), known) in std::mem::take(&mut self.agents) {
            if known.changed {
                let value = serde_json::to_vec(&serde_json::json!({ "names": known.names })).expect("json");
                let value = match &known.subject {
                    Some(subject) => sealed_row(&seal(&value, std::slice::from_ref(subject))),
                    None => value,
                };
                self.batch.put(Table::Agents, agent_partition(&tenant, &key), Vec::new(), value);
            }
            if let Some(learned) = &mut self.learned {
                learned.agents.insert((tenant, key), known.names);
            }
        }
    }

    async fn document(
        &mut self,
        tenant: &TenantId,
        partition: &[u8],
        clustering: &[u8],
    ) -> Result<Option<Document>, StoreError> {
        let key = (partition.to_vec(), clustering.to_vec());
        if let Some(document) = self.documents.get(&key) {
            return Ok(document.clone());
        }
        let row = match self.store.get(Table::Documents, partition, clustering).await? {
            Some(row) => open_row(self.vault, tenant, row).await?,
            None => None,
        };
        let document = row.and_then(|bytes| Document::decode(&bytes));
        self.documents.insert(key, document.clone());
        Ok(document)
    }

    /// PUT or POST of one document, after its precondition; sealed for
    /// `subject` when the document is about an agent with one.
    async fn put_document(
        &mut self,
        tenant: &TenantId,
        (partition, id): (&[u8], &str),
        write: DocumentWrite<'_>,
        subject: Option<&Subject>,
        record: &LogRecord,
    ) -> Result<Verdict, StoreError> {
        let clustering = document_clustering(id);
        let current = self.document(tenant, partition, &clustering).await?;
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
        let value = match subject {
            Some(subject) => {
                let entry = agent_documents_clustering(partition, &clustering);
                let list = agent_documents_partition(tenant, subject.id);
                self.batch.put(Table::AgentDocuments, list, entry, Vec::new());
                let written = (partition.to_vec(), clustering.clone());
                self.agent_documents.entry(subject.id).or_default().push(written);
                sealed_row(&seal(&document.encode(), std::slice::from_ref(subject)))
            }
            None => document.encode(),
        };
        self.batch.put(Table::Documents, partition.to_vec(), clustering.clone(), value);
        self.documents.insert((partition.to_vec(), clustering), Some(document));
        Ok(Verdict::Written)
    }

    /// DELETE of one document, or of every document of a scope.
    async fn delete_documents(
        &mut self,
        tenant: &TenantId,
        (partition, id): (&[u8], Option<&str>),
        precondition: &Precondition,
        subject: Option<&Subject>,
    ) -> Result<Verdict, StoreError> {
        let clusterings = match id {
            Some(id) => {
                let clustering = document_clustering(id);
                let current = self.document(tenant, partition, &clustering).await?;
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
            if let Some(subject) = subject {
                let entry = agent_documents_clustering(partition, &clustering);
                self.batch.delete(Table::AgentDocuments, agent_documents_partition(tenant, subject.id), entry);
            }
            self.batch.delete(Table::Documents, partition.to_vec(), clustering.clone());
            self.documents.insert((partition.to_vec(), clustering), None);
        }
        Ok(Verdict::Written)
    }

    /// Folds the activity definitions and agent names of a statement into the
    /// Activities and Agents tables; an agent with a subject (`agents`) has
    /// its row under the subject, sealed with its key.
    async fn learn_from(
        &mut self,
        tenant: &TenantId,
        statement: &Statement,
        seal: Option<&OpenSeal>,
        agents: &HashMap<String, Uuid>,
    ) -> Result<(), StoreError> {
        for activity in activity_objects(statement.value()) {
            let Some(id) = activity.get("id").and_then(serde_json::Value::as_str) else { continue };
            let key = (tenant.clone(), id.to_owned());
            if !self.activities.contains_key(&key) {
                let learned = self.learned.as_mut().and_then(|learned| learned.activities.remove(&key));
                let known = match learned {
                    Some((_, known)) => Some(known),
                    None => {
                        let stored = self.store.get(Table::Activities, &activity_partition(tenant, id), &[]).await?;
                        stored.and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    }
                };
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
            let Some(ifi) = xapi::agent_key(agent) else { continue };
            let subject = agents.get(ifi.as_str()).and_then(|id| seal?.subjects.iter().find(|s| s.id == *id));
            let index_key = subject.map_or_else(|| ifi.as_str().to_owned(), |s| subject_index_key(s.id));
            let map_key = (tenant.clone(), index_key.clone());
            if !self.agents.contains_key(&map_key) {
                let names = match self.learned.as_mut().and_then(|learned| learned.agents.remove(&map_key)) {
                    Some((_, names)) => Some(names),
                    None => self.stored_agent_names(tenant, &index_key).await?,
                };
                let changed = names.is_none();
                let known = KnownAgent { names: names.unwrap_or_default(), changed, subject: subject.cloned() };
                self.agents.insert(map_key.clone(), known);
            }
            if let Some(name) = agent.get("name").and_then(serde_json::Value::as_str) {
                let known = self.agents.get_mut(&map_key).expect("inserted above");
                if !known.names.iter().any(|n| n == name) {
                    known.names.push(name.to_owned());
                    known.changed = true;
                }
            }
        }
        Ok(())
    }

    /// The names an agent's row holds; `None` when it has no row or it
    /// cannot be opened.
    async fn stored_agent_names(&self, tenant: &TenantId, index_key: &str) -> Result<Option<Vec<String>>, StoreError> {
        let stored = match self.store.get(Table::Agents, &agent_partition(tenant, index_key), &[]).await? {
            Some(row) => open_row(self.vault, tenant, row).await?,
            None => None,
        };
        Ok(stored
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|mut v| serde_json::from_value(v["names"].take()).ok()))
    }

    /// Applies a command; `statements` are those of a statements command,
    /// opened by [`prepare`].
    pub(crate) async fn apply_command(
        &mut self,
        event: &mut CommandEvent,
        record: &LogRecord,
        statements: Vec<Incoming>,
    ) -> Result<Verdict, StoreError> {
        self.record_at = (record.offset, record.timestamp_micros);
        match &mut event.command {
            // The findings are moved into the changes (a batch applied again
            // is read from the log again, as its statements are).
            Command::StoreStatements { checks, .. } | Command::StoreSealedStatements { checks, .. } => {
                self.store_statements(&event.tenant, statements, std::mem::take(checks), record).await
            }
            Command::ReportRejection { source, reason, statements } => {
                self.change(Change::Rejected {
                    tenant: event.tenant.clone(),
                    source: source.clone(),
                    reason: reason.clone(),
                    statements: *statements,
                });
                Ok(Verdict::Written)
            }
            Command::RecordExport { credential, request, rows, complete } => {
                let detail = serde_json::json!({"request": request, "rows": rows, "complete": complete});
                self.audit_with(
                    record,
                    "statements.export",
                    event.tenant.as_str(),
                    credential.as_deref(),
                    Some(detail),
                );
                Ok(Verdict::Written)
            }
            Command::Sealed { sealed } => {
                let Some(vault) = self.vault else { return Ok(Verdict::Written) };
                let (bytes, subject) = match opening(vault, &event.tenant, sealed).await? {
                    Opening::Open { plaintext, subjects } => (plaintext, subjects.into_iter().next()),
                    Opening::Shut { missing } => {
                        let gone = self.forgotten_among(&event.tenant, &missing).await?;
                        if !gone.is_empty() {
                            return Ok(Verdict::SubjectForgotten { subjects: gone });
                        }
                        debug!("skipping a document command whose subject was forgotten later in the log");
                        return Ok(Verdict::Written);
                    }
                };
                if let Some(subject) = subject.as_ref().filter(|s| self.is_forgotten(&s.id)) {
                    return Ok(Verdict::SubjectForgotten { subjects: vec![subject.id] });
                }
                let Ok(command) = serde_json::from_slice::<Command>(&bytes) else {
                    return Ok(Verdict::Rejected { message: "a sealed command does not decode".into() });
                };
                if !matches!(command, Command::PutDocument { .. } | Command::DeleteDocuments { .. }) {
                    return Ok(Verdict::Rejected { message: "only document commands are sealed".into() });
                }
                let mut inner = CommandEvent { command, ..event.clone() };
                self.apply_plain(&mut inner, record, subject.as_ref()).await
            }
            Command::ApplyRetention { before_micros } => {
                // Nothing learned is kept past an erasure (it may hold what goes).
                self.learned = None;
                self.apply_retention(&event.tenant, *before_micros).await?;
                self.audit(record, "tenant.retention", event.tenant.as_str(), None);
                Ok(Verdict::Written)
            }
            Command::ForgetSubject { subject } => {
                self.learned = None;
                let (tenant, subject) = (event.tenant.clone(), *subject);
                self.purge_subject(&tenant, subject).await?;
                self.batch.put(Table::Meta, forgotten_partition(&tenant), subject.as_bytes().to_vec(), Vec::new());
                let pending = destroy_clustering(&tenant, subject);
                self.batch.put(Table::Meta, destroy_partition(record.partition), pending, Vec::new());
                self.forgotten_now.insert(subject);
                self.purged.push((tenant.clone(), subject));
                self.directory.push(DirectoryEntry::Forgotten { tenant: tenant.clone(), subject });
                self.change(Change::Forgotten { tenant: tenant.clone(), subject });
                self.audit(record, "agent.forget", tenant.as_str(), None);
                Ok(Verdict::Written)
            }
            _ => self.apply_plain(event, record, None).await,
        }
    }

    /// Applies a command that is not sealed (or no longer: `subject` is the
    /// agent a sealed document command was sealed for).
    async fn apply_plain(
        &mut self,
        event: &mut CommandEvent,
        record: &LogRecord,
        subject: Option<&Subject>,
    ) -> Result<Verdict, StoreError> {
        // A document about an agent with a subject is kept under the subject, not the agent.
        let scope_partition = |scope: &DocumentScope, kind| match subject {
            Some(subject) => DocumentScope { agent: Some(subject_index_key(subject.id)), ..scope.clone() }
                .partition(&event.tenant, kind),
            None => scope.partition(&event.tenant, kind),
        };
        match &mut event.command {
            Command::StoreAttachmentChunk { sha2, offset, content } => {
                let Some(content) = decode_content(content) else {
                    return Ok(Verdict::Rejected { message: "attachment chunk is not base64".into() });
                };
                let partition = attachment_partition(&event.tenant, sha2);
                // A body waits for a statement to keep it; one that no
                // statement keeps within the grace after it was last sent is
                // collected (Projector::sweep_attachments). A body stored and
                // not waiting (kept, or stored by an earlier version) stays.
                if *offset == 0 {
                    let sent = attachment_sent_partition(&event.tenant, sha2);
                    let stored = self.store.get(Table::Attachments, &partition, &0u64.to_be_bytes()).await?.is_some();
                    if !stored || self.store.get(Table::Meta, &sent, &[]).await?.is_some() {
                        let at = record.timestamp_micros;
                        let clustering = attachment_pending_clustering(at, &event.tenant, sha2);
                        self.batch.put(
                            Table::Meta,
                            attachment_pending_partition(record.partition),
                            clustering,
                            Vec::new(),
                        );
                        self.batch.put(Table::Meta, sent, Vec::new(), at.to_be_bytes().to_vec());
                    }
                }
                self.batch.put(Table::Attachments, partition, offset.to_be_bytes().to_vec(), content);
                Ok(Verdict::Written)
            }
            Command::PutDocument { kind, scope, id, content_type, content, merge, precondition } => {
                let Some(content) = decode_content(content) else {
                    return Ok(Verdict::Rejected { message: "document content is not base64".into() });
                };
                let partition = scope_partition(scope, *kind);
                let write = DocumentWrite { content_type, content, merge: *merge, precondition };
                self.put_document(&event.tenant, (&partition, id), write, subject, record).await
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
                crate::auth::list_credential(&mut self.batch, &credential);
                self.admin_written.insert((Table::Credentials, partition), revision);
                self.audit(record, action, credential.tenant.as_str(), Some(&credential.key));
                self.directory.push(DirectoryEntry::Credential { credential });
                Ok(Verdict::Written)
            }
            Command::DeleteDocuments { kind, scope, id, precondition } => {
                let partition = scope_partition(scope, *kind);
                self.delete_documents(&event.tenant, (&partition, id.as_deref()), precondition, subject).await
            }
            Command::StoreStatements { .. }
            | Command::ReportRejection { .. }
            | Command::RecordExport { .. }
            | Command::Sealed { .. }
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
        incoming: Vec<Incoming>,
        checks: Vec<crate::plan::PlanCheck>,
        record: &LogRecord,
    ) -> Result<Verdict, StoreError> {
        // A statement sealed for an agent forgotten before it reached the log
        // fails the command (its gateway seals it again); one forgotten after
        // (met again in a replay) is skipped, as its erasure purged it.
        let mut forgotten = Vec::new();
        let mut statements = Vec::with_capacity(incoming.len());
        let mut worked = Vec::with_capacity(incoming.len());
        for item in incoming {
            match item {
                Incoming::Shut { missing } => {
                    let gone = self.forgotten_among(tenant, &missing).await?;
                    if gone.is_empty() {
                        debug!("skipping a statement whose subject was forgotten later in the log");
                    }
                    forgotten.extend(gone);
                }
                Incoming::Open { statement, seal, worked: its } => {
                    if let Some(seal) = &seal {
                        forgotten.extend(seal.sealed.subjects.iter().filter(|s| self.is_forgotten(s)));
                    }
                    statements.push((statement, seal));
                    worked.push(its);
                }
            }
        }
        if !forgotten.is_empty() {
            return Ok(Verdict::SubjectForgotten { subjects: forgotten });
        }
        let mut ids = Vec::with_capacity(statements.len());
        let mut resent = Vec::new();
        let mut fresh = vec![false; statements.len()];
        let batch_ids: BatchHashMap<Uuid, &Statement> =
            statements.iter().filter_map(|(s, _)| Some((s.id()?, s))).collect();
        for (index, (statement, _)) in statements.iter().enumerate() {
            let Some(id) = statement.id() else {
                return Ok(Verdict::Rejected { message: "statement without id reached the projector".into() });
            };
            ids.push(id);
            // An id the gateway drew is new: no row to look for.
            let existing = if worked[index].id_made { None } else { self.statement(tenant, id).await? };
            if let Some(existing) = existing {
                let Some(existing) = self.open_row(tenant, &existing).await? else {
                    return Ok(Verdict::Conflict { message: format!("statement {id} already exists") });
                };
                let mut incoming = statement.value().clone();
                if incoming.get("timestamp").is_none() {
                    if let Some(timestamp) = existing.json.get("timestamp") {
                        incoming["timestamp"] = timestamp.clone();
                    }
                }
                if !xapi::statements_equivalent(&existing.json, &incoming) {
                    return Ok(Verdict::Conflict {
                        message: format!("statement {id} already exists with different content"),
                    });
                }
                resent.push(source_of(statement.value()));
                continue;
            }
            if let Some(target) = statement.voided_target() {
                let target_is_voiding = match batch_ids.get(&target) {
                    Some(in_batch) => in_batch.voided_target().is_some(),
                    None => match self.statement(tenant, target).await? {
                        Some(row) => self
                            .open_row(tenant, &row)
                            .await?
                            .is_some_and(|opened| Statement::from_trusted(opened.json).voided_target().is_some()),
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
        for source in resent {
            self.change(Change::Resent { tenant: tenant.clone(), source });
        }
        let mut checks: BatchHashMap<u32, crate::plan::PlanCheck> = checks.into_iter().map(|c| (c.index, c)).collect();
        let fresh_statements = statements.into_iter().zip(worked).zip(&ids).zip(fresh).enumerate();
        let fresh_statements = fresh_statements.filter(|(_, (_, fresh))| *fresh).map(|(index, (s, _))| (index, s));
        for (index, (((statement, seal), worked), id)) in fresh_statements {
            let Worked { agents, learner, index_keys: own_keys, prepared, .. } = *worked;
            let id = *id;
            let stored = log_time.max(meta.last_stored + 1);
            if meta.last_stored == 0 {
                meta.first_bucket = bucket_of(stored);
            }
            meta.last_stored = stored;
            self.keep_attachment_bodies(tenant, statement.value());
            self.put_indexes(tenant, id, stored, &statement, own_keys).await?;
            self.learn_from(tenant, &statement, seal.as_deref(), &agents).await?;
            if let Some(target) = statement.voided_target() {
                if let Some(mut target_row) = self.statement(tenant, target).await? {
                    if !target_row.voided {
                        if let Some(opened) = self.open_row(tenant, &target_row).await? {
                            let learner = learner_of(&opened.json, &opened.agents, None);
                            self.change(Change::Removed { tenant: tenant.clone(), statement: opened.json, learner });
                        }
                    }
                    target_row.voided = true;
                    self.put_statement(tenant, target, target_row);
                }
            }
            // The row keeps the statement as the gateway sealed it: `stored`
            // (and a missing `timestamp`) are added as it is read.
            let completion = Completion::of(statement.value());
            let body = match seal {
                Some(seal) => RowBody::Sealed(seal.sealed),
                None => RowBody::Clear(serde_json::to_vec(statement.value()).expect("json")),
            };
            let mut json = statement.into_value();
            set_stored(&mut json, stored);
            let row = StatementRow { voided: false, stored_micros: stored, body, completion };
            self.put_statement(tenant, id, row);
            let check = checks.remove(&(index as u32));
            let digests = (self.downstream.iter())
                .filter_map(|projection| {
                    let prepared = prepared.iter().find(|(asker, _)| *asker == projection.name()).map(|(_, it)| it);
                    Some((projection.name(), projection.digest(&json, learner.as_ref(), prepared, stored as i64)?))
                })
                .collect();
            self.change(Change::Stored { tenant: tenant.clone(), statement: json, learner, digests, check });
        }
        self.tenants.insert(tenant.clone(), meta);
        Ok(Verdict::Stored { ids })
    }

    /// Marks the bodies of a stored statement's attachments kept: they are
    /// never collected as the bodies of refused statements are.
    fn keep_attachment_bodies(&mut self, tenant: &TenantId, statement: &serde_json::Value) {
        let Some(attachments) = statement.get("attachments").and_then(serde_json::Value::as_array) else { return };
        for sha2 in attachments.iter().filter_map(|a| a.get("sha2").and_then(serde_json::Value::as_str)) {
            self.batch.put(Table::Meta, attachment_kept_partition(tenant, sha2), Vec::new(), Vec::new());
        }
    }

    /// Every index key of a statement: its own and those of the statements it
    /// targets through StatementRefs.
    async fn index_keys_with_targets(
        &mut self,
        tenant: &TenantId,
        statement: &Statement,
        agents: &HashMap<String, Uuid>,
        related_rows: RelatedRows,
    ) -> Result<Vec<IndexKey>, StoreError> {
        self.with_targets(tenant, statement, index_keys(tenant, statement, agents, related_rows), related_rows).await
    }

    /// `keys` (a statement's own [`index_keys`]) with those of the
    /// statements it targets through StatementRefs.
    async fn with_targets(
        &mut self,
        tenant: &TenantId,
        statement: &Statement,
        mut keys: Vec<IndexKey>,
        related_rows: RelatedRows,
    ) -> Result<Vec<IndexKey>, StoreError> {
        let mut target = statement_ref_target(statement.value());
        for _ in 0..MAX_REFERENCE_DEPTH {
            let Some(target_id) = target else { break };
            let Some(row) = self.statement(tenant, target_id).await? else { break };
            let Some(opened) = self.open_row(tenant, &row).await? else { break };
            target = statement_ref_target(&opened.json);
            for key in index_keys(tenant, &Statement::from_trusted(opened.json), &opened.agents, related_rows) {
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
        own_keys: Vec<IndexKey>,
    ) -> Result<(), StoreError> {
        let bucket = bucket_of(stored);
        let own = own_keys.len();
        // `with_targets` keeps the own keys first and adds the targets' after.
        let keys = self.with_targets(tenant, statement, own_keys, RelatedRows::NotDirect).await?;
        for (at, key) in keys.into_iter().enumerate() {
            let partition = key.partition(bucket);
            self.list_day(&key, &partition, bucket);
            // The row of `statements_by_stored` is the statement's own row,
            // written by `put_statement`.
            if key.table == Table::ByStored {
                continue;
            }
            let why = if at < own { IndexMatch::Own } else { IndexMatch::Reference };
            self.batch.put(key.table, partition, index_clustering(stored), index_value(id, why));
        }
        Ok(())
    }

    /// Lists `bucket` among the days of `key` (`partition` is the key's
    /// partition of that day), unless a batch this one follows, or this
    /// one, listed it already: once a key a day, not once a row.
    fn list_day(&mut self, key: &IndexKey, partition: &[u8], bucket: u32) {
        if let Some(learned) = &self.learned {
            if learned.days.peek(partition).is_some() {
                return;
            }
        }
        self.batch.put(Table::IndexDays, key.days_partition(), day_clustering(bucket), Vec::new());
        if let Some(learned) = &mut self.learned {
            learned.days.insert(partition.to_vec(), ());
        }
    }

    /// Removes every statement sealed for a subject (with its index rows),
    /// the documents about it and what is known of it. Statements that only
    /// refer to one of its statements stay, as they do in a replay.
    async fn purge_subject(&mut self, tenant: &TenantId, subject: Uuid) -> Result<(), StoreError> {
        let meta = self.tenant_meta(tenant).await?;
        // Its statements as actor or object (the direct rows), and as anything
        // else (the related rows).
        let indexes = [IndexScope::Direct, IndexScope::Related]
            .map(|scope| IndexKey::agent(tenant, scope, &subject_index_key(subject)));
        let last_bucket = bucket_of(meta.last_stored);
        let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
        let mut ids: Vec<Uuid> = Vec::new();
        if meta.last_stored > 0 {
            let last = last_bucket.max(meta.first_bucket);
            let mut days = DayWalk::new(&indexes, &meta, meta.first_bucket, last, Order::Ascending);
            while let Some(bucket) = days.next(self.store).await? {
                for index in &indexes {
                    let rows = self
                        .store
                        .scan(index.table, &index.partition(bucket), all.clone(), Order::Ascending, usize::MAX)
                        .await?;
                    ids.extend(rows.into_iter().filter_map(|(_, value)| Some(parse_index_value(&value)?.0)));
                }
            }
        }
        // This batch's statements sealed for it (not in the store yet).
        let in_batch: Vec<(Uuid, u64)> = self
            .statements
            .iter()
            .filter_map(|((owner, id), row)| {
                let row = row.as_ref().filter(|row| owner == tenant && row.subjects().contains(&subject))?;
                Some((*id, row.stored_micros))
            })
            .collect();
        // The days its keys listed go too: those the store holds, and those
        // of this batch's statements (put in this batch).
        for index in &indexes {
            let partition = index.days_partition();
            let listed =
                self.store.scan(Table::IndexDays, &partition, all.clone(), Order::Ascending, usize::MAX).await?;
            let batch_days = in_batch.iter().map(|(_, stored)| day_clustering(bucket_of(*stored)));
            for day in listed.into_iter().map(|(day, _)| day).chain(batch_days) {
                self.batch.delete(Table::IndexDays, partition.clone(), day);
            }
        }
        ids.extend(in_batch.iter().map(|(id, _)| *id));
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let sealed_for_subject =
                self.statement(tenant, id).await?.is_some_and(|row| row.subjects().contains(&subject));
            if sealed_for_subject {
                self.delete_statement(tenant, id).await?;
            }
        }
        let list = agent_documents_partition(tenant, subject);
        let mut documents: Vec<DocumentKey> = self
            .store
            .scan(Table::AgentDocuments, &list, all, Order::Ascending, usize::MAX)
            .await?
            .into_iter()
            .filter_map(|(entry, _)| parse_agent_documents_clustering(&entry))
            .collect();
        documents.extend(self.agent_documents.remove(&subject).unwrap_or_default());
        for (partition, clustering) in documents {
            self.batch.delete(Table::AgentDocuments, list.clone(), agent_documents_clustering(&partition, &clustering));
            self.batch.delete(Table::Documents, partition.clone(), clustering.clone());
            self.documents.insert((partition, clustering), None);
        }
        let agent = subject_index_key(subject);
        self.batch.delete(Table::Agents, agent_partition(tenant, &agent), Vec::new());
        self.agents.remove(&(tenant.clone(), agent));
        Ok(())
    }

    /// Deletes a statement row and every index row pointing at it (only the
    /// row when it can no longer be opened).
    async fn delete_statement(&mut self, tenant: &TenantId, id: Uuid) -> Result<(), StoreError> {
        let Some(row) = self.statement(tenant, id).await? else { return Ok(()) };
        if let Some(opened) = self.open_row(tenant, &row).await? {
            let statement = Statement::from_trusted(opened.json);
            // Whichever version wrote its rows: the keys written before are a superset.
            let keys =
                self.index_keys_with_targets(tenant, &statement, &opened.agents, RelatedRows::AlsoDirect).await?;
            let bucket = bucket_of(row.stored_micros);
            for key in keys {
                self.batch.delete(key.table, key.partition(bucket), index_clustering(row.stored_micros));
            }
            // A voided statement left the projections downstream when it was voided.
            if !row.voided {
                let learner = learner_of(statement.value(), &opened.agents, None);
                self.change(Change::Removed { tenant: tenant.clone(), statement: statement.into_value(), learner });
            }
        }
        // Also when the row could not be opened (its keys destroyed): the
        // sealed body goes with it.
        let partition = IndexKey::all(tenant).partition(bucket_of(row.stored_micros));
        self.batch.delete(Table::ByStored, partition, index_clustering(row.stored_micros));
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
        let days_partition = index.days_partition();
        let range = (std::ops::Bound::Unbounded, std::ops::Bound::Excluded(index_clustering(before)));
        let last = bucket_of(before.min(meta.last_stored));
        let mut days = DayWalk::new(std::slice::from_ref(&index), &meta, meta.first_bucket, last, Order::Ascending);
        while let Some(bucket) = days.next(self.store).await? {
            let rows = self
                .store
                .scan(index.table, &index.partition(bucket), range.clone(), Order::Ascending, usize::MAX)
                .await?;
            for (_, value) in rows {
                if let Some((id, _)) = decode_stored_row(&value) {
                    self.delete_statement(tenant, id).await?;
                }
            }
            // A day wholly before the cutoff holds no statement now: the
            // next sweep does not visit it. (Other keys' days stay listed;
            // no read goes before the cutoff.)
            if u64::from(bucket + 1) * crate::tables::BUCKET_MICROS <= before {
                self.batch.delete(Table::IndexDays, days_partition.clone(), day_clustering(bucket));
            }
        }
        Ok(())
    }
}

/// Which related rows a statement has: those of index versions from
/// 2026-12-06, or also those written before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RelatedRows {
    /// Related rows only for what is related and not direct (what is
    /// written: a related query reads the direct rows beside them).
    NotDirect,
    /// Related rows for the direct too, as written before 2026-12-06 (what
    /// a deletion removes, whichever version wrote them).
    AlsoDirect,
}

/// The index keys of a statement's own content (the tenant's every
/// statement, and each filter); an agent with a subject (`agents`) is
/// indexed under the subject, not its identifier.
pub(super) fn index_keys(
    tenant: &TenantId,
    statement: &Statement,
    agents: &HashMap<String, Uuid>,
    related_rows: RelatedRows,
) -> Vec<IndexKey> {
    let agent_key = |ifi: &str| match agents.get(ifi) {
        Some(subject) => subject_index_key(*subject),
        None => ifi.to_owned(),
    };
    let mut keys = vec![IndexKey::all(tenant), IndexKey::verb(tenant, statement.verb_id())];
    let related = |direct: bool| related_rows == RelatedRows::AlsoDirect || !direct;
    // Each list holds the related ones, the direct ones first.
    let (activities, direct) = statement.activities_direct_first();
    let direct_activities = &activities[..direct];
    keys.extend(direct_activities.iter().map(|a| IndexKey::activity(tenant, IndexScope::Direct, a)));
    keys.extend(
        (activities.iter())
            .filter(|a| related(direct_activities.contains(a)))
            .map(|a| IndexKey::activity(tenant, IndexScope::Related, a)),
    );
    let (agent_keys, direct) = statement.agents_direct_first();
    let direct_agents = &agent_keys[..direct];
    keys.extend(direct_agents.iter().map(|a| IndexKey::agent(tenant, IndexScope::Direct, &agent_key(a.as_str()))));
    keys.extend(
        (agent_keys.iter())
            .filter(|a| related(direct_agents.contains(a)))
            .map(|a| IndexKey::agent(tenant, IndexScope::Related, &agent_key(a.as_str()))),
    );
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
        if let Some(context) =
            xapi::at_path(part, &["context", "contextActivities"]).and_then(serde_json::Value::as_object)
        {
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
    let places: [&[&str]; 5] =
        [&["actor"], &["object"], &["context", "instructor"], &["object", "actor"], &["object", "object"]];
    for place in places {
        if let Some(agent) = xapi::at_path(statement, place) {
            match agent.get("objectType").and_then(serde_json::Value::as_str) {
                None | Some("Agent") if place != ["object"] || agent.get("objectType").is_some() => found.push(agent),
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

/// The learner of a statement: its actor, under its subject when it has one
/// (`agents`: the subject of each agent the statement was sealed for; `seal`
/// holds their keys when the statement was just opened).
pub(super) fn learner_of(
    statement: &serde_json::Value,
    agents: &HashMap<String, Uuid>,
    seal: Option<&OpenSeal>,
) -> Option<Learner> {
    let ifi = xapi::agent_key(statement.get("actor")?)?.as_str().to_owned();
    let Some(subject) = agents.get(&ifi) else {
        return Some(Learner { key: ifi.clone(), ifi, subject: None });
    };
    let key = subject_index_key(*subject);
    let subject = seal.and_then(|seal| seal.subjects.iter().find(|s| s.id == *subject)).cloned();
    Some(Learner { key, ifi, subject })
}

/// The credential key (or token subject) that sent a statement: its authority's account name.
pub(crate) fn source_of(statement: &serde_json::Value) -> Option<String> {
    statement.get("authority").and_then(source_of_authority)
}

/// [`source_of`] from the statement's `authority`.
pub(crate) fn source_of_authority(authority: &serde_json::Value) -> Option<String> {
    xapi::str_at(authority, &["account", "name"]).map(str::to_owned)
}
