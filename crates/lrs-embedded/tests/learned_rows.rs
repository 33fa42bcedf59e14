//! The projector keeps what its written batches left in the activity and
//! agent rows (merged definitions, names) for the next batch. A batch whose
//! write fails is applied again from the store as it is, not from what the
//! failed attempt learned: otherwise the retried batch would find its own
//! merge already done and write nothing. Likewise the days it listed for
//! its index keys (`index_days`): the retried batch lists them again.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::Pipeline;
use serde_json::{json, Value};
use xapi::Version;

const ACTIVITY: &str = "http://example.com/activities/learned";
const MBOX: &str = "mailto:learned@example.com";
const NEW_VERB: &str = "http://example.com/verbs/new-in-the-failed-batch";

fn statement(name: &str, definition: Value) -> Value {
    json!({
        "actor": {"mbox": MBOX, "name": name},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": ACTIVITY, "definition": definition},
    })
}

#[tokio::test]
async fn a_batch_retried_after_a_failed_write_still_merges_the_definition_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline::start(dir.path());
    let Pipeline { watched: flaky, gateway, query, principal, .. } = &pipeline;
    let tenant = principal.tenant.clone();

    // A first batch, written: the projector now knows the activity and the agent.
    let first = statement("Ann", json!({"name": {"en-US": "One"}}));
    gateway.store_statements(principal, first, Version::V1_0_3, None, Vec::new()).await.unwrap();

    // The next batch adds to both, but its first writes fail.
    flaky.failing.store(true, Ordering::SeqCst);
    let mut second = statement("Annie", json!({"description": {"en-US": "Two"}}));
    second["verb"]["id"] = json!(NEW_VERB);
    let posting = {
        let (gateway, principal) = (gateway.clone(), principal.clone());
        tokio::spawn(
            async move { gateway.store_statements(&principal, second, Version::V1_0_3, None, Vec::new()).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!posting.is_finished(), "the batch cannot be stored while the store fails");
    flaky.failing.store(false, Ordering::SeqCst);
    posting.await.unwrap().expect("the batch is stored once the store is back");

    let activity = query.activity(&tenant, ACTIVITY).await.unwrap().expect("the activity is known");
    assert_eq!(activity["definition"]["name"], json!({"en-US": "One"}), "{activity}");
    assert_eq!(activity["definition"]["description"], json!({"en-US": "Two"}), "{activity}");
    let mut names = query.agent_names(&tenant, &format!("mbox:{MBOX}")).await.unwrap();
    names.sort();
    assert_eq!(names, ["Ann", "Annie"]);
    let by_verb = lrs_core::StatementQuery { verb: Some(NEW_VERB.into()), ..Default::default() };
    let page = query.statements(&tenant, &by_verb).await.unwrap();
    assert_eq!(page.statements.len(), 1, "the new verb's day is listed by the retried batch");

    pipeline.stop().await;
}
