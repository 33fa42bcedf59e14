//! Listing a tenant's credentials reads that tenant's list of keys, not
//! every tenant's credentials: the credentials table is read whole once per
//! store (to list the credentials stored before the lists existed), never
//! again.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::WatchedStore;
use lrs_core::{Credential, CredentialStore, QueryStore, Scope, Table, TenantId, WriteBatch};
use lrs_embedded::EmbeddedStore;

fn keys(credentials: &[Credential]) -> Vec<String> {
    credentials.iter().map(|c| c.key.clone()).collect()
}

#[tokio::test]
async fn a_tenants_credentials_are_listed_from_its_own_list() {
    let dir = tempfile::tempdir().unwrap();
    let inner = EmbeddedStore::open(&dir.path().join("store")).unwrap();
    let (acme, other) = (TenantId::parse("acme").unwrap(), TenantId::parse("other").unwrap());
    let credential = |tenant: &TenantId, key: &str| Credential::new(tenant.clone(), key, "secret", vec![Scope::All]);

    // Credentials stored as an earlier version stored them: no list of keys.
    let mut batch = WriteBatch::default();
    for (tenant, key) in [(&acme, "acme-1"), (&other, "other-1"), (&acme, "acme-2")] {
        let value = serde_json::to_vec(&credential(tenant, key)).unwrap();
        batch.put(Table::Credentials, lrs_core::auth::credential_partition(key), Vec::new(), value);
    }
    inner.write(batch).await.unwrap();

    let store = Arc::new(WatchedStore::new(inner));
    let credentials = CredentialStore::new(store.clone());
    assert_eq!(keys(&credentials.of_tenant(&acme).await.unwrap()), ["acme-1", "acme-2"]);
    assert_eq!(store.credential_dumps.load(Ordering::SeqCst), 1, "the earlier credentials were listed once");

    // From then on: one tenant's list, whatever the others hold.
    credentials.put(&credential(&other, "other-2")).await.unwrap();
    credentials.put(&credential(&acme, "acme-3")).await.unwrap();
    assert_eq!(keys(&credentials.of_tenant(&acme).await.unwrap()), ["acme-1", "acme-2", "acme-3"]);
    assert_eq!(keys(&credentials.of_tenant(&other).await.unwrap()), ["other-1", "other-2"]);
    let empty = TenantId::parse("empty").unwrap();
    assert!(credentials.of_tenant(&empty).await.unwrap().is_empty());
    assert_eq!(store.credential_dumps.load(Ordering::SeqCst), 1, "never read whole again");
}
