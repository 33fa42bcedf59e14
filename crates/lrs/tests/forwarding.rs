//! Forwarding to another `lrs serve` and to a webhook: every acknowledged
//! statement that matches the filter arrives exactly once, through a
//! target outage and a SIGKILL of the source while it delivers; a webhook's
//! deliveries are signed and retried with a growing wait; a statement the
//! target refuses for good becomes a dead letter and is not retried for ever.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::forwarding::{
    admin, free_port, post_batches, target_ids, wait_for_status, FORWARDER_STATUS_TIMEOUT, OPERATOR,
};
use common::{statement, unique_verb, Lrs, KEY};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

fn serve_args(listen: &str) -> Vec<String> {
    ["serve", "--listen", listen, "--data-dir"].iter().map(|s| s.to_string()).collect()
}

fn source(envs: &[(&str, &str)]) -> Lrs {
    let dir = tempfile::TempDir::new().expect("temp dir").keep();
    let mut all = vec![("LRS_OPERATOR_TOKEN".to_owned(), OPERATOR.to_owned())];
    all.extend(envs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Lrs::start_with(&serve_args("127.0.0.1:0"), &dir, &format!("src-{}", Uuid::new_v4().simple()), &all)
}

#[test]
fn every_matching_statement_reaches_the_target_lrs_once_through_an_outage_and_a_sigkill() {
    let source = source(&[("LRS_FORWARD_RETRY_MAX_MS", "1000")]);
    let target_port = free_port();
    let target_secret = format!("target-{}", Uuid::new_v4().simple());
    let target_endpoint = format!("http://127.0.0.1:{target_port}/xapi");
    let (wanted, other) = (unique_verb(), unique_verb());

    // The operator API checks what it is given.
    let forwarder = json!({
        "name": "copy",
        "target": {"kind": "lrs", "endpoint": target_endpoint, "key": KEY, "secret": target_secret},
        "filter": {"verb": wanted},
        "batch_size": 10,
    });
    let (status, body) = admin(&source.origin, Method::POST, "/admin/tenants/default/forwarders", Some(&forwarder));
    assert_eq!(status, 201, "adding the forwarder answered {status}: {body}");
    assert!(!body.to_string().contains(&target_secret), "the answer shows the target's secret: {body}");
    let (status, body) = admin(&source.origin, Method::POST, "/admin/tenants/default/forwarders", Some(&forwarder));
    assert_eq!(status, 409, "a second forwarder of the same name: {status} {body}");
    let mut bad = forwarder.clone();
    bad["name"] = json!("other");
    bad["target"]["endpoint"] = json!("ftp://example.com/xapi");
    let (status, body) = admin(&source.origin, Method::POST, "/admin/tenants/default/forwarders", Some(&bad));
    assert_eq!(status, 400, "an ftp endpoint: {status} {body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("target.endpoint"), "{body}");
    let (status, _) = admin(&source.origin, Method::POST, "/admin/tenants/nobody/forwarders", Some(&forwarder));
    assert_eq!(status, 404, "a forwarder of an unknown tenant");
    let (status, body) = admin(&source.origin, Method::GET, "/admin/tenants", None);
    assert_eq!(status, 200);
    assert!(!body.to_string().contains(&target_secret), "the tenant listing shows the target's secret: {body}");

    // The target is down: the statements are acknowledged all the same.
    let mut matching = post_batches(&source, &wanted, &other, 3, 100);
    let status = wait_for_status(&source.origin, "default", "copy", FORWARDER_STATUS_TIMEOUT, |s| {
        s["failed_attempts"].as_u64() >= Some(2)
    });
    assert_eq!(status["delivered"], 0, "{status}");
    assert_eq!(status["failing"], true, "{status}");
    assert_eq!(status["pending"].as_u64(), Some(matching.len() as u64), "pending while the target is down: {status}");
    let error = status["last_error"].as_str().unwrap_or("");
    assert!(error.contains(&target_endpoint) && !error.contains(&target_secret), "last error: {error}");

    // The target comes up.
    let target_dir = tempfile::TempDir::new().expect("temp dir");
    // More arrive first, so that there is much to deliver when it is up.
    matching.extend(post_batches(&source, &wanted, &other, 20, 100));
    let pending = matching.len() as u64;
    wait_for_status(&source.origin, "default", "copy", FORWARDER_STATUS_TIMEOUT, |s| {
        s["pending"].as_u64() == Some(pending)
    });
    let target =
        Lrs::start_with(&serve_args(&format!("127.0.0.1:{target_port}")), target_dir.path(), &target_secret, &[]);
    // SIGKILL the source while it delivers.
    let started = Instant::now();
    let mut source = source;
    let delivered_at_kill = loop {
        let (_, body) = admin(&source.origin, Method::GET, "/admin/tenants/default/forwarders/copy", None);
        let delivered = body["status"]["delivered"].as_u64().unwrap_or(0);
        if delivered > 0 {
            source.kill9();
            break delivered;
        }
        assert!(started.elapsed() < FORWARDER_STATUS_TIMEOUT, "nothing delivered: {body}");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(
        (delivered_at_kill as usize) < matching.len(),
        "the source was to be killed while delivering, but it had delivered all {delivered_at_kill} already"
    );
    let source = source.restart_keeping_env();
    let total = matching.len() as u64;
    let status = wait_for_status(&source.origin, "default", "copy", FORWARDER_STATUS_TIMEOUT, |s| {
        s["delivered"].as_u64() == Some(total)
    });
    assert_eq!(status["pending"], 0, "{status}");
    assert_eq!(status["dead_lettered"], 0, "{status}");
    assert_eq!(status["failing"], false, "{status}");

    // The target holds every matching statement once, and nothing else.
    let got = target_ids(&target, None);
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "the target lists a statement twice");
    let mut expected: Vec<String> = matching.clone();
    expected.sort();
    assert_eq!(unique, expected, "the target must hold exactly the matching statements");
    // As they were sent: the actor and verb of one of them.
    let (status, _, one) = target.get(&common::statements_query(&[("statementId", &matching[0])]));
    assert_eq!(status, 200);
    assert_eq!(one["verb"]["id"], wanted.as_str());
    assert_eq!(one["actor"]["mbox"], "mailto:e2e@example.com");

    // The series say the same.
    let metrics = source.client.get(source.url("/metrics")).send().unwrap().text().unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("lrs_forwarder_delivered_statements_total") && l.contains("forwarder=\"copy\""))
        .unwrap_or_else(|| panic!("no delivered series in /metrics"));
    let after_restart: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(after_restart <= total && after_restart > 0, "{line}");

    // Removed, it is gone with its position.
    let (status, _) = admin(&source.origin, Method::DELETE, "/admin/tenants/default/forwarders/copy", None);
    assert_eq!(status, 204);
    let (status, _) = admin(&source.origin, Method::GET, "/admin/tenants/default/forwarders/copy", None);
    assert_eq!(status, 404);
}

#[test]
fn a_statement_the_target_refuses_for_good_is_a_dead_letter_and_the_others_go() {
    let target = Lrs::start();
    let source = source(&[]);
    let verb = unique_verb();
    // The target holds another statement under one of the ids: a 409 for that one.
    let ids: Vec<String> = (0..5).map(|_| Uuid::new_v4().to_string()).collect();
    let (status, body) = target.post(&statement(&ids[2], &unique_verb()));
    assert_eq!(status, 200, "{body}");
    let forwarder = json!({
        "name": "strict",
        "target": {"kind": "lrs", "endpoint": target.endpoint, "key": KEY, "secret": target.secret},
        "filter": {"verb": verb},
    });
    let (status, body) = admin(&source.origin, Method::POST, "/admin/tenants/default/forwarders", Some(&forwarder));
    assert_eq!(status, 201, "{body}");
    let batch: Vec<Value> = ids.iter().map(|id| statement(id, &verb)).collect();
    let (status, body) = source.post(&Value::Array(batch));
    assert_eq!(status, 200, "{body}");

    let status = wait_for_status(&source.origin, "default", "strict", FORWARDER_STATUS_TIMEOUT, |s| {
        s["delivered"] == 4 && s["dead_lettered"] == 1
    });
    assert_eq!(status["pending"], 0, "{status}");
    let (code, letters) =
        admin(&source.origin, Method::GET, "/admin/tenants/default/forwarders/strict/dead-letters", None);
    assert_eq!(code, 200);
    assert_eq!(letters.as_array().map(Vec::len), Some(1), "{letters}");
    assert_eq!(letters[0]["statements"], json!([ids[2]]), "{letters}");
    assert!(letters[0]["error"].as_str().unwrap_or("").contains("409"), "{letters}");
    let mut others: Vec<String> = ids.iter().filter(|id| **id != ids[2]).cloned().collect();
    others.sort();
    assert_eq!(target_ids(&target, Some(&verb)), others);

    // Not retried for ever: the attempts stay where they are.
    let before = status["failed_attempts"].clone();
    thread::sleep(Duration::from_secs(2));
    let (_, now) = admin(&source.origin, Method::GET, "/admin/tenants/default/forwarders/strict", None);
    assert_eq!(now["status"]["failed_attempts"], before, "{now}");

    // Asked again, it is delivered again, and refused again: still one dead letter.
    let (code, body) =
        admin(&source.origin, Method::POST, "/admin/tenants/default/forwarders/strict/dead-letters/replay", None);
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["dead_letters"], 1);
    let deadline = Instant::now() + FORWARDER_STATUS_TIMEOUT;
    loop {
        let (_, letters) =
            admin(&source.origin, Method::GET, "/admin/tenants/default/forwarders/strict/dead-letters", None);
        let at = letters[0]["at"].clone();
        if letters.as_array().map(Vec::len) == Some(1) && at != Value::Null && at != json!(null) {
            let (_, status) = admin(&source.origin, Method::GET, "/admin/tenants/default/forwarders/strict", None);
            if status["status"]["dead_lettered"] == 1 && letters[0]["error"].as_str().unwrap_or("").contains("409") {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the replay did not settle: {letters}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// One request the webhook receiver got.
struct Received {
    at: Instant,
    signature: String,
    delivery: String,
    body: Vec<u8>,
}

/// A webhook on 127.0.0.1 that answers 503 to the first `failures` requests, then 200.
fn webhook(failures: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let log = log.clone();
            let answered = log.lock().unwrap().len();
            let _ = answer(stream, &log, if answered < failures { 503 } else { 200 });
        }
    });
    (url, received)
}

fn answer(mut stream: TcpStream, log: &Mutex<Vec<Received>>, status: u16) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        headers.push(line.trim().to_owned());
    }
    let header = |name: &str| {
        headers
            .iter()
            .find_map(|h| {
                h.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    log.lock().unwrap().push(Received {
        at: Instant::now(),
        signature: header("x-lrs-signature"),
        delivery: header("x-lrs-delivery"),
        body,
    });
    let text = if status == 200 { "OK" } else { "Service Unavailable" };
    write!(stream, "HTTP/1.1 {status} {text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    stream.flush()
}

/// `t=…,v1=HMAC-SHA256(secret, "t.body")`, computed here from the bytes received.
fn expected_signature(secret: &str, signature: &str, body: &[u8]) -> String {
    let t = signature.split(',').find_map(|p| p.strip_prefix("t=")).unwrap_or("");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

#[test]
fn a_webhook_gets_signed_deliveries_retried_with_a_growing_wait() {
    let (url, received) = webhook(3);
    let base_ms = 400u64;
    let source = source(&[("LRS_FORWARD_RETRY_BASE_MS", "400")]);
    let secret = "hook-secret-0123456789";
    let forwarder = json!({"name": "hook", "target": {"kind": "webhook", "url": url, "secret": secret}});
    let (status, body) = admin(&source.origin, Method::POST, "/admin/tenants/default/forwarders", Some(&forwarder));
    assert_eq!(status, 201, "{body}");
    let verb = unique_verb();
    let ids: Vec<String> = (0..5).map(|_| Uuid::new_v4().to_string()).collect();
    let (status, body) = source.post(&Value::Array(ids.iter().map(|id| statement(id, &verb)).collect()));
    assert_eq!(status, 200, "{body}");

    let status = wait_for_status(&source.origin, "default", "hook", FORWARDER_STATUS_TIMEOUT, |s| s["delivered"] == 5);
    assert_eq!(status["failed_attempts"], 3, "{status}");
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 4, "three failures, then the delivery");
    for request in received.iter() {
        assert_eq!(request.signature, expected_signature(secret, &request.signature, &request.body));
        assert_eq!(request.delivery, received[0].delivery, "a retry is the same delivery");
        assert_eq!(request.body, received[0].body, "a retry sends the same statements");
    }
    let body: Value = serde_json::from_slice(&received[3].body).unwrap();
    let sent: Vec<&str> = body["statements"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(sent, ids.iter().map(String::as_str).collect::<Vec<_>>(), "in stored order");
    assert_eq!(body["statements"][0]["verb"]["id"], verb.as_str());
    assert!(body["statements"][0]["stored"].is_string(), "a webhook gets the statements as stored");
    // The wait after the n-th failure is between half and all of base·2^(n-1)
    // (plus what a poll and a request take).
    for n in 1..=3u32 {
        let gap = received[n as usize].at.duration_since(received[n as usize - 1].at);
        let full = Duration::from_millis(base_ms << (n - 1));
        assert!(gap >= full / 2, "wait {n} was {gap:?}, less than half of {full:?}");
        assert!(gap <= full + Duration::from_millis(400), "wait {n} was {gap:?}, more than {full:?}");
    }
    // A wrong secret does not give the same signature.
    assert_ne!(
        received[0].signature,
        expected_signature("another-secret-0000", &received[0].signature, &received[0].body)
    );
}

#[test]
fn the_admin_cli_adds_lists_and_removes_a_forwarder() {
    let source = source(&[("LRS_FORWARDING", "false")]);
    let cli = |args: &[&str]| -> (bool, String) {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_lrs"))
            .arg("admin")
            .args(["--url", &source.origin, "--token", OPERATOR])
            .args(args)
            .env_remove("LRS_FORWARD_SECRET")
            .env_remove("LRS_WEBHOOK_SECRET")
            .output()
            .expect("run lrs admin");
        (output.status.success(), String::from_utf8_lossy(&output.stdout).to_string())
    };
    let secret = "cli-hook-secret-0123456789";
    let verb = unique_verb();
    let (ok, out) = cli(&[
        "forwarders",
        "add",
        "default",
        "to-bi",
        "--webhook-url",
        "http://127.0.0.1:9/hook",
        "--webhook-secret",
        secret,
        "--verb",
        &verb,
        "--batch-size",
        "25",
        "--from-now",
    ]);
    assert!(ok, "add: {out}");
    assert!(!out.contains(secret), "the answer shows the secret: {out}");
    let (ok, out) = cli(&["forwarders", "list", "default"]);
    assert!(ok, "list: {out}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["name"], "to-bi", "{listed}");
    assert_eq!(listed[0]["batch_size"], 25, "{listed}");
    assert_eq!(listed[0]["from"], "now", "{listed}");
    assert_eq!(listed[0]["filter"]["verb"], verb.as_str(), "{listed}");
    assert_eq!(listed[0]["target"]["url"], "http://127.0.0.1:9/hook", "{listed}");
    assert!(!out.contains(secret), "the listing shows the secret: {out}");
    let (ok, out) = cli(&["forwarders", "add", "default", "half", "--webhook-url", "http://127.0.0.1:9/hook"]);
    assert!(!ok, "a webhook without a secret is refused: {out}");
    let (ok, out) = cli(&["forwarders", "remove", "default", "to-bi"]);
    assert!(ok, "remove: {out}");
    let (ok, out) = cli(&["forwarders", "list", "default"]);
    assert!(ok && serde_json::from_str::<Value>(&out).unwrap() == json!([]), "after remove: {out}");
}

#[test]
fn a_template_filter_forwards_the_statements_that_match_and_follow_the_template() {
    let (url, received) = webhook(0);
    let source = source(&[]);
    let scored = unique_verb();
    let template = "http://example.com/templates/scored";
    let version = "http://example.com/profiles/forwarding/v1";
    let profile = json!({
        "@context": "https://w3id.org/xapi/profiles/context",
        "id": "http://example.com/profiles/forwarding", "type": "Profile",
        "conformsTo": "https://w3id.org/xapi/profiles#1.0",
        "prefLabel": {"en": "forwarding"}, "definition": {"en": "Written for the forwarding test."},
        "author": {"type": "Person", "name": "tests"},
        "versions": [{"id": version, "generatedAtTime": "2026-12-01T00:00:00Z"}],
        "templates": [{"id": template, "type": "StatementTemplate", "inScheme": version,
            "prefLabel": {"en": "scored"}, "definition": {"en": "scored"}, "verb": scored,
            "rules": [{"location": "$.result.score.scaled", "presence": "included"}]}],
    });
    let (status, body) =
        admin(&source.origin, Method::POST, "/admin/tenants/default/profiles?applies=all", Some(&profile));
    assert_eq!(status, 201, "{body}");
    let hook = |name: &str, filter: Value| json!({"name": name, "target": {"kind": "webhook", "url": url, "secret": "0123456789abcdef"}, "filter": filter});
    let unknown = hook("nope", json!({"template": "http://example.com/templates/unknown"}));
    let (status, body) = admin(&source.origin, Method::POST, "/admin/tenants/default/forwarders", Some(&unknown));
    assert_eq!(status, 400, "a template the tenant's profiles do not have: {body}");
    let (status, body) = admin(
        &source.origin,
        Method::POST,
        "/admin/tenants/default/forwarders",
        Some(&hook("scores", json!({"template": template}))),
    );
    assert_eq!(status, 201, "{body}");

    let with_score = |verb: &str| {
        let mut s = statement(&Uuid::new_v4().to_string(), verb);
        s["result"] = json!({"score": {"scaled": 0.5}});
        s
    };
    let follows = [with_score(&scored), with_score(&scored)];
    let breaks = statement(&Uuid::new_v4().to_string(), &scored);
    let other = with_score(&unique_verb());
    for body in [&follows[0], &breaks, &other, &follows[1]] {
        let (status, answer) = source.post(body);
        assert_eq!(status, 200, "{answer}");
    }
    wait_for_status(&source.origin, "default", "scores", FORWARDER_STATUS_TIMEOUT, |s| s["delivered"] == 2);
    let sent: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["statements"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let wanted: Vec<String> = follows.iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(sent, wanted, "only the statements that match and follow the template, in stored order");
}

#[test]
fn statements_with_attachment_bodies_reach_the_target_lrs_with_their_bodies() {
    use sha2::Digest as _;
    let target = Lrs::start();
    let source = source(&[]);
    let body = format!("the body of an attachment {}", Uuid::new_v4()).into_bytes();
    let sha2: String = sha2::Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
    let verb = unique_verb();
    let id = Uuid::new_v4().to_string();
    let mut with_body = statement(&id, &verb);
    with_body["attachments"] = json!([{"usageType": "http://example.com/attachment", "display": {"en-US": "notes"},
        "contentType": "text/plain", "length": body.len(), "sha2": sha2}]);
    let plain = statement(&Uuid::new_v4().to_string(), &verb);
    let boundary = "forwarding-test-boundary";
    let mut multipart =
        format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n", json!([with_body, plain])).into_bytes();
    multipart.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\nX-Experience-API-Hash: {sha2}\r\n\r\n")
            .as_bytes(),
    );
    multipart.extend_from_slice(&body);
    multipart.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = source
        .authed(Method::POST, "/xapi/statements")
        .header("Content-Type", format!("multipart/mixed; boundary={boundary}"))
        .body(multipart)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{:?}", response.text());
    let forwarder = json!({
        "name": "with-bodies",
        "target": {"kind": "lrs", "endpoint": target.endpoint, "key": KEY, "secret": target.secret},
        "filter": {"verb": verb},
    });
    let (status, answer) = admin(&source.origin, Method::POST, "/admin/tenants/default/forwarders", Some(&forwarder));
    assert_eq!(status, 201, "{answer}");
    let status = wait_for_status(&source.origin, "default", "with-bodies", FORWARDER_STATUS_TIMEOUT, |s| {
        s["delivered"] == 2 || s["dead_lettered"].as_u64() > Some(0)
    });
    assert_eq!((status["delivered"].clone(), status["dead_lettered"].clone()), (json!(2), json!(0)), "{status}");
    let answer = target
        .authed(Method::GET, &common::statements_query(&[("statementId", &id), ("attachments", "true")]))
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let bytes = answer.bytes().unwrap();
    assert!(bytes.windows(body.len()).any(|w| w == body.as_slice()), "the target answers the statement with its body");
}

/// The series of a forwarder named `name` in the source's /metrics.
fn forwarder_series(source: &Lrs, name: &str) -> Vec<String> {
    let metrics = source.client.get(source.url("/metrics")).send().unwrap().text().unwrap();
    let label = format!("forwarder=\"{name}\"");
    metrics.lines().filter(|l| l.starts_with("lrs_forwarder_") && l.contains(&label)).map(str::to_owned).collect()
}

#[test]
fn a_removed_forwarder_leaves_no_series_behind() {
    let source = source(&[]);
    // A webhook nothing answers: the forwarder fails, and its lag grows.
    let body = json!({"name": "gone", "target": {"kind": "webhook", "url": "http://127.0.0.1:9/hook",
        "secret": "gone-secret-0123456789"}});
    let (status, answer) = admin(&source.origin, Method::POST, "/admin/tenants/default/forwarders", Some(&body));
    assert_eq!(status, 201, "{answer}");
    let (status, _) = source.post(&statement(&Uuid::new_v4().to_string(), &unique_verb()));
    assert_eq!(status, 200);
    let deadline = Instant::now() + FORWARDER_STATUS_TIMEOUT;
    while !forwarder_series(&source, "gone").iter().any(|l| l.starts_with("lrs_forwarder_lag_seconds")) {
        assert!(Instant::now() < deadline, "no lag series: {:?}", forwarder_series(&source, "gone"));
        thread::sleep(Duration::from_millis(200));
    }
    let lag: f64 = forwarder_series(&source, "gone")
        .iter()
        .find(|l| l.starts_with("lrs_forwarder_lag_seconds"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .expect("a lag value");
    assert!(lag < 60.0, "the lag counts from the undelivered statement, not from 1970: {lag} s");
    let (_, status) = admin(&source.origin, Method::GET, "/admin/tenants/default/forwarders/gone", None);
    let lag = status["status"]["lag_seconds"].as_f64().expect("a lag in the status");
    assert!(lag < 60.0, "the status's lag too: {status}");
    let (status, _) = admin(&source.origin, Method::DELETE, "/admin/tenants/default/forwarders/gone", None);
    assert_eq!(status, 204);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !forwarder_series(&source, "gone").is_empty() {
        assert!(Instant::now() < deadline, "series left after removal: {:?}", forwarder_series(&source, "gone"));
        thread::sleep(Duration::from_millis(200));
    }
}
