//! The key vault on the embedded store, with the subject cache `lrs serve`
//! uses: one subject per agent however many requests name it at once, and a
//! destroyed subject is never served again, from the store or the cache, and
//! leaves no trace in the vault's files.

use std::sync::Arc;

use lrs_core::vault::{open_with, seal, KeyVault, TableVaultStore};
use lrs_core::TenantId;
use lrs_embedded::{EmbeddedStore, FileVault};

fn vault(dir: &std::path::Path) -> KeyVault {
    KeyVault::new(Arc::new(FileVault::open(&dir.join("keys")).unwrap())).with_cache(1_000)
}

/// The vault without its cache: every answer comes from the files.
fn uncached_vault(dir: &std::path::Path) -> KeyVault {
    KeyVault::new(Arc::new(FileVault::open(&dir.join("keys")).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_naming_a_new_agent_at_once_get_one_subject() {
    let dir = tempfile::tempdir().unwrap();
    // Uncached, so that each request's answer is what the files hold; and
    // four vaults over the same files, as four processes would be, so that
    // only the files' conditional write keeps the subject one.
    let vaults: Vec<KeyVault> = (0..4).map(|_| uncached_vault(dir.path())).collect();
    let tenant = TenantId::parse("t").unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let (vault, tenant) = (vaults[n % 4].clone(), tenant.clone());
            tokio::spawn(async move { vault.subject(&tenant, "mbox:mailto:new@example.com").await.unwrap() })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().id);
    }
    assert_eq!(ids.len(), 1, "one subject, so erasing the agent destroys the only key: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_naming_new_and_known_agents_gets_one_subject_each() {
    let dir = tempfile::tempdir().unwrap();
    let vault = vault(dir.path());
    let files = dir.path().join("keys");
    a_batch_gets_one_subject_each(&vault, &uncached_vault(dir.path())).await;
    assert_eq!(files_under(&files).len(), 2 * 301, "two rows per agent and no temporary file left");
}

/// The same through the vault table of a query store (how the vault is
/// kept on ScyllaDB), here the embedded one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_naming_new_and_known_agents_gets_one_subject_each_in_a_vault_table() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn lrs_core::QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    let vault = KeyVault::new(TableVaultStore::new(Arc::clone(&store))).with_cache(1_000);
    a_batch_gets_one_subject_each(&vault, &KeyVault::new(TableVaultStore::new(store))).await;
}

/// Asks `vault` for 300 new agents, one known and one named twice, and
/// checks the answers against what `reader` (uncached) finds.
async fn a_batch_gets_one_subject_each(vault: &KeyVault, reader: &KeyVault) {
    let tenant = TenantId::parse("t").unwrap();
    let known = vault.subject(&tenant, "mbox:mailto:known@example.com").await.unwrap();
    let mut named: Vec<String> = (0..300).map(|n| format!("mbox:mailto:new-{n}@example.com")).collect();
    named.push("mbox:mailto:known@example.com".into());
    named.push("mbox:mailto:new-7@example.com".into());
    let agents: Vec<&str> = named.iter().map(String::as_str).collect();

    let subjects = vault.subjects(&tenant, &agents).await.unwrap();

    assert_eq!(subjects.len(), agents.len(), "a subject for every agent named, in order");
    assert_eq!(subjects[300], known, "a known agent keeps its subject");
    assert_eq!(subjects[301], subjects[7], "an agent named twice gets one subject");
    let ids: std::collections::HashSet<_> = subjects.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), 301, "a new subject for each new agent");
    // What the rows hold, read by a vault that never saw the batch.
    for (agent, subject) in agents.iter().zip(&subjects) {
        assert_eq!(reader.find(&tenant, agent).await.unwrap().as_ref(), Some(subject), "{agent}");
        assert_eq!(reader.by_id(&tenant, subject.id).await.unwrap().as_ref(), Some(subject), "{agent}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_naming_the_same_new_agents_at_once_get_one_subject_each() {
    let dir = tempfile::tempdir().unwrap();
    // Four vaults over the same files, as four processes would be: only the
    // files' conditional writes keep each agent's subject one.
    let vaults: Vec<KeyVault> = (0..4).map(|_| uncached_vault(dir.path())).collect();
    let agents = batches_at_once(&vaults, &uncached_vault(dir.path())).await;
    let files = files_under(&dir.path().join("keys"));
    assert_eq!(files.len(), 2 * agents, "the losers' subject rows are removed: {}", files.len());
}

/// The same through the vault table of a query store (ScyllaDB's
/// conditional writes are lightweight transactions), here the embedded one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_naming_the_same_new_agents_at_once_get_one_subject_each_in_a_vault_table() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn lrs_core::QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    let vault = || KeyVault::new(TableVaultStore::new(Arc::clone(&store)));
    let vaults: Vec<KeyVault> = (0..4).map(|_| vault()).collect();
    let agents = batches_at_once(&vaults, &vault()).await;
    let rows = store.dump(lrs_core::Table::Vault).await.unwrap();
    assert_eq!(rows.len(), 2 * agents, "the losers' subject rows are removed: {}", rows.len());
}

/// Twelve batches of 40 of 60 new agents, each in its own order, asked of
/// `vaults` at once; checks every agent got one subject, which `reader`
/// finds, and returns how many agents there were.
async fn batches_at_once(vaults: &[KeyVault], reader: &KeyVault) -> usize {
    let tenant = TenantId::parse("t").unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|n: usize| {
            let (vault, tenant) = (vaults[n % vaults.len()].clone(), tenant.clone());
            let named: Vec<String> =
                (0..40).map(|i| format!("mbox:mailto:shared-{}@example.com", (i * 7 + n * 5) % 60)).collect();
            tokio::spawn(async move {
                let agents: Vec<&str> = named.iter().map(String::as_str).collect();
                let subjects = vault.subjects(&tenant, &agents).await.unwrap();
                named.into_iter().zip(subjects).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut subject_of = std::collections::HashMap::new();
    for task in tasks {
        for (agent, subject) in task.await.unwrap() {
            let first = subject_of.entry(agent.clone()).or_insert_with(|| subject.clone());
            assert_eq!(*first, subject, "{agent} got two subjects");
        }
    }
    for (agent, subject) in &subject_of {
        assert_eq!(reader.find(&tenant, agent).await.unwrap().as_ref(), Some(subject), "{agent}");
    }
    subject_of.len()
}

/// Once every directory of the vault exists, looking for the row an
/// earlier vault kept a long agent identifier under (its name too long for
/// a file) must find none, not fail: before, every statement naming such an
/// agent (an `account` of a long home page and name) was answered 503.
#[tokio::test]
async fn an_agent_with_a_long_identifier_gets_a_subject_in_a_full_vault() {
    let dir = tempfile::tempdir().unwrap();
    let vault = vault(dir.path());
    let tenant = TenantId::parse("t").unwrap();
    let named: Vec<String> = (0..2_000).map(|n| format!("mbox:mailto:filler-{n}@example.com")).collect();
    vault.subjects(&tenant, &named.iter().map(String::as_str).collect::<Vec<_>>()).await.unwrap();
    assert_eq!(std::fs::read_dir(dir.path().join("keys")).unwrap().count(), 256, "every directory exists");
    let long = format!("account:https://lms.example-university.edu/users/{}|learner-0001", "a".repeat(120));

    let subject = vault.subject(&tenant, &long).await.unwrap();

    assert_eq!(uncached_vault(dir.path()).find(&tenant, &long).await.unwrap(), Some(subject.clone()));
    vault.destroy(&tenant, subject.id).await.unwrap();
    assert_eq!(uncached_vault(dir.path()).find(&tenant, &long).await.unwrap(), None, "and it can be forgotten");
}

#[tokio::test]
async fn a_destroyed_subject_is_gone_from_the_cache_too() {
    let dir = tempfile::tempdir().unwrap();
    let vault = vault(dir.path());
    let tenant = TenantId::parse("t").unwrap();
    let subject = vault.subject(&tenant, "mbox:mailto:a@example.com").await.unwrap();
    let sealed = seal(b"personal", std::slice::from_ref(&subject));
    // Read through the cache, so that it holds the subject.
    assert_eq!(vault.by_id(&tenant, subject.id).await.unwrap(), Some(subject.clone()));
    assert_eq!(open_with(&vault, &tenant, &sealed).await.unwrap(), Some(b"personal".to_vec()));

    vault.destroy(&tenant, subject.id).await.unwrap();
    assert_eq!(vault.by_id(&tenant, subject.id).await.unwrap(), None);
    assert_eq!(vault.find(&tenant, "mbox:mailto:a@example.com").await.unwrap(), None);
    assert_eq!(open_with(&vault, &tenant, &sealed).await.unwrap(), None, "the sealed value no longer opens");
    let again = vault.subject(&tenant, "mbox:mailto:a@example.com").await.unwrap();
    assert_ne!(again.id, subject.id, "a later sighting gets a new subject");
}

/// The embedded log and store in `dir`.
fn log_and_store(dir: &std::path::Path) -> (Arc<dyn lrs_core::EventLog>, Arc<dyn lrs_core::QueryStore>) {
    let log = Arc::new(lrs_embedded::EmbeddedLog::open(&dir.join("log.redb")).unwrap());
    (log, Arc::new(EmbeddedStore::open(&dir.join("store")).unwrap()))
}

/// A statement `id` of the agent a@example.com, as tenant `t`'s gateway
/// normalised it, sent without a timestamp.
fn statement(id: uuid::Uuid) -> serde_json::Value {
    serde_json::json!({
        "id": id.to_string(), "actor": {"mbox": "mailto:a@example.com"}, "version": "1.0.3",
        "verb": {"id": "http://example.com/verbs/did"}, "object": {"id": "http://example.com/a"},
        "authority": {"account": {"homePage": "http://lrs.example", "name": "t"}}
    })
}

/// Statements sealed in the JSON form of earlier logs (base64 inside the
/// command's JSON) and in the binary form of today's are both projected, so
/// a log written before the change replays into the same tables.
#[tokio::test]
async fn statements_sealed_in_either_log_format_are_projected() {
    use lrs_core::event::{encode, Command};
    use lrs_core::{Projector, QueryService, VerdictBus};
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let (log, store) = log_and_store(dir.path());
    let vault = vault(dir.path());
    let tenant = TenantId::parse("t").unwrap();
    let (old_id, new_id) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let subject = vault.subject(&tenant, "mbox:mailto:a@example.com").await.unwrap();

    let old_seal = seal(&serde_json::to_vec(&statement(old_id)).unwrap(), std::slice::from_ref(&subject));
    let old = Command::StoreStatements {
        statements: vec![json!({ "sealed": old_seal })],
        checks: Vec::new(),
        ids_made: Default::default(),
    };
    log.append(b"t", encode(&tenant, uuid::Uuid::new_v4(), 1, &old)).await.unwrap();
    let new_seal = seal(&serde_json::to_vec(&statement(new_id)).unwrap(), std::slice::from_ref(&subject));
    let new =
        Command::StoreSealedStatements { statements: vec![new_seal], checks: Vec::new(), ids_made: Default::default() };
    log.append(b"t", encode(&tenant, uuid::Uuid::new_v4(), 2, &new)).await.unwrap();

    let projector =
        Projector::new(log.clone(), store.clone(), Arc::new(VerdictBus::new()), 0).with_vault(vault.clone());
    projector.catch_up_with(|_| {}).await.unwrap();
    let query = QueryService::new(store, log).with_vault(vault);
    for id in [old_id, new_id] {
        let stored = query.statement(&tenant, id, false).await.unwrap();
        assert_eq!(stored.expect("projected")["actor"]["mbox"], "mailto:a@example.com");
    }
}

/// A statement's row keeps it as its gateway sealed it, and what the LRS
/// sets is added as it is read: `stored` (the time the log took it), and
/// `timestamp` when it was sent without one, alike by id and in a list; a
/// row written before, which holds both in its sealed body, is answered as
/// it was written.
#[tokio::test]
async fn stored_and_a_missing_timestamp_are_answered_as_the_lrs_set_them() {
    use lrs_core::event::{encode, Command};
    use lrs_core::store::{Table, WriteBatch};
    use lrs_core::tables::{statement_partition, Completion, RowBody, StatementRow};
    use lrs_core::{Projector, QueryService, StatementQuery, VerdictBus};
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let (log, store) = log_and_store(dir.path());
    let vault = vault(dir.path());
    let tenant = TenantId::parse("t").unwrap();
    let subject = vault.subject(&tenant, "mbox:mailto:a@example.com").await.unwrap();
    let (untimed, timed, earlier) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let mut with_timestamp = statement(timed);
    with_timestamp["timestamp"] = json!("2020-01-02T03:04:05.678Z");
    let sealed = [statement(untimed), with_timestamp]
        .iter()
        .map(|s| seal(&serde_json::to_vec(s).unwrap(), std::slice::from_ref(&subject)))
        .collect();
    let before = chrono::Utc::now();
    let command =
        Command::StoreSealedStatements { statements: sealed, checks: Vec::new(), ids_made: Default::default() };
    log.append(b"t", encode(&tenant, uuid::Uuid::new_v4(), 1, &command)).await.unwrap();
    let after = chrono::Utc::now();

    // A row as the projector wrote it before 2026-12-05: `stored` and the
    // timestamp it set (to microseconds, as it writes them) inside the sealed body.
    let mut old = statement(earlier);
    old["timestamp"] = json!("2019-05-06T07:08:09.123400Z");
    old["stored"] = json!("2019-05-06T07:08:09.123400Z");
    let old_micros = chrono::DateTime::parse_from_rfc3339("2019-05-06T07:08:09.1234Z").unwrap().timestamp_micros();
    let row = StatementRow {
        voided: false,
        stored_micros: old_micros as u64,
        body: RowBody::Sealed(seal(&serde_json::to_vec(&old).unwrap(), std::slice::from_ref(&subject))),
        completion: Completion::Unknown,
    };
    let mut batch = WriteBatch::default();
    batch.put(Table::Statements, statement_partition(&tenant, earlier), Vec::new(), row.encode());
    store.write(batch).await.unwrap();

    let projector =
        Projector::new(log.clone(), store.clone(), Arc::new(VerdictBus::new()), 0).with_vault(vault.clone());
    projector.catch_up_with(|_| {}).await.unwrap();
    let query = QueryService::new(store, log).with_vault(vault);
    let by_id = |id| {
        let (query, tenant) = (&query, &tenant);
        async move { query.statement(tenant, id, false).await.unwrap().expect("answered") }
    };
    let time = |s: &serde_json::Value, member: &str| {
        chrono::DateTime::parse_from_rfc3339(s[member].as_str().unwrap_or_else(|| panic!("{member} in {s}"))).unwrap()
    };

    let (untimed_answer, timed_answer) = (by_id(untimed).await, by_id(timed).await);
    let stored = time(&untimed_answer, "stored");
    assert!(before <= stored && stored <= after, "stored {stored} is when the log took it ({before}..{after})");
    assert_eq!(untimed_answer["timestamp"], untimed_answer["stored"], "sent without a timestamp: it is stored's");
    assert_eq!(timed_answer["timestamp"], "2020-01-02T03:04:05.678Z", "a timestamp sent is kept");
    assert!(time(&timed_answer, "stored") > stored, "each statement of a batch has its own stored time");
    let listed = query.statements(&tenant, &StatementQuery::default()).await.unwrap().statements;
    assert_eq!(listed, vec![timed_answer, untimed_answer], "a list answers them as by id, newest first");

    let earlier_answer = by_id(earlier).await;
    assert_eq!(earlier_answer["stored"], "2019-05-06T07:08:09.123400Z");
    assert_eq!(earlier_answer["timestamp"], "2019-05-06T07:08:09.123400Z");
}

/// Every file under `dir`, read whole.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                found.push((path, bytes));
            }
        }
    }
    found
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn a_destroyed_key_leaves_the_vault_files_and_no_row_names_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let vault = vault(dir.path());
    let tenant = TenantId::parse("t").unwrap();
    for n in 0..200 {
        vault.subject(&tenant, &format!("mbox:mailto:other-{n}@example.com")).await.unwrap();
    }
    let agent = "mbox:mailto:to-be-forgotten@example.com";
    let subject = vault.subject(&tenant, agent).await.unwrap();
    let kept = vault.subject(&tenant, "mbox:mailto:kept@example.com").await.unwrap();
    let files = files_under(&dir.path().join("keys"));
    assert!(
        files.iter().any(|(_, bytes)| holds(bytes, subject.key())),
        "the key is on disk before (else the check proves nothing)"
    );
    assert!(!files.iter().any(|(_, bytes)| holds(bytes, b"to-be-forgotten")), "no vault file names the agent");

    vault.destroy(&tenant, subject.id).await.unwrap();
    for (path, bytes) in files_under(&dir.path().join("keys")) {
        assert!(!holds(&bytes, subject.key()), "{} still holds the destroyed key", path.display());
        assert!(!holds(&bytes, subject.id.as_bytes()), "{} still holds the destroyed subject id", path.display());
    }
    assert_eq!(vault.by_id(&tenant, kept.id).await.unwrap(), Some(kept.clone()), "other keys stay");
    drop(vault);
    let reopened = uncached_vault(dir.path());
    assert_eq!(reopened.by_id(&tenant, kept.id).await.unwrap(), Some(kept), "and survive a restart");
    assert_eq!(reopened.by_id(&tenant, subject.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_vault_of_an_earlier_version_is_moved_into_files_and_still_opens_its_seals() {
    use lrs_core::store::{QueryStore, Table, WriteBatch};
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId::parse("t").unwrap();
    // The rows an earlier version wrote in the embedded store: JSON, keyed by the agent.
    let subject = lrs_core::vault::Subject::random();
    let legacy =
        serde_json::json!({"id": subject.id, "agent": "mbox:mailto:old@example.com", "key": subject.key_base64()});
    let key = |kind: &str| {
        let mut key = b"t\x00\x01".to_vec();
        key.extend_from_slice(kind.as_bytes());
        key.extend_from_slice(b"\x00\x01");
        key
    };
    let mut by_agent = key("agent");
    by_agent.extend_from_slice(b"mbox:mailto:old@example.com\x00\x01");
    let mut by_subject = key("subject");
    by_subject.extend_from_slice(subject.id.as_bytes());
    {
        let earlier = EmbeddedStore::open(&dir.path().join("vault")).unwrap();
        let mut batch = WriteBatch::default();
        batch.put(Table::Vault, by_agent, Vec::new(), serde_json::to_vec(&legacy).unwrap());
        batch.put(Table::Vault, by_subject, Vec::new(), serde_json::to_vec(&legacy).unwrap());
        earlier.write(batch).await.unwrap();
    }
    let sealed = seal(b"sealed before", std::slice::from_ref(&subject));
    let files = lrs_embedded::open_vault_moving(&dir.path().join("keys"), &dir.path().join("vault")).unwrap();
    assert!(!dir.path().join("vault").exists(), "the earlier vault is removed once moved");
    let vault = KeyVault::new(Arc::new(files));
    assert_eq!(open_with(&vault, &tenant, &sealed).await.unwrap(), Some(b"sealed before".to_vec()));
    assert_eq!(vault.find(&tenant, "mbox:mailto:old@example.com").await.unwrap().map(|s| s.id), Some(subject.id));
    vault.destroy(&tenant, subject.id).await.unwrap();
    assert_eq!(vault.find(&tenant, "mbox:mailto:old@example.com").await.unwrap(), None, "forgetting removes both rows");
    assert!(files_under(&dir.path().join("keys")).is_empty(), "no row of it is left");
}

/// A gateway that still remembers a forgotten agent's subject (another
/// process's vault cache) seals with the destroyed key: the projector
/// refuses that command, the gateway drops the subject and seals again for a
/// new one, and the client gets its 200. A replay ends in the same state.
#[tokio::test]
async fn a_gateway_remembering_a_forgotten_subject_seals_again_and_a_replay_agrees() {
    use lrs_core::event::Command;
    use lrs_core::{Gateway, Principal, Projector, QueryService, QueryStore, VerdictBus};
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let (log, store) = log_and_store(dir.path());
    let projector_vault = uncached_vault(dir.path());
    let gateway_vault = vault(dir.path()); // its own cache: it never hears of the erasure
    let tenant = TenantId::parse("t").unwrap();
    let bus = VerdictBus::new();
    let gateway = Gateway::new(log.clone(), Some(store.clone()), bus.clone(), std::time::Duration::from_secs(10))
        .with_vault(Arc::new(gateway_vault));
    let projector = Projector::new(log.clone(), store.clone(), Arc::new(bus), 0).with_vault(projector_vault.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move { projector.run(stopped).await.unwrap() });
    let principal = Principal::with_all_scopes(
        tenant.clone(),
        json!({"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": "t"}}),
    );
    let post = |id: uuid::Uuid| {
        let body = json!({"id": id.to_string(), "actor": {"mbox": "mailto:back@example.com"},
                          "verb": {"id": "http://example.com/v"}, "object": {"id": "http://example.com/a"}});
        gateway.store_statements(&principal, body, xapi::Version::V1_0_3, None, Vec::new())
    };
    let (before, after) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    assert_eq!(post(before).await.unwrap(), [before]);
    let old = projector_vault.find(&tenant, "mbox:mailto:back@example.com").await.unwrap().unwrap();
    gateway.submit_admin(&tenant, &Command::ForgetSubject { subject: old.id }).await.unwrap();
    assert_eq!(projector_vault.by_id(&tenant, old.id).await.unwrap(), None, "the key is gone when forget answers");

    assert_eq!(post(after).await.unwrap(), [after], "sealed again for a new subject and stored");
    let new = projector_vault.find(&tenant, "mbox:mailto:back@example.com").await.unwrap().unwrap();
    assert_ne!(new.id, old.id);
    let query = QueryService::new(store.clone(), log.clone()).with_vault(projector_vault.clone());
    assert_eq!(query.statement(&tenant, before, false).await.unwrap(), None, "erased");
    let kept = query.statement(&tenant, after, false).await.unwrap().expect("stored");
    assert_eq!(kept["actor"]["mbox"], "mailto:back@example.com");
    stop.send(true).unwrap();
    running.await.unwrap();

    // The log holds: the first statement, the erasure, the refused command
    // and the one sealed again. Replayed into empty tables, the same remains.
    let fresh: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("replayed")).unwrap());
    lrs_core::replay::replay_with_vault(log.clone(), fresh.clone(), Some(projector_vault.clone()), |_, _| {})
        .await
        .unwrap();
    let replayed = QueryService::new(fresh, log).with_vault(projector_vault);
    assert_eq!(replayed.statement(&tenant, before, false).await.unwrap(), None);
    assert_eq!(replayed.statement(&tenant, after, false).await.unwrap(), Some(kept));
}
