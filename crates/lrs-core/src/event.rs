//! Commands and the protobuf envelope that carries them through the log.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Credential;
use crate::documents::{DocumentKind, DocumentScope, Precondition};
use crate::tenant::TenantId;
use crate::tenants::Tenant;
use crate::vault::{Packing, Sealed};

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
    /// What the statement plan found about a statements command's statements, in binary.
    #[prost(message, optional, tag = "9")]
    pub plan_checks: Option<PlanChecksProto>,
}

/// The statement plan's findings in binary, as defined in `proto/event.proto`:
/// each IRI once, named by its place.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PlanChecksProto {
    /// The template and profile IRIs.
    #[prost(string, repeated, tag = "1")]
    pub iris: Vec<String>,
    /// One per statement the plan found something about.
    #[prost(message, repeated, tag = "2")]
    pub checks: Vec<PlanCheckProto>,
}

/// What the plan found about one statement, in binary.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PlanCheckProto {
    /// The statement's place in its batch.
    #[prost(uint32, tag = "1")]
    pub index: u32,
    /// The templates it follows (places in `iris`).
    #[prost(uint32, repeated, tag = "2")]
    pub followed: Vec<u32>,
    /// The templates it breaks.
    #[prost(message, repeated, tag = "3")]
    pub broken: Vec<BrokenRuleProto>,
    /// The pattern groups it belongs to.
    #[prost(message, repeated, tag = "4")]
    pub groups: Vec<PatternGroupProto>,
}

/// A broken template and rule, in binary.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BrokenRuleProto {
    /// The template (a place in `iris`).
    #[prost(uint32, tag = "1")]
    pub template: u32,
    /// The rule.
    #[prost(string, tag = "2")]
    pub rule: String,
}

/// A pattern group, in binary.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PatternGroupProto {
    /// The profile (a place in `iris`).
    #[prost(uint32, tag = "1")]
    pub profile: u32,
    /// The registration.
    #[prost(string, tag = "2")]
    pub registration: String,
    /// The subregistration, if any.
    #[prost(string, optional, tag = "3")]
    pub subregistration: Option<String>,
}

impl PlanChecksProto {
    /// The findings in binary (`None` when there are none).
    fn from_checks(checks: &[crate::plan::PlanCheck]) -> Option<Self> {
        if checks.is_empty() {
            return None;
        }
        /// The place of an IRI in `iris`, added when new.
        fn place<'c>(
            iris: &mut Vec<String>,
            places: &mut std::collections::HashMap<&'c str, u32, foldhash::fast::RandomState>,
            iri: &'c str,
        ) -> u32 {
            *places.entry(iri).or_insert_with(|| {
                iris.push(iri.to_owned());
                (iris.len() - 1) as u32
            })
        }
        let mut iris: Vec<String> = Vec::new();
        let mut places = std::collections::HashMap::default();
        let mut binary = Vec::with_capacity(checks.len());
        for check in checks {
            let mut found = PlanCheckProto { index: check.index, ..Default::default() };
            for template in &check.followed {
                found.followed.push(place(&mut iris, &mut places, template));
            }
            for broken in &check.broken {
                let template = place(&mut iris, &mut places, &broken.template);
                found.broken.push(BrokenRuleProto { template, rule: broken.rule.clone() });
            }
            for group in &check.groups {
                found.groups.push(PatternGroupProto {
                    profile: place(&mut iris, &mut places, &group.profile),
                    registration: group.registration.clone(),
                    subregistration: group.subregistration.clone(),
                });
            }
            binary.push(found);
        }
        let checks = binary;
        Some(Self { iris, checks })
    }

    /// The findings back (an IRI place out of range is a decode error).
    fn into_checks(self) -> Result<Vec<crate::plan::PlanCheck>, DecodeError> {
        let Self { iris, checks } = self;
        let iri = |place: u32| {
            iris.get(place as usize).cloned().ok_or_else(|| DecodeError::Field(format!("plan_checks: no IRI {place}")))
        };
        // The rules and registrations are moved, not copied.
        checks
            .into_iter()
            .map(|check| {
                Ok(crate::plan::PlanCheck {
                    index: check.index,
                    followed: check.followed.iter().map(|&place| iri(place)).collect::<Result<_, _>>()?,
                    broken: check
                        .broken
                        .into_iter()
                        .map(|broken| {
                            Ok(crate::plan::BrokenRule { template: iri(broken.template)?, rule: broken.rule })
                        })
                        .collect::<Result<_, DecodeError>>()?,
                    groups: check
                        .groups
                        .into_iter()
                        .map(|group| {
                            Ok(crate::plan::PatternGroup {
                                profile: iri(group.profile)?,
                                registration: group.registration,
                                subregistration: group.subregistration,
                            })
                        })
                        .collect::<Result<_, DecodeError>>()?,
                })
            })
            .collect()
    }
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
    /// How the value was packed before it was encrypted (0: as it is).
    #[prost(uint32, tag = "4")]
    pub packing: u32,
    /// The salt the data key is derived from (empty in seals with shares).
    #[prost(bytes = "vec", tag = "5")]
    pub salt: Vec<u8>,
}

impl SealedProto {
    /// The binary form of a sealed value.
    pub(crate) fn from_sealed(sealed: &Sealed) -> Self {
        Self {
            subjects: sealed.subjects.iter().map(|s| s.as_bytes().to_vec()).collect(),
            shares: sealed.shares.clone(),
            ciphertext: sealed.ciphertext.clone(),
            packing: sealed.packing.into(),
            salt: sealed.salt.clone(),
        }
    }

    /// Back from the binary form.
    pub(crate) fn into_sealed(self) -> Result<Sealed, DecodeError> {
        let subjects = self.subjects.iter().map(|s| Uuid::from_slice(s)).collect::<Result<Vec<_>, _>>();
        let subjects = subjects.map_err(|e| DecodeError::Field(e.to_string()))?;
        let packing = Packing::try_from(self.packing).map_err(DecodeError::Field)?;
        Ok(Sealed { subjects, shares: self.shares, salt: self.salt, ciphertext: self.ciphertext, packing })
    }
}

/// Which statements of a command the gateway gave their id, by their place
/// in it, as half-open ranges (`[[0, 100]]`: all of a batch of 100). Such
/// an id was drawn at random (a version 4 UUID) when the statement was
/// accepted, so no statement stored before can have it: the projector does
/// not look for one. Events written before 2026-12-06 say none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdsMade(Vec<[u32; 2]>);

impl IdsMade {
    /// The places whose flag in `made` is set.
    pub fn of(made: impl IntoIterator<Item = bool>) -> Self {
        let mut ranges: Vec<[u32; 2]> = Vec::new();
        for (place, made) in made.into_iter().enumerate() {
            let place = u32::try_from(place).unwrap_or(u32::MAX);
            match ranges.last_mut() {
                Some(last) if made && last[1] == place => last[1] = place.saturating_add(1),
                _ if made => ranges.push([place, place.saturating_add(1)]),
                _ => {}
            }
        }
        Self(ranges)
    }

    /// Whether the statement at `place` was given its id by the gateway.
    pub fn contains(&self, place: usize) -> bool {
        let place = u32::try_from(place).unwrap_or(u32::MAX);
        self.0.iter().any(|[start, end]| (*start..*end).contains(&place))
    }

    /// Whether it names none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
        /// What the tenant's statement plan found about them (report mode):
        /// in binary in the envelope; read from the payload in older events.
        #[serde(default, skip_serializing)]
        checks: Vec<crate::plan::PlanCheck>,
        /// Which of them the gateway gave their id.
        #[serde(default, skip_serializing_if = "IdsMade::is_empty")]
        ids_made: IdsMade,
    },
    /// Store a batch of statements, each sealed (see `vault.rs`); the seals
    /// travel in binary in the envelope, not in the JSON payload.
    StoreSealedStatements {
        /// The sealed statements, each validated and normalised before sealing.
        #[serde(skip)]
        statements: Vec<Sealed>,
        /// What the tenant's statement plan found about them (report mode):
        /// in binary in the envelope; read from the payload in older events.
        #[serde(default, skip_serializing)]
        checks: Vec<crate::plan::PlanCheck>,
        /// Which of them the gateway gave their id.
        #[serde(default, skip_serializing_if = "IdsMade::is_empty")]
        ids_made: IdsMade,
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
        plan_checks: match command {
            Command::StoreStatements { checks, .. } | Command::StoreSealedStatements { checks, .. } => {
                PlanChecksProto::from_checks(checks)
            }
            _ => None,
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
    if let (
        Some(plan_checks),
        Command::StoreStatements { checks, .. } | Command::StoreSealedStatements { checks, .. },
    ) = (envelope.plan_checks, &mut command)
    {
        *checks = plan_checks.into_checks()?;
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
        let command = Command::StoreStatements {
            statements: vec![serde_json::json!({"id": "x"})],
            checks: Vec::new(),
            ids_made: Default::default(),
        };
        let decoded = decode(&encode(&tenant, id, 42, &command)).unwrap();
        assert_eq!(decoded.tenant, tenant);
        assert_eq!(decoded.command_id, id);
        assert_eq!(decoded.command, command);
    }

    #[test]
    fn the_ids_a_gateway_made_are_ranges_of_places_and_events_before_them_made_none() {
        let made = IdsMade::of([true, true, false, true, false, false, true, true, true]);
        assert_eq!(serde_json::to_string(&made).unwrap(), "[[0,2],[3,4],[6,9]]");
        let places: Vec<usize> = (0..12).filter(|p| made.contains(*p)).collect();
        assert_eq!(places, [0, 1, 3, 6, 7, 8]);
        assert!(IdsMade::of([false, false]).is_empty());
        assert_eq!(serde_json::to_string(&IdsMade::of(vec![true; 100])).unwrap(), "[[0,100]]");

        let tenant = TenantId::parse("t1").unwrap();
        let command = Command::StoreStatements {
            statements: vec![serde_json::json!({"id": "x"}), serde_json::json!({"id": "y"})],
            checks: Vec::new(),
            ids_made: IdsMade::of([false, true]),
        };
        assert_eq!(decode(&encode(&tenant, Uuid::new_v4(), 1, &command)).unwrap().command, command);
        let before = br#"{"command":"store_statements","statements":[{"id":"x"}]}"#;
        let Command::StoreStatements { ids_made, .. } = serde_json::from_slice(before).unwrap() else { panic!() };
        assert!(ids_made.is_empty(), "an event written before says none");
    }

    #[test]
    fn sealed_statements_round_trip_in_binary() {
        let tenant = TenantId::parse("t1").unwrap();
        let sealed = Sealed {
            subjects: vec![Uuid::new_v4()],
            shares: Vec::new(),
            salt: vec![3; 16],
            ciphertext: vec![7; 900],
            packing: Packing::Lz4Xapi,
        };
        let command = Command::StoreSealedStatements {
            statements: vec![sealed.clone(), sealed],
            checks: Vec::new(),
            ids_made: Default::default(),
        };
        let bytes = encode(&tenant, Uuid::new_v4(), 42, &command);
        assert!(bytes.len() < 2 * 1000 + 200, "no base64 or JSON around the seals: {} bytes", bytes.len());
        assert_eq!(decode(&bytes).unwrap().command, command);
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        assert!(decode(b"\xff\xff\xff").is_err());
        assert!(decode(&[]).is_err());
    }

    /// The fields of `proto/event.proto` this test checks, by name, in the
    /// file's order; the descriptor must have exactly these.
    const ENVELOPE_FIELDS: [&str; 9] = [
        "schema_version",
        "tenant",
        "command_id",
        "kind",
        "time_micros",
        "trace_context",
        "payload",
        "sealed_statements",
        "plan_checks",
    ];
    const SEALED_FIELDS: [&str; 5] = ["subjects", "shares", "ciphertext", "packing", "salt"];
    const PLAN_CHECKS_FIELDS: [&str; 2] = ["iris", "checks"];
    const PLAN_CHECK_FIELDS: [&str; 4] = ["index", "followed", "broken", "groups"];
    const BROKEN_RULE_FIELDS: [&str; 2] = ["template", "rule"];
    const PATTERN_GROUP_FIELDS: [&str; 3] = ["profile", "registration", "subregistration"];

    /// `proto/event.proto` compiled now (protox, no protoc): the descriptors
    /// of `Envelope` and `Sealed`.
    fn proto_descriptors() -> (prost_reflect::MessageDescriptor, prost_reflect::MessageDescriptor) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
        let mut compiler = protox::Compiler::new([dir]).expect("the proto directory");
        let pool = compiler.open_file("event.proto").expect("proto/event.proto compiles").descriptor_pool();
        let envelope = pool.get_message_by_name("lrs.event.v1.Envelope").expect("lrs.event.v1.Envelope");
        let sealed = pool.get_message_by_name("lrs.event.v1.Sealed").expect("lrs.event.v1.Sealed");
        (envelope, sealed)
    }

    /// An envelope whose every field, and every field of its seals, holds a
    /// value of its own that is not the default.
    fn full_envelope() -> Envelope {
        let sealed = |n: u8| SealedProto {
            subjects: vec![vec![n; 16], vec![n + 1; 16]],
            shares: vec![vec![n + 2; 60], vec![n + 3; 61]],
            ciphertext: vec![n + 4; 90],
            packing: 1,
            salt: vec![n + 5; 16],
        };
        Envelope {
            schema_version: 7,
            tenant: "tenant-a".to_owned(),
            command_id: vec![0xc1; 16],
            kind: "statements.store.sealed".to_owned(),
            time_micros: 1_700_000_000_123_456,
            trace_context: [
                ("traceparent".to_owned(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned()),
                ("tracestate".to_owned(), "vendor=opaque".to_owned()),
            ]
            .into(),
            payload: br#"{"command":"store_sealed_statements"}"#.to_vec(),
            sealed_statements: vec![sealed(10), sealed(20)],
            plan_checks: Some(PlanChecksProto {
                iris: vec!["http://example.com/templates/t".to_owned(), "http://example.com/profiles/p".to_owned()],
                checks: vec![
                    PlanCheckProto {
                        index: 4,
                        followed: vec![0],
                        broken: vec![BrokenRuleProto { template: 0, rule: "$.result.success".to_owned() }],
                        groups: vec![PatternGroupProto {
                            profile: 1,
                            registration: "r-1".to_owned(),
                            subregistration: Some("s-1".to_owned()),
                        }],
                    },
                    PlanCheckProto { index: 7, followed: vec![0, 0], ..Default::default() },
                ],
            }),
        }
    }

    #[test]
    fn plan_checks_travel_in_binary_and_old_events_keep_theirs_in_the_payload() {
        use crate::plan::{BrokenRule, PatternGroup, PlanCheck};
        let tenant = TenantId::parse("t1").unwrap();
        let template = "http://example.com/templates/a-rather-long-template-iri".to_owned();
        let checks: Vec<PlanCheck> = (0..100)
            .map(|index| PlanCheck {
                index,
                followed: vec![template.clone()],
                broken: vec![BrokenRule { template: template.clone(), rule: "$.result".to_owned() }],
                groups: vec![PatternGroup {
                    profile: "http://example.com/profile".to_owned(),
                    registration: format!("r-{index}"),
                    subregistration: None,
                }],
            })
            .collect();
        let command = Command::StoreStatements {
            statements: vec![serde_json::json!({"id": "x"})],
            checks,
            ids_made: Default::default(),
        };
        let bytes = encode(&tenant, Uuid::new_v4(), 42, &command);
        assert_eq!(decode(&bytes).unwrap().command, command);
        // Each IRI once: far less than a hundred copies of the template's.
        assert!(bytes.len() < 100 * template.len(), "{} bytes", bytes.len());
        // An event written before the binary field: its checks in the JSON payload.
        let Command::StoreStatements { checks, .. } = &command else { unreachable!() };
        let payload = serde_json::json!({"command": "store_statements", "statements": [{"id": "x"}], "checks": checks});
        let old = Envelope {
            schema_version: SCHEMA_VERSION,
            tenant: "t1".to_owned(),
            command_id: Uuid::new_v4().as_bytes().to_vec(),
            kind: "statements.store".to_owned(),
            payload: serde_json::to_vec(&payload).unwrap(),
            ..Default::default()
        };
        use prost::Message;
        assert_eq!(decode(&old.encode_to_vec()).unwrap().command, command);
        // A place out of the IRIs is a decode error, not a panic.
        let mut broken = Envelope::decode(bytes.as_slice()).unwrap();
        broken.plan_checks.as_mut().unwrap().checks[0].followed = vec![9];
        assert!(decode(&broken.encode_to_vec()).is_err());
    }

    fn field(message: &prost_reflect::DynamicMessage, name: &str) -> prost_reflect::Value {
        message.get_field_by_name(name).unwrap_or_else(|| panic!("the proto has no field {name}")).into_owned()
    }

    fn bytes_list(value: &prost_reflect::Value) -> Vec<Vec<u8>> {
        let list = value.as_list().expect("a repeated field");
        list.iter().map(|v| v.as_bytes().expect("bytes").to_vec()).collect()
    }

    #[test]
    fn envelope_type_encodes_what_the_proto_schema_decodes_and_back() {
        use prost::bytes::Bytes;
        use prost::Message;
        use prost_reflect::{DynamicMessage, MapKey, ReflectMessage, Value};

        let (envelope_desc, sealed_desc) = proto_descriptors();
        let names = |d: &prost_reflect::MessageDescriptor| d.fields().map(|f| f.name().to_owned()).collect::<Vec<_>>();
        assert_eq!(
            names(&envelope_desc),
            ENVELOPE_FIELDS,
            "Envelope's fields in the proto are not the ones checked here"
        );
        assert_eq!(names(&sealed_desc), SEALED_FIELDS, "Sealed's fields in the proto are not the ones checked here");
        let sealed_statements = envelope_desc.get_field_by_name("sealed_statements").unwrap();
        assert_eq!(sealed_statements.kind().as_message(), Some(&sealed_desc));
        let message_of = |d: &prost_reflect::MessageDescriptor, name: &str| {
            d.get_field_by_name(name).unwrap().kind().as_message().expect("a message field").clone()
        };
        let plan_desc = message_of(&envelope_desc, "plan_checks");
        let check_desc = message_of(&plan_desc, "checks");
        let broken_desc = message_of(&check_desc, "broken");
        let group_desc = message_of(&check_desc, "groups");
        assert_eq!(names(&plan_desc), PLAN_CHECKS_FIELDS);
        assert_eq!(names(&check_desc), PLAN_CHECK_FIELDS);
        assert_eq!(names(&broken_desc), BROKEN_RULE_FIELDS);
        assert_eq!(names(&group_desc), PATTERN_GROUP_FIELDS);

        // What the Rust type encodes, read with the proto's descriptor, by name.
        let rust = full_envelope();
        let dynamic = DynamicMessage::decode(envelope_desc.clone(), rust.encode_to_vec().as_slice())
            .expect("the proto decodes what the Rust type encodes");
        assert_eq!(dynamic.unknown_fields().count(), 0, "the Rust type wrote fields the proto does not have");
        assert_eq!(field(&dynamic, "schema_version").as_u32(), Some(rust.schema_version));
        assert_eq!(field(&dynamic, "tenant").as_str(), Some(rust.tenant.as_str()));
        assert_eq!(field(&dynamic, "command_id").as_bytes().map(|b| b.to_vec()), Some(rust.command_id.clone()));
        assert_eq!(field(&dynamic, "kind").as_str(), Some(rust.kind.as_str()));
        assert_eq!(field(&dynamic, "time_micros").as_i64(), Some(rust.time_micros));
        let trace_context = field(&dynamic, "trace_context");
        let trace_context = trace_context.as_map().expect("trace_context is a map");
        let trace_context: std::collections::HashMap<String, String> = trace_context
            .iter()
            .map(|(k, v)| (k.as_str().expect("string keys").to_owned(), v.as_str().expect("string values").to_owned()))
            .collect();
        assert_eq!(trace_context, rust.trace_context);
        assert_eq!(field(&dynamic, "payload").as_bytes().map(|b| b.to_vec()), Some(rust.payload.clone()));
        let seals = field(&dynamic, "sealed_statements");
        let seals = seals.as_list().expect("sealed_statements is repeated");
        assert_eq!(seals.len(), rust.sealed_statements.len());
        for (seal, expected) in seals.iter().zip(&rust.sealed_statements) {
            let seal = seal.as_message().expect("a Sealed message");
            assert_eq!(seal.descriptor(), sealed_desc);
            assert_eq!(seal.unknown_fields().count(), 0, "the Rust type wrote fields Sealed does not have");
            assert_eq!(bytes_list(&field(seal, "subjects")), expected.subjects);
            assert_eq!(bytes_list(&field(seal, "shares")), expected.shares);
            assert_eq!(field(seal, "ciphertext").as_bytes().map(|b| b.to_vec()), Some(expected.ciphertext.clone()));
            assert_eq!(field(seal, "packing").as_u32(), Some(expected.packing));
            assert_eq!(field(seal, "salt").as_bytes().map(|b| b.to_vec()), Some(expected.salt.clone()));
        }
        let plan = field(&dynamic, "plan_checks");
        let plan = plan.as_message().expect("plan_checks is a message");
        assert_eq!(plan.unknown_fields().count(), 0, "the Rust type wrote fields PlanChecks does not have");
        let expected = rust.plan_checks.as_ref().unwrap();
        let strings = |value: &prost_reflect::Value| -> Vec<String> {
            value.as_list().expect("a list").iter().map(|v| v.as_str().expect("a string").to_owned()).collect()
        };
        let u32s = |value: &prost_reflect::Value| -> Vec<u32> {
            value.as_list().expect("a list").iter().map(|v| v.as_u32().expect("a u32")).collect()
        };
        assert_eq!(strings(&field(plan, "iris")), expected.iris);
        let checks = field(plan, "checks");
        let checks = checks.as_list().expect("checks is repeated");
        assert_eq!(checks.len(), expected.checks.len());
        for (check, expected) in checks.iter().zip(&expected.checks) {
            let check = check.as_message().expect("a PlanCheck");
            assert_eq!(check.unknown_fields().count(), 0);
            assert_eq!(field(check, "index").as_u32(), Some(expected.index));
            assert_eq!(u32s(&field(check, "followed")), expected.followed);
            let broken = field(check, "broken");
            let broken: Vec<BrokenRuleProto> = broken
                .as_list()
                .unwrap()
                .iter()
                .map(|b| {
                    let b = b.as_message().unwrap();
                    BrokenRuleProto {
                        template: field(b, "template").as_u32().unwrap(),
                        rule: field(b, "rule").as_str().unwrap().to_owned(),
                    }
                })
                .collect();
            assert_eq!(broken, expected.broken);
            let groups = field(check, "groups");
            let groups: Vec<PatternGroupProto> = groups
                .as_list()
                .unwrap()
                .iter()
                .map(|g| {
                    let g = g.as_message().unwrap();
                    PatternGroupProto {
                        profile: field(g, "profile").as_u32().unwrap(),
                        registration: field(g, "registration").as_str().unwrap().to_owned(),
                        subregistration: g
                            .has_field_by_name("subregistration")
                            .then(|| field(g, "subregistration").as_str().unwrap().to_owned()),
                    }
                })
                .collect();
            assert_eq!(groups, expected.groups);
        }

        // And back: a message built by name from the proto's descriptor, read
        // with the Rust type.
        let bytes_value = |b: &[u8]| Value::Bytes(Bytes::copy_from_slice(b));
        let mut built = DynamicMessage::new(envelope_desc);
        built.set_field_by_name("schema_version", Value::U32(rust.schema_version));
        built.set_field_by_name("tenant", Value::String(rust.tenant.clone()));
        built.set_field_by_name("command_id", bytes_value(&rust.command_id));
        built.set_field_by_name("kind", Value::String(rust.kind.clone()));
        built.set_field_by_name("time_micros", Value::I64(rust.time_micros));
        let map = rust.trace_context.iter().map(|(k, v)| (MapKey::String(k.clone()), Value::String(v.clone())));
        built.set_field_by_name("trace_context", Value::Map(map.collect()));
        built.set_field_by_name("payload", bytes_value(&rust.payload));
        let seals = rust.sealed_statements.iter().map(|s| {
            let mut seal = DynamicMessage::new(sealed_desc.clone());
            seal.set_field_by_name("subjects", Value::List(s.subjects.iter().map(|b| bytes_value(b)).collect()));
            seal.set_field_by_name("shares", Value::List(s.shares.iter().map(|b| bytes_value(b)).collect()));
            seal.set_field_by_name("ciphertext", bytes_value(&s.ciphertext));
            seal.set_field_by_name("packing", Value::U32(s.packing));
            seal.set_field_by_name("salt", bytes_value(&s.salt));
            Value::Message(seal)
        });
        built.set_field_by_name("sealed_statements", Value::List(seals.collect()));
        let expected = rust.plan_checks.as_ref().unwrap();
        let mut plan = DynamicMessage::new(plan_desc);
        plan.set_field_by_name("iris", Value::List(expected.iris.iter().map(|i| Value::String(i.clone())).collect()));
        let checks = expected.checks.iter().map(|c| {
            let mut check = DynamicMessage::new(check_desc.clone());
            check.set_field_by_name("index", Value::U32(c.index));
            check.set_field_by_name("followed", Value::List(c.followed.iter().map(|&f| Value::U32(f)).collect()));
            let broken = c.broken.iter().map(|b| {
                let mut broken = DynamicMessage::new(broken_desc.clone());
                broken.set_field_by_name("template", Value::U32(b.template));
                broken.set_field_by_name("rule", Value::String(b.rule.clone()));
                Value::Message(broken)
            });
            check.set_field_by_name("broken", Value::List(broken.collect()));
            let groups = c.groups.iter().map(|g| {
                let mut group = DynamicMessage::new(group_desc.clone());
                group.set_field_by_name("profile", Value::U32(g.profile));
                group.set_field_by_name("registration", Value::String(g.registration.clone()));
                if let Some(sub) = &g.subregistration {
                    group.set_field_by_name("subregistration", Value::String(sub.clone()));
                }
                Value::Message(group)
            });
            check.set_field_by_name("groups", Value::List(groups.collect()));
            Value::Message(check)
        });
        plan.set_field_by_name("checks", Value::List(checks.collect()));
        built.set_field_by_name("plan_checks", Value::Message(plan));
        let decoded =
            Envelope::decode(built.encode_to_vec().as_slice()).expect("the Rust type decodes the proto's encoding");
        assert_eq!(decoded, rust);
    }
}
