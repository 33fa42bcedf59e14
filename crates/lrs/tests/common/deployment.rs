//! What a user checks on any deployment, `lrs serve` or the cluster behind
//! its router: a tenant never sees another's data on any route, and an
//! erased agent is gone from every answer. Each walk talks to a
//! [`Deployment`] (the xAPI origin, the operator API and its token) only.

use std::time::{Duration, Instant};

use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

use super::client;

/// Where a deployment answers, as an operator and a client see it.
pub(crate) struct Deployment {
    /// `http://host:port`: xAPI under `/xapi`.
    pub(crate) origin: String,
    /// `http://host:port`: the operator API under `/admin`.
    pub(crate) admin_origin: String,
    /// The operator token.
    pub(crate) operator: String,
    /// The HS256 secret its processes accept Bearer tokens with.
    pub(crate) jwt_secret: String,
    /// The client.
    pub(crate) http: Client,
}

/// How a request authenticates.
#[derive(Clone)]
pub(crate) enum Auth {
    /// HTTP Basic: key and secret.
    Basic(String, String),
    /// A Bearer JWT.
    Bearer(String),
}

/// `application/x-www-form-urlencoded` text of one value.
pub(crate) fn enc(text: &str) -> String {
    serde_urlencoded::to_string([("x", text)]).unwrap()[2..].to_owned()
}

impl Deployment {
    /// A deployment answering xAPI and /admin at `origin`.
    pub(crate) fn new(origin: &str, operator: &str, jwt_secret: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            admin_origin: origin.to_owned(),
            operator: operator.to_owned(),
            jwt_secret: jwt_secret.to_owned(),
            http: client(),
        }
    }

    /// Calls the operator API.
    pub(crate) fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.admin_origin)).bearer_auth(&self.operator);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().expect("admin request");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// Creates a tenant through the operator API.
    pub(crate) fn tenant(&self, id: &str, requests_per_second: Option<u32>) {
        let body = json!({ "id": id, "name": format!("tenant {id}"), "requests_per_second": requests_per_second });
        let (status, answer) = self.admin(Method::POST, "/admin/tenants", Some(body));
        assert_eq!(status, 201, "create tenant: {answer}");
    }

    /// Issues a credential of a tenant: Basic auth with its key and secret.
    pub(crate) fn credential(&self, tenant: &str, scopes: &[&str]) -> Auth {
        let path = format!("/admin/tenants/{tenant}/credentials");
        let (status, body) = self.admin(Method::POST, &path, Some(json!({ "scopes": scopes })));
        assert_eq!(status, 201, "issue credential: {body}");
        Auth::Basic(body["key"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
    }

    /// A Bearer JWT for a tenant with `scope`, expiring in `expires_in` seconds.
    pub(crate) fn token(&self, tenant: &str, scope: &str, expires_in: i64) -> Auth {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let claims = json!({ "tenant": tenant, "scope": scope, "exp": now + expires_in, "sub": "tester" });
        Auth::Bearer(
            encode(&Header::default(), &claims, &EncodingKey::from_secret(self.jwt_secret.as_bytes())).unwrap(),
        )
    }

    /// An xAPI 1.0.3 request.
    pub(crate) fn xapi(&self, auth: &Auth, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut request =
            self.http.request(method, format!("{}{path}", self.origin)).header("X-Experience-API-Version", "1.0.3");
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

    /// Polls `GET /xapi/statements?limit=1` until `auth` is let in (at most `within`).
    pub(crate) fn wait_until_accepted(&self, auth: &Auth, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let (status, body) = self.xapi(auth, Method::GET, "/xapi/statements?limit=1", None);
            if status == 200 {
                return started.elapsed();
            }
            assert!(started.elapsed() <= within, "not accepted within {within:?}: {status} {body}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Creates tenants `tenant-a` and `tenant-b`, has B write a bit of every
/// kind, and checks that A (by a credential and by a JWT) finds none of it
/// on any route, and that A's writes land in A.
pub(crate) fn assert_tenants_isolated(deployment: &Deployment) {
    deployment.tenant("tenant-a", None);
    deployment.tenant("tenant-b", None);
    let a = deployment.credential("tenant-a", &["all"]);
    let b = deployment.credential("tenant-b", &["all"]);
    for auth in [&a, &b] {
        deployment.wait_until_accepted(auth, Duration::from_secs(2));
    }

    // Tenant B writes a bit of everything.
    let statement_id = uuid::Uuid::new_v4().to_string();
    let registration = uuid::Uuid::new_v4().to_string();
    let activity = "http://example.com/b/activity";
    let agent = json!({"mbox": "mailto:b-learner@example.com"});
    let statement = json!({
        "id": statement_id, "actor": agent, "verb": {"id": "http://example.com/b/verb"},
        "object": {"id": activity, "definition": {"name": {"en": "B only"}}},
        "context": {"registration": registration},
    });
    assert_eq!(deployment.xapi(&b, Method::POST, "/xapi/statements", Some(&statement)).0, 200);
    let voided_id = uuid::Uuid::new_v4().to_string();
    let voided = json!({"id": voided_id, "actor": agent, "verb": {"id": "http://example.com/b/verb"}, "object": {"id": activity}});
    assert_eq!(deployment.xapi(&b, Method::POST, "/xapi/statements", Some(&voided)).0, 200);
    let voiding = json!({"actor": agent, "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
                         "object": {"objectType": "StatementRef", "id": voided_id}});
    assert_eq!(deployment.xapi(&b, Method::POST, "/xapi/statements", Some(&voiding)).0, 200);
    let agent_param = enc(&agent.to_string());
    let state_path = format!("/xapi/activities/state?activityId={}&agent={agent_param}&stateId=s1", enc(activity));
    let doc = json!({"secret": "of tenant b"});
    assert_eq!(deployment.xapi(&b, Method::PUT, &state_path, Some(&doc)).0, 204);
    let profile_path = format!("/xapi/activities/profile?activityId={}&profileId=p1", enc(activity));
    assert_eq!(deployment.xapi(&b, Method::POST, &profile_path, Some(&doc)).0, 204);
    let agent_profile_path = format!("/xapi/agents/profile?agent={agent_param}&profileId=p1");
    assert_eq!(deployment.xapi(&b, Method::POST, &agent_profile_path, Some(&doc)).0, 204);
    let (_, page) = deployment.xapi(&b, Method::GET, "/xapi/statements?limit=1", None);
    let more = page["more"].as_str().unwrap_or_default().to_owned();
    assert!(!more.is_empty(), "B has a more link: {page}");

    let callers = [a, deployment.token("tenant-a", "all", 600)];
    for a in &callers {
        let empty_list = |path: String| {
            let (status, body) = deployment.xapi(a, Method::GET, &path, None);
            assert_eq!(status, 200, "{path}: {body}");
            assert_eq!(body["statements"], json!([]), "{path} leaks B's statements: {body}");
        };
        for path in [
            "/xapi/statements".to_owned(),
            format!("/xapi/statements?verb={}", enc("http://example.com/b/verb")),
            format!("/xapi/statements?activity={}", enc(activity)),
            format!("/xapi/statements?agent={agent_param}"),
            format!("/xapi/statements?registration={registration}"),
            format!("/xapi/statements?agent={agent_param}&related_agents=true&related_activities=true"),
            more.clone(),
        ] {
            empty_list(path);
        }
        for format in ["ndjson", "csv"] {
            let path = format!("/export/v1/statements?format={format}");
            let (status, body) = deployment.xapi(a, Method::GET, &path, None);
            assert_eq!(status, 200, "{path}: {body}");
            let text = body.as_str().map(str::to_owned).unwrap_or_else(|| body.to_string());
            assert!(!text.contains(&statement_id) && !text.contains("b/verb"), "{path} leaks B's statements: {text}");
        }
        for path in [
            format!("/xapi/statements?statementId={statement_id}"),
            format!("/xapi/statements?voidedStatementId={voided_id}"),
            format!("/xapi/statements?statementId={statement_id}&attachments=true"),
            state_path.clone(),
            profile_path.clone(),
            agent_profile_path.clone(),
        ] {
            let (status, body) = deployment.xapi(a, Method::GET, &path, None);
            assert_eq!(status, 404, "{path} must be 404 for tenant A: {body}");
        }
        for path in [
            format!("/xapi/activities/state?activityId={}&agent={agent_param}", enc(activity)),
            format!("/xapi/activities/profile?activityId={}", enc(activity)),
            format!("/xapi/agents/profile?agent={agent_param}"),
        ] {
            let (status, body) = deployment.xapi(a, Method::GET, &path, None);
            assert_eq!((status, body.clone()), (200, json!([])), "{path} lists B's documents");
        }
        let (status, activity_body) =
            deployment.xapi(a, Method::GET, &format!("/xapi/activities?activityId={}", enc(activity)), None);
        assert_eq!(status, 200);
        assert!(activity_body.get("definition").is_none(), "B's activity definition leaks: {activity_body}");
        let (_, person) = deployment.xapi(a, Method::GET, &format!("/xapi/agents?agent={agent_param}"), None);
        assert!(person.get("name").is_none(), "B's agent names leak: {person}");
        // A cannot change B's documents either: A's writes land in A's own tenant.
        assert_eq!(deployment.xapi(a, Method::DELETE, &state_path, None).0, 204);
    }
    let (status, body) = deployment.xapi(&b, Method::GET, &state_path, None);
    assert_eq!((status, body), (200, doc), "B's state survived A's delete");
}

/// What the erasure walk wrote: statements naming the agent to forget (as
/// actor, and as instructor of another's statement) and one that does not.
pub(crate) struct ErasureWorld {
    pub(crate) forgotten_statement: String,
    pub(crate) instructed_statement: String,
    pub(crate) kept_statement: String,
    pub(crate) x: Value,
    pub(crate) y: Value,
}

/// The address and name of the agent the erasure walk forgets.
pub(crate) const FORGOTTEN: [&str; 2] = ["forget-me@example.com", "Forget Me"];
/// The address and name of the agent it keeps.
pub(crate) const KEPT: [&str; 2] = ["keep-me@example.com", "Keep Me"];

/// Writes the erasure walk's statements, state documents and agent profile as `auth`.
pub(crate) fn write_erasure_world(deployment: &Deployment, auth: &Auth) -> ErasureWorld {
    let x = json!({"mbox": "mailto:forget-me@example.com", "name": "Forget Me"});
    let y = json!({"mbox": "mailto:keep-me@example.com", "name": "Keep Me"});
    let statement = |actor: &Value, context: Option<Value>| {
        let id = uuid::Uuid::new_v4().to_string();
        let mut body = json!({"id": id, "actor": actor, "verb": {"id": "http://example.com/attended"},
                              "object": {"id": "http://example.com/course"}});
        if let Some(context) = context {
            body["context"] = context;
        }
        let (status, answer) = deployment.xapi(auth, Method::POST, "/xapi/statements", Some(&body));
        assert_eq!(status, 200, "{answer}");
        id
    };
    let world = ErasureWorld {
        forgotten_statement: statement(&x, None),
        instructed_statement: statement(&y, Some(json!({"instructor": x}))),
        kept_statement: statement(&y, None),
        x: x.clone(),
        y: y.clone(),
    };
    let activity = enc("http://example.com/course");
    for agent in [&x, &y] {
        let path =
            format!("/xapi/activities/state?activityId={activity}&agent={}&stateId=progress", enc(&agent.to_string()));
        assert_eq!(deployment.xapi(auth, Method::PUT, &path, Some(&json!({"page": 3}))).0, 204);
    }
    let profile = format!("/xapi/agents/profile?agent={}&profileId=prefs", enc(&x.to_string()));
    let request = deployment
        .http
        .put(format!("{}{profile}", deployment.origin))
        .header("X-Experience-API-Version", "1.0.3")
        .header("If-None-Match", "*")
        .json(&json!({"lang": "en"}));
    let request = match auth {
        Auth::Basic(key, secret) => request.basic_auth(key, Some(secret)),
        Auth::Bearer(token) => request.bearer_auth(token),
    };
    assert_eq!(request.send().unwrap().status().as_u16(), 204);
    world
}

/// Forgets the walk's agent through the operator API of `tenant`.
pub(crate) fn forget(deployment: &Deployment, tenant: &str) {
    let body = json!({"agent": {"mbox": "mailto:forget-me@example.com"}});
    let (status, answer) = deployment.admin(Method::POST, &format!("/admin/tenants/{tenant}/forget"), Some(body));
    assert_eq!(status, 204, "forget: {answer}");
}

/// Checks that no answer names the forgotten agent and that the rest stays.
pub(crate) fn check_forgotten(deployment: &Deployment, auth: &Auth, world: &ErasureWorld) {
    let x = enc(&world.x.to_string());
    let y = enc(&world.y.to_string());
    let get = |path: &str| deployment.xapi(auth, Method::GET, path, None);
    for id in [&world.forgotten_statement, &world.instructed_statement] {
        let (code, body) = get(&format!("/xapi/statements?statementId={id}"));
        assert_eq!(code, 404, "statement {id} naming the forgotten agent is still served: {body}");
    }
    let (code, kept) = get(&format!("/xapi/statements?statementId={}", world.kept_statement));
    assert_eq!(code, 200, "a statement without the forgotten agent stays");
    assert_eq!(kept["actor"]["mbox"], "mailto:keep-me@example.com", "and reads back: {kept}");
    for query in [format!("agent={x}"), format!("agent={x}&related_agents=true")] {
        let (_, page) = get(&format!("/xapi/statements?{query}"));
        assert_eq!(page["statements"], json!([]), "{query} still finds the forgotten agent");
    }
    let (_, all) = get("/xapi/statements?limit=0");
    assert!(!all.to_string().contains(FORGOTTEN[0]), "some answer still names the agent: {all}");
    let activity = enc("http://example.com/course");
    let (code, _) = get(&format!("/xapi/activities/state?activityId={activity}&agent={x}&stateId=progress"));
    assert_eq!(code, 404, "the forgotten agent's state is gone");
    let (code, _) = get(&format!("/xapi/agents/profile?agent={x}&profileId=prefs"));
    assert_eq!(code, 404, "the forgotten agent's profile is gone");
    let (code, _) = get(&format!("/xapi/activities/state?activityId={activity}&agent={y}&stateId=progress"));
    assert_eq!(code, 200, "another agent's state stays");
    let (_, person) = get(&format!("/xapi/agents?agent={}", enc(r#"{"mbox":"mailto:forget-me@example.com"}"#)));
    assert!(person.get("name").is_none(), "the forgotten agent's names are gone: {person}");
    let (_, person) = get(&format!("/xapi/agents?agent={y}"));
    assert_eq!(person["name"], json!(["Keep Me"]), "the kept agent's name stays: {person}");
}
