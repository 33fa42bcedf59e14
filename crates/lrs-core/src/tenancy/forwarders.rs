//! Forwarders: where a tenant's statements are sent on to (another LRS, or
//! a webhook), which of them, and in batches of how many. Defined by the
//! operator and kept in the tenant's record; the forwarding engine
//! (crates/lrs-forward) delivers, and keeps its progress in
//! `tables::forwarding`.

use serde::{Deserialize, Serialize};

use crate::query::StatementQuery;

/// Most statements one delivery carries.
pub const MAX_BATCH: u32 = 500;

/// What the operator sees of a secret.
pub const REDACTED: &str = "(redacted)";

/// One forwarder of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarder {
    /// Its name, unique in the tenant: lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// Where statements go.
    pub target: ForwardTarget,
    /// Which statements go (all of them when empty).
    #[serde(default)]
    pub filter: ForwardFilter,
    /// Statements per delivery (1 to [`MAX_BATCH`]).
    pub batch_size: u32,
    /// Whether it starts with the statements stored before it was added
    /// (else with those stored after).
    #[serde(default)]
    pub from_start: bool,
    /// When it was added, microseconds since the epoch (the `stored` time it
    /// starts after unless `from_start`).
    pub created_micros: i64,
}

/// Where a forwarder sends statements.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ForwardTarget {
    /// Another LRS: a POST of each batch to `{endpoint}/statements`.
    Lrs {
        /// Its xAPI endpoint, e.g. `https://lrs.example.com/xapi`.
        endpoint: String,
        /// The key of the credential it gave this LRS (HTTP Basic).
        key: String,
        /// Its secret.
        secret: String,
        /// The `X-Experience-API-Version` sent (`1.0.3` or `2.0.0`).
        #[serde(default = "default_version")]
        version: String,
    },
    /// A URL that receives each batch as a JSON POST, signed with HMAC-SHA256.
    Webhook {
        /// The URL.
        url: String,
        /// The key of the signature.
        secret: String,
    },
}

fn default_version() -> String {
    "1.0.3".into()
}

/// Which statements a forwarder sends: every condition given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardFilter {
    /// The verb IRI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    /// The object activity IRI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
    /// The actor, as the xAPI `agent` parameter (an Agent's JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// A statement template of one of the tenant's profiles: statements
    /// that match its determining properties and follow its rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl ForwardFilter {
    /// The statement query of the filter's verb, activity and agent (the
    /// template is checked on each statement).
    pub fn query(&self) -> Result<StatementQuery, String> {
        let agent = match &self.agent {
            Some(agent) => Some(xapi::parse_agent_param(agent).map_err(|e| format!("filter.agent: {e}"))?.to_string()),
            None => None,
        };
        Ok(StatementQuery {
            agent,
            verb: self.verb.clone(),
            activity: self.activity.clone(),
            ascending: true,
            ..StatementQuery::default()
        })
    }
}

impl ForwardTarget {
    /// The same target with its secret hidden.
    pub fn redacted(&self) -> Self {
        let mut target = self.clone();
        match &mut target {
            ForwardTarget::Lrs { secret, .. } | ForwardTarget::Webhook { secret, .. } => *secret = REDACTED.into(),
        }
        target
    }

    /// Where it sends to (for status and logs: never a secret).
    pub fn address(&self) -> &str {
        match self {
            ForwardTarget::Lrs { endpoint, .. } => endpoint,
            ForwardTarget::Webhook { url, .. } => url,
        }
    }
}

impl Forwarder {
    /// Checks what the operator sent; the message says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(format!("name: 1 to 64 lowercase letters, digits, '-' or '_', not {:?}", self.name));
        }
        if !(1..=MAX_BATCH).contains(&self.batch_size) {
            return Err(format!("batch_size: 1 to {MAX_BATCH}, not {}", self.batch_size));
        }
        let (address, field) = match &self.target {
            ForwardTarget::Lrs { endpoint, key, secret, version } => {
                if key.is_empty() || secret.is_empty() {
                    return Err("target: an LRS target needs the key and secret of its credential".into());
                }
                if version != "1.0.3" && version != "2.0.0" {
                    return Err(format!("target.version: \"1.0.3\" or \"2.0.0\", not {version:?}"));
                }
                (endpoint, "target.endpoint")
            }
            ForwardTarget::Webhook { url, secret } => {
                if secret.len() < 16 {
                    return Err("target.secret: a webhook's signing secret has at least 16 characters".into());
                }
                (url, "target.url")
            }
        };
        check_http_url(address).map_err(|e| format!("{field}: {e}"))?;
        self.filter.query()?;
        for (field, iri) in [("filter.verb", &self.filter.verb), ("filter.activity", &self.filter.activity)] {
            if let Some(iri) = iri.as_deref().filter(|iri| !xapi::is_iri(iri)) {
                return Err(format!("{field}: an absolute IRI, not {iri:?}"));
            }
        }
        Ok(())
    }

    /// The forwarder as the operator sees it: its secret hidden.
    pub fn redacted(&self) -> Self {
        Self { target: self.target.redacted(), ..self.clone() }
    }
}

/// An absolute http or https URL with a host (parsed as WHATWG URLs are,
/// by the `url` crate that the HTTP client uses too).
fn check_http_url(text: &str) -> Result<(), String> {
    let parsed = url::Url::parse(text).map_err(|e| format!("an http:// or https:// URL, not {text:?} ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(format!("an http:// or https:// URL with a host, not {text:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarder(target: ForwardTarget) -> Forwarder {
        Forwarder {
            name: "lms-copy".into(),
            target,
            filter: ForwardFilter::default(),
            batch_size: 100,
            from_start: true,
            created_micros: 0,
        }
    }

    #[test]
    fn a_forwarder_says_what_is_wrong() {
        let lrs = ForwardTarget::Lrs {
            endpoint: "http://127.0.0.1:9/xapi".into(),
            key: "k".into(),
            secret: "s".into(),
            version: "1.0.3".into(),
        };
        assert_eq!(forwarder(lrs.clone()).check(), Ok(()));
        let bad_name = Forwarder { name: "Big Name".into(), ..forwarder(lrs.clone()) };
        assert!(bad_name.check().unwrap_err().starts_with("name:"));
        let big = Forwarder { batch_size: 501, ..forwarder(lrs.clone()) };
        assert!(big.check().unwrap_err().starts_with("batch_size:"));
        let ftp = ForwardTarget::Webhook { url: "ftp://x/y".into(), secret: "0123456789abcdef".into() };
        assert!(forwarder(ftp).check().unwrap_err().starts_with("target.url:"));
        let short = ForwardTarget::Webhook { url: "http://x/y".into(), secret: "short".into() };
        assert!(forwarder(short).check().unwrap_err().starts_with("target.secret:"));
        let mut filtered = forwarder(lrs);
        filtered.filter.agent = Some("{\"name\": \"no identifier\"}".into());
        assert!(filtered.check().unwrap_err().starts_with("filter.agent:"));
    }

    #[test]
    fn the_operator_never_sees_a_secret() {
        let hook = ForwardTarget::Webhook { url: "http://x/y".into(), secret: "0123456789abcdef".into() };
        let shown = serde_json::to_string(&forwarder(hook).redacted()).unwrap();
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains(REDACTED));
    }
}
