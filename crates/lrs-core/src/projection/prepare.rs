//! What the read-ahead stage does to each log record before the projector
//! applies it: decode the envelope, open the statements sealed in it, parse
//! them, and work out what does not depend on the projector's decisions
//! (whom each was sealed for, its learner, its own index keys, what the
//! projections downstream prepare of it). Stateless (the vault keys it needs exist before an event
//! is appended), so it runs beside the projector, not before it.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize as _;
use tracing::warn;
use uuid::Uuid;
use xapi::Statement;

use super::statements::{index_keys, learner_of, RelatedRows};
use super::{Digests, Downstream, Learner};
use crate::event::{self, Command, CommandEvent};
use crate::handoff::{HandedStatement, StatementHandoff};
use crate::log::LogRecord;
use crate::metrics;
use crate::store::StoreError;
use crate::tables::IndexKey;
use crate::tenant::TenantId;
use crate::vault::{opening, personal_agents, subjects_of, KeyVault, Opening, Sealed, Subject};

/// A log record decoded, with its sealed statements opened: what the read-ahead
/// stage hands to the projector.
pub(crate) struct Prepared {
    /// The record (its payload no longer needed).
    pub(crate) record: LogRecord,
    /// Its command; `None` when it does not decode (skipped with a warning).
    pub(crate) event: Option<CommandEvent>,
    /// The statements of a statements command, taken out of it and opened.
    pub(crate) statements: Vec<Incoming>,
}

/// A statement of a command, as the read-ahead prepared it.
pub(crate) enum Incoming {
    /// Opened (or sent in the clear): the statement, its seal when it had
    /// one, and what the read-ahead worked out of it.
    Open {
        /// The statement.
        statement: Statement,
        /// Its seal, which its row keeps as it is.
        seal: Option<Box<OpenSeal>>,
        /// What the read-ahead worked out of it.
        worked: Box<Worked>,
    },
    /// Sealed with a key that is gone.
    Shut {
        /// The subjects whose keys are gone.
        missing: Vec<Uuid>,
    },
}

impl Incoming {
    /// A sealed statement of `tenant` as `json`, its seal open, with what the read-ahead works out of it.
    fn sealed(
        tenant: &TenantId,
        json: serde_json::Value,
        seal: OpenSeal,
        downstream: &[Arc<dyn Downstream>],
        id_made: bool,
    ) -> Self {
        let statement = Statement::from_trusted(json);
        let worked = Worked::of(tenant, &statement, Some(&seal), downstream, id_made);
        Incoming::Open { statement, seal: Some(Box::new(seal)), worked }
    }
}

/// What the read-ahead works out of an opened statement for the projector.
pub(crate) struct Worked {
    /// The subject of each personal agent it was sealed for, by IFI key.
    pub(crate) agents: HashMap<String, Uuid>,
    /// Its actor, as projections keep it.
    pub(crate) learner: Option<Learner>,
    /// The index keys of its own content (not those of the statements it
    /// refers to, which the projector reads).
    pub(crate) index_keys: Vec<IndexKey>,
    /// What the projections downstream prepared of it ([`Downstream::prepare`]).
    pub(crate) prepared: Digests,
    /// Whether the gateway gave it its id (drawn at random: no statement
    /// stored before has it, so the projector does not look for one).
    pub(crate) id_made: bool,
}

impl Worked {
    /// Works out what the projector needs of a statement of `tenant`, sealed as `seal` says.
    fn of(
        tenant: &TenantId,
        statement: &Statement,
        seal: Option<&OpenSeal>,
        downstream: &[Arc<dyn Downstream>],
        id_made: bool,
    ) -> Box<Self> {
        let json = statement.value();
        let agents = seal.map(|seal| seal.agents(json)).unwrap_or_default();
        let learner = learner_of(json, &agents, seal);
        let index_keys = index_keys(tenant, statement, &agents, RelatedRows::NotDirect);
        let prepared = (downstream.iter())
            .filter_map(|projection| Some((projection.name(), projection.prepare(json, learner.as_ref())?)))
            .collect();
        Box::new(Self { agents, learner, index_keys, prepared, id_made })
    }
}

/// An opened seal: the gateway's seal as it came (the statement's row body:
/// it is stored as sealed, never sealed again) and its subjects with their keys.
pub(crate) struct OpenSeal {
    pub(crate) sealed: Sealed,
    pub(crate) subjects: Vec<Subject>,
    /// The personal agents of the statement, one for each subject of the
    /// seal, when its gateway handed them; worked out again otherwise.
    pub(crate) agents: Option<Vec<String>>,
}

impl OpenSeal {
    /// The subject of each personal agent of `statement` (its IFI key).
    pub(crate) fn agents(&self, statement: &serde_json::Value) -> HashMap<String, Uuid> {
        let agents = match &self.agents {
            Some(agents) => agents.clone(),
            None => personal_agents(statement),
        };
        agents.into_iter().zip(self.sealed.subjects.iter().copied()).collect()
    }
}

/// Decodes a record and opens the statements sealed in it, or takes them
/// from `handoff` when its gateway handed them.
async fn prepare(
    vault: Option<&KeyVault>,
    downstream: &[Arc<dyn Downstream>],
    handoff: Option<&StatementHandoff>,
    mut record: LogRecord,
) -> Result<Prepared, StoreError> {
    let payload = std::mem::take(&mut record.payload);
    let mut event = match event::decode(&payload) {
        Ok(event) => event,
        Err(error) => {
            warn!(offset = record.offset, %error, "skipping undecodable log record");
            return Ok(Prepared { record, event: None, statements: Vec::new() });
        }
    };
    drop(payload);
    let mut statements = Vec::new();
    match &mut event.command {
        Command::StoreSealedStatements { statements: sealed, ids_made, .. } => {
            let handed = handoff.and_then(|handoff| handoff.take(event.command_id));
            let mut handed = handed.filter(|handed| handed.len() == sealed.len()).map(Vec::into_iter);
            metrics::statements_prepared(if handed.is_some() { "handed" } else { "opened" }, sealed.len());
            for (place, sealed) in std::mem::take(sealed).into_iter().enumerate() {
                let id_made = ids_made.contains(place);
                let tenant = &event.tenant;
                statements.push(match handed.as_mut().and_then(Iterator::next) {
                    Some(handed) => take_statement(vault, downstream, tenant, sealed, handed, id_made).await?,
                    None => open_statement(vault, downstream, tenant, sealed, id_made).await?,
                });
            }
        }
        Command::StoreStatements { statements: items, ids_made, .. } => {
            for (place, item) in std::mem::take(items).into_iter().enumerate() {
                let id_made = ids_made.contains(place);
                // The JSON form of sealed statements, in logs written before they were sealed in binary.
                let incoming = match item.get("sealed").map(Sealed::deserialize) {
                    None => {
                        let statement = Statement::from_trusted(item);
                        let worked = Worked::of(&event.tenant, &statement, None, downstream, id_made);
                        Incoming::Open { statement, seal: None, worked }
                    }
                    Some(Ok(sealed)) => open_statement(vault, downstream, &event.tenant, sealed, id_made).await?,
                    Some(Err(_)) => Incoming::Shut { missing: Vec::new() },
                };
                statements.push(incoming);
            }
        }
        _ => {}
    }
    Ok(Prepared { record, event: Some(event), statements })
}

/// [`prepare`] for each record, in order.
pub(crate) async fn prepare_all(
    vault: Option<&KeyVault>,
    downstream: &[Arc<dyn Downstream>],
    handoff: Option<&StatementHandoff>,
    records: Vec<LogRecord>,
) -> Result<Vec<Prepared>, StoreError> {
    let mut prepared = Vec::with_capacity(records.len());
    for record in records {
        prepared.push(prepare(vault, downstream, handoff, record).await?);
    }
    Ok(prepared)
}

/// A sealed statement its gateway handed (what it sealed, and the personal
/// agents it sealed it for): the seal's subjects are looked up as in
/// [`open_statement`], so a statement sealed for an agent forgotten since is
/// shut all the same, but the seal is not opened, the JSON not parsed and
/// the personal agents not worked out again.
async fn take_statement(
    vault: Option<&KeyVault>,
    downstream: &[Arc<dyn Downstream>],
    tenant: &TenantId,
    sealed: Sealed,
    handed: HandedStatement,
    id_made: bool,
) -> Result<Incoming, StoreError> {
    let Some(vault) = vault else { return Ok(Incoming::Shut { missing: sealed.subjects }) };
    let HandedStatement { json, agents } = handed;
    // Handed by a gateway of this process, so one for each subject; checked all the same.
    let agents = Some(agents).filter(|agents| agents.len() == sealed.subjects.len());
    Ok(match subjects_of(vault, tenant, &sealed).await? {
        Err(missing) => Incoming::Shut { missing },
        Ok(subjects) => Incoming::sealed(tenant, json, OpenSeal { sealed, subjects, agents }, downstream, id_made),
    })
}

/// A sealed statement opened, or the subjects that keep it shut.
async fn open_statement(
    vault: Option<&KeyVault>,
    downstream: &[Arc<dyn Downstream>],
    tenant: &TenantId,
    sealed: Sealed,
    id_made: bool,
) -> Result<Incoming, StoreError> {
    let Some(vault) = vault else { return Ok(Incoming::Shut { missing: sealed.subjects }) };
    Ok(match opening(vault, tenant, &sealed).await? {
        Opening::Shut { missing } => Incoming::Shut { missing },
        Opening::Open { plaintext, subjects } => match xapi::parse_json(&plaintext) {
            Ok(json) => {
                Incoming::sealed(tenant, json, OpenSeal { sealed, subjects, agents: None }, downstream, id_made)
            }
            Err(_) => Incoming::Shut { missing: Vec::new() },
        },
    })
}
