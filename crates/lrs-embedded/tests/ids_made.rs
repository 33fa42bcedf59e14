//! An id the gateway draws for a statement sent without one is new: the
//! projector stores such a statement without looking for an earlier one
//! with its id. Ids a client sends (in the statement or as `statementId`)
//! are still looked up: a repeat is a no-op, other content a conflict.

mod common;

use std::sync::atomic::Ordering;

use common::Pipeline;
use lrs_core::GatewayError;
use serde_json::{json, Value};
use uuid::Uuid;
use xapi::Version;

fn statement(n: usize) -> Value {
    json!({
        "actor": {"mbox": format!("mailto:learner{n}@example.com")},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": format!("http://example.com/activities/{n}")},
    })
}

#[tokio::test]
async fn the_projector_looks_up_the_ids_clients_send_and_not_those_the_gateway_draws() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::start(dir.path());
    let Pipeline { watched, gateway, principal, .. } = &pipeline;
    let post = |body: Value, required: Option<Uuid>| {
        gateway.store_statements(principal, body, Version::V1_0_3, required, Vec::new())
    };
    let reads = || watched.statement_reads.load(Ordering::SeqCst);

    let drawn = post(Value::Array((0..20).map(statement).collect()), None).await.unwrap();
    assert_eq!(drawn.len(), 20);
    assert_eq!(reads(), 0, "no statement sent without an id is looked up");

    let sent: Vec<Value> = (20..40)
        .map(|n| {
            let mut s = statement(n);
            s["id"] = json!(Uuid::new_v4().to_string());
            s
        })
        .collect();
    let ids = post(Value::Array(sent.clone()), None).await.unwrap();
    assert!(reads() >= 20, "each id a client sends is looked up: {}", reads());
    assert_eq!(post(Value::Array(sent.clone()), None).await.unwrap(), ids, "a repeat is a no-op");
    let mut changed = sent[3].clone();
    changed["verb"]["id"] = json!("http://adlnet.gov/expapi/verbs/completed");
    assert!(matches!(post(changed, None).await, Err(GatewayError::Conflict(_))), "other content conflicts");

    // The id of the `statementId` parameter is the client's too.
    let before = reads();
    let required = Uuid::new_v4();
    assert_eq!(post(statement(40), Some(required)).await.unwrap(), [required]);
    assert!(reads() > before, "the statementId parameter's id is looked up");
    let mut again = statement(41);
    again["id"] = json!(drawn[0].to_string());
    let mut first = statement(0);
    first["id"] = json!(drawn[0].to_string());
    assert!(matches!(post(again, None).await, Err(GatewayError::Conflict(_))), "a drawn id sent again is looked up");
    assert_eq!(post(first, None).await.unwrap(), [drawn[0]], "and the same statement again is a no-op");

    pipeline.stop().await;
}
