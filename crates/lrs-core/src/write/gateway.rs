//! The gateway service: validates and normalises a write, appends it to the
//! log as one command, and awaits the projector's verdict.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;
use xapi::{ValidationError, Version};

use crate::attachments::{check_attachment_parts, AttachmentPart};
use crate::auth::Principal;
use crate::documents::{encode_content, is_json_media_type, DocumentKind, DocumentScope, Precondition};
use crate::event::{self, Command, IdsMade};
use crate::handoff::{HandedStatement, StatementHandoff};
use crate::log::EventLog;
use crate::metrics;
use crate::plan::PlanCheck;
use crate::store::{QueryStore, StoreError, Table};
use crate::tables::verdict_key;
use crate::tenant::TenantId;
use crate::trace::current_trace_context;
use crate::vault::{personal_agents, SealingKeys, Subject};
use crate::verdict::{Verdict, VerdictBus};

/// Why a write was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request breaks a rule of the spec (400).
    #[error("{0}")]
    Invalid(String),
    /// A statement breaks a template of the tenant's profiles in reject mode (400).
    #[error("{0}")]
    BreaksPlan(String),
    /// A statement id is taken by a statement with other content (409).
    #[error("{0}")]
    Conflict(String),
    /// The log or the projector did not answer in time (503, retry).
    #[error("{0}")]
    Unavailable(String),
    /// An If-Match / If-None-Match header does not hold (412).
    #[error("{0}")]
    PreconditionFailed(String),
}

impl Verdict {
    /// The verdict as the result of a request.
    fn into_result(self) -> Result<Vec<Uuid>, GatewayError> {
        match self {
            Verdict::Stored { ids } => Ok(ids),
            Verdict::Written => Ok(Vec::new()),
            Verdict::Conflict { message } => Err(GatewayError::Conflict(message)),
            Verdict::Rejected { message } => Err(GatewayError::Invalid(message)),
            Verdict::PreconditionFailed { message } => Err(GatewayError::PreconditionFailed(message)),
            Verdict::SubjectForgotten { .. } => Err(GatewayError::Unavailable(
                "an agent this request names was forgotten while it was written; retry the same request".into(),
            )),
        }
    }
}

impl GatewayError {
    /// Why, as a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            GatewayError::Invalid(_) => "invalid",
            GatewayError::BreaksPlan(_) => "profile",
            GatewayError::Conflict(_) => "conflict",
            GatewayError::PreconditionFailed(_) => "precondition_failed",
            GatewayError::Unavailable(_) => "unavailable",
        }
    }
}

impl From<ValidationError> for GatewayError {
    fn from(error: ValidationError) -> Self {
        GatewayError::Invalid(error.to_string())
    }
}

/// Largest attachment chunk carried by one log event.
pub const ATTACHMENT_CHUNK_BYTES: usize = 256 * 1024;

/// The statements to hand to this process's projector, each with the
/// personal agents it was sealed for; none when they were not sealed
/// (`agents` empty).
fn handed(statements: Vec<Value>, agents: Vec<Vec<String>>) -> Vec<HandedStatement> {
    if agents.is_empty() {
        return Vec::new();
    }
    (statements.into_iter().zip(agents)).map(|(json, agents)| HandedStatement { json, agents }).collect()
}

/// Which document a write is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentAddress {
    /// The resource.
    pub kind: DocumentKind,
    /// The activity / agent / registration it belongs to.
    pub scope: DocumentScope,
    /// The stateId or profileId.
    pub id: String,
}

/// Accepts writes for the log.
#[derive(Clone)]
pub struct Gateway {
    log: Arc<dyn EventLog>,
    store: Option<Arc<dyn QueryStore>>,
    bus: VerdictBus,
    deadline: Duration,
    vault: Option<Arc<dyn SealingKeys>>,
    handoff: Option<StatementHandoff>,
}

impl Gateway {
    /// A gateway appending to `log`, awaiting verdicts on `bus` for up to `deadline`
    /// and then looking for them in `store` when it has one (a gateway that
    /// runs beside no store needs nothing but the log).
    pub fn new(
        log: Arc<dyn EventLog>,
        store: Option<Arc<dyn QueryStore>>,
        bus: VerdictBus,
        deadline: Duration,
    ) -> Self {
        Self { log, store, bus, deadline, vault: None, handoff: None }
    }

    /// Seals personal data with the keys of `vault` before it enters the log
    /// (crypto-shredding; see `vault.rs`).
    pub fn with_vault(mut self, vault: Arc<dyn SealingKeys>) -> Self {
        self.vault = Some(vault);
        self
    }

    /// Hands the statements this gateway seals to the projector of the same
    /// process, which then neither opens nor parses them (ADR 0012).
    pub fn with_handoff(mut self, handoff: StatementHandoff) -> Self {
        self.handoff = Some(handoff);
        self
    }

    /// The command storing `statements`: each sealed, readable only with the
    /// keys of every agent it names (the authority excepted), when there is a
    /// vault; with the bytes each was sealed from and the IFI keys of the
    /// personal agents whose subjects' keys seal it, in order (none when in
    /// the clear).
    async fn statements_command(
        &self,
        tenant: &TenantId,
        statements: &[Value],
        checks: &[PlanCheck],
        ids_made: &IdsMade,
    ) -> Result<(Command, Vec<Vec<u8>>, Vec<Vec<String>>), GatewayError> {
        let Some(vault) = &self.vault else {
            let command = Command::StoreStatements {
                statements: statements.to_vec(),
                checks: checks.to_vec(),
                ids_made: ids_made.clone(),
            };
            return Ok((command, Vec::new(), Vec::new()));
        };
        let unavailable = |error: StoreError| GatewayError::Unavailable(error.to_string());
        let mut sealed = Vec::with_capacity(statements.len());
        let mut sealed_from = Vec::with_capacity(statements.len());
        let sealed_for: Vec<Vec<String>> = statements.iter().map(personal_agents).collect();
        // Every agent of the batch asked for at once: the new ones are
        // created together.
        let mut named: Vec<&str> = sealed_for.iter().flatten().map(String::as_str).collect();
        named.sort_unstable();
        named.dedup();
        let found = vault.subjects(tenant, &named).await.map_err(unavailable)?;
        let subject_of: HashMap<&str, &Subject> = named.into_iter().zip(&found).collect();
        for (statement, agents) in statements.iter().zip(&sealed_for) {
            let subjects: Vec<Subject> = agents.iter().map(|agent| subject_of[agent.as_str()].clone()).collect();
            let bytes = serde_json::to_vec(statement).expect("json");
            sealed.push(crate::vault::seal(&bytes, &subjects));
            sealed_from.push(bytes);
        }
        let command =
            Command::StoreSealedStatements { statements: sealed, checks: checks.to_vec(), ids_made: ids_made.clone() };
        Ok((command, sealed_from, sealed_for))
    }

    /// Forgets the keys this gateway remembers for `subjects` (the projector
    /// said they were forgotten), so that their agents get new subjects.
    fn forget_cached(&self, tenant: &TenantId, subjects: &[Uuid]) {
        if let Some(vault) = &self.vault {
            for subject in subjects {
                vault.forget_cached(tenant, *subject);
            }
        }
    }

    /// Submits a command built by `build`, and builds and submits it once
    /// more when the projector says it was sealed for an agent forgotten
    /// meanwhile (the keys it remembered for the agent are dropped first, so
    /// the agent gets a new subject).
    async fn submit_sealed<'b, F, Fut>(&self, tenant: &'b TenantId, build: F) -> Result<Verdict, GatewayError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Command, GatewayError>> + 'b,
    {
        let verdict = self.submit(tenant, &build().await?, Vec::new()).await?;
        let Verdict::SubjectForgotten { subjects } = &verdict else { return Ok(verdict) };
        self.forget_cached(tenant, subjects);
        self.submit(tenant, &build().await?, Vec::new()).await
    }

    /// Seals a document command whose scope names an agent.
    async fn seal_document(&self, tenant: &TenantId, command: Command) -> Result<Command, GatewayError> {
        let agent = match &command {
            Command::PutDocument { scope, .. } | Command::DeleteDocuments { scope, .. } => scope.agent.clone(),
            _ => None,
        };
        let (Some(vault), Some(agent)) = (&self.vault, agent) else { return Ok(command) };
        let subject = vault.subject(tenant, &agent).await.map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        let bytes = serde_json::to_vec(&command).expect("json");
        Ok(Command::Sealed { sealed: crate::vault::seal(&bytes, &[subject]) })
    }

    /// Validates, normalises and stores statements, all or nothing; returns their ids.
    ///
    /// `statements` is what the client sent: one statement object or an array.
    #[tracing::instrument(skip_all, fields(tenant = %principal.tenant))]
    pub async fn store_statements(
        &self,
        principal: &Principal,
        body: Value,
        version: Version,
        required_id: Option<Uuid>,
        attachments: Vec<AttachmentPart>,
    ) -> Result<Vec<Uuid>, GatewayError> {
        let count = metrics::statement_count(&body);
        let result = self.store_statements_unmetered(principal, body, version, required_id, attachments).await;
        let refused = result.as_ref().err().map(GatewayError::reason);
        metrics::record_statements(&principal.tenant, count, refused);
        if let Some(reason @ ("invalid" | "profile" | "conflict")) = refused {
            self.report_rejection(principal, reason, count).await;
        }
        result
    }

    /// Appends the fact that a write was refused (not its body) for the
    /// quality report; a failure to append is logged, not answered.
    async fn report_rejection(&self, principal: &Principal, reason: &str, statements: u64) {
        let command = Command::ReportRejection {
            source: principal.source().map(str::to_owned),
            reason: reason.to_owned(),
            statements: u32::try_from(statements).unwrap_or(u32::MAX),
        };
        let now = chrono::Utc::now().timestamp_micros();
        let payload = event::encode(&principal.tenant, Uuid::new_v4(), now, &command);
        if let Err(error) = self.log.append(principal.tenant.as_str().as_bytes(), payload).await {
            tracing::warn!(%error, "cannot log a refused write for the quality report");
        }
    }

    /// `store_statements` without counting the outcome.
    async fn store_statements_unmetered(
        &self,
        principal: &Principal,
        body: Value,
        version: Version,
        required_id: Option<Uuid>,
        attachments: Vec<AttachmentPart>,
    ) -> Result<Vec<Uuid>, GatewayError> {
        let (statements, ids_made) = prepare_statements(principal, body, version, required_id)?;
        check_attachment_parts(&statements, &attachments).map_err(GatewayError::Invalid)?;
        let checks = match &principal.plan {
            Some(plan) => plan.check(&statements).map_err(|refusal| GatewayError::BreaksPlan(refusal.message))?,
            None => Vec::new(),
        };
        self.store_attachment_bodies(&principal.tenant, attachments).await?;
        let tenant = &principal.tenant;
        let (command, sealed_from, sealed_for) =
            self.statements_command(tenant, &statements, &checks, &ids_made).await?;
        // Sealed statements go to the projector of this process as they are.
        let verdict = self.submit(tenant, &command, handed(statements, sealed_for)).await?;
        let Verdict::SubjectForgotten { subjects } = &verdict else { return verdict.into_result() };
        // Sealed once more for the agents' new subjects, from the bytes sealed
        // the first time (the statements themselves may have been handed).
        self.forget_cached(tenant, subjects);
        let statements: Vec<Value> =
            sealed_from.iter().map(|bytes| xapi::parse_json(bytes).expect("JSON this gateway wrote")).collect();
        let (command, _, sealed_for) = self.statements_command(tenant, &statements, &checks, &ids_made).await?;
        self.submit(tenant, &command, handed(statements, sealed_for)).await?.into_result()
    }

    /// Writes a document (PUT), or merges a JSON document into the stored one (POST).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, kind = ?address.kind))]
    pub async fn put_document(
        &self,
        tenant: &TenantId,
        address: DocumentAddress,
        content_type: String,
        content: &[u8],
        merge: bool,
        precondition: Precondition,
    ) -> Result<(), GatewayError> {
        let DocumentAddress { kind, scope, id } = address;
        if merge
            && is_json_media_type(&content_type)
            && !matches!(serde_json::from_slice(content), Ok(Value::Object(_)))
        {
            return Err(GatewayError::Invalid("a POSTed application/json document must be a JSON object".into()));
        }
        let content = encode_content(content);
        let command = Command::PutDocument { kind, scope, id, content_type, content, merge, precondition };
        self.submit_sealed(tenant, || self.seal_document(tenant, command.clone())).await?.into_result().map(drop)
    }

    /// Deletes one document, or every document of a scope when `id` is `None`.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, ?kind))]
    pub async fn delete_documents(
        &self,
        tenant: &TenantId,
        kind: DocumentKind,
        scope: DocumentScope,
        id: Option<String>,
        precondition: Precondition,
    ) -> Result<(), GatewayError> {
        let command = Command::DeleteDocuments { kind, scope, id, precondition };
        self.submit_sealed(tenant, || self.seal_document(tenant, command.clone())).await?.into_result().map(drop)
    }

    /// Appends attachment bodies to the log, in chunks of their own, before
    /// their statements' command: the same tenant key keeps them in order, so
    /// the projector has stored them when it decides the statements, and no
    /// event grows with the size of an attachment.
    async fn store_attachment_bodies(&self, tenant: &TenantId, parts: Vec<AttachmentPart>) -> Result<(), GatewayError> {
        let now = chrono::Utc::now().timestamp_micros();
        for part in parts {
            let sha2 = part.key();
            for (index, chunk) in part.body.chunks(ATTACHMENT_CHUNK_BYTES).enumerate() {
                let command = Command::StoreAttachmentChunk {
                    sha2: sha2.clone(),
                    offset: (index * ATTACHMENT_CHUNK_BYTES) as u64,
                    content: encode_content(chunk),
                };
                let payload = event::encode(tenant, Uuid::new_v4(), now, &command);
                metrics::timed_append(self.log.append(tenant.as_str().as_bytes(), payload))
                    .await
                    .map_err(|error| GatewayError::Unavailable(error.to_string()))?;
            }
        }
        Ok(())
    }

    /// Submits an administrative command and awaits its verdict.
    pub async fn submit_admin(&self, tenant: &TenantId, command: &Command) -> Result<(), GatewayError> {
        self.submit(tenant, command, Vec::new()).await?.into_result().map(drop)
    }

    /// Appends a command and awaits its verdict; `handed` (the statements a
    /// sealed statements command was sealed from, or none) goes to the
    /// projector of this process when there is a handoff.
    async fn submit(
        &self,
        tenant: &TenantId,
        command: &Command,
        handed: Vec<HandedStatement>,
    ) -> Result<Verdict, GatewayError> {
        // A UUIDv7: the time in it says which bucket of the verdict table
        // holds its verdict, and when that expires (tables::verdict_key).
        let command_id = Uuid::now_v7();
        let mut wait = self.bus.register(command_id);
        let now = chrono::Utc::now().timestamp_micros();
        let trace_context = current_trace_context();
        let payload = event::encode_traced(tenant, command_id, now, command, &trace_context);
        // Handed before the append: the projector may read the record at once.
        let handoff = self.handoff.as_ref().filter(|_| !handed.is_empty());
        match handoff {
            Some(handoff) => _ = handoff.hand(command_id, handed),
            None => drop(handed),
        }
        let appended =
            metrics::timed_append(self.log.append_traced(tenant.as_str().as_bytes(), payload, &trace_context)).await;
        let (log_partition, _) = appended.map_err(|error| {
            if let Some(handoff) = handoff {
                handoff.take(command_id);
            }
            GatewayError::Unavailable(error.to_string())
        })?;
        let waited = std::time::Instant::now();
        if let Ok(Some(verdict)) = tokio::time::timeout(self.deadline, wait.recv()).await {
            metrics::verdict_waited(waited, "bus");
            return Ok(verdict);
        }
        // A verdict missed on the way may still be in the verdict table.
        let stored =
            match (&self.store, verdict_key(log_partition, tenant, command_id)) {
                (Some(store), Some((partition, clustering))) => store
                    .get(Table::Verdicts, &partition, &clustering)
                    .await
                    .map_err(|error| GatewayError::Unavailable(error.to_string()))?,
                _ => None,
            };
        let verdict: Option<Verdict> = stored.and_then(|bytes| serde_json::from_slice(&bytes).ok());
        metrics::verdict_waited(waited, if verdict.is_some() { "table" } else { "timeout" });
        verdict.ok_or_else(|| {
            GatewayError::Unavailable("the write was logged but not yet projected; retry the same request".into())
        })
    }
}

/// Validates statements and sets what the LRS sets at the gateway: `id` when
/// absent, `authority` from the credential, and `version`; with which ids it
/// drew (not those of the `statementId` parameter).
pub fn prepare_statements(
    principal: &Principal,
    body: Value,
    version: Version,
    required_id: Option<Uuid>,
) -> Result<(Vec<Value>, IdsMade), GatewayError> {
    let (items, batch) = match body {
        Value::Array(items) => (items, true),
        single @ Value::Object(_) => (vec![single], false),
        _ => return Err(GatewayError::Invalid("body must be a statement object or an array of statements".into())),
    };
    if batch && items.is_empty() {
        return Err(GatewayError::Invalid("the batch holds no statements".into()));
    }
    let mut seen = HashSet::with_capacity(items.len());
    let mut prepared = Vec::with_capacity(items.len());
    let mut made = Vec::with_capacity(items.len());
    for (index, mut item) in items.into_iter().enumerate() {
        let at = |error: ValidationError| {
            if batch {
                GatewayError::Invalid(format!("statement [{index}]: {error}"))
            } else {
                GatewayError::Invalid(error.to_string())
            }
        };
        xapi::validate_statement(&item, version).map_err(at)?;
        xapi::normalize_statement(&mut item, version);
        let (id, drawn) = match item.get("id").and_then(Value::as_str) {
            Some(text) => (Uuid::parse_str(text).map_err(|_| at(ValidationError::new("id", "must be a UUID")))?, false),
            None => {
                let id = required_id.unwrap_or_else(Uuid::new_v4);
                item["id"] = Value::String(id.to_string());
                (id, required_id.is_none())
            }
        };
        made.push(drawn);
        if let Some(required) = required_id {
            if id != required {
                return Err(GatewayError::Invalid(format!(
                    "id: {id} differs from the statementId parameter {required}"
                )));
            }
        }
        if !seen.insert(id) {
            return Err(GatewayError::Invalid(format!("statement [{index}]: id {id} appears twice in the batch")));
        }
        item["id"] = Value::String(id.to_string());
        item["authority"] = principal.authority.clone();
        if item.get("version").is_none() {
            let default_version = if version.is_v2() { "2.0.0" } else { "1.0.0" };
            item["version"] = Value::String(default_version.into());
        }
        prepared.push(item);
    }
    Ok((prepared, IdsMade::of(made)))
}
