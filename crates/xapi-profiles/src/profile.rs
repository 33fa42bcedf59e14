//! Reading a profile document (structure §6–§9): what the validator needs
//! (versions, templates with their rules, patterns), refusing what it
//! cannot work with and listing as warnings the lapses it can live with
//! (many published profiles have some).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::path::ProfilePath;
use crate::pattern::{Pattern, PatternKind};
use crate::template::{ContextKind, Presence, Rule, Template};
use crate::ProfileError;

/// The context every profile names.
pub const PROFILE_CONTEXT: &str = "https://w3id.org/xapi/profiles/context";

/// A profile, compiled.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Its IRI (not a version's).
    pub id: String,
    /// Its versions' IRIs, newest first as the document lists them.
    pub versions: Vec<String>,
    /// Its statement templates.
    pub templates: Vec<Template>,
    /// Its patterns, by id.
    pub patterns: HashMap<String, Pattern>,
    /// What the document gets wrong that the validator can live with.
    pub warnings: Vec<String>,
}

impl Profile {
    /// Reads and compiles a profile document.
    pub fn parse(document: &Value) -> Result<Self, ProfileError> {
        let mut warnings = Vec::new();
        empty_values(document, "$", &mut warnings);
        let root = document.as_object().ok_or_else(|| invalid("a profile is a JSON object"))?;
        let id = iri(root, "id", "the profile")?;
        if text(root, "type") != Some("Profile") {
            return Err(invalid("the profile's type must be \"Profile\""));
        }
        match root.get("@context") {
            Some(Value::String(_)) => {}
            Some(Value::Array(contexts)) if contexts.iter().any(|c| c.as_str() == Some(PROFILE_CONTEXT)) => {}
            Some(Value::Array(_)) => return Err(invalid(format!("an array @context must contain {PROFILE_CONTEXT}"))),
            _ => return Err(invalid("the profile has no @context")),
        }
        for required in ["conformsTo", "prefLabel", "definition", "author"] {
            if !root.contains_key(required) {
                warnings.push(format!("the profile has no {required}"));
            }
        }
        let versions = versions(root, &id)?;
        let templates = list(root, "templates")?
            .iter()
            .enumerate()
            .map(|(n, template)| self::template(template, n, &mut warnings))
            .collect::<Result<Vec<_>, _>>()?;
        let mut patterns = HashMap::new();
        for (n, pattern) in list(root, "patterns")?.iter().enumerate() {
            let pattern = self::pattern(pattern, n, &mut warnings)?;
            if patterns.insert(pattern.id.clone(), pattern).is_some() {
                return Err(invalid(format!("pattern {n}: its id is used twice")));
            }
        }
        check_patterns(&patterns, &templates, &mut warnings)?;
        Ok(Self { id, versions, templates, patterns, warnings })
    }
}

fn invalid(message: impl Into<String>) -> ProfileError {
    ProfileError::Invalid(message.into())
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// A required IRI property.
fn iri(object: &Map<String, Value>, key: &str, what: &str) -> Result<String, ProfileError> {
    match text(object, key) {
        Some(value) if value.contains(':') => Ok(value.to_owned()),
        Some(value) => Err(invalid(format!("{what}'s {key} {value:?} is not an absolute IRI"))),
        None => Err(invalid(format!("{what} has no {key}"))),
    }
}

/// An optional array property (absent: empty).
fn list<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], ProfileError> {
    match object.get(key) {
        None => Ok(&[]),
        Some(Value::Array(values)) => Ok(values),
        Some(_) => Err(invalid(format!("{key} must be an array"))),
    }
}

/// An optional array of IRIs.
fn iris(object: &Map<String, Value>, key: &str, what: &str) -> Result<Vec<String>, ProfileError> {
    list(object, key)
        .map_err(|_| invalid(format!("{what}: {key} must be an array")))?
        .iter()
        .map(|value| value.as_str().map(str::to_owned).ok_or_else(|| invalid(format!("{what}: {key} holds a non-IRI"))))
        .collect()
}

/// Warns of each null, empty string, empty object or empty array (§4.0).
fn empty_values(value: &Value, at: &str, warnings: &mut Vec<String>) {
    let empty = match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if empty {
        warnings.push(format!("{at} is empty (profiles must not hold null, \"\", {{}} or [])"));
    }
    match value {
        Value::Array(values) => {
            values.iter().enumerate().for_each(|(n, v)| empty_values(v, &format!("{at}[{n}]"), warnings))
        }
        Value::Object(members) => members.iter().for_each(|(k, v)| empty_values(v, &format!("{at}.{k}"), warnings)),
        _ => {}
    }
}

fn versions(root: &Map<String, Value>, id: &str) -> Result<Vec<String>, ProfileError> {
    let versions = list(root, "versions")?;
    if versions.is_empty() {
        return Err(invalid("the profile has no versions"));
    }
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for (n, version) in versions.iter().enumerate() {
        let object = version.as_object().ok_or_else(|| invalid(format!("version {n} is not an object")))?;
        let version_id = iri(object, "id", &format!("version {n}"))?;
        if version_id == id {
            return Err(invalid(format!("version {n} has the profile's own id")));
        }
        if !seen.insert(version_id.clone()) {
            return Err(invalid(format!("version id {version_id} is used twice")));
        }
        ids.push(version_id);
    }
    Ok(ids)
}

fn template(value: &Value, n: usize, warnings: &mut Vec<String>) -> Result<Template, ProfileError> {
    let what = format!("template {n}");
    let object = value.as_object().ok_or_else(|| invalid(format!("{what} is not an object")))?;
    let id = iri(object, "id", &what)?;
    let what = format!("template {id}");
    if text(object, "type") != Some("StatementTemplate") {
        return Err(invalid(format!("{what}: type must be \"StatementTemplate\"")));
    }
    for documented in ["inScheme", "prefLabel", "definition"] {
        if !object.contains_key(documented) {
            warnings.push(format!("{what} has no {documented}"));
        }
    }
    let single = |key: &str| -> Result<Option<String>, ProfileError> {
        match object.get(key) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(invalid(format!("{what}: {key} must be an IRI"))),
        }
    };
    let verb = single("verb")?;
    let object_activity_type = single("objectActivityType")?;
    let mut context_types = Vec::new();
    for (kind, key, _) in ContextKind::ALL {
        let types = iris(object, key, &what)?;
        if !types.is_empty() {
            context_types.push((kind, types));
        }
    }
    let object_statement_ref = iris(object, "objectStatementRefTemplate", &what)?;
    if object_activity_type.is_some() && !object_statement_ref.is_empty() {
        return Err(invalid(format!("{what} has both objectActivityType and objectStatementRefTemplate")));
    }
    let rules = list(object, "rules")
        .map_err(|_| invalid(format!("{what}: rules must be an array")))?
        .iter()
        .enumerate()
        .map(|(r, rule)| self::rule(rule, &format!("{what}, rule {r}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Template {
        id,
        deprecated: object.get("deprecated").and_then(Value::as_bool).unwrap_or(false),
        verb,
        object_activity_type,
        context_types,
        attachment_usage_types: iris(object, "attachmentUsageType", &what)?,
        object_statement_ref,
        context_statement_ref: iris(object, "contextStatementRefTemplate", &what)?,
        rules,
    })
}

fn rule(value: &Value, what: &str) -> Result<Rule, ProfileError> {
    let object = value.as_object().ok_or_else(|| invalid(format!("{what} is not an object")))?;
    let location = text(object, "location").ok_or_else(|| invalid(format!("{what} has no location")))?;
    let location = ProfilePath::compile(location, &format!("{what}, location"))?;
    let selector = match object.get("selector") {
        None => None,
        Some(Value::String(selector)) => Some(ProfilePath::compile(selector, &format!("{what}, selector"))?),
        Some(_) => return Err(invalid(format!("{what}: selector must be a string"))),
    };
    let presence = match object.get("presence") {
        None => None,
        Some(Value::String(p)) if p == "included" => Some(Presence::Included),
        Some(Value::String(p)) if p == "excluded" => Some(Presence::Excluded),
        Some(Value::String(p)) if p == "recommended" => Some(Presence::Recommended),
        Some(other) => {
            return Err(invalid(format!("{what}: presence {other} is not included, excluded or recommended")))
        }
    };
    let values = |key: &str| -> Result<Option<Vec<Value>>, ProfileError> {
        match object.get(key) {
            None => Ok(None),
            Some(Value::Array(values)) => Ok(Some(values.clone())),
            Some(_) => Err(invalid(format!("{what}: {key} must be an array"))),
        }
    };
    let (any, all, none) = (values("any")?, values("all")?, values("none")?);
    if presence.is_none() && any.is_none() && all.is_none() && none.is_none() {
        return Err(invalid(format!("{what} has none of presence, any, all and none")));
    }
    Ok(Rule { location, selector, presence, any, all, none })
}

fn pattern(value: &Value, n: usize, warnings: &mut Vec<String>) -> Result<Pattern, ProfileError> {
    let what = format!("pattern {n}");
    let object = value.as_object().ok_or_else(|| invalid(format!("{what} is not an object")))?;
    let id = iri(object, "id", &what)?;
    let what = format!("pattern {id}");
    if text(object, "type") != Some("Pattern") {
        return Err(invalid(format!("{what}: type must be \"Pattern\"")));
    }
    let primary = object.get("primary").and_then(Value::as_bool).unwrap_or(false);
    if primary && !(object.contains_key("prefLabel") && object.contains_key("definition")) {
        warnings.push(format!("{what} is primary but has no prefLabel or definition"));
    }
    let keys = ["sequence", "alternates", "optional", "oneOrMore", "zeroOrMore"];
    let present: Vec<&str> = keys.into_iter().filter(|key| object.contains_key(*key)).collect();
    let [key] = present[..] else {
        return Err(invalid(format!("{what} must have exactly one of {}", keys.join(", "))));
    };
    let one = || -> Result<String, ProfileError> {
        // Written as a string, or (in the 2017 text) as an object with an id.
        match &object[key] {
            Value::String(id) => Ok(id.clone()),
            Value::Object(member) => {
                text(member, "id").map(str::to_owned).ok_or_else(|| invalid(format!("{what}: {key} has no id")))
            }
            _ => Err(invalid(format!("{what}: {key} must be an IRI"))),
        }
    };
    let kind = match key {
        "sequence" => PatternKind::Sequence(iris(object, key, &what)?),
        "alternates" => PatternKind::Alternates(iris(object, key, &what)?),
        "optional" => PatternKind::Optional(one()?),
        "oneOrMore" => PatternKind::OneOrMore(one()?),
        _ => PatternKind::ZeroOrMore(one()?),
    };
    match &kind {
        PatternKind::Alternates(members) if members.len() < 2 => {
            return Err(invalid(format!("{what}: alternates needs at least two members")))
        }
        PatternKind::Sequence(members) if members.is_empty() || (members.len() < 2 && !primary) => {
            return Err(invalid(format!("{what}: sequence needs at least two members")))
        }
        _ => {}
    }
    Ok(Pattern { id, primary, kind })
}

/// Patterns refer to known templates or patterns (of this profile),
/// contain no cycle, and put no optional or zeroOrMore directly in alternates.
fn check_patterns(
    patterns: &HashMap<String, Pattern>,
    templates: &[Template],
    warnings: &mut Vec<String>,
) -> Result<(), ProfileError> {
    let template_ids: HashSet<&str> = templates.iter().map(|t| t.id.as_str()).collect();
    for pattern in patterns.values() {
        for member in pattern.kind.members() {
            if !patterns.contains_key(member) && !template_ids.contains(member) {
                return Err(invalid(format!(
                    "pattern {} refers to {member}, neither a template nor a pattern of this profile",
                    pattern.id
                )));
            }
            if let (PatternKind::Alternates(_), Some(inner)) = (&pattern.kind, patterns.get(member)) {
                if matches!(inner.kind, PatternKind::Optional(_) | PatternKind::ZeroOrMore(_)) {
                    warnings.push(format!(
                        "pattern {} has the {} pattern {member} directly in alternates",
                        pattern.id,
                        inner.kind.name()
                    ));
                }
            }
        }
    }
    // Depth-first search for a pattern within itself.
    fn visit<'a>(
        id: &'a str,
        patterns: &'a HashMap<String, Pattern>,
        path: &mut Vec<&'a str>,
        done: &mut HashSet<&'a str>,
    ) -> Result<(), ProfileError> {
        if path.contains(&id) {
            return Err(invalid(format!("pattern {id} contains itself ({} → {id})", path.join(" → "))));
        }
        let Some(pattern) = patterns.get(id) else { return Ok(()) };
        if done.contains(id) {
            return Ok(());
        }
        path.push(id);
        for member in pattern.kind.members() {
            visit(member, patterns, path, done)?;
        }
        path.pop();
        done.insert(id);
        Ok(())
    }
    let mut done = HashSet::new();
    for id in patterns.keys() {
        visit(id, patterns, &mut Vec::new(), &mut done)?;
    }
    Ok(())
}
