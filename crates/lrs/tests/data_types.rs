//! Proves the 2.0 §4.2.7 data-type rules the LRS applies to what it stores: a Duration finer than 0.01 s is
//! accepted and kept or truncated (never rounded), and an activity IRI is found again by the IRI it was stored under.

mod common;

use common::{path_query, send, unique_verb, Lrs};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

/// 2.0 §4.2.7 "On receiving a Duration with more than 0.01 second precision, the LRS shall not reject the request"
/// and "may truncate the duration to 0.01 second precision" (rounding is not allowed).
#[test]
fn duration_finer_than_hundredths_is_accepted_and_kept_or_truncated() {
    let lrs = Lrs::start();
    for (version, sent, truncated) in [
        ("2.0.0", "P1DT12H36M0.12567S", "P1DT12H36M0.12S"),
        ("1.0.3", "PT0.999S", "PT0.99S"),
        ("2.0.0", "PT1.2S", "PT1.2S"),
    ] {
        let id = Uuid::new_v4().to_string();
        let mut statement = common::statement(&id, &unique_verb());
        statement["result"] = json!({ "duration": sent });
        let (status, _, body) = send(lrs.authed_as(Method::POST, "/xapi/statements", version).json(&statement));
        assert_eq!(status, 200, "{version}: duration {sent} answered {status}: {body}");
        let (status, _, stored) = send(lrs.authed_as(
            Method::GET,
            &common::statements_query(&[("statementId", &id), ("format", "exact")]),
            version,
        ));
        assert_eq!(status, 200, "{stored}");
        let duration = stored["result"]["duration"].as_str().unwrap_or_else(|| panic!("no duration: {stored}"));
        assert!(
            duration == sent || duration == truncated,
            "{version}: {sent} may only be kept or truncated to {truncated}, got {duration}"
        );
    }
}

/// 2.0 §4.2.7 "When storing or comparing IRIs, LRSs shall handle them only by using one or more of the approaches
/// described in 5.3.1 (Simple String Comparison) and 5.3.2 (Syntax-Based Normalization) of RFC 3987".
#[test]
fn activity_iri_is_found_by_the_iri_it_was_sent_with() {
    let lrs = Lrs::start();
    let slug = Uuid::new_v4().simple().to_string();
    let plain = format!("http://example.com/path/{slug}");
    let dotted = format!("http://example.com/path/../{slug}");
    let mut statement = common::statement(&Uuid::new_v4().to_string(), &unique_verb());
    statement["object"] = json!({
        "objectType": "Activity",
        "id": dotted,
        "definition": { "name": { "en-US": "dotted" } },
    });
    let (status, body) = lrs.post(&statement);
    assert_eq!(status, 200, "POST answered {status}: {body}");

    let get = |iri: &str| {
        let (status, _, activity) =
            send(lrs.authed(Method::GET, &path_query("/xapi/activities", &[("activityId", iri)])));
        assert_eq!(status, 200, "GET activity {iri}: {activity}");
        activity
    };
    let by_plain = get(&plain);
    let by_dotted = get(&dotted);
    assert!(
        by_plain["id"] == json!(plain) || by_dotted["id"] == json!(dotted),
        "one of the two IRIs must find the activity: {by_plain} / {by_dotted}"
    );
    // Simple string comparison keeps the IRI as sent, with its definition.
    if by_dotted["id"] == json!(dotted) {
        assert_eq!(by_dotted["definition"]["name"]["en-US"], "dotted", "{by_dotted}");
    }
}
