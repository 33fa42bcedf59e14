//! The xAPI 1.0.3 and 2.0 (IEEE 9274.1.1) statement model: validation of every MUST of the
//! Data sections, normalisation, output formats, statement comparison and helper views used
//! by the LRS. No I/O.

mod agent_key;
mod compare;
mod error;
mod format;
mod json;
mod path;
mod signature;
mod statement;
mod timestamp;
mod validate;
mod version;

pub use agent_key::{agent_key, parse_agent_param, AgentKey};
pub use compare::statements_equivalent;
pub use error::ValidationError;
pub use format::{format_statement, Format};
pub use json::parse_json;
pub use path::{at_path, str_at};
pub use signature::{check_statement_signature, SIGNATURE_USAGE_TYPE};
pub use statement::{agents_of, normalize_statement, Statement};
pub use timestamp::{format_timestamp, parse_timestamp};
pub use validate::primitives::{duration_seconds, is_iri};
pub use validate::{validate_statement, VOIDED_VERB};
pub use version::Version;
