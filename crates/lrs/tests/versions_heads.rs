//! Proves the version rules (every 1.0.x and 2.0.0 header accepted and answered in its family, default statement
//! `version`, UTC timestamps under 2.0), that HEAD answers like GET without a body on every resource, that /about
//! lists the versions, that statement GETs carry Consistent-Through and Last-Modified, and that a voided statement is
//! only returned through voidedStatementId (Communication 1.1, 2.1.3, 2.1.4, 2.8, 3.3; Data 2.4.7, 2.4.10).

mod common;

use common::{
    header_text, http_date_seconds, iso_utc_seconds, path_query, send, send_raw, statement, statements_query,
    unique_verb, Lrs,
};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const VERSION: &str = "X-Experience-API-Version";
const CONSISTENT: &str = "X-Experience-API-Consistent-Through";

/// The answer's version for a request's version.
fn family(version: &str) -> &'static str {
    if version.starts_with("2.") {
        "2.0.0"
    } else {
        "1.0.3"
    }
}

/// Communication 3.3 (XAPI-00330, 00331 family): every supported version header is accepted on PUT, POST and GET
/// and answered with 1.0.3 or 2.0.0; a statement without `version` is stored with 1.0.0 or 2.0.0.
#[test]
fn every_supported_version_is_accepted_and_answered_in_its_family() {
    let lrs = Lrs::start();
    for version in ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"] {
        let expected = family(version);
        let put_id = Uuid::new_v4().to_string();
        let (status, headers, body) = send(
            lrs.authed_as(Method::PUT, &statements_query(&[("statementId", &put_id)]), version)
                .json(&statement(&put_id, &unique_verb())),
        );
        assert_eq!(status, 204, "{version}: PUT answered {status}: {body}");
        assert_eq!(header_text(&headers, VERSION), expected, "{version}: PUT answer's version header");

        let post_id = Uuid::new_v4().to_string();
        let (status, headers, body) =
            send(lrs.authed_as(Method::POST, "/xapi/statements", version).json(&statement(&post_id, &unique_verb())));
        assert_eq!(status, 200, "{version}: POST answered {status}: {body}");
        assert_eq!(header_text(&headers, VERSION), expected, "{version}: POST answer's version header");

        for id in [&put_id, &post_id] {
            let (status, headers, stored) =
                send(lrs.authed_as(Method::GET, &statements_query(&[("statementId", id)]), version));
            assert_eq!(status, 200, "{version}: GET answered {status}: {stored}");
            assert_eq!(header_text(&headers, VERSION), expected, "{version}: GET answer's version header");
            let default = if expected == "2.0.0" { "2.0.0" } else { "1.0.0" };
            assert_eq!(
                stored["version"], default,
                "{version}: a statement without version is stored as {default}: {stored}"
            );
        }

        // The document resources answer in the same family.
        let url = path_query(
            "/xapi/activities/state",
            &[
                ("activityId", "http://example.com/activities/versions"),
                ("agent", r#"{"mbox":"mailto:versions@example.com"}"#),
                ("stateId", version),
            ],
        );
        let (status, headers, body) =
            send(lrs.authed_as(Method::PUT, &url, version).header("Content-Type", "application/json").body("{}"));
        assert_eq!(status, 204, "{version}: state PUT answered {status}: {body}");
        assert_eq!(header_text(&headers, VERSION), expected, "{version}: state PUT answer's version header");
    }
}

/// XAPI-00332, 00330: a statement's own `version` is kept as sent.
#[test]
fn statement_version_property_is_kept_as_sent() {
    let lrs = Lrs::start();
    for (header, sent) in
        [("1.0.3", "1.0.0"), ("1.0.3", "1.0.1"), ("1.0.3", "1.0.3"), ("2.0.0", "2.0.0"), ("2.0.0", "1.0.3")]
    {
        let id = Uuid::new_v4().to_string();
        let mut body = statement(&id, &unique_verb());
        body["version"] = json!(sent);
        let (status, _, answer) = send(lrs.authed_as(Method::POST, "/xapi/statements", header).json(&body));
        assert_eq!(status, 200, "version {sent} under {header}: POST answered {status}: {answer}");
        let (status, _, stored) = send(lrs.authed_as(Method::GET, &statements_query(&[("statementId", &id)]), header));
        assert_eq!(status, 200, "{stored}");
        assert_eq!(stored["version"], sent, "version {sent} under {header} must come back unchanged: {stored}");
    }
}

/// 2.0 §4.2.7 ("checks if the LRS converts timestamps to UTC"): a timestamp with an offset is stored as the same
/// instant in UTC.
#[test]
fn timestamps_with_offsets_are_stored_in_utc_under_2_0() {
    let lrs = Lrs::start();
    for (sent, utc) in [
        ("2023-05-04T12:00:00-05:00", "2023-05-04T17:00:00"),
        ("2023-05-04T12:00:00+05:00", "2023-05-04T07:00:00"),
        ("2023-05-04T02:30:00.250+05:30", "2023-05-03T21:00:00"),
    ] {
        let id = Uuid::new_v4().to_string();
        let mut body = statement(&id, &unique_verb());
        body["timestamp"] = json!(sent);
        let (status, _, answer) = send(lrs.authed_as(Method::POST, "/xapi/statements", "2.0.0").json(&body));
        assert_eq!(status, 200, "{sent}: POST answered {status}: {answer}");
        let (status, _, stored) = send(lrs.authed_as(Method::GET, &statements_query(&[("statementId", &id)]), "2.0.0"));
        assert_eq!(status, 200, "{stored}");
        let timestamp = stored["timestamp"].as_str().unwrap_or_else(|| panic!("no timestamp: {stored}"));
        assert!(timestamp.ends_with('Z'), "{sent} must be stored in UTC, got {timestamp}");
        assert!(timestamp.starts_with(utc), "{sent} must be stored as {utc}Z, got {timestamp}");
    }
}

/// XAPI-00126, 00125 (Communication 1.1): HEAD is accepted on every resource and answers like GET, without a body.
#[test]
fn head_answers_like_get_without_a_body_on_every_resource() {
    let lrs = Lrs::start();
    let id = Uuid::new_v4().to_string();
    let (status, answer) = lrs.put(&id, &statement(&id, &unique_verb()));
    assert_eq!(status, 204, "{answer}");
    let activity = "http://example.com/activities/e2e";
    let agent = r#"{"objectType":"Agent","mbox":"mailto:e2e@example.com"}"#;
    let state = [("activityId", activity), ("agent", agent), ("stateId", "head-state")];
    let activity_profile = [("activityId", activity), ("profileId", "head-profile")];
    let agent_profile = [("agent", agent), ("profileId", "head-profile")];
    for (path, params) in [
        ("/xapi/activities/state", &state[..]),
        ("/xapi/activities/profile", &activity_profile[..]),
        ("/xapi/agents/profile", &agent_profile[..]),
    ] {
        let (status, _, body) = send(
            lrs.authed_as(Method::PUT, &path_query(path, params), "2.0.0")
                .header("Content-Type", "application/json")
                .body(r#"{"head":true}"#),
        );
        assert_eq!(status, 204, "PUT {path} answered {status}: {body}");
    }

    let cases: Vec<(String, u16)> = vec![
        (statements_query(&[("statementId", &id)]), 200),
        (statements_query(&[("verb", "http://example.com/verbs/none")]), 200),
        (statements_query(&[("statementId", &Uuid::new_v4().to_string())]), 404),
        (statements_query(&[("statementId", "not-a-uuid")]), 400),
        (path_query("/xapi/activities", &[("activityId", activity)]), 200),
        (path_query("/xapi/agents", &[("agent", agent)]), 200),
        (path_query("/xapi/activities/state", &state), 200),
        (path_query("/xapi/activities/state", &state[..2]), 200),
        (path_query("/xapi/activities/profile", &activity_profile), 200),
        (path_query("/xapi/activities/profile", &activity_profile[..1]), 200),
        (path_query("/xapi/agents/profile", &agent_profile), 200),
        (path_query("/xapi/agents/profile", &agent_profile[..1]), 200),
        (path_query("/xapi/agents/profile", &[("agent", agent), ("profileId", "missing")]), 404),
        ("/xapi/about".to_owned(), 200),
    ];
    for (url, expected) in cases {
        let (get_status, get_headers, get_body) = send_raw(lrs.authed(Method::GET, &url));
        let (head_status, head_headers, head_body) = send_raw(lrs.authed(Method::HEAD, &url));
        assert_eq!(get_status, expected, "GET {url}: {}", String::from_utf8_lossy(&get_body));
        assert_eq!(head_status, get_status, "HEAD {url} must answer like GET");
        assert!(head_body.is_empty(), "HEAD {url} must have no body, got {} bytes", head_body.len());
        for name in ["content-type", "etag", "last-modified", VERSION] {
            assert_eq!(header_text(&head_headers, name), header_text(&get_headers, name), "HEAD {url}: header {name}");
        }
        if expected == 200 {
            assert!(!get_body.is_empty(), "GET {url} has a body");
        }
    }
    // /about needs neither credentials nor a version header, for HEAD as for GET.
    let (status, _, body) = send_raw(lrs.bare(Method::HEAD, "/xapi/about"));
    assert_eq!((status, body.len()), (200, 0), "bare HEAD /about");
}

/// XAPI-00315, 00316, 00317, 00318, 00319, 00321: /about answers 200 without a version header, with `version` an
/// array of strings naming 1.0.3 and 2.0.0 and only 1.0.x / 2.0.x versions.
#[test]
fn about_lists_the_supported_versions() {
    let lrs = Lrs::start();
    for request in [lrs.bare(Method::GET, "/xapi/about"), lrs.authed_as(Method::GET, "/xapi/about", "2.0.0")] {
        let (status, _, about) = send(request);
        assert_eq!(status, 200, "GET /about answered {status}: {about}");
        let versions: Vec<&str> = about["version"]
            .as_array()
            .unwrap_or_else(|| panic!("version must be an array: {about}"))
            .iter()
            .map(|v| v.as_str().unwrap_or_else(|| panic!("versions are strings: {about}")))
            .collect();
        assert!(versions.contains(&"1.0.3") && versions.contains(&"2.0.0"), "{about}");
        for version in versions {
            let patch = version.strip_prefix("1.0.").or_else(|| version.strip_prefix("2.0."));
            assert!(
                patch.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())),
                "bad version {version:?}"
            );
        }
        if let Some(extensions) = about.get("extensions") {
            assert!(extensions.is_object(), "extensions is an object: {about}");
        }
    }
    // Every other resource needs the version header (XAPI-00321).
    let (status, _, _) = send(lrs.bare(Method::GET, "/xapi/statements").basic_auth(&lrs.key, Some(&lrs.secret)));
    assert_eq!(status, 400, "GET /statements without a version header");
}

/// XAPI-00153, 00160: every statement GET, errors included, carries X-Experience-API-Consistent-Through, an ISO 8601
/// time not before the last stored statement; a single statement GET carries Last-Modified = its `stored` (2.0
/// §4.1.6.1).
#[test]
fn statement_gets_carry_consistent_through_and_last_modified() {
    let lrs = Lrs::start();
    let id = Uuid::new_v4().to_string();
    let verb = unique_verb();
    let (status, answer) = lrs.put(&id, &statement(&id, &verb));
    assert_eq!(status, 204, "{answer}");
    let (_, headers, stored) = lrs.get(&statements_query(&[("statementId", &id)]));
    let stored_at = stored["stored"].as_str().expect("stored").to_owned();

    let last_modified = header_text(&headers, "last-modified");
    assert_eq!(
        http_date_seconds(last_modified),
        iso_utc_seconds(&stored_at),
        "Last-Modified {last_modified} must be the statement's stored {stored_at} (to the second)"
    );

    for (url, expected) in [
        (statements_query(&[("statementId", &id)]), 200),
        (statements_query(&[("verb", &verb)]), 200),
        (statements_query(&[("agent", r#"{"mbox":"mailto:e2e@example.com"}"#)]), 200),
        (statements_query(&[("since", "2000-01-01T00:00:00Z"), ("limit", "1"), ("ascending", "true")]), 200),
        (statements_query(&[("statementId", &Uuid::new_v4().to_string())]), 404),
        (statements_query(&[("statementId", &id), ("verb", &verb)]), 400),
        (statements_query(&[("limit", "many")]), 400),
    ] {
        let (status, headers, body) = lrs.get(&url);
        assert_eq!(status, expected, "GET {url}: {body}");
        let consistent = header_text(&headers, CONSISTENT);
        assert!(!consistent.is_empty(), "GET {url} ({status}) has no {CONSISTENT}");
        assert!(
            iso_utc_seconds(consistent) >= iso_utc_seconds(&stored_at),
            "GET {url}: {CONSISTENT} {consistent} is before the stored {stored_at}"
        );
    }
}

/// XAPI-00163, 00155, 00156, 00157, 00162 (Communication 2.1.4): a voided statement is 404 by statementId, returned
/// by voidedStatementId, left out of queries while the voiding statement that targets it is returned.
#[test]
fn voided_statement_is_only_returned_through_voided_statement_id() {
    let lrs = Lrs::start();
    let verb = unique_verb();
    let target = Uuid::new_v4().to_string();
    let (status, answer) = lrs.put(&target, &statement(&target, &verb));
    assert_eq!(status, 204, "{answer}");
    let voiding = Uuid::new_v4().to_string();
    let (status, answer) = lrs.post(&json!({
        "id": voiding,
        "actor": { "objectType": "Agent", "mbox": "mailto:e2e@example.com" },
        "verb": { "id": "http://adlnet.gov/expapi/verbs/voided", "display": { "en-US": "voided" } },
        "object": { "objectType": "StatementRef", "id": target },
    }));
    assert_eq!(status, 200, "voiding answered {status}: {answer}");

    let (status, _, body) = lrs.get(&statements_query(&[("statementId", &target)]));
    assert_eq!(status, 404, "statementId of a voided statement: {body}");

    let (status, headers, voided) = lrs.get(&statements_query(&[("voidedStatementId", &target)]));
    assert_eq!(status, 200, "voidedStatementId: {voided}");
    assert_eq!(voided["id"], json!(target), "{voided}");
    assert!(!header_text(&headers, CONSISTENT).is_empty(), "voidedStatementId answer has {CONSISTENT}");
    for extra in [("format", "ids"), ("attachments", "false")] {
        let (status, _, body) = lrs.get(&statements_query(&[("voidedStatementId", &target), extra]));
        assert_eq!(status, 200, "voidedStatementId with {extra:?}: {body}");
    }
    let (status, _, body) = lrs.get(&statements_query(&[("voidedStatementId", &target), ("verb", &verb)]));
    assert_eq!(status, 400, "voidedStatementId with a filter (XAPI-00150): {body}");

    let (status, _, body) = lrs.get(&statements_query(&[("voidedStatementId", &voiding)]));
    assert_eq!(status, 404, "voidedStatementId of a statement that is not voided: {body}");
    let (status, _, body) = lrs.get(&statements_query(&[("statementId", &voiding)]));
    assert_eq!(status, 200, "the voiding statement by statementId: {body}");

    let found = lrs.get_all(&statements_query(&[("verb", &verb)]), 5);
    let ids: Vec<&Value> = found.iter().map(|s| &s["id"]).collect();
    assert_eq!(
        ids,
        vec![&json!(voiding)],
        "a query matching the voided statement returns only the voiding one: {found:?}"
    );
}
