//! The analytics API against numbers this test computes itself from the
//! statements it sent: every measure by every dimension, each filter, day
//! bounds inside and across months, voided statements left out, quantiles
//! within 1%; the same answers after `lrs replay`; and after an erasure and
//! after retention, the answers a recomputation from the remaining
//! statements gives. Scopes: `analytics/read`, `all/read` and `all` read it,
//! `statements/read` does not.

mod common;

use std::collections::BTreeSet;

use common::analytics::{check_everything, data_set, post_and_void, settled, Sent};
use common::deployment::{enc, Auth, Deployment};
use common::Lrs;
use reqwest::Method;
use serde_json::json;

const OPERATOR: &str = "operator-token-for-analytics";

fn start(dir: &std::path::Path) -> Lrs {
    let args = ["serve".to_owned(), "--listen".to_owned(), "127.0.0.1:0".to_owned(), "--data-dir".to_owned()];
    Lrs::start_with(&args, dir, "analytics-secret", &[("LRS_OPERATOR_TOKEN".to_owned(), OPERATOR.to_owned())])
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
    let credentials = [(sources[0].clone(), bootstrap.clone()), (sources[1].clone(), second.clone())];
    let sent = post_and_void(&deployment, &credentials);
    let counted: Vec<&Sent> = sent.iter().collect();
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
    common::replay(dir.path());
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

/// The nice value of each thread of process `pid` named `name` (as `ps -L` shows it).
fn thread_nice(pid: u32, name: &str) -> Vec<i64> {
    let mut nice = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
        // after "pid (comm) ", the fields from the 3rd on: the 19th is nice
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
        nice.push(fields[16].parse().unwrap());
    }
    nice
}

#[test]
fn the_day_blocks_are_built_at_the_lowest_priority_and_the_server_still_stops_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["serve".to_owned(), "--listen".to_owned(), "127.0.0.1:0".to_owned(), "--data-dir".to_owned()];
    let env = [("LRS_LOG".to_owned(), "info".to_owned())];
    let mut lrs = Lrs::start_with(&args, dir.path(), "warm-secret", &env);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !lrs.stderr().contains("analytics day blocks built") {
        assert!(std::time::Instant::now() < deadline, "no day blocks built: {}", lrs.stderr());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A request answered shows the HTTP workers are running (the warm-up of
    // an empty store can finish before actix has started them).
    assert_eq!(lrs.get("/healthz").0, 200, "{}", lrs.stderr());
    let pid = lrs.child.id();
    // thread names are cut to 15 bytes
    assert_eq!(thread_nice(pid, "lrs-analytics-w"), [19], "the warm-up thread runs at nice 19");
    let workers = thread_nice(pid, "actix-server wo");
    assert!(!workers.is_empty() && workers.iter().all(|&n| n == 0), "the HTTP workers stay at nice 0: {workers:?}");

    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = lrs.child.try_wait().unwrap() {
            break exit;
        }
        assert!(std::time::Instant::now() < deadline, "the server did not stop within 30 s of SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(exit.success(), "the server stopped with {exit}: {}", lrs.stderr());
    assert!(lrs.stderr().contains("stopped"), "{}", lrs.stderr());
}
