//! The analytics API checked against numbers computed from the statements
//! sent: a designed data set, the recomputation of every measure, and the
//! comparison of every answer (shared by the `lrs serve` and cluster tests).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use reqwest::Method;
use serde_json::{json, Value};

use super::deployment::{enc, Auth, Deployment};

pub(crate) const COMPLETED: &str = "http://adlnet.gov/expapi/verbs/completed";
pub(crate) const PASSED: &str = "http://adlnet.gov/expapi/verbs/passed";
pub(crate) const VERBS: [&str; 4] =
    ["http://example.com/verbs/attempted", COMPLETED, PASSED, "http://example.com/verbs/watched"];
pub(crate) const PLATFORMS: [&str; 3] = ["LMS", "VR", "mobile"];

/// One statement as the test knows it.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub(crate) id: String,
    pub(crate) learner: String,
    pub(crate) instructor: Option<String>,
    pub(crate) verb: &'static str,
    pub(crate) activity: String,
    pub(crate) parents: Vec<String>,
    pub(crate) platform: Option<&'static str>,
    pub(crate) source: String,
    pub(crate) day: NaiveDate,
    pub(crate) success: Option<bool>,
    pub(crate) completion: Option<bool>,
    pub(crate) score: Option<f64>,
    pub(crate) duration_seconds: Option<f64>,
}

impl Sent {
    pub(crate) fn body(&self) -> Value {
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

    pub(crate) fn completes(&self) -> bool {
        self.completion == Some(true) || self.verb == COMPLETED || self.verb == PASSED
    }

    pub(crate) fn groups(&self, by: &str) -> Vec<String> {
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
pub(crate) fn data_set(sources: &[String]) -> Vec<Sent> {
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

pub(crate) fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[(q * (values.len() - 1) as f64) as usize])
}

/// What the answer must be, computed from the statements.
pub(crate) fn expected(statements: &[&Sent], measure: &str) -> Option<f64> {
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

pub(crate) const MEASURES: [&str; 11] = [
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
pub(crate) const DIMENSIONS: [&str; 10] =
    ["all", "day", "week", "month", "verb", "activity", "parent", "platform", "source", "learner"];

pub(crate) fn close(measure: &str, got: f64, want: f64) -> bool {
    if measure.contains("_p") {
        // DDSketch: within 1% of the value (and of nothing, for zero).
        (got - want).abs() <= 0.01 * want.abs() + 1e-9
    } else {
        (got - want).abs() <= 1e-9 * want.abs().max(1.0)
    }
}

/// Compares one answer with the recomputation over `statements`.
pub(crate) fn check(deployment: &Deployment, auth: &Auth, statements: &[&Sent], measure: &str, by: &str, extra: &str) {
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
pub(crate) fn settled(deployment: &Deployment, auth: &Auth) {
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
pub(crate) fn check_everything(deployment: &Deployment, auth: &Auth, statements: &[&Sent]) {
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
            for by in ["all", "day", "week", "month", "learner", "activity"] {
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

/// Posts the data set (each statement with its source's credential), voids
/// every 40th statement, waits until analytics answer for all of it, and
/// returns the statements that count.
pub(crate) fn post_and_void(deployment: &Deployment, credentials: &[(String, Auth)]) -> Vec<Sent> {
    let sources: Vec<String> = credentials.iter().map(|(key, _)| key.clone()).collect();
    let auth_of = |source: &str| &credentials.iter().find(|(key, _)| key == source).expect("a source").1;
    let mut sent = data_set(&sources);
    // In batches of 40 per source (a batch is all or nothing).
    for (source, _) in credentials {
        let mine: Vec<Value> = sent.iter().filter(|s| &s.source == source).map(Sent::body).collect();
        for batch in mine.chunks(40) {
            let body = Value::Array(batch.to_vec());
            let (status, answer) = deployment.xapi(auth_of(source), Method::POST, "/xapi/statements", Some(&body));
            assert_eq!(status, 200, "a batch of {source}: {answer}");
        }
    }
    // Void some of them: they, and the voiding statements, count nowhere.
    let voided: Vec<String> = sent.iter().step_by(40).map(|s| s.id.clone()).collect();
    for id in &voided {
        let voiding = json!({"actor": {"mbox": "mailto:admin@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
                             "object": {"objectType": "StatementRef", "id": id}});
        assert_eq!(deployment.xapi(&credentials[0].1, Method::POST, "/xapi/statements", Some(&voiding)).0, 200);
    }
    sent.retain(|s| !voided.contains(&s.id));
    settled(deployment, &credentials[0].1);
    sent
}
