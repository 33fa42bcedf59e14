//! The analytics API against numbers this test computes itself from the
//! statements it sent: every measure by every dimension, each filter, day
//! bounds inside and across months, voided statements left out, quantiles
//! within 1%; the same answers after `lrs replay`; and after an erasure and
//! after retention, the answers a recomputation from the remaining
//! statements gives. Scopes: `analytics/read`, `all/read` and `all` read it,
//! `statements/read` does not.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use common::deployment::{enc, Auth, Deployment};
use common::Lrs;
use reqwest::Method;
use serde_json::{json, Value};

const OPERATOR: &str = "operator-token-for-analytics";
const COMPLETED: &str = "http://adlnet.gov/expapi/verbs/completed";
const PASSED: &str = "http://adlnet.gov/expapi/verbs/passed";
const VERBS: [&str; 4] = ["http://example.com/verbs/attempted", COMPLETED, PASSED, "http://example.com/verbs/watched"];
const PLATFORMS: [&str; 3] = ["LMS", "VR", "mobile"];

fn start(dir: &std::path::Path) -> Lrs {
    let args = ["serve".to_owned(), "--listen".to_owned(), "127.0.0.1:0".to_owned(), "--data-dir".to_owned()];
    Lrs::start_with(&args, dir, "analytics-secret", &[("LRS_OPERATOR_TOKEN".to_owned(), OPERATOR.to_owned())])
}

/// One statement as the test knows it.
#[derive(Clone, Debug)]
struct Sent {
    id: String,
    learner: String,
    instructor: Option<String>,
    verb: &'static str,
    activity: String,
    parents: Vec<String>,
    platform: Option<&'static str>,
    source: String,
    day: NaiveDate,
    success: Option<bool>,
    completion: Option<bool>,
    score: Option<f64>,
    duration_seconds: Option<f64>,
}

impl Sent {
    fn body(&self) -> Value {
        let mut body = json!({
            "id": self.id,
            "actor": {"mbox": format!("mailto:{}", self.learner), "name": self.learner},
            "verb": {"id": self.verb},
            "object": {"id": self.activity},
            "timestamp": format!("{}T{:02}:30:00Z", self.day, self.id.as_bytes()[0] % 24),
        });
        let mut context = json!({});
        if !self.parents.is_empty() {
            context["contextActivities"] = json!({"parent": [{"id": self.parents[0]}]});
            if let Some(grouping) = self.parents.get(1) {
                context["contextActivities"]["grouping"] = json!([{"id": grouping}]);
            }
        }
        if let Some(platform) = self.platform {
            context["platform"] = json!(platform);
        }
        if let Some(instructor) = &self.instructor {
            context["instructor"] = json!({"mbox": format!("mailto:{instructor}")});
        }
        if context != json!({}) {
            body["context"] = context;
        }
        let mut result = json!({});
        if let Some(success) = self.success {
            result["success"] = json!(success);
        }
        if let Some(completion) = self.completion {
            result["completion"] = json!(completion);
        }
        if let Some(score) = self.score {
            result["score"] = json!({"scaled": score});
        }
        if let Some(seconds) = self.duration_seconds {
            result["duration"] = json!(format!("PT{seconds}S"));
        }
        if result != json!({}) {
            body["result"] = result;
        }
        body
    }

    fn completes(&self) -> bool {
        self.completion == Some(true) || self.verb == COMPLETED || self.verb == PASSED
    }

    fn groups(&self, by: &str) -> Vec<String> {
        match by {
            "all" => vec!["all".into()],
            "day" => vec![self.day.format("%Y-%m-%d").to_string()],
            "week" => {
                let week = self.day.iso_week();
                vec![format!("{}-W{:02}", week.year(), week.week())]
            }
            "month" => vec![self.day.format("%Y-%m").to_string()],
            "verb" => vec![self.verb.into()],
            "activity" => vec![self.activity.clone()],
            "parent" => self.parents.clone(),
            "platform" => self.platform.iter().map(|p| p.to_string()).collect(),
            "source" => vec![self.source.clone()],
            "learner" => vec![format!("mailto:{}", self.learner)],
            other => panic!("no dimension {other}"),
        }
    }
}

/// A designed data set: 20 learners, 5 activities under 3 courses, 4 verbs,
/// 3 platforms, 2 sources, over days from late January to early March 2026.
fn data_set(sources: &[String]) -> Vec<Sent> {
    let first = NaiveDate::from_ymd_opt(2026, 1, 27).unwrap();
    (0..240u32)
        .map(|n| {
            let parent = format!("http://example.com/course/{}", n % 3);
            let mut parents = vec![parent];
            if n % 4 == 0 {
                parents.push("http://example.com/program".to_owned());
            }
            Sent {
                id: uuid::Uuid::new_v4().to_string(),
                learner: format!("learner{}@example.com", (n * 7) % 20),
                instructor: (n % 11 == 0).then(|| format!("learner{}@example.com", (n + 3) % 20)),
                verb: VERBS[(n % 4) as usize],
                activity: format!("http://example.com/activity/{}", (n * 3) % 5),
                parents,
                platform: (n % 5 != 0).then(|| PLATFORMS[(n % 3) as usize]),
                source: sources[(n % 2) as usize].clone(),
                day: first + chrono::Duration::days(i64::from((n * 13) % 38)),
                success: match n % 3 {
                    0 => Some(true),
                    1 => Some(false),
                    _ => None,
                },
                completion: (n % 7 == 0).then_some(true),
                score: (n % 2 == 0).then(|| f64::from((n * 37) % 201) / 100.0 - 1.0),
                duration_seconds: (n % 3 != 1).then(|| f64::from(30 + (n * 53) % 3600)),
            }
        })
        .collect()
}

fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[(q * (values.len() - 1) as f64) as usize])
}

/// What the answer must be, computed from the statements.
fn expected(statements: &[&Sent], measure: &str) -> Option<f64> {
    let count = statements.len() as f64;
    let learners: BTreeSet<&str> = statements.iter().map(|s| s.learner.as_str()).collect();
    let pairs: BTreeSet<(&str, &str)> = statements.iter().map(|s| (s.learner.as_str(), s.activity.as_str())).collect();
    let completed: BTreeSet<(&str, &str)> =
        statements.iter().filter(|s| s.completes()).map(|s| (s.learner.as_str(), s.activity.as_str())).collect();
    let mut scores: Vec<f64> = statements.iter().filter_map(|s| s.score).collect();
    let mut durations: Vec<f64> = statements.iter().filter_map(|s| s.duration_seconds).collect();
    let with_success: Vec<bool> = statements.iter().filter_map(|s| s.success).collect();
    let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
    match measure {
        "statements" => Some(count),
        "learners" => Some(learners.len() as f64),
        "completions" => Some(completed.len() as f64),
        "completion_rate" => ratio(completed.len() as f64, pairs.len() as f64),
        "pass_rate" => ratio(with_success.iter().filter(|s| **s).count() as f64, with_success.len() as f64),
        "score_mean" => ratio(scores.iter().sum(), scores.len() as f64),
        "score_p50" => quantile(&mut scores, 0.5),
        "score_p90" => quantile(&mut scores, 0.9),
        "duration_p50" => quantile(&mut durations, 0.5),
        "duration_p90" => quantile(&mut durations, 0.9),
        "interactions_per_learner" => ratio(count, learners.len() as f64),
        other => panic!("no measure {other}"),
    }
}

const MEASURES: [&str; 11] = [
    "statements",
    "learners",
    "completions",
    "completion_rate",
    "pass_rate",
    "score_mean",
    "score_p50",
    "score_p90",
    "duration_p50",
    "duration_p90",
    "interactions_per_learner",
];
const DIMENSIONS: [&str; 10] =
    ["all", "day", "week", "month", "verb", "activity", "parent", "platform", "source", "learner"];

fn close(measure: &str, got: f64, want: f64) -> bool {
    if measure.contains("_p") {
        // DDSketch: within 1% of the value (and of nothing, for zero).
        (got - want).abs() <= 0.01 * want.abs() + 1e-9
    } else {
        (got - want).abs() <= 1e-9 * want.abs().max(1.0)
    }
}

/// Compares one answer with the recomputation over `statements`.
fn check(deployment: &Deployment, auth: &Auth, statements: &[&Sent], measure: &str, by: &str, extra: &str) {
    let mut path = format!("/analytics/v1/query?measure={measure}{extra}");
    if by != "all" {
        path.push_str(&format!("&by={by}"));
    }
    let (status, answer) = deployment.xapi(auth, Method::GET, &path, None);
    assert_eq!(status, 200, "{path}: {answer}");
    assert_eq!(answer["measure"], measure);
    assert!(answer["consistent_through"].is_string(), "{answer}");
    let mut groups: BTreeMap<String, Vec<&Sent>> = BTreeMap::new();
    for statement in statements {
        for group in statement.groups(by) {
            groups.entry(group).or_default().push(statement);
        }
    }
    let want: BTreeMap<String, f64> =
        groups.iter().filter_map(|(key, members)| Some((key.clone(), expected(members, measure)?))).collect();
    let rows = answer["rows"].as_array().unwrap_or_else(|| panic!("{path}: no rows: {answer}"));
    let got: BTreeMap<String, f64> =
        rows.iter().map(|row| (row["key"].as_str().unwrap().to_owned(), row["value"].as_f64().unwrap())).collect();
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{path}: groups differ");
    for (key, value) in &want {
        assert!(
            close(measure, got[key], *value),
            "{path}: {key} is {} not {value}\ngot {got:?}\nwant {want:?}",
            got[key]
        );
    }
    let keys: Vec<&str> = rows.iter().map(|row| row["key"].as_str().unwrap()).collect();
    if ["all", "day", "week", "month"].contains(&by) {
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{path}: time groups come in order");
    } else {
        let values: Vec<f64> = rows.iter().map(|row| row["value"].as_f64().unwrap()).collect();
        assert!(values.windows(2).all(|w| w[0] >= w[1]), "{path}: largest first: {values:?}");
    }
}

/// Waits until the analytics answer for everything written before now
/// (their consistent_through is at or after this moment).
fn settled(deployment: &Deployment, auth: &Auth) {
    let written = chrono::Utc::now();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, answer) = deployment.xapi(auth, Method::GET, "/analytics/v1/query?measure=statements", None);
        assert_eq!(status, 200, "{answer}");
        let through = answer["consistent_through"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if through.is_some_and(|through| through >= written) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "analytics never caught up: {answer}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Every measure by every dimension, each filter, and day bounds.
fn check_everything(deployment: &Deployment, auth: &Auth, statements: &[&Sent]) {
    for measure in MEASURES {
        for by in DIMENSIONS {
            check(deployment, auth, statements, measure, by, "");
        }
    }
    let filters = [
        ("verb", COMPLETED.to_owned()),
        ("activity", "http://example.com/activity/2".to_owned()),
        ("parent", "http://example.com/program".to_owned()),
        ("platform", "VR".to_owned()),
        ("source", statements[0].source.clone()),
    ];
    for (name, value) in &filters {
        let kept: Vec<&Sent> = statements
            .iter()
            .copied()
            .filter(|s| match *name {
                "verb" => s.verb == value,
                "activity" => &s.activity == value,
                "parent" => s.parents.contains(value),
                "platform" => s.platform == Some(value.as_str()),
                _ => &s.source == value,
            })
            .collect();
        for measure in ["statements", "learners", "completion_rate", "score_p90"] {
            for by in ["all", "day", "learner", "activity"] {
                check(deployment, auth, &kept, measure, by, &format!("&{name}={}", enc(value)));
            }
        }
    }
    let day = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
    for (since, until) in [("2026-02-01", "2026-03-01"), ("2026-01-30", "2026-02-03"), ("2026-02-27", "2026-03-02")] {
        let kept: Vec<&Sent> =
            statements.iter().copied().filter(|s| s.day >= day(since) && s.day < day(until)).collect();
        for measure in ["statements", "learners", "duration_p50", "pass_rate"] {
            for by in ["all", "day", "week", "month", "verb", "learner"] {
                check(deployment, auth, &kept, measure, by, &format!("&since={since}&until={until}"));
            }
        }
        check(
            deployment,
            auth,
            &kept,
            "statements",
            "all",
            &format!("&since={since}T00:00:00Z&until={until}T00:00:00Z"),
        );
    }
}

#[test]
fn every_measure_and_dimension_matches_a_recomputation_also_after_replay_erasure_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    let bootstrap = Auth::Basic(lrs.key.clone(), lrs.secret.clone());
    let second = deployment.credential("default", &["statements/write", "analytics/read"]);
    let Auth::Basic(second_key, _) = &second else { unreachable!() };
    let sources = [lrs.key.clone(), second_key.clone()];
    let mut sent = data_set(&sources);
    for (n, statement) in sent.iter().enumerate() {
        let auth = if statement.source == sources[0] { &bootstrap } else { &second };
        let (status, answer) = deployment.xapi(auth, Method::POST, "/xapi/statements", Some(&statement.body()));
        assert_eq!(status, 200, "statement {n}: {answer}");
    }
    // Void six of them: they, and the voiding statements, count nowhere.
    let voided: Vec<String> = sent.iter().step_by(40).map(|s| s.id.clone()).collect();
    for id in &voided {
        let voiding = json!({"actor": {"mbox": "mailto:admin@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
                             "object": {"objectType": "StatementRef", "id": id}});
        assert_eq!(deployment.xapi(&bootstrap, Method::POST, "/xapi/statements", Some(&voiding)).0, 200);
    }
    sent.retain(|s| !voided.contains(&s.id));
    let counted: Vec<&Sent> = sent.iter().collect();
    settled(&deployment, &bootstrap);
    check_everything(&deployment, &bootstrap, &counted);

    // Bad questions are 400s that name what is wrong; scopes hold.
    for (query, names) in [
        ("measure=colour", "measure"),
        ("measure=statements&by=colour", "by"),
        ("measure=statements&shape=round", "shape"),
        ("by=day", "measure"),
        ("measure=statements&since=2026-02-01T12:00:00Z", "since"),
        ("measure=statements&limit=0", "limit"),
    ] {
        let (status, body) = deployment.xapi(&bootstrap, Method::GET, &format!("/analytics/v1/query?{query}"), None);
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(names), "{query}: {body}");
    }
    let (_, limited) =
        deployment.xapi(&bootstrap, Method::GET, "/analytics/v1/query?measure=statements&by=learner&limit=3", None);
    assert_eq!(limited["rows"].as_array().unwrap().len(), 3);
    for (scopes, want) in [(vec!["statements/read"], 403), (vec!["all/read"], 200), (vec!["analytics/read"], 200)] {
        let auth = deployment.credential("default", &scopes);
        let (status, _) = deployment.xapi(&auth, Method::GET, "/analytics/v1/query?measure=statements", None);
        assert_eq!(status, want, "{scopes:?}");
    }

    // One learner's path across activities, sources and platforms.
    let learner = "learner7@example.com";
    let agent = enc(&json!({"mbox": format!("mailto:{learner}")}).to_string());
    let (status, path) =
        deployment.xapi(&bootstrap, Method::GET, &format!("/analytics/v1/learner?agent={agent}"), None);
    assert_eq!(status, 200, "{path}");
    let mine: Vec<&Sent> = sent.iter().filter(|s| s.learner == learner).collect();
    let activities: BTreeSet<&str> = mine.iter().map(|s| s.activity.as_str()).collect();
    let steps = path["activities"].as_array().unwrap();
    assert_eq!(steps.len(), activities.len(), "{path}");
    for step in steps {
        let activity = step["activity"].as_str().unwrap();
        let here: Vec<&&Sent> = mine.iter().filter(|s| s.activity == activity).collect();
        assert_eq!(step["attempts"], json!(here.len()), "{step}");
        assert_eq!(step["completed"], json!(here.iter().any(|s| s.completes())), "{step}");
        let best =
            here.iter().filter_map(|s| s.score).fold(None, |best: Option<f64>, s| Some(best.map_or(s, |b| b.max(s))));
        assert_eq!(step["best_score"].as_f64(), best, "{step}");
        let sources: BTreeSet<&str> = here.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(step["sources"], json!(sources), "{step}");
    }

    // A replay rebuilds the same rollups.
    drop(lrs);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lrs"))
        .args(["replay", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "replay: {}", String::from_utf8_lossy(&output.stderr));
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    settled(&deployment, &bootstrap);
    check_everything(&deployment, &bootstrap, &counted);

    // Erasure: a forgotten learner's statements (as actor or instructor) leave every answer.
    let forgotten = "learner3@example.com";
    let body = json!({"agent": {"mbox": format!("mailto:{forgotten}")}});
    assert_eq!(deployment.admin(Method::POST, "/admin/tenants/default/forget", Some(body)).0, 204);
    let remaining: Vec<&Sent> =
        sent.iter().filter(|s| s.learner != forgotten && s.instructor.as_deref() != Some(forgotten)).collect();
    assert!(remaining.len() < counted.len() - 5, "the erasure removes something");
    settled(&deployment, &bootstrap);
    check_everything(&deployment, &bootstrap, &remaining);
    let (_, path) = deployment.xapi(
        &bootstrap,
        Method::GET,
        &format!("/analytics/v1/learner?agent={}", enc(&json!({"mbox": format!("mailto:{forgotten}")}).to_string())),
        None,
    );
    assert_eq!(path["activities"], json!([]), "the forgotten learner has no path");

    // Retention: statements stored before the cutoff leave the rollups.
    // The retention keeps what was sent since the late statements began
    // (however long they took), and at least 3 s separate them from the rest.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let late_started = std::time::Instant::now();
    let late: Vec<Sent> = data_set(&sources).into_iter().take(30).collect();
    for statement in &late {
        let auth = if statement.source == sources[0] { &bootstrap } else { &second };
        assert_eq!(deployment.xapi(auth, Method::POST, "/xapi/statements", Some(&statement.body())).0, 200);
    }
    let seconds = late_started.elapsed().as_secs() + 2;
    let retention = json!({"seconds": seconds});
    assert_eq!(deployment.admin(Method::PUT, "/admin/tenants/default/retention", Some(retention)).0, 200);
    assert_eq!(deployment.admin(Method::POST, "/admin/retention/apply", Some(json!({}))).0, 200);
    let kept: Vec<&Sent> = late.iter().collect();
    settled(&deployment, &bootstrap);
    check_everything(&deployment, &bootstrap, &kept);
}
