//! The columns of a csv or parquet export, and how a statement fills them.

use chrono::SecondsFormat;
use serde_json::Value;

/// One statement, flattened.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// `id`.
    pub id: Option<String>,
    /// `timestamp`, microseconds since the epoch.
    pub timestamp: Option<i64>,
    /// `stored`, microseconds since the epoch.
    pub stored: Option<i64>,
    /// The actor's identifier: `mailto:…` for an mbox, else `mbox_sha1sum:…`,
    /// `openid:…` or `account:homePage|name`.
    pub actor_ifi: Option<String>,
    /// The actor's `name`.
    pub actor_name: Option<String>,
    /// `verb.id`.
    pub verb_id: Option<String>,
    /// The verb's display in en-US (else en, else its first language).
    pub verb_display: Option<String>,
    /// The object's `id` (an activity's or a StatementRef's), or an agent
    /// object's identifier as in `actor_ifi`.
    pub object_id: Option<String>,
    /// The activity's `definition.name` (language as for the verb), or an
    /// agent object's `name`.
    pub object_name: Option<String>,
    /// `object.objectType` (`Activity` when absent).
    pub object_type: Option<String>,
    /// `result.success`.
    pub result_success: Option<bool>,
    /// `result.completion`.
    pub result_completion: Option<bool>,
    /// `result.score.scaled`.
    pub result_score_scaled: Option<f64>,
    /// `result.score.raw`.
    pub result_score_raw: Option<f64>,
    /// `result.duration` in seconds.
    pub result_duration_seconds: Option<f64>,
    /// `result.response`.
    pub result_response: Option<String>,
    /// `context.registration`.
    pub registration: Option<String>,
    /// `context.contextActivities.parent` ids, separated by spaces.
    pub parent_ids: Option<String>,
    /// `context.contextActivities.grouping` ids, separated by spaces.
    pub grouping_ids: Option<String>,
    /// `context.platform`.
    pub platform: Option<String>,
    /// The credential that sent it (the `authority` account's name).
    pub source: Option<String>,
}

/// What a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// A UTC time in microseconds (RFC 3339 in csv).
    Time,
    /// true or false.
    Bool,
    /// A 64-bit float.
    Double,
}

/// One cell of a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    /// Text.
    Text(Option<&'a str>),
    /// A time, microseconds.
    Time(Option<i64>),
    /// A boolean.
    Bool(Option<bool>),
    /// A float.
    Double(Option<f64>),
}

/// A column of the export: its name, kind and how a row fills it.
pub struct Column {
    /// Its name in the header and the schema.
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// Its cell of a row.
    pub cell: fn(&Row) -> Cell<'_>,
}

impl Column {
    /// Its cell of `row` as csv text (empty when absent).
    pub fn text(&self, row: &Row) -> String {
        match (self.cell)(row) {
            Cell::Text(text) => text.unwrap_or_default().to_owned(),
            Cell::Time(micros) => micros
                .and_then(chrono::DateTime::from_timestamp_micros)
                .map(|time| time.to_rfc3339_opts(SecondsFormat::Micros, true))
                .unwrap_or_default(),
            Cell::Bool(value) => value.map(|b| b.to_string()).unwrap_or_default(),
            Cell::Double(value) => value.map(|v| v.to_string()).unwrap_or_default(),
        }
    }
}

macro_rules! column {
    ($name:ident, Text) => {
        Column { name: stringify!($name), kind: Kind::Text, cell: |row| Cell::Text(row.$name.as_deref()) }
    };
    ($name:ident, $kind:ident) => {
        Column { name: stringify!($name), kind: Kind::$kind, cell: |row| Cell::$kind(row.$name) }
    };
}

/// The columns, in order.
pub const COLUMNS: [Column; 21] = [
    column!(id, Text),
    column!(timestamp, Time),
    column!(stored, Time),
    column!(actor_ifi, Text),
    column!(actor_name, Text),
    column!(verb_id, Text),
    column!(verb_display, Text),
    column!(object_id, Text),
    column!(object_name, Text),
    column!(object_type, Text),
    column!(result_success, Bool),
    column!(result_completion, Bool),
    column!(result_score_scaled, Double),
    column!(result_score_raw, Double),
    column!(result_duration_seconds, Double),
    column!(result_response, Text),
    column!(registration, Text),
    column!(parent_ids, Text),
    column!(grouping_ids, Text),
    column!(platform, Text),
    column!(source, Text),
];

fn text(value: &Value, path: &[&str]) -> Option<String> {
    xapi::str_at(value, path).map(str::to_owned)
}

fn time(value: &Value, path: &[&str]) -> Option<i64> {
    xapi::str_at(value, path).and_then(|t| xapi::parse_timestamp(t).ok()).map(|t| t.timestamp_micros())
}

/// A language map's text in en-US, else en, else its first language.
fn in_english(map: Option<&Value>) -> Option<String> {
    let map = map?.as_object()?;
    ["en-US", "en"]
        .iter()
        .find_map(|lang| map.get(*lang))
        .or_else(|| map.values().next())
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// An agent's identifier as exported.
fn ifi(agent: &Value) -> Option<String> {
    let key = xapi::agent_key(agent)?;
    let key = key.as_str();
    Some(key.strip_prefix("mbox:").unwrap_or(key).to_owned())
}

/// The ids of a context activities list (an array, or one activity).
fn ids(list: Option<&Value>) -> Option<String> {
    let ids: Vec<&str> = match list? {
        Value::Array(items) => items.iter().filter_map(|a| a.get("id")?.as_str()).collect(),
        one => one.get("id").and_then(Value::as_str).into_iter().collect(),
    };
    (!ids.is_empty()).then(|| ids.join(" "))
}

impl Row {
    /// The row of a stored statement.
    pub fn of(statement: &Value) -> Row {
        let object = statement.get("object").unwrap_or(&Value::Null);
        let object_type = object.get("objectType").and_then(Value::as_str).unwrap_or("Activity");
        let (object_id, object_name) = match object_type {
            "Agent" | "Group" => (ifi(object), text(object, &["name"])),
            "SubStatement" => (None, None),
            "StatementRef" => (text(object, &["id"]), None),
            _ => (text(object, &["id"]), in_english(xapi::at_path(object, &["definition", "name"]))),
        };
        let context_activities = xapi::at_path(statement, &["context", "contextActivities"]);
        let source = xapi::at_path(statement, &["authority", "account", "homePage"])
            .and_then(|_| text(statement, &["authority", "account", "name"]));
        Row {
            id: text(statement, &["id"]),
            timestamp: time(statement, &["timestamp"]),
            stored: time(statement, &["stored"]),
            actor_ifi: statement.get("actor").and_then(ifi),
            actor_name: text(statement, &["actor", "name"]),
            verb_id: text(statement, &["verb", "id"]),
            verb_display: in_english(xapi::at_path(statement, &["verb", "display"])),
            object_id,
            object_name,
            object_type: Some(object_type.to_owned()),
            result_success: xapi::at_path(statement, &["result", "success"]).and_then(Value::as_bool),
            result_completion: xapi::at_path(statement, &["result", "completion"]).and_then(Value::as_bool),
            result_score_scaled: xapi::at_path(statement, &["result", "score", "scaled"]).and_then(Value::as_f64),
            result_score_raw: xapi::at_path(statement, &["result", "score", "raw"]).and_then(Value::as_f64),
            result_duration_seconds: xapi::str_at(statement, &["result", "duration"]).and_then(xapi::duration_seconds),
            result_response: text(statement, &["result", "response"]),
            registration: text(statement, &["context", "registration"]),
            parent_ids: ids(context_activities.and_then(|c| c.get("parent"))),
            grouping_ids: ids(context_activities.and_then(|c| c.get("grouping"))),
            platform: text(statement, &["context", "platform"]),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_statement_fills_every_column() {
        let statement = json!({
            "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
            "timestamp": "2026-03-01T12:00:00.5+01:00",
            "stored": "2026-03-01T11:00:01.000Z",
            "actor": {"mbox": "mailto:ada@example.com", "name": "Ada"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/passed", "display": {"fr": "réussi", "en-US": "passed"}},
            "object": {"id": "http://example.com/quiz", "definition": {"name": {"fr": "Quiz"}}},
            "result": {"success": true, "completion": true, "score": {"scaled": 0.5, "raw": 5}, "duration": "PT1M30S",
                       "response": "a,b"},
            "context": {"registration": "e168d6a3-46b2-4233-82e7-66b73a179727", "platform": "VR",
                        "contextActivities": {"parent": [{"id": "http://example.com/c"}, {"id": "http://example.com/m"}],
                                              "grouping": {"id": "http://example.com/p"}}},
            "authority": {"account": {"homePage": "https://lrs.example.com", "name": "lms-key"}}
        });
        let row = Row::of(&statement);
        let csv: Vec<String> = COLUMNS.iter().map(|c| c.text(&row)).collect();
        assert_eq!(
            csv,
            [
                "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
                "2026-03-01T11:00:00.500000Z",
                "2026-03-01T11:00:01.000000Z",
                "mailto:ada@example.com",
                "Ada",
                "http://adlnet.gov/expapi/verbs/passed",
                "passed",
                "http://example.com/quiz",
                "Quiz",
                "Activity",
                "true",
                "true",
                "0.5",
                "5",
                "90",
                "a,b",
                "e168d6a3-46b2-4233-82e7-66b73a179727",
                "http://example.com/c http://example.com/m",
                "http://example.com/p",
                "VR",
                "lms-key",
            ]
        );
        let agent_object = json!({"actor": {"account": {"homePage": "https://x.example", "name": "7"}},
                                  "verb": {"id": "http://example.com/v"},
                                  "object": {"objectType": "Agent", "mbox": "mailto:b@example.com", "name": "B"}});
        let row = Row::of(&agent_object);
        assert_eq!(row.actor_ifi.as_deref(), Some("account:https://x.example|7"));
        assert_eq!((row.object_id.as_deref(), row.object_name.as_deref()), (Some("mailto:b@example.com"), Some("B")));
        assert_eq!((row.result_success, row.verb_display, row.source), (None, None, None));
    }
}
