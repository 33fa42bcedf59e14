//! A tenant's record is read on every request: a process keeps what it
//! parsed, and parses again only when the stored bytes changed. Every change
//! is seen on the next read, from whichever store.

use lrs_core::tenants::{load_tenant, TenantProfile};
use lrs_core::{CredentialStore, Tenant, TenantId};
use lrs_embedded::EmbeddedStore;
use std::sync::Arc;

fn profile(id: &str, document: &str) -> TenantProfile {
    TenantProfile { id: id.to_owned(), applies_to_all: true, document: document.to_owned(), loaded_micros: 1 }
}

#[tokio::test]
async fn every_change_to_a_tenant_record_is_read_at_once_from_each_store() {
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = Arc::new(EmbeddedStore::open(first_dir.path()).unwrap());
    let second = Arc::new(EmbeddedStore::open(second_dir.path()).unwrap());
    let id = TenantId::parse("records").unwrap();
    assert_eq!(load_tenant(first.as_ref(), &id).await.unwrap(), None);

    let mut record = Tenant::new(id.clone(), "Records");
    record.profiles.push(profile("http://p/one", &"x".repeat(30_000)));
    CredentialStore::new(first.clone()).put_tenant(&record).await.unwrap();
    assert_eq!(load_tenant(first.as_ref(), &id).await.unwrap(), Some(record.clone()));
    assert_eq!(load_tenant(first.as_ref(), &id).await.unwrap(), Some(record.clone()), "read again, unchanged");

    // Suspended, and its profile replaced: the next read has both.
    record.suspended = true;
    record.profiles = vec![profile("http://p/two", "{}")];
    CredentialStore::new(first.clone()).put_tenant(&record).await.unwrap();
    assert_eq!(load_tenant(first.as_ref(), &id).await.unwrap(), Some(record.clone()));

    // Another store with another record of the same tenant id: its own.
    let other = Tenant::new(id.clone(), "Elsewhere");
    assert_eq!(load_tenant(second.as_ref(), &id).await.unwrap(), None);
    CredentialStore::new(second.clone()).put_tenant(&other).await.unwrap();
    assert_eq!(load_tenant(second.as_ref(), &id).await.unwrap(), Some(other));
    assert_eq!(load_tenant(first.as_ref(), &id).await.unwrap(), Some(record));
}
