//! The core of the LRS: commands and events, the two ports (event log and
//! query tables), the write path (the gateway), the projections of the log
//! (the projector running them; the statement projection keeping the query
//! tables), the read path (the statement query planner), tenancy, erasure and
//! operations. It knows the xAPI spec through the `xapi` crate and neither
//! HTTP, Kafka, nor any storage engine.
//!
//! Layout: `ports/` (log, store, verdict), `tables/` (every table's keys and
//! rows), `write/`, `projection/`, `read/`, `tenancy/`, `ops/` (metrics,
//! health, traces), and `event.rs`, `documents.rs`, `handoff.rs` and `vault.rs` shared by
//! them. The modules are also re-exported by their short names
//! (`lrs_core::store`, `lrs_core::gateway`, …).

pub mod documents;
pub mod event;
pub mod handoff;
pub mod ops;
pub mod ports;
pub mod projection;
pub mod read;
mod serde_base64;
pub mod tables;
pub mod tenancy;
#[cfg(feature = "testsuite")]
pub mod testsuite;
pub mod vault;
pub mod write;

pub use ops::{health, metrics, trace};
pub use ports::{log, store, verdict};
pub use projection::replay;
pub use read::{analytics, quality, query};
pub use tables::keys;
pub use tenancy::{admin, auth, directory, forwarders, tenant, tenants};
pub use write::{attachments, gateway, plan};

pub use admin::{AdminError, AdminService, CredentialView};
pub use attachments::AttachmentPart;
pub use auth::{AuthError, Authenticator, Credential, CredentialStore, JwtVerifier, Principal, Scope};
pub use directory::{Directory, DirectoryEntry, DirectoryFeed, FollowedDirectory, StoreDirectory};
pub use documents::{Document, DocumentKind, DocumentScope, Precondition};
pub use event::{Command, Envelope};
pub use gateway::{Gateway, GatewayError};
pub use handoff::{HandedStatement, StatementHandoff};
pub use log::{EventLog, LogError, LogRecord};
pub use projection::Projector;
pub use query::{QueryError, QueryService, SerialisedPage, StatementQuery, StatementsPage};
pub use store::{QueryStore, StoreError, Table, WriteBatch};
pub use tenant::TenantId;
pub use tenants::Tenant;
pub use verdict::{Verdict, VerdictBus, VerdictSink};
