//! Statement objects: Activity, Agent, Group, StatementRef and SubStatement.

use serde_json::Value;

use super::activity::validate_activity;
use super::agent::{validate_agent, validate_group, IFIS};
use super::primitives::check_uuid;
use super::{as_object, check_properties, err, join, object_type, required, validate_body, Ctx, VResult};

/// What kind of object a statement has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectKind {
    /// An Activity.
    Activity,
    /// An Agent.
    Agent,
    /// A Group.
    Group,
    /// A StatementRef.
    StatementRef,
    /// A SubStatement.
    SubStatement,
}

const SUB_STATEMENT_PROPERTIES: &[&str] =
    &["objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"];

/// Validates a statement object; `in_sub` is true inside a SubStatement.
pub(crate) fn validate_object(v: &Value, path: &str, ctx: Ctx, in_sub: bool) -> VResult<ObjectKind> {
    let map = as_object(v, path, "an Activity, Agent, Group, StatementRef or SubStatement")?;
    match object_type(map, path)? {
        None => {
            if !map.contains_key("id") && IFIS.iter().any(|k| map.contains_key(*k)) {
                return err(join(path, "objectType"), "is required when the object is an Agent or Group");
            }
            validate_activity(v, path)?;
            Ok(ObjectKind::Activity)
        }
        Some("Activity") => {
            validate_activity(v, path)?;
            Ok(ObjectKind::Activity)
        }
        Some("Agent") => {
            validate_agent(v, path)?;
            Ok(ObjectKind::Agent)
        }
        Some("Group") => {
            validate_group(v, path)?;
            Ok(ObjectKind::Group)
        }
        Some("StatementRef") => {
            validate_statement_ref(v, path)?;
            Ok(ObjectKind::StatementRef)
        }
        Some("SubStatement") => {
            if in_sub {
                return err(join(path, "objectType"), "a SubStatement must not contain another SubStatement");
            }
            for forbidden in ["id", "stored", "version", "authority"] {
                if map.contains_key(forbidden) {
                    return err(join(path, forbidden), "must not be present in a SubStatement");
                }
            }
            check_properties(map, path, SUB_STATEMENT_PROPERTIES, "a SubStatement")?;
            validate_body(map, path, ctx)?;
            Ok(ObjectKind::SubStatement)
        }
        Some(other) => err(
            join(path, "objectType"),
            format!(
                "must be one of \"Activity\", \"Agent\", \"Group\", \"StatementRef\" or \"SubStatement\", not {other:?}"
            ),
        ),
    }
}

/// Validates a StatementRef: objectType "StatementRef" (required) and a UUID `id`.
pub(crate) fn validate_statement_ref(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "a StatementRef")?;
    match object_type(map, path)? {
        Some("StatementRef") => {}
        None => return err(join(path, "objectType"), "is required and must be \"StatementRef\""),
        Some(other) => return err(join(path, "objectType"), format!("must be \"StatementRef\", not {other:?}")),
    }
    check_properties(map, path, &["objectType", "id"], "a StatementRef")?;
    check_uuid(required(map, path, "id")?, &join(path, "id"))
}
