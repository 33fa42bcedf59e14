//! What the read-ahead stage does to each log record before the projector
//! applies it: decode the envelope, open the statements sealed in it and
//! parse them. Stateless (the vault keys it needs exist before an event is
//! appended), so it runs beside the projector, not before it.

use std::collections::HashMap;

use serde::Deserialize as _;
use tracing::warn;
use uuid::Uuid;

use crate::event::{self, Command, CommandEvent};
use crate::log::LogRecord;
use crate::store::StoreError;
use crate::tenant::TenantId;
use crate::vault::{opening, personal_agents, DataKey, KeyVault, Opening, Sealed, Subject};

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
    /// Opened (or sent in the clear): its JSON, and its seal when it had one.
    Open {
        /// The statement.
        json: serde_json::Value,
        /// How it was sealed, to seal its row the same way.
        seal: Option<Box<OpenSeal>>,
    },
    /// Sealed with a key that is gone.
    Shut {
        /// The subjects whose keys are gone.
        missing: Vec<Uuid>,
    },
}

/// What the projector keeps of an opened seal to seal the stored row for
/// the same agents: the seal without its ciphertext, its data key and its
/// subjects.
pub(crate) struct OpenSeal {
    pub(crate) sealed: Sealed,
    pub(crate) key: DataKey,
    pub(crate) subjects: Vec<Subject>,
}

impl OpenSeal {
    /// The subject of each personal agent of `statement` (its IFI key).
    pub(crate) fn agents(&self, statement: &serde_json::Value) -> HashMap<String, Uuid> {
        personal_agents(statement).into_iter().zip(self.sealed.subjects.iter().copied()).collect()
    }
}

/// Decodes a record and opens the statements sealed in it.
async fn prepare(vault: Option<&KeyVault>, mut record: LogRecord) -> Result<Prepared, StoreError> {
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
        Command::StoreSealedStatements { statements: sealed, .. } => {
            for sealed in std::mem::take(sealed) {
                statements.push(open_statement(vault, &event.tenant, sealed).await?);
            }
        }
        Command::StoreStatements { statements: items, .. } => {
            for item in std::mem::take(items) {
                // The JSON form of sealed statements, in logs written before they were sealed in binary.
                let incoming = match item.get("sealed").map(Sealed::deserialize) {
                    None => Incoming::Open { json: item, seal: None },
                    Some(Ok(sealed)) => open_statement(vault, &event.tenant, sealed).await?,
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
    records: Vec<LogRecord>,
) -> Result<Vec<Prepared>, StoreError> {
    let mut prepared = Vec::with_capacity(records.len());
    for record in records {
        prepared.push(prepare(vault, record).await?);
    }
    Ok(prepared)
}

/// A sealed statement opened, or the subjects that keep it shut.
async fn open_statement(vault: Option<&KeyVault>, tenant: &TenantId, sealed: Sealed) -> Result<Incoming, StoreError> {
    let Some(vault) = vault else { return Ok(Incoming::Shut { missing: sealed.subjects }) };
    Ok(match opening(vault, tenant, &sealed).await? {
        Opening::Shut { missing } => Incoming::Shut { missing },
        Opening::Open { plaintext, key, subjects } => match xapi::parse_json(&plaintext) {
            Ok(json) => {
                let sealed = Sealed { ciphertext: Vec::new(), ..sealed };
                Incoming::Open { json, seal: Some(Box::new(OpenSeal { sealed, key, subjects })) }
            }
            Err(_) => Incoming::Shut { missing: Vec::new() },
        },
    })
}
