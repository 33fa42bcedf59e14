//! The key vault on the embedded store, with the subject cache `lrs serve`
//! uses: one subject per agent however many requests name it at once, and a
//! destroyed subject is never served again, from the store or the cache.

use std::sync::Arc;

use lrs_core::vault::{open_with, seal, KeyVault};
use lrs_core::TenantId;
use lrs_embedded::EmbeddedStore;

fn vault(dir: &std::path::Path) -> KeyVault {
    KeyVault::new(Arc::new(EmbeddedStore::open(&dir.join("vault")).unwrap())).with_cache(1_000)
}

/// The vault without its cache: every answer comes from the store.
fn uncached_vault(dir: &std::path::Path) -> KeyVault {
    KeyVault::new(Arc::new(EmbeddedStore::open(&dir.join("vault")).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_naming_a_new_agent_at_once_get_one_subject() {
    let dir = tempfile::tempdir().unwrap();
    // Uncached, so that each request's answer is what the store holds.
    let vault = uncached_vault(dir.path());
    let tenant = TenantId::parse("t").unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (vault, tenant) = (vault.clone(), tenant.clone());
            tokio::spawn(async move { vault.subject(&tenant, "mbox:mailto:new@example.com").await.unwrap() })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().id);
    }
    assert_eq!(ids.len(), 1, "one subject, so erasing the agent destroys the only key: {ids:?}");
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

    vault.destroy(&tenant, &subject).await.unwrap();
    assert_eq!(vault.by_id(&tenant, subject.id).await.unwrap(), None);
    assert_eq!(vault.find(&tenant, "mbox:mailto:a@example.com").await.unwrap(), None);
    assert_eq!(open_with(&vault, &tenant, &sealed).await.unwrap(), None, "the sealed value no longer opens");
    let again = vault.subject(&tenant, "mbox:mailto:a@example.com").await.unwrap();
    assert_ne!(again.id, subject.id, "a later sighting gets a new subject");
}

/// Statements sealed in the JSON form of earlier logs (base64 inside the
/// command's JSON) and in the binary form of today's are both projected, so
/// a log written before the change replays into the same tables.
#[tokio::test]
async fn statements_sealed_in_either_log_format_are_projected() {
    use lrs_core::event::{encode, Command};
    use lrs_core::{EventLog, Projector, QueryService, QueryStore, VerdictBus};
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(lrs_embedded::EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let store: Arc<dyn QueryStore> = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    let vault = vault(dir.path());
    let tenant = TenantId::parse("t").unwrap();
    let statement = |id: uuid::Uuid| {
        json!({
            "id": id.to_string(), "actor": {"mbox": "mailto:a@example.com"}, "version": "1.0.3",
            "verb": {"id": "http://example.com/verbs/did"}, "object": {"id": "http://example.com/a"},
            "authority": {"account": {"homePage": "http://lrs.example", "name": "t"}}
        })
    };
    let (old_id, new_id) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let subject = vault.subject(&tenant, "mbox:mailto:a@example.com").await.unwrap();

    let old_seal = seal(&serde_json::to_vec(&statement(old_id)).unwrap(), std::slice::from_ref(&subject));
    let old = Command::StoreStatements { statements: vec![json!({ "sealed": old_seal })] };
    log.append(b"t", encode(&tenant, uuid::Uuid::new_v4(), 1, &old)).await.unwrap();
    let new_seal = seal(&serde_json::to_vec(&statement(new_id)).unwrap(), std::slice::from_ref(&subject));
    let new = Command::StoreSealedStatements { statements: vec![new_seal] };
    log.append(b"t", encode(&tenant, uuid::Uuid::new_v4(), 2, &new)).await.unwrap();

    let projector = Projector::new(log.clone(), store.clone(), Arc::new(VerdictBus::new()), 0).with_vault(vault);
    projector.catch_up_with(|_| {}).await.unwrap();
    let query = QueryService::new(store, log);
    for id in [old_id, new_id] {
        let stored = query.statement(&tenant, id, false).await.unwrap();
        assert_eq!(stored.expect("projected")["actor"]["mbox"], "mailto:a@example.com");
    }
}
