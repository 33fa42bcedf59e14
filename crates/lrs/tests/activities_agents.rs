//! Proves that the Activities resource returns an activity's definition merged from every statement that named it,
//! and the Agents resource a Person object with every name and identifier seen, and that both reject bad parameters
//! with 400 (xAPI 1.0.3 Communication 2.4, 2.5; 2.0 §4.1.6.3, §4.1.6.4).

mod common;

use common::{path_query, send, Lrs};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

/// GET /xapi/activities with the given parameters.
fn get_activity(lrs: &Lrs, params: &[(&str, &str)]) -> (u16, Value) {
    let (status, _, body) = send(lrs.authed(Method::GET, &path_query("/xapi/activities", params)));
    (status, body)
}

/// GET /xapi/agents with the given parameters.
fn get_person(lrs: &Lrs, params: &[(&str, &str)]) -> (u16, Value) {
    let (status, _, body) = send(lrs.authed(Method::GET, &path_query("/xapi/agents", params)));
    (status, body)
}

/// A statement by `actor` about `object`.
fn statement_about(actor: Value, object: Value) -> Value {
    json!({
        "actor": actor,
        "verb": { "id": "http://adlnet.gov/expapi/verbs/experienced", "display": { "en-US": "experienced" } },
        "object": object,
    })
}

fn agent(mbox: &str, name: &str) -> Value {
    json!({ "objectType": "Agent", "name": name, "mbox": mbox })
}

fn assert_400(what: &str, (status, body): (u16, Value)) {
    assert_eq!(status, 400, "{what}: answered {status}: {body}");
    assert_eq!(body["error"]["code"], 400, "{what}: the body must be the JSON error: {body}");
}

/// XAPI-00253, 00254 (and 2.0 §4.1.6.4): two statements each describe the activity in another language; the
/// Activities resource returns both descriptions, and what only one statement said.
#[test]
fn activity_definition_is_merged_from_every_statement_that_named_it() {
    let lrs = Lrs::start();
    let id = format!("http://example.com/activities/merged-{}", Uuid::new_v4().simple());
    let actor = agent("mailto:learner@example.com", "Learner");
    let english = statement_about(
        actor.clone(),
        json!({
            "objectType": "Activity",
            "id": id,
            "definition": {
                "name": { "en-US": "example meeting" },
                "description": { "en-US": "a meeting to test merging" },
                "type": "http://adlnet.gov/expapi/activities/meeting",
                "moreInfo": "http://example.com/meetings/info",
            },
        }),
    );
    let french = statement_about(
        actor.clone(),
        json!({
            "objectType": "Activity",
            "id": id,
            "definition": {
                "name": { "fr-FR": "réunion" },
                "description": { "fr-FR": "une réunion pour tester la fusion" },
                "extensions": { "http://example.com/extensions/room": "B12" },
            },
        }),
    );
    // The French one in a separate request, the way a second client would send it.
    let (status, body) = lrs.post(&json!([english]));
    assert_eq!(status, 200, "POST answered {status}: {body}");
    let (status, body) = lrs.post(&json!([french]));
    assert_eq!(status, 200, "POST answered {status}: {body}");
    // An activity only named in context adds nothing but must not hide the definition.
    let mut in_context =
        statement_about(actor, json!({ "objectType": "Activity", "id": "http://example.com/activities/other" }));
    in_context["context"] = json!({ "contextActivities": { "parent": [{ "id": id }] } });
    let (status, body) = lrs.post(&in_context);
    assert_eq!(status, 200, "POST answered {status}: {body}");

    let (status, activity) = get_activity(&lrs, &[("activityId", &id)]);
    assert_eq!(status, 200, "GET activities answered {status}: {activity}");
    assert_eq!(activity["objectType"], "Activity", "{activity}");
    assert_eq!(activity["id"], json!(id), "{activity}");
    let definition = &activity["definition"];
    assert_eq!(definition["name"]["en-US"], "example meeting", "name from the first statement: {activity}");
    assert_eq!(definition["name"]["fr-FR"], "réunion", "name from the second statement: {activity}");
    assert_eq!(definition["description"]["en-US"], "a meeting to test merging", "{activity}");
    assert_eq!(definition["description"]["fr-FR"], "une réunion pour tester la fusion", "{activity}");
    assert_eq!(definition["type"], "http://adlnet.gov/expapi/activities/meeting", "{activity}");
    assert_eq!(definition["moreInfo"], "http://example.com/meetings/info", "{activity}");
    assert_eq!(definition["extensions"]["http://example.com/extensions/room"], "B12", "{activity}");
}

/// 2.0 §4.1.6.4 "If an LRS does not have a canonical definition of the Activity to return, the LRS shall still
/// return an Activity Object when queried."
#[test]
fn unknown_activity_is_answered_with_a_minimal_activity_object() {
    let lrs = Lrs::start();
    let id = format!("http://www.example.com/never-before-seen-activityId/{}", Uuid::new_v4());
    let (status, activity) = get_activity(&lrs, &[("activityId", &id)]);
    assert_eq!(status, 200, "answered {status}: {activity}");
    assert_eq!(activity["objectType"], "Activity", "{activity}");
    assert_eq!(activity["id"], json!(id), "{activity}");
}

/// XAPI-00250: no activityId is 400; so is an activityId that is not an IRI or an unknown parameter.
#[test]
fn activities_without_a_valid_activity_id_is_400() {
    let lrs = Lrs::start();
    assert_400("no activityId", get_activity(&lrs, &[]));
    assert_400("activityId not an IRI", get_activity(&lrs, &[("activityId", "not an iri")]));
    assert_400(
        "an unknown parameter",
        get_activity(&lrs, &[("activityId", "http://example.com/a"), ("agent", r#"{"mbox":"mailto:a@example.com"}"#)]),
    );
}

/// XAPI-00245, 00236, 00248, 00237, 00238, 00239, 00244: the Person object gathers every name statements gave the
/// agent, and lists its mbox as an array of mailto IRIs.
#[test]
fn agents_returns_a_person_with_every_name_seen_in_statements() {
    let lrs = Lrs::start();
    let mbox = format!("mailto:person-{}@example.com", Uuid::new_v4().simple());
    let object = json!({ "objectType": "Activity", "id": "http://example.com/activities/person-test" });
    for name in ["Alice", "Alice Smith"] {
        let (status, body) = lrs.post(&statement_about(agent(&mbox, name), object.clone()));
        assert_eq!(status, 200, "POST answered {status}: {body}");
    }
    // Another agent's name must not appear.
    let (status, body) = lrs.post(&statement_about(agent("mailto:someone-else@example.com", "Bob"), object));
    assert_eq!(status, 200, "POST answered {status}: {body}");

    let (status, person) = get_person(&lrs, &[("agent", &json!({ "objectType": "Agent", "mbox": mbox }).to_string())]);
    assert_eq!(status, 200, "GET agents answered {status}: {person}");
    assert_eq!(person["objectType"], "Person", "{person}");
    let names: Vec<&str> = person["name"]
        .as_array()
        .unwrap_or_else(|| panic!("name must be an array: {person}"))
        .iter()
        .map(|n| n.as_str().expect("a name string"))
        .collect();
    assert!(names.contains(&"Alice") && names.contains(&"Alice Smith"), "both names: {person}");
    assert!(!names.contains(&"Bob"), "no other agent's name: {person}");
    assert_eq!(person["mbox"], json!([mbox]), "mbox is an array of mailto IRIs: {person}");
    for absent in ["mbox_sha1sum", "openid", "account"] {
        assert!(person.get(absent).is_none_or(|v| v.as_array().is_some_and(Vec::is_empty)), "no {absent}: {person}");
    }
}

/// XAPI-00240, 00241, 00242: mbox_sha1sum and openid are arrays of strings, account an array of Account objects.
#[test]
fn agents_lists_every_kind_of_identifier_as_an_array() {
    let lrs = Lrs::start();
    let tag = Uuid::new_v4().simple().to_string();
    let sha1 = "ebd31e95054c018b10727ccffd2ef2ec3a016ee9";
    let openid = format!("http://openid.example.com/{tag}");
    let account = json!({ "homePage": "http://www.example.com", "name": format!("user-{tag}") });
    let object = json!({ "objectType": "Activity", "id": "http://example.com/activities/ifi-test" });
    let cases = [
        ("mbox_sha1sum", json!({ "objectType": "Agent", "name": "Sha", "mbox_sha1sum": sha1 }), json!(sha1)),
        ("openid", json!({ "objectType": "Agent", "name": "Open", "openid": openid }), json!(openid)),
        ("account", json!({ "objectType": "Agent", "name": "Acc", "account": account }), account.clone()),
    ];
    for (ifi, actor, value) in cases {
        let (status, body) = lrs.post(&statement_about(actor.clone(), object.clone()));
        assert_eq!(status, 200, "{ifi}: POST answered {status}: {body}");
        let query = json!({ ifi: value });
        let (status, person) = get_person(&lrs, &[("agent", &query.to_string())]);
        assert_eq!(status, 200, "{ifi}: GET agents answered {status}: {person}");
        assert_eq!(person["objectType"], "Person", "{ifi}: {person}");
        assert_eq!(person[ifi], json!([value]), "{ifi} must be an array holding the identifier: {person}");
        assert_eq!(person["name"], json!([actor["name"]]), "{ifi}: the name seen in the statement: {person}");
    }
}

/// XAPI-00236: an agent the LRS has never seen still gets a Person object (with the identifier asked for).
#[test]
fn agents_answers_a_person_for_an_agent_never_seen() {
    let lrs = Lrs::start();
    let mbox = format!("mailto:nobody-{}@example.com", Uuid::new_v4().simple());
    let (status, person) = get_person(&lrs, &[("agent", &json!({ "mbox": mbox }).to_string())]);
    assert_eq!(status, 200, "answered {status}: {person}");
    assert_eq!(person["objectType"], "Person", "{person}");
    assert_eq!(person["mbox"], json!([mbox]), "{person}");
}

/// XAPI-00243 (no agent), XAPI-00249 (an agent that is not valid in structure): 400.
#[test]
fn agents_without_a_valid_agent_is_400() {
    let lrs = Lrs::start();
    assert_400("no agent", get_person(&lrs, &[]));
    let bad = [
        ("not JSON", r#"{"mbox": "mailto:a@example.com""#.to_owned()),
        ("no identifier", json!({ "objectType": "Agent", "name": "nameless" }).to_string()),
        ("mbox without mailto:", json!({ "mbox": "a@example.com" }).to_string()),
        ("two identifiers", json!({ "mbox": "mailto:a@example.com", "openid": "http://example.com/a" }).to_string()),
        ("account without homePage", json!({ "account": { "name": "user" } }).to_string()),
        ("account without name", json!({ "account": { "homePage": "http://www.example.com" } }).to_string()),
        ("a JSON array", json!([{ "mbox": "mailto:a@example.com" }]).to_string()),
    ];
    for (what, agent) in bad {
        assert_400(what, get_person(&lrs, &[("agent", &agent)]));
    }
    assert_400(
        "an unknown parameter",
        get_person(&lrs, &[("agent", r#"{"mbox":"mailto:a@example.com"}"#), ("activityId", "http://example.com/a")]),
    );
}

/// An agent identified by a long account (a long home page and name) is
/// stored and found once the store knows thousands of agents (before, its
/// statements were answered 503 once every directory of the key vault existed).
#[test]
fn an_agent_with_a_long_account_is_stored_and_found_in_a_store_of_many_agents() {
    let lrs = Lrs::start();
    let object = json!({"id": "http://example.com/activities/long-accounts"});
    for batch in 0..20 {
        let statements: Vec<Value> = (0..100)
            .map(|n| statement_about(json!({"mbox": format!("mailto:many-{batch}-{n}@example.com")}), object.clone()))
            .collect();
        let (status, body) = lrs.post(&Value::Array(statements));
        assert_eq!(status, 200, "{body}");
    }
    let account = json!({
        "homePage": format!("https://lms.example-university.edu/{}/users", "faculty-of-long-names/".repeat(5)),
        "name": "learner-6f1c2d7e-2b9a-4c55-9d0e-8a7b6c5d4e3f",
    });
    let actor = json!({"objectType": "Agent", "account": account});

    let (status, body) = lrs.post(&statement_about(actor.clone(), object));

    assert_eq!(status, 200, "{body}");
    let id = body[0].as_str().expect("the statement's id").to_owned();
    let (status, _, found) =
        send(lrs.authed(Method::GET, &path_query("/xapi/statements", &[("agent", &actor.to_string())])));
    assert_eq!(status, 200, "{found}");
    let ids: Vec<&str> = found["statements"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str()], "found by its agent");
}
