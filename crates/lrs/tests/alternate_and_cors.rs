//! Proves that the xAPI 1.0.3 Alternate Request Syntax (`POST …?method=X` with a form body) is answered exactly like
//! the request it stands for, that malformed uses of it get 400 JSON errors, and that browsers get CORS answers.

mod common;

use base64::Engine as _;
use common::{send, statement, statements_query, unique_verb, Lrs, XAPI_VERSION};
use reqwest::blocking::RequestBuilder;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

/// The form media type.
const FORM: &str = "application/x-www-form-urlencoded";

/// An origin a browser page could have.
const PAGE_ORIGIN: &str = "https://course.example.com";

/// `application/x-www-form-urlencoded` encoding of `fields`.
fn form(fields: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://localhost/").unwrap();
    url.query_pairs_mut().extend_pairs(fields);
    url.query().unwrap_or("").to_owned()
}

/// `Basic …` for the server's credentials.
fn basic(lrs: &Lrs) -> String {
    let pair = format!("{}:{}", lrs.key, lrs.secret);
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

/// `POST /xapi/statements?<query>` with a form body and no header but Content-Type.
fn alternate(lrs: &Lrs, query: &str, fields: &[(&str, &str)]) -> RequestBuilder {
    lrs.bare(Method::POST, &format!("/xapi/statements?{query}")).header("Content-Type", FORM).body(form(fields))
}

/// A header as text ("" when absent).
fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or("")
}

/// Checks a 400 answer with the JSON error body, whose message contains `mentions`.
fn assert_json_400(what: &str, (status, _, body): (u16, HeaderMap, Value), mentions: &str) {
    assert_eq!(status, 400, "{what}: answered {status}: {body}");
    assert_eq!(body["error"]["code"], 400, "{what}: the body must be the JSON error: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("{what}: no error message: {body}"));
    assert!(message.contains(mentions), "{what}: the message must mention {mentions:?}: {message}");
}

#[test]
fn alternate_put_and_get_are_answered_like_the_direct_requests() {
    let lrs = Lrs::start();
    let verb = unique_verb();
    let auth = basic(&lrs);

    // PUT through the alternate syntax: every header, the parameter and the content in the form.
    let id = Uuid::new_v4().to_string();
    let content = statement(&id, &verb).to_string();
    let (status, headers, body) = send(alternate(
        &lrs,
        "method=PUT",
        &[
            ("statementId", &id),
            ("content", &content),
            ("Authorization", &auth),
            ("X-Experience-API-Version", XAPI_VERSION),
            ("Content-Type", "application/json"),
        ],
    ));
    assert_eq!(status, 204, "alternate PUT answered {status}: {body}");
    assert_eq!(body, Value::String(String::new()), "alternate PUT must answer no content");
    assert_eq!(header(&headers, "X-Experience-API-Version"), "1.0.3");

    // The same PUT sent directly is answered the same way.
    let direct_id = Uuid::new_v4().to_string();
    let (status, body) = lrs.put(&direct_id, &statement(&direct_id, &verb));
    assert_eq!(status, 204, "direct PUT answered {status}: {body}");

    // GET through the alternate syntax gets what the direct GET gets.
    let (status, headers, alt_body) = send(alternate(
        &lrs,
        "method=GET",
        &[("statementId", &id), ("Authorization", &auth), ("X-Experience-API-Version", XAPI_VERSION)],
    ));
    assert_eq!(status, 200, "alternate GET answered {status}: {alt_body}");
    assert!(headers.contains_key("X-Experience-API-Consistent-Through"), "GET answers carry Consistent-Through");
    let (status, _, direct_body) = lrs.get(&statements_query(&[("statementId", &id)]));
    assert_eq!(status, 200, "direct GET answered {status}: {direct_body}");
    assert_eq!(alt_body, direct_body, "the alternate GET must return what the direct GET returns");
    assert_eq!(alt_body["id"], id.as_str());
    assert_eq!(alt_body["verb"]["id"], verb.as_str());

    // Real headers still count when the form does not carry them (as the ADL suite sends a query).
    let (status, _, body) = send(
        lrs.authed(Method::POST, "/xapi/statements?method=GET")
            .header("Content-Type", FORM)
            .body(form(&[("verb", &verb), ("limit", "1")])),
    );
    assert_eq!(status, 200, "alternate query answered {status}: {body}");
    assert_eq!(body["statements"].as_array().map(Vec::len), Some(1), "limit=1 from the form applies: {body}");
    assert!(body.get("more").is_some(), "a StatementResult has more: {body}");

    // Auth applies unchanged: wrong credentials in the form are refused.
    let (status, _, body) = send(alternate(
        &lrs,
        "method=GET",
        &[("statementId", &id), ("Authorization", "Basic d3Jvbmc6d3Jvbmc="), ("X-Experience-API-Version", "1.0.3")],
    ));
    assert_eq!(status, 401, "wrong form credentials answered {status}: {body}");
}

#[test]
fn malformed_alternate_requests_get_400_json() {
    let lrs = Lrs::start();
    let auth = basic(&lrs);
    let id = Uuid::new_v4().to_string();
    let content = statement(&id, &unique_verb()).to_string();
    let fields = [
        ("statementId", id.as_str()),
        ("content", content.as_str()),
        ("Authorization", auth.as_str()),
        ("X-Experience-API-Version", XAPI_VERSION),
    ];

    let extra = format!("method=PUT&statementId={id}");
    assert_json_400("extra query parameter", send(alternate(&lrs, &extra, &fields)), "form body");

    let not_post =
        lrs.authed(Method::PUT, "/xapi/statements?method=POST").header("Content-Type", FORM).body(form(&fields));
    assert_json_400("not issued as a POST", send(not_post), "POST");

    let not_form = lrs
        .authed(Method::POST, "/xapi/statements?method=PUT")
        .header("Content-Type", "application/json")
        .body(serde_json::json!({ "statementId": id, "content": content }).to_string());
    assert_json_400("JSON instead of a form", send(not_form), "x-www-form-urlencoded");

    let json_as_form = lrs
        .authed(Method::POST, "/xapi/statements?method=PUT")
        .header("Content-Type", FORM)
        .body(serde_json::json!({ "statementId": id, "content": content }).to_string());
    assert_json_400("JSON labelled as a form", send(json_as_form), "form");

    assert_json_400("unknown method", send(alternate(&lrs, "method=PATCH", &fields)), "PATCH");

    let mut old = fields;
    old[3] = ("X-Experience-API-Version", "0.8");
    assert_json_400("version 0.8 in the form", send(alternate(&lrs, "method=PUT", &old)), "X-Experience-API-Version");

    let mut v2 = fields;
    v2[3] = ("X-Experience-API-Version", "2.0.0");
    assert_json_400("xAPI 2.0", send(alternate(&lrs, "method=PUT", &v2)), "2.0");

    // None of them stored the statement.
    let (status, _, body) = lrs.get(&statements_query(&[("statementId", &id)]));
    assert_eq!(status, 404, "a refused alternate PUT must store nothing: {body}");
}

#[test]
fn preflights_are_answered_without_credentials() {
    let lrs = Lrs::start();
    for path in ["/xapi/statements", "/xapi/about", "/xapi/activities/state", "/xapi/statements/"] {
        let (status, headers, body) = send(
            lrs.bare(Method::OPTIONS, path)
                .header("Origin", PAGE_ORIGIN)
                .header("Access-Control-Request-Method", "PUT")
                .header("Access-Control-Request-Headers", "authorization, x-experience-api-version, x-custom-trace"),
        );
        assert!(status == 204 || status == 200, "preflight of {path} answered {status}: {body}");
        assert_eq!(header(&headers, "Access-Control-Allow-Origin"), PAGE_ORIGIN, "{path}");
        assert_eq!(header(&headers, "Access-Control-Allow-Credentials"), "true", "{path}");
        assert!(!header(&headers, "Access-Control-Max-Age").is_empty(), "{path}: Max-Age");
        let methods = header(&headers, "Access-Control-Allow-Methods");
        for method in ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"] {
            assert!(methods.split(", ").any(|m| m == method), "{path}: {method} not in Allow-Methods {methods:?}");
        }
        let allowed = header(&headers, "Access-Control-Allow-Headers").to_ascii_lowercase();
        for name in
            ["authorization", "content-type", "x-experience-api-version", "if-match", "if-none-match", "x-custom-trace"]
        {
            assert!(allowed.split(", ").any(|h| h == name), "{path}: {name} not in Allow-Headers {allowed:?}");
        }
        let exposed = header(&headers, "Access-Control-Expose-Headers").to_ascii_lowercase();
        for name in
            ["etag", "last-modified", "x-experience-api-version", "x-experience-api-consistent-through", "content-type"]
        {
            assert!(exposed.split(", ").any(|h| h == name), "{path}: {name} not in Expose-Headers {exposed:?}");
        }
    }
}

#[test]
fn answers_to_requests_with_an_origin_carry_cors_headers() {
    let lrs = Lrs::start();
    let (status, headers, body) =
        send(lrs.authed(Method::GET, "/xapi/statements?limit=1").header("Origin", PAGE_ORIGIN));
    assert_eq!(status, 200, "GET answered {status}: {body}");
    assert_eq!(header(&headers, "Access-Control-Allow-Origin"), PAGE_ORIGIN);
    assert_eq!(header(&headers, "Access-Control-Allow-Credentials"), "true");
    let exposed = header(&headers, "Access-Control-Expose-Headers").to_ascii_lowercase();
    assert!(exposed.contains("x-experience-api-consistent-through"), "Expose-Headers {exposed:?}");

    // Errors too, so the page can read why it failed.
    let (status, headers, body) = send(lrs.bare(Method::GET, "/xapi/statements").header("Origin", PAGE_ORIGIN));
    assert_eq!(status, 401, "unauthenticated GET answered {status}: {body}");
    assert_eq!(header(&headers, "Access-Control-Allow-Origin"), PAGE_ORIGIN);

    // No Origin, no CORS headers.
    let (status, headers, _) = lrs.get("/xapi/statements?limit=1");
    assert_eq!(status, 200);
    assert!(!headers.contains_key("Access-Control-Allow-Origin"), "no Origin must mean no Allow-Origin");
}
