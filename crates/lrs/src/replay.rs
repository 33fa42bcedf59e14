//! `lrs replay`: rebuild the query tables from the log into a new store, then
//! put it in place of the old one (kept beside it).

use anyhow::Context as _;
use lrs_core::store::{Table, WriteBatch};
use lrs_core::QueryStore;

use crate::app::open_log;
use crate::settings::Settings;

/// Replays the whole log into fresh tables, keeping the credentials.
pub(crate) async fn run(settings: Settings) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.store == crate::settings::StoreBackend::Embedded,
        "lrs replay rebuilds the embedded store; for ScyllaDB replay into a new keyspace with a projector"
    );
    let live_path = settings.data_dir.join("store");
    let new_path = settings.data_dir.join("store.replay");
    let _ = std::fs::remove_dir_all(&new_path);
    let log = open_log(&settings).await?;
    let fresh = std::sync::Arc::new(lrs_embedded::EmbeddedStore::open(&new_path)?);
    if live_path.exists() {
        let live = lrs_embedded::EmbeddedStore::open(&live_path).context("is the LRS still running? stop it first")?;
        // Written by the bootstrap, not only by the log.
        copy_table(&live, fresh.as_ref(), Table::Credentials).await?;
        copy_table(&live, fresh.as_ref(), Table::Tenants).await?;
        // What each forwarder delivered: not in the log, and stored times
        // are the same after a replay, so its position holds.
        copy_table(&live, fresh.as_ref(), Table::Forwarding).await?;
    }
    let vault = crate::app::open_vault(&settings, fresh.clone())?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("replaying {bar:40} {pos}/{len} events ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    lrs_core::replay::replay_with_vault(log, fresh.clone(), Some(vault), |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish();
    drop(fresh);
    if live_path.exists() {
        let kept = settings.data_dir.join(format!("store.before-replay-{}", chrono_stamp()));
        std::fs::rename(&live_path, &kept)?;
        println!("previous tables kept in {}", kept.display());
    }
    std::fs::rename(&new_path, &live_path)?;
    println!("query tables rebuilt in {}", live_path.display());
    Ok(())
}

async fn copy_table(from: &dyn QueryStore, to: &dyn QueryStore, table: Table) -> anyhow::Result<()> {
    let mut batch = WriteBatch::default();
    for (partition, clustering, value) in from.dump(table).await? {
        batch.put(table, partition, clustering, value);
    }
    to.write(batch).await?;
    Ok(())
}

fn chrono_stamp() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
