//! The core of the LRS: commands and events, the verdict rules, the two ports
//! (event log and query tables), the projector, the gateway service and the
//! statement query planner. It knows the xAPI spec through the `xapi` crate
//! and neither HTTP, Kafka, nor any storage engine.

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod directory;
pub mod documents;
pub mod event;
pub mod gateway;
pub mod health;
pub mod keys;
pub mod log;
pub mod metrics;
pub mod projector;
pub mod query;
pub mod replay;
pub mod store;
pub mod tables;
pub mod tenant;
pub mod tenants;
#[cfg(feature = "testsuite")]
pub mod testsuite;
pub mod trace;
pub mod vault;
pub mod verdict;

pub use admin::{AdminError, AdminService, CredentialView};
pub use attachments::AttachmentPart;
pub use auth::{AuthError, Authenticator, Credential, CredentialStore, JwtVerifier, Principal, Scope};
pub use directory::{Directory, DirectoryEntry, DirectoryFeed, FollowedDirectory, StoreDirectory};
pub use documents::{Document, DocumentKind, DocumentScope, Precondition};
pub use event::{Command, Envelope};
pub use gateway::{Gateway, GatewayError};
pub use log::{EventLog, LogError, LogRecord};
pub use projector::Projector;
pub use query::{QueryError, QueryService, StatementQuery, StatementsPage};
pub use store::{QueryStore, StoreError, Table, WriteBatch};
pub use tenant::TenantId;
pub use tenants::Tenant;
pub use verdict::{Verdict, VerdictBus, VerdictSink};
