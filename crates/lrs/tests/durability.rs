//! Proves that a statement acknowledged with 200 survives a SIGKILL of the server and a restart on the same data dir, exactly once.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{statement, statements_query, unique_verb, Lrs};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

/// Ids of the statements in a list, in order.
fn ids_of(statements: &[Value]) -> Vec<String> {
    statements
        .iter()
        .map(|s| s["id"].as_str().unwrap_or_else(|| panic!("statement without id: {s}")).to_owned())
        .collect()
}

/// Ids that appear more than once.
fn duplicates(ids: &[String]) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in ids {
        *counts.entry(id).or_default() += 1;
    }
    let mut twice: Vec<String> = counts.into_iter().filter(|(_, n)| *n > 1).map(|(id, _)| id.to_owned()).collect();
    twice.sort();
    twice
}

/// Checks that `id` is returned by id with the verb and actor it was posted with.
fn assert_found_by_id(lrs: &Lrs, id: &str, verb: &str, when: &str) {
    let (status, _, body) = lrs.get(&statements_query(&[("statementId", id)]));
    assert_eq!(status, 200, "{when}: GET by id answered {status}: {body}");
    assert_eq!(body["id"], id, "{when}: GET by id returned another statement: {body}");
    assert_eq!(body["verb"]["id"], verb, "{when}: wrong verb: {body}");
    assert_eq!(body["actor"]["mbox"], "mailto:e2e@example.com", "{when}: wrong actor: {body}");
}

/// Checks that the verb-filtered list holds `id` exactly once and nothing else.
fn assert_listed_once(lrs: &Lrs, id: &str, verb: &str, when: &str) {
    let statements = lrs.get_all(&statements_query(&[("verb", verb)]), 10);
    let ids = ids_of(&statements);
    assert_eq!(ids, vec![id.to_owned()], "{when}: the verb-filtered list must hold the statement exactly once");
}

#[test]
fn statement_survives_kill_and_restart() {
    let mut lrs = Lrs::start();
    let verb = unique_verb();
    let id = Uuid::new_v4().to_string();

    let (status, body) = lrs.post(&statement(&id, &verb));
    assert_eq!(status, 200, "POST answered {status}: {body}");
    assert_eq!(body, serde_json::json!([id]), "POST must answer the array of stored ids");

    assert_found_by_id(&lrs, &id, &verb, "before the kill");
    assert_listed_once(&lrs, &id, &verb, "before the kill");

    lrs.kill9();
    assert!(!lrs.is_running(), "the server must be dead after SIGKILL");
    let lrs = lrs.restart();

    assert_found_by_id(&lrs, &id, &verb, "after the restart");
    assert_listed_once(&lrs, &id, &verb, "after the restart");

    // The restarted server still takes writes next to the old statement.
    let second = Uuid::new_v4().to_string();
    let (status, body) = lrs.post(&statement(&second, &verb));
    assert_eq!(status, 200, "POST after restart answered {status}: {body}");
    let listed = ids_of(&lrs.get_all(&statements_query(&[("verb", &verb)]), 10));
    assert_eq!(listed.len(), 2, "after restart and one more POST the list must hold two statements: {listed:?}");
    assert!(listed.contains(&id) && listed.contains(&second), "both statements must be listed: {listed:?}");
}

/// What the writer threads saw.
#[derive(Default)]
struct Outcome {
    /// Every id sent in any request.
    attempted: HashSet<String>,
    /// Ids of requests answered 200.
    acknowledged: Vec<String>,
    /// Answers that were neither 200 nor 503 (503 means "retry", so the write is unknown).
    unexpected: Vec<String>,
}

const WRITERS: usize = 4;
const RUN_BEFORE_KILL: Duration = Duration::from_millis(1500);
const WRITER_TIME_LIMIT: Duration = Duration::from_secs(20);
const WRITER_MAX_REQUESTS: usize = 50_000;
const PAGE_LIMIT: usize = 50;

#[test]
fn every_acknowledged_statement_survives_sigkill_mid_stream() {
    let mut lrs = Lrs::start();
    let verb = unique_verb();
    let url = lrs.url("/xapi/statements");
    let stop = Arc::new(AtomicBool::new(false));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let outcome = Arc::new(Mutex::new(Outcome::default()));

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let client = common::client();
            let (url, key, secret, verb) = (url.clone(), lrs.key.clone(), lrs.secret.clone(), verb.clone());
            let (stop, acked_count, outcome) = (stop.clone(), acked_count.clone(), outcome.clone());
            thread::spawn(move || {
                let started = Instant::now();
                for n in 0..WRITER_MAX_REQUESTS {
                    if stop.load(Ordering::SeqCst) || started.elapsed() > WRITER_TIME_LIMIT {
                        break;
                    }
                    // Singles and batches of 2..=4, varying per writer and request.
                    let size = 1 + (n + writer) % 4;
                    let ids: Vec<String> = (0..size).map(|_| Uuid::new_v4().to_string()).collect();
                    let body = if size == 1 {
                        statement(&ids[0], &verb)
                    } else {
                        Value::Array(ids.iter().map(|id| statement(id, &verb)).collect())
                    };
                    outcome.lock().unwrap().attempted.extend(ids.iter().cloned());
                    let request = client
                        .request(Method::POST, &url)
                        .basic_auth(&key, Some(&secret))
                        .header("X-Experience-API-Version", common::XAPI_VERSION)
                        .json(&body);
                    let Ok(response) = request.send() else {
                        // No answer (the server died): the outcome is unknown.
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        continue;
                    };
                    let status = response.status().as_u16();
                    // A body that cannot be read completely is an unknown outcome too.
                    let Ok(text) = response.text() else { continue };
                    match status {
                        200 => {
                            let answered: Value = serde_json::from_str(&text)
                                .unwrap_or_else(|_| panic!("200 with a body that is not JSON: {text}"));
                            let expected = serde_json::json!(ids);
                            assert_eq!(answered, expected, "200 must answer the ids that were sent");
                            acked_count.fetch_add(ids.len(), Ordering::SeqCst);
                            outcome.lock().unwrap().acknowledged.extend(ids);
                        }
                        503 => {}
                        other => outcome.lock().unwrap().unexpected.push(format!("{other}: {text}")),
                    }
                }
            })
        })
        .collect();

    // Let the writers run, making sure some writes were acknowledged before the kill.
    let started = Instant::now();
    while started.elapsed() < RUN_BEFORE_KILL
        || (acked_count.load(Ordering::SeqCst) == 0 && started.elapsed() < Duration::from_secs(15))
    {
        thread::sleep(Duration::from_millis(20));
    }
    lrs.kill9();
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().expect("writer thread panicked");
    }

    let outcome = std::mem::take(&mut *outcome.lock().unwrap());
    assert!(outcome.unexpected.is_empty(), "unexpected answers while writing: {:?}", outcome.unexpected);
    let acknowledged: HashSet<String> = outcome.acknowledged.iter().cloned().collect();
    assert!(!acknowledged.is_empty(), "no write was acknowledged before the kill; stderr:\n{}", lrs.stderr());
    assert_eq!(acknowledged.len(), outcome.acknowledged.len(), "an id was acknowledged twice");

    let lrs = lrs.restart();
    let first_page = statements_query(&[("verb", &verb), ("limit", &PAGE_LIMIT.to_string())]);
    let max_pages = outcome.attempted.len() / PAGE_LIMIT + 10;

    // The restarted projector may still be catching up: poll (bounded) until every
    // acknowledged id is listed; every pass must be free of duplicates.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut passes = 0;
    let (listed, missing) = loop {
        passes += 1;
        let listed = ids_of(&lrs.get_all(&first_page, max_pages));
        let twice = duplicates(&listed);
        assert!(twice.is_empty(), "pass {passes}: ids listed more than once: {twice:?}");
        let seen: HashSet<&String> = listed.iter().collect();
        let mut missing: Vec<String> = acknowledged.iter().filter(|id| !seen.contains(id)).cloned().collect();
        missing.sort();
        if missing.is_empty() || Instant::now() > deadline {
            break (listed, missing);
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged ids are missing after restart (after {passes} passes, {} listed), e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        listed.len(),
        &missing[..missing.len().min(5)]
    );
    let phantoms: Vec<&String> = listed.iter().filter(|id| !outcome.attempted.contains(*id)).collect();
    assert!(phantoms.is_empty(), "listed ids that were never sent: {phantoms:?}");

    // Each acknowledged statement is also there by id (a sample, to keep it quick).
    for id in outcome.acknowledged.iter().step_by((acknowledged.len() / 20).max(1)) {
        assert_found_by_id(&lrs, id, &verb, "after the restart");
    }
    eprintln!(
        "mid-stream kill: {} ids attempted, {} acknowledged, {} listed after restart ({passes} passes)",
        outcome.attempted.len(),
        acknowledged.len(),
        listed.len()
    );
}
