//! The export API as a BI tool uses it: the test sends statements of many
//! shapes from two credentials, voids a few, then reads the export back in
//! each format (ndjson line by line, csv with a CSV reader, parquet with the
//! parquet crate's reader) and compares every column with what it sent and
//! with what the xAPI API answers; filters and `since` for incremental
//! loads; `lrs export`; the `export` scope (not granted by `all/read`); and
//! the audit trail's record of each export with its row count.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::deployment::{enc, Auth, Deployment};
use common::Lrs;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use reqwest::Method;
use serde_json::{json, Value};

const OPERATOR: &str = "operator-token-for-export";
const VERBS: [&str; 3] =
    ["http://adlnet.gov/expapi/verbs/completed", "http://example.com/verbs/watched", "http://example.com/verbs/asked"];
const COLUMNS: [&str; 21] = [
    "id",
    "timestamp",
    "stored",
    "actor_ifi",
    "actor_name",
    "verb_id",
    "verb_display",
    "object_id",
    "object_name",
    "object_type",
    "result_success",
    "result_completion",
    "result_score_scaled",
    "result_score_raw",
    "result_duration_seconds",
    "result_response",
    "registration",
    "parent_ids",
    "grouping_ids",
    "platform",
    "source",
];

/// A cell as the test expects it.
#[derive(Clone, Debug, PartialEq)]
enum Want {
    Text(String),
    Time(i64),
    Bool(bool),
    Double(f64),
    Null,
}

impl Want {
    fn csv(&self) -> String {
        match self {
            Want::Text(text) => text.clone(),
            Want::Time(micros) => {
                chrono::DateTime::from_timestamp_micros(*micros).unwrap().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
            }
            Want::Bool(b) => b.to_string(),
            Want::Double(v) => v.to_string(),
            Want::Null => String::new(),
        }
    }
}

fn text(value: Option<&str>) -> Want {
    value.map_or(Want::Null, |v| Want::Text(v.to_owned()))
}

/// Statement `n` as sent, and the row the test expects for it (but for
/// `stored`, which the LRS sets).
fn statement(n: u32, source: &str) -> (Value, Vec<Want>) {
    let id = uuid::Uuid::new_v4().to_string();
    let verb = VERBS[(n % 3) as usize];
    // Timestamps in several offsets, with milliseconds.
    let hour = n % 24;
    let timestamp = format!("2026-02-{:02}T{hour:02}:15:30.{:03}+02:00", 1 + n % 27, n % 1000);
    let micros = chrono::DateTime::parse_from_rfc3339(&timestamp).unwrap().timestamp_micros();
    let (actor, ifi) = if n.is_multiple_of(2) {
        (
            json!({"mbox": format!("mailto:learner{}@example.com", n % 17), "name": format!("Learner {}", n % 17)}),
            format!("mailto:learner{}@example.com", n % 17),
        )
    } else {
        (
            json!({"account": {"homePage": "https://sso.example.com", "name": format!("u{}", n % 13)}}),
            format!("account:https://sso.example.com|u{}", n % 13),
        )
    };
    let actor_name = (n.is_multiple_of(2)).then(|| format!("Learner {}", n % 17));
    let display = match n % 3 {
        0 => Some(json!({"fr-FR": "terminé", "en-US": "completed"})),
        1 => Some(json!({"de-DE": "gesehen"})),
        _ => None,
    };
    let verb_display = match n % 3 {
        0 => Some("completed"),
        1 => Some("gesehen"),
        _ => None,
    };
    let mut verb_json = json!({"id": verb});
    if let Some(display) = display {
        verb_json["display"] = display;
    }
    let (object, object_id, object_name, object_type) = match n % 5 {
        0 => (
            json!({"objectType": "Agent", "mbox": format!("mailto:coach{}@example.com", n % 3), "name": "Coach"}),
            Some(format!("mailto:coach{}@example.com", n % 3)),
            Some("Coach".to_owned()),
            "Agent",
        ),
        1 => (
            json!({"id": format!("http://example.com/activity/{}", n % 40)}),
            Some(format!("http://example.com/activity/{}", n % 40)),
            None,
            "Activity",
        ),
        _ => (
            json!({"objectType": "Activity", "id": format!("http://example.com/activity/{}", n % 40),
                   "definition": {"name": {"en-US": format!("Activity {}", n % 40), "es": "Actividad"}}}),
            Some(format!("http://example.com/activity/{}", n % 40)),
            Some(format!("Activity {}", n % 40)),
            "Activity",
        ),
    };
    let mut body = json!({"id": id, "actor": actor, "verb": verb_json, "object": object, "timestamp": timestamp});
    let mut result = serde_json::Map::new();
    let success = (n % 4 != 3).then_some(n.is_multiple_of(4));
    let completion = (n.is_multiple_of(6)).then_some(true);
    let scaled = (n.is_multiple_of(3)).then(|| f64::from(n % 101) / 100.0);
    let raw = (n.is_multiple_of(3)).then(|| f64::from(n % 101));
    let duration =
        (n % 4 == 1).then(|| (format!("PT{}M{}.5S", n % 60, n % 7), f64::from(n % 60) * 60.0 + f64::from(n % 7) + 0.5));
    let response = (n % 8 == 2).then(|| format!("choice-{},\"quoted\"\nline", n % 4));
    if let Some(success) = success {
        result.insert("success".into(), json!(success));
    }
    if let Some(completion) = completion {
        result.insert("completion".into(), json!(completion));
    }
    if let Some(scaled) = scaled {
        result.insert("score".into(), json!({"scaled": scaled, "raw": raw, "min": 0, "max": 100}));
    }
    if let Some((text, _)) = &duration {
        result.insert("duration".into(), json!(text));
    }
    if let Some(response) = &response {
        result.insert("response".into(), json!(response));
    }
    if !result.is_empty() {
        body["result"] = Value::Object(result);
    }
    let registration = (n % 3 != 2).then(|| format!("{:08x}-0000-4000-8000-{:012x}", n % 9, n % 9));
    let parents: Vec<String> = (0..(n % 3)).map(|k| format!("http://example.com/course/{}", (n + k) % 4)).collect();
    let grouping = (n % 5 == 3).then(|| "http://example.com/program".to_owned());
    let platform = (!n.is_multiple_of(4)).then(|| ["LMS", "VR", "mobile"][(n % 3) as usize]);
    let mut context = json!({});
    if let Some(registration) = &registration {
        context["registration"] = json!(registration);
    }
    if let Some(platform) = platform {
        context["platform"] = json!(platform);
    }
    if !parents.is_empty() || grouping.is_some() {
        let mut activities = json!({});
        if !parents.is_empty() {
            activities["parent"] = Value::Array(parents.iter().map(|p| json!({"id": p})).collect());
        }
        if let Some(grouping) = &grouping {
            activities["grouping"] = json!([{"id": grouping}]);
        }
        context["contextActivities"] = activities;
    }
    if context != json!({}) && object_type != "Agent" {
        body["context"] = context;
    }
    let context_kept = object_type != "Agent";
    let want = vec![
        Want::Text(id),
        Want::Time(micros),
        Want::Null, // stored: set by the LRS, filled in from its answer
        Want::Text(ifi),
        text(actor_name.as_deref()),
        Want::Text(verb.to_owned()),
        text(verb_display),
        text(object_id.as_deref()),
        text(object_name.as_deref()),
        Want::Text(object_type.to_owned()),
        success.map_or(Want::Null, Want::Bool),
        completion.map_or(Want::Null, Want::Bool),
        scaled.map_or(Want::Null, Want::Double),
        raw.map_or(Want::Null, Want::Double),
        duration.map_or(Want::Null, |(_, seconds)| Want::Double(seconds)),
        text(response.as_deref()),
        if context_kept { text(registration.as_deref()) } else { Want::Null },
        if context_kept && !parents.is_empty() { Want::Text(parents.join(" ")) } else { Want::Null },
        if context_kept { text(grouping.as_deref()) } else { Want::Null },
        if context_kept { text(platform) } else { Want::Null },
        Want::Text(source.to_owned()),
    ];
    (body, want)
}

fn start(dir: &std::path::Path) -> Lrs {
    let args = ["serve".to_owned(), "--listen".to_owned(), "127.0.0.1:0".to_owned(), "--data-dir".to_owned()];
    Lrs::start_with(&args, dir, "export-secret", &[("LRS_OPERATOR_TOKEN".to_owned(), OPERATOR.to_owned())])
}

/// GET of an export: status and body bytes.
fn export(deployment: &Deployment, auth: &Auth, query: &str) -> (u16, Vec<u8>) {
    let request = deployment.http.get(format!("{}/export/v1/statements?{query}", deployment.origin));
    let request = match auth {
        Auth::Basic(key, secret) => request.basic_auth(key, Some(secret)),
        Auth::Bearer(token) => request.bearer_auth(token),
    };
    let response = request.send().expect("export request");
    (response.status().as_u16(), response.bytes().unwrap().to_vec())
}

/// The rows of a csv export, header checked.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header, COLUMNS);
    reader.records().map(|record| record.unwrap().iter().map(str::to_owned).collect()).collect()
}

/// The rows of a parquet export as the cells the test compares.
fn parquet_rows(bytes: Vec<u8>) -> Vec<Vec<Want>> {
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    let names: Vec<String> =
        reader.metadata().file_metadata().schema_descr().columns().iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(names, COLUMNS);
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            (0..COLUMNS.len())
                .map(|at| match row.get_column_iter().nth(at).unwrap().1 {
                    Field::Null => Want::Null,
                    Field::Str(text) => Want::Text(text.clone()),
                    Field::TimestampMicros(micros) => Want::Time(*micros),
                    Field::Bool(b) => Want::Bool(*b),
                    Field::Double(v) => Want::Double(*v),
                    other => panic!("column {} holds {other:?}", COLUMNS[at]),
                })
                .collect()
        })
        .collect()
}

#[test]
fn exports_read_back_in_every_format_with_filters_scopes_and_an_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    let bootstrap = Auth::Basic(lrs.key.clone(), lrs.secret.clone());
    let second = deployment.credential("default", &["statements/write"]);
    let Auth::Basic(second_key, _) = &second else { unreachable!() };

    // 1,200 statements (more than two pages of the query service), in
    // batches of 100, alternating credentials.
    let mut want: BTreeMap<String, Vec<Want>> = BTreeMap::new();
    for batch in 0..12u32 {
        let (auth, source) =
            if batch.is_multiple_of(2) { (&bootstrap, lrs.key.as_str()) } else { (&second, second_key.as_str()) };
        let sent: Vec<(Value, Vec<Want>)> = (batch * 100..batch * 100 + 100).map(|n| statement(n, source)).collect();
        let body = Value::Array(sent.iter().map(|(body, _)| body.clone()).collect());
        let (status, answer) = deployment.xapi(auth, Method::POST, "/xapi/statements", Some(&body));
        assert_eq!(status, 200, "{answer}");
        for (body, row) in sent {
            want.insert(body["id"].as_str().unwrap().to_owned(), row);
        }
    }
    // Voided statements are left out; the voiding statements are exported.
    let voided: Vec<String> = want.keys().step_by(300).cloned().collect();
    // The verb of each voiding statement's target: an xAPI verb filter
    // also matches statements that refer to a matching statement.
    let mut target_verb: BTreeMap<String, Want> = BTreeMap::new();
    // And the actor of each one's target: an agent filter matches them too.
    let mut target_actor: BTreeMap<String, Want> = BTreeMap::new();
    for id in &voided {
        let voiding = json!({"actor": {"mbox": "mailto:admin@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
                             "object": {"objectType": "StatementRef", "id": id}});
        let (status, ids) = deployment.xapi(&bootstrap, Method::POST, "/xapi/statements", Some(&voiding));
        assert_eq!(status, 200);
        let voiding_id = ids[0].as_str().unwrap().to_owned();
        let target = want.remove(id).unwrap();
        target_verb.insert(voiding_id.clone(), target[5].clone());
        target_actor.insert(voiding_id.clone(), target[3].clone());
        let row = vec![
            Want::Text(voiding_id.clone()),
            Want::Null, // the LRS sets timestamp = stored
            Want::Null,
            Want::Text("mailto:admin@example.com".into()),
            Want::Null,
            Want::Text("http://adlnet.gov/expapi/verbs/voided".into()),
            Want::Null,
            Want::Text(id.clone()),
            Want::Null,
            Want::Text("StatementRef".into()),
            Want::Null,
            Want::Null,
            Want::Null,
            Want::Null,
            Want::Null,
            Want::Null,
            Want::Null,
            Want::Null,
            Want::Null,
            Want::Null,
            Want::Text(lrs.key.clone()),
        ];
        want.insert(voiding_id, row);
    }

    // ndjson: every statement exactly as the xAPI API answers it, oldest stored first.
    let (status, ndjson) = export(&deployment, &bootstrap, "format=ndjson");
    assert_eq!(status, 200);
    let exported: Vec<Value> =
        String::from_utf8(ndjson).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let ids: BTreeSet<&str> = exported.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, want.keys().map(String::as_str).collect::<BTreeSet<_>>(), "every statement but the voided, once");
    assert_eq!(exported.len(), want.len(), "none twice");
    let stored: Vec<i64> = exported
        .iter()
        .map(|s| chrono::DateTime::parse_from_rfc3339(s["stored"].as_str().unwrap()).unwrap().timestamp_micros())
        .collect();
    assert!(stored.windows(2).all(|w| w[0] <= w[1]), "oldest stored first");
    for statement in exported.iter().step_by(97) {
        let id = statement["id"].as_str().unwrap();
        let (status, single) =
            deployment.xapi(&bootstrap, Method::GET, &format!("/xapi/statements?statementId={id}"), None);
        assert_eq!(status, 200);
        assert_eq!(&single, statement, "the exact format");
    }
    // Fill in what the LRS set: stored, and the voiding statements' timestamps.
    for (statement, stored) in exported.iter().zip(&stored) {
        let row = want.get_mut(statement["id"].as_str().unwrap()).unwrap();
        row[2] = Want::Time(*stored);
        if row[1] == Want::Null {
            let timestamp = statement["timestamp"].as_str().unwrap();
            row[1] = Want::Time(chrono::DateTime::parse_from_rfc3339(timestamp).unwrap().timestamp_micros());
        }
    }
    let in_order: Vec<&Vec<Want>> = exported.iter().map(|s| &want[s["id"].as_str().unwrap()]).collect();

    // csv: every column of every row.
    let (status, csv) = export(&deployment, &bootstrap, "format=csv");
    assert_eq!(status, 200);
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), in_order.len());
    for (row, expected) in rows.iter().zip(&in_order) {
        let expected: Vec<String> = expected.iter().map(Want::csv).collect();
        assert_eq!(row, &expected);
    }

    // parquet: every column of every row, typed.
    let (status, parquet) = export(&deployment, &bootstrap, "format=parquet");
    assert_eq!(status, 200);
    let rows = parquet_rows(parquet);
    assert_eq!(rows.len(), in_order.len());
    for (row, expected) in rows.iter().zip(&in_order) {
        assert_eq!(&row, expected);
    }

    // Filters, and `since` on stored for an incremental load.
    let cut = stored[stored.len() / 2];
    let since = chrono::DateTime::from_timestamp_micros(cut).unwrap().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let verb = VERBS[1];
    let query = format!("format=csv&verb={}&since={}", enc(verb), enc(&since));
    let (status, csv) = export(&deployment, &bootstrap, &query);
    assert_eq!(status, 200);
    let got: Vec<String> = csv_rows(&csv).into_iter().map(|row| row[0].clone()).collect();
    let expected: Vec<String> = in_order
        .iter()
        .filter(|row| {
            let verb = Want::Text(verb.into());
            (row[5] == verb || target_verb.get(&row[0].csv()) == Some(&verb))
                && matches!(row[2], Want::Time(t) if t > cut)
        })
        .map(|row| row[0].csv())
        .collect();
    assert!(!expected.is_empty());
    let extra: Vec<&String> = got.iter().filter(|id| !expected.contains(id)).collect();
    let missing: Vec<&String> = expected.iter().filter(|id| !got.contains(id)).collect();
    assert_eq!(got, expected, "extra {extra:?} missing {missing:?}");
    let agent = enc(&json!({"mbox": "mailto:learner4@example.com"}).to_string());
    let (status, ndjson) = export(&deployment, &bootstrap, &format!("agent={agent}"));
    assert_eq!(status, 200);
    let lines = String::from_utf8(ndjson).unwrap().lines().count();
    // Statements by learner4, and those that refer to one (voiding statements).
    let learner = Want::Text("mailto:learner4@example.com".into());
    let learner4 =
        in_order.iter().filter(|row| row[3] == learner || target_actor.get(&row[0].csv()) == Some(&learner)).count();
    assert!(learner4 > 0);
    assert_eq!(lines, learner4);
    let (status, empty) = export(&deployment, &bootstrap, "format=csv&verb=http%3A%2F%2Fexample.com%2Fnone");
    assert_eq!(status, 200);
    assert!(csv_rows(&empty).is_empty(), "a header and no rows");

    // Bad requests name what is wrong.
    for (query, names) in [("format=xlsx", "format"), ("limit=5", "limit"), ("since=yesterday", "since")] {
        let request = deployment.http.get(format!("{}/export/v1/statements?{query}", deployment.origin));
        let Auth::Basic(key, secret) = &bootstrap else { unreachable!() };
        let response = request.basic_auth(key, Some(secret)).send().unwrap();
        assert_eq!(response.status().as_u16(), 400, "{query}");
        let body: Value = response.json().unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains(names), "{query}: {body}");
    }

    // Scopes: only `export` or `all`.
    for (scopes, expected) in
        [(vec!["statements/read"], 403), (vec!["all/read"], 403), (vec!["analytics/read"], 403), (vec!["export"], 200)]
    {
        let auth = deployment.credential("default", &scopes);
        assert_eq!(export(&deployment, &auth, "format=csv").0, expected, "{scopes:?}");
    }

    // `lrs export` writes the same file, the filters given as NAME=VALUE.
    let file = dir.path().join("watched.csv");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lrs"))
        .args(["export", "--url", &lrs.origin, "--key", &lrs.key, "--secret", &lrs.secret, "--format", "csv"])
        .args(["--filter", &format!("verb={verb}"), "--filter", &format!("since={since}"), "--output"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "lrs export: {}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<String> = csv_rows(&std::fs::read(&file).unwrap()).into_iter().map(|row| row[0].clone()).collect();
    assert_eq!(rows, expected);

    // The audit trail records each export with its credential, request and row count.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let exports = loop {
        let (status, trail) = deployment.admin(Method::GET, "/admin/audit", None);
        assert_eq!(status, 200);
        let exports: Vec<Value> =
            trail.as_array().unwrap().iter().filter(|e| e["action"] == "statements.export").cloned().collect();
        if exports.len() >= 8 || std::time::Instant::now() > deadline {
            break exports;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(exports.len(), 8, "{exports:?}");
    let full: Vec<&Value> = exports.iter().filter(|e| e["detail"]["request"] == "format=csv").collect();
    assert!(full.iter().any(|e| e["credential"] == json!(lrs.key) && e["detail"]["rows"] == json!(in_order.len())));
    assert!(full.iter().all(|e| e["tenant"] == "default" && e["detail"]["complete"] == true));
    let filtered = exports.iter().find(|e| e["detail"]["request"].as_str().unwrap().contains("since=")).unwrap();
    assert_eq!(filtered["detail"]["rows"], json!(expected.len()));
}
