//! The validated statement wrapper and normalisation.

use serde_json::Value;

use crate::agent_key::{agent_key, AgentKey};
use crate::validate::primitives::parse_uuid;
use crate::validate::VOIDED_VERB;
use crate::{timestamp, validate_statement, ValidationError, Version};

/// A statement that passed validation (or was read back from storage).
#[derive(Clone, Debug)]
pub struct Statement {
    value: Value,
}

/// Normalises a valid statement before storage: contextActivities single objects become arrays;
/// for 2.0 the timestamp is converted to UTC (keeping its precision); does not set id/stored/authority/version.
pub fn normalize_statement(v: &mut Value, version: Version) {
    normalize_body(v, version);
    if let Some(obj) = v.get_mut("object") {
        if obj.get("objectType").and_then(Value::as_str) == Some("SubStatement") {
            normalize_body(obj, version);
        }
    }
}

fn normalize_body(v: &mut Value, version: Version) {
    if let Some(ca) = v.get_mut("context").and_then(|c| c.get_mut("contextActivities")).and_then(Value::as_object_mut) {
        for (_, list) in ca.iter_mut() {
            if list.is_object() {
                let single = list.take();
                *list = Value::Array(vec![single]);
            }
        }
    }
    if version.is_v2() {
        if let Some(ts) = v.get_mut("timestamp") {
            if let Some(utc) = ts.as_str().and_then(timestamp::to_utc_preserving_precision) {
                *ts = Value::String(utc);
            }
        }
    }
}

fn push_unique<T: PartialEq>(out: &mut Vec<T>, item: T) {
    if !out.contains(&item) {
        out.push(item);
    }
}

/// Adds the key of an Agent or Group, and the keys of a Group's members.
fn push_actor(out: &mut Vec<AgentKey>, v: Option<&Value>) {
    let Some(v) = v else { return };
    if let Some(k) = agent_key(v) {
        push_unique(out, k);
    }
    if let Some(members) = v.get("member").and_then(Value::as_array) {
        for m in members {
            if let Some(k) = agent_key(m) {
                push_unique(out, k);
            }
        }
    }
}

fn is_agent_or_group(v: &Value) -> bool {
    matches!(v.get("objectType").and_then(Value::as_str), Some("Agent") | Some("Group"))
}

fn is_activity(v: &Value) -> bool {
    matches!(v.get("objectType").and_then(Value::as_str), None | Some("Activity"))
        && v.get("id").is_some_and(Value::is_string)
}

/// Iterates over the activities of a contextActivities value (single object or array).
fn context_activity_ids(context: Option<&Value>, out: &mut Vec<String>) {
    let Some(ca) = context.and_then(|c| c.get("contextActivities")).and_then(Value::as_object) else {
        return;
    };
    for key in ["parent", "grouping", "category", "other"] {
        let items: Vec<&Value> = match ca.get(key) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(o @ Value::Object(_)) => vec![o],
            _ => continue,
        };
        for a in items {
            if let Some(id) = a.get("id").and_then(Value::as_str) {
                push_unique(out, id.to_string());
            }
        }
    }
}

fn related_context_agents(context: Option<&Value>, out: &mut Vec<AgentKey>) {
    let Some(c) = context else { return };
    push_actor(out, c.get("instructor"));
    push_actor(out, c.get("team"));
    for (list, key) in [("contextAgents", "agent"), ("contextGroups", "group")] {
        if let Some(items) = c.get(list).and_then(Value::as_array) {
            for item in items {
                push_actor(out, item.get(key));
            }
        }
    }
}

impl Statement {
    /// Validates the statement for `version` and keeps it.
    pub fn parse(v: Value, version: Version) -> Result<Statement, ValidationError> {
        validate_statement(&v, version)?;
        Ok(Statement { value: v })
    }

    /// Wraps a statement that was already validated (e.g. read back from storage).
    pub fn from_trusted(v: Value) -> Statement {
        Statement { value: v }
    }

    /// The statement id, if set and a valid UUID.
    pub fn id(&self) -> Option<uuid::Uuid> {
        self.value.get("id").and_then(Value::as_str).and_then(parse_uuid)
    }

    /// The verb IRI ("" if absent).
    pub fn verb_id(&self) -> &str {
        self.value.get("verb").and_then(|v| v.get("id")).and_then(Value::as_str).unwrap_or("")
    }

    /// The id of the statement this one voids, when the verb is "voided" and the object a StatementRef.
    pub fn voided_target(&self) -> Option<uuid::Uuid> {
        if self.verb_id() != VOIDED_VERB {
            return None;
        }
        let obj = self.value.get("object")?;
        if obj.get("objectType").and_then(Value::as_str) != Some("StatementRef") {
            return None;
        }
        obj.get("id").and_then(Value::as_str).and_then(parse_uuid)
    }

    /// The context registration, if any.
    pub fn registration(&self) -> Option<uuid::Uuid> {
        self.value.get("context").and_then(|c| c.get("registration")).and_then(Value::as_str).and_then(parse_uuid)
    }

    /// Agents for the `agent` filter: actor and object when Agent/Group; with `related` also
    /// authority, instructor, team, contextAgents, contextGroups and the same inside a SubStatement.
    /// Groups contribute their own key (when identified) and their members' keys. Deduplicated.
    pub fn agents(&self, related: bool) -> Vec<AgentKey> {
        agents_of(&self.value, related, related)
    }

    /// Activity ids for the `activity` filter: the object when an Activity; with `related` also
    /// every contextActivities id and the same inside a SubStatement. Deduplicated.
    pub fn activities(&self, related: bool) -> Vec<String> {
        let mut out = Vec::new();
        push_direct_activities(&self.value, &mut out);
        if related {
            push_related_activities(&self.value, &mut out);
        }
        out
    }

    /// `activities(true)` and how many of its first ids are `activities(false)`, in one walk.
    pub fn activities_direct_first(&self) -> (Vec<String>, usize) {
        let mut out = Vec::new();
        push_direct_activities(&self.value, &mut out);
        let direct = out.len();
        push_related_activities(&self.value, &mut out);
        (out, direct)
    }

    /// `agents(true)` and how many of its first keys are `agents(false)`, in one walk.
    pub fn agents_direct_first(&self) -> (Vec<AgentKey>, usize) {
        let mut out = Vec::new();
        push_direct_agents(&self.value, &mut out);
        let direct = out.len();
        push_related_agents(&self.value, true, &mut out);
        (out, direct)
    }

    /// The statement JSON.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The statement JSON, by value.
    pub fn into_value(self) -> Value {
        self.value
    }
}

/// The agent keys of a statement's JSON, as [`Statement::agents`] finds them,
/// with the authority's only when `authority` is true (and `related` is).
pub fn agents_of(v: &Value, related: bool, authority: bool) -> Vec<AgentKey> {
    let mut out = Vec::new();
    push_direct_agents(v, &mut out);
    if related {
        push_related_agents(v, authority, &mut out);
    }
    out
}

/// The actor, and the object when an Agent or Group.
fn push_direct_agents(v: &Value, out: &mut Vec<AgentKey>) {
    push_actor(out, v.get("actor"));
    if let Some(o) = v.get("object").filter(|o| is_agent_or_group(o)) {
        push_actor(out, Some(o));
    }
}

/// The authority (with `authority`), the context's agents, and the same inside a SubStatement.
fn push_related_agents(v: &Value, authority: bool, out: &mut Vec<AgentKey>) {
    if authority {
        push_actor(out, v.get("authority"));
    }
    related_context_agents(v.get("context"), out);
    if let Some(sub) = v.get("object").filter(|o| o.get("objectType").and_then(Value::as_str) == Some("SubStatement")) {
        push_actor(out, sub.get("actor"));
        if let Some(o) = sub.get("object").filter(|o| is_agent_or_group(o)) {
            push_actor(out, Some(o));
        }
        related_context_agents(sub.get("context"), out);
    }
}

/// The object's id when an Activity.
fn push_direct_activities(v: &Value, out: &mut Vec<String>) {
    if let Some(o) = v.get("object").filter(|o| is_activity(o)) {
        if let Some(id) = o.get("id").and_then(Value::as_str) {
            push_unique(out, id.to_string());
        }
    }
}

/// The context activities, and the same (with the object) inside a SubStatement.
fn push_related_activities(v: &Value, out: &mut Vec<String>) {
    context_activity_ids(v.get("context"), out);
    if let Some(sub) = v.get("object").filter(|o| o.get("objectType").and_then(Value::as_str) == Some("SubStatement")) {
        if let Some(o) = sub.get("object").filter(|o| is_activity(o)) {
            if let Some(id) = o.get("id").and_then(Value::as_str) {
                push_unique(out, id.to_string());
            }
        }
        context_activity_ids(sub.get("context"), out);
    }
}
