//! Rebuilding the query tables from the log.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Projector, ProjectorError};
use crate::log::EventLog;
use crate::store::QueryStore;
use crate::tables::load_position;
use crate::vault::KeyVault;
use crate::verdict::{Verdict, VerdictSink};

/// Discards verdicts: nobody awaits the commands of a replay.
struct NoWaiters;

#[async_trait]
impl VerdictSink for NoWaiters {
    async fn publish(&self, _verdicts: &[(Uuid, Verdict)]) {}
}

/// Applies every partition of `log` to `store` from its stored position
/// (from the start, for an empty store), calling `progress(done, total)` after
/// each partition step with the records applied and to apply, in all.
pub async fn replay(
    log: Arc<dyn EventLog>,
    store: Arc<dyn QueryStore>,
    progress: impl FnMut(u64, u64),
) -> Result<(), ProjectorError> {
    replay_with_vault(log, store, None, progress).await
}

/// Like `replay`, opening sealed events with the keys `vault` still has.
pub async fn replay_with_vault(
    log: Arc<dyn EventLog>,
    store: Arc<dyn QueryStore>,
    vault: Option<KeyVault>,
    mut progress: impl FnMut(u64, u64),
) -> Result<(), ProjectorError> {
    let mut total = 0;
    let mut done = 0;
    let mut partitions = Vec::new();
    for partition in 0..log.partitions() {
        let end = log.end_offset(partition).await?;
        let start = load_position(store.as_ref(), partition).await?;
        total += end.saturating_sub(start);
        partitions.push((partition, start, end));
    }
    progress(0, total);
    for (partition, start, end) in partitions {
        let projector = Projector::new(log.clone(), store.clone(), Arc::new(NoWaiters), partition)
            .with_downstream(Arc::new(super::analytics::Analytics::default()))
            .with_downstream(Arc::new(super::quality::Quality::default()));
        let projector = match &vault {
            Some(vault) => projector.with_vault(vault.clone()),
            None => projector,
        };
        projector.catch_up_with(|position| progress(done + position.saturating_sub(start), total)).await?;
        done += end.saturating_sub(start);
    }
    // The analytics builders apply what the projectors left in their outbox.
    for partition in 0..log.partitions() {
        super::analytics::builder::RollupBuilder::new(store.clone(), partition).drain().await?;
    }
    progress(done, total);
    Ok(())
}
