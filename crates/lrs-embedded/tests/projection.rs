//! The event-sourced core end to end on the embedded log and store, without
//! HTTP: the verdict rules of the projector, voiding, filters, `more` paging,
//! resuming after a restart, and a replay rebuilding every table (the
//! analytics rollups too) byte for byte.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lrs_core::{
    EventLog, Gateway, GatewayError, Principal, Projector, QueryService, QueryStore, StatementQuery, TenantId,
    VerdictBus,
};
use lrs_embedded::{EmbeddedLog, EmbeddedStore};
use serde_json::{json, Value};
use tokio::sync::watch;
use uuid::Uuid;
use xapi::Version;

const VOIDED: &str = "http://adlnet.gov/expapi/verbs/voided";

struct Lrs {
    store: Arc<dyn QueryStore>,
    gateway: Gateway,
    query: QueryService,
    principal: Principal,
    stop: watch::Sender<bool>,
    projector: tokio::task::JoinHandle<()>,
}

impl Lrs {
    fn start(dir: &Path) -> Self {
        Self::start_on(dir, Arc::new(EmbeddedStore::open(&dir.join("store")).unwrap()))
    }

    /// Starts it with the log in `dir` and `store` (the store of `dir`, watched).
    fn start_on(dir: &Path, store: Arc<dyn QueryStore>) -> Self {
        let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.join("log.redb")).unwrap());
        let bus = VerdictBus::new();
        let gateway = Gateway::new(log.clone(), Some(store.clone()), bus.clone(), Duration::from_secs(10));
        let query = QueryService::new(store.clone(), log.clone());
        let (stop, stopped) = watch::channel(false);
        // As `lrs serve` runs it: with the analytics and quality projections downstream.
        let projector = Projector::new(log, store.clone(), Arc::new(bus), 0)
            .with_downstream(Arc::new(lrs_core::projection::analytics::Analytics::default()))
            .with_downstream(Arc::new(lrs_core::projection::quality::Quality::default()));
        let projector = tokio::spawn(async move { projector.run(stopped).await.unwrap() });
        let principal = principal("default");
        Self { store, gateway, query, principal, stop, projector }
    }

    async fn shutdown(self) {
        self.stop.send(true).unwrap();
        self.projector.await.unwrap();
    }

    async fn post(&self, body: Value) -> Result<Vec<Uuid>, GatewayError> {
        self.gateway.store_statements(&self.principal, body, Version::V1_0_3, None, Vec::new()).await
    }

    async fn get(&self, id: Uuid) -> Option<Value> {
        self.query.statement(&self.principal.tenant, id, false).await.unwrap()
    }

    async fn list(&self, query: StatementQuery) -> Vec<Value> {
        self.query.statements(&self.principal.tenant, &query).await.unwrap().statements
    }
}

fn principal(tenant: &str) -> Principal {
    Principal::with_all_scopes(
        TenantId::parse(tenant).unwrap(),
        json!({"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": tenant}}),
    )
}

fn statement(id: Uuid, verb: &str, email: &str, activity: &str) -> Value {
    json!({
        "id": id.to_string(),
        "actor": {"mbox": format!("mailto:{email}")},
        "verb": {"id": verb},
        "object": {"id": activity},
    })
}

fn ids(statements: &[Value]) -> Vec<Uuid> {
    statements.iter().map(|s| Uuid::parse_str(s["id"].as_str().unwrap()).unwrap()).collect()
}

#[tokio::test]
async fn same_id_same_content_is_a_no_op_and_other_content_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path());
    let id = Uuid::new_v4();
    let original = statement(id, "http://example.com/v", "a@example.com", "http://example.com/a");
    assert_eq!(lrs.post(original.clone()).await.unwrap(), [id]);
    let stored = lrs.get(id).await.unwrap();
    assert_eq!(lrs.post(original).await.unwrap(), [id], "a repeat is accepted");
    assert_eq!(lrs.get(id).await.unwrap(), stored, "and changes nothing, not even stored");

    let changed = statement(id, "http://example.com/other", "a@example.com", "http://example.com/a");
    assert!(matches!(lrs.post(changed).await, Err(GatewayError::Conflict(_))));
    assert_eq!(lrs.get(id).await.unwrap(), stored);
    lrs.shutdown().await;
}

#[tokio::test]
async fn a_batch_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path());
    let taken = Uuid::new_v4();
    lrs.post(statement(taken, "http://example.com/v", "a@example.com", "http://example.com/a")).await.unwrap();
    let fresh = Uuid::new_v4();
    let batch = json!([
        statement(fresh, "http://example.com/v", "b@example.com", "http://example.com/b"),
        statement(taken, "http://example.com/different", "a@example.com", "http://example.com/a"),
    ]);
    assert!(matches!(lrs.post(batch).await, Err(GatewayError::Conflict(_))));
    assert_eq!(lrs.get(fresh).await, None, "the good statement of a rejected batch is not stored");

    let invalid = json!([
        statement(fresh, "http://example.com/v", "b@example.com", "http://example.com/b"),
        {"actor": {"mbox": "not-an-email"}},
    ]);
    let error = lrs.post(invalid).await.unwrap_err();
    assert!(matches!(&error, GatewayError::Invalid(m) if m.contains("[1]") && m.contains("actor")), "{error}");
    assert_eq!(lrs.get(fresh).await, None);
    lrs.shutdown().await;
}

/// A batch being applied is not half visible: the analytics builder's batch
/// deletes the outbox entries it applies and marks the whole-time values it
/// makes stale, and a read of one without the other made the analytics API
/// promise answers it did not have yet. Many rows per batch, so that the
/// memtables are flushed while batches are applied, too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_a_batch_whole_or_not_at_all() {
    use lrs_core::{Table, WriteBatch};
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("store")).unwrap();
    let (first, last) = (b"first".to_vec(), b"last".to_vec());
    let mut halves = 0;
    for round in 0..20u32 {
        let mut before = WriteBatch::default();
        before.put(Table::Meta, first.clone(), Vec::new(), vec![1]);
        before.delete(Table::Meta, last.clone(), Vec::new());
        store.write(before).await.unwrap();
        let mut batch = WriteBatch::default();
        batch.delete(Table::Meta, first.clone(), Vec::new());
        for n in 0..50_000u32 {
            batch.put(Table::AnalyticsFacts, round.to_be_bytes().to_vec(), n.to_be_bytes().to_vec(), vec![0; 32]);
        }
        batch.put(Table::Meta, last.clone(), Vec::new(), vec![1]);
        let writer = store.clone();
        let write = tokio::spawn(async move { writer.write_rebuildable(batch).await.unwrap() });
        while !write.is_finished() {
            let first_gone = store.get(Table::Meta, &first, &[]).await.unwrap().is_none();
            let last_there = store.get(Table::Meta, &last, &[]).await.unwrap().is_some();
            halves += usize::from(first_gone && !last_there);
        }
        write.await.unwrap();
    }
    assert_eq!(halves, 0, "reads saw a batch half applied {halves} times");
}

#[tokio::test]
async fn voiding_hides_the_target_from_lists_and_a_voiding_statement_cannot_be_voided() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path());
    let verb = "http://example.com/attempted";
    let target = Uuid::new_v4();
    lrs.post(statement(target, verb, "a@example.com", "http://example.com/a")).await.unwrap();
    let voiding = Uuid::new_v4();
    let voiding_statement = json!({
        "id": voiding.to_string(),
        "actor": {"mbox": "mailto:admin@example.com"},
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": target.to_string()},
    });
    lrs.post(voiding_statement).await.unwrap();

    assert_eq!(lrs.get(target).await, None, "statementId does not return a voided statement");
    let voided = lrs.query.statement(&lrs.principal.tenant, target, true).await.unwrap();
    assert!(voided.is_some(), "voidedStatementId does");
    let listed = ids(&lrs.list(StatementQuery { verb: Some(verb.into()), ..Default::default() }).await);
    assert_eq!(listed, [voiding], "the verb filter returns the voiding statement, not the voided one");

    let void_the_voiding = json!({
        "actor": {"mbox": "mailto:admin@example.com"},
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": voiding.to_string()},
    });
    assert!(matches!(lrs.post(void_the_voiding).await, Err(GatewayError::Invalid(_))));
    assert!(lrs.get(voiding).await.is_some());
    lrs.shutdown().await;
}

#[tokio::test]
async fn filters_pick_the_right_statements_in_stored_order() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path());
    let registration = Uuid::new_v4();
    let mut posted = Vec::new();
    for i in 0..6 {
        let id = Uuid::new_v4();
        let mut s = statement(
            id,
            &format!("http://example.com/v{}", i % 2),
            &format!("u{}@example.com", i % 3),
            "http://example.com/a",
        );
        if i == 4 {
            s["context"] = json!({"registration": registration.to_string(),
                "contextActivities": {"parent": [{"id": "http://example.com/course"}]},
                "instructor": {"mbox": "mailto:teacher@example.com"}});
        }
        lrs.post(s).await.unwrap();
        posted.push(id);
    }
    let newest_first: Vec<Uuid> = posted.iter().rev().copied().collect();
    assert_eq!(ids(&lrs.list(StatementQuery::default()).await), newest_first);
    let oldest_first = ids(&lrs.list(StatementQuery { ascending: true, ..Default::default() }).await);
    assert_eq!(oldest_first, posted);

    let by_verb =
        ids(&lrs.list(StatementQuery { verb: Some("http://example.com/v1".into()), ..Default::default() }).await);
    assert_eq!(by_verb, [posted[5], posted[3], posted[1]]);
    let agent = xapi::parse_agent_param(r#"{"mbox":"mailto:u0@example.com"}"#).unwrap();
    let by_agent = ids(&lrs.list(StatementQuery { agent: Some(agent.as_str().into()), ..Default::default() }).await);
    assert_eq!(by_agent, [posted[3], posted[0]]);
    let by_registration =
        ids(&lrs.list(StatementQuery { registration: Some(registration), ..Default::default() }).await);
    assert_eq!(by_registration, [posted[4]]);

    let course = Some("http://example.com/course".to_owned());
    assert!(lrs.list(StatementQuery { activity: course.clone(), ..Default::default() }).await.is_empty());
    let related = StatementQuery { activity: course, related_activities: true, ..Default::default() };
    assert_eq!(ids(&lrs.list(related).await), [posted[4]], "related_activities reaches context activities");
    let teacher = xapi::parse_agent_param(r#"{"mbox":"mailto:teacher@example.com"}"#).unwrap();
    let teacher = Some(teacher.as_str().to_owned());
    assert!(lrs.list(StatementQuery { agent: teacher.clone(), ..Default::default() }).await.is_empty());
    let related = StatementQuery { agent: teacher, related_agents: true, ..Default::default() };
    assert_eq!(ids(&lrs.list(related).await), [posted[4]], "related_agents reaches the instructor");

    let stored = |s: &Value| xapi::parse_timestamp(s["stored"].as_str().unwrap()).unwrap().timestamp_micros() as u64;
    let third = lrs.get(posted[2]).await.unwrap();
    let since = StatementQuery { since: Some(stored(&third)), ascending: true, ..Default::default() };
    assert_eq!(ids(&lrs.list(since).await), posted[3..], "since is exclusive");
    let until = StatementQuery { until: Some(stored(&third)), ascending: true, ..Default::default() };
    assert_eq!(ids(&lrs.list(until).await), posted[..3], "until is inclusive");
    lrs.shutdown().await;
}

/// Every page of `query`, followed through its `more` cursors, `limit` at a time.
async fn all_pages(lrs: &Lrs, query: StatementQuery) -> Vec<Uuid> {
    let mut query = StatementQuery { limit: 4, ..query };
    let mut found = Vec::new();
    loop {
        let page = lrs.query.statements(&lrs.principal.tenant, &query).await.unwrap();
        assert!(page.statements.len() <= 4);
        found.extend(ids(&page.statements));
        match page.more {
            Some(cursor) => query = StatementQuery::from_cursor(&cursor).unwrap(),
            None => return found,
        }
    }
}

/// The statements of `agent` and `activity`, directly (`expected.0`) and
/// related (`expected.1`), newest and oldest first, `all_pages`.
async fn check_related_pages(lrs: &Lrs, (agent, activity): (&str, &str), expected: (&[Uuid], &[Uuid]), label: &str) {
    for (related, expected) in [(false, expected.0), (true, expected.1)] {
        let queries = [
            StatementQuery { agent: Some(agent.to_owned()), related_agents: related, ..Default::default() },
            StatementQuery { activity: Some(activity.to_owned()), related_activities: related, ..Default::default() },
        ];
        for query in queries {
            let newest_first: Vec<Uuid> = expected.iter().rev().copied().collect();
            assert_eq!(all_pages(lrs, query.clone()).await, newest_first, "{label}: {query:?}");
            let ascending = StatementQuery { ascending: true, ..query.clone() };
            assert_eq!(all_pages(lrs, ascending).await, expected, "{label}: ascending {query:?}");
        }
    }
}

#[tokio::test]
async fn related_filters_read_the_direct_and_the_related_rows_as_one_page_after_another() {
    use lrs_core::tables::{bucket_of, index_clustering, index_value, IndexKey, IndexMatch, IndexScope};
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path());
    const COURSE: &str = "http://example.com/course";
    let teacher = "mbox:mailto:teacher@example.com".to_owned();
    // The teacher is the actor (and the course the object) of every third
    // statement, the instructor (and the course the parent) of the next, and
    // neither of the third; in runs of one to three statements per batch.
    let (mut direct, mut related, mut posted) = (Vec::new(), Vec::new(), Vec::new());
    let mut batch = Vec::new();
    for i in 0..90 {
        let id = Uuid::new_v4();
        let role = i % 3;
        let mut s = if role == 0 {
            statement(id, "http://example.com/v", "teacher@example.com", COURSE)
        } else {
            statement(id, "http://example.com/v", &format!("u{i}@example.com"), &format!("http://example.com/a{i}"))
        };
        if role == 1 {
            s["context"] = json!({"instructor": {"mbox": "mailto:teacher@example.com"},
                                  "contextActivities": {"parent": [{"id": COURSE}]}});
        }
        if role == 0 {
            direct.push(id);
        }
        if role != 2 {
            related.push(id);
        }
        posted.push(id);
        batch.push(s);
        if i % 4 == 3 || i == 89 {
            lrs.post(Value::Array(std::mem::take(&mut batch))).await.unwrap();
        }
    }
    let newest_first = |ids: &[Uuid]| ids.iter().rev().copied().collect::<Vec<_>>();
    check_related_pages(&lrs, (&teacher, COURSE), (&direct, &related), "as written").await;

    // An index written before 2026-12-06 also held the direct in the related
    // rows: each statement is still answered once.
    let tenant = &lrs.principal.tenant;
    let mut old_rows = lrs_core::WriteBatch::default();
    for id in &direct {
        let statement = lrs.get(*id).await.unwrap();
        let stored = xapi::parse_timestamp(statement["stored"].as_str().unwrap()).unwrap().timestamp_micros() as u64;
        for key in [
            IndexKey::agent(tenant, IndexScope::Related, &teacher),
            IndexKey::activity(tenant, IndexScope::Related, COURSE),
        ] {
            old_rows.put(
                key.table,
                key.partition(bucket_of(stored)),
                index_clustering(stored),
                index_value(*id, IndexMatch::Own),
            );
        }
    }
    lrs.store.write(old_rows).await.unwrap();
    check_related_pages(&lrs, (&teacher, COURSE), (&direct, &related), "with the related rows of earlier versions")
        .await;
    assert_eq!(all_pages(&lrs, StatementQuery::default()).await, newest_first(&posted));
    lrs.shutdown().await;
}

#[tokio::test]
async fn a_related_filter_with_another_filter_misses_nothing_between_the_two_kinds_of_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path());
    const RARE: &str = "http://example.com/rare";
    // The teacher is the actor of the first 40 statements and the instructor
    // of the next 40: the related rows are all newer than the direct ones, so
    // a read of each kind goes further in one than in the other.
    let mut rare = Vec::new();
    let mut batch = Vec::new();
    for i in 0..80 {
        let id = Uuid::new_v4();
        let verb = if i % 7 == 3 { RARE } else { "http://example.com/v" };
        let mut s = if i < 40 {
            statement(id, verb, "teacher@example.com", "http://example.com/a")
        } else {
            let mut s = statement(id, verb, &format!("u{i}@example.com"), "http://example.com/a");
            s["context"] = json!({"instructor": {"mbox": "mailto:teacher@example.com"}});
            s
        };
        s["result"] = json!({"response": format!("{i}")});
        if verb == RARE {
            rare.push(id);
        }
        batch.push(s);
        if batch.len() == 10 {
            lrs.post(Value::Array(std::mem::take(&mut batch))).await.unwrap();
        }
    }
    let query = StatementQuery {
        agent: Some("mbox:mailto:teacher@example.com".to_owned()),
        related_agents: true,
        verb: Some(RARE.to_owned()),
        ..Default::default()
    };
    let newest_first: Vec<Uuid> = rare.iter().rev().copied().collect();
    assert_eq!(all_pages(&lrs, query.clone()).await, newest_first);
    assert_eq!(all_pages(&lrs, StatementQuery { ascending: true, ..query }).await, rare);
    lrs.shutdown().await;
}

#[tokio::test]
async fn more_pages_cover_everything_once_while_new_statements_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path());
    let mut posted = Vec::new();
    for _ in 0..7 {
        let id = Uuid::new_v4();
        lrs.post(statement(id, "http://example.com/v", "a@example.com", "http://example.com/a")).await.unwrap();
        posted.push(id);
    }
    let tenant = lrs.principal.tenant.clone();
    let mut query = StatementQuery { limit: 3, ..Default::default() };
    let mut seen = Vec::new();
    for page_number in 0.. {
        assert!(page_number < 10, "paging does not end");
        let page = lrs.query.statements(&tenant, &query).await.unwrap();
        seen.extend(ids(&page.statements));
        // A statement arriving between pages must not shift the next page.
        lrs.post(statement(Uuid::new_v4(), "http://example.com/v", "b@example.com", "http://example.com/a"))
            .await
            .unwrap();
        match page.more {
            Some(cursor) => query = StatementQuery::from_cursor(&cursor).unwrap(),
            None => break,
        }
    }
    let expected: Vec<Uuid> = posted.iter().rev().copied().collect();
    assert_eq!(seen, expected);
    assert!(StatementQuery::from_cursor("not a cursor").is_err());
    lrs.shutdown().await;
}

#[tokio::test]
async fn a_restarted_projector_resumes_where_it_stopped_without_repeating() {
    let dir = tempfile::tempdir().unwrap();
    let first = Uuid::new_v4();
    {
        let lrs = Lrs::start(dir.path());
        lrs.post(statement(first, "http://example.com/v", "a@example.com", "http://example.com/a")).await.unwrap();
        lrs.shutdown().await;
    }
    let lrs = Lrs::start(dir.path());
    let second = Uuid::new_v4();
    lrs.post(statement(second, "http://example.com/v", "a@example.com", "http://example.com/a")).await.unwrap();
    let listed = ids(&lrs.list(StatementQuery::default()).await);
    assert_eq!(listed, [second, first]);
    let before = lrs.get(first).await.unwrap();
    let after_restart_stored = lrs.get(second).await.unwrap();
    assert!(after_restart_stored["stored"].as_str() > before["stored"].as_str(), "stored keeps increasing");
    lrs.shutdown().await;
}

#[tokio::test]
async fn tenants_do_not_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path());
    let id = Uuid::new_v4();
    lrs.post(statement(id, "http://example.com/v", "a@example.com", "http://example.com/a")).await.unwrap();
    let other = TenantId::parse("other").unwrap();
    assert_eq!(lrs.query.statement(&other, id, false).await.unwrap(), None);
    assert!(lrs.query.statements(&other, &StatementQuery::default()).await.unwrap().statements.is_empty());
    // The same id is free in another tenant.
    let other_principal = principal("other");
    let mine = statement(id, "http://example.com/different", "z@example.com", "http://example.com/z");
    let stored = lrs.gateway.store_statements(&other_principal, mine, Version::V1_0_3, None, Vec::new()).await;
    assert_eq!(stored.unwrap(), [id]);
    lrs.shutdown().await;
}

#[tokio::test]
async fn a_replay_into_empty_tables_rebuilds_the_live_ones_exactly() {
    let dir = tempfile::tempdir().unwrap();
    {
        let lrs = Lrs::start(dir.path());
        let target = Uuid::new_v4();
        lrs.post(statement(target, "http://example.com/v", "a@example.com", "http://example.com/a")).await.unwrap();
        let batch = json!([
            statement(Uuid::new_v4(), "http://example.com/w", "b@example.com", "http://example.com/b"),
            {"actor": {"mbox": "mailto:c@example.com", "name": "C"}, "verb": {"id": VOIDED},
             "object": {"objectType": "StatementRef", "id": target.to_string()}},
        ]);
        lrs.post(batch).await.unwrap();
        let conflict = statement(target, "http://example.com/other", "a@example.com", "http://example.com/a");
        assert!(lrs.post(conflict).await.is_err());
        let scope = lrs_core::DocumentScope { activity_id: Some("http://example.com/a".into()), ..Default::default() };
        let address =
            lrs_core::gateway::DocumentAddress { kind: lrs_core::DocumentKind::ActivityProfile, scope, id: "p".into() };
        let tenant = lrs.principal.tenant.clone();
        lrs.gateway
            .put_document(&tenant, address, "application/json".into(), br#"{"a":1}"#, true, Default::default())
            .await
            .unwrap();
        lrs.shutdown().await;
    }
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let live = EmbeddedStore::open(&dir.path().join("store")).unwrap();
    // The live analytics builder would have applied its outbox by now; here it runs once.
    let builder = lrs_core::projection::analytics::builder::RollupBuilder::new(Arc::new(live.clone()), 0);
    builder.drain().await.unwrap();
    let rebuilt: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("rebuilt")).unwrap());
    let mut reports = Vec::new();
    lrs_core::replay::replay(log, rebuilt.clone(), |done, total| reports.push((done, total))).await.unwrap();
    // Four writes, and the refusal of the conflicting one (logged for the quality report).
    assert_eq!(reports.last(), Some(&(5, 5)), "progress ends at every event applied");
    for table in lrs_core::Table::ALL {
        if table == lrs_core::Table::Credentials {
            continue; // written by the bootstrap, not by the projector
        }
        // Where the live projector's sweep of expired verdicts stands is not
        // projected from the log (a replay does not sweep).
        let swept = lrs_core::tables::verdict_sweep_partition(0);
        let live_rows: Vec<_> = live.dump(table).await.unwrap().into_iter().filter(|row| row.0 != swept).collect();
        assert_eq!(rebuilt.dump(table).await.unwrap(), live_rows, "table {} differs after replay", table.name());
    }
    assert!(!live.dump(lrs_core::Table::Statements).await.unwrap().is_empty());
}

/// Voiding a statement sent without a timestamp takes it out of the
/// analytics: the voided statement as the projector reads it back from its
/// row has the timestamp the LRS set, so its fact is found and subtracted.
#[tokio::test]
async fn voiding_a_statement_sent_without_a_timestamp_takes_it_out_of_the_analytics() {
    use lrs_core::analytics::{AnalyticsQuery, AnalyticsService, Measure};

    let dir = tempfile::tempdir().unwrap();
    let (voided, kept) = (Uuid::new_v4(), Uuid::new_v4());
    {
        let lrs = Lrs::start(dir.path());
        let sent = json!([
            statement(voided, "http://example.com/v", "a@example.com", "http://example.com/a"),
            statement(kept, "http://example.com/v", "b@example.com", "http://example.com/a"),
        ]);
        assert!(sent.as_array().unwrap().iter().all(|s| s.get("timestamp").is_none()));
        lrs.post(sent).await.unwrap();
        let voiding = json!({"actor": {"mbox": "mailto:c@example.com"}, "verb": {"id": VOIDED},
            "object": {"objectType": "StatementRef", "id": voided.to_string()}});
        lrs.post(voiding).await.unwrap();
        lrs.shutdown().await;
    }
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let store: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    // The live analytics builder would have applied its outbox; here it runs once.
    lrs_core::projection::analytics::builder::RollupBuilder::new(store.clone(), 0).drain().await.unwrap();
    let analytics = AnalyticsService::new(store.clone(), None, QueryService::new(store, log));
    let question = AnalyticsQuery {
        measure: Measure::Statements,
        by: None,
        since_day: None,
        until_day: None,
        filters: vec![],
        limit: 10,
    };
    let rows = analytics.answer(&principal("default").tenant, &question).await.unwrap();
    let counted: f64 = rows.iter().map(|row| row.value).sum();
    assert_eq!(counted, 1.0, "two sent, one voided (a voiding statement counts in no measure): {rows:?}");
}

/// Statements stored by an earlier version (the row in `statements` by id,
/// index rows holding the id) are answered as before, by id and through every
/// index, and can be voided; the rows of this version are an entry by id
/// pointing at the row in `statements_by_stored`, beside the rows stored
/// around the same time.
#[tokio::test]
async fn statements_stored_by_an_earlier_version_are_answered_and_voided() {
    use lrs_core::store::{Table, WriteBatch};
    use lrs_core::tables::{bucket_of, decode_stored_row, index_clustering, IndexKey, StatementEntry};

    const READ: &str = "http://example.com/verbs/read";
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path());
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    lrs.post(json!([
        statement(a, READ, "a@example.com", "http://example.com/a/1"),
        statement(b, READ, "b@example.com", "http://example.com/a/1"),
        statement(c, "http://example.com/verbs/other", "a@example.com", "http://example.com/a/2"),
    ]))
    .await
    .unwrap();
    let by_read = || StatementQuery { verb: Some(READ.to_owned()), ..Default::default() };
    let by_a = || StatementQuery { agent: Some("mbox:mailto:a@example.com".to_owned()), ..Default::default() };
    let answers = (lrs.get(b).await.expect("b"), lrs.list(by_read()).await, lrs.list(by_a()).await);
    assert_eq!(ids(&answers.1), vec![b, a], "newest first");
    assert_eq!(ids(&answers.2), vec![c, a]);
    let tenant = lrs.principal.tenant.clone();
    lrs.shutdown().await;

    // What this version wrote, rewritten as an earlier version wrote it.
    {
        let store = EmbeddedStore::open(&dir.path().join("store")).unwrap();
        let entries = store.dump(Table::Statements).await.unwrap();
        assert_eq!(entries.len(), 3);
        let mut batch = WriteBatch::default();
        for (partition, _, entry) in entries {
            let Some(StatementEntry::At(stored)) = StatementEntry::decode(&entry) else {
                panic!("an entry by id is where the row is, not the row ({} bytes)", entry.len())
            };
            let all = IndexKey::all(&tenant).partition(bucket_of(stored));
            let row = store.get(Table::ByStored, &all, &index_clustering(stored)).await.unwrap().expect("the row");
            let (id, Some(row)) = decode_stored_row(&row).expect("a row") else {
                panic!("the row holds the statement")
            };
            assert_eq!(row.stored_micros, stored);
            batch.put(Table::Statements, partition, Vec::new(), row.encode());
            batch.put(Table::ByStored, all, index_clustering(stored), id.as_bytes().to_vec());
        }
        store.write(batch).await.unwrap();
    }

    let lrs = Lrs::start(dir.path());
    assert_eq!(lrs.get(b).await.as_ref(), Some(&answers.0), "by id");
    assert_eq!(lrs.list(by_read()).await, answers.1, "by verb");
    assert_eq!(lrs.list(by_a()).await, answers.2, "by agent");
    assert_eq!(ids(&lrs.list(StatementQuery::default()).await), vec![c, b, a], "all");

    let voiding = Uuid::new_v4();
    lrs.post(json!({
        "id": voiding.to_string(),
        "actor": {"mbox": "mailto:admin@example.com"},
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": a.to_string()},
    }))
    .await
    .unwrap();
    assert_eq!(lrs.get(a).await, None, "voided");
    assert!(lrs.query.statement(&tenant, a, true).await.unwrap().is_some(), "answered as voided");
    // The voiding statement matches through its StatementRef, as any does.
    assert_eq!(ids(&lrs.list(by_read()).await), vec![voiding, b]);
    let d = Uuid::new_v4();
    lrs.post(statement(d, READ, "d@example.com", "http://example.com/a/1")).await.unwrap();
    assert_eq!(ids(&lrs.list(by_read()).await), vec![d, voiding, b]);
    assert_eq!(ids(&lrs.list(StatementQuery::default()).await), vec![d, voiding, c, b]);
    lrs.shutdown().await;
}

/// A page answered from the rows' bytes (`statements_serialised`, what a GET
/// in the exact format answers) holds the same statements as the page parsed,
/// whatever needs checking: a statement matching only through its
/// StatementRef, two filters, a sender's own `stored`, statements with and
/// without a `timestamp`, and an authority restriction.
#[tokio::test]
async fn a_page_answered_from_the_stored_bytes_is_the_page_parsed() {
    const READ: &str = "http://example.com/verbs/read";
    const COURSE: &str = "http://example.com/courses/1";
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path());
    let (a, b, c, d) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let registration = Uuid::new_v4();
    let mut timed = statement(b, READ, "b@example.com", COURSE);
    timed["timestamp"] = json!("2020-01-02T03:04:05.678Z");
    timed["context"] = json!({"registration": registration.to_string(), "contextActivities": {"parent": [{"id": "http://example.com/p"}]}});
    let mut sent_stored = statement(c, "http://example.com/verbs/other", "a@example.com", COURSE);
    sent_stored["stored"] = json!("2001-01-01T00:00:00Z");
    let referring = json!({
        "id": d.to_string(),
        "actor": {"mbox": "mailto:c@example.com"},
        "verb": {"id": "http://example.com/verbs/comment"},
        "object": {"objectType": "StatementRef", "id": a.to_string()},
    });
    // By a as well, with another verb: what the query of two filters leaves out.
    let other = statement(Uuid::new_v4(), "http://example.com/verbs/other", "a@example.com", COURSE);
    lrs.post(json!([statement(a, READ, "a@example.com", COURSE), timed, sent_stored, other])).await.unwrap();
    lrs.post(referring).await.unwrap();

    let tenant = &lrs.principal.tenant;
    let queries = [
        StatementQuery::default(),
        StatementQuery { ascending: true, limit: 2, ..Default::default() },
        StatementQuery { verb: Some(READ.to_owned()), ..Default::default() },
        StatementQuery { agent: Some("mbox:mailto:a@example.com".to_owned()), ..Default::default() },
        StatementQuery {
            activity: Some("http://example.com/p".to_owned()),
            related_activities: true,
            ..Default::default()
        },
        StatementQuery { registration: Some(registration), ..Default::default() },
        StatementQuery {
            verb: Some(READ.to_owned()),
            agent: Some("mbox:mailto:a@example.com".to_owned()),
            ..Default::default()
        },
        StatementQuery { authority: Some("no-such-authority".to_owned()), ..Default::default() },
    ];
    let mut seen = std::collections::HashSet::new();
    for query in queries {
        let parsed = lrs.query.statements(tenant, &query).await.unwrap();
        let serialised = lrs.query.statements_serialised(tenant, &query).await.unwrap();
        let read: Vec<Value> = serialised.statements.iter().map(|s| serde_json::from_slice(s).unwrap()).collect();
        assert_eq!(read, parsed.statements, "{query:?}");
        assert_eq!(serialised.more, parsed.more, "{query:?}");
        let latest = parsed.statements.iter().map(|s| s["stored"].as_str().unwrap().to_owned()).max();
        let latest_serialised =
            serialised.latest_stored.map(|micros| xapi::format_timestamp(lrs_core::tables::micros_to_datetime(micros)));
        assert_eq!(latest_serialised, latest, "{query:?}");
        seen.extend(ids(&parsed.statements));
    }
    assert_eq!(seen.len(), 5, "every statement was answered by some query");
    for statement in lrs.list(StatementQuery::default()).await {
        let stored = statement["stored"].as_str().unwrap();
        assert_ne!(stored, "2001-01-01T00:00:00Z", "the LRS sets stored");
        if statement["id"] != b.to_string() {
            assert_eq!(statement["timestamp"].as_str(), Some(stored), "sent without a timestamp: stored's");
        }
    }
    lrs.shutdown().await;
}

/// A statement of `learner` on a day of March 2026 (or `day` days from
/// 2026-03-10), with a score, a duration and, for every third, a completion.
fn scored(n: usize, learner: usize, day: i64) -> Value {
    let date = chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap() + chrono::Duration::days(day);
    json!({
        "id": Uuid::new_v4().to_string(),
        "actor": {"mbox": format!("mailto:learner{learner}@example.com")},
        "verb": {"id": format!("http://example.com/verbs/v{}", n % 3)},
        "object": {"id": format!("http://example.com/activities/a{}", n % 7)},
        "result": {"score": {"scaled": (n % 100) as f64 / 100.0}, "success": n.is_multiple_of(2),
                   "completion": n.is_multiple_of(3), "duration": format!("PT{}S", 10 + n % 50)},
        "timestamp": format!("{date}T10:{:02}:00Z", n % 60),
    })
}

/// Every measure over a range that reads the day and month rollups (more
/// than the day blocks hold, not all of the tenant's days), over all days,
/// and by day, month, verb and learner.
async fn every_answer(analytics: &lrs_core::analytics::AnalyticsService) -> Vec<(String, Vec<(String, f64)>)> {
    use lrs_core::analytics::{AnalyticsQuery, By, Measure};
    use lrs_core::projection::analytics::fact::Dimension;
    let tenant = principal("default").tenant;
    let mut answers = Vec::new();
    let bys =
        [None, Some(By::Day), Some(By::Month), Some(By::Group(Dimension::Verb)), Some(By::Group(Dimension::Learner))];
    for measure in Measure::ALL {
        for by in bys {
            // 2025-08-23 on (day 20,323): not the first day with facts, 210 days.
            for since_day in [None, Some(20_323)] {
                let question =
                    AnalyticsQuery { measure, by, since_day, until_day: None, filters: vec![], limit: 5_000 };
                let rows = analytics.answer(&tenant, &question).await.unwrap();
                let rows = rows.into_iter().map(|row| (row.key, (row.value * 1e9).round() / 1e9)).collect();
                answers.push((format!("{measure:?} by {by:?} since {since_day:?}"), rows));
            }
        }
    }
    answers
}

/// ADR 0011: a builder pass of a few statements writes what they add to
/// each rollup as a small delta beside the group's row, not the row again;
/// every answer merges the deltas and equals the answer of a store built in
/// one pass (a replay); a builder started anew finds the deltas and folds
/// them into the rows, leaving the answers as they were.
#[tokio::test]
async fn a_trickle_writes_deltas_that_answers_merge_and_a_fold_puts_into_the_rows() {
    use lrs_core::analytics::AnalyticsService;
    use lrs_core::projection::analytics::builder::RollupBuilder;
    use lrs_core::store::Table;
    use std::collections::BTreeMap;

    let dir = tempfile::tempdir().unwrap();
    let rows_of = |dump: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>| -> BTreeMap<(Vec<u8>, Vec<u8>), Vec<u8>> {
        dump.into_iter().map(|(p, c, v)| ((p, c), v)).collect()
    };
    let (mut whole_bytes, mut delta_bytes) = (0, 0);
    {
        let lrs = Lrs::start(dir.path());
        let builder = RollupBuilder::new(lrs.store.clone(), 0);
        // 1,500 learners on one day, and one more 200 days before and 10 after.
        let mut sent: Vec<Value> = (0..1_500).map(|n| scored(n, n, 0)).collect();
        sent.push(scored(1_500, 1_500, -200));
        sent.push(scored(1_501, 1_501, 10));
        lrs.post(Value::Array(sent)).await.unwrap();
        // Applied, and its deltas folded into the rows.
        assert_eq!(builder.drain().await.unwrap(), 1_502);
        // Then a trickle on the same day: a pass each.
        for n in 0..5 {
            let before = rows_of(lrs.store.dump(Table::AnalyticsRollups).await.unwrap());
            lrs.post(scored(2_000 + n, 2_000 + n, 0)).await.unwrap();
            assert_eq!(builder.apply_next(usize::MAX).await.unwrap(), 1);
            let after = rows_of(lrs.store.dump(Table::AnalyticsRollups).await.unwrap());
            for (key, value) in &after {
                if before.get(key) == Some(value) {
                    continue;
                }
                delta_bytes += value.len();
                // What a pass writing whole would have written: the group's row.
                let clustering = &key.1;
                let row = before.iter().find(|((p, c), _)| p == &key.0 && clustering.starts_with(c.as_slice()));
                whole_bytes += row.map_or(value.len(), |(_, row)| row.len());
            }
        }
        // 27 more: the group of all statements of the day (its day, week
        // and month) has 32 deltas, and only such groups are due now.
        for n in 5..32 {
            lrs.post(scored(2_000 + n, 2_000 + n, 0)).await.unwrap();
            assert_eq!(builder.apply_next(usize::MAX).await.unwrap(), 1);
        }
        // Deltas per group (its partition and row key).
        let deltas_by_group = |rows: &BTreeMap<(Vec<u8>, Vec<u8>), Vec<u8>>| {
            use lrs_core::tables::analytics::{parse_rollup_clustering, rollup_clustering};
            let mut groups: BTreeMap<(Vec<u8>, Vec<u8>), usize> = BTreeMap::new();
            for (partition, clustering) in rows.keys() {
                let Some((dimension, value)) = parse_rollup_clustering(clustering) else { continue };
                let row = rollup_clustering(&dimension, &value);
                if row != *clustering {
                    *groups.entry((partition.clone(), row)).or_default() += 1;
                }
            }
            groups
        };
        let before = deltas_by_group(&rows_of(lrs.store.dump(Table::AnalyticsRollups).await.unwrap()));
        let due: BTreeMap<_, _> = before.iter().filter(|(_, deltas)| **deltas >= 32).collect();
        // The day, week and month of all statements, the day and month of the one source.
        assert_eq!(due.len(), 5, "{due:?}");
        assert!(due.values().all(|deltas| **deltas == 32));
        let mut folded = 0;
        loop {
            match builder.fold_deltas(false).await.unwrap() {
                0 => break,
                n => folded += n,
            }
        }
        assert_eq!(folded, 5);
        let after = deltas_by_group(&rows_of(lrs.store.dump(Table::AnalyticsRollups).await.unwrap()));
        let kept: BTreeMap<_, _> = before.iter().filter(|(_, deltas)| **deltas < 32).collect();
        assert_eq!(after.iter().collect::<BTreeMap<_, _>>(), kept, "only groups with 32 deltas were due");
        builder.refresh_whole().await.unwrap();
        lrs.shutdown().await;
    }
    assert!(
        delta_bytes * 10 < whole_bytes,
        "five passes of one statement wrote {delta_bytes} bytes of rollups; the rows they touch hold {whole_bytes}"
    );

    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let live: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    let rebuilt: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("rebuilt")).unwrap());
    lrs_core::replay::replay(log.clone(), rebuilt.clone(), |_, _| {}).await.unwrap();
    let deltas = |rows: &[(Vec<u8>, Vec<u8>, Vec<u8>)]| {
        use lrs_core::tables::analytics::{parse_rollup_clustering, rollup_clustering};
        let delta = |c: &Vec<u8>| parse_rollup_clustering(c).is_some_and(|(d, v)| rollup_clustering(&d, &v) != *c);
        rows.iter().filter(|(_, c, _)| delta(c)).count()
    };
    let live_rows = live.dump(Table::AnalyticsRollups).await.unwrap();
    let rebuilt_rows = rebuilt.dump(Table::AnalyticsRollups).await.unwrap();
    assert!(
        live_rows.len() > rebuilt_rows.len(),
        "deltas beside the rows: {} rows, {}",
        live_rows.len(),
        rebuilt_rows.len()
    );
    assert!(deltas(&live_rows) > 0);

    let answers = |store: &Arc<dyn QueryStore>| {
        AnalyticsService::new(store.clone(), None, QueryService::new(store.clone(), log.clone()))
    };
    let expected = every_answer(&answers(&rebuilt)).await;
    let statements: f64 = expected[0].1.iter().map(|(_, value)| value).sum();
    assert_eq!(statements, 1_534.0, "every statement counted once: {:?}", expected[0]);
    assert_eq!(every_answer(&answers(&live)).await, expected, "with deltas not folded");

    // A builder started anew finds what an earlier one left, due a minute
    // after the start (not at once, while the store is cold), and folds it.
    let builder = RollupBuilder::new(live.clone(), 0);
    assert_eq!(builder.fold_deltas(false).await.unwrap(), 0, "nothing due at the start");
    while builder.fold_deltas(true).await.unwrap() > 0 {}
    let folded_rows = live.dump(Table::AnalyticsRollups).await.unwrap();
    assert_eq!(folded_rows.len(), rebuilt_rows.len(), "no delta left after the fold");
    assert_eq!(every_answer(&answers(&live)).await, expected, "after the fold");
    let notes = live.dump(Table::Meta).await.unwrap();
    let noted = notes.iter().filter(|(p, _, _)| p == &lrs_core::tables::analytics::deltas_partition(0)).count();
    assert_eq!(noted, 0, "the list of deltas to fold is empty");
}

/// The analytics warm-up after a start builds the blocks of the newest days
/// first, until they take half the cache, and leaves out a day whose block
/// alone would take more without reading its facts; a question keeps the
/// block of such a day when it fits the cache (a cache in shards kept none
/// over a shard's share: an eighth of it on two cores), its facts read in
/// parts (4,096 at a time) and every one of them counted.
#[tokio::test]
async fn the_warm_up_holds_the_newest_days_that_fit_and_a_question_keeps_a_larger_one() {
    use lrs_core::analytics::{AnalyticsQuery, AnalyticsService, Measure};
    use lrs_core::projection::analytics::builder::RollupBuilder;
    use lrs_core::projection::analytics::fact::Dimension;
    use lrs_core::{Table, WriteBatch};
    use std::sync::atomic::Ordering;

    // 5,000 statements on the newest day, 1,200 on each of the four before.
    let per_day = [5_000, 1_200, 1_200, 1_200, 1_200];
    let dir = tempfile::tempdir().unwrap();
    {
        let lrs = Lrs::start(dir.path());
        for (back, count) in per_day.iter().enumerate() {
            let sent: Vec<Value> = (0..*count).map(|n| scored(n, n % 50, -(back as i64))).collect();
            for batch in sent.chunks(500) {
                lrs.post(Value::Array(batch.to_vec())).await.unwrap();
            }
        }
        lrs.shutdown().await;
    }
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let watched = Arc::new(common::WatchedStore::new(EmbeddedStore::open(&dir.path().join("store")).unwrap()));
    let store: Arc<dyn QueryStore> = watched.clone();
    assert_eq!(RollupBuilder::new(store.clone(), 0).drain().await.unwrap(), 9_800);
    // The tenant's record, which `lrs serve` writes at its first start.
    let tenant = principal("default").tenant;
    let record = lrs_core::tenants::Tenant::new(tenant.clone(), "Default");
    let mut batch = WriteBatch::default();
    let partition = lrs_core::tenants::tenant_partition(&tenant);
    batch.put(Table::Tenants, partition, Vec::new(), serde_json::to_vec(&record).unwrap());
    store.write(batch).await.unwrap();

    // A block weighs 42 bytes a fact (these have no parents) and 256 more.
    let block = |facts: u64| facts * 42 + 256;
    let budget = 300_000;
    assert!(block(1_200) > budget / 8 && 3 * block(1_200) >= budget / 2 && 2 * block(1_200) < budget / 2);
    assert!(block(5_000) > budget / 2 && block(5_000) < budget * 9 / 10);
    let analytics = AnalyticsService::new(store.clone(), None, QueryService::new(store, log)).with_block_budget(budget);
    let newest = (chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap() - chrono::NaiveDate::default()).num_days();
    let day = |back: usize| u32::try_from(newest).unwrap() - back as u32;

    assert_eq!(analytics.warm(31, true).await.unwrap(), 1);
    let held: Vec<bool> = (0..5).map(|back| analytics.holds_day(&tenant, day(back))).collect();
    assert_eq!(
        held,
        [false, true, true, true, false],
        "the newest day too large, then three days until half the cache"
    );
    assert_eq!(watched.fact_scans.load(Ordering::SeqCst), 3, "only the days warmed were read");

    // A question on the newest day builds its block, and keeps it.
    let question = AnalyticsQuery {
        measure: Measure::Statements,
        by: None,
        since_day: Some(day(0)),
        until_day: Some(day(0) + 1),
        filters: vec![(Dimension::Verb, "http://example.com/verbs/v0".to_owned())],
        limit: 10,
    };
    let expected = (0..5_000).filter(|n| n % 3 == 0).count() as f64;
    for asked in 1..=2 {
        let rows = analytics.answer(&tenant, &question).await.unwrap();
        assert_eq!(rows.iter().map(|row| row.value).sum::<f64>(), expected, "question {asked}: {rows:?}");
        assert_eq!(watched.fact_scans.load(Ordering::SeqCst), 5, "the newest day read once, in two parts");
    }
    assert!(analytics.holds_day(&tenant, day(0)));
}

/// How [`assert_answers_as_replayed`] compares the rows of an answer.
#[derive(Clone, Copy, PartialEq)]
enum RowOrder {
    /// In the order answered.
    Answered,
    /// In key order.
    ByKey,
}

/// Every answer of [`every_answer`] from `store` equals the answer of a
/// store rebuilt by replaying `log` into `dir`/rebuilt, which counts
/// `statements`, each once.
async fn assert_answers_as_replayed(
    dir: &Path,
    log: &Arc<dyn EventLog>,
    store: &Arc<dyn QueryStore>,
    statements: f64,
    order: RowOrder,
) {
    use lrs_core::analytics::AnalyticsService;

    let rebuilt: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.join("rebuilt")).unwrap());
    lrs_core::replay::replay(log.clone(), rebuilt.clone(), |_, _| {}).await.unwrap();
    let answers = |store: &Arc<dyn QueryStore>| {
        AnalyticsService::new(store.clone(), None, QueryService::new(store.clone(), log.clone()))
    };
    let in_order = |mut answers: Vec<(String, Vec<(String, f64)>)>| {
        if order == RowOrder::ByKey {
            answers.iter_mut().for_each(|(_, rows)| rows.sort_by(|a, b| a.0.cmp(&b.0)));
        }
        answers
    };
    let expected = in_order(every_answer(&answers(&rebuilt)).await);
    let counted: f64 = expected[0].1.iter().map(|(_, value)| value).sum();
    assert_eq!(counted, statements, "every statement counted once: {:?}", expected[0]);
    assert_eq!(in_order(every_answer(&answers(store)).await), expected);
}

/// The analytics outbox holds a row per projector batch (two writes in the
/// store for what were two a statement). The builder takes a row in part
/// when a pass is full, reads past the entries it applied when a batch is
/// written again from an earlier record (as a projector applying it again
/// after a crash may), and reads rows of the earlier form (one entry each):
/// every statement is counted once, as a replay counts them.
#[tokio::test]
async fn the_outbox_holds_a_row_per_batch_and_the_builder_takes_each_entry_once() {
    use lrs_core::projection::analytics::builder::RollupBuilder;
    use lrs_core::projection::analytics::{decode_outbox_row, encode_outbox_row, OutboxItem};
    use lrs_core::tables::analytics::{outbox_clustering, outbox_partition};
    use lrs_core::{Table, WriteBatch};

    let dir = tempfile::tempdir().unwrap();
    {
        let lrs = Lrs::start(dir.path());
        // Three sends of 100 over a few days and learners.
        for send in 0..3 {
            let sent: Vec<Value> =
                (0..100).map(|n| scored(send * 100 + n, (send * 100 + n) % 70, (n % 4) as i64)).collect();
            lrs.post(Value::Array(sent)).await.unwrap();
        }
        lrs.shutdown().await;
    }
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let store: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    let outbox = || async {
        let rows = store.dump(Table::AnalyticsOutbox).await.unwrap();
        rows.into_iter()
            .map(|(_, clustering, value)| {
                let items = decode_outbox_row(&clustering, &value).expect("a readable row");
                (clustering, items)
            })
            .collect::<Vec<(Vec<u8>, Vec<OutboxItem>)>>()
    };
    let rows = outbox().await;
    assert_eq!(rows.iter().map(|(_, items)| items.len()).collect::<Vec<_>>(), [100, 100, 100], "a row per batch");
    let mut places = Vec::new();
    for (clustering, items) in &rows {
        let (offset, seq, _) = items.last().unwrap();
        assert_eq!(clustering, &outbox_clustering(*offset, *seq), "a row is keyed by its last entry");
        places.extend(items.iter().map(|(offset, seq, _)| outbox_clustering(*offset, *seq)));
    }
    assert!(places.windows(2).all(|pair| pair[0] < pair[1]), "entries in log order, each once");

    let builder = RollupBuilder::new(store.clone(), 0);
    assert_eq!(builder.apply_next(150).await.unwrap(), 150);
    let left = outbox().await;
    assert_eq!(left.len(), 2, "the first row taken whole, the second in part");
    assert_eq!((&left[0].0, &left[1].0), (&rows[1].0, &rows[2].0));

    // The first two batches written again as one, over the second's row (a
    // projector applying them again from the first record); the third's
    // entries as rows of the earlier form.
    let partition = outbox_partition(0);
    let mut batch = WriteBatch::default();
    let both: Vec<OutboxItem> = rows[0].1.iter().chain(&rows[1].1).cloned().collect();
    batch.put(Table::AnalyticsOutbox, partition.clone(), rows[1].0.clone(), encode_outbox_row(&both));
    batch.delete(Table::AnalyticsOutbox, partition.clone(), rows[2].0.clone());
    for (offset, seq, entry) in &rows[2].1 {
        batch.put(Table::AnalyticsOutbox, partition.clone(), outbox_clustering(*offset, *seq), entry.encode());
    }
    store.write(batch).await.unwrap();
    assert_eq!(builder.apply_next(usize::MAX).await.unwrap(), 150, "the second's last 50 and the third's 100");
    assert!(outbox().await.is_empty(), "every row applied is deleted");
    builder.drain().await.unwrap();

    // Rows in key order: sums added up over other passes than the replay's
    // differ in their last bits, which can order groups of the same
    // (rounded) value otherwise.
    assert_answers_as_replayed(dir.path(), &log, &store, 300.0, RowOrder::ByKey).await;
}

/// The builder reads its stale marks (the groups whose whole-time values
/// it must recompute) from the store once, and keeps them as it writes
/// them: a refresh does not scan them again (a scan walked every version of
/// every mark written and deleted since the store's last flush). A refresh
/// recomputes exactly the groups marked since the last one. After a failed
/// write it reads them again, nothing marked is lost, and the values over
/// all days equal those of a store built in one pass.
#[tokio::test]
async fn the_builder_reads_its_stale_marks_once_and_a_refresh_takes_those_marked_since() {
    use lrs_core::projection::analytics::builder::RollupBuilder;
    use lrs_core::tables::analytics::stale_partition;
    use lrs_core::Table;
    use std::sync::atomic::Ordering;

    let dir = tempfile::tempdir().unwrap();
    {
        let lrs = Lrs::start(dir.path());
        // Four sends of 100: new learners and days in each, some groups shared.
        for send in 0..4 {
            let sent: Vec<Value> =
                (0..100).map(|n| scored(n, send * 100 + n % 40, (send * 3 + n % 2) as i64)).collect();
            lrs.post(Value::Array(sent)).await.unwrap();
        }
        lrs.shutdown().await;
    }
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let watched = Arc::new(common::WatchedStore::new(EmbeddedStore::open(&dir.path().join("store")).unwrap()));
    let store: Arc<dyn QueryStore> = watched.clone();
    let marks = || async {
        let meta = store.dump(Table::Meta).await.unwrap();
        meta.iter().filter(|(p, _, _)| *p == stale_partition(0)).count()
    };
    let builder = RollupBuilder::new(store.clone(), 0);
    for pass in 0..3 {
        assert_eq!(builder.apply_next(100).await.unwrap(), 100);
        let marked = marks().await;
        assert!(marked > 40, "pass {pass}: {marked} groups marked");
        assert_eq!(builder.refresh_whole().await.unwrap(), marked, "pass {pass}: the groups marked since the last");
        assert_eq!(marks().await, 0, "pass {pass}: every mark taken");
        assert_eq!(watched.stale_scans.load(Ordering::SeqCst), 1, "pass {pass}: the marks read once");
    }
    // The last pass, then a refresh whose write fails: the marks stay, and
    // are read again.
    assert_eq!(builder.apply_next(100).await.unwrap(), 100);
    let marked = marks().await;
    watched.failing.store(true, Ordering::SeqCst);
    assert!(builder.refresh_whole().await.is_err());
    watched.failing.store(false, Ordering::SeqCst);
    assert_eq!(marks().await, marked, "nothing taken by a failed write");
    assert_eq!(builder.refresh_whole().await.unwrap(), marked);
    assert_eq!(watched.stale_scans.load(Ordering::SeqCst), 2, "read again after the failed write");
    assert_eq!(marks().await, 0);

    assert_answers_as_replayed(dir.path(), &log, &store, 400.0, RowOrder::Answered).await;
}

/// A builder pass lets the other tasks of its runtime run while it works:
/// the projectors, whose batches single POSTs wait for, run on the same
/// runtime, and the store answers the pass's reads at once (only its write
/// goes to a thread of its own), so a pass that never yielded held a worker
/// thread from its first read to its write: up to a few hundred
/// milliseconds on a large store.
#[tokio::test(flavor = "current_thread")]
async fn a_builder_pass_lets_other_tasks_of_its_runtime_run() {
    use lrs_core::projection::analytics::builder::RollupBuilder;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let dir = tempfile::tempdir().unwrap();
    {
        let lrs = Lrs::start(dir.path());
        // 3,000 statements over 60 days: a pass over many groups.
        let sent: Vec<Value> = (0..3_000).map(|n| scored(n, n % 300, -((n % 60) as i64))).collect();
        lrs.post(Value::Array(sent)).await.unwrap();
        lrs.shutdown().await;
    }
    let watched = Arc::new(common::WatchedStore::new(EmbeddedStore::open(&dir.path().join("store")).unwrap()));
    // A task that counts each time it is let run.
    let turns = Arc::new(AtomicUsize::new(0));
    let counter = tokio::spawn({
        let turns = turns.clone();
        async move {
            loop {
                turns.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        }
    });
    *watched.read_marks.lock().unwrap() = Some((turns.clone(), Vec::new()));
    let builder = RollupBuilder::new(watched.clone(), 0);
    assert_eq!(builder.apply_next(usize::MAX).await.unwrap(), 3_000);
    counter.abort();
    let (_, marks) = watched.read_marks.lock().unwrap().take().unwrap();
    // On this one thread, the counter moves only when the pass yields (its
    // write at the end waits on a thread of its own, so it is let run then
    // in any case): the turns it had between the pass's first and last read.
    let (first, last) = (marks[0], marks[marks.len() - 1]);
    assert!(marks.len() > 50, "a pass of {} reads", marks.len());
    assert!(last > first, "the pass's {} reads ran with no other task let run between them", marks.len());
}

/// The quality projection adds each batch's name counts into a pending row,
/// and every few batches adds the pending rows into the name rows and
/// deletes them; the store keeps what was deleted until a compaction, so a
/// merge that read the pending partition from its start stepped over every
/// row merged before (2.5–10 ms of a batch at 10M statements). A process's
/// first merge after a restart reads from where the last merge left off (a
/// mark it wrote), not from the start, and so does the quality report; the
/// counts stay exact, also when the mark is ahead of the batch applied.
#[tokio::test]
async fn after_a_restart_pending_names_are_read_from_where_the_last_merge_left_off() {
    use lrs_core::quality::QualityService;
    use lrs_core::store::Table;
    use lrs_core::tables::quality::{
        pending_names_mark_clustering, pending_names_mark_partition, pending_names_mark_value, pending_names_partition,
    };
    use lrs_core::WriteBatch;
    use std::collections::BTreeSet;
    use std::ops::Bound;
    use std::ops::RangeBounds;

    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId::parse("default").unwrap();
    let pending = pending_names_partition(&tenant);
    // Verb `a` for even statements, `b` for odd ones, both displayed "Did":
    // a drift of the name "did".
    let sent = |n: usize| {
        let verb = if n.is_multiple_of(2) { "http://example.com/v/a" } else { "http://example.com/v/b" };
        let mut statement = statement(Uuid::new_v4(), verb, &format!("l{n}@example.com"), "http://example.com/act");
        statement["verb"]["display"] = json!({"en-US": "Did"});
        statement
    };
    let (mut seen, mut live) = (BTreeSet::new(), BTreeSet::new());
    {
        let lrs = Lrs::start(dir.path());
        // One statement a request: a projector batch each, more than one merge's worth.
        for n in 0..45 {
            lrs.post(sent(n)).await.unwrap();
            let rows = lrs.store.dump(Table::QualityNames).await.unwrap();
            live = rows.into_iter().filter(|row| row.0 == pending).map(|row| row.1).collect();
            seen.extend(live.iter().cloned());
        }
        lrs.shutdown().await;
    }
    let merged: Vec<_> = seen.difference(&live).collect();
    assert!(!merged.is_empty() && !live.is_empty(), "{} rows merged, {} pending at the stop", merged.len(), live.len());

    let watched = Arc::new(common::WatchedStore::new(EmbeddedStore::open(&dir.path().join("store")).unwrap()));
    let lrs = Lrs::start_on(dir.path(), watched.clone());
    let report = || async { QualityService::new(lrs.store.clone()).report(&tenant, 0, u32::MAX).await.unwrap() };
    // The report adds the pending counts in, reading none of the merged rows.
    let did = report().await.drift.verbs.into_iter().find(|group| group.name == "did").expect("the drift of \"did\"");
    assert_eq!(did.ids, ["http://example.com/v/a", "http://example.com/v/b"]);
    assert_eq!(did.counts, [23, 22], "the 45 statements, merged or pending");
    let read = std::mem::take(&mut *watched.name_scans.lock().unwrap());
    let read: Vec<_> = read.into_iter().filter(|scan| scan.0 == pending).map(|scan| scan.1).collect();
    assert!(!read.is_empty(), "the report reads the pending rows");
    assert!(merged.iter().all(|row| !read.iter().any(|range| range.contains(*row))), "the report read a merged row");
    assert!(live.iter().all(|row| read.iter().any(|range| range.contains(row))), "the report missed a pending row");

    lrs.post(sent(45)).await.unwrap();
    let scans: Vec<_> = watched.name_scans.lock().unwrap().iter().filter(|scan| scan.0 == pending).cloned().collect();
    assert_eq!(scans.len(), 1, "the first batch after the restart merges what is pending");
    match &scans[0].1 {
        (Bound::Included(from), Bound::Unbounded) => {
            assert!(merged.iter().all(|row| *row < from), "the read starts after every row merged before the stop");
            assert!(live.iter().all(|row| row >= from), "and at or before every row still pending");
        }
        other => panic!("the pending rows were read from {other:?}, not from the last merge"),
    }
    // Every row was added up: 23 statements of `a`, 23 of `b`, none pending.
    let report = report().await;
    let did = report.drift.verbs.iter().find(|group| group.name == "did").expect("the drift of \"did\"");
    assert_eq!(did.ids, ["http://example.com/v/a", "http://example.com/v/b"]);
    assert_eq!(did.counts, [23, 23]);
    let left = lrs.store.dump(Table::QualityNames).await.unwrap().into_iter().filter(|row| row.0 == pending).count();
    assert_eq!(left, 0, "the merge deleted every pending row");

    // A mark at or after a batch's start is not relied on (that batch, or
    // a later one, is being applied again): the merge reads every row.
    for n in 46..56 {
        lrs.post(sent(n)).await.unwrap();
    }
    lrs.shutdown().await;
    drop(watched);
    let store = EmbeddedStore::open(&dir.path().join("store")).unwrap();
    let mut ahead = WriteBatch::default();
    let (marks, mark) = (pending_names_mark_partition(&tenant), pending_names_mark_clustering(0));
    ahead.put(Table::QualityNames, marks, mark, pending_names_mark_value(u64::MAX));
    store.write(ahead).await.unwrap();
    drop(store);
    let lrs = Lrs::start(dir.path());
    lrs.post(sent(56)).await.unwrap();
    let report = QualityService::new(lrs.store.clone()).report(&tenant, 0, u32::MAX).await.unwrap();
    let did = report.drift.verbs.iter().find(|group| group.name == "did").expect("the drift of \"did\"");
    assert_eq!(did.counts, [29, 28], "the 57 statements, none lost to a mark ahead");
    lrs.shutdown().await;
}
