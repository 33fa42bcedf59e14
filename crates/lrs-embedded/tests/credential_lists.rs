//! Listing a tenant's credentials reads that tenant's list of keys, not
//! every tenant's credentials: the credentials table is read whole once per
//! store (to list the credentials stored before the lists existed), never
//! again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use lrs_core::store::{ClusteringRange, Order, Rows, TableRow};
use lrs_core::{Credential, CredentialStore, QueryStore, Scope, StoreError, Table, TenantId, WriteBatch};
use lrs_embedded::EmbeddedStore;

/// The embedded store, counting the reads of the whole credentials table.
struct Counting {
    inner: EmbeddedStore,
    credential_dumps: AtomicUsize,
}

#[async_trait]
impl QueryStore for Counting {
    async fn get(&self, table: Table, partition: &[u8], clustering: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(table, partition, clustering).await
    }

    async fn scan(
        &self,
        table: Table,
        partition: &[u8],
        range: ClusteringRange,
        order: Order,
        limit: usize,
    ) -> Result<Rows, StoreError> {
        self.inner.scan(table, partition, range, order, limit).await
    }

    async fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.inner.write(batch).await
    }

    async fn dump(&self, table: Table) -> Result<Vec<TableRow>, StoreError> {
        if table == Table::Credentials {
            self.credential_dumps.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.dump(table).await
    }

    async fn put_if_absent(
        &self,
        table: Table,
        partition: &[u8],
        clustering: &[u8],
        value: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.put_if_absent(table, partition, clustering, value).await
    }
}

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

    let store = Arc::new(Counting { inner, credential_dumps: AtomicUsize::new(0) });
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
