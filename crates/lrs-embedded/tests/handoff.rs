//! Statements handed from the gateway to the projector of the same process
//! (ADR 0012): the projector takes them instead of opening their seals, and
//! stores exactly what a replay, which opens every seal from the log,
//! stores; a statement sealed for an agent forgotten meanwhile is refused
//! all the same.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lrs_core::event::Command;
use lrs_core::projection::analytics::builder::RollupBuilder;
use lrs_core::projection::analytics::Analytics;
use lrs_core::projection::quality::Quality;
use lrs_core::vault::KeyVault;
use lrs_core::{
    EventLog, Gateway, Principal, Projector, QueryService, QueryStore, StatementHandoff, Table, TenantId, VerdictBus,
};
use lrs_embedded::{EmbeddedLog, EmbeddedStore, FileVault};
use serde_json::{json, Value};
use tokio::sync::watch;
use uuid::Uuid;
use xapi::Version;

/// A gateway and a projector sharing a handoff, on an embedded log, store and vault in `dir`.
struct Lrs {
    log: Arc<dyn EventLog>,
    store: Arc<dyn QueryStore>,
    vault: KeyVault,
    handoff: StatementHandoff,
    gateway: Gateway,
    principal: Principal,
    stop: watch::Sender<bool>,
    projector: tokio::task::JoinHandle<()>,
}

impl Lrs {
    /// Starts it, the projector with the analytics and quality projections as `lrs serve` runs it.
    fn start(dir: &Path, gateway_vault: KeyVault) -> Self {
        let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.join("log.redb")).unwrap());
        let store: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.join("store")).unwrap());
        let vault = KeyVault::new(Arc::new(FileVault::open(&dir.join("keys")).unwrap()));
        let handoff = StatementHandoff::default();
        let bus = VerdictBus::new();
        let gateway = Gateway::new(log.clone(), Some(store.clone()), bus.clone(), Duration::from_secs(10))
            .with_vault(Arc::new(gateway_vault))
            .with_handoff(handoff.clone());
        let projector = Projector::new(log.clone(), store.clone(), Arc::new(bus), 0)
            .with_downstream(Arc::new(Analytics::default()))
            .with_downstream(Arc::new(Quality::default()))
            .with_vault(vault.clone())
            .with_handoff(handoff.clone());
        let (stop, stopped) = watch::channel(false);
        let projector = tokio::spawn(async move { projector.run(stopped).await.unwrap() });
        let principal = Principal::with_all_scopes(
            TenantId::parse("t").unwrap(),
            json!({"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": "t"}}),
        );
        Self { log, store, vault, handoff, gateway, principal, stop, projector }
    }

    async fn post(&self, body: Value) -> Result<Vec<Uuid>, lrs_core::GatewayError> {
        self.gateway.store_statements(&self.principal, body, Version::V1_0_3, None, Vec::new()).await
    }

    /// Stops the projector once it has applied the whole log (the refusal a
    /// gateway logs after answering, too).
    async fn stop(self) -> (Arc<dyn EventLog>, Arc<dyn QueryStore>, KeyVault, StatementHandoff) {
        let end = self.log.end_offset(0).await.unwrap();
        while lrs_core::projection::load_position(self.store.as_ref(), 0).await.unwrap() < end {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.stop.send(true).unwrap();
        self.projector.await.unwrap();
        (self.log, self.store, self.vault, self.handoff)
    }
}

/// The tests of this file one at a time: they read the process's counters.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The value of `lrs_projector_statements_prepared_total{how}` in this process.
fn prepared(how: &str) -> u64 {
    let families = prometheus::gather();
    let Some(family) = families.iter().find(|f| f.name() == "lrs_projector_statements_prepared_total") else {
        return 0;
    };
    (family.get_metric().iter())
        .filter(|m| m.get_label().iter().any(|l| l.name() == "how" && l.value() == how))
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}

/// Rows with their sealed values opened (the projector seals its own rows,
/// agents and learners, with a salt of its own each time).
async fn opened(
    vault: &KeyVault,
    tenant: &TenantId,
    rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let mut opened = Vec::with_capacity(rows.len());
    for (partition, clustering, value) in rows {
        let value = lrs_core::vault::open_row(Some(vault), tenant, value).await.unwrap().expect("opens");
        opened.push((partition, clustering, value));
    }
    opened
}

/// Statements of many shapes: numbers JSON writes in more than one way,
/// escapes and characters outside the BMP, groups of several agents (a seal
/// for each), context activities, extensions, a sub-statement, results.
fn varied(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut statement = json!({
                "actor": {"mbox": format!("mailto:learner{}@example.com", i % 7), "name": format!("Lé \"{i}\" 🎓\t")},
                "verb": {"id": format!("http://example.com/verbs/v{}", i % 3), "display": {"en-US": "did", "fr": "a fait"}},
                "object": {"id": format!("http://example.com/activities/a{}", i % 5),
                           "definition": {"name": {"en-US": format!("Activity {i}")},
                                          "extensions": {"http://example.com/ext/n": [1e21, -0.0, 3.0, 0.1, u64::MAX, i64::MIN, {"x": null}]}}},
                "result": {"score": {"scaled": ((i % 7) as f64) / 7.0 - 0.5, "raw": i, "min": 0, "max": 1e3},
                           "success": i % 2 == 0, "completion": i % 3 != 0, "duration": format!("PT{}.25S", i)},
                "context": {"registration": Uuid::from_u128(i as u128 % 4 + 1).to_string(),
                            "platform": "\u{0001}\u{001f}\\/",
                            "contextActivities": {"parent": [{"id": "http://example.com/course"}],
                                                  "grouping": [{"id": format!("http://example.com/g{}", i % 2)}]},
                            "instructor": {"account": {"homePage": "http://example.com", "name": format!("teacher{}", i % 2)}},
                            "extensions": {"http://example.com/ext/deep": {"a": [[[i]]], "b": "\u{10ffff}"}}},
                "timestamp": format!("2026-11-{:02}T10:{:02}:00.123456Z", 1 + i % 28, i % 60),
            });
            if i % 4 == 1 {
                statement["actor"] = json!({"objectType": "Group", "name": "team",
                    "member": [{"mbox": format!("mailto:m{}@example.com", i % 3)}, {"openid": "http://example.com/openid/x"}]});
            }
            if i % 6 == 5 {
                statement["object"] = json!({"objectType": "SubStatement",
                    "actor": {"mbox": "mailto:sub@example.com"}, "verb": {"id": "http://example.com/verbs/sub"},
                    "object": {"objectType": "Agent", "mbox": format!("mailto:target{}@example.com", i)}});
                statement["context"].as_object_mut().unwrap().remove("platform"); // for activities only
            }
            statement
        })
        .collect()
}

#[tokio::test]
async fn statements_handed_to_the_projector_are_stored_as_a_replay_opening_them_stores_them() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let gateway_vault = KeyVault::new(Arc::new(FileVault::open(&dir.path().join("keys")).unwrap()));
    let lrs = Lrs::start(dir.path(), gateway_vault);
    let (handed_before, opened_before) = (prepared("handed"), prepared("opened"));
    let statements = varied(60);
    let mut stored = lrs.post(Value::Array(statements[..40].to_vec())).await.unwrap();
    for statement in &statements[40..] {
        stored.extend(lrs.post(statement.clone()).await.unwrap());
    }
    let voiding = json!({"actor": {"mbox": "mailto:admin@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
                         "object": {"objectType": "StatementRef", "id": stored[3].to_string()}});
    stored.extend(lrs.post(voiding).await.unwrap());
    let mut conflicting = statements[0].clone();
    conflicting["id"] = json!(stored[0].to_string());
    conflicting["verb"]["id"] = json!("http://example.com/verbs/other");
    assert!(lrs.post(conflicting).await.is_err(), "a conflict is refused");
    assert_eq!(stored.len(), 61);
    assert_eq!(prepared("handed") - handed_before, 62, "every statement sent was handed, the refused one too");
    assert_eq!(prepared("opened") - opened_before, 0, "no seal was opened");
    assert_eq!(lrs.handoff.waiting(), 0, "the projector took all it was handed");

    let (log, live, vault, _) = lrs.stop().await;
    RollupBuilder::new(live.clone(), 0).drain().await.unwrap();
    let rebuilt: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("rebuilt")).unwrap());
    lrs_core::replay::replay_with_vault(log.clone(), rebuilt.clone(), Some(vault.clone()), |_, _| {}).await.unwrap();
    assert!(prepared("opened") - opened_before >= 62, "the replay opened every seal");
    let swept = lrs_core::tables::verdict_sweep_partition(0);
    let tenant = TenantId::parse("t").unwrap();
    for table in Table::ALL {
        if table == Table::QualityNames {
            continue; // its pending rows are per batch of the projector: compared by the report below
        }
        let live_rows: Vec<_> = live.dump(table).await.unwrap().into_iter().filter(|row| row.0 != swept).collect();
        let (live_rows, rebuilt_rows) = (
            opened(&vault, &tenant, live_rows).await,
            opened(&vault, &tenant, rebuilt.dump(table).await.unwrap()).await,
        );
        assert_eq!(rebuilt_rows, live_rows, "table {} differs after replay", table.name());
    }
    let reports =
        [&live, &rebuilt].map(|store| lrs_core::quality::QualityService::new(store.clone()).with_vault(vault.clone()));
    let live_report = reports[0].report(&tenant, 0, u32::MAX).await.unwrap();
    let rebuilt_report = reports[1].report(&tenant, 0, u32::MAX).await.unwrap();
    assert_eq!(rebuilt_report, live_report);
    // The three verbs all display "did": the drift report names them, from the name rows.
    let did = live_report.drift.verbs.iter().find(|group| group.name == "did").expect("verb drift found");
    assert_eq!(did.ids.len(), 3);
    for table in [Table::Statements, Table::ByAgent, Table::AnalyticsRollups, Table::QualityCounts] {
        assert!(!live.dump(table).await.unwrap().is_empty(), "{} holds rows", table.name());
    }
    // And a reader opens what was stored as it was sent.
    let query = QueryService::new(live, log).with_vault(vault);
    let tenant = TenantId::parse("t").unwrap();
    let read = query.statement(&tenant, stored[45], false).await.unwrap().expect("stored");
    assert_eq!(read["context"]["extensions"], statements[45]["context"]["extensions"]);
    assert_eq!(read["actor"], statements[45]["actor"]);
}

/// The gateway seals for a subject its own cache still remembers after the
/// agent was forgotten: the handed statement is refused as the opened one
/// would be (the projector looks the seal's subjects up either way), and
/// the gateway seals it again, from the bytes it sealed, for a new subject.
#[tokio::test]
async fn a_handed_statement_sealed_for_a_forgotten_agent_is_refused_and_sealed_again() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let gateway_vault = KeyVault::new(Arc::new(FileVault::open(&dir.path().join("keys")).unwrap())).with_cache(100);
    let lrs = Lrs::start(dir.path(), gateway_vault);
    let tenant = TenantId::parse("t").unwrap();
    let statement = |n: usize| {
        json!({"actor": {"mbox": "mailto:back@example.com"}, "verb": {"id": "http://example.com/v"},
               "object": {"id": format!("http://example.com/a{n}")}, "result": {"score": {"scaled": 0.25}}})
    };
    let first = lrs.post(statement(1)).await.unwrap()[0];
    let old = lrs.vault.find(&tenant, "mbox:mailto:back@example.com").await.unwrap().unwrap();
    lrs.gateway.submit_admin(&tenant, &Command::ForgetSubject { subject: old.id }).await.unwrap();

    let second = lrs.post(statement(2)).await.unwrap()[0];
    let new = lrs.vault.find(&tenant, "mbox:mailto:back@example.com").await.unwrap().unwrap();
    assert_ne!(new.id, old.id, "sealed again for a new subject");
    assert_eq!(lrs.handoff.waiting(), 0);
    let (log, store, vault, _) = lrs.stop().await;
    let query = QueryService::new(store, log).with_vault(vault);
    assert_eq!(query.statement(&tenant, first, false).await.unwrap(), None, "erased");
    let kept = query.statement(&tenant, second, false).await.unwrap().expect("stored");
    assert_eq!(kept["object"]["id"], "http://example.com/a2");
    assert_eq!(kept["result"]["score"]["scaled"], 0.25);
}
