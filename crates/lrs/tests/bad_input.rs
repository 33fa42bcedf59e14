//! Proves that every malformed, invalid or unauthenticated request gets its exact 4xx status and a JSON error naming what is wrong, and that none of them crashes the server or answers 5xx.

mod common;

use base64::Engine as _;
use common::{statement, statements_query, unique_verb, Lrs, XAPI_VERSION};
use reqwest::blocking::RequestBuilder;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// The version header name.
const VERSION: &str = "X-Experience-API-Version";

/// One bad request and what it must be answered with.
struct Case {
    /// What the case is about.
    name: &'static str,
    /// The request.
    request: RequestBuilder,
    /// The exact status.
    status: u16,
    /// A property path (or parameter/header name) the error message must name.
    names: Option<&'static str>,
}

fn case(name: &'static str, request: RequestBuilder, status: u16, names: Option<&'static str>) -> Case {
    Case { name, request, status, names }
}

/// True if `message` mentions `path` as a whole token: not as part of a longer
/// identifier or a longer property path (`id` does not match `invalid` or `statementId`).
fn names_path(message: &str, path: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    message.match_indices(path).any(|(start, _)| {
        let before = message[..start].chars().next_back();
        let mut after = message[start + path.len()..].chars();
        let (next, next2) = (after.next(), after.next());
        let before_ok = before.is_none_or(|c| !ident(c) && c != '.' && c != '-');
        let after_ok = match next {
            None => true,
            Some(c) if ident(c) => false,
            // A longer path such as `verb.id.x` or `actor.member[0]`.
            Some('.') | Some('[') => next2.is_none_or(|c| !(ident(c) || c == '"')),
            Some(_) => true,
        };
        before_ok && after_ok
    })
}

/// Checks one answer; returns what is wrong with it.
fn check(case: &Case, status: u16, content_type: Option<&str>, body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let shown = shorten(body);
    if status != case.status {
        problems.push(format!("status {status}, expected {}", case.status));
    }
    if !content_type.is_some_and(|ct| ct.starts_with("application/json")) {
        problems.push(format!("Content-Type {content_type:?}, expected application/json"));
    }
    match body["error"]["message"].as_str() {
        None => problems.push("no error.message string in the body".into()),
        Some(message) => {
            if message.trim().is_empty() {
                problems.push("error.message is empty".into());
            }
            if let Some(path) = case.names {
                if !names_path(message, path) {
                    problems.push(format!("error.message does not name {path:?}"));
                }
            }
        }
    }
    if body["error"]["code"] != json!(status) {
        problems.push(format!("error.code {} differs from the status {status}", body["error"]["code"]));
    }
    if !problems.is_empty() {
        problems.push(format!("body: {shown}"));
    }
    problems
}

/// The body as text, cut to a readable length.
fn shorten(body: &Value) -> String {
    let text = body.to_string();
    if text.len() > 400 {
        let mut end = 400;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &text[..end], text.len())
    } else {
        text
    }
}

/// A valid statement with one property replaced (dotted path, objects created as needed).
fn with(path: &str, value: Value) -> Value {
    let mut s = statement(&Uuid::new_v4().to_string(), "http://example.com/verbs/bad-input");
    let mut at = &mut s;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        if at.get(*part).is_none() {
            at[*part] = json!({});
        }
        at = &mut at[*part];
    }
    at[parts[parts.len() - 1]] = value;
    s
}

/// `depth` arrays nested in each other.
fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn basic(key: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}")))
}

#[test]
fn bad_requests_get_exact_4xx_json_errors_and_never_crash_the_server() {
    let mut lrs = Lrs::start();
    let statements = "/xapi/statements";
    let post = |value: &Value| lrs.authed(Method::POST, statements).json(value);
    let post_raw = |content_type: &str, body: Vec<u8>| {
        lrs.authed(Method::POST, statements).header("Content-Type", content_type.to_owned()).body(body)
    };
    let get = |params: &[(&str, &str)]| lrs.authed(Method::GET, &statements_query(params));
    let valid = || statement(&Uuid::new_v4().to_string(), "http://example.com/verbs/bad-input");
    let some_id = Uuid::new_v4().to_string();
    let other_id = Uuid::new_v4().to_string();
    let huge = "x ".repeat(512 * 1024); // 1 MiB
    let deep_in_extensions = format!(
        r#"{{"actor":{{"mbox":"mailto:a@example.com"}},"verb":{{"id":"http://example.com/v"}},"object":{{"id":"http://example.com/a"}},"result":{{"extensions":{{"http://example.com/x":{}}}}}}}"#,
        nested_arrays(10_000)
    );

    let mut cases = vec![
        // Bodies that are not statements.
        case("malformed JSON", post_raw("application/json", br#"{"actor": "#.to_vec()), 400, None),
        case("trailing garbage after JSON", post_raw("application/json", b"{} x".to_vec()), 400, None),
        case("JSON array of numbers", post(&json!([1, 2, 3])), 400, Some("[0]")),
        case("JSON string body", post(&json!("statement")), 400, None),
        case("empty body", post_raw("application/json", Vec::new()), 400, None),
        case("empty batch", post(&json!([])), 400, None),
        case(
            "Content-Type text/plain",
            post_raw("text/plain", valid().to_string().into_bytes()),
            400,
            Some("Content-Type"),
        ),
        case(
            "no Content-Type",
            lrs.authed(Method::POST, statements).body(valid().to_string()),
            400,
            Some("Content-Type"),
        ),
        case("10 000 nested arrays", post_raw("application/json", nested_arrays(10_000).into_bytes()), 400, None),
        case(
            "10 000 nested arrays in an extension",
            post_raw("application/json", deep_in_extensions.into_bytes()),
            400,
            None,
        ),
        // Wrong types.
        case("actor as string", post(&with("actor", json!("mailto:a@example.com"))), 400, Some("actor")),
        case("verb.id as number", post(&with("verb.id", json!(42))), 400, Some("verb.id")),
        case(
            "result.score.scaled as string",
            post(&with("result.score.scaled", json!("0.5"))),
            400,
            Some("result.score.scaled"),
        ),
        // Unknown properties.
        case("unknown top-level property", post(&with("foo", json!(1))), 400, Some("foo")),
        case("unknown property verb.foo", post(&with("verb.foo", json!("bar"))), 400, Some("verb.foo")),
        case("unknown property actor.foo", post(&with("actor.foo", json!("bar"))), 400, Some("actor.foo")),
        // Bad formats.
        case("verb.id not an IRI", post(&with("verb.id", json!("not an iri"))), 400, Some("verb.id")),
        case("id not a UUID", post(&with("id", json!("123"))), 400, Some("id")),
        case(
            "context.registration not a UUID",
            post(&with("context.registration", json!("x"))),
            400,
            Some("context.registration"),
        ),
        case(
            "timestamp month 13 day 45",
            post(&with("timestamp", json!("2024-13-45T00:00:00Z"))),
            400,
            Some("timestamp"),
        ),
        case("timestamp \"yesterday\"", post(&with("timestamp", json!("yesterday"))), 400, Some("timestamp")),
        case(
            "result.duration \"1 hour\"",
            post(&with("result.duration", json!("1 hour"))),
            400,
            Some("result.duration"),
        ),
        case(
            "agent with two IFIs",
            post(&with("actor", json!({"mbox": "mailto:a@example.com", "openid": "http://example.com/a"}))),
            400,
            Some("actor"),
        ),
        case("mbox without mailto:", post(&with("actor.mbox", json!("a@example.com"))), 400, Some("actor.mbox")),
        case("huge invalid string (1 MiB verb.id)", post(&with("verb.id", json!(huge))), 400, Some("verb.id")),
        case("bad statement inside a batch", post(&json!([valid(), with("verb.id", json!(7))])), 400, Some("verb.id")),
        case(
            "POST with a query parameter",
            lrs.authed(Method::POST, "/xapi/statements?statementId=x").json(&valid()),
            400,
            Some("statementId"),
        ),
        // PUT.
        case(
            "PUT statementId differs from body id",
            lrs.authed(Method::PUT, &statements_query(&[("statementId", &some_id)]))
                .json(&statement(&other_id, "http://example.com/verbs/bad-input")),
            400,
            Some("statementId"),
        ),
        case("PUT without statementId", lrs.authed(Method::PUT, statements).json(&valid()), 400, Some("statementId")),
        case(
            "PUT statementId not a UUID",
            lrs.authed(Method::PUT, &statements_query(&[("statementId", "nope")])).json(&valid()),
            400,
            Some("statementId"),
        ),
        case(
            "PUT a batch",
            lrs.authed(Method::PUT, &statements_query(&[("statementId", &some_id)])).json(&json!([valid()])),
            400,
            None,
        ),
        // GET parameters.
        case(
            "GET statementId with verb",
            get(&[("statementId", &some_id), ("verb", "http://example.com/v")]),
            400,
            Some("verb"),
        ),
        case("GET unknown parameter", get(&[("foo", "bar")]), 400, Some("foo")),
        case("GET limit=-1", get(&[("limit", "-1")]), 400, Some("limit")),
        case("GET since=garbage", get(&[("since", "garbage")]), 400, Some("since")),
        case("GET until=garbage", get(&[("until", "garbage")]), 400, Some("until")),
        case("GET agent not JSON", get(&[("agent", "not json")]), 400, Some("agent")),
        case("GET verb not an IRI", get(&[("verb", "not an iri")]), 400, Some("verb")),
        case("GET statementId not a UUID", get(&[("statementId", "123")]), 400, Some("statementId")),
        case("GET registration not a UUID", get(&[("registration", "x")]), 400, Some("registration")),
        case("GET ascending=maybe", get(&[("ascending", "maybe")]), 400, Some("ascending")),
        case("GET more=garbage", get(&[("more", "garbage")]), 400, Some("more")),
        case("GET a parameter twice", lrs.authed(Method::GET, "/xapi/statements?limit=1&limit=2"), 400, Some("limit")),
        // Credentials.
        case("GET without Authorization", lrs.bare(Method::GET, statements).header(VERSION, XAPI_VERSION), 401, None),
        case(
            "POST without Authorization",
            lrs.bare(Method::POST, statements).header(VERSION, XAPI_VERSION).json(&valid()),
            401,
            None,
        ),
        case(
            "wrong secret",
            lrs.bare(Method::GET, statements)
                .header(VERSION, XAPI_VERSION)
                .header("Authorization", basic(&lrs.key, "wrong")),
            401,
            None,
        ),
        case(
            "POST with wrong secret",
            lrs.bare(Method::POST, statements)
                .header(VERSION, XAPI_VERSION)
                .header("Authorization", basic(&lrs.key, "wrong"))
                .json(&valid()),
            401,
            None,
        ),
        case(
            "unknown key",
            lrs.bare(Method::GET, statements)
                .header(VERSION, XAPI_VERSION)
                .header("Authorization", basic("nobody", &lrs.secret)),
            401,
            None,
        ),
        case(
            "malformed base64",
            lrs.bare(Method::GET, statements)
                .header(VERSION, XAPI_VERSION)
                .header("Authorization", "Basic !!!not-base64!!!"),
            401,
            None,
        ),
        case(
            "Basic without a colon",
            lrs.bare(Method::GET, statements).header(VERSION, XAPI_VERSION).header(
                "Authorization",
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&lrs.key)),
            ),
            401,
            None,
        ),
        case(
            "non-Basic scheme",
            lrs.bare(Method::GET, statements)
                .header(VERSION, XAPI_VERSION)
                .header("Authorization", "Bearer abc.def.ghi"),
            401,
            None,
        ),
        // Version header.
        case(
            "GET without version header",
            lrs.bare(Method::GET, statements).basic_auth(&lrs.key, Some(&lrs.secret)),
            400,
            Some(VERSION),
        ),
        case(
            "POST without version header",
            lrs.bare(Method::POST, statements).basic_auth(&lrs.key, Some(&lrs.secret)).json(&valid()),
            400,
            Some(VERSION),
        ),
        case(
            "version 0.9",
            lrs.bare(Method::GET, statements).basic_auth(&lrs.key, Some(&lrs.secret)).header(VERSION, "0.9"),
            400,
            Some(VERSION),
        ),
        case(
            "version 3.0.0",
            lrs.bare(Method::GET, statements).basic_auth(&lrs.key, Some(&lrs.secret)).header(VERSION, "3.0.0"),
            400,
            Some(VERSION),
        ),
        case(
            "POST with version 3.0.0",
            lrs.bare(Method::POST, statements)
                .basic_auth(&lrs.key, Some(&lrs.secret))
                .header(VERSION, "3.0.0")
                .json(&valid()),
            400,
            Some(VERSION),
        ),
        // Routes.
        case("unknown route under /xapi", lrs.authed(Method::GET, "/xapi/nope"), 404, None),
        case("unknown route at the root", lrs.authed(Method::GET, "/nothing/here"), 404, None),
        case("unknown route without credentials", lrs.bare(Method::GET, "/xapi/nope"), 404, None),
    ];
    // A body over the 16 MiB limit is refused as too large.
    let oversized = format!(r#"{{"pad":"{}"}}"#, "x".repeat(17 * 1024 * 1024));
    cases.push(case("17 MiB body", post_raw("application/json", oversized.into_bytes()), 413, None));

    let mut failures = Vec::new();
    let mut server_errors = Vec::new();
    let total = cases.len();
    for case in cases {
        let request = case.request.try_clone().expect("cloneable request");
        let response = match request.send() {
            Ok(response) => response,
            Err(error) => {
                failures.push(format!("{}: no answer ({error})", case.name));
                continue;
            }
        };
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (status, _, body) = common::read(response);
        if status >= 500 {
            server_errors.push(format!("{}: {status} {}", case.name, shorten(&body)));
        }
        eprintln!("{:<45} {status} {}", case.name, shorten(&body["error"]["message"]));
        let problems = check(&case, status, content_type.as_deref(), &body);
        if !problems.is_empty() {
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
        }
    }

    // The server survived the corpus and still works.
    assert!(lrs.is_running(), "the server died during the corpus; stderr:\n{}", lrs.stderr());
    let (status, _, about) = common::send(lrs.bare(Method::GET, "/xapi/about"));
    assert_eq!(status, 200, "GET /xapi/about after the corpus answered {status}: {about}");
    let verb = unique_verb();
    let id = Uuid::new_v4().to_string();
    let (status, body) = lrs.post(&statement(&id, &verb));
    assert_eq!(status, 200, "a valid POST after the corpus answered {status}: {body}");
    let (status, _, body) = lrs.get(&statements_query(&[("statementId", &id)]));
    assert_eq!(status, 200, "GET of the valid statement answered {status}: {body}");
    assert_eq!(body["id"], json!(id));

    // Nothing from the corpus was stored.
    let (status, _, body) = lrs.get(&statements_query(&[("verb", "http://example.com/verbs/bad-input")]));
    assert_eq!(status, 200, "GET by the corpus verb answered {status}: {body}");
    assert_eq!(body["statements"], json!([]), "a bad request stored a statement");

    assert!(server_errors.is_empty(), "answers with status >= 500:\n{}", server_errors.join("\n"));
    assert!(
        failures.is_empty(),
        "{} of {total} bad-input cases failed:\n{}\nstderr tail:\n{}",
        failures.len(),
        failures.join("\n"),
        tail(&lrs.stderr(), 2000)
    );
}

/// The last `n` bytes (about) of a text.
fn tail(text: &str, n: usize) -> &str {
    let mut start = text.len().saturating_sub(n);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[test]
fn error_path_matching_is_token_based() {
    assert!(names_path("id: must be a UUID", "id"));
    assert!(!names_path("invalid thing", "id"));
    assert!(!names_path("statementId is required", "id"));
    assert!(names_path("verb.id: must be an IRI", "verb.id"));
    assert!(!names_path("verb.id.x: no", "verb.id"));
    assert!(!names_path("object.verb.id: no", "verb.id"));
    assert!(names_path("statement [1]: verb.id: must be a string", "verb.id"));
    assert!(names_path("the X-Experience-API-Version header is required", VERSION));
}
