//! Parse + validate + normalise of the statements `lrs bench` sends: one
//! statement, and a POST body of 100.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::{json, Value};
use xapi::{normalize_statement, validate_statement, Version};

fn statement(i: usize) -> Value {
    json!({
        "actor": {"objectType": "Agent", "name": format!("Learner {i}"), "mbox": format!("mailto:learner{i}@example.com")},
        "verb": {"id": format!("http://example.com/verbs/v{}", i % 20), "display": {"en-US": "verb"}},
        "object": {"id": format!("http://example.com/activities/a{}", i % 500), "definition": {
            "name": {"en-US": format!("Activity {}", i % 500)},
            "type": "http://adlnet.gov/expapi/activities/assessment"}},
        "result": {"score": {"scaled": 0.75}, "success": true, "completion": true, "duration": "PT12M30S"},
        "context": {"registration": "00000000-0000-4000-8000-000000000042",
                    "contextActivities": {"parent": [{"id": "http://example.com/courses/c1"}]},
                    "instructor": {"mbox": "mailto:teacher1@example.com"}},
        "timestamp": "2026-11-22T10:00:00.123Z",
    })
}

fn parse_validate_normalise(bytes: &[u8]) -> Value {
    let mut body: Value = serde_json::from_slice(bytes).expect("valid JSON");
    let statements = match &mut body {
        Value::Array(items) => items.iter_mut().collect::<Vec<_>>(),
        single => vec![single],
    };
    for statement in statements {
        validate_statement(statement, Version::V1_0_3).expect("valid statement");
        normalize_statement(statement, Version::V1_0_3);
    }
    body
}

fn benches(c: &mut Criterion) {
    let one = serde_json::to_vec(&statement(7)).unwrap();
    let hundred = serde_json::to_vec(&Value::Array((0..100).map(statement).collect())).unwrap();
    let mut group = c.benchmark_group("statements");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_validate_normalise/1", |b| b.iter(|| parse_validate_normalise(&one)));
    group.throughput(Throughput::Elements(100));
    group.bench_function("parse_validate_normalise/100", |b| b.iter(|| parse_validate_normalise(&hundred)));
    group.throughput(Throughput::Elements(1));
    let parsed = parse_validate_normalise(&one);
    group.bench_function("serialise/1", |b| {
        b.iter_batched(|| parsed.clone(), |v| serde_json::to_vec(&v).unwrap(), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(statement_benches, benches);
criterion_main!(statement_benches);
