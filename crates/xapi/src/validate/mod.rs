//! Statement validation against the Data sections of xAPI 1.0.3 and 2.0.

mod activity;
mod agent;
mod attachment;
mod context;
mod object;
pub(crate) mod primitives;
mod result;
mod verb;

use serde_json::{Map, Value};

use crate::{ValidationError, Version};

pub(crate) use agent::{validate_actor, validate_agent, validate_group};

/// The verb that makes a statement a voiding statement.
pub const VOIDED_VERB: &str = "http://adlnet.gov/expapi/verbs/voided";

/// Validation settings shared by every validator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub(crate) version: Version,
}

pub(crate) type VResult<T = ()> = Result<T, ValidationError>;

/// `path.key` (or just `key` at the root).
pub(crate) fn join(path: &str, key: &str) -> String {
    // Written out rather than with `format!`: every member of every
    // statement is validated under a path, and `format!` cost ten times as much.
    if path.is_empty() {
        return key.to_string();
    }
    let mut joined = String::with_capacity(path.len() + 1 + key.len());
    joined.push_str(path);
    joined.push('.');
    joined.push_str(key);
    joined
}

/// `path[i]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(i);
    let mut indexed = String::with_capacity(path.len() + 2 + digits.len());
    indexed.push_str(path);
    indexed.push('[');
    indexed.push_str(digits);
    indexed.push(']');
    indexed
}

/// `path["key"]`, for free-form keys such as language tags and extension IRIs.
pub(crate) fn keyed(path: &str, key: &str) -> String {
    let quoted = serde_json::to_string(key).expect("a string serialises");
    let mut keyed = String::with_capacity(path.len() + 2 + quoted.len());
    keyed.push_str(path);
    keyed.push('[');
    keyed.push_str(&quoted);
    keyed.push(']');
    keyed
}

pub(crate) fn err<T>(path: impl Into<String>, message: impl Into<String>) -> VResult<T> {
    Err(ValidationError::new(path, message))
}

/// A short name for the JSON type of a value, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value as a JSON object, or an error naming `what` it should be.
pub(crate) fn as_object<'a>(v: &'a Value, path: &str, what: &str) -> VResult<&'a Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        other => err(path, format!("must be {what} (a JSON object), not {}", type_name(other))),
    }
}

/// The value as a JSON array.
pub(crate) fn as_array<'a>(v: &'a Value, path: &str, what: &str) -> VResult<&'a Vec<Value>> {
    match v {
        Value::Array(a) => Ok(a),
        other => err(path, format!("must be {what} (a JSON array), not {}", type_name(other))),
    }
}

/// The value as a string.
pub(crate) fn as_str<'a>(v: &'a Value, path: &str) -> VResult<&'a str> {
    match v {
        Value::String(s) => Ok(s),
        other => err(path, format!("must be a string, not {}", type_name(other))),
    }
}

/// Rejects properties not in `allowed` and properties whose value is null.
pub(crate) fn check_properties(map: &Map<String, Value>, path: &str, allowed: &[&str], what: &str) -> VResult {
    for (k, v) in map {
        if !allowed.contains(&k.as_str()) {
            return err(join(path, k), format!("is not a property of {what}"));
        }
        if v.is_null() {
            return err(join(path, k), "must not be null");
        }
    }
    Ok(())
}

/// A required property.
pub(crate) fn required<'a>(map: &'a Map<String, Value>, path: &str, key: &str) -> VResult<&'a Value> {
    map.get(key).ok_or_else(|| ValidationError::new(join(path, key), "is required"))
}

/// The `objectType` string, if present (error if present and not a string).
pub(crate) fn object_type<'a>(map: &'a Map<String, Value>, path: &str) -> VResult<Option<&'a str>> {
    match map.get("objectType") {
        None => Ok(None),
        Some(v) => as_str(v, &join(path, "objectType")).map(Some),
    }
}

const STATEMENT_PROPERTIES: &[&str] = &[
    "id",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "stored",
    "authority",
    "version",
    "attachments",
];

/// Validates a statement against every MUST of the Data sections of the given xAPI version.
pub fn validate_statement(v: &Value, version: Version) -> Result<(), ValidationError> {
    let ctx = Ctx { version };
    let map = match v {
        Value::Object(m) => m,
        other => return err("", format!("a statement must be a JSON object, not {}", type_name(other))),
    };
    check_properties(map, "", STATEMENT_PROPERTIES, "a Statement")?;
    if let Some(id) = map.get("id") {
        primitives::check_uuid(id, "id")?;
    }
    validate_body(map, "", ctx)?;
    if let Some(stored) = map.get("stored") {
        primitives::check_timestamp(stored, "stored", ctx)?;
    }
    if let Some(authority) = map.get("authority") {
        agent::validate_authority(authority, "authority")?;
    }
    if let Some(version_value) = map.get("version") {
        check_statement_version(version_value, ctx)?;
    }
    // Voiding rule: the voided verb requires a StatementRef object.
    let verb_id = map.get("verb").and_then(|v| v.get("id")).and_then(Value::as_str);
    if verb_id == Some(VOIDED_VERB) {
        let object_type = map.get("object").and_then(|o| o.get("objectType")).and_then(Value::as_str);
        if object_type != Some("StatementRef") {
            return err(
                "object",
                format!("a voiding statement (verb \"{VOIDED_VERB}\") must have a StatementRef object"),
            );
        }
    }
    Ok(())
}

/// Validates the properties shared by Statements and SubStatements:
/// actor, verb, object, result, context, timestamp and attachments.
pub(crate) fn validate_body(map: &Map<String, Value>, path: &str, ctx: Ctx) -> VResult {
    let in_sub = !path.is_empty();
    let actor = required(map, path, "actor")?;
    validate_actor(actor, &join(path, "actor"))?;
    let verb = required(map, path, "verb")?;
    verb::validate_verb(verb, &join(path, "verb"))?;
    let object = required(map, path, "object")?;
    let object_kind = object::validate_object(object, &join(path, "object"), ctx, in_sub)?;
    if let Some(result) = map.get("result") {
        result::validate_result(result, &join(path, "result"))?;
    }
    if let Some(context) = map.get("context") {
        context::validate_context(context, &join(path, "context"), ctx, object_kind)?;
    }
    if let Some(ts) = map.get("timestamp") {
        primitives::check_timestamp(ts, &join(path, "timestamp"), ctx)?;
    }
    if let Some(att) = map.get("attachments") {
        attachment::validate_attachments(att, &join(path, "attachments"))?;
    }
    Ok(())
}

fn check_statement_version(v: &Value, ctx: Ctx) -> VResult {
    let s = as_str(v, "version")?;
    let ok_for = |major: &str| match s.strip_prefix(major) {
        Some("") => true,
        Some(rest) => rest.strip_prefix('.').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    };
    let ok = ok_for("1.0") || (ctx.version.is_v2() && ok_for("2.0"));
    if ok {
        Ok(())
    } else if ctx.version.is_v2() {
        err("version", format!("must be \"1.0\", \"1.0.x\", \"2.0\" or \"2.0.x\", not {s:?}"))
    } else {
        err("version", format!("must be \"1.0\" or \"1.0.x\", not {s:?}"))
    }
}

#[cfg(test)]
mod tests;
