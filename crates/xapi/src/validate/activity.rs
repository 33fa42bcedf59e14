//! Activities and their definitions.

use std::collections::HashSet;

use serde_json::Value;

use super::primitives::{check_extensions, check_iri, check_irl, check_language_map};
use super::{as_array, as_object, as_str, check_properties, err, index, join, object_type, required, VResult};

/// The allowed `interactionType` values.
pub(crate) const INTERACTION_TYPES: &[&str] = &[
    "true-false",
    "choice",
    "fill-in",
    "long-fill-in",
    "matching",
    "performance",
    "sequencing",
    "likert",
    "numeric",
    "other",
];

/// The interaction component list properties.
pub(crate) const COMPONENT_LISTS: &[&str] = &["choices", "scale", "source", "target", "steps"];

const DEFINITION_PROPERTIES: &[&str] = &[
    "name",
    "description",
    "type",
    "moreInfo",
    "extensions",
    "interactionType",
    "correctResponsesPattern",
    "choices",
    "scale",
    "source",
    "target",
    "steps",
];

/// Component lists each interaction type supports.
fn supported_lists(interaction_type: &str) -> &'static [&'static str] {
    match interaction_type {
        "choice" | "sequencing" => &["choices"],
        "likert" => &["scale"],
        "matching" => &["source", "target"],
        "performance" => &["steps"],
        _ => &[],
    }
}

/// Validates an Activity (objectType optional "Activity", `id` IRI, optional `definition`).
pub(crate) fn validate_activity(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "an Activity")?;
    match object_type(map, path)? {
        None | Some("Activity") => {}
        Some(other) => return err(join(path, "objectType"), format!("must be \"Activity\", not {other:?}")),
    }
    check_properties(map, path, &["objectType", "id", "definition"], "an Activity")?;
    check_iri(required(map, path, "id")?, &join(path, "id"))?;
    if let Some(def) = map.get("definition") {
        validate_definition(def, &join(path, "definition"))?;
    }
    Ok(())
}

/// Validates an Activity Definition.
pub(crate) fn validate_definition(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "an Activity Definition")?;
    check_properties(map, path, DEFINITION_PROPERTIES, "an Activity Definition")?;
    for key in ["name", "description"] {
        if let Some(lm) = map.get(key) {
            check_language_map(lm, &join(path, key))?;
        }
    }
    if let Some(t) = map.get("type") {
        check_iri(t, &join(path, "type"))?;
    }
    if let Some(m) = map.get("moreInfo") {
        check_irl(m, &join(path, "moreInfo"))?;
    }
    if let Some(e) = map.get("extensions") {
        check_extensions(e, &join(path, "extensions"))?;
    }
    let interaction_type = match map.get("interactionType") {
        Some(it) => {
            let p = join(path, "interactionType");
            let s = as_str(it, &p)?;
            if !INTERACTION_TYPES.contains(&s) {
                return err(p, format!("must be one of {}, not {s:?}", INTERACTION_TYPES.join(", ")));
            }
            Some(s)
        }
        None => None,
    };
    if let Some(crp) = map.get("correctResponsesPattern") {
        let p = join(path, "correctResponsesPattern");
        if interaction_type.is_none() {
            return err(p, "requires \"interactionType\" to be present");
        }
        for (i, item) in as_array(crp, &p, "an array of strings")?.iter().enumerate() {
            as_str(item, &index(&p, i))?;
        }
    }
    for list in COMPONENT_LISTS {
        let Some(value) = map.get(*list) else {
            continue;
        };
        let p = join(path, list);
        let Some(it) = interaction_type else {
            return err(p, "requires \"interactionType\" to be present");
        };
        if !supported_lists(it).contains(list) {
            return err(p, format!("is not allowed for interactionType {it:?}"));
        }
        validate_components(value, &p)?;
    }
    Ok(())
}

fn validate_components(v: &Value, path: &str) -> VResult {
    let arr = as_array(v, path, "an array of interaction components")?;
    let mut seen = HashSet::new();
    for (i, c) in arr.iter().enumerate() {
        let p = index(path, i);
        let map = as_object(c, &p, "an interaction component")?;
        check_properties(map, &p, &["id", "description"], "an interaction component")?;
        let id = as_str(required(map, &p, "id")?, &join(&p, "id"))?;
        if !seen.insert(id) {
            return err(join(&p, "id"), format!("{id:?} is used by more than one interaction component of this list"));
        }
        if let Some(d) = map.get("description") {
            check_language_map(d, &join(&p, "description"))?;
        }
    }
    Ok(())
}
