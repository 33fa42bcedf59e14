//! Proves that statements with attachments (multipart/mixed, xAPI Communication 1.5.2, Data 2.4.11) are stored and
//! returned with their bodies, that every malformed multipart request is 400 and stores nothing, and that signed
//! statements (Data 2.6) are accepted only with an RS256/384/512 JWS whose payload is the statement.

mod common;

use base64::Engine as _;
use common::{header_text, send, send_raw, statements_query, unique_verb, Lrs};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// `usageType` of a signature attachment.
const SIGNATURE: &str = "http://adlnet.gov/expapi/attachments/signature";

/// The boundary requests use.
const BOUNDARY: &str = "-------314159265358979323846";

/// One multipart section.
#[derive(Clone, Debug)]
struct Part {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Part {
    fn new(headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Part {
        Part { headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(), body: body.into() }
    }

    /// The JSON first part holding `statements`.
    fn statements(statements: &Value) -> Part {
        Part::new(&[("Content-Type", "application/json")], statements.to_string())
    }

    /// An attachment part with every header a valid one needs.
    fn attachment(content_type: &str, body: &[u8]) -> Part {
        let hash = sha256_hex(body);
        Part::new(
            &[
                ("Content-Type", content_type),
                ("Content-Transfer-Encoding", "binary"),
                ("X-Experience-API-Hash", &hash),
            ],
            body.to_vec(),
        )
    }

    fn without(mut self, header: &str) -> Part {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(header));
        self
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A multipart body: each part after a CRLF-terminated boundary line, then the closing boundary.
fn multipart(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for (name, value) in &part.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&part.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// Parses a multipart answer, by the boundary of its Content-Type.
fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<Part> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .unwrap_or_else(|| panic!("no boundary in {content_type:?}"))
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut at = find(body, &delimiter, 0).expect("a first boundary");
    let mut parts = Vec::new();
    loop {
        let after = at + delimiter.len();
        if body[after..].starts_with(b"--") {
            return parts;
        }
        let start = find(body, b"\r\n", after).expect("CRLF after a boundary") + 2;
        let next = find(body, &[b"\r\n".as_slice(), &delimiter].concat(), start).expect("a closing boundary");
        let section = &body[start..next];
        let head_end = find(section, b"\r\n\r\n", 0).expect("a blank line after the part headers");
        let headers = std::str::from_utf8(&section[..head_end])
            .expect("text headers")
            .split("\r\n")
            .map(|line| {
                let (n, v) = line.split_once(':').expect("name: value");
                (n.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        parts.push(Part { headers, body: section[head_end + 4..].to_vec() });
        at = next + 2;
    }
}

/// A statement with the given attachments.
fn statement_with(id: &str, verb: &str, attachments: Value) -> Value {
    json!({
        "id": id,
        "actor": { "objectType": "Agent", "name": "Attacher", "mbox": "mailto:attacher@example.com" },
        "verb": { "id": verb, "display": { "en-US": "attached" } },
        "object": { "objectType": "Activity", "id": "http://example.com/activities/attachments" },
        "attachments": attachments,
    })
}

/// The metadata of an attachment whose body is `body`.
fn meta(usage: &str, content_type: &str, body: &[u8]) -> Value {
    json!({
        "usageType": usage,
        "display": { "en-US": "an attachment" },
        "contentType": content_type,
        "length": body.len(),
        "sha2": sha256_hex(body),
    })
}

/// POST /xapi/statements with a multipart body under the given Content-Type.
fn post_raw(lrs: &Lrs, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let (status, _, answer) =
        send(lrs.authed(Method::POST, "/xapi/statements").header("Content-Type", content_type).body(body));
    (status, answer)
}

fn post_multipart(lrs: &Lrs, parts: &[Part]) -> (u16, Value) {
    post_raw(lrs, &format!("multipart/mixed; boundary={BOUNDARY}"), multipart(BOUNDARY, parts))
}

/// Checks a 400 JSON error and that the statement `id` was not stored.
fn assert_rejected(lrs: &Lrs, what: &str, (status, body): (u16, Value), id: &str) {
    assert_eq!(status, 400, "{what}: answered {status}: {body}");
    assert_eq!(body["error"]["code"], 400, "{what}: the body must be the JSON error: {body}");
    let (status, _, found) = lrs.get(&statements_query(&[("statementId", id)]));
    assert_eq!(status, 404, "{what}: a rejected statement must not be stored: {found}");
}

/// XAPI-00167 (GET with attachments), XAPI-00130..00135 (a well-formed multipart request is accepted), XAPI-00161
/// (attachments=false answers application/json): two attachments, text and binary, come back byte for byte.
#[test]
fn multipart_statement_is_stored_and_returned_with_its_attachment_bodies() {
    let lrs = Lrs::start();
    let id = Uuid::new_v4().to_string();
    let verb = unique_verb();
    let text = b"here is a simple attachment".to_vec();
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    let statement = statement_with(
        &id,
        &verb,
        json!([
            meta("http://example.com/attachment-usage/test", "text/plain", &text),
            meta("http://example.com/attachment-usage/test", "application/octet-stream", &binary)
        ]),
    );
    let (status, ids) = post_multipart(
        &lrs,
        &[
            Part::statements(&json!([statement])),
            Part::attachment("text/plain", &text),
            Part::attachment("application/octet-stream", &binary),
        ],
    );
    assert_eq!(status, 200, "POST multipart answered {status}: {ids}");
    assert_eq!(ids, json!([id]));

    // attachments=true: multipart/mixed, statement first, then each body with its hash.
    let (status, headers, body) =
        send_raw(lrs.authed(Method::GET, &statements_query(&[("statementId", &id), ("attachments", "true")])));
    assert_eq!(status, 200, "GET attachments=true answered {status}: {}", String::from_utf8_lossy(&body));
    let content_type = header_text(&headers, "content-type");
    assert!(content_type.starts_with("multipart/mixed"), "Content-Type {content_type:?}");
    let parts = parse_multipart(content_type, &body);
    assert_eq!(parts.len(), 3, "the statement and two attachments: {parts:?}");
    assert!(parts[0].header("content-type").is_some_and(|ct| ct.starts_with("application/json")), "{:?}", parts[0]);
    let returned: Value = serde_json::from_slice(&parts[0].body).expect("the first part is JSON");
    assert_eq!(returned["id"], json!(id), "{returned}");
    assert_eq!(returned["attachments"][0]["sha2"], json!(sha256_hex(&text)), "{returned}");
    let mut bodies: Vec<(String, Vec<u8>)> = parts[1..]
        .iter()
        .map(|part| {
            assert_eq!(part.header("content-transfer-encoding"), Some("binary"), "{part:?}");
            let hash = part.header("x-experience-api-hash").unwrap_or_else(|| panic!("no hash header: {part:?}"));
            assert_eq!(hash, sha256_hex(&part.body), "the hash header is the SHA-256 of the part's body");
            (hash.to_owned(), part.body.clone())
        })
        .collect();
    bodies.sort();
    let mut expected = vec![(sha256_hex(&text), text.clone()), (sha256_hex(&binary), binary.clone())];
    expected.sort();
    assert_eq!(bodies, expected, "both attachment bodies, byte for byte");

    // attachments=false (and absent): plain JSON with the metadata only.
    for query in
        [statements_query(&[("statementId", &id), ("attachments", "false")]), statements_query(&[("statementId", &id)])]
    {
        let (status, headers, returned) = lrs.get(&query);
        assert_eq!(status, 200, "{query}: {returned}");
        assert!(header_text(&headers, "content-type").starts_with("application/json"), "{query}: {headers:?}");
        assert_eq!(returned["attachments"][1]["sha2"], json!(sha256_hex(&binary)), "{query}: {returned}");
    }

    // A statement query with attachments=true answers the StatementResult first.
    let (status, headers, body) =
        send_raw(lrs.authed(Method::GET, &statements_query(&[("verb", &verb), ("attachments", "true")])));
    assert_eq!(status, 200, "GET ?verb&attachments=true answered {status}");
    let parts = parse_multipart(header_text(&headers, "content-type"), &body);
    let result: Value = serde_json::from_slice(&parts[0].body).expect("a StatementResult");
    assert_eq!(result["statements"][0]["id"], json!(id), "{result}");
    assert_eq!(parts.len(), 3, "the result and the two attachment bodies");
}

/// XAPI-00143 with attachments: PUT accepts a multipart body too.
#[test]
fn multipart_put_with_statement_id_is_204() {
    let lrs = Lrs::start();
    let id = Uuid::new_v4().to_string();
    let text = b"put attachment".to_vec();
    let statement = statement_with(&id, &unique_verb(), json!([meta("http://example.com/usage", "text/plain", &text)]));
    let (status, _, body) = send(
        lrs.authed(Method::PUT, &statements_query(&[("statementId", &id)]))
            .header("Content-Type", format!("multipart/mixed; boundary={BOUNDARY}"))
            .body(multipart(BOUNDARY, &[Part::statements(&statement), Part::attachment("text/plain", &text)])),
    );
    assert_eq!(status, 204, "PUT multipart answered {status}: {body}");
    let (status, _, returned) = lrs.get(&statements_query(&[("statementId", &id)]));
    assert_eq!(status, 200, "{returned}");
}

/// XAPI-00127: an attachment with only a fileUrl needs no part and may come as application/json (or multipart).
#[test]
fn file_url_attachment_is_accepted_without_a_part() {
    let lrs = Lrs::start();
    let id = Uuid::new_v4().to_string();
    let mut attachment = meta("http://example.com/usage", "text/plain", b"remote");
    attachment["fileUrl"] = json!("http://example.com/files/remote.txt");
    let statement = statement_with(&id, &unique_verb(), json!([attachment]));
    let (status, body) = lrs.post(&statement);
    assert_eq!(status, 200, "application/json with a fileUrl attachment answered {status}: {body}");

    let id2 = Uuid::new_v4().to_string();
    let mut second = statement.clone();
    second["id"] = json!(id2);
    let (status, body) = post_multipart(&lrs, &[Part::statements(&second)]);
    assert_eq!(status, 200, "multipart with a fileUrl attachment and no part answered {status}: {body}");

    // No attachments at all under multipart/mixed is fine too.
    let id3 = Uuid::new_v4().to_string();
    let (status, body) = post_multipart(&lrs, &[Part::statements(&common::statement(&id3, &unique_verb()))]);
    assert_eq!(status, 200, "multipart without attachments answered {status}: {body}");
}

/// XAPI-00127 .. 00135: every malformed attachment request is 400 and stores nothing.
#[test]
fn malformed_attachment_requests_are_400_and_store_nothing() {
    let lrs = Lrs::start();
    let text = b"here is a simple attachment".to_vec();
    let other = b"a different body".to_vec();
    let fresh = |attachments: Value| {
        let id = Uuid::new_v4().to_string();
        (id.clone(), statement_with(&id, &unique_verb(), attachments))
    };
    let with_text = || fresh(json!([meta("http://example.com/usage", "text/plain", &text)]));

    // XAPI-00129: a raw attachment sent as application/json, without its body.
    let (id, s) = with_text();
    assert_rejected(&lrs, "raw attachment as application/json", lrs.post(&s), &id);

    // XAPI-00129: multipart without the attachment's part.
    let (id, s) = with_text();
    assert_rejected(&lrs, "multipart without the attachment part", post_multipart(&lrs, &[Part::statements(&s)]), &id);

    // XAPI-00132: a part whose body does not match the statement's sha2.
    let (id, s) = with_text();
    let mut wrong = Part::attachment("text/plain", &text);
    wrong.body = other.clone();
    assert_rejected(&lrs, "part body differs from its hash", post_multipart(&lrs, &[Part::statements(&s), wrong]), &id);

    // XAPI-00132: a part whose hash header names no attachment of the statement.
    let (id, s) = with_text();
    assert_rejected(
        &lrs,
        "part hash not in the statement",
        post_multipart(&lrs, &[Part::statements(&s), Part::attachment("text/plain", &other)]),
        &id,
    );

    // XAPI-00132: a part without X-Experience-API-Hash.
    let (id, s) = with_text();
    assert_rejected(
        &lrs,
        "part without X-Experience-API-Hash",
        post_multipart(
            &lrs,
            &[Part::statements(&s), Part::attachment("text/plain", &text).without("X-Experience-API-Hash")],
        ),
        &id,
    );

    // XAPI-00135: a part without Content-Transfer-Encoding: binary.
    let (id, s) = with_text();
    assert_rejected(
        &lrs,
        "part without Content-Transfer-Encoding",
        post_multipart(
            &lrs,
            &[Part::statements(&s), Part::attachment("text/plain", &text).without("Content-Transfer-Encoding")],
        ),
        &id,
    );

    // XAPI-00128: an extra part no attachment refers to.
    let (id, s) = with_text();
    assert_rejected(
        &lrs,
        "an extra part",
        post_multipart(
            &lrs,
            &[Part::statements(&s), Part::attachment("text/plain", &text), Part::attachment("text/plain", &other)],
        ),
        &id,
    );

    // XAPI-00134: a first part that is not application/json.
    let (id, s) = with_text();
    let first = Part::new(&[("Content-Type", "text/plain")], s.to_string());
    assert_rejected(
        &lrs,
        "first part not application/json",
        post_multipart(&lrs, &[first, Part::attachment("text/plain", &text)]),
        &id,
    );

    // XAPI-00134: a first part that says JSON but is not.
    let (id, _) = with_text();
    let first = Part::new(&[("Content-Type", "application/json")], "this is not json");
    assert_rejected(
        &lrs,
        "first part not JSON",
        post_multipart(&lrs, &[first, Part::attachment("text/plain", &text)]),
        &id,
    );

    // XAPI-00133: statements split over two parts.
    let (id, s) = with_text();
    let (id2, s2) = fresh(json!([]));
    let (status, body) = post_multipart(
        &lrs,
        &[Part::statements(&json!([s])), Part::statements(&json!([s2])), Part::attachment("text/plain", &text)],
    );
    assert_rejected(&lrs, "statements in two parts", (status, body.clone()), &id);
    assert_rejected(&lrs, "statements in two parts (second)", (status, body), &id2);

    // XAPI-00131: multipart/mixed without a boundary parameter.
    let (id, s) = with_text();
    let body = multipart(BOUNDARY, &[Part::statements(&s), Part::attachment("text/plain", &text)]);
    assert_rejected(&lrs, "no boundary parameter", post_raw(&lrs, "multipart/mixed", body.clone()), &id);

    // XAPI-00130: a body whose boundary is not the header's.
    assert_rejected(
        &lrs,
        "another boundary in the body",
        post_raw(&lrs, "multipart/mixed; boundary=not-the-one", body.clone()),
        &id,
    );

    // XAPI-00127: multipart/form-data is not an attachment Content-Type.
    assert_rejected(
        &lrs,
        "multipart/form-data",
        post_raw(&lrs, &format!("multipart/form-data; boundary={BOUNDARY}"), body),
        &id,
    );
}

/// A compact JWS with the given header and payload, and some signature bytes (not verified without x5c).
fn jws(header: &Value, payload: &[u8]) -> String {
    format!("{}.{}.{}", b64url(header.to_string().as_bytes()), b64url(payload), b64url(b"not really an RSA signature"))
}

/// A multipart request of `statement` signed by `signature` (the part body), with the signature attachment added.
fn signed_request(statement: &Value, signature: &[u8], content_type: &str) -> Vec<Part> {
    let mut signed = statement.clone();
    signed["attachments"] = json!([meta(SIGNATURE, content_type, signature)]);
    vec![Part::statements(&signed), Part::attachment(content_type, signature)]
}

/// XAPI-00117: RS256, RS384 and RS512 signatures whose payload is the statement are accepted and kept.
#[test]
fn signed_statement_with_rs_algorithm_and_matching_payload_is_accepted() {
    let lrs = Lrs::start();
    for alg in ["RS256", "RS384", "RS512"] {
        let id = Uuid::new_v4().to_string();
        let statement = common::statement(&id, &unique_verb());
        let signature = jws(&json!({ "alg": alg }), statement.to_string().as_bytes());
        let (status, body) =
            post_multipart(&lrs, &signed_request(&statement, signature.as_bytes(), "application/octet-stream"));
        assert_eq!(status, 200, "{alg}: a signed statement answered {status}: {body}");

        let (status, headers, raw) =
            send_raw(lrs.authed(Method::GET, &statements_query(&[("statementId", &id), ("attachments", "true")])));
        assert_eq!(status, 200, "{alg}");
        let parts = parse_multipart(header_text(&headers, "content-type"), &raw);
        assert_eq!(parts.len(), 2, "{alg}: the statement and its signature");
        assert_eq!(parts[1].body, signature.as_bytes(), "{alg}: the JWS comes back as sent");
        let returned: Value = serde_json::from_slice(&parts[0].body).expect("JSON");
        assert_eq!(returned["attachments"][0]["usageType"], SIGNATURE, "{returned}");
    }
}

/// XAPI-00115, 00116, 00117: a signature that is not an RS JWS of the statement is 400 and stores nothing.
#[test]
fn signed_statement_with_bad_signature_is_400_and_stores_nothing() {
    let lrs = Lrs::start();
    let fresh = || {
        let id = Uuid::new_v4().to_string();
        (id.clone(), common::statement(&id, &unique_verb()))
    };
    let octet = "application/octet-stream";

    // XAPI-00117: another algorithm.
    for alg in ["HS256", "none", "ES256"] {
        let (id, s) = fresh();
        let signature = jws(&json!({ "alg": alg }), s.to_string().as_bytes());
        assert_rejected(
            &lrs,
            &format!("alg {alg}"),
            post_multipart(&lrs, &signed_request(&s, signature.as_bytes(), octet)),
            &id,
        );
    }

    // XAPI-00116: a payload that differs from the statement.
    let (id, s) = fresh();
    let mut other = s.clone();
    other["verb"]["id"] = json!("http://example.com/verbs/something-else");
    let signature = jws(&json!({ "alg": "RS256" }), other.to_string().as_bytes());
    assert_rejected(
        &lrs,
        "payload differs",
        post_multipart(&lrs, &signed_request(&s, signature.as_bytes(), octet)),
        &id,
    );

    // XAPI-00116: a payload that is not JSON.
    let (id, s) = fresh();
    let signature = jws(&json!({ "alg": "RS256" }), b"{ broken json");
    assert_rejected(
        &lrs,
        "payload not JSON",
        post_multipart(&lrs, &signed_request(&s, signature.as_bytes(), octet)),
        &id,
    );

    // XAPI-00115: not a JWS at all.
    let (id, s) = fresh();
    assert_rejected(&lrs, "not a JWS", post_multipart(&lrs, &signed_request(&s, b"just some bytes", octet)), &id);

    // XAPI-00115: the signature attachment's contentType must be application/octet-stream.
    let (id, s) = fresh();
    let signature = jws(&json!({ "alg": "RS256" }), s.to_string().as_bytes());
    assert_rejected(
        &lrs,
        "signature as text/plain",
        post_multipart(&lrs, &signed_request(&s, signature.as_bytes(), "text/plain; charset=ascii")),
        &id,
    );

    // The same signature, well formed, is accepted (so the cases above failed for the reason they name).
    let signature = jws(&json!({ "alg": "RS256" }), s.to_string().as_bytes());
    let (status, body) = post_multipart(&lrs, &signed_request(&s, signature.as_bytes(), octet));
    assert_eq!(status, 200, "the well-formed signature answered {status}: {body}");
}

/// 2.0 §4.2.7 "When comparing Durations (or Statements containing them), any precision beyond 0.01 second precision
/// shall not be included in the comparison": a signature over `0.12S` signs a statement sent with `0.1237S`.
#[test]
fn signature_comparison_ignores_duration_precision_beyond_hundredths() {
    let lrs = Lrs::start();
    let id = Uuid::new_v4().to_string();
    let mut signed = common::statement(&id, &unique_verb());
    signed["result"] = json!({ "duration": "P1DT12H36M0.12S" });
    let signature = jws(&json!({ "alg": "RS256" }), signed.to_string().as_bytes());
    let mut sent = signed.clone();
    sent["result"]["duration"] = json!("P1DT12H36M0.1237S");
    let (status, body) = post_multipart(&lrs, &signed_request(&sent, signature.as_bytes(), "application/octet-stream"));
    assert_eq!(status, 200, "a duration differing only beyond 0.01 s must still match the signature: {status} {body}");

    // A difference at the hundredths does not match.
    let id = Uuid::new_v4().to_string();
    let mut signed = common::statement(&id, &unique_verb());
    signed["result"] = json!({ "duration": "P1DT12H36M0.12S" });
    let signature = jws(&json!({ "alg": "RS256" }), signed.to_string().as_bytes());
    let mut sent = signed.clone();
    sent["result"]["duration"] = json!("P1DT12H36M0.13S");
    assert_rejected(
        &lrs,
        "duration differing at the hundredths",
        post_multipart(&lrs, &signed_request(&sent, signature.as_bytes(), "application/octet-stream")),
        &id,
    );
}
