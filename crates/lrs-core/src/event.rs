//! Commands and the protobuf envelope that carries them through the log.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Credential;
use crate::documents::{DocumentKind, DocumentScope, Precondition};
use crate::tenant::TenantId;
use crate::tenants::Tenant;
use crate::vault::Sealed;

/// Current schema version of command payloads.
pub const SCHEMA_VERSION: u32 = 1;

/// The envelope of a log event, as defined in `proto/event.proto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Envelope {
    /// Version of the payload schema for this kind.
    #[prost(uint32, tag = "1")]
    pub schema_version: u32,
    /// Tenant that issued the command; also the log key.
    #[prost(string, tag = "2")]
    pub tenant: String,
    /// Command id (16-byte UUID) the gateway awaits a verdict for.
    #[prost(bytes = "vec", tag = "3")]
    pub command_id: Vec<u8>,
    /// Kind of command, e.g. "statements.store".
    #[prost(string, tag = "4")]
    pub kind: String,
    /// Time the gateway accepted the command, microseconds since the Unix epoch.
    #[prost(int64, tag = "5")]
    pub time_micros: i64,
    /// W3C trace context of the request.
    #[prost(map = "string, string", tag = "6")]
    pub trace_context: std::collections::HashMap<String, String>,
    /// The validated, normalised command as JSON bytes.
    #[prost(bytes = "vec", tag = "7")]
    pub payload: Vec<u8>,
    /// The sealed statements of a `statements.store.sealed` command, in binary.
    #[prost(message, repeated, tag = "8")]
    pub sealed_statements: Vec<SealedProto>,
}

/// A sealed value in binary, as defined in `proto/event.proto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SealedProto {
    /// The subjects whose keys open it, 16-byte UUIDs.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub subjects: Vec<Vec<u8>>,
    /// Each subject's share of the data key, encrypted with its key.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub shares: Vec<Vec<u8>>,
    /// The value encrypted with the data key.
    #[prost(bytes = "vec", tag = "3")]
    pub ciphertext: Vec<u8>,
}

impl SealedProto {
    /// The binary form of a sealed value.
    pub(crate) fn from_sealed(sealed: &Sealed) -> Self {
        Self {
            subjects: sealed.subjects.iter().map(|s| s.as_bytes().to_vec()).collect(),
            shares: sealed.shares.clone(),
            ciphertext: sealed.ciphertext.clone(),
        }
    }

    /// Back from the binary form.
    pub(crate) fn into_sealed(self) -> Result<Sealed, DecodeError> {
        let subjects = self.subjects.iter().map(|s| Uuid::from_slice(s)).collect::<Result<Vec<_>, _>>();
        let subjects = subjects.map_err(|e| DecodeError::Field(e.to_string()))?;
        Ok(Sealed { subjects, shares: self.shares, ciphertext: self.ciphertext })
    }
}

/// A command: one validated write request of a tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Store a batch of statements, all or nothing. Each statement already has
    /// its `id`, `authority` and `version`; the projector assigns `stored`.
    StoreStatements {
        /// The statements, validated and normalised.
        statements: Vec<serde_json::Value>,
        /// What the tenant's statement plan found about them (report mode).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        checks: Vec<crate::plan::PlanCheck>,
    },
    /// Store a batch of statements, each sealed (see `vault.rs`); the seals
    /// travel in binary in the envelope, not in the JSON payload.
    StoreSealedStatements {
        /// The sealed statements, each validated and normalised before sealing.
        #[serde(skip)]
        statements: Vec<Sealed>,
        /// What the tenant's statement plan found about them (report mode).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        checks: Vec<crate::plan::PlanCheck>,
    },
    /// A write the gateway refused: counted by the quality projection; the
    /// refused body is not kept.
    ReportRejection {
        /// The credential key (or token subject) that sent it.
        source: Option<String>,
        /// Why: `invalid`, `profile` or `conflict`.
        reason: String,
        /// How many statements the refused request held.
        statements: u32,
    },
    /// An export of statements that was served: recorded in the audit trail.
    RecordExport {
        /// The credential key (or token subject) that asked for it.
        credential: Option<String>,
        /// What it asked for: the format and the filters.
        request: String,
        /// How many statements it sent.
        rows: u64,
        /// Whether it sent all of them (false: the client went away or a read failed).
        complete: bool,
    },
    /// One chunk of an attachment body, content-addressed by the body's SHA-2.
    StoreAttachmentChunk {
        /// Lowercase hex SHA-2 of the whole body.
        sha2: String,
        /// Where the chunk starts in the body.
        offset: u64,
        /// The chunk's bytes, base64.
        content: String,
    },
    /// A document command about an agent, sealed with the agent's key (see `vault.rs`).
    Sealed {
        /// The sealed inner command.
        sealed: Sealed,
    },
    /// Forget an agent: purge every row naming it (its key is destroyed after).
    ForgetSubject {
        /// The agent's pseudonymous subject id.
        subject: Uuid,
    },
    /// Remove the statements stored before a time (retention).
    ApplyRetention {
        /// Statements with `stored` before this, microseconds, go.
        before_micros: u64,
    },
    /// Create or change a tenant (administrative).
    PutTenant {
        /// The new record.
        tenant: Tenant,
        /// Refuse when it exists already (create), or when it does not (change).
        create: bool,
        /// What the operator did, for the audit trail.
        action: String,
    },
    /// Issue, rotate or revoke a credential (administrative).
    PutCredential {
        /// The new record.
        credential: Credential,
        /// Refuse when the key exists already (issue), or when it does not (change).
        create: bool,
        /// What the operator did, for the audit trail.
        action: String,
    },
    /// Write a document (PUT), or merge a JSON document into the stored one (POST).
    PutDocument {
        /// The resource.
        kind: DocumentKind,
        /// The activity / agent / registration it belongs to.
        scope: DocumentScope,
        /// The stateId or profileId.
        id: String,
        /// Its media type.
        content_type: String,
        /// Its bytes, base64.
        content: String,
        /// POST: merge into an existing JSON document.
        merge: bool,
        /// If-Match / If-None-Match rules.
        precondition: Precondition,
    },
    /// Delete one document, or (for state, with no id) every document of a scope.
    DeleteDocuments {
        /// The resource.
        kind: DocumentKind,
        /// The activity / agent / registration they belong to.
        scope: DocumentScope,
        /// The stateId or profileId; `None` deletes the whole scope.
        id: Option<String>,
        /// If-Match / If-None-Match rules.
        precondition: Precondition,
    },
}

impl Command {
    /// The envelope `kind` of this command.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::StoreStatements { .. } => "statements.store",
            Command::StoreSealedStatements { .. } => "statements.store.sealed",
            Command::ReportRejection { .. } => "statements.rejected",
            Command::RecordExport { .. } => "statements.export",
            Command::StoreAttachmentChunk { .. } => "attachments.chunk",
            Command::PutDocument { .. } => "documents.put",
            Command::PutTenant { .. } => "admin.tenant",
            Command::Sealed { .. } => "sealed",
            Command::ForgetSubject { .. } => "admin.forget",
            Command::ApplyRetention { .. } => "admin.retention",
            Command::PutCredential { .. } => "admin.credential",
            Command::DeleteDocuments { .. } => "documents.delete",
        }
    }
}

/// A command read back from the log with its envelope fields.
#[derive(Clone, Debug)]
pub struct CommandEvent {
    /// Tenant that issued it.
    pub tenant: TenantId,
    /// Id the gateway awaits.
    pub command_id: Uuid,
    /// The command.
    pub command: Command,
    /// W3C trace context of the request that issued it (`traceparent`, `tracestate`).
    pub trace_context: std::collections::HashMap<String, String>,
}

/// An event that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The protobuf envelope is malformed.
    #[error("malformed envelope: {0}")]
    Envelope(#[from] prost::DecodeError),
    /// A field of the envelope is invalid.
    #[error("invalid envelope field: {0}")]
    Field(String),
    /// The payload is not a command of a known kind.
    #[error("malformed payload: {0}")]
    Payload(#[from] serde_json::Error),
}

/// Wraps a command into an encoded envelope.
pub fn encode(tenant: &TenantId, command_id: Uuid, time_micros: i64, command: &Command) -> Vec<u8> {
    encode_traced(tenant, command_id, time_micros, command, &[])
}

/// Wraps a command into an encoded envelope with the request's trace context.
pub fn encode_traced(
    tenant: &TenantId,
    command_id: Uuid,
    time_micros: i64,
    command: &Command,
    trace_context: &[(String, String)],
) -> Vec<u8> {
    use prost::Message;
    let envelope = Envelope {
        schema_version: SCHEMA_VERSION,
        tenant: tenant.as_str().to_owned(),
        command_id: command_id.as_bytes().to_vec(),
        kind: command.kind().to_owned(),
        time_micros,
        trace_context: trace_context.iter().cloned().collect(),
        payload: serde_json::to_vec(command).expect("commands always serialise"),
        sealed_statements: match command {
            Command::StoreSealedStatements { statements, .. } => {
                statements.iter().map(SealedProto::from_sealed).collect()
            }
            _ => Vec::new(),
        },
    };
    envelope.encode_to_vec()
}

/// Decodes an encoded envelope back into its command.
pub fn decode(bytes: &[u8]) -> Result<CommandEvent, DecodeError> {
    use prost::Message;
    let envelope = Envelope::decode(bytes)?;
    let tenant = TenantId::parse(&envelope.tenant).map_err(|e| DecodeError::Field(e.to_string()))?;
    let command_id = Uuid::from_slice(&envelope.command_id).map_err(|e| DecodeError::Field(e.to_string()))?;
    let mut command = serde_json::from_slice(&envelope.payload)?;
    if let Command::StoreSealedStatements { statements, .. } = &mut command {
        *statements = envelope.sealed_statements.into_iter().map(SealedProto::into_sealed).collect::<Result<_, _>>()?;
    }
    Ok(CommandEvent { tenant, command_id, command, trace_context: envelope.trace_context })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_round_trips_through_the_envelope() {
        let tenant = TenantId::parse("t1").unwrap();
        let id = Uuid::new_v4();
        let command = Command::StoreStatements { statements: vec![serde_json::json!({"id": "x"})], checks: Vec::new() };
        let decoded = decode(&encode(&tenant, id, 42, &command)).unwrap();
        assert_eq!(decoded.tenant, tenant);
        assert_eq!(decoded.command_id, id);
        assert_eq!(decoded.command, command);
    }

    #[test]
    fn sealed_statements_round_trip_in_binary() {
        let tenant = TenantId::parse("t1").unwrap();
        let sealed = Sealed { subjects: vec![Uuid::new_v4()], shares: vec![vec![1; 60]], ciphertext: vec![7; 900] };
        let command = Command::StoreSealedStatements { statements: vec![sealed.clone(), sealed], checks: Vec::new() };
        let bytes = encode(&tenant, Uuid::new_v4(), 42, &command);
        assert!(bytes.len() < 2 * 1000 + 200, "no base64 or JSON around the seals: {} bytes", bytes.len());
        assert_eq!(decode(&bytes).unwrap().command, command);
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        assert!(decode(b"\xff\xff\xff").is_err());
        assert!(decode(&[]).is_err());
    }

    #[test]
    fn envelope_matches_proto_schema() {
        // Every field of proto/event.proto, by number and name, is in the Rust type.
        let proto = include_str!("../../../proto/event.proto");
        for (name, tag) in [
            ("schema_version", 1),
            ("tenant", 2),
            ("command_id", 3),
            ("kind", 4),
            ("time_micros", 5),
            ("trace_context", 6),
            ("payload", 7),
            ("sealed_statements", 8),
        ] {
            assert!(proto.contains(&format!(" {name} = {tag};")), "proto lacks {name} = {tag}");
        }
    }
}
