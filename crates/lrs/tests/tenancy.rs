//! Tenants, credentials, scopes, JWTs and rate limits through the operator
//! API: one tenant's credential (or JWT) never reaches another tenant's data;
//! each scope opens exactly its routes; a rotated secret stops working at
//! once; suspension and revocation hold; 429s come at the configured rate for
//! one tenant only; the audit trail records the operator's actions.

mod common;

use std::time::Duration;

use common::deployment::Deployment;
use common::{client, Lrs};
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

const OPERATOR: &str = "operator-token-for-tests";
const JWT_SECRET: &str = "jwt-secret-for-tests";

fn start() -> Lrs {
    let dir = tempfile::tempdir().unwrap().keep();
    let env = vec![
        ("LRS_OPERATOR_TOKEN".to_owned(), OPERATOR.to_owned()),
        ("LRS_JWT_HS256_SECRET".to_owned(), JWT_SECRET.to_owned()),
    ];
    let args = ["serve".to_owned(), "--listen".to_owned(), "127.0.0.1:0".to_owned(), "--data-dir".to_owned()];
    Lrs::start_with(&args, &dir, "bootstrap-secret", &env)
}

/// Calls the operator API.
fn admin(lrs: &Lrs, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = lrs.client.request(method, lrs.url(path)).bearer_auth(OPERATOR);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("admin request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// A credential of a tenant: (key, secret).
fn credential(lrs: &Lrs, tenant: &str, scopes: &[&str]) -> (String, String) {
    let (status, body) =
        admin(lrs, Method::POST, &format!("/admin/tenants/{tenant}/credentials"), Some(json!({ "scopes": scopes })));
    assert_eq!(status, 201, "issue credential: {body}");
    (body["key"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
}

fn tenant(lrs: &Lrs, id: &str, requests_per_second: Option<u32>) {
    let body = json!({ "id": id, "name": format!("tenant {id}"), "requests_per_second": requests_per_second });
    let (status, answer) = admin(lrs, Method::POST, "/admin/tenants", Some(body));
    assert_eq!(status, 201, "create tenant: {answer}");
}

/// An xAPI request with Basic credentials.
fn xapi(http: &Client, lrs: &Lrs, auth: &Auth, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut request = http.request(method, lrs.url(path)).header("X-Experience-API-Version", "1.0.3");
    request = match auth {
        Auth::Basic(key, secret) => request.basic_auth(key, Some(secret)),
        Auth::Bearer(token) => request.bearer_auth(token),
    };
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().expect("xapi request");
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

enum Auth {
    Basic(String, String),
    Bearer(String),
}

fn token(tenant: &str, scope: &str, expires_in: i64) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + expires_in;
    let claims = json!({ "tenant": tenant, "scope": scope, "exp": exp, "sub": "tester" });
    encode(&Header::default(), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap()
}

fn enc(text: &str) -> String {
    serde_urlencoded::to_string([("x", text)]).unwrap()[2..].to_owned()
}

#[test]
fn no_route_lets_tenant_a_reach_tenant_b_with_a_credential_or_a_jwt() {
    let lrs = start();
    common::deployment::assert_tenants_isolated(&Deployment::new(&lrs.origin, OPERATOR, JWT_SECRET));
}

#[test]
fn each_scope_opens_its_routes_and_no_others() {
    let lrs = start();
    let http = client();
    tenant(&lrs, "scoped", None);
    let activity = enc("http://example.com/scoped");
    let agent = enc(r#"{"mbox":"mailto:s@example.com"}"#);
    let statement = json!({"actor": {"mbox": "mailto:s@example.com"}, "verb": {"id": "http://example.com/v"},
                           "object": {"id": "http://example.com/scoped"}});
    let doc = json!({"k": 1});
    // (name, method, path, body)
    let routes: Vec<(&str, Method, String, Option<Value>)> = vec![
        ("statements POST", Method::POST, "/xapi/statements".into(), Some(statement)),
        ("statements GET", Method::GET, "/xapi/statements".into(), None),
        (
            "state PUT",
            Method::PUT,
            format!("/xapi/activities/state?activityId={activity}&agent={agent}&stateId=x"),
            Some(doc.clone()),
        ),
        ("state GET", Method::GET, format!("/xapi/activities/state?activityId={activity}&agent={agent}"), None),
        (
            "profile POST",
            Method::POST,
            format!("/xapi/activities/profile?activityId={activity}&profileId=x"),
            Some(doc.clone()),
        ),
        ("profile GET", Method::GET, format!("/xapi/activities/profile?activityId={activity}"), None),
        ("agent profile POST", Method::POST, format!("/xapi/agents/profile?agent={agent}&profileId=x"), Some(doc)),
        ("activities GET", Method::GET, format!("/xapi/activities?activityId={activity}"), None),
        ("agents GET", Method::GET, format!("/xapi/agents?agent={agent}"), None),
    ];
    let allowed = |scope: &str, route: &str| -> bool {
        match scope {
            "all" => true,
            "all/read" => route.ends_with("GET"),
            "statements/write" => route == "statements POST",
            "statements/read" | "statements/read/mine" => {
                matches!(route, "statements GET" | "activities GET" | "agents GET")
            }
            "state" => route.starts_with("state "),
            "profile" => route.starts_with("profile ") || route.starts_with("agent profile "),
            "define" => matches!(route, "activities GET" | "agents GET"),
            other => panic!("unknown scope {other}"),
        }
    };
    for scope in
        ["statements/write", "statements/read", "statements/read/mine", "all/read", "all", "state", "profile", "define"]
    {
        let (key, secret) = credential(&lrs, "scoped", &[scope]);
        let auth = Auth::Basic(key, secret);
        for (route, method, path, body) in &routes {
            let (status, answer) = xapi(&http, &lrs, &auth, method.clone(), path, body.as_ref());
            if allowed(scope, route) {
                assert!((200..300).contains(&status), "{scope} on {route}: expected success, got {status} {answer}");
            } else {
                assert_eq!(status, 403, "{scope} on {route}: expected 403, got {status} {answer}");
                assert!(answer["error"]["message"].as_str().unwrap_or("").contains("scope"), "{answer}");
            }
        }
    }
    // A JWT's scopes are enforced the same way.
    let reader = Auth::Bearer(token("scoped", "statements/read", 600));
    assert_eq!(xapi(&http, &lrs, &reader, Method::GET, "/xapi/statements", None).0, 200);
    let body = json!({"actor": {"mbox": "mailto:s@example.com"}, "verb": {"id": "http://example.com/v"}, "object": {"id": "http://example.com/a"}});
    assert_eq!(xapi(&http, &lrs, &reader, Method::POST, "/xapi/statements", Some(&body)).0, 403);
}

#[test]
fn statements_read_mine_sees_only_its_own_statements() {
    let lrs = start();
    let http = client();
    tenant(&lrs, "mine", None);
    let (w1, s1) = credential(&lrs, "mine", &["statements/write", "statements/read/mine"]);
    let (w2, s2) = credential(&lrs, "mine", &["statements/write"]);
    let (first, second) = (Auth::Basic(w1, s1), Auth::Basic(w2, s2));
    let body = |id: &str| json!({"id": id, "actor": {"mbox": "mailto:m@example.com"}, "verb": {"id": "http://example.com/v"}, "object": {"id": "http://example.com/a"}});
    let mine = uuid::Uuid::new_v4().to_string();
    let theirs = uuid::Uuid::new_v4().to_string();
    assert_eq!(xapi(&http, &lrs, &first, Method::POST, "/xapi/statements", Some(&body(&mine))).0, 200);
    assert_eq!(xapi(&http, &lrs, &second, Method::POST, "/xapi/statements", Some(&body(&theirs))).0, 200);
    let (_, page) = xapi(&http, &lrs, &first, Method::GET, "/xapi/statements", None);
    let ids: Vec<&str> = page["statements"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [mine.as_str()]);
    let (status, _) = xapi(&http, &lrs, &first, Method::GET, &format!("/xapi/statements?statementId={theirs}"), None);
    assert_eq!(status, 404);
}

#[test]
fn rotation_revocation_suspension_and_tokens_hold_at_once() {
    let lrs = start();
    let http = client();
    tenant(&lrs, "rotating", None);
    let (key, old_secret) = credential(&lrs, "rotating", &["all"]);
    let old = Auth::Basic(key.clone(), old_secret);
    assert_eq!(xapi(&http, &lrs, &old, Method::GET, "/xapi/statements", None).0, 200);
    let (status, rotated) = admin(&lrs, Method::POST, &format!("/admin/credentials/{key}/rotate"), None);
    assert_eq!(status, 200, "{rotated}");
    let new = Auth::Basic(key.clone(), rotated["secret"].as_str().unwrap().to_owned());
    assert_eq!(xapi(&http, &lrs, &old, Method::GET, "/xapi/statements", None).0, 401, "the old secret is refused");
    assert_eq!(xapi(&http, &lrs, &new, Method::GET, "/xapi/statements", None).0, 200, "the new one works");

    assert_eq!(admin(&lrs, Method::POST, "/admin/tenants/rotating/suspend", None).0, 200);
    assert_eq!(xapi(&http, &lrs, &new, Method::GET, "/xapi/statements", None).0, 401, "suspended");
    let suspended_token = Auth::Bearer(token("rotating", "all", 600));
    assert_eq!(xapi(&http, &lrs, &suspended_token, Method::GET, "/xapi/statements", None).0, 401);
    assert_eq!(admin(&lrs, Method::POST, "/admin/tenants/rotating/resume", None).0, 200);
    assert_eq!(xapi(&http, &lrs, &new, Method::GET, "/xapi/statements", None).0, 200, "resumed");

    assert_eq!(admin(&lrs, Method::DELETE, &format!("/admin/credentials/{key}"), None).0, 204);
    assert_eq!(xapi(&http, &lrs, &new, Method::GET, "/xapi/statements", None).0, 401, "revoked");

    let expired = Auth::Bearer(token("rotating", "all", -3600));
    assert_eq!(xapi(&http, &lrs, &expired, Method::GET, "/xapi/statements", None).0, 401, "expired token");
    let forged = encode(
        &Header::default(),
        &json!({"tenant": "rotating", "scope": "all", "exp": 4_000_000_000u64}),
        &EncodingKey::from_secret(b"not the secret"),
    )
    .unwrap();
    assert_eq!(xapi(&http, &lrs, &Auth::Bearer(forged), Method::GET, "/xapi/statements", None).0, 401, "forged token");

    let (status, audit) = admin(&lrs, Method::GET, "/admin/audit", None);
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in [
        "tenant.create",
        "credential.issue",
        "credential.rotate",
        "tenant.suspend",
        "tenant.resume",
        "credential.revoke",
    ] {
        assert!(actions.contains(&expected), "audit lacks {expected}: {actions:?}");
    }
    let (status, _) = lrs
        .client
        .get(lrs.url("/admin/tenants"))
        .bearer_auth("wrong")
        .send()
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401, "the operator API needs the operator token");
}

#[test]
fn a_tenant_over_its_rate_gets_429_and_others_do_not() {
    let lrs = start();
    let http = client();
    tenant(&lrs, "limited", Some(5));
    tenant(&lrs, "free", None);
    let limited = {
        let (k, s) = credential(&lrs, "limited", &["all"]);
        Auth::Basic(k, s)
    };
    let free = {
        let (k, s) = credential(&lrs, "free", &["all"]);
        Auth::Basic(k, s)
    };
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let response = http
            .get(lrs.url("/xapi/statements?limit=1"))
            .header("X-Experience-API-Version", "1.0.3")
            .basic_auth(
                match &limited {
                    Auth::Basic(k, _) => k,
                    Auth::Bearer(_) => unreachable!(),
                },
                Some(match &limited {
                    Auth::Basic(_, s) => s,
                    Auth::Bearer(_) => unreachable!(),
                }),
            )
            .send()
            .unwrap();
        let status = response.status().as_u16();
        if status == 429 {
            let retry =
                response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
            assert!(retry.is_some_and(|s| s >= 1), "429 carries Retry-After");
        }
        statuses.push(status);
    }
    let limited_count = statuses.iter().filter(|s| **s == 429).count();
    let ok_count = statuses.iter().filter(|s| **s == 200).count();
    assert!(limited_count > 0, "30 quick requests at 5/s must meet 429s: {statuses:?}");
    assert!(ok_count >= 5, "the burst of 5 goes through: {statuses:?}");
    for _ in 0..30 {
        assert_eq!(
            xapi(&http, &lrs, &free, Method::GET, "/xapi/statements?limit=1", None).0,
            200,
            "another tenant is unaffected"
        );
    }
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(xapi(&http, &lrs, &limited, Method::GET, "/xapi/statements?limit=1", None).0, 200, "the bucket refills");
}

#[test]
fn the_admin_cli_creates_a_tenant_and_a_working_credential() {
    let lrs = start();
    let cli = |args: &[&str]| -> Value {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_lrs"))
            .arg("admin")
            .args(["--url", &lrs.origin, "--token", OPERATOR])
            .args(args)
            .output()
            .expect("run lrs admin");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "lrs admin {args:?} failed: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or(Value::Null)
    };
    cli(&["tenants", "create", "cli-tenant", "--name", "From the CLI"]);
    let listed = cli(&["tenants", "list"]);
    assert!(listed.as_array().unwrap().iter().any(|t| t["id"] == "cli-tenant"), "{listed}");
    let issued =
        cli(&["credentials", "issue", "cli-tenant", "--scope", "statements/write", "--scope", "statements/read"]);
    let auth = Auth::Basic(issued["key"].as_str().unwrap().to_owned(), issued["secret"].as_str().unwrap().to_owned());
    let http = client();
    let statement = json!({"actor": {"mbox": "mailto:cli@example.com"}, "verb": {"id": "http://example.com/v"}, "object": {"id": "http://example.com/a"}});
    assert_eq!(xapi(&http, &lrs, &auth, Method::POST, "/xapi/statements", Some(&statement)).0, 200);
    let credentials = cli(&["credentials", "list", "cli-tenant"]);
    assert!(credentials.to_string().find("secret").is_none(), "secrets are never listed: {credentials}");
}

/// A token of `tenant` with `scope`, signed RS256 with a key of tests/fixtures.
fn rs256_token(key_file: &str, tenant: &str, scope: &str) -> String {
    let pem = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(key_file))
        .expect("a fixture key");
    let claims = json!({ "tenant": tenant, "scope": scope, "exp": 4_000_000_000u64, "sub": "rsa-tester" });
    let header = Header::new(jsonwebtoken::Algorithm::RS256);
    encode(&header, &claims, &EncodingKey::from_rsa_pem(&pem).expect("an RSA private key")).unwrap()
}

#[test]
fn rs256_bearer_tokens_are_checked_with_the_configured_public_key() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = tempfile::tempdir().unwrap().keep();
    // RS256 only: no HS256 secret, so no HS256 token can pass either.
    let env = vec![
        ("LRS_OPERATOR_TOKEN".to_owned(), OPERATOR.to_owned()),
        ("LRS_JWT_RS256_PUBLIC_KEY".to_owned(), fixtures.join("jwt-rs256-public.pem").display().to_string()),
    ];
    let args = ["serve".to_owned(), "--listen".to_owned(), "127.0.0.1:0".to_owned(), "--data-dir".to_owned()];
    let lrs = Lrs::start_with(&args, &dir, "bootstrap-secret", &env);
    let http = client();
    tenant(&lrs, "rsa", None);
    tenant(&lrs, "elsewhere", None);

    let writer = Auth::Bearer(rs256_token("jwt-rs256-private.pem", "rsa", "all"));
    let id = uuid::Uuid::new_v4().to_string();
    let statement = json!({"id": id, "actor": {"mbox": "mailto:rsa@example.com"},
        "verb": {"id": "http://example.com/verbs/signed-in"}, "object": {"id": "http://example.com/rsa"}});
    let (status, body) = xapi(&http, &lrs, &writer, Method::POST, "/xapi/statements", Some(&statement));
    assert_eq!(status, 200, "a token signed with the trusted key writes: {body}");
    let reader = Auth::Bearer(rs256_token("jwt-rs256-private.pem", "rsa", "statements/read"));
    let (status, found) = xapi(&http, &lrs, &reader, Method::GET, &format!("/xapi/statements?statementId={id}"), None);
    assert_eq!((status, found["id"].as_str()), (200, Some(id.as_str())), "and reads back: {found}");
    let (status, _) = xapi(&http, &lrs, &reader, Method::POST, "/xapi/statements", Some(&statement));
    assert_eq!(status, 403, "the token's scope holds");
    let other_tenant = Auth::Bearer(rs256_token("jwt-rs256-private.pem", "elsewhere", "all"));
    let (status, _) =
        xapi(&http, &lrs, &other_tenant, Method::GET, &format!("/xapi/statements?statementId={id}"), None);
    assert_eq!(status, 404, "the token's tenant holds");

    let untrusted = Auth::Bearer(rs256_token("jwt-rs256-other-private.pem", "rsa", "all"));
    let (status, body) = xapi(&http, &lrs, &untrusted, Method::GET, "/xapi/statements", None);
    assert_eq!(status, 401, "a token signed with another RSA key is refused: {body}");
    assert!(body.is_object(), "with a JSON message: {body}");
    let hs256 = Auth::Bearer(token("rsa", "all", 600));
    assert_eq!(xapi(&http, &lrs, &hs256, Method::GET, "/xapi/statements", None).0, 401, "HS256 is not configured");
}
