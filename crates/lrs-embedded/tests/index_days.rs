//! A statement query walks the days that hold rows of its key, not every day
//! of the tenant's history: a page of a registration, a rare verb or an agent
//! seen twice in a year reads a few days of index rows however long ago the
//! tenant began. Also: a tenant written before days were listed is answered
//! whole and lists its days from then on; erasure takes the erased agent's
//! days; retention takes the days it emptied.
//!
//! A tenant's history spans hundreds of days here without waiting for them:
//! the log below moves each record's time back by as many days as the test
//! set when it was appended. That is the only double; the log, store, vault,
//! gateway, projector and query service are the embedded ones `lrs serve`
//! runs.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::WatchedStore;
use lrs_core::event::Command;
use lrs_core::log::{LogError, LogRecord};
use lrs_core::tables::{bucket_of, parse_day_clustering, tenant_meta_partition, IndexKey, IndexScope, TenantMeta};
use lrs_core::vault::{subject_index_key, KeyVault};
use lrs_core::{
    EventLog, Gateway, Principal, Projector, QueryService, QueryStore, StatementQuery, Table, TenantId, VerdictBus,
    WriteBatch,
};
use lrs_embedded::{EmbeddedLog, EmbeddedStore, FileVault};
use serde_json::{json, Value};
use tokio::sync::watch;
use uuid::Uuid;

const DAY_MICROS: i64 = 86_400_000_000;
/// Days the tenant's history spans.
const DAYS: i64 = 240;

/// The embedded log, each record's time moved back by the days the test set
/// when it was appended (`days_ago`).
struct DaysAgoLog {
    inner: EmbeddedLog,
    days_ago: AtomicI64,
    shifts: tokio::sync::Mutex<HashMap<u64, i64>>,
}

#[async_trait]
impl EventLog for DaysAgoLog {
    async fn append(&self, key: &[u8], payload: Vec<u8>) -> Result<(u32, u64), LogError> {
        // Held from before the record exists until its shift is known, so a
        // reader that got the record waits for its shift.
        let mut shifts = self.shifts.lock().await;
        let (partition, offset) = self.inner.append(key, payload).await?;
        shifts.insert(offset, self.days_ago.load(Ordering::SeqCst) * DAY_MICROS);
        Ok((partition, offset))
    }

    async fn read(&self, partition: u32, from: u64, max: usize, wait: Duration) -> Result<Vec<LogRecord>, LogError> {
        let mut records = self.inner.read(partition, from, max, wait).await?;
        let shifts = self.shifts.lock().await;
        for record in &mut records {
            record.timestamp_micros -= shifts.get(&record.offset).copied().unwrap_or(0);
        }
        Ok(records)
    }

    async fn end_offset(&self, partition: u32) -> Result<u64, LogError> {
        self.inner.end_offset(partition).await
    }

    fn partitions(&self) -> u32 {
        self.inner.partitions()
    }
}

/// An LRS with sealing, as `lrs serve` runs it, on the log above.
struct Lrs {
    log: Arc<DaysAgoLog>,
    store: Arc<WatchedStore>,
    vault: KeyVault,
    gateway: Gateway,
    query: QueryService,
    principal: Principal,
    stop: watch::Sender<bool>,
    projector: tokio::task::JoinHandle<()>,
}

impl Lrs {
    fn start(dir: &Path, log: Arc<DaysAgoLog>) -> Self {
        let store = Arc::new(WatchedStore::new(EmbeddedStore::open(&dir.join("store")).unwrap()));
        let vault = KeyVault::new(Arc::new(FileVault::open(&dir.join("keys")).unwrap())).with_cache(1_000);
        let bus = VerdictBus::new();
        let (events, rows): (Arc<dyn EventLog>, Arc<dyn QueryStore>) = (log.clone(), store.clone());
        let gateway = Gateway::new(events.clone(), Some(rows.clone()), bus.clone(), Duration::from_secs(20))
            .with_vault(Arc::new(vault.clone()));
        let query = QueryService::new(rows.clone(), events.clone()).with_vault(vault.clone());
        let (stop, stopped) = watch::channel(false);
        let projector = Projector::new(events, rows, Arc::new(bus), 0).with_vault(vault.clone());
        let projector = tokio::spawn(async move { projector.run(stopped).await.unwrap() });
        let principal = Principal::with_all_scopes(
            TenantId::parse("t").unwrap(),
            json!({"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": "t"}}),
        );
        Self { log, store, vault, gateway, query, principal, stop, projector }
    }

    async fn shutdown(self) {
        self.stop.send(true).unwrap();
        self.projector.await.unwrap();
    }

    /// Posts `statement` as if `days_ago` days before now; its id and `stored`.
    async fn post(&self, days_ago: i64, statement: Value) -> (Uuid, u64) {
        self.log.days_ago.store(days_ago, Ordering::SeqCst);
        let principal = &self.principal;
        let ids = self.gateway.store_statements(principal, statement, xapi::Version::V1_0_3, None, Vec::new());
        let id = ids.await.unwrap()[0];
        let stored =
            self.query.statement(&principal.tenant, id, false).await.unwrap().expect("stored")["stored"].clone();
        (id, xapi::parse_timestamp(stored.as_str().unwrap()).unwrap().timestamp_micros() as u64)
    }

    /// The ids `query` answers (every page), and how many scans of the
    /// statement indexes answering it took.
    async fn list(&self, query: StatementQuery) -> (Vec<Uuid>, usize) {
        let before = self.store.index_scans.load(Ordering::SeqCst);
        let mut query = query;
        let mut found = Vec::new();
        loop {
            let page = self.query.statements(&self.principal.tenant, &query).await.unwrap();
            found.extend(page.statements.iter().map(|s| Uuid::parse_str(s["id"].as_str().unwrap()).unwrap()));
            match page.more {
                Some(cursor) => query = StatementQuery::from_cursor(&cursor).unwrap(),
                None => break,
            }
        }
        (found, self.store.index_scans.load(Ordering::SeqCst) - before)
    }

    /// The days `index_days` lists for `key`.
    async fn listed_days(&self, key: &IndexKey) -> Vec<u32> {
        let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
        let partition = key.days_partition();
        let rows = self.store.scan(Table::IndexDays, &partition, all, lrs_core::store::Order::Ascending, 1_000);
        rows.await.unwrap().iter().map(|(day, _)| parse_day_clustering(day).unwrap()).collect()
    }
}

fn log_in(dir: &Path) -> Arc<DaysAgoLog> {
    let inner = EmbeddedLog::open(&dir.join("log.redb")).unwrap();
    Arc::new(DaysAgoLog { inner, days_ago: AtomicI64::new(0), shifts: tokio::sync::Mutex::default() })
}

fn statement(email: &str, verb: &str, activity: &str, registration: Option<Uuid>) -> Value {
    let mut statement = json!({
        "actor": {"mbox": format!("mailto:{email}")},
        "verb": {"id": verb},
        "object": {"id": activity},
        "context": {"instructor": {"mbox": "mailto:teacher@example.com"}},
    });
    if let Some(registration) = registration {
        statement["context"]["registration"] = json!(registration.to_string());
    }
    statement
}

fn agent(email: &str) -> Option<String> {
    Some(xapi::parse_agent_param(&json!({"mbox": format!("mailto:{email}")}).to_string()).unwrap().as_str().into())
}

/// What a history of `DAYS` days holds: `rare@` on its first day and in its
/// middle (a rare verb, a rare activity, a registration on the first day),
/// `busy@` once every day.
struct History {
    /// The two statements of rare@, oldest first, with their `stored`.
    rare: [(Uuid, u64); 2],
    registration: Uuid,
    /// Every statement, oldest first.
    all: Vec<Uuid>,
}

const RARE_VERB: &str = "http://example.com/verbs/rare";
const RARE_ACTIVITY: &str = "http://example.com/rare";

async fn post_history(lrs: &Lrs) -> History {
    let registration = Uuid::new_v4();
    let mut all = Vec::new();
    let mut rare = Vec::new();
    for days_ago in (1..=DAYS).rev() {
        if days_ago == DAYS || days_ago == DAYS / 2 {
            let first = days_ago == DAYS;
            let posted = lrs
                .post(days_ago, statement("rare@example.com", RARE_VERB, RARE_ACTIVITY, first.then_some(registration)))
                .await;
            rare.push(posted);
            all.push(posted.0);
        }
        let (busy, _) = lrs
            .post(
                days_ago,
                statement("busy@example.com", "http://example.com/verbs/busy", "http://example.com/busy", None),
            )
            .await;
        all.push(busy);
    }
    History { rare: [rare[0], rare[1]], registration, all }
}

/// A page of a rare key reads the two days that hold it, not the
/// tenant's `DAYS` days; every answer is the one the history implies,
/// newest or oldest first, through `more`, within since/until.
#[tokio::test]
async fn a_query_reads_the_days_that_hold_its_key_not_every_day_of_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path(), log_in(dir.path()));
    let history = post_history(&lrs).await;
    let [(first, first_stored), (second, second_stored)] = history.rare;
    assert!(bucket_of(second_stored) - bucket_of(first_stored) >= (DAYS / 2 - 1) as u32, "days apart");

    let by = |query: StatementQuery| StatementQuery { limit: 1, ..query };
    let queries = [
        ("agent", by(StatementQuery { agent: agent("rare@example.com"), ..Default::default() }), vec![second, first]),
        ("verb", by(StatementQuery { verb: Some(RARE_VERB.into()), ..Default::default() }), vec![second, first]),
        (
            "activity",
            by(StatementQuery { activity: Some(RARE_ACTIVITY.into()), ..Default::default() }),
            vec![second, first],
        ),
        (
            "registration",
            StatementQuery { registration: Some(history.registration), ..Default::default() },
            vec![first],
        ),
        (
            "related agent",
            by(StatementQuery { agent: agent("rare@example.com"), related_agents: true, ..Default::default() }),
            vec![second, first],
        ),
        (
            "agent, oldest first",
            by(StatementQuery { agent: agent("rare@example.com"), ascending: true, ..Default::default() }),
            vec![first, second],
        ),
        (
            "agent since the first",
            StatementQuery { agent: agent("rare@example.com"), since: Some(first_stored), ..Default::default() },
            vec![second],
        ),
        (
            "agent until the first",
            StatementQuery { agent: agent("rare@example.com"), until: Some(first_stored), ..Default::default() },
            vec![first],
        ),
    ];
    for (label, query, expected) in queries {
        let (found, scans) = lrs.list(query).await;
        assert_eq!(found, expected, "{label}");
        // Each page reads each partition of a day holding the key once or
        // twice (a related query has two partitions a day).
        let pages = expected.len() + 1;
        assert!(scans <= 2 * 2 * pages, "{label}: {scans} scans of the indexes, over {DAYS} days of history");
    }
    // A key no statement has: no day read.
    let (found, scans) = lrs.list(StatementQuery { agent: agent("nobody@example.com"), ..Default::default() }).await;
    assert_eq!((found, scans), (Vec::<Uuid>::new(), 0));
    // The whole history, newest first, a page at a time, all there.
    let (found, _) = lrs.list(StatementQuery { limit: 50, ..Default::default() }).await;
    assert_eq!(found, history.all.iter().rev().copied().collect::<Vec<_>>());
    lrs.shutdown().await;
}

/// A tenant whose rows an earlier version wrote (its meta without the day
/// days are listed from, no days listed) is answered whole, lists the days
/// of what comes after, and a query reads the old days and the new listed
/// ones.
#[tokio::test]
async fn a_tenant_written_before_days_were_listed_is_answered_whole_and_lists_days_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_in(dir.path());
    let lrs = Lrs::start(dir.path(), log.clone());
    let history = post_history(&lrs).await;
    let tenant = lrs.principal.tenant.clone();
    // As an earlier version left it: 12 bytes of meta, no `index_days`.
    let meta_partition = tenant_meta_partition(&tenant);
    let meta = lrs.store.get(Table::Meta, &meta_partition, &[]).await.unwrap().unwrap();
    let last_stored = TenantMeta::decode(&meta).last_stored;
    let mut batch = WriteBatch::default();
    batch.put(Table::Meta, meta_partition.clone(), Vec::new(), meta[..12].to_vec());
    for (partition, clustering, _) in lrs.store.dump(Table::IndexDays).await.unwrap() {
        batch.delete(Table::IndexDays, partition, clustering);
    }
    lrs.store.write(batch).await.unwrap();
    lrs.shutdown().await;

    let lrs = Lrs::start(dir.path(), log);
    let rare = agent("rare@example.com");
    let [(first, _), (second, _)] = history.rare;
    let (found, _) = lrs.list(StatementQuery { agent: rare.clone(), ..Default::default() }).await;
    assert_eq!(found, [second, first], "the days before are all read");
    let (third, third_stored) = lrs.post(0, statement("rare@example.com", RARE_VERB, RARE_ACTIVITY, None)).await;
    let (found, _) = lrs.list(StatementQuery { agent: rare.clone(), ..Default::default() }).await;
    assert_eq!(found, [third, second, first]);
    let (found, _) =
        lrs.list(StatementQuery { verb: Some(RARE_VERB.into()), ascending: true, ..Default::default() }).await;
    assert_eq!(found, [first, second, third]);
    let meta = TenantMeta::decode(&lrs.store.get(Table::Meta, &meta_partition, &[]).await.unwrap().unwrap());
    assert_eq!(meta.days_listed_from, bucket_of(last_stored) + 1, "listed from the day after the last statement then");
    let subject = lrs.vault.find(&tenant, "mbox:mailto:rare@example.com").await.unwrap().unwrap();
    let key = IndexKey::agent(&tenant, IndexScope::Direct, &subject_index_key(subject.id));
    assert_eq!(lrs.listed_days(&key).await, [bucket_of(third_stored)], "only the day after the change is listed");
    lrs.shutdown().await;
}

/// Erasing an agent takes the days its index keys listed (its other rows
/// go as before); retention takes the days of `statements_by_stored` it
/// emptied; the answers stay those the history implies.
#[tokio::test]
async fn erasure_takes_the_agents_listed_days_and_retention_the_days_it_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = Lrs::start(dir.path(), log_in(dir.path()));
    let history = post_history(&lrs).await;
    let tenant = lrs.principal.tenant.clone();
    let [(first, first_stored), (second, second_stored)] = history.rare;

    let subject = lrs.vault.find(&tenant, "mbox:mailto:rare@example.com").await.unwrap().unwrap();
    let direct = IndexKey::agent(&tenant, IndexScope::Direct, &subject_index_key(subject.id));
    let days = BTreeSet::from([bucket_of(first_stored), bucket_of(second_stored)]);
    assert_eq!(lrs.listed_days(&direct).await, days.into_iter().collect::<Vec<_>>());
    lrs.gateway.submit_admin(&tenant, &Command::ForgetSubject { subject: subject.id }).await.unwrap();
    assert_eq!(lrs.listed_days(&direct).await, Vec::<u32>::new(), "the erased agent's days are gone");
    let verb = IndexKey::verb(&tenant, RARE_VERB);
    assert_eq!(lrs.listed_days(&verb).await.len(), 2, "the verb's days are not the agent's");
    let (found, _) = lrs.list(StatementQuery { verb: Some(RARE_VERB.into()), ..Default::default() }).await;
    assert_eq!(found, Vec::<Uuid>::new(), "its statements are gone");

    // Retention at the start of the day of the middle of the history.
    let cutoff = u64::from(bucket_of(second_stored)) * DAY_MICROS as u64;
    lrs.gateway.submit_admin(&tenant, &Command::ApplyRetention { before_micros: cutoff }).await.unwrap();
    let all = IndexKey::all(&tenant);
    let listed = lrs.listed_days(&all).await;
    assert_eq!(listed.first(), Some(&bucket_of(second_stored)), "no day before the cutoff is listed");
    let (found, _) = lrs.list(StatementQuery { limit: 50, ..Default::default() }).await;
    let kept: Vec<Uuid> = history.all.iter().rev().copied().filter(|id| *id != first && *id != second).collect();
    let kept = &kept[..kept.len() - (DAYS / 2) as usize];
    assert_eq!(found, kept, "the statements from the cutoff on");
    assert_eq!(listed.len(), kept.len(), "a day listed for each day of busy@ from the cutoff");
    lrs.shutdown().await;
}
