//! What a gateway with `--store scylla` reads from the shared keyspace:
//! credentials and tenants (the projector writes them; another connection
//! sees each change within the 1 s it remembers a record), and the key
//! vault's rows. Proved on kassandra where it can: point reads and writes by
//! primary key. The lightweight transaction that makes a subject one per
//! agent across gateways needs a real ScyllaDB at `SCYLLA_URI`: those tests
//! are `#[ignore]`d with the reason (cargo test prints it) and `make test`
//! runs them with `--ignored` when `SCYLLA_URI` is set.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Kassandra;
use lrs_core::directory::{Directory, StoreDirectory};
use lrs_core::vault::{open_with, seal, KeyVault, TableVaultStore, VaultStore};
use lrs_core::{Credential, CredentialStore, QueryStore, Scope, StoreError, Tenant, TenantId};
use lrs_scylla::{ScyllaSettings, ScyllaStore};

#[tokio::test]
async fn a_process_sharing_the_keyspace_sees_each_credential_and_tenant_change_within_a_second() {
    let server = Kassandra::start().await;
    // The projector's connection writes; a gateway's reads, remembering for 1 s.
    let writer: Arc<dyn QueryStore> = Arc::new(server.store("lrs_directory").await);
    let reader: Arc<dyn QueryStore> = Arc::new(server.store("lrs_directory").await);
    let credentials = CredentialStore::new(writer);
    let directory = StoreDirectory::remembering(reader, Duration::from_secs(1));
    let tenant = TenantId::parse("acme").unwrap();

    assert_eq!(directory.credential("k1").await.unwrap(), None);
    let mut credential = Credential::new(tenant.clone(), "k1", "secret", vec![Scope::StatementsWrite]);
    credentials.put(&credential).await.unwrap();
    credentials.put_tenant(&Tenant::new(tenant.clone(), "Acme")).await.unwrap();
    let seen = eventually(|| async { directory.credential("k1").await.unwrap() == Some(credential.clone()) }).await;
    assert!(seen <= Duration::from_millis(1500), "a new credential took {seen:?}");

    credential.revoked = true;
    credential.revision += 1;
    credentials.put(&credential).await.unwrap();
    let seen = eventually(|| async { directory.credential("k1").await.unwrap().is_some_and(|c| c.revoked) }).await;
    assert!(seen <= Duration::from_millis(1500), "a revocation took {seen:?}");

    let mut suspended = Tenant::new(tenant.clone(), "Acme");
    suspended.suspended = true;
    credentials.put_tenant(&suspended).await.unwrap();
    let seen = eventually(|| async { directory.tenant(&tenant).await.unwrap().is_some_and(|t| t.suspended) }).await;
    assert!(seen <= Duration::from_millis(1500), "a suspension took {seen:?}");
}

/// How long until `check` holds (polled every 50 ms, for at most 5 s).
async fn eventually<F, Fut>(check: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(5), "never held");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn the_vault_table_keeps_binary_rows_by_key_and_deletes_them() {
    let server = Kassandra::start().await;
    let vault = TableVaultStore::new(Arc::new(server.store("lrs_vault_rows").await));
    let other = TableVaultStore::new(Arc::new(server.store("lrs_vault_rows").await));
    let (key, value) = (b"t\x00\x01subject\x00\x01\x07\xff".to_vec(), (0u8..=255).collect::<Vec<u8>>());
    vault.put(&key, value.clone()).await.unwrap();
    assert_eq!(other.get(&key).await.unwrap(), Some(value), "another process reads it byte for byte");
    vault.delete(std::slice::from_ref(&key)).await.unwrap();
    assert_eq!(other.get(&key).await.unwrap(), None);
}

#[tokio::test]
async fn a_conditional_write_that_kassandra_cannot_do_fails_rather_than_overwrites() {
    // Kassandra ignores IF NOT EXISTS (it answers no [applied] and
    // overwrites): the store refuses to read that as a success, so a vault
    // on it cannot create a second subject for an agent by accident.
    let server = Kassandra::start().await;
    let store = server.store("lrs_lwt").await;
    let result = store.put_if_absent(lrs_core::Table::Vault, b"k", &[], b"v".to_vec()).await;
    assert!(matches!(result, Err(StoreError::Storage(_))), "{result:?}");
}

async fn real_store(uri: &str, keyspace: &str) -> ScyllaStore {
    let store = ScyllaStore::connect(ScyllaSettings::new([uri], keyspace)).await.expect("connect to SCYLLA_URI");
    store.migrate().await.expect("migrate");
    store
}

fn scylla_uri() -> String {
    std::env::var("SCYLLA_URI")
        .ok()
        .filter(|uri| !uri.is_empty())
        .expect("this test needs a real ScyllaDB: set SCYLLA_URI=host:port (make test runs it then)")
}

fn unique_keyspace(name: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("lrs_test_{name}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a real ScyllaDB at SCYLLA_URI: kassandra has no lightweight transactions"]
async fn gateways_naming_a_new_agent_at_once_create_one_subject_on_a_real_scylladb() {
    let uri = scylla_uri();
    let keyspace = unique_keyspace("subjects");
    // Four connections: four gateways, each with its own vault and lock.
    let mut vaults = Vec::new();
    for _ in 0..4 {
        vaults.push(KeyVault::new(TableVaultStore::new(Arc::new(real_store(&uri, &keyspace).await))));
    }
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
    let subject = vaults[0].find(&tenant, "mbox:mailto:new@example.com").await.unwrap().unwrap();
    let sealed = seal(b"personal", std::slice::from_ref(&subject));
    assert_eq!(open_with(&vaults[1], &tenant, &sealed).await.unwrap(), Some(b"personal".to_vec()));
    vaults[2].destroy(&tenant, subject.id).await.unwrap();
    assert_eq!(open_with(&vaults[3], &tenant, &sealed).await.unwrap(), None, "destroyed for every process");
}

#[tokio::test]
#[ignore = "needs a real ScyllaDB at SCYLLA_URI: kassandra has no lightweight transactions"]
async fn a_conditional_write_applies_once_on_a_real_scylladb() {
    let store = real_store(&scylla_uri(), &unique_keyspace("lwt")).await;
    let table = lrs_core::Table::Vault;
    assert_eq!(store.put_if_absent(table, b"k", &[], b"first".to_vec()).await.unwrap(), None);
    assert_eq!(store.put_if_absent(table, b"k", &[], b"second".to_vec()).await.unwrap(), Some(b"first".to_vec()));
    assert_eq!(store.get(table, b"k", &[]).await.unwrap(), Some(b"first".to_vec()));
}
