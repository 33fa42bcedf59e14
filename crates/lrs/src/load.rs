//! `lrs load`: fills the embedded data dir with many statements of `lrs
//! bench`'s generator, through the gateway and the projector in this process
//! (validation, sealing, the durable log, projection: all but HTTP), so that
//! queries can be measured on a large tenant. Stop the LRS first.

use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use futures::StreamExt as _;
use lrs_core::GatewayError;
use tokio::sync::watch;

use crate::app::Application;
use crate::settings::{Role, Settings};

/// Settings of `lrs load`.
#[derive(Args, Debug)]
pub(crate) struct LoadArgs {
    /// Where and how to store (the embedded data dir by default).
    #[command(flatten)]
    settings: Settings,
    /// Statements to add.
    #[arg(long, default_value_t = 10_000_000)]
    statements: usize,
    /// Statements per command.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Commands in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seed of the generated data (each batch is seeded from it and its number).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The generated data.
    #[command(flatten)]
    shape: crate::bench::DataShape,
}

/// Loads the statements and prints the rate.
/// How many times a batch is sent again after a 503-like answer.
const LOAD_RETRIES: u32 = 20;

pub(crate) async fn run(args: LoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch > 0 && args.concurrency > 0, "--batch and --concurrency must be positive");
    let mut settings = args.settings.embedded_defaults().with_roles(Role::ALL.to_vec());
    settings.listen = "127.0.0.1:0".to_owned();
    let application = Application::build(settings).await.context("is the LRS still running? stop it first")?;
    let loader = application.into_loader().await?;
    let (gateway, principal) = (loader.gateway, loader.principal);
    let (stop, stopped) = watch::channel(false);
    let projectors: Vec<_> = loader.projectors.into_iter().map(|p| tokio::spawn(p.run(stopped.clone()))).collect();
    let builders: Vec<_> = loader.builders.iter().cloned().map(|b| tokio::spawn(b.run(stopped.clone()))).collect();

    let batches = args.statements.div_ceil(args.batch);
    let bar = indicatif::ProgressBar::new(args.statements as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("loading {bar:40} {pos}/{len} statements ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    let started = Instant::now();
    let end_micros = args.shape.end_micros();
    let (gateway, principal, bar_ref, shape) = (&gateway, &principal, &bar, &args.shape);
    let mut results = futures::stream::iter(0..batches)
        .map(|number| async move {
            let size = args.batch.min(args.statements - number * args.batch);
            let body = crate::bench::batch_body(args.seed, number, size, shape, end_micros);
            // A batch the projector has not confirmed in time (it is retrying
            // a failed step) is sent again, as any client would: the same
            // statement ids make a repeat a no-op.
            let mut tries = 0;
            let stored = loop {
                let stored =
                    gateway.store_statements(principal, body.clone(), xapi::Version::V1_0_3, None, Vec::new()).await;
                match stored {
                    Err(GatewayError::Unavailable(_)) if tries < LOAD_RETRIES => {
                        tries += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                    other => break other,
                }
            };
            bar_ref.inc(size as u64);
            stored.map(|ids| ids.len())
        })
        .buffer_unordered(args.concurrency);
    let mut loaded = 0;
    let report_every = 1_000_000;
    while let Some(result) = results.next().await {
        let before = loaded;
        loaded += result.context("a batch was refused")?;
        if bar.is_hidden() && loaded / report_every > before / report_every {
            eprintln!("loaded {loaded} statements in {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    drop(results);
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    for projector in projectors {
        projector.await.context("projector task panicked")?.context("projector failed")?;
    }
    for builder in builders {
        builder.await.context("analytics builder task panicked")?;
    }
    for builder in &loader.builders {
        builder.drain().await.context("the analytics builder failed")?;
    }
    println!("loaded {loaded} statements in {seconds:.1} s ({:.0} statements/s)", loaded as f64 / seconds.max(1e-9));
    Ok(())
}
