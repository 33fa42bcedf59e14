//! Gateways of the distributed deployment know every tenant: credentials the
//! operator issues on the projector+query process work on every gateway
//! (HTTP Basic and Bearer JWT) within 2 seconds, and rotation, suspension and
//! revocation hold on each gateway within 2 seconds, with no restart; a
//! gateway started later knows all of it at once. A tenant's rate limit holds
//! across two gateways as docs/OPERATIONS.md says.
//!
//! Needs LRS_KAFKA_BROKERS (set by `make test`, which starts tansu).

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{broker, client, gateway, kafka_env, projector_query, unique_verb, Lrs};
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

const OPERATOR: &str = "operator-token-for-gateway-tests";
const JWT_SECRET: &str = "jwt-secret-for-gateway-tests";
/// How soon an operator's change must hold on every gateway.
const WITHIN: Duration = Duration::from_secs(2);

fn env(brokers: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let prefix = format!("directory-{}", uuid::Uuid::new_v4().simple());
    let mut env = kafka_env(brokers, &prefix);
    env.push(("LRS_OPERATOR_TOKEN".into(), OPERATOR.into()));
    env.push(("LRS_JWT_HS256_SECRET".into(), JWT_SECRET.into()));
    env.extend(extra.iter().map(|(name, value)| (name.to_string(), value.to_string())));
    env
}

fn admin(lrs: &Lrs, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut request = lrs.client.request(method, lrs.url(path)).bearer_auth(OPERATOR);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("admin request");
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    assert!((200..300).contains(&status), "{path} answered {status}: {body}");
    body
}

enum Auth {
    Basic(String, String),
    Bearer(String),
}

fn token(tenant: &str) -> Auth {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let claims = json!({ "tenant": tenant, "scope": "all", "exp": exp, "sub": "gateway-test" });
    Auth::Bearer(encode(&Header::default(), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap())
}

/// The status of one statement POST through `via` with `auth`.
fn post(via: &Lrs, auth: &Auth, verb: &str) -> u16 {
    let body = json!({"actor": {"mbox": "mailto:directory@example.com"}, "verb": {"id": verb},
                      "object": {"id": "http://example.com/directory"}});
    let request = via.bare(Method::POST, "/xapi/statements").header("X-Experience-API-Version", "1.0.3").json(&body);
    let request = match auth {
        Auth::Basic(key, secret) => request.basic_auth(key, Some(secret)),
        Auth::Bearer(token) => request.bearer_auth(token),
    };
    request.send().map(|response| response.status().as_u16()).unwrap_or(0)
}

/// Polls until `via` answers `want` to a POST with `auth`; fails after [`WITHIN`].
fn holds_within(what: &str, via: &Lrs, auth: &Auth, verb: &str, want: u16) {
    let started = Instant::now();
    loop {
        let status = post(via, auth, verb);
        if status == want {
            return;
        }
        assert!(
            started.elapsed() <= WITHIN,
            "{what}: gateway {} still answers {status}, not {want}, {:?} after the change; stderr:\n{}",
            via.origin,
            started.elapsed(),
            via.stderr()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn start_gateway(owner: &Lrs, secret: &str, env: &[(String, String)]) -> Lrs {
    gateway(owner, secret, env)
}

#[test]
fn operator_changes_hold_on_every_gateway_within_two_seconds() {
    let Some(brokers) = broker() else { return };
    let env = env(&brokers, &[]);
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let store_dir = tempfile::tempdir().unwrap();
    let owner = projector_query(store_dir.path(), &secret, &env);
    let gateways: Vec<Lrs> = (0..2).map(|_| start_gateway(&owner, &secret, &env)).collect();
    let verb = unique_verb();

    admin(&owner, Method::POST, "/admin/tenants", Some(json!({"id": "acme", "name": "Acme"})));
    let issued = admin(&owner, Method::POST, "/admin/tenants/acme/credentials", Some(json!({"scopes": ["all"]})));
    let key = issued["key"].as_str().unwrap().to_owned();
    let basic = Auth::Basic(key.clone(), issued["secret"].as_str().unwrap().to_owned());
    let bearer = token("acme");
    for via in &gateways {
        holds_within("a new credential", via, &basic, &verb, 200);
        holds_within("a token of the new tenant", via, &bearer, &verb, 200);
    }

    let rotated = admin(&owner, Method::POST, &format!("/admin/credentials/{key}/rotate"), None);
    let new_basic = Auth::Basic(key.clone(), rotated["secret"].as_str().unwrap().to_owned());
    for via in &gateways {
        holds_within("the old secret after rotation", via, &basic, &verb, 401);
        holds_within("the new secret after rotation", via, &new_basic, &verb, 200);
    }

    admin(&owner, Method::POST, "/admin/tenants/acme/suspend", None);
    for via in &gateways {
        holds_within("a credential of a suspended tenant", via, &new_basic, &verb, 401);
        holds_within("a token of a suspended tenant", via, &bearer, &verb, 401);
    }
    admin(&owner, Method::POST, "/admin/tenants/acme/resume", None);
    for via in &gateways {
        holds_within("a credential of a resumed tenant", via, &new_basic, &verb, 200);
        holds_within("a token of a resumed tenant", via, &bearer, &verb, 200);
    }

    admin(&owner, Method::DELETE, &format!("/admin/credentials/{key}"), None);
    for via in &gateways {
        holds_within("a revoked credential", via, &new_basic, &verb, 401);
    }

    // A gateway started now knows the current state at once, without polling.
    let late = start_gateway(&owner, &secret, &env);
    let second = admin(&owner, Method::POST, "/admin/tenants/acme/credentials", Some(json!({"scopes": ["all"]})));
    let second = Auth::Basic(second["key"].as_str().unwrap().to_owned(), second["secret"].as_str().unwrap().to_owned());
    holds_within("a credential issued after a gateway started", &late, &second, &verb, 200);
    assert_eq!(post(&late, &new_basic, &verb), 401, "a gateway started after a revocation refuses the credential");
    assert_eq!(post(&late, &bearer, &verb), 200, "and knows the tenant of a token");

    // Every write went through the log: the query process reads them back.
    let statements = owner
        .bare(Method::GET, &common::statements_query(&[("verb", &verb), ("limit", "0")]))
        .header("X-Experience-API-Version", "1.0.3")
        .basic_auth(
            match &second {
                Auth::Basic(key, _) => key,
                Auth::Bearer(_) => unreachable!(),
            },
            Some(match &second {
                Auth::Basic(_, secret) => secret,
                Auth::Bearer(_) => unreachable!(),
            }),
        )
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert!(!statements["statements"].as_array().unwrap().is_empty(), "the tenant's writes are readable");
}

#[test]
fn a_tenant_limit_holds_across_two_gateways_as_a_whole() {
    let Some(brokers) = broker() else { return };
    // Two gateways behind the router: each enforces half of a tenant's limit.
    let env = env(&brokers, &[("LRS_REPLICAS", "2")]);
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let store_dir = tempfile::tempdir().unwrap();
    let owner = projector_query(store_dir.path(), &secret, &env);
    let gateways: Vec<Lrs> = (0..2).map(|_| start_gateway(&owner, &secret, &env)).collect();
    let limit: u32 = 10;
    admin(&owner, Method::POST, "/admin/tenants", Some(json!({"id": "metered", "requests_per_second": limit})));
    let issued = admin(&owner, Method::POST, "/admin/tenants/metered/credentials", Some(json!({"scopes": ["all"]})));
    let (key, secret) = (issued["key"].as_str().unwrap().to_owned(), issued["secret"].as_str().unwrap().to_owned());
    let verb = unique_verb();
    let auth = Auth::Basic(key.clone(), secret.clone());
    for via in &gateways {
        holds_within("the metered credential", via, &auth, &verb, 200);
    }
    thread::sleep(Duration::from_millis(1500)); // both buckets full again

    let per_gateway = 20;
    let barrier = Arc::new(Barrier::new(2 * per_gateway + 1));
    let origins: Vec<String> = gateways.iter().map(|g| g.origin.clone()).collect();
    let requests: Vec<_> = (0..2 * per_gateway)
        .map(|i| {
            let (barrier, origin, key, secret, verb) =
                (barrier.clone(), origins[i % 2].clone(), key.clone(), secret.clone(), verb.clone());
            thread::spawn(move || {
                let http = client();
                let body = json!({"actor": {"mbox": "mailto:metered@example.com"}, "verb": {"id": verb},
                                  "object": {"id": "http://example.com/metered"}});
                let request = http
                    .post(format!("{origin}/xapi/statements"))
                    .header("X-Experience-API-Version", "1.0.3")
                    .basic_auth(key, Some(secret))
                    .json(&body);
                barrier.wait();
                request.send().map(|response| response.status().as_u16()).unwrap_or(0)
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let statuses: Vec<u16> = requests.into_iter().map(|r| r.join().unwrap()).collect();
    let elapsed = started.elapsed().as_secs_f64();
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(admitted + refused, statuses.len(), "only 200 and 429: {statuses:?}");
    // Each gateway admits its burst (limit / 2) at once, and refills at
    // limit / 2 per second: the whole deployment admits the tenant's limit.
    let at_most = limit as usize + (elapsed * f64::from(limit)).ceil() as usize;
    assert!(admitted >= limit as usize, "{admitted} admitted of a burst of {}: {statuses:?}", statuses.len());
    assert!(admitted <= at_most, "{admitted} admitted in {elapsed:.2} s; at most {at_most} for a limit of {limit}/s");
}

/// The status of a POST of `body` through `via` with `auth`.
fn post_body(via: &Lrs, auth: &Auth, body: &Value) -> u16 {
    let request = via.bare(Method::POST, "/xapi/statements").header("X-Experience-API-Version", "1.0.3").json(body);
    let request = match auth {
        Auth::Basic(key, secret) => request.basic_auth(key, Some(secret)),
        Auth::Bearer(token) => request.bearer_auth(token),
    };
    request.send().map(|response| response.status().as_u16()).unwrap_or(0)
}

/// The quality report of `auth`'s tenant, from the query process.
fn quality_report(query: &Lrs, auth: &Auth) -> Value {
    let request = query.bare(Method::GET, "/quality/v1/report");
    let request = match auth {
        Auth::Basic(key, secret) => request.basic_auth(key, Some(secret)),
        Auth::Bearer(token) => request.bearer_auth(token),
    };
    request.send().expect("report").json().expect("report json")
}

/// Refused statements of a reason in a report, over every source.
fn refused(report: &Value, reason: &str) -> u64 {
    let sources = report["sources"].as_array().cloned().unwrap_or_default();
    let rejections = sources.iter().flat_map(|s| s["rejections"].as_array().cloned().unwrap_or_default());
    rejections.filter(|r| r["reason"] == reason).map(|r| r["count"].as_u64().unwrap_or(0)).sum()
}

#[test]
fn a_statement_plan_holds_on_every_gateway_and_the_report_counts_it() {
    let Some(brokers) = broker() else { return };
    let env = env(&brokers, &[]);
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let store_dir = tempfile::tempdir().unwrap();
    let owner = projector_query(store_dir.path(), &secret, &env);
    let gateways: Vec<Lrs> = (0..2).map(|_| start_gateway(&owner, &secret, &env)).collect();
    let verb = unique_verb();
    admin(&owner, Method::POST, "/admin/tenants", Some(json!({"id": "plan", "name": "Plan"})));
    let issued = admin(&owner, Method::POST, "/admin/tenants/plan/credentials", Some(json!({"scopes": ["all"]})));
    let auth = Auth::Basic(issued["key"].as_str().unwrap().to_owned(), issued["secret"].as_str().unwrap().to_owned());
    for via in &gateways {
        holds_within("a new credential", via, &auth, &verb, 200);
    }
    let template = "http://example.com/plan/templates/no-success";
    let profile = json!({
        "@context": "https://w3id.org/xapi/profiles/context", "id": "http://example.com/plan", "type": "Profile",
        "conformsTo": "https://w3id.org/xapi/profiles#1.0", "prefLabel": {"en": "plan"}, "definition": {"en": "plan"},
        "author": {"type": "Person", "name": "tests"},
        "versions": [{"id": "http://example.com/plan/v1", "generatedAtTime": "2026-11-01T00:00:00Z"}],
        "templates": [{"id": template, "type": "StatementTemplate", "inScheme": "http://example.com/plan/v1",
            "prefLabel": {"en": "t"}, "definition": {"en": "t"}, "verb": verb,
            "rules": [{"location": "$.result.success", "presence": "excluded"}]}],
    });
    admin(&owner, Method::POST, "/admin/tenants/plan/profiles?applies=all", Some(profile));
    admin(&owner, Method::PUT, "/admin/tenants/plan/profile-enforcement", Some(json!({"mode": "reject"})));
    let statement = |success: bool| {
        let mut body = json!({"actor": {"mbox": "mailto:plan@example.com"}, "verb": {"id": verb},
            "object": {"id": "http://example.com/plan/activity"}});
        if success {
            body["result"] = json!({"success": true});
        }
        body
    };
    // The plan holds on every gateway within two seconds of the operator's change.
    for via in &gateways {
        let started = Instant::now();
        while post_body(via, &auth, &statement(true)) != 400 {
            assert!(started.elapsed() <= WITHIN, "gateway {} does not reject after {WITHIN:?}", via.origin);
            thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(post_body(via, &auth, &statement(false)), 200, "a statement that follows the template is stored");
    }
    // Each refusal through either gateway is counted by the projector's quality projection.
    let before = refused(&quality_report(&owner, &auth), "profile");
    for (n, via) in gateways.iter().enumerate() {
        for _ in 0..(n + 2) {
            assert_eq!(post_body(via, &auth, &statement(true)), 400);
        }
    }
    // A later accepted write of the tenant is applied after the refusals (one partition per tenant).
    assert_eq!(post_body(&gateways[0], &auth, &statement(false)), 200);
    let report = quality_report(&owner, &auth);
    assert_eq!(refused(&report, "profile"), before + 5, "{report}");

    // Report mode: stored, and counted as a broken template.
    admin(&owner, Method::PUT, "/admin/tenants/plan/profile-enforcement", Some(json!({"mode": "report"})));
    for via in &gateways {
        let started = Instant::now();
        while post_body(via, &auth, &statement(true)) != 200 {
            assert!(started.elapsed() <= WITHIN, "gateway {} still rejects after {WITHIN:?}", via.origin);
            thread::sleep(Duration::from_millis(50));
        }
    }
    let report = quality_report(&owner, &auth);
    let templates = report["profiles"].as_array().unwrap();
    assert_eq!(templates.len(), 1, "{report}");
    assert_eq!(templates[0]["template"], template);
    assert!(
        templates[0]["invalid"].as_u64().unwrap() >= 2,
        "one broken statement stored through each gateway: {report}"
    );
    assert_eq!(templates[0]["failures"][0]["rule"], "$.result.success", "{report}");
}
