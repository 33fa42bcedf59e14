//! The distributed deployment on a real Kafka-protocol broker: separate
//! gateway and projector+query processes. A projector killed with SIGKILL
//! mid-stream loses and repeats nothing and catches up; a gateway answers 503
//! (never 200) while the broker is down and recovers by itself.
//!
//! Needs LRS_KAFKA_BROKERS (set by `make test`, which starts tansu through
//! scripts/kafka-broker.sh) and the tansu binary for the broker-outage test.
//! Outside CI they say plainly that they are skipped; under CI they fail instead.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{broker, gateway, kafka_env, projector_query, skip_or_fail, statement, unique_verb, Lrs};
use reqwest::Method;

/// Every statement of `verb` that the query process lists, following `more`.
fn listed_ids(query: &Lrs, verb: &str) -> Vec<String> {
    let first = common::statements_query(&[("verb", verb), ("limit", "200")]);
    query.get_all(&first, 100).iter().map(|s| s["id"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Seconds between X-Experience-API-Consistent-Through and now (positive: behind).
fn consistent_through_lag(query: &Lrs) -> Option<i64> {
    let (status, headers, _) = query.get("/xapi/statements?limit=1");
    assert_eq!(status, 200);
    let text = common::header_text(&headers, "x-experience-api-consistent-through").to_owned();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(now - common::iso_utc_seconds(&text))
}

#[test]
fn every_acknowledged_write_survives_a_projector_sigkill_and_the_lag_returns_to_zero() {
    let Some(brokers) = broker() else { return };
    let prefix = format!("e2e-{}", uuid::Uuid::new_v4().simple());
    let env = kafka_env(&brokers, &prefix);
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let store_dir = tempfile::tempdir().unwrap();
    let mut query = projector_query(store_dir.path(), &secret, &env);
    let gateways: Vec<Lrs> = (0..2).map(|_| gateway(&query, &secret, &env)).collect();
    let gateways = Arc::new(gateways);
    let verb = unique_verb();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (gateways, acknowledged, stop, verb) =
                (gateways.clone(), acknowledged.clone(), stop.clone(), verb.clone());
            thread::spawn(move || {
                let started = Instant::now();
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(40) && sent < 2_000 {
                    let id = uuid::Uuid::new_v4().to_string();
                    let via = &gateways[(writer + sent) % gateways.len()];
                    sent += 1;
                    let response = via.authed(Method::POST, "/xapi/statements").json(&statement(&id, &verb)).send();
                    let Ok(response) = response else { continue };
                    match response.status().as_u16() {
                        200 => acknowledged.lock().unwrap().push(id),
                        503 => {}
                        other => panic!("a write through a gateway answered {other}"),
                    }
                }
            })
        })
        .collect();

    // Let some writes through, SIGKILL the projector mid-stream, restart it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "no write was acknowledged; projector stderr:\n{}", query.stderr());
        thread::sleep(Duration::from_millis(20));
    }
    query.kill9();
    thread::sleep(Duration::from_millis(300));
    let query = projector_query(store_dir.path(), &secret, &env);
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("writer thread");
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    // The lag returns to zero: Consistent-Through is "now" only when the
    // projector has applied every partition of the log to its end.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if consistent_through_lag(&query).is_some_and(|lag| lag <= 2) {
            break;
        }
        assert!(Instant::now() < deadline, "the projector did not catch up; stderr:\n{}", query.stderr());
        thread::sleep(Duration::from_millis(200));
    }
    let listed = listed_ids(&query, &verb);
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a statement is listed twice");
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged statements are lost: {missing:?}",
        missing.len(),
        acknowledged.len()
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_gateway_answers_503_while_the_broker_is_down_and_recovers_by_itself() {
    if !common::tansu_installed() {
        skip_or_fail("tansu is not installed (scripts/kafka-broker.sh install)");
        return;
    }
    let broker_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    common::broker_command("start", port, broker_dir.path());
    struct StopBroker(PathBuf);
    impl Drop for StopBroker {
        fn drop(&mut self) {
            common::broker_command("stop", 0, &self.0);
        }
    }
    let _stop = StopBroker(broker_dir.path().to_owned());
    let env = kafka_env(&format!("127.0.0.1:{port}"), "outage");
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let store_dir = tempfile::tempdir().unwrap();
    let query = projector_query(store_dir.path(), &secret, &env);
    let gateway = gateway(&query, &secret, &env);
    let verb = unique_verb();
    let post = |id: &str| gateway.post(&statement(id, &verb)).0;
    common::wait_for_readyz(&query, 200);
    common::wait_for_readyz(&gateway, 200);
    assert_eq!(post(&uuid::Uuid::new_v4().to_string()), 200, "a write with the broker up");

    common::broker_command("stop", 0, broker_dir.path());
    for attempt in 0..3 {
        let status = post(&uuid::Uuid::new_v4().to_string());
        assert_eq!(status, 503, "attempt {attempt} with the broker down must answer 503, not {status}");
    }

    common::broker_command("start", port, broker_dir.path());
    let recovered = uuid::Uuid::new_v4().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match post(&recovered) {
            200 => break,
            503 => {}
            other => panic!("after the broker returned a write answered {other}"),
        }
        assert!(Instant::now() < deadline, "the gateway did not recover; stderr:\n{}", gateway.stderr());
        thread::sleep(Duration::from_millis(500));
    }
    let (status, _, body) = query.get(&format!("/xapi/statements?statementId={recovered}"));
    assert_eq!(status, 200, "the recovered write is readable: {body}");
}
