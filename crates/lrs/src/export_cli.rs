//! `lrs export`: downloads an export of a tenant's statements
//! (`GET /export/v1/statements`) into a file, with a progress bar; the file
//! appears under its name only when the export ended.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

/// Settings of `lrs export`.
#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// The LRS's root URL (where `/export/v1` answers).
    #[arg(long, env = "LRS_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The key of a credential with the `export` (or `all`) scope.
    #[arg(long, env = "LRS_KEY")]
    key: String,
    /// Its secret.
    #[arg(long, env = "LRS_SECRET", hide_env_values = true)]
    secret: String,
    /// ndjson, csv or parquet.
    #[arg(long, default_value = "ndjson")]
    format: String,
    /// The file to write.
    #[arg(long, short)]
    output: PathBuf,
    /// An xAPI filter as NAME=VALUE, repeatable: agent, verb, activity,
    /// registration, related_activities, related_agents, since, until.
    #[arg(long = "filter", value_parser = parse_filter)]
    filters: Vec<(String, String)>,
}

fn parse_filter(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Downloads the export and prints how many bytes it wrote.
pub(crate) fn run(args: ExportArgs) -> anyhow::Result<()> {
    let mut query = vec![("format".to_owned(), args.format.clone())];
    query.extend(args.filters.iter().cloned());
    let url = format!("{}/export/v1/statements", args.url.trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder().timeout(None).build()?;
    let mut response = client
        .get(&url)
        .query(&query)
        .basic_auth(&args.key, Some(&args.secret))
        .send()
        .with_context(|| format!("cannot reach {url}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let body: serde_json::Value = response.json().unwrap_or_default();
        let message = body.pointer("/error/message").and_then(|m| m.as_str()).unwrap_or("no message");
        anyhow::bail!("the LRS answered {status}: {message}");
    }
    let partial = args.output.with_extension("partial");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?,
    );
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("exporting {spinner} {bytes} ({bytes_per_sec}, {elapsed})")
            .expect("valid template"),
    );
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = std::io::Read::read(&mut response, &mut buffer).context("the export broke off")?;
        if read == 0 {
            break;
        }
        file.write_all(&buffer[..read])?;
        bar.inc(read as u64);
    }
    file.flush()?;
    drop(file);
    std::fs::rename(&partial, &args.output)?;
    bar.finish();
    println!("wrote {} bytes to {}", bar.position(), args.output.display());
    Ok(())
}
