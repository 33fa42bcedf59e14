//! The `format` parameter of GET statements: exact, ids, canonical.

use serde_json::{Map, Value};

use crate::ValidationError;

/// The statement output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Statements exactly as stored.
    Exact,
    /// Only identifying properties of Agents, Groups, Activities and Verbs.
    Ids,
    /// Language maps reduced to the single best language.
    Canonical,
}

impl Format {
    /// Parses "exact", "ids" or "canonical".
    pub fn parse(s: &str) -> Result<Format, ValidationError> {
        match s {
            "exact" => Ok(Format::Exact),
            "ids" => Ok(Format::Ids),
            "canonical" => Ok(Format::Canonical),
            other => Err(ValidationError::new(
                "format",
                format!("must be \"exact\", \"ids\" or \"canonical\", not {other:?}"),
            )),
        }
    }
}

/// Returns the statement in the requested format. `accept_languages` are language tags in
/// preference order (q-values, if any, are ignored).
pub fn format_statement(v: &Value, format: Format, accept_languages: &[String]) -> Value {
    let mut out = v.clone();
    match format {
        Format::Exact => {}
        Format::Ids => ids_body(&mut out),
        Format::Canonical => {
            let langs: Vec<String> = accept_languages
                .iter()
                .map(|l| l.split(';').next().unwrap_or("").trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            canonical_body(&mut out, &langs);
        }
    }
    out
}

// ---------- ids ----------

const IFI_KEYS: &[&str] = &["mbox", "mbox_sha1sum", "openid", "account"];

fn ids_agent(v: &mut Value) {
    let Some(map) = v.as_object() else { return };
    let mut out = Map::new();
    if let Some(t) = map.get("objectType") {
        out.insert("objectType".into(), t.clone());
    }
    let mut has_ifi = false;
    for k in IFI_KEYS {
        if let Some(x) = map.get(*k) {
            out.insert((*k).to_string(), x.clone());
            has_ifi = true;
        }
    }
    if !has_ifi {
        if let Some(Value::Array(members)) = map.get("member") {
            let mut members = members.clone();
            for m in &mut members {
                ids_agent(m);
            }
            out.insert("member".into(), Value::Array(members));
        }
    }
    *v = Value::Object(out);
}

fn ids_activity(v: &mut Value) {
    let Some(id) = v.get("id").cloned() else {
        return;
    };
    let mut out = Map::new();
    out.insert("id".into(), id);
    *v = Value::Object(out);
}

fn ids_verb(v: &mut Value) {
    let Some(id) = v.get("id").cloned() else {
        return;
    };
    let mut out = Map::new();
    out.insert("id".into(), id);
    *v = Value::Object(out);
}

fn ids_context(c: &mut Value) {
    let Some(map) = c.as_object_mut() else { return };
    for k in ["instructor", "team"] {
        if let Some(a) = map.get_mut(k) {
            ids_agent(a);
        }
    }
    if let Some(ca) = map.get_mut("contextActivities").and_then(Value::as_object_mut) {
        for (_, list) in ca.iter_mut() {
            match list {
                Value::Array(items) => items.iter_mut().for_each(ids_activity),
                Value::Object(_) => ids_activity(list),
                _ => {}
            }
        }
    }
    for (list, key) in [("contextAgents", "agent"), ("contextGroups", "group")] {
        if let Some(items) = map.get_mut(list).and_then(Value::as_array_mut) {
            for item in items {
                if let Some(a) = item.get_mut(key) {
                    ids_agent(a);
                }
            }
        }
    }
}

fn ids_object(o: &mut Value) {
    match o.get("objectType").and_then(Value::as_str) {
        None | Some("Activity") => ids_activity(o),
        Some("Agent") | Some("Group") => ids_agent(o),
        Some("SubStatement") => ids_body(o),
        _ => {}
    }
}

fn ids_body(v: &mut Value) {
    let Some(map) = v.as_object_mut() else { return };
    for k in ["actor", "authority"] {
        if let Some(a) = map.get_mut(k) {
            ids_agent(a);
        }
    }
    if let Some(verb) = map.get_mut("verb") {
        ids_verb(verb);
    }
    if let Some(o) = map.get_mut("object") {
        ids_object(o);
    }
    if let Some(c) = map.get_mut("context") {
        ids_context(c);
    }
}

// ---------- canonical ----------

fn primary(tag: &str) -> &str {
    tag.split('-').next().unwrap_or(tag)
}

/// Picks the key of the best language map entry for the preference list.
pub(crate) fn best_language<'a>(map: &'a Map<String, Value>, langs: &[String]) -> Option<&'a str> {
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    for want in langs {
        if want == "*" {
            return keys.first().copied();
        }
        if let Some(k) = keys.iter().find(|k| k.eq_ignore_ascii_case(want)) {
            return Some(k);
        }
        // A more specific or more general tag of the same language.
        let lw = want.to_ascii_lowercase();
        if let Some(k) = keys.iter().find(|k| {
            let lk = k.to_ascii_lowercase();
            lk.starts_with(&format!("{lw}-")) || lw.starts_with(&format!("{lk}-"))
        }) {
            return Some(k);
        }
        if let Some(k) = keys.iter().find(|k| primary(k).eq_ignore_ascii_case(primary(want))) {
            return Some(k);
        }
    }
    for fallback in ["en-US", "en"] {
        if let Some(k) = keys.iter().find(|k| k.eq_ignore_ascii_case(fallback)) {
            return Some(k);
        }
    }
    if let Some(k) = keys.iter().find(|k| primary(k).eq_ignore_ascii_case("en")) {
        return Some(k);
    }
    keys.first().copied()
}

fn reduce_map(v: &mut Value, langs: &[String]) {
    let Some(map) = v.as_object() else { return };
    let Some(best) = best_language(map, langs).map(str::to_string) else {
        return;
    };
    let mut out = Map::new();
    if let Some(val) = map.get(&best) {
        out.insert(best, val.clone());
    }
    *v = Value::Object(out);
}

fn canonical_activity(a: &mut Value, langs: &[String]) {
    let Some(def) = a.get_mut("definition").and_then(Value::as_object_mut) else {
        return;
    };
    for k in ["name", "description"] {
        if let Some(m) = def.get_mut(k) {
            reduce_map(m, langs);
        }
    }
    for list in ["choices", "scale", "source", "target", "steps"] {
        if let Some(items) = def.get_mut(list).and_then(Value::as_array_mut) {
            for c in items {
                if let Some(d) = c.get_mut("description") {
                    reduce_map(d, langs);
                }
            }
        }
    }
}

fn canonical_body(v: &mut Value, langs: &[String]) {
    let Some(map) = v.as_object_mut() else { return };
    if let Some(d) = map.get_mut("verb").and_then(|v| v.get_mut("display")) {
        reduce_map(d, langs);
    }
    if let Some(o) = map.get_mut("object") {
        match o.get("objectType").and_then(Value::as_str) {
            None | Some("Activity") => canonical_activity(o, langs),
            Some("SubStatement") => canonical_body(o, langs),
            _ => {}
        }
    }
    if let Some(ca) = map.get_mut("context").and_then(|c| c.get_mut("contextActivities")).and_then(Value::as_object_mut)
    {
        for (_, list) in ca.iter_mut() {
            match list {
                Value::Array(items) => items.iter_mut().for_each(|a| canonical_activity(a, langs)),
                Value::Object(_) => canonical_activity(list, langs),
                _ => {}
            }
        }
    }
    if let Some(atts) = map.get_mut("attachments").and_then(Value::as_array_mut) {
        for a in atts {
            for k in ["display", "description"] {
                if let Some(m) = a.get_mut(k) {
                    reduce_map(m, langs);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stmt() -> Value {
        json!({
            "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
            "actor": {"objectType": "Agent", "name": "A", "mbox": "mailto:a@example.com"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/attended", "display": {"en-GB": "attended", "en-US": "attended (US)", "de": "besucht"}},
            "object": {"objectType": "Activity", "id": "http://example.com/a", "definition": {
                "name": {"de-DE": "Treffen", "en-US": "Meeting"},
                "interactionType": "choice",
                "choices": [{"id": "x", "description": {"fr": "oui", "en": "yes"}}]
            }},
            "context": {
                "instructor": {"objectType": "Group", "name": "G", "member": [{"name": "M", "mbox": "mailto:m@example.com"}]},
                "contextActivities": {"parent": [{"id": "http://example.com/p", "definition": {"name": {"en": "P"}}}]}
            },
            "authority": {"objectType": "Agent", "name": "Auth", "account": {"homePage": "http://h.example", "name": "u"}},
            "attachments": [{"usageType": "http://example.com/u", "display": {"es": "uno", "en-US": "one"}, "contentType": "text/plain", "length": 1, "sha2": "ab"}]
        })
    }

    #[test]
    fn parse_formats() {
        assert_eq!(Format::parse("exact").unwrap(), Format::Exact);
        assert_eq!(Format::parse("ids").unwrap(), Format::Ids);
        assert_eq!(Format::parse("canonical").unwrap(), Format::Canonical);
        assert_eq!(Format::parse("EXACT").unwrap_err().path(), "format");
    }

    #[test]
    fn exact_is_identity() {
        assert_eq!(format_statement(&stmt(), Format::Exact, &[]), stmt());
    }

    #[test]
    fn ids_format() {
        let out = format_statement(&stmt(), Format::Ids, &[]);
        assert_eq!(out["actor"], json!({"objectType": "Agent", "mbox": "mailto:a@example.com"}));
        assert_eq!(out["verb"], json!({"id": "http://adlnet.gov/expapi/verbs/attended"}));
        assert_eq!(out["object"], json!({"id": "http://example.com/a"}));
        assert_eq!(
            out["context"]["instructor"],
            json!({"objectType": "Group", "member": [{"mbox": "mailto:m@example.com"}]})
        );
        assert_eq!(out["context"]["contextActivities"]["parent"], json!([{"id": "http://example.com/p"}]));
        assert_eq!(
            out["authority"],
            json!({"objectType": "Agent", "account": {"homePage": "http://h.example", "name": "u"}})
        );
        assert_eq!(out["id"], stmt()["id"]);
    }

    #[test]
    fn canonical_format() {
        let out = format_statement(&stmt(), Format::Canonical, &["de".to_string()]);
        assert_eq!(out["verb"]["display"], json!({"de": "besucht"}));
        assert_eq!(out["object"]["definition"]["name"], json!({"de-DE": "Treffen"}));
        assert_eq!(out["object"]["definition"]["choices"][0]["description"], json!({"en": "yes"}));
        assert_eq!(out["attachments"][0]["display"], json!({"en-US": "one"}));
        let out = format_statement(&stmt(), Format::Canonical, &["fr-CA;q=0.9".to_string()]);
        assert_eq!(out["object"]["definition"]["choices"][0]["description"], json!({"fr": "oui"}));
        assert_eq!(out["verb"]["display"], json!({"en-US": "attended (US)"}));
        let out = format_statement(&stmt(), Format::Canonical, &[]);
        assert_eq!(out["object"]["definition"]["name"], json!({"en-US": "Meeting"}));
        assert_eq!(out["attachments"][0]["display"], json!({"en-US": "one"}));
    }
}
