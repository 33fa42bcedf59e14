//! Attachment bodies do not outlive the statements they came with: the body
//! of a statement the projector refused is collected once the grace has
//! passed, while a body a stored statement has (even one sent again with a
//! refused statement, or sent first with a refused one) stays, and so does a
//! body an earlier version stored.

use std::sync::Arc;
use std::time::Duration;

use lrs_core::tables::attachment_partition;
use lrs_core::{
    AttachmentPart, EventLog, Gateway, GatewayError, Principal, Projector, QueryService, QueryStore, Table, TenantId,
    VerdictBus, WriteBatch,
};
use lrs_embedded::{EmbeddedLog, EmbeddedStore};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use xapi::Version;

fn principal() -> Principal {
    Principal::with_all_scopes(
        TenantId::parse("default").unwrap(),
        json!({"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": "default"}}),
    )
}

fn part(body: &str) -> AttachmentPart {
    let sha2 = hex::encode(Sha256::digest(body.as_bytes()));
    AttachmentPart { sha2, content_type: "text/plain".into(), body: body.as_bytes().to_vec() }
}

/// A statement with `id` whose attachment is `part`; `verb` tells two
/// statements of one id apart.
fn statement(id: &str, verb: &str, part: &AttachmentPart) -> Value {
    json!({"id": id, "actor": {"mbox": "mailto:a@example.com"}, "verb": {"id": format!("http://example.com/verbs/{verb}")},
           "object": {"id": "http://example.com/attachments"},
           "attachments": [{"usageType": "http://example.com/usage", "display": {"en-US": "a file"},
                            "contentType": "text/plain", "length": part.body.len(), "sha2": part.sha2}]})
}

/// The bodies the store holds: their chunk rows' partitions.
async fn bodies(store: &EmbeddedStore) -> Vec<Vec<u8>> {
    let mut partitions: Vec<Vec<u8>> =
        store.dump(Table::Attachments).await.unwrap().into_iter().map(|(partition, _, _)| partition).collect();
    partitions.dedup();
    partitions
}

#[tokio::test]
async fn bodies_of_refused_statements_are_collected_and_kept_bodies_stay() {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).unwrap());
    let store = EmbeddedStore::open(&dir.path().join("store")).unwrap();
    let shared: Arc<dyn QueryStore> = Arc::new(store.clone());
    let tenant = TenantId::parse("default").unwrap();
    let (kept, refused, first_refused, earlier) = (part("kept"), part("refused"), part("sent twice"), part("earlier"));
    let body_of = |part: &AttachmentPart| attachment_partition(&tenant, &part.sha2);

    // A body an earlier version stored: no record of when it was sent.
    let mut batch = WriteBatch::default();
    batch.put(Table::Attachments, body_of(&earlier), 0u64.to_be_bytes().to_vec(), earlier.body.clone());
    shared.write(batch).await.unwrap();

    let bus = VerdictBus::new();
    let gateway = Gateway::new(log.clone(), Some(shared.clone()), bus.clone(), Duration::from_secs(10));
    let projector = Projector::new(log.clone(), shared.clone(), Arc::new(bus), 0);
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(async move { projector.run(stopped).await.unwrap() });
    let principal = principal();
    let store_one = |statement: Value, part: &AttachmentPart| {
        gateway.store_statements(&principal, statement, Version::V1_0_3, None, vec![part.clone()])
    };
    let (a, b) = ("6690e6c9-3ef0-4ed3-8b37-7f3964730bee", "7790e6c9-3ef0-4ed3-8b37-7f3964730bee");
    store_one(statement(a, "did", &kept), &kept).await.unwrap();
    // The same id with other content: the projector refuses it (409), after its body reached the store.
    let conflict = store_one(statement(a, "undid", &refused), &refused).await;
    assert!(matches!(conflict, Err(GatewayError::Conflict(_))), "{conflict:?}");
    // The kept body sent again with a refused statement; a body first sent
    // with a refused statement, then with a stored one; the earlier
    // version's body sent with a refused statement.
    assert!(store_one(statement(a, "redid", &kept), &kept).await.is_err());
    assert!(store_one(statement(a, "tried", &first_refused), &first_refused).await.is_err());
    store_one(statement(b, "did", &first_refused), &first_refused).await.unwrap();
    assert!(store_one(statement(a, "again", &earlier), &earlier).await.is_err());
    stop.send(true).unwrap();
    running.await.unwrap();
    assert_eq!(bodies(&store).await.len(), 4, "every body reached the store");

    // Within the grace (an hour of log time) nothing is collected.
    let now = chrono::Utc::now().timestamp_micros();
    let projector = Projector::new(log.clone(), shared.clone(), Arc::new(VerdictBus::new()), 0);
    assert_eq!(projector.sweep_attachments(now).await.unwrap(), 0);
    assert_eq!(bodies(&store).await.len(), 4);

    // An hour and a minute later, the refused statement's body goes and the others stay.
    let later = now + 3_660_000_000;
    assert_eq!(projector.sweep_attachments(later).await.unwrap(), 1, "one body collected");
    let left = bodies(&store).await;
    assert!(!left.contains(&body_of(&refused)), "the refused statement's body is gone");
    for part in [&kept, &first_refused, &earlier] {
        assert!(left.contains(&body_of(part)), "{:?} stays", String::from_utf8_lossy(&part.body));
    }
    assert_eq!(projector.sweep_attachments(later).await.unwrap(), 0, "nothing is left waiting");
    let meta = store.dump(Table::Meta).await.unwrap();
    let waiting = meta.iter().filter(|(partition, _, _)| {
        let text = String::from_utf8_lossy(partition);
        text.starts_with("attachment-pending") || text.starts_with("attachment-sent")
    });
    assert_eq!(waiting.count(), 0, "no record of waiting bodies is left behind");

    // The stored statements' bodies still read back whole.
    let query = QueryService::new(shared.clone(), log.clone());
    for part in [&kept, &first_refused, &earlier] {
        assert_eq!(query.attachment(&tenant, &part.sha2).await.unwrap(), Some(part.body.clone()));
    }
    assert_eq!(query.attachment(&tenant, &refused.sha2).await.unwrap(), None);
}
