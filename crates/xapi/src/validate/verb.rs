//! Verbs.

use serde_json::Value;

use super::primitives::{check_iri, check_language_map};
use super::{as_object, check_properties, join, required, VResult};

/// Validates a Verb: `id` IRI (required) and optional `display` language map.
pub(crate) fn validate_verb(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "a Verb")?;
    check_properties(map, path, &["id", "display"], "a Verb")?;
    check_iri(required(map, path, "id")?, &join(path, "id"))?;
    if let Some(display) = map.get("display") {
        check_language_map(display, &join(path, "display"))?;
    }
    Ok(())
}
