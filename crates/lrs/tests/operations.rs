//! Operations: `/metrics`, `/healthz`, `/readyz` and the alert rules, checked
//! with the real tools: Debian's Prometheus server scrapes a running `lrs
//! serve`, promtool lints the exposition and the rules, and `/readyz` follows
//! a Kafka-protocol broker that is stopped and started again.
//!
//! Prometheus and promtool come from scripts/prometheus.sh (apt-get, once;
//! needs root), which scripts/test-deps.sh runs before the tests. The broker test needs tansu (scripts/kafka-broker.sh
//! install). Outside CI a missing tool skips the test saying so; under CI it
//! fails.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use common::{statement, unique_verb, Lrs};
use reqwest::Method;
use serde_json::{json, Value};

fn skip_or_fail(what: &str) {
    assert!(std::env::var("CI").is_err(), "CI must run the operations tests: {what}");
    common::note_skip(what);
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

/// Runs scripts/prometheus.sh with `args`.
fn prometheus_script(args: &[&str]) -> Output {
    Command::new("bash").arg(repo_path("scripts/prometheus.sh")).args(args).output().expect("run prometheus.sh")
}

/// Whether Prometheus and promtool are installed (scripts/test-deps.sh
/// installs them before the tests; a test installs nothing); false after
/// saying so when they are not.
fn prometheus_installed() -> bool {
    if prometheus_script(&["installed"]).status.success() {
        return true;
    }
    skip_or_fail("Prometheus and promtool are not installed (scripts/test-deps.sh, or scripts/prometheus.sh install)");
    false
}

/// The families of a text exposition: name → (type, samples as (series, value)).
type Families = BTreeMap<String, (String, Vec<(String, f64)>)>;

/// Parses the Prometheus text format strictly enough to catch malformed lines.
fn parse_exposition(text: &str) -> Families {
    let mut families = Families::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line {line:?}"));
            families.insert(name.to_owned(), (kind.to_owned(), Vec::new()));
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        let family = families
            .keys()
            .filter(|family| name.starts_with(family.as_str()))
            .max_by_key(|family| family.len())
            .unwrap_or_else(|| panic!("sample {line:?} has no TYPE line"))
            .clone();
        families.get_mut(&family).unwrap().1.push((series.to_owned(), value));
    }
    families
}

/// Sum of the samples of `family` whose series text contains every `needle`.
fn sum(families: &Families, family: &str, needles: &[&str]) -> f64 {
    let (_, samples) = families.get(family).unwrap_or_else(|| panic!("no family {family}"));
    samples.iter().filter(|(series, _)| needles.iter().all(|n| series.contains(n))).map(|(_, value)| value).sum()
}

fn scrape(lrs: &Lrs) -> String {
    let response = lrs.bare(Method::GET, "/metrics").send().expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200, "/metrics needs no auth and no version header");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "content type {content_type}");
    response.text().unwrap()
}

/// Posts `ok` valid statements one by one and one batch that is invalid.
fn drive_traffic(lrs: &Lrs, ok: usize) {
    let verb = unique_verb();
    for _ in 0..ok {
        let (status, body) = lrs.post(&statement(&uuid::Uuid::new_v4().to_string(), &verb));
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = lrs.post(&json!([statement("not-a-uuid", &verb), statement("also-not", &verb)]));
    assert_eq!(status, 400);
    let (status, _, _) = lrs.get(&format!("/xapi/statements?verb={verb}"));
    assert_eq!(status, 200);
}

#[test]
fn the_exposition_parses_and_holds_every_family_after_traffic() {
    let lrs = Lrs::start();
    drive_traffic(&lrs, 3);
    let families = parse_exposition(&scrape(&lrs));
    let expected = [
        ("lrs_http_requests_total", "counter"),
        ("lrs_http_request_duration_seconds", "histogram"),
        ("lrs_gateway_statements_accepted_total", "counter"),
        ("lrs_gateway_statements_rejected_total", "counter"),
        ("lrs_gateway_log_append_duration_seconds", "histogram"),
        ("lrs_gateway_verdict_wait_duration_seconds", "histogram"),
        ("lrs_projector_batch_duration_seconds", "histogram"),
        ("lrs_projector_records_applied_total", "counter"),
        ("lrs_projector_consumer_lag_records", "gauge"),
        ("lrs_projector_watermark_age_seconds", "gauge"),
        ("lrs_projector_statements_prepared_total", "counter"),
        ("lrs_store_write_duration_seconds", "histogram"),
        ("lrs_analytics_builder_step_duration_seconds", "histogram"),
        ("lrs_analytics_rollup_bytes_written_total", "counter"),
        ("lrs_health_ready", "gauge"),
        ("lrs_health_dependency_up", "gauge"),
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
    ];
    for (name, kind) in expected {
        let family = families.get(name).unwrap_or_else(|| panic!("family {name} missing: {:?}", families.keys()));
        assert_eq!(family.0, kind, "type of {name}");
    }
    assert_eq!(sum(&families, "lrs_gateway_statements_accepted_total", &[r#"tenant="all""#]), 3.0);
    assert_eq!(sum(&families, "lrs_gateway_statements_rejected_total", &[r#"reason="invalid""#]), 2.0);
    let posts = [r#"route="/xapi/statements""#, r#"method="POST""#, r#"status="200""#];
    assert_eq!(sum(&families, "lrs_http_requests_total", &posts), 3.0);
    assert!(sum(&families, "lrs_projector_records_applied_total", &[]) >= 3.0);
    // `lrs serve` runs the gateway and the projector in one process: the
    // projector takes the statements the gateway sealed as they were handed.
    assert_eq!(sum(&families, "lrs_projector_statements_prepared_total", &[r#"how="handed""#]), 3.0);
    assert_eq!(sum(&families, "lrs_projector_statements_prepared_total", &[r#"how="opened""#]), 0.0);
    assert!(sum(&families, "lrs_gateway_log_append_duration_seconds", &["_count", r#"outcome="ok""#]) >= 3.0);
    assert!(sum(&families, "lrs_gateway_verdict_wait_duration_seconds", &["_count", r#"outcome="bus""#]) >= 3.0);
    assert_eq!(sum(&families, "lrs_health_ready", &[]), 1.0);
    // Bounded labels: no statement ids, verbs or raw paths.
    for (name, (_, samples)) in &families {
        for (series, _) in samples {
            assert!(!series.contains("example.com") && !series.contains("verb="), "{name}: unbounded label {series}");
        }
    }
}

#[test]
fn promtool_finds_no_problem_in_the_exposition() {
    if !prometheus_installed() {
        return;
    }
    let lrs = Lrs::start();
    drive_traffic(&lrs, 2);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), scrape(&lrs)).unwrap();
    let output = prometheus_script(&["check-metrics", file.path().to_str().unwrap()]);
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool check metrics failed: {printed}");
    assert_eq!(printed.trim(), "", "promtool check metrics printed problems");
}

#[test]
fn promtool_accepts_the_alert_rules_and_their_unit_tests() {
    if !prometheus_installed() {
        return;
    }
    let rules = repo_path("deploy/prometheus/alerts.yml");
    let output = prometheus_script(&["check-rules", rules.to_str().unwrap()]);
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "promtool check rules: {printed}{}", String::from_utf8_lossy(&output.stderr));
    assert!(printed.contains("SUCCESS: 6 rules found"), "{printed}");
    let output = Command::new("promtool")
        .current_dir(repo_path("deploy/prometheus"))
        .args(["test", "rules", "alerts.test.yml"])
        .output()
        .expect("run promtool");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "promtool test rules: {printed}{}", String::from_utf8_lossy(&output.stderr));
}

/// The result of an instant query to Prometheus's HTTP API, summed over series;
/// `None` while it has no series.
fn prometheus_query(client: &reqwest::blocking::Client, url: &str, query: &str) -> Option<f64> {
    let response = client.get(format!("{url}/api/v1/query")).query(&[("query", query)]).send().ok()?;
    let body: Value = response.json().ok()?;
    assert_eq!(body["status"], "success", "query {query}: {body}");
    let results = body["data"]["result"].as_array()?;
    if results.is_empty() {
        return None;
    }
    Some(results.iter().map(|result| result["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).unwrap()).sum())
}

/// Polls `query` until `accept` holds for its value.
fn wait_for(client: &reqwest::blocking::Client, url: &str, query: &str, accept: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = prometheus_query(client, url, query) {
            if accept(value) {
                return value;
            }
        }
        assert!(Instant::now() < deadline, "Prometheus never answered {query} with an accepted value");
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_scrapes_the_lrs_and_sees_the_ingest_counter_rise() {
    if !prometheus_installed() {
        return;
    }
    let lrs = Lrs::start();
    let target = lrs.origin.strip_prefix("http://").unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let started = prometheus_script(&["start", &port, dir.path().to_str().unwrap(), &target]);
    struct Stop(PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            prometheus_script(&["stop", self.0.to_str().unwrap()]);
        }
    }
    let _stop = Stop(dir.path().to_owned());
    assert!(started.status.success(), "prometheus did not start: {}", String::from_utf8_lossy(&started.stderr));
    let url = format!("http://127.0.0.1:{port}");
    let client = common::client();

    let query = "sum(lrs_gateway_statements_accepted_total)";
    let before = wait_for(&client, &url, query, |_| true);
    drive_traffic(&lrs, 5);
    let after = wait_for(&client, &url, query, |value| value >= before + 5.0);
    assert!(after >= before + 5.0);
    let up = wait_for(&client, &url, r#"up{job="lrs"}"#, |value| value == 1.0);
    assert_eq!(up, 1.0);
    let ready = wait_for(&client, &url, "lrs_health_ready", |_| true);
    assert_eq!(ready, 1.0, "the scrape refreshes readiness");
}

#[test]
fn healthz_and_readyz_answer_without_auth() {
    let lrs = Lrs::start();
    let (status, _, body) = common::send(lrs.bare(Method::GET, "/healthz"));
    assert_eq!((status, body["status"].as_str()), (200, Some("alive")));
    let (status, _, body) = common::send(lrs.bare(Method::GET, "/readyz"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    let names: Vec<&str> = body["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["log", "store", "projector"]);
}

#[test]
fn readyz_turns_503_while_the_broker_is_down_and_200_when_it_returns() {
    if !common::tansu_installed() {
        skip_or_fail("tansu is not installed (scripts/kafka-broker.sh install)");
        return;
    }
    let broker_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    common::broker_command("start", port, broker_dir.path());
    struct StopBroker(PathBuf);
    impl Drop for StopBroker {
        fn drop(&mut self) {
            common::broker_command("stop", 0, &self.0);
        }
    }
    let _stop = StopBroker(broker_dir.path().to_owned());
    let env: Vec<(String, String)> = [
        ("LRS_LOG_BACKEND", "kafka".to_owned()),
        ("LRS_KAFKA_BROKERS", format!("127.0.0.1:{port}")),
        ("LRS_KAFKA_TOPIC_PREFIX", format!("ready-{}", uuid::Uuid::new_v4().simple())),
        ("LRS_KAFKA_PARTITIONS", "2".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let store_dir = tempfile::tempdir().unwrap();
    let words = ["run", "--roles", "projector,query", "--listen", "127.0.0.1:0", "--data-dir"];
    let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    let lrs = Lrs::start_with(&args, store_dir.path(), &secret, &env);
    common::wait_for_readyz(&lrs, 200);

    common::broker_command("stop", 0, broker_dir.path());
    let body = common::wait_for_readyz(&lrs, 503);
    assert_eq!(body["status"], "unready");
    let log = body["checks"].as_array().unwrap().iter().find(|check| check["name"] == "log").unwrap().clone();
    assert_eq!(log["ok"], false, "{body}");
    assert!(log["error"].is_string(), "{body}");

    common::broker_command("start", port, broker_dir.path());
    let body = common::wait_for_readyz(&lrs, 200);
    assert_eq!(body["status"], "ready");
}
