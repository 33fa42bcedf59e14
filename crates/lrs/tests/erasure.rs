//! Erasure: forgetting an agent removes its statements (also those naming it
//! in another role), its documents and its names from every answer; the log
//! never held them in the clear; and a replay of the log into empty tables
//! does not bring any of it back (crypto-shredding).

mod common;

use common::{Lrs, KEY};
use reqwest::Method;
use serde_json::{json, Value};

const OPERATOR: &str = "operator-token-for-erasure";

fn enc(text: &str) -> String {
    serde_urlencoded::to_string([("x", text)]).unwrap()[2..].to_owned()
}

fn start(dir: &std::path::Path) -> Lrs {
    let args = ["serve".to_owned(), "--listen".to_owned(), "127.0.0.1:0".to_owned(), "--data-dir".to_owned()];
    Lrs::start_with(&args, dir, "erasure-secret", &[("LRS_OPERATOR_TOKEN".to_owned(), OPERATOR.to_owned())])
}

struct World {
    forgotten_statement: String,
    instructed_statement: String,
    kept_statement: String,
    x: Value,
    y: Value,
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

fn check_forgotten(lrs: &Lrs, world: &World) {
    let x = enc(&world.x.to_string());
    let y = enc(&world.y.to_string());
    for id in [&world.forgotten_statement, &world.instructed_statement] {
        let (code, body) = status(lrs, Method::GET, &format!("/xapi/statements?statementId={id}"), None);
        assert_eq!(code, 404, "statement {id} naming the forgotten agent is still served: {body}");
    }
    let (code, _) = status(lrs, Method::GET, &format!("/xapi/statements?statementId={}", world.kept_statement), None);
    assert_eq!(code, 200, "a statement without the forgotten agent stays");
    for query in [format!("agent={x}"), format!("agent={x}&related_agents=true")] {
        let (_, page) = status(lrs, Method::GET, &format!("/xapi/statements?{query}"), None);
        assert_eq!(page["statements"], json!([]), "{query} still finds the forgotten agent");
    }
    let (_, all) = status(lrs, Method::GET, "/xapi/statements?limit=0", None);
    assert!(!all.to_string().contains("forget-me@example.com"), "some answer still names the agent: {all}");
    let activity = enc("http://example.com/course");
    let (code, _) = status(
        lrs,
        Method::GET,
        &format!("/xapi/activities/state?activityId={activity}&agent={x}&stateId=progress"),
        None,
    );
    assert_eq!(code, 404, "the forgotten agent's state is gone");
    let (code, _) = status(lrs, Method::GET, &format!("/xapi/agents/profile?agent={x}&profileId=prefs"), None);
    assert_eq!(code, 404, "the forgotten agent's profile is gone");
    let (code, _) = status(
        lrs,
        Method::GET,
        &format!("/xapi/activities/state?activityId={activity}&agent={y}&stateId=progress"),
        None,
    );
    assert_eq!(code, 200, "another agent's state stays");
    let (_, person) = status(
        lrs,
        Method::GET,
        &format!("/xapi/agents?agent={}", enc(r#"{"mbox":"mailto:forget-me@example.com"}"#)),
        None,
    );
    assert!(person.get("name").is_none(), "the forgotten agent's names are gone: {person}");
}

#[test]
fn a_forgotten_agent_is_gone_from_every_answer_also_after_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = start(dir.path());
    let x = json!({"mbox": "mailto:forget-me@example.com", "name": "Forget Me"});
    let y = json!({"mbox": "mailto:keep-me@example.com", "name": "Keep Me"});
    let statement = |actor: &Value, context: Option<Value>| {
        let id = uuid::Uuid::new_v4().to_string();
        let mut body = json!({"id": id, "actor": actor, "verb": {"id": "http://example.com/attended"},
                              "object": {"id": "http://example.com/course"}});
        if let Some(context) = context {
            body["context"] = context;
        }
        assert_eq!(status(&lrs, Method::POST, "/xapi/statements", Some(&body)).0, 200);
        id
    };
    let world = World {
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
        assert_eq!(status(&lrs, Method::PUT, &path, Some(&json!({"page": 3}))).0, 204);
    }
    let profile = format!("/xapi/agents/profile?agent={}&profileId=prefs", enc(&x.to_string()));
    let request = lrs.authed(Method::PUT, &profile).header("If-None-Match", "*").json(&json!({"lang": "en"}));
    assert_eq!(request.send().unwrap().status().as_u16(), 204);

    let forget = lrs
        .client
        .post(lrs.url("/admin/tenants/default/forget"))
        .bearer_auth(OPERATOR)
        .json(&json!({"agent": {"mbox": "mailto:forget-me@example.com"}}));
    let response = forget.send().unwrap();
    assert_eq!(response.status().as_u16(), 204, "forget: {}", response.text().unwrap_or_default());
    check_forgotten(&lrs, &world);

    // When forget answers, no file of the data dir holds the agent's address
    // or name (the log and the tables only ever held them sealed, and the
    // key that opened them is gone from the vault's files), while what was
    // kept is still there, sealed too.
    common::assert_no_file_holds(dir.path(), &["forget-me@example.com", "Forget Me"]);
    common::assert_no_file_holds(dir.path(), &["keep-me@example.com", "Keep Me"]);
    let lrs = lrs.restart_keeping_env();
    check_forgotten(&lrs, &world);
    common::assert_no_file_holds(dir.path(), &["forget-me@example.com", "Forget Me"]);

    // Replaying the log into empty tables does not bring it back.
    drop(lrs);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lrs"))
        .args(["replay", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "replay failed: {}", String::from_utf8_lossy(&output.stderr));
    let lrs = start(dir.path());
    check_forgotten(&lrs, &world);
    let (_, kept) = status(&lrs, Method::GET, &format!("/xapi/statements?statementId={}", world.kept_statement), None);
    assert_eq!(kept["actor"]["mbox"], "mailto:keep-me@example.com", "what was kept replays");
    let (_, person) = status(&lrs, Method::GET, &format!("/xapi/agents?agent={}", enc(&world.y.to_string())), None);
    assert_eq!(person["name"], json!(["Keep Me"]), "the kept agent's name replays: {person}");
    common::assert_no_file_holds(dir.path(), &["forget-me@example.com", "Forget Me"]);
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
