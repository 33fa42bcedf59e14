//! Documents beside the statements: the State, Activity Profile and Agent
//! Profile resources, with their concurrency rules (ETags, If-Match,
//! If-None-Match) and JSON merge for POST.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use uuid::Uuid;

use crate::keys::KeyBuilder;
use crate::tenant::TenantId;

/// Which document resource a document belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// /activities/state: by activity, agent and optional registration.
    State,
    /// /activities/profile: by activity.
    ActivityProfile,
    /// /agents/profile: by agent.
    AgentProfile,
}

impl DocumentKind {
    fn tag(self) -> &'static str {
        match self {
            DocumentKind::State => "state",
            DocumentKind::ActivityProfile => "activity_profile",
            DocumentKind::AgentProfile => "agent_profile",
        }
    }
}

/// What a set of documents hangs off: an activity, an agent (its IFI key) and a registration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentScope {
    /// The activity id, for state and activity profiles.
    pub activity_id: Option<String>,
    /// The agent's IFI key, for state and agent profiles.
    pub agent: Option<String>,
    /// The registration, for state.
    pub registration: Option<Uuid>,
}

impl DocumentScope {
    /// Partition key of this scope's documents.
    pub fn partition(&self, tenant: &TenantId, kind: DocumentKind) -> Vec<u8> {
        let registration = self.registration.map(|r| r.to_string()).unwrap_or_default();
        KeyBuilder::new()
            .str(tenant.as_str())
            .str(kind.tag())
            .str(self.activity_id.as_deref().unwrap_or(""))
            .str(self.agent.as_deref().unwrap_or(""))
            .str(&registration)
            .build()
    }
}

impl DocumentScope {
    /// The agent key of a document partition of `tenant`, if it has one.
    pub fn agent_of_partition(partition: &[u8], tenant: &TenantId) -> Option<String> {
        let parts = crate::keys::decode_strings(partition)?;
        let [owner, _kind, _activity, agent, _registration] = parts.as_slice() else { return None };
        (owner == tenant.as_str() && !agent.is_empty()).then(|| agent.clone())
    }
}

/// Clustering key of a document: its id.
pub fn document_clustering(id: &str) -> Vec<u8> {
    KeyBuilder::new().str(id).build()
}

/// The request's If-Match / If-None-Match headers, and whether the resource
/// demands one of them before overwriting an existing document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Precondition {
    /// ETags of If-Match (`*` matches any existing document).
    pub if_match: Option<Vec<String>>,
    /// ETags of If-None-Match (`*` matches any existing document).
    pub if_none_match: Option<Vec<String>>,
    /// A PUT over an existing document without either header is a conflict.
    pub required: bool,
    /// A PUT of a new document without either header is invalid too (the
    /// xAPI 1.0.x rule for profiles).
    pub required_to_create: bool,
}

/// How a precondition check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreconditionOutcome {
    /// Go ahead.
    Proceed,
    /// 412: a header does not match.
    Failed(String),
    /// 409: the document exists and the request named no precondition.
    Conflict(String),
    /// 400: the document does not exist and the request named no precondition.
    Missing(String),
}

impl Precondition {
    /// Parses an If-Match / If-None-Match header value into ETags.
    pub fn parse_header(value: &str) -> Vec<String> {
        value
            .split(',')
            .map(|tag| tag.trim().trim_start_matches("W/").trim_matches('"').to_owned())
            .filter(|tag| !tag.is_empty())
            .collect()
    }

    /// Checks the precondition against the current document's ETag, if any.
    pub fn check(&self, current: Option<&str>) -> PreconditionOutcome {
        let matches = |tags: &[String]| current.is_some_and(|etag| tags.iter().any(|t| t == "*" || t == etag));
        if let Some(tags) = &self.if_match {
            if !matches(tags) {
                return PreconditionOutcome::Failed("If-Match does not match the document's current ETag".into());
            }
        }
        if let Some(tags) = &self.if_none_match {
            if matches(tags) {
                return PreconditionOutcome::Failed("If-None-Match matches the document's current ETag".into());
            }
        }
        let no_header = self.if_match.is_none() && self.if_none_match.is_none();
        if self.required && no_header && current.is_some() {
            return PreconditionOutcome::Conflict(
                "the document exists: send If-Match with its ETag to overwrite it, or If-None-Match: * to create only"
                    .into(),
            );
        }
        if self.required_to_create && no_header && current.is_none() {
            return PreconditionOutcome::Missing(
                "a PUT of a profile needs If-None-Match: * to create it, or If-Match with the ETag to replace it"
                    .into(),
            );
        }
        PreconditionOutcome::Proceed
    }
}

/// A stored document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Its media type.
    pub content_type: String,
    /// Its bytes (base64 in the stored row).
    #[serde(with = "crate::serde_base64::bytes")]
    pub content: Vec<u8>,
    /// Hex SHA-1 of the content, the ETag without quotes.
    pub etag: String,
    /// When it was last written, microseconds since the epoch.
    pub updated_micros: u64,
}

impl Document {
    /// A document with its ETag computed.
    pub fn new(content_type: String, content: Vec<u8>, updated_micros: u64) -> Self {
        let etag = hex::encode(Sha1::digest(&content));
        Self { content_type, content, etag, updated_micros }
    }

    /// True when its media type is application/json.
    pub fn is_json(&self) -> bool {
        is_json_media_type(&self.content_type)
    }

    /// Encodes the row.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("documents serialise")
    }

    /// Decodes a row.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// True for `application/json` with or without parameters.
pub fn is_json_media_type(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json")
}

/// Merges a posted JSON object into an existing one (top-level properties of
/// the posted document win), or says why it cannot.
pub fn merge_json(existing: &Document, posted: &[u8]) -> Result<Vec<u8>, String> {
    if !existing.is_json() {
        return Err("the stored document is not application/json, so a POST cannot merge into it".into());
    }
    let Ok(serde_json::Value::Object(mut base)) = serde_json::from_slice(&existing.content) else {
        return Err("the stored document is not a JSON object, so a POST cannot merge into it".into());
    };
    let Ok(serde_json::Value::Object(update)) = serde_json::from_slice(posted) else {
        return Err("the posted document is not a JSON object".into());
    };
    base.extend(update);
    Ok(serde_json::to_vec(&serde_json::Value::Object(base)).expect("json"))
}

/// Encodes document bytes for a command payload.
pub fn encode_content(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes document bytes of a command payload.
pub fn decode_content(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(content: &str) -> Document {
        Document::new("application/json".into(), content.as_bytes().to_vec(), 1)
    }

    #[test]
    fn etag_is_the_hex_sha1_of_the_content() {
        assert_eq!(doc("").etag, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn preconditions_follow_rfc_7232() {
        let current = Some("abc");
        let if_match = |tags: &[&str]| Precondition {
            if_match: Some(tags.iter().map(|t| t.to_string()).collect()),
            ..Default::default()
        };
        assert_eq!(if_match(&["abc"]).check(current), PreconditionOutcome::Proceed);
        assert_eq!(if_match(&["*"]).check(current), PreconditionOutcome::Proceed);
        assert!(matches!(if_match(&["zzz"]).check(current), PreconditionOutcome::Failed(_)));
        assert!(matches!(if_match(&["*"]).check(None), PreconditionOutcome::Failed(_)));
        let none_match = Precondition { if_none_match: Some(vec!["*".into()]), ..Default::default() };
        assert!(matches!(none_match.check(current), PreconditionOutcome::Failed(_)));
        assert_eq!(none_match.check(None), PreconditionOutcome::Proceed);
        let required = Precondition { required: true, ..Default::default() };
        assert!(matches!(required.check(current), PreconditionOutcome::Conflict(_)));
        assert_eq!(required.check(None), PreconditionOutcome::Proceed);
        let strict = Precondition { required: true, required_to_create: true, ..Default::default() };
        assert!(matches!(strict.check(None), PreconditionOutcome::Missing(_)));
        assert_eq!(Precondition::parse_header("\"a\", W/\"b\""), ["a", "b"]);
    }

    #[test]
    fn merge_overwrites_top_level_properties_only_between_json_objects() {
        let merged = merge_json(&doc(r#"{"a":1,"b":{"x":1}}"#), br#"{"b":{"y":2},"c":3}"#).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&merged).unwrap(),
            serde_json::json!({"a":1,"b":{"y":2},"c":3})
        );
        assert!(merge_json(&doc("[1]"), br#"{"a":1}"#).is_err());
        assert!(merge_json(&doc("{}"), b"not json").is_err());
        let text = Document::new("text/plain".into(), b"{}".to_vec(), 1);
        assert!(merge_json(&text, b"{}").is_err());
    }
}
