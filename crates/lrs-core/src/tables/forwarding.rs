//! What each forwarder has delivered: its position, counts, last error and
//! dead letters, in [`Table::Forwarding`] (kept by `lrs replay`, like the
//! credentials: it is not a projection of the log). Written by the
//! forwarding engine, read by the operator API.

use std::ops::Bound;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::KeyBuilder;
use crate::store::{Order, QueryStore, StoreError, Table, WriteBatch};
use crate::tenant::TenantId;

/// Dead letters one listing returns at most.
pub const MAX_DEAD_LETTERS: usize = 1_000;

const STATE: u8 = 0;
const DEAD: u8 = 1;
const REPLAY: u8 = 2;

/// Partition of one forwarder's rows.
pub fn forwarder_partition(tenant: &TenantId, name: &str) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str(name).build()
}

/// Where a forwarder stands: durable, written with each delivery.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwarderState {
    /// The `created_micros` of the forwarder this state belongs to (a
    /// forwarder removed and added again under its name starts afresh).
    pub incarnation: i64,
    /// The `stored` time (microseconds) of the last statement delivered or
    /// put in a dead letter: the next delivery starts after it.
    pub position: u64,
    /// Statements the target accepted.
    pub delivered: u64,
    /// Statements the target refused for good (in dead letters).
    pub dead_lettered: u64,
    /// Deliveries that failed and were retried.
    pub failed_attempts: u64,
    /// Failures since the last success (what the backoff grows with).
    pub consecutive_failures: u32,
    /// The last failure, never holding a secret.
    pub last_error: Option<String>,
    /// When it happened, microseconds since the epoch.
    pub last_error_micros: Option<i64>,
    /// When the target last accepted a delivery.
    pub last_delivered_micros: Option<i64>,
}

/// Statements a target refused for good, kept to be listed and replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The `stored` time of the first statement (its key).
    pub first_stored: u64,
    /// The statements' ids, in `stored` order.
    pub ids: Vec<Uuid>,
    /// What the target answered.
    pub error: String,
    /// When, microseconds since the epoch.
    pub at_micros: i64,
}

/// Reads a forwarder's state.
pub async fn load_state(
    store: &dyn QueryStore,
    tenant: &TenantId,
    name: &str,
) -> Result<Option<ForwarderState>, StoreError> {
    let row = store.get(Table::Forwarding, &forwarder_partition(tenant, name), &[STATE]).await?;
    Ok(row.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Writes a forwarder's state into a batch.
pub fn put_state(batch: &mut WriteBatch, tenant: &TenantId, name: &str, state: &ForwarderState) {
    let value = serde_json::to_vec(state).expect("state serialises");
    batch.put(Table::Forwarding, forwarder_partition(tenant, name), vec![STATE], value);
}

fn dead_clustering(first_stored: u64) -> Vec<u8> {
    let mut key = vec![DEAD];
    key.extend_from_slice(&first_stored.to_be_bytes());
    key
}

/// Adds a dead letter to a batch.
pub fn put_dead_letter(batch: &mut WriteBatch, tenant: &TenantId, name: &str, letter: &DeadLetter) {
    let value = serde_json::to_vec(letter).expect("dead letter serialises");
    batch.put(Table::Forwarding, forwarder_partition(tenant, name), dead_clustering(letter.first_stored), value);
}

/// Removes a dead letter in a batch.
pub fn delete_dead_letter(batch: &mut WriteBatch, tenant: &TenantId, name: &str, first_stored: u64) {
    batch.delete(Table::Forwarding, forwarder_partition(tenant, name), dead_clustering(first_stored));
}

/// A forwarder's dead letters, oldest first (at most [`MAX_DEAD_LETTERS`]).
pub async fn dead_letters(
    store: &dyn QueryStore,
    tenant: &TenantId,
    name: &str,
) -> Result<Vec<DeadLetter>, StoreError> {
    let range = (Bound::Included(vec![DEAD]), Bound::Excluded(vec![DEAD + 1]));
    let rows = store
        .scan(Table::Forwarding, &forwarder_partition(tenant, name), range, Order::Ascending, MAX_DEAD_LETTERS)
        .await?;
    Ok(rows.iter().filter_map(|(_, value)| serde_json::from_slice(value).ok()).collect())
}

/// Asks the engine to deliver a forwarder's dead letters again (at `micros`).
pub async fn request_replay(
    store: &dyn QueryStore,
    tenant: &TenantId,
    name: &str,
    micros: i64,
) -> Result<(), StoreError> {
    let mut batch = WriteBatch::default();
    batch.put(Table::Forwarding, forwarder_partition(tenant, name), vec![REPLAY], micros.to_be_bytes().to_vec());
    store.write(batch).await
}

/// When the operator last asked for a forwarder's dead letters again, if
/// that is still to do.
pub async fn replay_requested(
    store: &dyn QueryStore,
    tenant: &TenantId,
    name: &str,
) -> Result<Option<i64>, StoreError> {
    let row = store.get(Table::Forwarding, &forwarder_partition(tenant, name), &[REPLAY]).await?;
    Ok(row.and_then(|bytes| Some(i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))))
}

/// Marks a replay request as done in a batch.
pub fn clear_replay(batch: &mut WriteBatch, tenant: &TenantId, name: &str) {
    batch.delete(Table::Forwarding, forwarder_partition(tenant, name), vec![REPLAY]);
}

/// Deletes every row of a forwarder (when the operator removes it).
pub async fn forget(store: &dyn QueryStore, tenant: &TenantId, name: &str) -> Result<(), StoreError> {
    let partition = forwarder_partition(tenant, name);
    loop {
        let all = (Bound::Unbounded, Bound::Unbounded);
        let rows = store.scan(Table::Forwarding, &partition, all, Order::Ascending, MAX_DEAD_LETTERS).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for (clustering, _) in rows {
            batch.delete(Table::Forwarding, partition.clone(), clustering);
        }
        store.write(batch).await?;
    }
}
