//! Helpers of the forwarding tests, on `lrs serve` and on a cluster.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use super::{client, read, statement, statements_query, Lrs};

/// The operator token the sources are started with.
pub(crate) const OPERATOR: &str = "forwarding-operator";

/// How long a forwarder may take to reach what a test waits for.
pub(crate) const FORWARDER_STATUS_TIMEOUT: Duration = Duration::from_secs(90);

/// An operator request to `origin`: status and JSON body.
pub(crate) fn admin(origin: &str, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    admin_as(origin, OPERATOR, method, path, body)
}

/// An operator request to `origin` with `token`.
pub(crate) fn admin_as(origin: &str, token: &str, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut request = client().request(method, format!("{origin}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    match request.send() {
        Ok(response) => {
            let (status, _, body) = read(response);
            (status, body)
        }
        Err(error) => (0, Value::String(error.to_string())),
    }
}

/// A port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Posts `batches` batches of `per_batch` statements, every other one with
/// verb `wanted` (the rest with `other`); returns the ids of the `wanted` ones.
pub(crate) fn post_batches(lrs: &Lrs, wanted: &str, other: &str, batches: usize, per_batch: usize) -> Vec<String> {
    post_batches_with(&|body| lrs.post(body), wanted, other, batches, per_batch)
}

/// [`post_batches`] through any way of posting a statements body.
pub(crate) fn post_batches_with(
    post: &dyn Fn(&Value) -> (u16, Value),
    wanted: &str,
    other: &str,
    batches: usize,
    per_batch: usize,
) -> Vec<String> {
    let mut matching = Vec::new();
    for _ in 0..batches {
        let mut batch = Vec::with_capacity(per_batch);
        for i in 0..per_batch {
            let id = Uuid::new_v4().to_string();
            let verb = if i % 2 == 0 { wanted } else { other };
            if verb == wanted {
                matching.push(id.clone());
            }
            batch.push(statement(&id, verb));
        }
        let (status, body) = post(&Value::Array(batch));
        assert_eq!(status, 200, "POST of a batch answered {status}: {body}");
    }
    matching
}

/// The ids of every statement the target lists (with a verb filter), sorted.
pub(crate) fn target_ids(target: &Lrs, verb: Option<&str>) -> Vec<String> {
    let mut params = vec![("limit", "500")];
    if let Some(verb) = verb {
        params.push(("verb", verb));
    }
    let mut ids: Vec<String> = target
        .get_all(&statements_query(&params), 1_000)
        .iter()
        .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Polls a forwarder's status until `done` holds; returns it.
pub(crate) fn wait_for_status(
    origin: &str,
    tenant: &str,
    name: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_for_status_as(origin, OPERATOR, (tenant, name), within, done)
}

/// [`wait_for_status`] with the operator token `token`.
pub(crate) fn wait_for_status_as(
    origin: &str,
    token: &str,
    (tenant, name): (&str, &str),
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let path = format!("/admin/tenants/{tenant}/forwarders/{name}");
        let (status, body) = admin_as(origin, token, Method::GET, &path, None);
        if status == 200 {
            if done(&body["status"]) {
                return body["status"].clone();
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("forwarder {name} did not get there within {within:?}; last: {last}");
}
