//! Contexts, context activities, and the 2.0 contextAgents / contextGroups.

use serde_json::Value;

use super::activity::validate_activity;
use super::agent::{validate_actor, validate_agent, validate_group};
use super::object::{validate_statement_ref, ObjectKind};
use super::primitives::{check_extensions, check_iri, check_language_tag, check_uuid};
use super::{as_array, as_object, as_str, check_properties, err, index, join, object_type, required, Ctx, VResult};

const CONTEXT_PROPERTIES_1: &[&str] = &[
    "registration",
    "instructor",
    "team",
    "contextActivities",
    "revision",
    "platform",
    "language",
    "statement",
    "extensions",
];
const CONTEXT_PROPERTIES_2: &[&str] = &[
    "registration",
    "instructor",
    "team",
    "contextActivities",
    "contextAgents",
    "contextGroups",
    "revision",
    "platform",
    "language",
    "statement",
    "extensions",
];

/// The four contextActivities keys.
pub(crate) const CONTEXT_ACTIVITY_KEYS: &[&str] = &["parent", "grouping", "category", "other"];

/// Validates a Context; `object_kind` is the kind of the statement's object.
pub(crate) fn validate_context(v: &Value, path: &str, ctx: Ctx, object_kind: ObjectKind) -> VResult {
    let map = as_object(v, path, "a Context")?;
    let allowed = if ctx.version.is_v2() { CONTEXT_PROPERTIES_2 } else { CONTEXT_PROPERTIES_1 };
    check_properties(map, path, allowed, "a Context")?;
    if let Some(r) = map.get("registration") {
        check_uuid(r, &join(path, "registration"))?;
    }
    if let Some(i) = map.get("instructor") {
        validate_actor(i, &join(path, "instructor"))?;
    }
    if let Some(t) = map.get("team") {
        validate_group(t, &join(path, "team"))?;
    }
    if let Some(ca) = map.get("contextActivities") {
        validate_context_activities(ca, &join(path, "contextActivities"))?;
    }
    for key in ["revision", "platform"] {
        if let Some(x) = map.get(key) {
            let p = join(path, key);
            as_str(x, &p)?;
            if object_kind != ObjectKind::Activity {
                return err(p, "must only be used when the statement's object is an Activity");
            }
        }
    }
    if let Some(l) = map.get("language") {
        check_language_tag(l, &join(path, "language"))?;
    }
    if let Some(s) = map.get("statement") {
        validate_statement_ref(s, &join(path, "statement"))?;
    }
    if let Some(e) = map.get("extensions") {
        check_extensions(e, &join(path, "extensions"))?;
    }
    if let Some(ca) = map.get("contextAgents") {
        validate_context_agents(ca, &join(path, "contextAgents"), false)?;
    }
    if let Some(cg) = map.get("contextGroups") {
        validate_context_agents(cg, &join(path, "contextGroups"), true)?;
    }
    Ok(())
}

fn validate_context_activities(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "a contextActivities object")?;
    check_properties(map, path, CONTEXT_ACTIVITY_KEYS, "contextActivities")?;
    for key in CONTEXT_ACTIVITY_KEYS {
        let Some(value) = map.get(*key) else { continue };
        let p = join(path, key);
        match value {
            Value::Array(items) => {
                for (i, a) in items.iter().enumerate() {
                    validate_activity(a, &index(&p, i))?;
                }
            }
            Value::Object(_) => validate_activity(value, &p)?,
            other => {
                return err(
                    p,
                    format!("must be an Activity or an array of Activities, not {}", super::type_name(other)),
                )
            }
        }
    }
    Ok(())
}

/// contextAgents (`groups == false`) or contextGroups (`groups == true`).
fn validate_context_agents(v: &Value, path: &str, groups: bool) -> VResult {
    let (object_type_value, member_key, what) =
        if groups { ("contextGroup", "group", "a contextGroup") } else { ("contextAgent", "agent", "a contextAgent") };
    let arr = as_array(v, path, &format!("an array of {object_type_value} objects"))?;
    for (i, item) in arr.iter().enumerate() {
        let p = index(path, i);
        let map = as_object(item, &p, what)?;
        match object_type(map, &p)? {
            Some(t) if t == object_type_value => {}
            Some(t) => return err(join(&p, "objectType"), format!("must be \"{object_type_value}\", not {t:?}")),
            None => return err(join(&p, "objectType"), format!("is required and must be \"{object_type_value}\"")),
        }
        check_properties(map, &p, &["objectType", member_key, "relevantTypes"], what)?;
        let member = required(map, &p, member_key)?;
        if groups {
            validate_group(member, &join(&p, member_key))?;
        } else {
            validate_agent(member, &join(&p, member_key))?;
        }
        if let Some(rt) = map.get("relevantTypes") {
            let rp = join(&p, "relevantTypes");
            let types = as_array(rt, &rp, "an array of IRIs")?;
            if types.is_empty() {
                return err(rp, "must contain at least one IRI");
            }
            for (j, t) in types.iter().enumerate() {
                check_iri(t, &index(&rp, j))?;
            }
        }
    }
    Ok(())
}
