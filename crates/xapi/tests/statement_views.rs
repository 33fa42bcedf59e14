//! Tests of the `Statement` helper views and normalisation.

use serde_json::json;
use xapi::{normalize_statement, Statement, Version};

fn full() -> serde_json::Value {
    json!({
        "id": "6690E6C9-3EF0-4ED3-8B37-7F3964730BEE",
        "actor": {"objectType": "Group", "mbox": "mailto:team@example.com", "member": [{"mbox": "mailto:a@example.com"}, {"mbox": "mailto:b@example.com"}]},
        "verb": {"id": "http://example.com/verbs/did"},
        "object": {
            "objectType": "SubStatement",
            "actor": {"mbox": "mailto:sub@example.com"},
            "verb": {"id": "http://example.com/verbs/saw"},
            "object": {"id": "http://example.com/sub-object"},
            "context": {"instructor": {"mbox": "mailto:subinstr@example.com"}, "contextActivities": {"parent": {"id": "http://example.com/sub-parent"}}},
            "timestamp": "2023-05-04T12:00:00.120-05:00"
        },
        "context": {
            "registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
            "instructor": {"mbox": "mailto:instr@example.com"},
            "team": {"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}, {"openid": "http://o.example/c"}]},
            "contextActivities": {"parent": {"id": "http://example.com/parent"}, "grouping": [{"id": "http://example.com/g"}, {"id": "http://example.com/parent"}]},
            "contextAgents": [{"objectType": "contextAgent", "agent": {"mbox": "mailto:ca@example.com"}}],
            "contextGroups": [{"objectType": "contextGroup", "group": {"objectType": "Group", "mbox": "mailto:cg@example.com"}}]
        },
        "authority": {"mbox": "mailto:auth@example.com"},
        "timestamp": "2023-05-04T12:00:00-05:00"
    })
}

fn keys(v: Vec<xapi::AgentKey>) -> Vec<String> {
    v.into_iter().map(|k| k.as_str().to_string()).collect()
}

#[test]
fn agents_and_activities() {
    let s = Statement::parse(full(), Version::V2_0_0).unwrap();
    assert_eq!(
        keys(s.agents(false)),
        ["mbox:mailto:team@example.com", "mbox:mailto:a@example.com", "mbox:mailto:b@example.com"]
    );
    assert_eq!(
        keys(s.agents(true)),
        [
            "mbox:mailto:team@example.com",
            "mbox:mailto:a@example.com",
            "mbox:mailto:b@example.com",
            "mbox:mailto:auth@example.com",
            "mbox:mailto:instr@example.com",
            "openid:http://o.example/c",
            "mbox:mailto:ca@example.com",
            "mbox:mailto:cg@example.com",
            "mbox:mailto:sub@example.com",
            "mbox:mailto:subinstr@example.com",
        ]
    );
    assert!(s.activities(false).is_empty());
    assert_eq!(
        s.activities(true),
        [
            "http://example.com/parent",
            "http://example.com/g",
            "http://example.com/sub-object",
            "http://example.com/sub-parent"
        ]
    );
    assert_eq!(s.id().unwrap().to_string(), "6690e6c9-3ef0-4ed3-8b37-7f3964730bee");
    assert_eq!(s.registration().unwrap().to_string(), "ec531277-b57b-4c15-8d91-d292c5b2b8f7");
    assert_eq!(s.verb_id(), "http://example.com/verbs/did");
    assert_eq!(s.voided_target(), None);
    assert_eq!(s.value()["verb"]["id"], "http://example.com/verbs/did");
    assert_eq!(s.clone().into_value(), full());
}

#[test]
fn activity_object_and_agent_object() {
    let s = Statement::from_trusted(json!({
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://example.com/v"},
        "object": {"id": "http://example.com/a"}
    }));
    assert_eq!(s.activities(false), ["http://example.com/a"]);
    let s = Statement::from_trusted(json!({
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://example.com/v"},
        "object": {"objectType": "Agent", "mbox": "mailto:a@example.com"}
    }));
    assert_eq!(keys(s.agents(false)), ["mbox:mailto:a@example.com"]);
    assert!(s.id().is_none());
    assert!(s.registration().is_none());
}

/// In one walk, the related agents and activities with the direct ones
/// first: the same lists as asking for each scope on its own.
#[test]
fn direct_first_views_agree_with_each_scope_asked_alone() {
    let agent_object = json!({
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://example.com/v"},
        "object": {"objectType": "Agent", "mbox": "mailto:o@example.com"},
        "context": {"instructor": {"mbox": "mailto:a@example.com"}, "contextActivities": {"other": [{"id": "http://example.com/x"}]}}
    });
    let activity_object = json!({
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://example.com/v"},
        "object": {"id": "http://example.com/a"},
        "context": {"contextActivities": {"parent": [{"id": "http://example.com/a"}, {"id": "http://example.com/p"}]}}
    });
    let bare = json!({"actor": {"mbox": "mailto:a@example.com"}, "verb": {"id": "http://example.com/v"}});
    for value in [full(), agent_object, activity_object, bare] {
        let s = Statement::from_trusted(value);
        let (agents, direct) = s.agents_direct_first();
        assert_eq!(keys(agents.clone()), keys(s.agents(true)), "{}", s.value());
        assert_eq!(keys(agents[..direct].to_vec()), keys(s.agents(false)), "{}", s.value());
        let (activities, direct) = s.activities_direct_first();
        assert_eq!(activities, s.activities(true), "{}", s.value());
        assert_eq!(activities[..direct], s.activities(false), "{}", s.value());
    }
}

#[test]
fn voiding() {
    let s = Statement::parse(
        json!({
            "actor": {"mbox": "mailto:a@example.com"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
            "object": {"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"}
        }),
        Version::V1_0_3,
    )
    .unwrap();
    assert_eq!(s.voided_target().unwrap().to_string(), "6690e6c9-3ef0-4ed3-8b37-7f3964730bee");
    let e = Statement::parse(
        json!({
            "actor": {"mbox": "mailto:a@example.com"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
            "object": {"id": "http://example.com/a"}
        }),
        Version::V1_0_3,
    )
    .unwrap_err();
    assert_eq!(e.path(), "object");
}

#[test]
fn normalisation() {
    let mut v = full();
    normalize_statement(&mut v, Version::V2_0_0);
    assert_eq!(v["context"]["contextActivities"]["parent"], json!([{"id": "http://example.com/parent"}]));
    assert_eq!(v["object"]["context"]["contextActivities"]["parent"], json!([{"id": "http://example.com/sub-parent"}]));
    assert_eq!(v["timestamp"], "2023-05-04T17:00:00Z");
    assert_eq!(v["object"]["timestamp"], "2023-05-04T17:00:00.120Z");
    assert_eq!(v["id"], full()["id"]);
    assert!(xapi::validate_statement(&v, Version::V2_0_0).is_ok());
    assert!(xapi::statements_equivalent(&v, &full()));

    let mut v = full();
    normalize_statement(&mut v, Version::V1_0_3);
    assert_eq!(v["timestamp"], "2023-05-04T12:00:00-05:00");
    assert!(v["context"]["contextActivities"]["parent"].is_array());
}
