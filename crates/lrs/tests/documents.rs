//! Proves that the three document resources (State, Activity Profile, Agent Profile; xAPI 1.0.3 Communication 2.2–2.7,
//! 3.1 and 2.0 §4.1.4, §4.1.6.2, §4.1.6.5, §4.1.6.6) store, list, merge and delete documents, reject bad parameters
//! with 400, and enforce ETag preconditions.

mod common;

use std::thread;
use std::time::Duration;

use common::{header_text, http_date_seconds, path_query, send, send_raw, statement, unique_verb, Lrs};
use reqwest::blocking::RequestBuilder;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// An ETag no document has.
const WRONG_ETAG: &str = "\"0000000000000000000000000000000000000000\"";

/// The three document resources.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    State,
    ActivityProfile,
    AgentProfile,
}

const KINDS: [Kind; 3] = [Kind::State, Kind::ActivityProfile, Kind::AgentProfile];

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::State => "/xapi/activities/state",
            Kind::ActivityProfile => "/xapi/activities/profile",
            Kind::AgentProfile => "/xapi/agents/profile",
        }
    }

    fn id_name(self) -> &'static str {
        match self {
            Kind::State => "stateId",
            _ => "profileId",
        }
    }

    fn has_activity(self) -> bool {
        self != Kind::AgentProfile
    }

    fn has_agent(self) -> bool {
        self != Kind::ActivityProfile
    }
}

/// The parameters that scope a document (everything but its id), unique to one test.
#[derive(Clone, Debug)]
struct Scope {
    kind: Kind,
    params: Vec<(&'static str, String)>,
}

impl Scope {
    fn new(kind: Kind) -> Scope {
        let tag = Uuid::new_v4().simple().to_string();
        let mut params = Vec::new();
        if kind.has_activity() {
            params.push(("activityId", format!("http://example.com/activities/doc-{tag}")));
        }
        if kind.has_agent() {
            params.push((
                "agent",
                json!({ "objectType": "Agent", "mbox": format!("mailto:doc-{tag}@example.com") }).to_string(),
            ));
        }
        Scope { kind, params }
    }

    /// This scope with a `registration` parameter (State only).
    fn with_registration(&self, registration: &str) -> Scope {
        let mut scope = self.clone();
        scope.params.push(("registration", registration.to_owned()));
        scope
    }

    /// This scope without one of its parameters.
    fn without(&self, name: &str) -> Scope {
        let mut scope = self.clone();
        scope.params.retain(|(n, _)| *n != name);
        scope
    }

    /// This scope with one parameter replaced (or added).
    fn with(&self, name: &'static str, value: &str) -> Scope {
        let mut scope = self.without(name);
        scope.params.push((name, value.to_owned()));
        scope
    }

    /// The path and query of a document (or of the whole scope without an id), plus extra parameters.
    fn url(&self, id: Option<&str>, extra: &[(&str, &str)]) -> String {
        let mut params: Vec<(&str, &str)> = self.params.iter().map(|(n, v)| (*n, v.as_str())).collect();
        if let Some(id) = id {
            params.push((self.kind.id_name(), id));
        }
        params.extend_from_slice(extra);
        path_query(self.kind.path(), &params)
    }
}

/// A request on one document (or the whole scope when `id` is None) announcing `version`.
fn request(lrs: &Lrs, method: Method, scope: &Scope, id: Option<&str>, version: &str) -> RequestBuilder {
    lrs.authed_as(method, &scope.url(id, &[]), version)
}

/// Status, headers and raw body of a GET of one document.
fn get_doc(lrs: &Lrs, scope: &Scope, id: &str) -> (u16, HeaderMap, Vec<u8>) {
    send_raw(request(lrs, Method::GET, scope, Some(id), "2.0.0"))
}

/// The document's JSON content (panics unless the GET answers 200 with JSON).
fn get_json(lrs: &Lrs, scope: &Scope, id: &str) -> Value {
    let (status, _, body) = get_doc(lrs, scope, id);
    assert_eq!(status, 200, "GET {:?} {id} answered {status}: {}", scope.kind, String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)))
}

/// The ETag of a document.
fn etag(lrs: &Lrs, scope: &Scope, id: &str) -> String {
    let (status, headers, _) = get_doc(lrs, scope, id);
    assert_eq!(status, 200, "GET {:?} {id} answered {status}", scope.kind);
    header_text(&headers, "etag").to_owned()
}

/// The ids a GET without a document id lists.
fn list(lrs: &Lrs, scope: &Scope, extra: &[(&str, &str)]) -> Vec<String> {
    let url = scope.url(None, extra);
    let (status, _, body) = send(lrs.authed_as(Method::GET, &url, "2.0.0"));
    assert_eq!(status, 200, "GET {url} answered {status}: {body}");
    let mut ids: Vec<String> =
        serde_json::from_value(body.clone()).unwrap_or_else(|_| panic!("not an array of ids: {body}"));
    ids.sort();
    ids
}

/// Creates a new document with `If-None-Match: *` (allowed on every resource and version) and checks 204.
fn create(lrs: &Lrs, scope: &Scope, id: &str, content_type: &str, body: impl Into<reqwest::blocking::Body>) {
    let (status, _, answer) = send(
        request(lrs, Method::PUT, scope, Some(id), "1.0.3")
            .header("If-None-Match", "*")
            .header("Content-Type", content_type)
            .body(body),
    );
    assert_eq!(status, 204, "creating {:?} {id} answered {status}: {answer}", scope.kind);
}

/// Checks a 400 answer with the JSON error body.
fn assert_400(what: &str, (status, _, body): (u16, HeaderMap, Value)) {
    assert_eq!(status, 400, "{what}: answered {status}: {body}");
    assert_eq!(body["error"]["code"], 400, "{what}: the body must be the JSON error: {body}");
}

/// True for `"` + 40 lowercase-or-uppercase hex digits + `"`.
fn is_quoted_sha1(etag: &str) -> bool {
    etag.len() == 42
        && etag.starts_with('"')
        && etag.ends_with('"')
        && etag[1..41].chars().all(|c| c.is_ascii_hexdigit())
}

/// A `stored` timestamp taken strictly between two moments: posts a statement and returns its `stored`.
fn server_now(lrs: &Lrs) -> String {
    thread::sleep(Duration::from_millis(20));
    let id = Uuid::new_v4().to_string();
    let (status, body) = lrs.put(&id, &statement(&id, &unique_verb()));
    assert_eq!(status, 204, "PUT statement answered {status}: {body}");
    let (status, _, stored) = lrs.get(&common::statements_query(&[("statementId", &id)]));
    assert_eq!(status, 200, "GET statement answered {status}: {stored}");
    thread::sleep(Duration::from_millis(20));
    stored["stored"].as_str().expect("stored").to_owned()
}

/// XAPI-00230, 00311 (endpoints); XAPI-00190, 00188, 00187, 00192, 00191, 00217, 00216 (State);
/// XAPI-00287, 00293, 00290, 00285, 00291, 00288 (Activity Profile); XAPI-00282, 00274, 00273, 00271, 00269 (Agent
/// Profile); XAPI-00322 (ETag on GET, quoted SHA-1).
#[test]
fn put_get_delete_round_trip_keeps_content_type_and_gives_a_quoted_sha1_etag() {
    let lrs = Lrs::start();
    for kind in KINDS {
        let scope = Scope::new(kind);
        // A binary document keeps its bytes and its Content-Type.
        let bytes: Vec<u8> = vec![0, 159, 146, 150, 255, b'x'];
        create(&lrs, &scope, "binary", "application/octet-stream", bytes.clone());
        let (status, headers, body) = get_doc(&lrs, &scope, "binary");
        assert_eq!(status, 200, "{kind:?}: GET answered {status}");
        assert_eq!(body, bytes, "{kind:?}: the document must come back byte for byte");
        assert_eq!(header_text(&headers, "content-type"), "application/octet-stream", "{kind:?}");
        assert!(is_quoted_sha1(header_text(&headers, "etag")), "{kind:?}: ETag {:?}", headers.get("etag"));
        http_date_seconds(header_text(&headers, "last-modified"));

        // A text document keeps its declared Content-Type too.
        create(&lrs, &scope, "text", "text/plain", "hello, document");
        let (status, headers, body) = get_doc(&lrs, &scope, "text");
        assert_eq!(status, 200, "{kind:?}");
        assert_eq!(body, b"hello, document", "{kind:?}");
        assert!(header_text(&headers, "content-type").starts_with("text/plain"), "{kind:?}: {headers:?}");

        // Different content, different ETag; each is quoted.
        let binary_tag = etag(&lrs, &scope, "binary");
        let text_tag = etag(&lrs, &scope, "text");
        assert_ne!(binary_tag, text_tag, "{kind:?}: different documents must have different ETags");

        // DELETE answers 204 and the document is gone; the other stays.
        let (status, _, answer) = send(request(&lrs, Method::DELETE, &scope, Some("binary"), "1.0.3"));
        assert_eq!(status, 204, "{kind:?}: DELETE answered {status}: {answer}");
        let (status, _, _) = get_doc(&lrs, &scope, "binary");
        assert_eq!(status, 404, "{kind:?}: a deleted document must be 404");
        assert_eq!(get_doc(&lrs, &scope, "text").0, 200, "{kind:?}: deleting one document must keep the other");

        // A document never stored is 404.
        assert_eq!(get_doc(&lrs, &scope, "never-stored").0, 404, "{kind:?}");
    }
}

/// XAPI-00193, 00195, 00221 (State); XAPI-00289, 00294, 00303 (Activity Profile); XAPI-00270, 00275, 00268 (Agent
/// Profile): a GET without a document id lists the ids of the scope, and `since` keeps only those stored after it.
#[test]
fn get_without_id_lists_the_scope_ids_and_since_keeps_only_later_ones() {
    let lrs = Lrs::start();
    for kind in KINDS {
        let scope = Scope::new(kind);
        let other = Scope::new(kind);
        assert_eq!(list(&lrs, &scope, &[]), Vec::<String>::new(), "{kind:?}: an empty scope lists no ids");
        create(&lrs, &scope, "early", "application/json", r#"{"n":1}"#);
        create(&lrs, &other, "elsewhere", "application/json", r#"{"n":0}"#);
        let between = server_now(&lrs);
        create(&lrs, &scope, "late", "application/json", r#"{"n":2}"#);

        assert_eq!(list(&lrs, &scope, &[]), vec!["early", "late"], "{kind:?}: every id of the scope, and only those");
        assert_eq!(list(&lrs, &scope, &[("since", &between)]), vec!["late"], "{kind:?}: since {between}");

        // Updating the early document makes it "stored after" a later since.
        let (status, _, answer) = send(
            request(&lrs, Method::POST, &scope, Some("early"), "1.0.3")
                .header("Content-Type", "application/json")
                .body(r#"{"m":1}"#),
        );
        assert_eq!(status, 204, "{kind:?}: POST answered {status}: {answer}");
        assert_eq!(list(&lrs, &scope, &[("since", &between)]), vec!["early", "late"], "{kind:?}: after an update");
    }
}

/// XAPI-00218, 00220, 00219, 00227: `registration` is part of a state document's address.
#[test]
fn state_registration_separates_documents() {
    let lrs = Lrs::start();
    let plain = Scope::new(Kind::State);
    let first = Uuid::new_v4().to_string();
    let second = Uuid::new_v4().to_string();
    let registered = plain.with_registration(&first);

    create(&lrs, &plain, "progress", "application/json", r#"{"where":"none"}"#);
    create(&lrs, &registered, "progress", "application/json", r#"{"where":"first"}"#);
    let (status, _, answer) = send(
        request(&lrs, Method::POST, &registered, Some("progress"), "1.0.3")
            .header("Content-Type", "application/json")
            .body(r#"{"more":true}"#),
    );
    assert_eq!(status, 204, "POST with registration answered {status}: {answer}");

    assert_eq!(get_json(&lrs, &plain, "progress"), json!({"where": "none"}));
    assert_eq!(get_json(&lrs, &registered, "progress"), json!({"where": "first", "more": true}));
    assert_eq!(get_doc(&lrs, &plain.with_registration(&second), "progress").0, 404, "another registration has nothing");
    assert_eq!(list(&lrs, &registered, &[]), vec!["progress"]);
    assert_eq!(list(&lrs, &plain.with_registration(&second), &[]), Vec::<String>::new());

    let (status, _, answer) = send(request(&lrs, Method::DELETE, &registered, Some("progress"), "1.0.3"));
    assert_eq!(status, 204, "DELETE with registration answered {status}: {answer}");
    assert_eq!(get_doc(&lrs, &registered, "progress").0, 404);
    assert_eq!(get_json(&lrs, &plain, "progress"), json!({"where": "none"}), "the document without registration stays");
}

/// XAPI-00194: a state DELETE without stateId deletes every document of its scope (and nothing else).
#[test]
fn state_delete_without_state_id_deletes_the_whole_scope() {
    let lrs = Lrs::start();
    let scope = Scope::new(Kind::State);
    let other_activity = scope.with("activityId", "http://example.com/activities/another-doc-scope");
    let registration = Uuid::new_v4().to_string();
    create(&lrs, &scope, "a", "application/json", r#"{"a":1}"#);
    create(&lrs, &scope, "b", "text/plain", "b");
    create(&lrs, &other_activity, "a", "application/json", r#"{"kept":true}"#);
    create(&lrs, &scope.with_registration(&registration), "r", "application/json", r#"{"kept":true}"#);

    // Deleting a registration's scope removes only its documents.
    let (status, _, answer) =
        send(request(&lrs, Method::DELETE, &scope.with_registration(&registration), None, "1.0.3"));
    assert_eq!(status, 204, "DELETE of a registration scope answered {status}: {answer}");
    assert_eq!(get_doc(&lrs, &scope.with_registration(&registration), "r").0, 404);
    assert_eq!(get_doc(&lrs, &scope, "a").0, 200, "documents without that registration stay");

    let (status, _, answer) = send(request(&lrs, Method::DELETE, &scope, None, "1.0.3"));
    assert_eq!(status, 204, "DELETE of the scope answered {status}: {answer}");
    assert_eq!(list(&lrs, &scope, &[]), Vec::<String>::new(), "nothing left in the scope");
    assert_eq!(get_doc(&lrs, &scope, "a").0, 404);
    assert_eq!(get_doc(&lrs, &scope, "b").0, 404);
    assert_eq!(get_json(&lrs, &other_activity, "a"), json!({"kept": true}), "another activity's state stays");
}

/// XAPI-00183, 00184 (merge one level deep, later values win); XAPI-00189, 00231, 00233, 00234 (State);
/// XAPI-00286, 00292, 00312, 00308, 00310 (Activity Profile); XAPI-00272, 00283, 00279, 00280 (Agent Profile).
#[test]
fn post_merges_json_objects_one_level_deep_on_every_resource() {
    let lrs = Lrs::start();
    for kind in KINDS {
        let scope = Scope::new(kind);
        // A POST of a new document stores it like a PUT.
        let (status, _, answer) = send(
            request(&lrs, Method::POST, &scope, Some("merged"), "1.0.3")
                .header("Content-Type", "application/json")
                .body(json!({"a": 1, "keep": "yes", "nested": {"x": 1, "y": 2}}).to_string()),
        );
        assert_eq!(status, 204, "{kind:?}: POST of a new document answered {status}: {answer}");
        assert_eq!(get_json(&lrs, &scope, "merged"), json!({"a": 1, "keep": "yes", "nested": {"x": 1, "y": 2}}));

        let (status, _, answer) = send(
            request(&lrs, Method::POST, &scope, Some("merged"), "2.0.0")
                .header("Content-Type", "application/json")
                .body(json!({"a": 2, "b": true, "nested": {"z": 3}}).to_string()),
        );
        assert_eq!(status, 204, "{kind:?}: POST merge answered {status}: {answer}");
        assert_eq!(
            get_json(&lrs, &scope, "merged"),
            json!({"a": 2, "b": true, "keep": "yes", "nested": {"z": 3}}),
            "{kind:?}: top-level keys merge, a nested object is replaced whole"
        );
        let (_, headers, _) = get_doc(&lrs, &scope, "merged");
        assert!(header_text(&headers, "content-type").starts_with("application/json"), "{kind:?}: {headers:?}");
    }
}

/// XAPI-00229, 00232, 00235 (State); XAPI-00309, 00313, 00314 (Activity Profile); XAPI-00278, 00281, 00284
/// (Agent Profile): a POST that cannot be merged is 400 and the stored document is unchanged.
#[test]
fn post_that_cannot_merge_is_400_and_leaves_the_document_unchanged() {
    let lrs = Lrs::start();
    for kind in KINDS {
        let scope = Scope::new(kind);
        create(&lrs, &scope, "json", "application/json", r#"{"original":true}"#);
        create(&lrs, &scope, "text", "text/plain", "plain text");
        let post = |id: &str, content_type: &str, body: &str| {
            send(
                request(&lrs, Method::POST, &scope, Some(id), "1.0.3")
                    .header("Content-Type", content_type)
                    .body(body.to_owned()),
            )
        };

        assert_400(&format!("{kind:?}: POST text onto a JSON document"), post("json", "text/plain", "more"));
        assert_400(
            &format!("{kind:?}: POST JSON onto a text document"),
            post("text", "application/json", r#"{"x":1}"#),
        );
        assert_400(&format!("{kind:?}: POST of invalid JSON"), post("json", "application/json", r#"{"x": nope"#));
        assert_400(&format!("{kind:?}: POST of a JSON array"), post("json", "application/json", "[1, 2]"));
        assert_400(&format!("{kind:?}: POST of a JSON string"), post("json", "application/json", r#""s""#));

        assert_eq!(
            get_json(&lrs, &scope, "json"),
            json!({"original": true}),
            "{kind:?}: the JSON document is unchanged"
        );
        let (status, headers, body) = get_doc(&lrs, &scope, "text");
        assert_eq!(
            (status, body.as_slice()),
            (200, b"plain text".as_slice()),
            "{kind:?}: the text document is unchanged"
        );
        assert!(header_text(&headers, "content-type").starts_with("text/plain"), "{kind:?}");

        // A POST of invalid JSON to a new document is rejected too and stores nothing.
        assert_400(&format!("{kind:?}: POST of invalid JSON to a new id"), post("fresh", "application/json", "{oops"));
        assert_eq!(get_doc(&lrs, &scope, "fresh").0, 404, "{kind:?}: a rejected POST stores nothing");
    }
}

/// XAPI-00207..00215, 00196..00204, 00206 (State); XAPI-00295..00302 (Activity Profile); XAPI-00255..00267, 00260
/// (Agent Profile): missing or malformed parameters are 400 on every method.
#[test]
fn missing_or_malformed_parameters_are_400() {
    let lrs = Lrs::start();
    let methods = [Method::GET, Method::PUT, Method::POST, Method::DELETE];
    let bad_agents = [
        r#"{"mbox":"mailto:broken@example.com""#,                             // not JSON
        "not json at all",                                                    // not JSON
        r#"{"mbox":"broken@example.com"}"#,                                   // mbox without mailto:
        r#"{"name":"no identifier"}"#,                                        // no IFI
        r#"{"mbox":"mailto:a@example.com","openid":"http://example.com/a"}"#, // two IFIs
        r#"{"objectType":"Activity","id":"http://example.com/activities/a"}"#, // not an agent
    ];
    for kind in KINDS {
        let scope = Scope::new(kind);
        for method in &methods {
            let run = |what: &str, scope: &Scope, id: Option<&str>, extra: &[(&str, &str)]| {
                let url = scope.url(id, extra);
                let mut req = lrs.authed_as(method.clone(), &url, "1.0.3");
                if *method == Method::PUT || *method == Method::POST {
                    req = req.header("Content-Type", "application/json").header("If-None-Match", "*").body("{}");
                }
                assert_400(&format!("{kind:?} {method} {what} ({url})"), send(req));
            };
            if kind.has_activity() {
                run("without activityId", &scope.without("activityId"), Some("doc"), &[]);
                run("with an activityId that is not an IRI", &scope.with("activityId", "not an iri"), Some("doc"), &[]);
            }
            if kind.has_agent() {
                run("without agent", &scope.without("agent"), Some("doc"), &[]);
                for agent in bad_agents {
                    run(&format!("with agent {agent}"), &scope.with("agent", agent), Some("doc"), &[]);
                }
            }
            if kind == Kind::State {
                run("with a registration that is not a UUID", &scope.with_registration("not-a-uuid"), Some("doc"), &[]);
            }
            let id_required =
                *method == Method::PUT || *method == Method::POST || (*method == Method::DELETE && kind != Kind::State);
            if id_required {
                run(&format!("without {}", kind.id_name()), &scope, None, &[]);
            }
        }
        // `since` must be a timestamp.
        for since in ["yesterday", "2024-13-45T00:00:00Z", "12345"] {
            let url = scope.url(None, &[("since", since)]);
            assert_400(&format!("{kind:?} GET since={since}"), send(lrs.authed_as(Method::GET, &url, "1.0.3")));
        }
    }
}

/// XAPI-00322 (Communication 3.1; 2.0 §4.1.4): If-Match and If-None-Match decide PUT, POST and DELETE on every
/// resource in both versions; a failed precondition is 412 and changes nothing.
#[test]
fn if_match_and_if_none_match_preconditions_are_honoured() {
    let lrs = Lrs::start();
    for version in ["1.0.3", "2.0.0"] {
        for kind in KINDS {
            let what = format!("{kind:?} {version}");
            let scope = Scope::new(kind);
            let doc = |method: Method| request(&lrs, method, &scope, Some("doc"), version);

            // If-None-Match: * creates a new document.
            let (status, _, answer) = send(
                doc(Method::PUT)
                    .header("If-None-Match", "*")
                    .header("Content-Type", "application/json")
                    .body(r#"{"v":1}"#),
            );
            assert_eq!(status, 204, "{what}: PUT If-None-Match: * of a new document answered {status}: {answer}");
            let first = etag(&lrs, &scope, "doc");
            assert!(is_quoted_sha1(&first), "{what}: ETag {first:?}");

            // ... and fails on an existing one.
            let (status, _, answer) = send(
                doc(Method::PUT)
                    .header("If-None-Match", "*")
                    .header("Content-Type", "application/json")
                    .body(r#"{"v":0}"#),
            );
            assert_eq!(status, 412, "{what}: PUT If-None-Match: * on an existing document answered {status}: {answer}");
            assert_eq!(
                get_json(&lrs, &scope, "doc"),
                json!({"v": 1}),
                "{what}: a failed If-None-Match changes nothing"
            );

            // A wrong If-Match fails PUT, POST and DELETE.
            for method in [Method::PUT, Method::POST, Method::DELETE] {
                let (status, _, answer) = send(
                    doc(method.clone())
                        .header("If-Match", WRONG_ETAG)
                        .header("Content-Type", "application/json")
                        .body(r#"{"v":9}"#),
                );
                assert_eq!(status, 412, "{what}: {method} with a wrong If-Match answered {status}: {answer}");
                assert_eq!(
                    get_json(&lrs, &scope, "doc"),
                    json!({"v": 1}),
                    "{what}: {method} with a wrong If-Match changed the document"
                );
                assert_eq!(etag(&lrs, &scope, "doc"), first, "{what}: {method} with a wrong If-Match changed the ETag");
            }

            // The right If-Match lets PUT replace the document and changes the ETag.
            let (status, _, answer) = send(
                doc(Method::PUT)
                    .header("If-Match", &first)
                    .header("Content-Type", "application/json")
                    .body(r#"{"v":2}"#),
            );
            assert_eq!(status, 204, "{what}: PUT with the right If-Match answered {status}: {answer}");
            assert_eq!(get_json(&lrs, &scope, "doc"), json!({"v": 2}), "{what}");
            let second = etag(&lrs, &scope, "doc");
            assert_ne!(second, first, "{what}: new content must have a new ETag");

            // The old ETag no longer matches.
            let (status, _, _) = send(
                doc(Method::PUT)
                    .header("If-Match", &first)
                    .header("Content-Type", "application/json")
                    .body(r#"{"v":3}"#),
            );
            assert_eq!(status, 412, "{what}: PUT with a stale If-Match");

            // The right If-Match lets POST merge.
            let (status, _, answer) = send(
                doc(Method::POST)
                    .header("If-Match", &second)
                    .header("Content-Type", "application/json")
                    .body(r#"{"w":1}"#),
            );
            assert_eq!(status, 204, "{what}: POST with the right If-Match answered {status}: {answer}");
            assert_eq!(get_json(&lrs, &scope, "doc"), json!({"v": 2, "w": 1}), "{what}");
            let third = etag(&lrs, &scope, "doc");

            // If-Match: * matches any existing document.
            let (status, _, answer) = send(
                doc(Method::PUT).header("If-Match", "*").header("Content-Type", "application/json").body(r#"{"v":4}"#),
            );
            assert_eq!(status, 204, "{what}: PUT with If-Match: * on an existing document answered {status}: {answer}");
            assert_ne!(etag(&lrs, &scope, "doc"), third, "{what}");
            let fourth = etag(&lrs, &scope, "doc");

            // The right If-Match lets DELETE remove it.
            let (status, _, answer) = send(doc(Method::DELETE).header("If-Match", &fourth));
            assert_eq!(status, 204, "{what}: DELETE with the right If-Match answered {status}: {answer}");
            assert_eq!(get_doc(&lrs, &scope, "doc").0, 404, "{what}: deleted");

            // If-Match on a document that does not exist fails.
            let (status, _, answer) = send(
                doc(Method::PUT)
                    .header("If-Match", &fourth)
                    .header("Content-Type", "application/json")
                    .body(r#"{"v":5}"#),
            );
            assert_eq!(status, 412, "{what}: PUT If-Match on a missing document answered {status}: {answer}");
            assert_eq!(get_doc(&lrs, &scope, "doc").0, 404, "{what}: a failed If-Match creates nothing");
        }
    }
}

/// XAPI-00322 (Communication 3.1 "If a PUT request is received without either header for a resource that already
/// exists": 409 with a message, resource unchanged): profiles in both versions, state since 2.0 (§4.1.4).
#[test]
fn put_without_precondition_on_an_existing_document_is_409_and_changes_nothing() {
    let lrs = Lrs::start();
    let cases = [
        (Kind::ActivityProfile, "1.0.3"),
        (Kind::AgentProfile, "1.0.3"),
        (Kind::ActivityProfile, "2.0.0"),
        (Kind::AgentProfile, "2.0.0"),
        (Kind::State, "2.0.0"),
    ];
    for (kind, version) in cases {
        let scope = Scope::new(kind);
        create(&lrs, &scope, "doc", "application/json", r#"{"v":1}"#);
        let before = etag(&lrs, &scope, "doc");
        let (status, _, body) = send(
            request(&lrs, Method::PUT, &scope, Some("doc"), version)
                .header("Content-Type", "application/json")
                .body(r#"{"v":2}"#),
        );
        assert_eq!(status, 409, "{kind:?} {version}: PUT without If-Match/If-None-Match answered {status}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(!message.trim().is_empty(), "{kind:?} {version}: the 409 must explain itself: {body}");
        assert_eq!(get_json(&lrs, &scope, "doc"), json!({"v": 1}), "{kind:?} {version}: unchanged");
        assert_eq!(etag(&lrs, &scope, "doc"), before, "{kind:?} {version}: same ETag");
    }
}

/// XAPI-00273 (1.0.3 "PUT without an ETag header returns an error code and message"; Activity Profile "fails without
/// ETag header"), against 2.0 §4.1.4 where a PUT of a new document needs no precondition.
#[test]
fn put_of_a_new_profile_without_precondition_is_400_in_1_0_3_and_204_in_2_0() {
    let lrs = Lrs::start();
    for kind in [Kind::ActivityProfile, Kind::AgentProfile] {
        let scope = Scope::new(kind);
        let put = |id: &str, version: &str| {
            send(
                request(&lrs, Method::PUT, &scope, Some(id), version)
                    .header("Content-Type", "application/json")
                    .body(r#"{"new":true}"#),
            )
        };
        let (status, _, body) = put("old-style", "1.0.3");
        assert_eq!(status, 400, "{kind:?} 1.0.3: PUT of a new profile without precondition answered {status}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.trim().is_empty()), "{kind:?}: message: {body}");
        assert_eq!(get_doc(&lrs, &scope, "old-style").0, 404, "{kind:?} 1.0.3: nothing stored");

        let (status, _, body) = put("new-style", "2.0.0");
        assert_eq!(status, 204, "{kind:?} 2.0.0: PUT of a new profile without precondition answered {status}: {body}");
        assert_eq!(get_json(&lrs, &scope, "new-style"), json!({"new": true}), "{kind:?} 2.0.0");
    }
    // A new state document needs no precondition in either version.
    let scope = Scope::new(Kind::State);
    for (id, version) in [("s1", "1.0.3"), ("s2", "2.0.0")] {
        let (status, _, body) = send(
            request(&lrs, Method::PUT, &scope, Some(id), version).header("Content-Type", "application/json").body("{}"),
        );
        assert_eq!(status, 204, "State {version}: PUT of a new document answered {status}: {body}");
    }
}

/// 2.0 §4.1.6.2, §4.1.6.5, §4.1.6.6 "The LRS shall include a Last-Modified header indicating when the document was
/// last modified": present, moved forward by an update, and the id list carries the latest one.
#[test]
fn last_modified_is_present_and_moves_forward_when_the_document_changes() {
    let lrs = Lrs::start();
    let scopes: Vec<Scope> = KINDS.iter().map(|kind| Scope::new(*kind)).collect();
    let mut before = Vec::new();
    for scope in &scopes {
        create(&lrs, scope, "doc", "application/json", r#"{"v":1}"#);
        create(&lrs, scope, "other", "application/json", r#"{"v":1}"#);
        let (_, headers, _) = get_doc(&lrs, scope, "doc");
        before.push(http_date_seconds(header_text(&headers, "last-modified")));
    }
    // HTTP dates have one-second resolution.
    thread::sleep(Duration::from_millis(1100));
    for (scope, before) in scopes.iter().zip(before) {
        let kind = scope.kind;
        let (status, _, answer) = send(
            request(&lrs, Method::POST, scope, Some("doc"), "2.0.0")
                .header("Content-Type", "application/json")
                .body(r#"{"w":2}"#),
        );
        assert_eq!(status, 204, "{kind:?}: POST answered {status}: {answer}");
        let (_, headers, _) = get_doc(&lrs, scope, "doc");
        let after = http_date_seconds(header_text(&headers, "last-modified"));
        assert!(after > before, "{kind:?}: Last-Modified must move forward: {before} then {after}");
        let (_, other, _) = get_doc(&lrs, scope, "other");
        assert!(
            http_date_seconds(header_text(&other, "last-modified")) < after,
            "{kind:?}: the other document kept its time"
        );

        let (status, list_headers, body) = send(lrs.authed_as(Method::GET, &scope.url(None, &[]), "2.0.0"));
        assert_eq!(status, 200, "{kind:?}: list answered {status}: {body}");
        assert_eq!(
            http_date_seconds(header_text(&list_headers, "last-modified")),
            after,
            "{kind:?}: the id list's Last-Modified is that of the most recently updated document"
        );
    }
}
