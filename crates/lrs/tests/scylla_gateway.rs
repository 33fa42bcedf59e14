//! A gateway with `--store scylla` authenticates against the shared keyspace:
//! a credential the projector writes there works on the gateway within
//! 2 seconds, and a revocation or a tenant's suspension holds there within
//! 2 seconds, with no restart. Run against kassandra (an in-process CQL
//! server: point reads and writes by primary key are what this needs; the
//! projector itself cannot run on it, as it scans), with the rows written
//! as the projector writes them. Sealing on ScyllaDB (a lightweight
//! transaction) is tested in crates/lrs-scylla/tests/shared_keyspace.rs
//! where SCYLLA_URI names a real ScyllaDB.

mod common;

#[path = "../../lrs-scylla/tests/common/mod.rs"]
mod kassandra_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{broker, kafka_env, Lrs};
use lrs_core::{Credential, CredentialStore, Scope, Tenant, TenantId};
use reqwest::Method;

/// The status of a statement POST that authentication lets through to
/// validation (it is not a statement: 400), or not (401).
fn status(gateway: &Lrs, key: &str, secret: &str) -> u16 {
    let response = gateway
        .bare(Method::POST, "/xapi/statements")
        .header("X-Experience-API-Version", "1.0.3")
        .basic_auth(key, Some(secret))
        .json(&serde_json::json!({"not": "a statement"}))
        .send()
        .unwrap();
    response.status().as_u16()
}

fn within_two_seconds(what: &str, gateway: &Lrs, key: &str, secret: &str, want: u16) {
    let started = Instant::now();
    loop {
        let got = status(gateway, key, secret);
        if got == want {
            return;
        }
        assert!(
            started.elapsed() <= Duration::from_secs(2),
            "{what}: still {got}, not {want}; stderr:\n{}",
            gateway.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_gateway_on_the_shared_keyspace_knows_each_credential_change_within_two_seconds() {
    let Some(brokers) = broker() else { return };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(kassandra_server::Kassandra::start());
    let keyspace = "lrs_gateway";
    let store = runtime.block_on(server.store(keyspace));
    let credentials = CredentialStore::new(Arc::new(store));

    let mut env = kafka_env(&brokers, &format!("scylla-gateway-{}", uuid::Uuid::new_v4().simple()));
    env.extend(
        [
            ("LRS_STORE_BACKEND", "scylla".to_owned()),
            ("LRS_SCYLLA_NODES", server.addr.to_string()),
            ("LRS_SCYLLA_KEYSPACE", keyspace.to_owned()),
            ("LRS_SCYLLA_AWAIT_SCHEMA_AGREEMENT", "false".to_owned()),
        ]
        .map(|(name, value)| (name.to_owned(), value)),
    );
    let args: Vec<String> = ["gateway", "--listen", "127.0.0.1:0", "--data-dir"].map(str::to_owned).to_vec();
    let unused = tempfile::tempdir().unwrap();
    let gateway = Lrs::start_with(&args, unused.path(), "bootstrap-secret", &env);

    // What the projector writes when the operator issues a credential.
    let tenant = TenantId::parse("shared").unwrap();
    let mut credential = Credential::new(tenant.clone(), "shared-key", "shared-secret", vec![Scope::All]);
    assert_eq!(status(&gateway, "shared-key", "shared-secret"), 401, "unknown before it is written");
    runtime.block_on(credentials.put_tenant(&Tenant::new(tenant.clone(), "Shared"))).unwrap();
    runtime.block_on(credentials.put(&credential)).unwrap();
    within_two_seconds("a new credential", &gateway, "shared-key", "shared-secret", 400);

    let mut suspended = Tenant::new(tenant.clone(), "Shared");
    suspended.suspended = true;
    suspended.revision = 1;
    runtime.block_on(credentials.put_tenant(&suspended)).unwrap();
    within_two_seconds("a suspended tenant", &gateway, "shared-key", "shared-secret", 401);
    runtime.block_on(credentials.put_tenant(&Tenant { suspended: false, revision: 2, ..suspended })).unwrap();
    within_two_seconds("a resumed tenant", &gateway, "shared-key", "shared-secret", 400);

    credential.revoked = true;
    credential.revision = 1;
    runtime.block_on(credentials.put(&credential)).unwrap();
    within_two_seconds("a revoked credential", &gateway, "shared-key", "shared-secret", 401);
    drop(gateway);
    drop(server);
}
