//! Property tests: generated valid statements survive serialise → parse → validate unchanged.

use proptest::prelude::*;
use serde_json::{json, Value};
use xapi::{normalize_statement, statements_equivalent, validate_statement, Statement, Version};

fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,8}"
}

fn iri() -> impl Strategy<Value = String> {
    (prop_oneof![Just("http"), Just("https"), Just("urn")], word(), word()).prop_map(|(s, a, b)| match s {
        "urn" => format!("urn:{a}:{b}"),
        _ => format!("{s}://{a}.example.com/{b}"),
    })
}

fn uuid() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string())
}

fn lang_map() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop_oneof![Just("en"), Just("en-US"), Just("de-DE"), Just("zh-Hant"), Just("sr-Latn-RS"), Just("tlh")],
        ".{0,12}",
        0..3,
    )
    .prop_map(|m| json!(m))
}

fn agent() -> impl Strategy<Value = Value> {
    prop_oneof![
        (word(), word()).prop_map(|(a, b)| json!({"mbox": format!("mailto:{a}@{b}.example.com")})),
        "[0-9a-f]{40}".prop_map(|h| json!({"objectType": "Agent", "mbox_sha1sum": h})),
        iri().prop_map(|o| json!({"openid": o, "name": "Someone"})),
        (iri(), ".{0,10}").prop_map(|(h, n)| json!({"account": {"homePage": h, "name": n}})),
    ]
}

fn actor() -> impl Strategy<Value = Value> {
    prop_oneof![agent(), prop::collection::vec(agent(), 1..3).prop_map(|m| json!({"objectType": "Group", "member": m})),]
}

fn activity() -> impl Strategy<Value = Value> {
    (iri(), lang_map(), prop::option::of(iri())).prop_map(|(id, name, ty)| {
        let mut def = json!({"name": name});
        if let Some(t) = ty {
            def["type"] = json!(t);
        }
        json!({"objectType": "Activity", "id": id, "definition": def})
    })
}

fn result() -> impl Strategy<Value = Value> {
    (-100i32..=100, 0u32..100, any::<bool>(), 0u32..5000, 0u32..100).prop_map(|(scaled, raw, success, secs, frac)| {
        json!({
            "score": {"scaled": f64::from(scaled) / 100.0, "raw": raw, "min": 0, "max": 100},
            "success": success,
            "duration": format!("PT{secs}.{frac:02}S")
        })
    })
}

fn timestamp() -> impl Strategy<Value = String> {
    (2000i32..2100, 1u32..13, 1u32..29, 0u32..24, 0u32..60, 0u32..60, 0u32..1000, -12i32..13).prop_map(
        |(y, mo, d, h, mi, s, ms, off)| {
            let zone = if off == 0 {
                "Z".to_string()
            } else {
                format!("{}{:02}:00", if off < 0 { '-' } else { '+' }, off.abs())
            };
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}{zone}")
        },
    )
}

fn statement() -> impl Strategy<Value = Value> {
    (
        uuid(),
        actor(),
        iri(),
        lang_map(),
        activity(),
        prop::option::of(result()),
        prop::option::of((uuid(), prop::collection::vec(activity(), 0..3))),
        prop::option::of(timestamp()),
    )
        .prop_map(|(id, actor, verb, display, object, result, context, ts)| {
            let mut s = json!({
                "id": id,
                "actor": actor,
                "verb": {"id": verb, "display": display},
                "object": object,
            });
            if let Some(r) = result {
                s["result"] = r;
            }
            if let Some((reg, parents)) = context {
                s["context"] =
                    json!({"registration": reg, "contextActivities": {"parent": parents}, "language": "en-US"});
            }
            if let Some(t) = ts {
                s["timestamp"] = json!(t);
            }
            s
        })
}

proptest! {
    #[test]
    fn valid_statements_round_trip(s in statement()) {
        for version in [Version::V1_0_3, Version::V2_0_0] {
            prop_assert!(validate_statement(&s, version).is_ok(), "{:?}", validate_statement(&s, version));
            let text = serde_json::to_string(&s).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&back, &s);
            let parsed = Statement::parse(back, version).unwrap();
            prop_assert_eq!(parsed.value(), &s);
            prop_assert!(statements_equivalent(parsed.value(), &s));
            let mut normalised = s.clone();
            normalize_statement(&mut normalised, version);
            prop_assert!(validate_statement(&normalised, version).is_ok());
            prop_assert!(statements_equivalent(&normalised, &s));
        }
    }

    #[test]
    fn arbitrary_json_never_panics(s in arbitrary_json()) {
        let _ = validate_statement(&s, Version::V1_0_3);
        let _ = validate_statement(&s, Version::V2_0_0);
        let _ = xapi::format_statement(&s, xapi::Format::Ids, &[]);
        let _ = xapi::format_statement(&s, xapi::Format::Canonical, &["en".into()]);
        let _ = statements_equivalent(&s, &s);
        let mut n = s.clone();
        normalize_statement(&mut n, Version::V2_0_0);
        let st = Statement::from_trusted(s);
        let _ = (st.agents(true), st.activities(true), st.voided_target(), st.registration(), st.id());
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("actor".to_string()),
        Just("verb".to_string()),
        Just("object".to_string()),
        Just("id".to_string()),
        Just("objectType".to_string()),
        Just("mbox".to_string()),
        Just("member".to_string()),
        Just("context".to_string()),
        Just("contextActivities".to_string()),
        Just("parent".to_string()),
        Just("definition".to_string()),
        Just("timestamp".to_string()),
        Just("result".to_string()),
        Just("score".to_string()),
        word(),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        prop_oneof![
            Just("Group".to_string()),
            Just("SubStatement".to_string()),
            Just("StatementRef".to_string()),
            Just("mailto:a@b.c".to_string()),
            Just("http://x.example".to_string()),
            ".{0,6}".prop_map(|s| s)
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
