//! Table-driven tests: one named case per rule, good and bad, asserting the error path.

use super::*;
use serde_json::json;

const V1: Version = Version::V1_0_3;
const V2: Version = Version::V2_0_0;

fn base() -> Value {
    json!({
        "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
        "actor": {"objectType": "Agent", "name": "xAPI mbox", "mbox": "mailto:xapi@adlnet.gov"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/attended", "display": {"en-GB": "attended", "en-US": "attended"}},
        "object": {"objectType": "Activity", "id": "http://www.example.com/meetings/occurances/34534"}
    })
}

fn sub_base() -> Value {
    json!({
        "objectType": "SubStatement",
        "actor": {"objectType": "Agent", "mbox": "mailto:sub@example.com"},
        "verb": {"id": "http://example.com/verbs/reviewed"},
        "object": {"objectType": "Activity", "id": "http://example.com/activities/a"}
    })
}

fn activity_with(def: Value) -> Value {
    json!({"objectType": "Activity", "id": "http://example.com/act", "definition": def})
}

fn anon_group() -> Value {
    json!({"objectType": "Group", "member": [{"mbox": "mailto:m1@example.com"}, {"mbox": "mailto:m2@example.com"}]})
}

/// Sets the value at a JSON pointer, creating intermediate objects.
fn set(v: &mut Value, ptr: &str, new: Value) {
    let parts: Vec<&str> = ptr.trim_start_matches('/').split('/').collect();
    let mut cur = v;
    for (i, p) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        if let Ok(idx) = p.parse::<usize>() {
            if let Value::Array(a) = cur {
                if last {
                    a[idx] = new;
                    return;
                }
                cur = &mut a[idx];
                continue;
            }
        }
        if !cur.is_object() {
            *cur = json!({});
        }
        let m = cur.as_object_mut().unwrap();
        if last {
            m.insert(p.to_string(), new);
            return;
        }
        cur = m.entry(p.to_string()).or_insert_with(|| json!({}));
    }
}

fn remove(v: &mut Value, ptr: &str) {
    let (parent, key) = ptr.rsplit_once('/').unwrap();
    let target = if parent.is_empty() { Some(&mut *v) } else { v.pointer_mut(parent) };
    if let Some(Value::Object(m)) = target {
        m.remove(key);
    }
}

enum Op {
    Set(&'static str, Value),
    Del(&'static str),
}
use Op::{Del, Set};

struct Case {
    name: &'static str,
    ops: Vec<Op>,
    /// None: must be accepted; Some(path): must be rejected naming that path.
    expect: Option<&'static str>,
}

fn ok(name: &'static str, ops: Vec<Op>) -> Case {
    Case { name, ops, expect: None }
}

fn bad(name: &'static str, ops: Vec<Op>, path: &'static str) -> Case {
    Case { name, ops, expect: Some(path) }
}

fn run(cases: Vec<Case>, versions: &[Version]) {
    for case in cases {
        let mut s = base();
        for op in &case.ops {
            match op {
                Set(p, v) => set(&mut s, p, v.clone()),
                Del(p) => remove(&mut s, p),
            }
        }
        for &version in versions {
            let got = validate_statement(&s, version);
            match (case.expect, got) {
                (None, Ok(())) => {}
                (None, Err(e)) => panic!("{} ({version}): expected accept, got error {e}\n{s:#}", case.name),
                (Some(p), Ok(())) => panic!("{} ({version}): expected error at {p}, accepted\n{s:#}", case.name),
                (Some(p), Err(e)) => assert_eq!(e.path(), p, "{} ({version}): wrong path, error was: {e}", case.name),
            }
        }
    }
}

#[test]
fn statement_level() {
    run(
        vec![
            ok("minimal statement", vec![]),
            ok("without id", vec![Del("/id")]),
            ok("uppercase uuid id", vec![Set("/id", json!("AA97B177-9383-4934-8543-0F91A7A02836"))]),
            bad("id numeric", vec![Set("/id", json!(12345))], "id"),
            bad("id object", vec![Set("/id", json!({"key": "x"}))], "id"),
            bad("id too many digits", vec![Set("/id", json!("AA97B177-9383-4934-8543-0F91A7A028368"))], "id"),
            bad("id non-hex letter", vec![Set("/id", json!("MA97B177-9383-4934-8543-0F91A7A02836"))], "id"),
            bad("id null", vec![Set("/id", Value::Null)], "id"),
            bad("missing actor", vec![Del("/actor")], "actor"),
            bad("missing verb", vec![Del("/verb")], "verb"),
            bad("missing object", vec![Del("/object")], "object"),
            bad("unknown top-level property", vec![Set("/foo", json!(1))], "foo"),
            ok("timestamp Z", vec![Set("/timestamp", json!("2013-05-18T05:32:34.804Z"))]),
            ok("timestamp +00:00", vec![Set("/timestamp", json!("2008-09-15T15:53:00.601+00:00"))]),
            ok("timestamp future", vec![Set("/timestamp", json!("2099-01-01T00:00:00.000Z"))]),
            bad("timestamp string", vec![Set("/timestamp", json!("should fail"))], "timestamp"),
            bad("timestamp date", vec![Set("/timestamp", json!("01/011/2015"))], "timestamp"),
            bad("timestamp -00", vec![Set("/timestamp", json!("2008-09-15T15:53:00.601-00"))], "timestamp"),
            bad("timestamp -0000", vec![Set("/timestamp", json!("2008-09-15T15:53:00.601-0000"))], "timestamp"),
            bad("timestamp -00:00", vec![Set("/timestamp", json!("2008-09-15T15:53:00.601-00:00"))], "timestamp"),
            bad("timestamp no zone", vec![Set("/timestamp", json!("2008-09-15T15:53:00.601"))], "timestamp"),
            bad("timestamp number", vec![Set("/timestamp", json!(1234))], "timestamp"),
            ok("stored", vec![Set("/stored", json!("2013-05-18T05:32:34.804+05:00"))]),
            bad("stored invalid", vec![Set("/stored", json!("yesterday"))], "stored"),
            ok("version 1.0", vec![Set("/version", json!("1.0"))]),
            ok("version 1.0.9", vec![Set("/version", json!("1.0.9"))]),
            bad("version string", vec![Set("/version", json!("should fail"))], "version"),
            bad("version 0.9.9", vec![Set("/version", json!("0.9.9"))], "version"),
            bad("version 1.1.0", vec![Set("/version", json!("1.1.0"))], "version"),
            bad("version number", vec![Set("/version", json!(1.0))], "version"),
        ],
        &[V1, V2],
    );
    run(vec![bad("version 2.0.0 in 1.0.3", vec![Set("/version", json!("2.0.0"))], "version")], &[V1]);
    run(vec![ok("version 2.0.0 in 2.0", vec![Set("/version", json!("2.0.0"))])], &[V2]);
}

#[test]
fn not_an_object() {
    for v in [json!(null), json!([]), json!("s"), json!(1), json!(true)] {
        let e = validate_statement(&v, V1).unwrap_err();
        assert_eq!(e.path(), "");
        assert!(e.message().contains("JSON object"), "{e}");
    }
}

#[test]
fn actor_agent() {
    run(
        vec![
            ok("agent without objectType", vec![Del("/actor/objectType")]),
            ok(
                "agent mbox_sha1sum",
                vec![Set("/actor", json!({"mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"}))],
            ),
            ok("agent openid", vec![Set("/actor", json!({"openid": "http://openid.example.org/12345"}))]),
            ok(
                "agent account",
                vec![Set(
                    "/actor",
                    json!({"account": {"homePage": "http://www.example.com", "name": "xAPI account name"}}),
                )],
            ),
            bad("agent objectType wrong", vec![Set("/actor/objectType", json!("agent"))], "actor.objectType"),
            bad("agent objectType numeric", vec![Set("/actor/objectType", json!(123))], "actor.objectType"),
            bad("agent name numeric", vec![Set("/actor/name", json!(123))], "actor.name"),
            bad("agent name null", vec![Set("/actor/name", Value::Null)], "actor.name"),
            bad("agent without IFI", vec![Del("/actor/mbox")], "actor"),
            bad("agent with two IFIs", vec![Set("/actor/openid", json!("http://openid.example.org/1"))], "actor"),
            bad("mbox not mailto", vec![Set("/actor/mbox", json!("http://should.fail.com"))], "actor.mbox"),
            bad("mbox without address", vec![Set("/actor/mbox", json!("mailto:should.fail.com"))], "actor.mbox"),
            bad("mbox bare address", vec![Set("/actor/mbox", json!("xapi@adlnet.gov"))], "actor.mbox"),
            bad("mbox_sha1sum numeric", vec![Set("/actor", json!({"mbox_sha1sum": 123}))], "actor.mbox_sha1sum"),
            bad("mbox_sha1sum short", vec![Set("/actor", json!({"mbox_sha1sum": "cd9b00a5"}))], "actor.mbox_sha1sum"),
            bad("openid no scheme", vec![Set("/actor", json!({"openid": "open.id.com/testUser"}))], "actor.openid"),
            bad("openid bad scheme", vec![Set("/actor", json!({"openid": "ab=c://should.fail.com"}))], "actor.openid"),
            bad(
                "account homePage no scheme",
                vec![Set("/actor", json!({"account": {"homePage": "homePage.com/testUser", "name": "123456"}}))],
                "actor.account.homePage",
            ),
            bad(
                "account missing homePage",
                vec![Set("/actor", json!({"account": {"name": "n"}}))],
                "actor.account.homePage",
            ),
            bad(
                "account missing name",
                vec![Set("/actor", json!({"account": {"homePage": "http://h.example"}}))],
                "actor.account.name",
            ),
            bad(
                "account name object",
                vec![Set("/actor", json!({"account": {"homePage": "http://h.example", "name": {"key": "x"}}}))],
                "actor.account.name",
            ),
            bad(
                "account unknown property",
                vec![Set("/actor", json!({"account": {"homePage": "http://h.example", "name": "n", "x": 1}}))],
                "actor.account.x",
            ),
            bad("agent unknown property", vec![Set("/actor/member", json!([]))], "actor.member"),
            bad("actor string", vec![Set("/actor", json!("agent"))], "actor"),
            bad("actor objectType Activity", vec![Set("/actor/objectType", json!("Activity"))], "actor.objectType"),
        ],
        &[V1, V2],
    );
}

#[test]
fn actor_group() {
    run(
        vec![
            ok("anonymous group", vec![Set("/actor", anon_group())]),
            ok(
                "identified group with members",
                vec![Set(
                    "/actor",
                    json!({"objectType": "Group", "mbox": "mailto:g@example.com", "member": [{"mbox": "mailto:a@example.com"}]}),
                )],
            ),
            ok(
                "identified group without members",
                vec![Set(
                    "/actor",
                    json!({"objectType": "Group", "account": {"homePage": "http://h.example", "name": "g"}}),
                )],
            ),
            bad(
                "anonymous group without member",
                vec![Set("/actor", json!({"objectType": "Group", "name": "g"}))],
                "actor.member",
            ),
            bad(
                "group with two IFIs",
                vec![Set(
                    "/actor",
                    json!({"objectType": "Group", "mbox": "mailto:g@example.com", "openid": "http://o.example"}),
                )],
                "actor",
            ),
            bad(
                "group member is a group",
                vec![Set(
                    "/actor",
                    json!({"objectType": "Group", "member": [{"objectType": "Group", "mbox": "mailto:g@example.com"}]}),
                )],
                "actor.member[0].objectType",
            ),
            bad(
                "group member without IFI",
                vec![Set("/actor", json!({"objectType": "Group", "member": [{"name": "x"}]}))],
                "actor.member[0]",
            ),
            bad(
                "group member bad mbox",
                vec![Set(
                    "/actor",
                    json!({"objectType": "Group", "member": [{"mbox": "mailto:ok@example.com"}, {"mbox": "nope"}]}),
                )],
                "actor.member[1].mbox",
            ),
            bad(
                "group member not array",
                vec![Set("/actor", json!({"objectType": "Group", "member": {"mbox": "mailto:a@example.com"}}))],
                "actor.member",
            ),
            bad(
                "group mbox invalid",
                vec![Set("/actor", json!({"objectType": "Group", "mbox": "mailto:should.fail.com"}))],
                "actor.mbox",
            ),
        ],
        &[V1, V2],
    );
}

#[test]
fn verb() {
    run(
        vec![
            ok("verb without display", vec![Del("/verb/display")]),
            ok("verb display de", vec![Set("/verb/display", json!({"de": "besucht"}))]),
            bad("verb id missing", vec![Del("/verb/id")], "verb.id"),
            bad("verb id no scheme", vec![Set("/verb/id", json!("adlnet.gov/expapi/verbs/attended"))], "verb.id"),
            bad("verb id bad scheme", vec![Set("/verb/id", json!("ab=c://should.fail.com"))], "verb.id"),
            bad("verb display numeric", vec![Set("/verb/display", json!(12345))], "verb.display"),
            bad("verb display string", vec![Set("/verb/display", json!("a12345 attended"))], "verb.display"),
            bad("verb display bad tag", vec![Set("/verb/display", json!({"a12345": "attended"}))], "verb.display"),
            bad(
                "verb display null value",
                vec![Set("/verb/display", json!({"en-US": null}))],
                "verb.display[\"en-US\"]",
            ),
            bad("verb unknown property", vec![Set("/verb/foo", json!("x"))], "verb.foo"),
            bad("voided verb without StatementRef", vec![Set("/verb/id", json!(VOIDED_VERB))], "object"),
            ok(
                "voided verb with StatementRef",
                vec![
                    Set("/verb/id", json!(VOIDED_VERB)),
                    Set("/object", json!({"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"})),
                ],
            ),
        ],
        &[V1, V2],
    );
}

#[test]
fn object_activity() {
    let interaction = |it: &str| json!({"interactionType": it});
    run(
        vec![
            ok("activity without objectType", vec![Del("/object/objectType")]),
            ok("activity empty definition", vec![Set("/object/definition", json!({}))]),
            ok(
                "activity full definition",
                vec![Set(
                    "/object",
                    activity_with(json!({
                        "name": {"de-DE": "Treffen"}, "description": {"zh-Hant": "x"},
                        "type": "http://adlnet.gov/expapi/activities/meeting", "moreInfo": "http://virtualmeeting.example.com/345256",
                        "extensions": {"http://example.com/ex": null, "http://example.com/ex2": {}}
                    })),
                )],
            ),
            bad(
                "activity objectType lowercase",
                vec![Set("/object/objectType", json!("activity"))],
                "object.objectType",
            ),
            bad("activity id missing", vec![Del("/object/id")], "object.id"),
            bad("activity id not IRI", vec![Set("/object/id", json!("www.example.com/meetings"))], "object.id"),
            bad("activity definition not object", vec![Set("/object/definition", json!("def"))], "object.definition"),
            bad("activity name numeric", vec![Set("/object/definition", json!({"name": 1}))], "object.definition.name"),
            bad(
                "activity name string",
                vec![Set("/object/definition", json!({"name": "x"}))],
                "object.definition.name",
            ),
            bad(
                "activity name bad tag",
                vec![Set("/object/definition", json!({"name": {"a12345678": "x"}}))],
                "object.definition.name",
            ),
            bad(
                "activity description bad tag",
                vec![Set("/object/definition", json!({"description": {"something": "x"}}))],
                "object.definition.description",
            ),
            bad(
                "activity type not IRI",
                vec![Set("/object/definition", json!({"type": "meeting"}))],
                "object.definition.type",
            ),
            bad(
                "activity moreInfo null",
                vec![Set("/object/definition", json!({"moreInfo": null}))],
                "object.definition.moreInfo",
            ),
            bad(
                "activity moreInfo not IRL",
                vec![Set("/object/definition", json!({"moreInfo": "virtualmeeting"}))],
                "object.definition.moreInfo",
            ),
            bad(
                "activity extension key not IRI",
                vec![Set("/object/definition", json!({"extensions": {"not.valid.com/extension": 1234}}))],
                "object.definition.extensions",
            ),
            bad(
                "activity extension not object",
                vec![Set("/object/definition", json!({"extensions": "x"}))],
                "object.definition.extensions",
            ),
            bad(
                "activity definition unknown property",
                vec![Set("/object/definition", json!({"foo": 1}))],
                "object.definition.foo",
            ),
            bad("activity unknown property", vec![Set("/object/foo", json!(1))], "object.foo"),
            bad(
                "interactionType invalid string",
                vec![Set("/object/definition", interaction("should fail"))],
                "object.definition.interactionType",
            ),
            bad(
                "interactionType IRI",
                vec![Set("/object/definition", interaction("http://example.com/choice"))],
                "object.definition.interactionType",
            ),
            bad(
                "interactionType numeric",
                vec![Set("/object/definition", json!({"interactionType": 1}))],
                "object.definition.interactionType",
            ),
            bad(
                "interactionType object",
                vec![Set("/object/definition", json!({"interactionType": {}}))],
                "object.definition.interactionType",
            ),
            bad(
                "correctResponsesPattern without interactionType",
                vec![Set("/object/definition", json!({"correctResponsesPattern": ["true"]}))],
                "object.definition.correctResponsesPattern",
            ),
            bad(
                "correctResponsesPattern not strings",
                vec![Set(
                    "/object/definition",
                    json!({"interactionType": "true-false", "correctResponsesPattern": [true]}),
                )],
                "object.definition.correctResponsesPattern[0]",
            ),
            bad(
                "choices without interactionType",
                vec![Set("/object/definition", json!({"choices": [{"id": "a"}]}))],
                "object.definition.choices",
            ),
            bad(
                "choices with likert",
                vec![Set("/object/definition", json!({"interactionType": "likert", "choices": [{"id": "a"}]}))],
                "object.definition.choices",
            ),
            bad(
                "scale with choice",
                vec![Set("/object/definition", json!({"interactionType": "choice", "scale": [{"id": "a"}]}))],
                "object.definition.scale",
            ),
            bad(
                "steps with true-false",
                vec![Set("/object/definition", json!({"interactionType": "true-false", "steps": [{"id": "a"}]}))],
                "object.definition.steps",
            ),
            bad(
                "component without id",
                vec![Set(
                    "/object/definition",
                    json!({"interactionType": "choice", "choices": [{"description": {"en": "a"}}]}),
                )],
                "object.definition.choices[0].id",
            ),
            bad(
                "component duplicate id",
                vec![Set(
                    "/object/definition",
                    json!({"interactionType": "choice", "choices": [{"id": "a"}, {"id": "a"}]}),
                )],
                "object.definition.choices[1].id",
            ),
            bad(
                "component bad description",
                vec![Set(
                    "/object/definition",
                    json!({"interactionType": "likert", "scale": [{"id": "a", "description": {"x1234567890": "a"}}]}),
                )],
                "object.definition.scale[0].description",
            ),
            bad(
                "component unknown property",
                vec![Set(
                    "/object/definition",
                    json!({"interactionType": "performance", "steps": [{"id": "a", "x": 1}]}),
                )],
                "object.definition.steps[0].x",
            ),
        ],
        &[V1, V2],
    );
    let mut cases = Vec::new();
    for it in crate::validate::activity::INTERACTION_TYPES {
        let mut def = json!({"interactionType": it, "correctResponsesPattern": ["a"]});
        match *it {
            "choice" | "sequencing" => {
                def["choices"] = json!([{"id": "a", "description": {"sr-Latn-RS": "A"}}, {"id": "b"}])
            }
            "likert" => def["scale"] = json!([{"id": "a"}]),
            "matching" => {
                def["source"] = json!([{"id": "a"}]);
                def["target"] = json!([{"id": "a"}]);
            }
            "performance" => def["steps"] = json!([{"id": "a"}]),
            _ => {}
        }
        let mut s = base();
        s["object"] = activity_with(def);
        validate_statement(&s, V1).unwrap_or_else(|e| panic!("{it}: {e}"));
        validate_statement(&s, V2).unwrap_or_else(|e| panic!("{it}: {e}"));
        cases.push(it);
    }
    assert_eq!(cases.len(), 10);
}

#[test]
fn object_agent_group_ref_sub() {
    let sref = json!({"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"});
    run(
        vec![
            ok("object agent", vec![Set("/object", json!({"objectType": "Agent", "mbox": "mailto:a@example.com"}))]),
            ok("object group", vec![Set("/object", anon_group())]),
            bad(
                "object agent without objectType",
                vec![Set("/object", json!({"mbox": "mailto:a@example.com"}))],
                "object.objectType",
            ),
            bad(
                "object objectType agent lowercase",
                vec![Set("/object", json!({"objectType": "agent", "mbox": "mailto:a@example.com"}))],
                "object.objectType",
            ),
            bad(
                "object group without objectType",
                vec![Set(
                    "/object",
                    json!({"member": [{"mbox": "mailto:a@example.com"}], "mbox": "mailto:g@example.com"}),
                )],
                "object.objectType",
            ),
            ok("object StatementRef", vec![Set("/object", sref.clone())]),
            bad(
                "StatementRef lowercase",
                vec![Set(
                    "/object",
                    json!({"objectType": "statementref", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"}),
                )],
                "object.objectType",
            ),
            bad("StatementRef missing id", vec![Set("/object", json!({"objectType": "StatementRef"}))], "object.id"),
            bad(
                "StatementRef id not uuid",
                vec![Set("/object", json!({"objectType": "StatementRef", "id": "should fail"}))],
                "object.id",
            ),
            bad(
                "StatementRef extra property",
                vec![Set(
                    "/object",
                    json!({"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee", "definition": {}}),
                )],
                "object.definition",
            ),
            ok("object SubStatement", vec![Set("/object", sub_base())]),
            ok("SubStatement with StatementRef", vec![Set("/object", sub_base()), Set("/object/object", sref.clone())]),
            ok(
                "SubStatement with agent object",
                vec![
                    Set("/object", sub_base()),
                    Set("/object/object", json!({"objectType": "Agent", "mbox": "mailto:x@example.com"})),
                ],
            ),
            ok(
                "SubStatement with result, context, timestamp",
                vec![
                    Set("/object", sub_base()),
                    Set("/object/result", json!({"success": true, "duration": "PT16559.14S"})),
                    Set("/object/context", json!({"language": "fr-CA", "revision": "r1"})),
                    Set("/object/timestamp", json!("2008-09-15T15:53:00.601+00:00")),
                ],
            ),
            bad(
                "SubStatement lowercase",
                vec![Set("/object", sub_base()), Set("/object/objectType", json!("substatement"))],
                "object.objectType",
            ),
            bad("SubStatement missing actor", vec![Set("/object", sub_base()), Del("/object/actor")], "object.actor"),
            bad("SubStatement missing verb", vec![Set("/object", sub_base()), Del("/object/verb")], "object.verb"),
            bad(
                "SubStatement missing object",
                vec![Set("/object", sub_base()), Del("/object/object")],
                "object.object",
            ),
            bad(
                "SubStatement nested",
                vec![Set("/object", sub_base()), Set("/object/object", sub_base())],
                "object.object.objectType",
            ),
            bad(
                "SubStatement with id",
                vec![Set("/object", sub_base()), Set("/object/id", json!("6690e6c9-3ef0-4ed3-8b37-7f3964730bee"))],
                "object.id",
            ),
            bad(
                "SubStatement with stored",
                vec![Set("/object", sub_base()), Set("/object/stored", json!("2013-05-18T05:32:34.804Z"))],
                "object.stored",
            ),
            bad(
                "SubStatement with version",
                vec![Set("/object", sub_base()), Set("/object/version", json!("1.0.0"))],
                "object.version",
            ),
            bad(
                "SubStatement with authority",
                vec![Set("/object", sub_base()), Set("/object/authority", json!({"mbox": "mailto:a@example.com"}))],
                "object.authority",
            ),
            bad(
                "SubStatement actor bad mbox",
                vec![Set("/object", sub_base()), Set("/object/actor/mbox", json!("nope"))],
                "object.actor.mbox",
            ),
            bad(
                "SubStatement timestamp -00:00",
                vec![Set("/object", sub_base()), Set("/object/timestamp", json!("2008-09-15T15:53:00.601-00:00"))],
                "object.timestamp",
            ),
            bad(
                "SubStatement activity interactionType",
                vec![Set("/object", sub_base()), Set("/object/object/definition", json!({"interactionType": "bad"}))],
                "object.object.definition.interactionType",
            ),
            bad("object unknown objectType", vec![Set("/object/objectType", json!("Thing"))], "object.objectType"),
            bad("object null", vec![Set("/object", Value::Null)], "object"),
        ],
        &[V1, V2],
    );
}

#[test]
fn result() {
    run(
        vec![
            ok(
                "full result",
                vec![Set(
                    "/result",
                    json!({
                        "score": {"scaled": 0.95, "raw": 95, "min": 0, "max": 100}, "success": true, "completion": false,
                        "response": "We agreed", "duration": "PT1H0M0S", "extensions": {"http://example.com/r": {"a": 1}}
                    }),
                )],
            ),
            ok("scaled 1.0", vec![Set("/result/score/scaled", json!(1.0))]),
            ok("scaled -1", vec![Set("/result/score/scaled", json!(-1.0))]),
            ok("raw decimal", vec![Set("/result/score", json!({"raw": 0.6767676, "min": 0, "max": 100.6767676}))]),
            ok("empty extensions", vec![Set("/result/extensions", json!({}))]),
            ok("duration P4W", vec![Set("/result/duration", json!("P4W"))]),
            ok("duration P3Y1M29DT4H35M59.14S", vec![Set("/result/duration", json!("P3Y1M29DT4H35M59.14S"))]),
            bad("scaled above 1", vec![Set("/result/score/scaled", json!(1.01))], "result.score.scaled"),
            bad("scaled below -1", vec![Set("/result/score/scaled", json!(-1.5))], "result.score.scaled"),
            bad("scaled string", vec![Set("/result/score/scaled", json!("0.5"))], "result.score.scaled"),
            bad("max string number", vec![Set("/result/score", json!({"max": "100"}))], "result.score.max"),
            bad("max below min", vec![Set("/result/score", json!({"min": 10, "max": 5}))], "result.score.max"),
            bad("max equals min", vec![Set("/result/score", json!({"min": 10, "max": 10}))], "result.score.max"),
            bad("raw below min", vec![Set("/result/score", json!({"raw": -1, "min": 0}))], "result.score.raw"),
            bad("raw above max", vec![Set("/result/score", json!({"raw": 101, "max": 100}))], "result.score.raw"),
            bad("score unknown property", vec![Set("/result/score", json!({"percent": 1}))], "result.score.percent"),
            bad("success string", vec![Set("/result/success", json!("true"))], "result.success"),
            bad("completion string", vec![Set("/result/completion", json!("false"))], "result.completion"),
            bad("response number", vec![Set("/result/response", json!(1))], "result.response"),
            bad("duration invalid", vec![Set("/result/duration", json!("PA1H0M0S"))], "result.duration"),
            bad("duration 1H", vec![Set("/result/duration", json!("1H"))], "result.duration"),
            bad("duration number", vec![Set("/result/duration", json!(12345))], "result.duration"),
            bad(
                "result extension key",
                vec![Set("/result/extensions", json!({"example.com/extension/wrong": 1}))],
                "result.extensions",
            ),
            bad("result unknown property", vec![Set("/result/foo", json!(1))], "result.foo"),
            bad("result not object", vec![Set("/result", json!([]))], "result"),
        ],
        &[V1, V2],
    );
}

#[test]
fn context() {
    let act = json!({"objectType": "Activity", "id": "http://example.com/parent"});
    run(
        vec![
            ok(
                "full context",
                vec![Set(
                    "/context",
                    json!({
                        "registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7", "revision": "rev_10_3_2", "platform": "Example",
                        "language": "tlh", "statement": {"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"},
                        "instructor": {"mbox": "mailto:i@example.com"}, "team": anon_group(),
                        "extensions": {"http://example.com/c": "600mph"}
                    }),
                )],
            ),
            ok("instructor group", vec![Set("/context/instructor", anon_group())]),
            ok("contextActivities single object", vec![Set("/context/contextActivities/parent", act.clone())]),
            ok(
                "contextActivities arrays",
                vec![Set(
                    "/context/contextActivities",
                    json!({"parent": [act.clone()], "grouping": [act.clone()], "category": [act.clone()], "other": [act.clone(), {"id": "http://example.com/o"}]}),
                )],
            ),
            ok(
                "revision with object without objectType",
                vec![Del("/object/objectType"), Set("/context/revision", json!("r"))],
            ),
            bad(
                "registration not uuid",
                vec![Set("/context/registration", json!("should fail"))],
                "context.registration",
            ),
            bad("registration object", vec![Set("/context/registration", json!({}))], "context.registration"),
            bad("registration null", vec![Set("/context/registration", Value::Null)], "context.registration"),
            bad("instructor string", vec![Set("/context/instructor", json!("x"))], "context.instructor"),
            bad(
                "instructor object without IFI",
                vec![Set("/context/instructor", json!({"key": "x"}))],
                "context.instructor.key",
            ),
            bad(
                "team is agent",
                vec![Set("/context/team", json!({"mbox": "mailto:a@example.com"}))],
                "context.team.objectType",
            ),
            bad("team string", vec![Set("/context/team", json!("x"))], "context.team"),
            bad(
                "contextActivities string",
                vec![Set("/context/contextActivities", json!("x"))],
                "context.contextActivities",
            ),
            bad(
                "contextActivities unknown key",
                vec![Set("/context/contextActivities", json!({"sibling": [act.clone()]}))],
                "context.contextActivities.sibling",
            ),
            bad(
                "contextActivities parent id not IRI",
                vec![Set("/context/contextActivities/parent", json!([{"id": "not an iri"}]))],
                "context.contextActivities.parent[0].id",
            ),
            bad(
                "contextActivities single bad",
                vec![Set(
                    "/context/contextActivities/grouping",
                    json!({"objectType": "Agent", "mbox": "mailto:a@example.com"}),
                )],
                "context.contextActivities.grouping.objectType",
            ),
            bad(
                "contextActivities string value",
                vec![Set("/context/contextActivities/other", json!("http://example.com"))],
                "context.contextActivities.other",
            ),
            bad("revision numeric", vec![Set("/context/revision", json!(1))], "context.revision"),
            bad("platform object", vec![Set("/context/platform", json!({}))], "context.platform"),
            bad(
                "revision with agent object",
                vec![
                    Set("/object", json!({"objectType": "Agent", "mbox": "mailto:a@example.com"})),
                    Set("/context/revision", json!("r")),
                ],
                "context.revision",
            ),
            bad(
                "platform with group object",
                vec![Set("/object", anon_group()), Set("/context/platform", json!("p"))],
                "context.platform",
            ),
            bad(
                "revision with StatementRef",
                vec![
                    Set("/object", json!({"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"})),
                    Set("/context/revision", json!("r")),
                ],
                "context.revision",
            ),
            bad(
                "platform with SubStatement",
                vec![Set("/object", sub_base()), Set("/context/platform", json!("p"))],
                "context.platform",
            ),
            bad(
                "substatement context revision with agent",
                vec![
                    Set("/object", sub_base()),
                    Set("/object/object", json!({"objectType": "Agent", "mbox": "mailto:a@example.com"})),
                    Set("/object/context/revision", json!("r")),
                ],
                "object.context.revision",
            ),
            bad("language numeric", vec![Set("/context/language", json!(1))], "context.language"),
            bad("language invalid", vec![Set("/context/language", json!("a12345"))], "context.language"),
            bad(
                "statement not StatementRef",
                vec![Set(
                    "/context/statement",
                    json!({"objectType": "statementref", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"}),
                )],
                "context.statement.objectType",
            ),
            bad(
                "statement id not uuid",
                vec![Set("/context/statement", json!({"objectType": "StatementRef", "id": "x"}))],
                "context.statement.id",
            ),
            bad(
                "context extension key",
                vec![Set("/context/extensions", json!({"example.com/extension/wrong": 1}))],
                "context.extensions",
            ),
            bad("context unknown property", vec![Set("/context/foo", json!(1))], "context.foo"),
        ],
        &[V1, V2],
    );
}

#[test]
fn context_agents_and_groups() {
    let agents = json!([{"objectType": "contextAgent", "agent": {"objectType": "Agent", "mbox": "mailto:player-1@example.com"},
        "relevantTypes": ["https://example.com/types/player"]}]);
    let groups = json!([{"objectType": "contextGroup", "group": {"objectType": "Group", "mbox": "mailto:team-1@example.com",
        "member": [{"objectType": "Agent", "mbox": "mailto:player-1@example.com"}]}, "relevantTypes": ["https://example.com/types/team"]}]);
    run(
        vec![
            ok("contextAgents", vec![Set("/context/contextAgents", agents.clone())]),
            ok(
                "contextAgents without relevantTypes",
                vec![Set(
                    "/context/contextAgents",
                    json!([{"objectType": "contextAgent", "agent": {"mbox": "mailto:a@example.com"}}]),
                )],
            ),
            ok("contextGroups", vec![Set("/context/contextGroups", groups.clone())]),
            ok(
                "substatement contextAgents",
                vec![Set("/object", sub_base()), Set("/object/context/contextAgents", agents.clone())],
            ),
            bad(
                "contextAgents objectType",
                vec![
                    Set("/context/contextAgents", agents.clone()),
                    Set("/context/contextAgents/0/objectType", json!("Should fail")),
                ],
                "context.contextAgents[0].objectType",
            ),
            bad(
                "contextAgents missing objectType",
                vec![Set("/context/contextAgents", json!([{"agent": {"mbox": "mailto:a@example.com"}}]))],
                "context.contextAgents[0].objectType",
            ),
            bad(
                "contextAgents invalid agent",
                vec![
                    Set("/context/contextAgents", agents.clone()),
                    Set("/context/contextAgents/0/agent", json!({"key": "Should fail"})),
                ],
                "context.contextAgents[0].agent.key",
            ),
            bad(
                "contextAgents missing agent",
                vec![Set("/context/contextAgents", json!([{"objectType": "contextAgent"}]))],
                "context.contextAgents[0].agent",
            ),
            bad(
                "contextAgents empty relevantTypes",
                vec![
                    Set("/context/contextAgents", agents.clone()),
                    Set("/context/contextAgents/0/relevantTypes", json!([])),
                ],
                "context.contextAgents[0].relevantTypes",
            ),
            bad(
                "contextAgents non-IRI relevantType",
                vec![
                    Set("/context/contextAgents", agents.clone()),
                    Set("/context/contextAgents/0/relevantTypes", json!(["abc"])),
                ],
                "context.contextAgents[0].relevantTypes[0]",
            ),
            bad("contextAgents not array", vec![Set("/context/contextAgents", json!({}))], "context.contextAgents"),
            bad(
                "contextGroups objectType",
                vec![
                    Set("/context/contextGroups", groups.clone()),
                    Set("/context/contextGroups/0/objectType", json!("contextAgent")),
                ],
                "context.contextGroups[0].objectType",
            ),
            bad(
                "contextGroups invalid group",
                vec![
                    Set("/context/contextGroups", groups.clone()),
                    Set("/context/contextGroups/0/group", json!({"mbox": "mailto:g@example.com"})),
                ],
                "context.contextGroups[0].group.objectType",
            ),
            bad(
                "contextGroups empty relevantTypes",
                vec![
                    Set("/context/contextGroups", groups.clone()),
                    Set("/context/contextGroups/0/relevantTypes", json!([])),
                ],
                "context.contextGroups[0].relevantTypes",
            ),
            bad(
                "contextGroups unknown property",
                vec![Set("/context/contextGroups", groups.clone()), Set("/context/contextGroups/0/member", json!([]))],
                "context.contextGroups[0].member",
            ),
        ],
        &[V2],
    );
    run(
        vec![
            bad("contextAgents is not 1.0.3", vec![Set("/context/contextAgents", agents)], "context.contextAgents"),
            bad("contextGroups is not 1.0.3", vec![Set("/context/contextGroups", groups)], "context.contextGroups"),
        ],
        &[V1],
    );
}

#[test]
fn authority() {
    run(
        vec![
            ok(
                "authority agent",
                vec![Set(
                    "/authority",
                    json!({"objectType": "Agent", "account": {"homePage": "http://h.example", "name": "u"}}),
                )],
            ),
            ok("authority OAuth group", vec![Set("/authority", anon_group())]),
            bad(
                "authority identified group",
                vec![Set(
                    "/authority",
                    json!({"objectType": "Group", "mbox": "mailto:g@example.com", "member": [{"mbox": "mailto:a@example.com"}, {"mbox": "mailto:b@example.com"}]}),
                )],
                "authority",
            ),
            bad(
                "authority group one member",
                vec![Set("/authority", json!({"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}]}))],
                "authority.member",
            ),
            bad(
                "authority group three members",
                vec![Set(
                    "/authority",
                    json!({"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}, {"mbox": "mailto:b@example.com"}, {"mbox": "mailto:c@example.com"}]}),
                )],
                "authority.member",
            ),
            bad(
                "authority group missing member",
                vec![Set("/authority", json!({"objectType": "Group"}))],
                "authority.member",
            ),
            bad("authority bad mbox", vec![Set("/authority", json!({"mbox": "mailto:nope"}))], "authority.mbox"),
        ],
        &[V1, V2],
    );
}

#[test]
fn attachments() {
    let att = json!({
        "usageType": "http://example.com/attachment-usage/test",
        "display": {"en-US": "A test attachment", "es": "Un accesorio de prueba"},
        "description": {"en-US": "A test attachment (description)", "es-MX": "x"},
        "contentType": "text/plain; charset=ascii", "length": 27,
        "sha2": "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a",
        "fileUrl": "http://over.there.com/file.txt"
    });
    run(
        vec![
            ok("attachment", vec![Set("/attachments", json!([att.clone()]))]),
            ok(
                "attachment without fileUrl",
                vec![Set("/attachments", json!([att.clone()])), Del("/attachments/0/fileUrl")],
            ),
            bad("attachments not array", vec![Set("/attachments", att.clone())], "attachments"),
            bad("attachment numeric", vec![Set("/attachments", json!([12345]))], "attachments[0]"),
            bad("attachment string", vec![Set("/attachments", json!(["should fail"]))], "attachments[0]"),
            bad(
                "usageType invalid",
                vec![Set("/attachments", json!([att.clone()])), Set("/attachments/0/usageType", json!("should fail"))],
                "attachments[0].usageType",
            ),
            bad(
                "usageType missing",
                vec![Set("/attachments", json!([att.clone()])), Del("/attachments/0/usageType")],
                "attachments[0].usageType",
            ),
            bad(
                "contentType number",
                vec![Set("/attachments", json!([att.clone()])), Set("/attachments/0/contentType", json!(12345))],
                "attachments[0].contentType",
            ),
            bad(
                "length string",
                vec![Set("/attachments", json!([att.clone()])), Set("/attachments/0/length", json!("27"))],
                "attachments[0].length",
            ),
            bad(
                "length fractional",
                vec![Set("/attachments", json!([att.clone()])), Set("/attachments/0/length", json!(2.5))],
                "attachments[0].length",
            ),
            bad(
                "sha2 number",
                vec![Set("/attachments", json!([att.clone()])), Set("/attachments/0/sha2", json!(12345))],
                "attachments[0].sha2",
            ),
            bad(
                "sha2 missing",
                vec![Set("/attachments", json!([att.clone()])), Del("/attachments/0/sha2")],
                "attachments[0].sha2",
            ),
            bad(
                "fileUrl invalid",
                vec![Set("/attachments", json!([att.clone()])), Set("/attachments/0/fileUrl", json!("should fail"))],
                "attachments[0].fileUrl",
            ),
            bad(
                "display missing",
                vec![Set("/attachments", json!([att.clone()])), Del("/attachments/0/display")],
                "attachments[0].display",
            ),
            bad(
                "display bad tag",
                vec![
                    Set("/attachments", json!([att.clone()])),
                    Set("/attachments/0/display", json!({"something": "x"})),
                ],
                "attachments[0].display",
            ),
            bad(
                "description string",
                vec![Set("/attachments", json!([att.clone()])), Set("/attachments/0/description", json!("x"))],
                "attachments[0].description",
            ),
            bad(
                "attachment unknown property",
                vec![Set("/attachments", json!([att.clone()])), Set("/attachments/0/data", json!("x"))],
                "attachments[0].data",
            ),
        ],
        &[V1, V2],
    );
}

#[test]
fn v2_timestamps() {
    run(
        vec![
            ok("RFC 3339 +00:00", vec![Set("/timestamp", json!("2008-09-15T15:53:00.601+00:00"))]),
            ok("RFC 3339 space separator", vec![Set("/timestamp", json!("2008-09-15 15:53:00.601Z"))]),
            bad("RFC 3339 -00:00", vec![Set("/timestamp", json!("2008-09-15T15:53:00.601-00:00"))], "timestamp"),
        ],
        &[V2],
    );
}

#[test]
fn error_messages_are_human() {
    let mut s = base();
    s["actor"]["mbox"] = json!("http://should.fail.com");
    let e = validate_statement(&s, V1).unwrap_err();
    assert_eq!(e.to_string(), "actor.mbox: must be a \"mailto:\" IRI, not \"http://should.fail.com\"");
    let mut s = base();
    s["foo"] = json!(1);
    assert_eq!(validate_statement(&s, V1).unwrap_err().to_string(), "foo: is not a property of a Statement");
}

#[test]
fn never_panics_on_odd_json() {
    let odd = [
        json!({"actor": [], "verb": 1, "object": null}),
        json!({"actor": {"objectType": 5}, "verb": {}, "object": {}}),
        json!({"actor": {"objectType": "Group", "member": [null, 1, "x", []]}, "verb": {"id": "x:y"}, "object": {"id": "x:y"}}),
        json!({"actor": {"mbox": "mailto:a@b"}, "verb": {"id": "x:y"}, "object": {"objectType": "SubStatement", "object": {"objectType": "SubStatement"}}}),
        json!({"actor": {"mbox": "mailto:a@b"}, "verb": {"id": VOIDED_VERB}, "object": {"objectType": "StatementRef", "id": 1}}),
        json!({"actor": {"mbox": "mailto:a@b"}, "verb": {"id": "x:y"}, "object": {"id": "x:y"}, "context": {"contextActivities": {"parent": [null]}}}),
        json!({"actor": {"mbox": "mailto:a@b"}, "verb": {"id": "x:y"}, "object": {"id": "x:y"}, "result": {"score": {"raw": 1e308, "min": -1e308}}}),
        json!({"actor": {"mbox": "mailto:a@b"}, "verb": {"id": "x:y"}, "object": {"id": "x:y"}, "timestamp": "9999-12-31T23:59:59.999999999999-23:59"}),
        json!({"actor": {"mbox": "mailto:a@b"}, "verb": {"id": "x:y"}, "object": {"id": "x:y"}, "timestamp": "0000-01-01T00:00:00+23:59"}),
    ];
    for v in odd {
        for version in [V1, V2] {
            let _ = validate_statement(&v, version);
        }
    }
}
