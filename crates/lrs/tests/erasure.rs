//! Erasure on `lrs serve`: forgetting an agent removes its statements (also
//! those naming it in another role), its documents and its names from every
//! answer; no file of the data dir holds its address or name once forget
//! answers (the log and the tables hold them only sealed, and the key is
//! gone), also after a restart; and a replay of the log into empty tables
//! does not bring any of it back (crypto-shredding). The same walk runs on
//! the cluster in tests/cluster.rs.

mod common;

use common::deployment::{check_forgotten, forget, write_erasure_world, Auth, Deployment, FORGOTTEN, KEPT};
use common::{Lrs, KEY};
use reqwest::Method;
use serde_json::{json, Value};

const OPERATOR: &str = "operator-token-for-erasure";

fn start(dir: &std::path::Path) -> Lrs {
    let args = ["serve".to_owned(), "--listen".to_owned(), "127.0.0.1:0".to_owned(), "--data-dir".to_owned()];
    Lrs::start_with(&args, dir, "erasure-secret", &[("LRS_OPERATOR_TOKEN".to_owned(), OPERATOR.to_owned())])
}

fn status(lrs: &Lrs, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut request = lrs.authed(method, path);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().unwrap();
    let code = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[test]
fn a_forgotten_agent_is_gone_from_every_answer_and_every_file_also_after_a_restart_and_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    let auth = Auth::Basic(lrs.key.clone(), lrs.secret.clone());
    let world = write_erasure_world(&deployment, &auth);
    forget(&deployment, "default");
    check_forgotten(&deployment, &auth, &world);

    // When forget answers, no file of the data dir holds the agent's address
    // or name (the log and the tables only ever held them sealed, and the
    // key that opened them is gone from the vault's files), nor the kept
    // agent's (sealed too).
    common::assert_no_file_holds(dir.path(), &FORGOTTEN);
    common::assert_no_file_holds(dir.path(), &KEPT);
    let lrs = lrs.restart_keeping_env();
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    check_forgotten(&deployment, &auth, &world);
    common::assert_no_file_holds(dir.path(), &FORGOTTEN);

    // Replaying the log into empty tables does not bring it back.
    drop(lrs);
    common::replay(dir.path());
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    check_forgotten(&deployment, &auth, &world);
    common::assert_no_file_holds(dir.path(), &FORGOTTEN);
    let _ = KEY;
}

#[test]
fn statements_past_the_tenant_retention_leave_answers_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = start(dir.path());
    let admin = |method: Method, path: &str, body: Value| {
        let response = lrs.client.request(method, lrs.url(path)).bearer_auth(OPERATOR).json(&body).send().unwrap();
        let code = response.status().as_u16();
        assert!((200..300).contains(&code), "{path}: {code} {}", response.text().unwrap_or_default());
    };
    let post = || {
        let id = uuid::Uuid::new_v4().to_string();
        let body = json!({"id": id, "actor": {"mbox": "mailto:old@example.com"}, "verb": {"id": "http://example.com/v"},
                          "object": {"id": "http://example.com/a"}});
        assert_eq!(status(&lrs, Method::POST, "/xapi/statements", Some(&body)).0, 200);
        id
    };
    let old = post();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    admin(Method::PUT, "/admin/tenants/default/retention", json!({"seconds": 2}));
    let fresh = post();
    let (code, _) = status(&lrs, Method::GET, &format!("/xapi/statements?statementId={old}"), None);
    assert_eq!(code, 404, "a statement past retention leaves the answers at once");
    let (_, page) = status(&lrs, Method::GET, "/xapi/statements", None);
    let ids: Vec<&str> = page["statements"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [fresh.as_str()]);

    // The sweep removes it from the tables: lifting the retention does not bring it back.
    admin(Method::POST, "/admin/retention/apply", json!({}));
    admin(Method::PUT, "/admin/tenants/default/retention", json!({"seconds": null}));
    let (code, _) = status(&lrs, Method::GET, &format!("/xapi/statements?statementId={old}"), None);
    assert_eq!(code, 404, "the swept statement is gone from the tables");
    let (code, _) = status(&lrs, Method::GET, &format!("/xapi/statements?statementId={fresh}"), None);
    assert_eq!(code, 200, "a statement within retention stays");
}

/// The vault's route, asked for many agents at once (as a gateway of the
/// cluster asks for a batch's agents), answers each with the subject it
/// answers that agent alone, in order; and refuses a malformed question.
#[test]
fn the_vault_route_answers_a_list_of_agents_as_it_answers_each_alone() {
    const VAULT_TOKEN: &str = "vault-token-for-the-list";
    let dir = tempfile::tempdir().unwrap();
    let args = ["serve".to_owned(), "--listen".to_owned(), "127.0.0.1:0".to_owned(), "--data-dir".to_owned()];
    let lrs = Lrs::start_with(&args, dir.path(), "erasure-secret", &[("LRS_VAULT_TOKEN".into(), VAULT_TOKEN.into())]);
    let ask = |body: Value| {
        let response = common::client()
            .post(lrs.url("/internal/v1/vault/subjects"))
            .bearer_auth(VAULT_TOKEN)
            .json(&body)
            .send()
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().unwrap_or(Value::Null))
    };
    let alone = ask(json!({"tenant": "default", "agent": "mbox:mailto:first@example.com"})).1;
    let agents: Vec<String> = (0..50).map(|n| format!("mbox:mailto:listed-{n}@example.com")).collect();
    let mut listed = agents.clone();
    listed.insert(10, "mbox:mailto:first@example.com".into());

    let (status, answer) = ask(json!({"tenant": "default", "agents": listed}));

    assert_eq!(status, 200, "{answer}");
    let subjects = answer["subjects"].as_array().expect("a list of subjects");
    assert_eq!(subjects.len(), listed.len());
    assert_eq!(subjects[10], alone, "a known agent is answered with its subject");
    for (agent, subject) in listed.iter().zip(subjects) {
        let (_, each) = ask(json!({"tenant": "default", "agent": agent}));
        assert_eq!(&each, subject, "{agent}");
    }
    let ids: std::collections::HashSet<&str> = subjects.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), listed.len(), "one subject per agent");
    // A gateway's client of the route: 2,500 agents asked in parts of
    // 1,000, answered as the route answers each.
    let remote = lrs_http::RemoteVault::new(&lrs.origin, VAULT_TOKEN).unwrap();
    let mut many: Vec<String> = (0..2_500).map(|n| format!("mbox:mailto:many-{n}@example.com")).collect();
    many[1_234] = listed[3].clone();
    let named: Vec<&str> = many.iter().map(String::as_str).collect();
    let tenant = lrs_core::TenantId::parse("default").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let remembered = runtime.block_on(lrs_core::vault::SealingKeys::subjects(&*remote, &tenant, &named)).unwrap();
    assert_eq!(remembered.len(), many.len());
    assert_eq!(remembered[1_234].id.to_string(), subjects[3]["id"].as_str().unwrap(), "a known agent's subject");
    for at in [0, 999, 1_000, 2_499] {
        let (_, each) = ask(json!({"tenant": "default", "agent": many[at]}));
        assert_eq!(remembered[at].id.to_string(), each["id"].as_str().unwrap(), "{}", many[at]);
    }
    // Long identifiers: 200 of 100 KB, more than the route takes in one
    // body (16 MiB), asked for in parts small enough.
    let long: Vec<String> =
        (0..200).map(|n| format!("account:https://example.com/|{n}-{}", "x".repeat(100_000))).collect();
    let named: Vec<&str> = long.iter().map(String::as_str).collect();
    let remembered = runtime.block_on(lrs_core::vault::SealingKeys::subjects(&*remote, &tenant, &named)).unwrap();
    for at in [0, 99, 199] {
        let (_, each) = ask(json!({"tenant": "default", "agent": long[at]}));
        assert_eq!(remembered[at].id.to_string(), each["id"].as_str().unwrap(), "long agent {at}");
    }
    let too_many: Vec<String> = (0..1_001).map(|n| format!("mbox:mailto:many-{n}@example.com")).collect();
    for bad in [
        json!({"tenant": "default"}),
        json!({"tenant": "default", "agent": "mbox:mailto:a@example.com", "agents": ["mbox:mailto:b@example.com"]}),
        json!({"tenant": "default", "agents": []}),
        json!({"tenant": "default", "agents": ["mbox:mailto:a@example.com", ""]}),
        json!({"tenant": "default", "agents": too_many}),
    ] {
        let (status, answer) = ask(bad.clone());
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| m.contains("agents")), "{answer}");
    }
}
