//! Statement plans through the LRS: a profile written for this test with
//! one template per rule form (each presence with any, all and none, a
//! presence alone, a selector, several locations), loaded through the
//! operator API; in reject mode each statement that breaks its template is
//! refused with 400 naming the template and the rule's location and each
//! good one stored; in report mode both are stored and the report counts
//! what matched and what broke which rule. Statements that no template
//! matches pass; a credential can be set apart from its tenant; a profile
//! applies (by default) only to statements naming one of its versions; a
//! malformed profile is refused with 400 saying what is wrong.

mod common;

use std::collections::BTreeMap;

use common::deployment::{enc, Auth, Deployment};
use common::Lrs;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const OPERATOR: &str = "operator-token-for-profiles";
const PROFILE: &str = "http://example.com/profiles/plan";
const VERSION: &str = "http://example.com/profiles/plan/v1";
const COURSE: &str = "http://adlnet.gov/expapi/activities/course";

fn start(dir: &std::path::Path) -> Lrs {
    let args = ["serve".to_owned(), "--listen".to_owned(), "127.0.0.1:0".to_owned(), "--data-dir".to_owned()];
    Lrs::start_with(&args, dir, "profiles-secret", &[("LRS_OPERATOR_TOKEN".to_owned(), OPERATOR.to_owned())])
}

fn verb(name: &str) -> String {
    format!("http://example.com/verbs/{name}")
}

fn template_id(name: &str) -> String {
    format!("{PROFILE}/templates/{name}")
}

/// One template per rule form: (name, rules, statement parts that follow
/// them, statement parts that break them with the location that fails).
struct Form {
    name: &'static str,
    rules: Value,
    good: Vec<Value>,
    bad: Vec<Value>,
    location: &'static str,
}

fn forms() -> Vec<Form> {
    let level = "$.result.extensions['http://example.com/x/level']";
    let tags = "$.result.extensions['http://example.com/x/tags'][*]";
    let ext =
        |key: &str, value: Value| json!({"result": {"extensions": {format!("http://example.com/x/{key}"): value}}});
    let categories = |ids: &[&str]| json!({"context": {"contextActivities": {"category": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()}}});
    vec![
        Form {
            name: "included-any",
            rules: json!([{"location": level, "presence": "included", "any": ["a", "b"]}]),
            good: vec![ext("level", json!("a")), ext("level", json!("b"))],
            bad: vec![ext("level", json!("c")), json!({})],
            location: level,
        },
        Form {
            name: "included-all",
            rules: json!([{"location": "$.context.contextActivities.category[*].id", "presence": "included",
                "all": [VERSION, "http://example.com/cat/1", "http://example.com/cat/2"]}]),
            good: vec![
                categories(&["http://example.com/cat/1"]),
                categories(&["http://example.com/cat/1", "http://example.com/cat/2"]),
            ],
            // (Every statement names the profile's version among its categories.)
            bad: vec![categories(&["http://example.com/cat/1", "http://example.com/cat/3"])],
            location: "$.context.contextActivities.category[*].id",
        },
        Form {
            name: "included-none",
            rules: json!([{"location": "$.result.response", "presence": "included", "none": ["forbidden"]}]),
            good: vec![json!({"result": {"response": "fine"}})],
            bad: vec![json!({"result": {"response": "forbidden"}}), json!({})],
            location: "$.result.response",
        },
        Form {
            name: "included-alone",
            rules: json!([{"location": "$.result.duration", "presence": "included"}]),
            good: vec![json!({"result": {"duration": "PT1M"}})],
            bad: vec![json!({})],
            location: "$.result.duration",
        },
        Form {
            name: "excluded",
            rules: json!([{"location": "$.result.success", "presence": "excluded"}]),
            good: vec![json!({})],
            bad: vec![json!({"result": {"success": true}})],
            location: "$.result.success",
        },
        Form {
            name: "recommended-any",
            rules: json!([{"location": "$.result.score.scaled", "presence": "recommended", "any": [1, 0]}]),
            good: vec![json!({}), json!({"result": {"score": {"scaled": 1}}})],
            bad: vec![json!({"result": {"score": {"scaled": 0.5}}})],
            location: "$.result.score.scaled",
        },
        Form {
            name: "recommended-all",
            rules: json!([{"location": tags, "presence": "recommended", "all": ["x", "y"]}]),
            good: vec![json!({}), ext("tags", json!(["x", "y", "x"]))],
            bad: vec![ext("tags", json!(["x", "z"]))],
            location: tags,
        },
        Form {
            name: "recommended-none",
            rules: json!([{"location": "$.context.language", "presence": "recommended", "none": ["fr"]}]),
            good: vec![json!({}), json!({"context": {"language": "en"}})],
            bad: vec![json!({"context": {"language": "fr"}})],
            location: "$.context.language",
        },
        Form {
            name: "any-without-presence",
            rules: json!([{"location": "$.context.platform", "any": ["LMS", "VR"]}]),
            // Without a presence the rule is strict: no value fails `any` (communication §2.1).
            good: vec![json!({"context": {"platform": "VR"}})],
            bad: vec![json!({"context": {"platform": "paper"}}), json!({})],
            location: "$.context.platform",
        },
        Form {
            name: "selector",
            rules: json!([{"location": "$.context.contextActivities.grouping[*]", "selector": "$.definition.type",
                "presence": "included", "any": [COURSE]}]),
            good: vec![
                json!({"context": {"contextActivities": {"grouping": [{"id": "http://example.com/c", "definition": {"type": COURSE}}]}}}),
            ],
            bad: vec![
                json!({"context": {"contextActivities": {"grouping": [{"id": "http://example.com/c"}]}}}),
                json!({"context": {"contextActivities": {"grouping": [{"id": "http://example.com/c", "definition": {"type": "http://example.com/other"}}]}}}),
            ],
            location: "$.context.contextActivities.grouping[*]",
        },
        Form {
            name: "several-locations",
            rules: json!([{"location": "$.result.score.raw | $.result.score.scaled", "presence": "included"}]),
            good: vec![json!({"result": {"score": {"raw": 3}}}), json!({"result": {"score": {"scaled": 0.3}}})],
            bad: vec![json!({"result": {"completion": true}})],
            location: "$.result.score.raw | $.result.score.scaled",
        },
    ]
}

fn profile(forms: &[Form]) -> Value {
    let templates: Vec<Value> = forms
        .iter()
        .map(|form| {
            json!({"id": template_id(form.name), "type": "StatementTemplate", "inScheme": VERSION,
                "prefLabel": {"en": form.name}, "definition": {"en": form.name},
                "verb": verb(form.name), "rules": form.rules})
        })
        .collect();
    json!({
        "@context": "https://w3id.org/xapi/profiles/context",
        "id": PROFILE, "type": "Profile", "conformsTo": "https://w3id.org/xapi/profiles#1.0",
        "prefLabel": {"en": "A plan for each rule form"}, "definition": {"en": "Written for the tests."},
        "author": {"type": "Person", "name": "tests"},
        "versions": [{"id": VERSION, "generatedAtTime": "2026-11-01T00:00:00Z"}],
        "templates": templates,
    })
}

/// A statement of `form`'s verb naming the profile's version, with `parts` merged in.
fn statement(verb_id: &str, parts: &Value) -> Value {
    let mut statement = json!({
        "id": Uuid::new_v4().to_string(),
        "actor": {"mbox": "mailto:learner@example.com"},
        "verb": {"id": verb_id},
        "object": {"id": "http://example.com/activity"},
        "context": {"contextActivities": {"category": [{"id": VERSION}]}},
    });
    merge(&mut statement, parts);
    statement
}

fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(key) {
                    // Category lists are extended, so the version stays named.
                    Some(Value::Array(list)) if key == "category" => {
                        list.extend(value.as_array().cloned().unwrap_or_default())
                    }
                    Some(existing) if existing.is_object() && value.is_object() => merge(existing, value),
                    _ => {
                        into.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (into, from) => *into = from.clone(),
    }
}

fn enforce(deployment: &Deployment, tenant: &str, body: Value) {
    let path = format!("/admin/tenants/{tenant}/profile-enforcement");
    let (status, answer) = deployment.admin(Method::PUT, &path, Some(body));
    assert_eq!(status, 200, "{answer}");
}

fn post(deployment: &Deployment, auth: &Auth, statement: &Value) -> (u16, Value) {
    deployment.xapi(auth, Method::POST, "/xapi/statements", Some(statement))
}

#[test]
fn each_rule_form_is_enforced_in_reject_mode_and_counted_in_report_mode() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    deployment.tenant("plans", None);
    let writer = deployment.credential("plans", &["all"]);
    let forms = forms();

    // A malformed profile is refused, saying what is wrong; nothing is loaded.
    let mut filtered = profile(&forms);
    filtered["templates"][0]["rules"][0]["location"] = json!("$.result[?(@.x)]");
    let (status, answer) = deployment.admin(Method::POST, "/admin/tenants/plans/profiles", Some(filtered));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("$.result[?(@.x)]"), "{answer}");
    let mut no_id = profile(&forms);
    no_id.as_object_mut().unwrap().remove("id");
    assert_eq!(deployment.admin(Method::POST, "/admin/tenants/plans/profiles", Some(no_id)).0, 400);
    let (status, listed) = deployment.admin(Method::GET, "/admin/tenants/plans/profiles", None);
    assert_eq!((status, listed), (200, json!([])));

    let (status, loaded) = deployment.admin(Method::POST, "/admin/tenants/plans/profiles", Some(profile(&forms)));
    assert_eq!(status, 201, "{loaded}");
    assert_eq!(loaded["id"], PROFILE);
    assert_eq!(loaded["templates"], forms.len());

    // matched and invalid per template, and broken rules, as the report must say.
    let mut matched: BTreeMap<String, u64> = BTreeMap::new();
    let mut invalid: BTreeMap<String, u64> = BTreeMap::new();

    enforce(&deployment, "plans", json!({"mode": "reject"}));
    for form in &forms {
        for parts in &form.good {
            let (status, answer) = post(&deployment, &writer, &statement(&verb(form.name), parts));
            assert_eq!(status, 200, "{}: {parts} must follow: {answer}", form.name);
            *matched.entry(template_id(form.name)).or_default() += 1;
        }
        for parts in &form.bad {
            let (status, answer) = post(&deployment, &writer, &statement(&verb(form.name), parts));
            assert_eq!(status, 400, "{}: {parts} must be refused: {answer}", form.name);
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(&template_id(form.name)), "{message}");
            assert!(message.contains(form.location), "{message} must name {}", form.location);
        }
    }
    // In a batch, the refusal names the statement and nothing of the batch is stored.
    let good = statement(&verb("excluded"), &json!({}));
    let bad = statement(&verb("excluded"), &json!({"result": {"success": false}}));
    let (status, answer) = post(&deployment, &writer, &json!([good, bad]));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().starts_with("statement [1]"), "{answer}");
    let (status, _) = deployment.xapi(
        &writer,
        Method::GET,
        &format!("/xapi/statements?statementId={}", good["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(status, 404, "a refused batch stores nothing");
    // Statements no template matches pass: another verb, and no category naming the profile.
    let unmatched = statement(&verb("not-planned"), &json!({"result": {"success": true}}));
    assert_eq!(post(&deployment, &writer, &unmatched).0, 200);
    let mut elsewhere = statement(&verb("excluded"), &json!({"result": {"success": true}}));
    elsewhere["context"] = json!({});
    assert_eq!(post(&deployment, &writer, &elsewhere).0, 200, "the profile applies to statements naming its version");

    // One credential reports while the tenant rejects.
    let reporter = deployment.credential("plans", &["all"]);
    let Auth::Basic(reporter_key, _) = &reporter else { unreachable!() };
    enforce(&deployment, "plans", json!({"mode": "report", "credential": reporter_key}));
    let broken = statement(&verb("excluded"), &json!({"result": {"success": true}}));
    assert_eq!(post(&deployment, &writer, &broken).0, 400, "the tenant still rejects");
    assert_eq!(post(&deployment, &reporter, &broken).0, 200, "its credential reports");
    *matched.entry(template_id("excluded")).or_default() += 1;
    *invalid.entry(template_id("excluded")).or_default() += 1;

    // Report mode for the tenant: everything is stored and counted.
    enforce(&deployment, "plans", json!({"mode": "report"}));
    for form in &forms {
        for parts in form.good.iter().chain(&form.bad) {
            let (status, answer) = post(&deployment, &writer, &statement(&verb(form.name), parts));
            assert_eq!(status, 200, "{}: {answer}", form.name);
            *matched.entry(template_id(form.name)).or_default() += 1;
        }
        *invalid.entry(template_id(form.name)).or_default() += form.bad.len() as u64;
    }

    let reader = deployment.credential("plans", &["analytics/read"]);
    let (status, report) = deployment.xapi(&reader, Method::GET, "/quality/v1/report", None);
    assert_eq!(status, 200, "{report}");
    let forms_by_id: BTreeMap<String, &Form> = forms.iter().map(|form| (template_id(form.name), form)).collect();
    let want: Vec<Value> = matched
        .iter()
        .map(|(template, matched)| {
            let invalid = invalid.get(template).copied().unwrap_or(0);
            let failures = if invalid == 0 {
                json!([])
            } else {
                // A rule is reported by its location, and its selector when it has one.
                let form = forms_by_id[template];
                let rule = match form.rules[0]["selector"].as_str() {
                    Some(selector) => format!("{} (selector {selector})", form.location),
                    None => form.location.to_owned(),
                };
                json!([{"rule": rule, "count": invalid}])
            };
            json!({"template": template, "matched": matched, "invalid": invalid, "failures": failures})
        })
        .collect();
    assert_eq!(report["profiles"], json!(want), "{:#}", report["profiles"]);

    // Off: nothing is checked; removed: nothing is checked either.
    enforce(&deployment, "plans", json!({"mode": "reject"}));
    enforce(&deployment, "plans", json!({"mode": null, "credential": reporter_key}));
    assert_eq!(post(&deployment, &reporter, &broken).0, 400, "the credential follows its tenant again");
    enforce(&deployment, "plans", json!({"mode": "off"}));
    assert_eq!(post(&deployment, &writer, &statement(&verb("excluded"), &json!({"result": {"success": true}}))).0, 200);
    enforce(&deployment, "plans", json!({"mode": "reject"}));
    let path = format!("/admin/tenants/plans/profiles/{}", enc(PROFILE));
    assert_eq!(deployment.admin(Method::DELETE, &path, None).0, 204);
    assert_eq!(deployment.admin(Method::DELETE, &path, None).0, 404);
    assert_eq!(post(&deployment, &writer, &statement(&verb("excluded"), &json!({"result": {"success": true}}))).0, 200);
}

#[test]
fn a_published_profile_is_enforced_on_the_statements_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../xapi-profiles/tests");
    let read =
        |path: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(fixtures.join(path)).unwrap()).unwrap() };
    let (status, loaded) =
        deployment.admin(Method::POST, "/admin/tenants/default/profiles", Some(read("fixtures/cmi5-v1.0.jsonld")));
    assert_eq!(status, 201, "{loaded}");
    enforce(&deployment, "default", json!({"mode": "reject"}));
    let auth = Auth::Basic(common::KEY.to_owned(), "profiles-secret".to_owned());
    for (example, want) in [
        ("examples/cmi5/launched.valid.json", 200),
        ("examples/cmi5/completed.valid.json", 200),
        ("examples/cmi5/completed.invalid-success-excluded.json", 400),
        ("examples/cmi5/launched.invalid-launchmode-all.json", 400),
    ] {
        let (status, answer) = post(&deployment, &auth, &read(example));
        assert_eq!(status, want, "{example}: {answer}");
    }
}

/// A profile whose one primary pattern is of `kind` over templates A, B and C
/// (verbs a, b and c), applying to statements naming its version.
fn pattern_profile(kind: &str) -> Value {
    let id = format!("http://example.com/profiles/{kind}");
    let version = format!("{id}/v1");
    let template = |letter: &str| format!("{id}/templates/{letter}");
    let templates: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|letter| {
            json!({"id": template(letter), "type": "StatementTemplate", "inScheme": version, "prefLabel": {"en": letter},
                "definition": {"en": letter}, "verb": verb(letter)})
        })
        .collect();
    let members = match kind {
        "sequence" | "alternates" => json!([template("a"), template("b")]),
        _ => json!(template("a")),
    };
    let mut pattern = json!({"id": format!("{id}/patterns/main"), "type": "Pattern", "primary": true, "inScheme": version,
        "prefLabel": {"en": kind}, "definition": {"en": kind}});
    pattern[kind] = members;
    json!({
        "@context": "https://w3id.org/xapi/profiles/context", "id": id, "type": "Profile",
        "conformsTo": "https://w3id.org/xapi/profiles#1.0", "prefLabel": {"en": kind}, "definition": {"en": kind},
        "author": {"type": "Person", "name": "tests"},
        "versions": [{"id": version, "generatedAtTime": "2026-11-01T00:00:00Z"}],
        "templates": templates, "patterns": [pattern],
    })
}

#[test]
fn each_pattern_kind_is_followed_per_registration_in_timestamp_order() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    deployment.tenant("patterns", None);
    let writer = deployment.credential("patterns", &["all"]);
    // Each registration's statements by template letter (d matches no
    // template), in timestamp order, and how far they follow the pattern.
    let cases: [(&str, &str, &str); 17] = [
        ("sequence", "ab", "complete"),
        ("sequence", "a", "in_progress"),
        ("sequence", "ba", "broken"),
        ("sequence", "abc", "broken"),
        ("sequence", "ad", "broken"),
        ("alternates", "a", "complete"),
        ("alternates", "b", "complete"),
        ("alternates", "c", "broken"),
        ("optional", "a", "complete"),
        ("optional", "aa", "broken"),
        ("oneOrMore", "aaa", "complete"),
        ("oneOrMore", "ab", "broken"),
        ("oneOrMore", "a", "complete"),
        ("zeroOrMore", "aa", "complete"),
        ("zeroOrMore", "c", "broken"),
        ("zeroOrMore", "ac", "broken"),
        ("zeroOrMore", "a", "complete"),
    ];
    for kind in ["sequence", "alternates", "optional", "oneOrMore", "zeroOrMore"] {
        let (status, answer) =
            deployment.admin(Method::POST, "/admin/tenants/patterns/profiles", Some(pattern_profile(kind)));
        assert_eq!(status, 201, "{answer}");
    }
    let mut want: BTreeMap<(String, String), [u64; 3]> = BTreeMap::new();
    // Patterns are checked (and reported, never refused) in both modes.
    for mode in ["report", "reject"] {
        enforce(&deployment, "patterns", json!({"mode": mode}));
        for (kind, letters, progress) in cases {
            let registration = Uuid::new_v4().to_string();
            let start = chrono::Utc::now() - chrono::Duration::hours(1);
            let statements: Vec<Value> = letters
                .chars()
                .enumerate()
                .map(|(n, letter)| {
                    let mut statement = statement(&verb(&letter.to_string()), &json!({}));
                    statement["context"] = json!({"registration": registration,
                        "contextActivities": {"category": [{"id": format!("http://example.com/profiles/{kind}/v1")}]}});
                    statement["timestamp"] = json!((start + chrono::Duration::seconds(n as i64)).to_rfc3339());
                    statement
                })
                .collect();
            // Sent newest first: the pattern is followed in timestamp order.
            for statement in statements.iter().rev() {
                let (status, answer) = post(&deployment, &writer, statement);
                assert_eq!(status, 200, "{kind} {letters}: {answer}");
            }
            let key = (
                format!("http://example.com/profiles/{kind}"),
                format!("http://example.com/profiles/{kind}/patterns/main"),
            );
            let slot = ["complete", "in_progress", "broken"].iter().position(|p| *p == progress).unwrap();
            want.entry(key).or_default()[slot] += 1;
        }
    }
    let reader = deployment.credential("patterns", &["analytics/read"]);
    let (status, report) = deployment.xapi(&reader, Method::GET, "/quality/v1/report", None);
    assert_eq!(status, 200, "{report}");
    let want: Vec<Value> = want
        .into_iter()
        .map(|((profile, pattern), [complete, in_progress, broken])| {
            json!({"profile": profile, "pattern": pattern, "complete": complete, "in_progress": in_progress, "broken": broken})
        })
        .collect();
    assert_eq!(report["patterns"], json!(want), "{:#}", report["patterns"]);

    // A voided statement leaves its registration's sequence, which is
    // followed again without it: a, b, c broke the sequence, a, b completes
    // it; a, b completed it, a alone is in progress; a voided single a
    // leaves its group altogether.
    let sequence = (
        "http://example.com/profiles/sequence".to_owned(),
        "http://example.com/profiles/sequence/patterns/main".to_owned(),
    );
    // A new registration's statements, a second apart in letter order.
    let statements_of = |letters: &str| -> Vec<Value> {
        let registration = Uuid::new_v4().to_string();
        let start = chrono::Utc::now() - chrono::Duration::hours(1);
        letters
            .chars()
            .enumerate()
            .map(|(n, letter)| {
                let mut statement = statement(&verb(&letter.to_string()), &json!({}));
                statement["context"] = json!({"registration": registration,
                    "contextActivities": {"category": [{"id": "http://example.com/profiles/sequence/v1"}]}});
                statement["timestamp"] = json!((start + chrono::Duration::seconds(n as i64)).to_rfc3339());
                statement
            })
            .collect()
    };
    // Sent one at a time.
    let ids_of = |letters: &str| -> Vec<String> {
        (statements_of(letters).iter())
            .map(|statement| {
                let (status, ids) = post(&deployment, &writer, statement);
                assert_eq!(status, 200, "{ids}");
                ids[0].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let (abc, ab, a) = (ids_of("abc"), ids_of("ab"), ids_of("a"));
    // The same in one batch: its statements are kept in one row of the
    // group, which is written again without the voided one.
    let abc_together: Vec<String> = {
        let (status, ids) = post(&deployment, &writer, &json!(statements_of("abc")));
        assert_eq!(status, 200, "{ids}");
        ids.as_array().unwrap().iter().map(|id| id.as_str().unwrap().to_owned()).collect()
    };
    // c, then a and b one at a time: the group broke at c, and a and b
    // come after it, so their steps wait in the tenant's pending row
    // until the group is followed again; voiding c then leaves a, b.
    let broken_first = ids_of("cab");
    let slots = want_sequence(&deployment, &reader, &sequence);
    let void = |id: &str| {
        let voiding = json!({"actor": {"mbox": "mailto:admin@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
            "object": {"objectType": "StatementRef", "id": id}});
        assert_eq!(post(&deployment, &writer, &voiding).0, 200);
    };
    void(&abc[2]);
    void(&ab[1]);
    void(&a[0]);
    void(&abc_together[2]);
    void(&broken_first[0]);
    let after = want_sequence(&deployment, &reader, &sequence);
    // complete: +1 (a, b) −1 (a) +1 (a, b of the batch) +1 (c, a, b without c); in progress:
    // +1 (a) −1 (the voided single a); broken: −1 (a, b, c) −1 (a, b, c of the batch) −1 (c, a, b).
    assert_eq!(after, [slots[0] + 2, slots[1], slots[2] - 3], "before {slots:?}, after {after:?}");
    // Voiding its b too leaves a alone, in progress (were c still in the
    // row, a, c would break the sequence).
    void(&abc_together[1]);
    let last = want_sequence(&deployment, &reader, &sequence);
    assert_eq!(last, [after[0] - 1, after[1] + 1, after[2]], "before {after:?}, after {last:?}");

    // Steps still pending when the server stops are found after it starts
    // again: c, a, b broke at c; with c voided after the restart, a, b complete.
    let pending_at_stop = ids_of("cab");
    let before_stop = want_sequence(&deployment, &reader, &sequence);
    drop(lrs);
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    let voiding = json!({"actor": {"mbox": "mailto:admin@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": pending_at_stop[0]}});
    assert_eq!(post(&deployment, &writer, &voiding).0, 200);
    let restarted = want_sequence(&deployment, &reader, &sequence);
    assert_eq!(restarted, [before_stop[0] + 1, before_stop[1], before_stop[2] - 1], "before {before_stop:?}");

    // A replay rebuilds the same patterns.
    let (_, report) = deployment.xapi(&reader, Method::GET, "/quality/v1/report", None);
    drop(lrs);
    common::replay(dir.path());
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    let (status, replayed) = deployment.xapi(&reader, Method::GET, "/quality/v1/report", None);
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["patterns"], report["patterns"]);
}

/// The sequence pattern's [complete, in progress, broken] in the report.
fn want_sequence(deployment: &Deployment, reader: &Auth, (profile, pattern): &(String, String)) -> [u64; 3] {
    let (status, report) = deployment.xapi(reader, Method::GET, "/quality/v1/report", None);
    assert_eq!(status, 200, "{report}");
    let entry = report["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["profile"] == profile.as_str() && p["pattern"] == pattern.as_str())
        .unwrap_or_else(|| panic!("no sequence entry: {report}"));
    ["complete", "in_progress", "broken"].map(|key| entry[key].as_u64().unwrap())
}
