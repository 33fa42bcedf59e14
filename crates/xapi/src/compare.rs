//! Statement comparison (xAPI "Statement Comparison Requirements").

use serde_json::{Map, Value};

use crate::timestamp::{self, Strictness};
use crate::validate::primitives::is_uuid;

/// True when two statements are the same for id-conflict purposes.
///
/// Ignores `authority`, `stored` and `version`; a single contextActivities object equals a
/// one-element array; timestamps compare as instants (millisecond precision); durations compare
/// to 0.01 s; language map keys, UUIDs and mbox_sha1sum compare case-insensitively; numbers
/// compare by value. Arrays compare in order.
pub fn statements_equivalent(a: &Value, b: &Value) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    canonicalise(&mut a, true);
    canonicalise(&mut b, true);
    json_eq(&a, &b)
}

fn canonicalise(v: &mut Value, top: bool) {
    let Some(map) = v.as_object_mut() else { return };
    if top {
        for k in ["authority", "stored", "version"] {
            map.remove(k);
        }
    }
    lowercase_uuid(map, "id");
    if let Some(ts) = map.get_mut("timestamp") {
        canonical_timestamp(ts);
    }
    if let Some(d) = map.get_mut("result").and_then(|r| r.get_mut("duration")) {
        if let Some(s) = d.as_str() {
            *d = Value::String(truncate_duration(s));
        }
    }
    if let Some(c) = map.get_mut("context").and_then(Value::as_object_mut) {
        lowercase_uuid(c, "registration");
        if let Some(s) = c.get_mut("statement").and_then(Value::as_object_mut) {
            lowercase_uuid(s, "id");
        }
        if let Some(ca) = c.get_mut("contextActivities").and_then(Value::as_object_mut) {
            for (_, list) in ca.iter_mut() {
                if list.is_object() {
                    let single = list.take();
                    *list = Value::Array(vec![single]);
                }
            }
        }
    }
    if let Some(o) = map.get_mut("object") {
        match o.get("objectType").and_then(Value::as_str) {
            Some("SubStatement") => canonicalise(o, false),
            Some("StatementRef") => {
                if let Some(m) = o.as_object_mut() {
                    lowercase_uuid(m, "id");
                }
            }
            _ => {}
        }
    }
    lowercase_language_maps(v);
}

fn lowercase_uuid(map: &mut Map<String, Value>, key: &str) {
    if let Some(Value::String(s)) = map.get_mut(key) {
        if is_uuid(s) {
            *s = s.to_ascii_lowercase();
        }
    }
}

fn canonical_timestamp(ts: &mut Value) {
    if let Some(s) = ts.as_str() {
        if let Ok(p) = timestamp::parse(s, Strictness::Lenient) {
            *ts = Value::from(p.instant.timestamp_millis());
        }
    }
}

/// Truncates the seconds fraction of a duration to two digits and drops trailing zeros.
fn truncate_duration(s: &str) -> String {
    let Some(body) = s.strip_suffix('S') else {
        return s.to_string();
    };
    let Some(dot) = body.rfind(['.', ',']) else {
        return s.to_string();
    };
    let frac = &body[dot + 1..];
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return s.to_string();
    }
    let kept = frac[..frac.len().min(2)].trim_end_matches('0');
    if kept.is_empty() {
        format!("{}S", &body[..dot])
    } else {
        format!("{}.{kept}S", &body[..dot])
    }
}

/// Lower-cases the keys of every language map and every mbox_sha1sum value.
fn lowercase_language_maps(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if k == "extensions" {
                    continue;
                }
                let is_lang_map = matches!(k.as_str(), "display" | "name" | "description")
                    && map.get(&k).is_some_and(Value::is_object);
                if let Some(child) = map.get_mut(&k) {
                    if is_lang_map {
                        if let Some(m) = child.as_object_mut() {
                            let entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
                            for (lk, lv) in entries {
                                m.insert(lk.to_ascii_lowercase(), lv);
                            }
                        }
                    } else if k == "mbox_sha1sum" {
                        if let Value::String(s) = child {
                            *s = s.to_ascii_lowercase();
                        }
                    } else {
                        lowercase_language_maps(child);
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(lowercase_language_maps),
        _ => {}
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    type Mutation = Box<dyn Fn(&mut Value)>;

    fn base() -> Value {
        json!({
            "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
            "actor": {"mbox": "mailto:a@example.com"},
            "verb": {"id": "http://example.com/v", "display": {"en-US": "did"}},
            "object": {"id": "http://example.com/a"},
            "result": {"duration": "PT1.12S", "score": {"raw": 1}},
            "context": {"contextActivities": {"parent": [{"id": "http://example.com/p"}]}},
            "timestamp": "2023-05-04T17:00:00.000Z"
        })
    }

    #[test]
    fn equivalences() {
        let a = base();
        assert!(statements_equivalent(&a, &a));
        let cases: Vec<(&str, Mutation, bool)> = vec![
            ("authority ignored", Box::new(|v| v["authority"] = json!({"mbox": "mailto:x@y.z"})), true),
            ("stored ignored", Box::new(|v| v["stored"] = json!("2024-01-01T00:00:00Z")), true),
            ("version ignored", Box::new(|v| v["version"] = json!("1.0.3")), true),
            ("timestamp instant", Box::new(|v| v["timestamp"] = json!("2023-05-04T12:00:00-05:00")), true),
            ("timestamp differs", Box::new(|v| v["timestamp"] = json!("2023-05-04T12:00:01-05:00")), false),
            (
                "single context activity",
                Box::new(|v| v["context"]["contextActivities"]["parent"] = json!({"id": "http://example.com/p"})),
                true,
            ),
            ("uppercase id", Box::new(|v| v["id"] = json!("6690E6C9-3EF0-4ED3-8B37-7F3964730BEE")), true),
            ("language key case", Box::new(|v| v["verb"]["display"] = json!({"en-us": "did"})), true),
            ("duration precision", Box::new(|v| v["result"]["duration"] = json!("PT1.1234S")), true),
            ("duration differs", Box::new(|v| v["result"]["duration"] = json!("PT1.13S")), false),
            ("number repr", Box::new(|v| v["result"]["score"]["raw"] = json!(1.0)), true),
            ("verb differs", Box::new(|v| v["verb"]["id"] = json!("http://example.com/w")), false),
            ("extra property", Box::new(|v| v["result"]["success"] = json!(true)), false),
            ("id differs", Box::new(|v| v["id"] = json!("6690e6c9-3ef0-4ed3-8b37-7f3964730bef")), false),
        ];
        for (name, f, want) in cases {
            let mut b = base();
            f(&mut b);
            assert_eq!(statements_equivalent(&a, &b), want, "{name}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(truncate_duration("P1DT12H36M0.12567S"), "P1DT12H36M0.12S");
        assert_eq!(truncate_duration("PT1.10S"), "PT1.1S");
        assert_eq!(truncate_duration("PT1.00S"), "PT1S");
        assert_eq!(truncate_duration("P1D"), "P1D");
    }
}
