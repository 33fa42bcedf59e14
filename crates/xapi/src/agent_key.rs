//! Canonical keys of inverse functional identifiers.

use serde_json::Value;

use crate::validate::{validate_agent, validate_group};
use crate::ValidationError;

/// Canonical key of an agent's or identified group's inverse functional identifier:
/// `mbox:mailto:a@b`, `mbox_sha1sum:<hex>`, `openid:<uri>` or `account:<homePage>|<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentKey(String);

impl AgentKey {
    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AgentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of the first inverse functional identifier of an Agent or Group, if it has one.
///
/// The mbox_sha1sum is lower-cased; other identifiers are kept as written.
pub fn agent_key(agent: &Value) -> Option<AgentKey> {
    let map = agent.as_object()?;
    if let Some(m) = map.get("mbox").and_then(Value::as_str) {
        return Some(AgentKey(concat(&["mbox:", m])));
    }
    if let Some(s) = map.get("mbox_sha1sum").and_then(Value::as_str) {
        return Some(AgentKey(concat(&["mbox_sha1sum:", &s.to_ascii_lowercase()])));
    }
    if let Some(o) = map.get("openid").and_then(Value::as_str) {
        return Some(AgentKey(concat(&["openid:", o])));
    }
    if let Some(acc) = map.get("account").and_then(Value::as_object) {
        let home = acc.get("homePage").and_then(Value::as_str)?;
        let name = acc.get("name").and_then(Value::as_str)?;
        return Some(AgentKey(concat(&["account:", home, "|", name])));
    }
    None
}

/// The parts written one after the other, allocated once (a key is made
/// for every agent of every statement; `format!` cost ten times as much).
fn concat(parts: &[&str]) -> String {
    let mut text = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        text.push_str(part);
    }
    text
}

/// Parses the `agent` query parameter: the JSON of an Agent or identified Group.
pub fn parse_agent_param(json: &str) -> Result<AgentKey, ValidationError> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| ValidationError::new("agent", format!("is not valid JSON: {e}")))?;
    let Some(map) = v.as_object() else {
        return Err(ValidationError::new("agent", "must be a JSON object describing an Agent or identified Group"));
    };
    match map.get("objectType") {
        Some(Value::String(t)) if t == "Group" => {
            if !validate_group(&v, "agent")? {
                return Err(ValidationError::new(
                    "agent",
                    "an anonymous Group cannot be used here; an identified Group (with one inverse functional identifier) is required",
                ));
            }
        }
        _ => validate_agent(&v, "agent")?,
    }
    agent_key(&v).ok_or_else(|| ValidationError::new("agent", "must have exactly one inverse functional identifier"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys() {
        let cases = [
            (json!({"mbox": "mailto:a@b.c"}), Some("mbox:mailto:a@b.c")),
            (
                json!({"mbox_sha1sum": "CD9B00A5611F94EAA7B1661EDAB976068E364975"}),
                Some("mbox_sha1sum:cd9b00a5611f94eaa7b1661edab976068e364975"),
            ),
            (json!({"openid": "http://o.example/1"}), Some("openid:http://o.example/1")),
            (json!({"account": {"homePage": "http://h.example", "name": "n"}}), Some("account:http://h.example|n")),
            (json!({"objectType": "Group", "mbox": "mailto:g@b.c", "member": []}), Some("mbox:mailto:g@b.c")),
            (json!({"objectType": "Group", "member": []}), None),
            (json!("x"), None),
        ];
        for (v, want) in cases {
            assert_eq!(agent_key(&v).as_ref().map(AgentKey::as_str), want, "{v}");
        }
    }

    #[test]
    fn agent_param() {
        assert_eq!(parse_agent_param(r#"{"mbox":"mailto:a@b.c"}"#).unwrap().as_str(), "mbox:mailto:a@b.c");
        assert_eq!(
            parse_agent_param(r#"{"objectType":"Group","openid":"http://x.example/g"}"#).unwrap().as_str(),
            "openid:http://x.example/g"
        );
        for bad in [
            "not json",
            "[]",
            r#"{"name":"no ifi"}"#,
            r#"{"mbox":"mailto:a@b.c","openid":"http://x.example"}"#,
            r#"{"objectType":"Group","member":[{"mbox":"mailto:a@b.c"}]}"#,
            r#"{"mbox":"a@b.c"}"#,
            r#"{"objectType":"Activity","id":"http://x"}"#,
        ] {
            let e = parse_agent_param(bad).unwrap_err();
            assert!(e.path().starts_with("agent"), "{bad}: {e}");
        }
    }
}
