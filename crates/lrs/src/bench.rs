//! `lrs bench`: a load generator for any xAPI endpoint. It makes realistic
//! statements from a fixed seed (many actors, verbs, activities with
//! definitions, contexts with registrations and parents, results with scores
//! and durations), posts them in batches at a set concurrency, then times each
//! kind of GET (by id, by each filter, related_*, since/until windows, paging
//! through `more`) and single-statement POSTs, and reports throughput and
//! latency percentiles (also as JSON). `--statements 0` measures the queries
//! of a store filled before (for example by `lrs load`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Settings of `lrs bench`.
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// xAPI endpoint, e.g. http://127.0.0.1:8080/xapi.
    #[arg(long, env = "LRS_BENCH_ENDPOINT")]
    endpoint: String,
    /// Basic auth key.
    #[arg(long, env = "LRS_BENCH_KEY")]
    key: String,
    /// Basic auth secret.
    #[arg(long, env = "LRS_BENCH_SECRET", hide_env_values = true)]
    secret: String,
    /// Statements to post.
    #[arg(long, default_value_t = 20_000)]
    statements: usize,
    /// Statements per POST.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Statements per second to post at most (0: as fast as the LRS answers);
    /// with a large --statements, an ingest of a set length at a set rate.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// GETs per query kind.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// xAPI version header to send.
    #[arg(long, default_value = "1.0.3")]
    version: String,
    /// Write the results as JSON to this file too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Single-statement POSTs timed after the queries (at --single-concurrency).
    #[arg(long, default_value_t = 200)]
    single_posts: usize,
    /// Requests in flight for the single-statement POSTs ("moderate load").
    #[arg(long, default_value_t = 4)]
    single_concurrency: usize,
    /// The generated data.
    #[command(flatten)]
    shape: DataShape,
    /// What to time after the ingest: the xAPI queries, the analytics API
    /// (every measure by every dimension, at the server root), or both.
    #[arg(long, value_enum, default_value_t = Suite::Xapi)]
    suite: Suite,
    /// GETs per measure and dimension of the analytics suite.
    #[arg(long, default_value_t = 50)]
    analytics_queries: usize,
    /// Analytics GETs in flight at once.
    #[arg(long, default_value_t = 1)]
    analytics_concurrency: usize,
    /// With N > 0: the analytics questions cover the N days before today
    /// (`since` and `until`), as the dashboard's ranges do; 0: all the data.
    #[arg(long, default_value_t = 0)]
    analytics_days: u32,
}

/// The queries `lrs bench` times.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Suite {
    /// GETs of /statements, paging and single POSTs.
    Xapi,
    /// GET /analytics/v1/query for every measure and dimension.
    Analytics,
    /// Both.
    All,
}

/// Measures of the analytics API.
const MEASURES: [&str; 11] = [
    "statements",
    "learners",
    "completions",
    "completion_rate",
    "pass_rate",
    "score_mean",
    "score_p50",
    "score_p90",
    "duration_p50",
    "duration_p90",
    "interactions_per_learner",
];
/// Dimensions of the analytics API ("" for none).
const DIMENSIONS: [&str; 10] =
    ["", "day", "week", "month", "verb", "activity", "parent", "platform", "source", "learner"];

/// Makes the path of one GET of a kind from the seeded generator.
type QueryPath<'a> = Box<dyn Fn(&mut StdRng) -> String + 'a>;

const VERBS: usize = 20;
const REGISTRATIONS: usize = 200;
/// Platforms of the analytics data set.
const PLATFORMS: [&str; 3] = ["LMS", "Mobile", "VR"];
/// ADL verbs of the analytics data set, with how often each is drawn (of 100).
const ADL_VERBS: [(&str, u32); 6] =
    [("experienced", 35), ("attempted", 20), ("answered", 20), ("completed", 12), ("passed", 8), ("failed", 5)];

/// The shape of the generated data: how many learners and activities, and
/// over how many days the statements' timestamps spread.
#[derive(Args, Debug, Clone)]
pub(crate) struct DataShape {
    /// Distinct learners (actors) the statements come from.
    #[arg(long, default_value_t = 1_000)]
    learners: usize,
    /// Distinct activities (50 to a parent course).
    #[arg(long, default_value_t = 500)]
    activities: usize,
    /// With N > 0: an analytics data set whose timestamps spread uniformly
    /// over the N days before today (UTC), with ADL verbs (experienced,
    /// attempted, answered, completed, passed, failed), platforms and
    /// completion only where a verb says so. 0: the xAPI query data set
    /// (no timestamps; 20 verbs of example.com).
    #[arg(long, default_value_t = 0)]
    days: u32,
}

impl DataShape {
    /// The microsecond (UTC) at which the spread of timestamps ends: today's midnight.
    pub(crate) fn end_micros(&self) -> i64 {
        let today = chrono::Utc::now().date_naive();
        today.and_hms_opt(0, 0, 0).map_or(0, |midnight| midnight.and_utc().timestamp_micros())
    }
}

fn registration(index: usize) -> String {
    format!("00000000-0000-4000-8000-{index:012}")
}

/// The next statement of the seeded data set; `end_micros` ends the spread
/// of timestamps of an analytics shape.
pub(crate) fn statement(rng: &mut StdRng, shape: &DataShape, end_micros: i64) -> Value {
    let actor = rng.gen_range(0..shape.learners.max(1));
    if shape.days > 0 {
        return analytics_statement(rng, shape, actor, end_micros);
    }
    let verb = rng.gen_range(0..VERBS);
    let activity = rng.gen_range(0..shape.activities.max(1));
    let course = activity / 50;
    json!({
        "actor": {"objectType": "Agent", "name": format!("Learner {actor}"), "mbox": format!("mailto:learner{actor}@example.com")},
        "verb": {"id": format!("http://example.com/verbs/v{verb}"), "display": {"en-US": format!("verb {verb}")}},
        "object": {"id": format!("http://example.com/activities/a{activity}"), "definition": {
            "name": {"en-US": format!("Activity {activity}")},
            "type": "http://adlnet.gov/expapi/activities/assessment"}},
        "result": {"score": {"scaled": rng.gen_range(0.0..1.0_f64)}, "success": rng.gen_bool(0.7),
                   "completion": true, "duration": format!("PT{}M{}S", rng.gen_range(0..60), rng.gen_range(0..60))},
        "context": {"registration": registration(rng.gen_range(0..REGISTRATIONS)),
                    "contextActivities": {"parent": [{"id": format!("http://example.com/courses/c{course}")}]},
                    "instructor": {"mbox": format!("mailto:teacher{}@example.com", course)}},
    })
}

/// A statement of the analytics data set: an ADL verb, a platform, a
/// timestamp in the shape's days, completion and success as the verb says.
fn analytics_statement(rng: &mut StdRng, shape: &DataShape, actor: usize, end_micros: i64) -> Value {
    let mut pick = rng.gen_range(0..100);
    let mut verb = ADL_VERBS[0].0;
    for (name, share) in ADL_VERBS {
        if pick < share {
            verb = name;
            break;
        }
        pick -= share;
    }
    let activity = rng.gen_range(0..shape.activities.max(1));
    let course = activity / 50;
    let span = i64::from(shape.days) * 86_400_000_000;
    let timestamp = chrono::DateTime::from_timestamp_micros(end_micros - rng.gen_range(1..=span)).unwrap_or_default();
    let mut result = json!({"duration": format!("PT{}M{}S", rng.gen_range(0..60), rng.gen_range(0..60))});
    match verb {
        "completed" => result["completion"] = json!(true),
        "passed" | "failed" => {
            result["success"] = json!(verb == "passed");
            result["completion"] = json!(true);
            result["score"] = json!({"scaled": rng.gen_range(0.0..1.0_f64)});
        }
        "answered" => result["success"] = json!(rng.gen_bool(0.7)),
        _ => {}
    }
    json!({
        "actor": {"objectType": "Agent", "name": format!("Learner {actor}"), "mbox": format!("mailto:learner{actor}@example.com")},
        "verb": {"id": format!("http://adlnet.gov/expapi/verbs/{verb}"), "display": {"en-US": verb}},
        "object": {"id": format!("http://example.com/activities/a{activity}"), "definition": {
            "name": {"en-US": format!("Activity {activity}")},
            "type": "http://adlnet.gov/expapi/activities/lesson"}},
        "result": result,
        "timestamp": timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "context": {"platform": PLATFORMS[rng.gen_range(0..PLATFORMS.len())],
                    "registration": registration(rng.gen_range(0..REGISTRATIONS)),
                    "contextActivities": {"parent": [{"id": format!("http://example.com/courses/c{course}")}]}},
    })
}

/// Latency percentiles of a set of requests.
fn summary(name: &str, mut latencies: Vec<Duration>, items: usize, wall: Duration, errors: usize) -> Value {
    latencies.sort();
    let pick = |q: f64| {
        let index = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
        latencies.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    json!({
        "kind": name, "requests": latencies.len(), "errors": errors, "items": items,
        "wall_seconds": wall.as_secs_f64(), "items_per_second": items as f64 / wall.as_secs_f64().max(1e-9),
        "p50_ms": pick(0.50), "p90_ms": pick(0.90), "p99_ms": pick(0.99), "max_ms": pick(1.0),
    })
}

/// Statements `number * size ..` of the generated data: a batch seeded from
/// `seed` and its number, so that any batch is made without the ones before.
pub(crate) fn batch_body(seed: u64, number: usize, size: usize, shape: &DataShape, end_micros: i64) -> Value {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(number as u64));
    Value::Array((0..size).map(|_| statement(&mut rng, shape, end_micros)).collect())
}

/// Sends the `count` requests `make` builds, `concurrency` at a time, each
/// made only when it is sent, and each `pace` after the one before it at the
/// earliest (`None`: as fast as they are answered). Returns the latencies,
/// the items carried (`items_each` per successful request), the errors and
/// the wall time.
async fn drive(
    count: usize,
    make: impl Fn(usize) -> reqwest::RequestBuilder,
    items_each: usize,
    concurrency: usize,
    pace: Option<Duration>,
    bar: &indicatif::ProgressBar,
) -> (Vec<Duration>, usize, usize, Duration) {
    let next = AtomicUsize::new(0);
    let latencies = std::sync::Mutex::new(Vec::with_capacity(count));
    let errors = AtomicUsize::new(0);
    let started = Instant::now();
    let worker = || async {
        loop {
            let number = next.fetch_add(1, Ordering::Relaxed);
            if number >= count {
                break;
            }
            if let Some(pace) = pace {
                tokio::time::sleep_until((started + pace.mul_f64(number as f64)).into()).await;
            }
            let request = make(number);
            let sent = Instant::now();
            let failure = match request.send().await {
                Ok(response) if response.status().is_success() => None,
                Ok(response) => Some(format!("answered {}", response.status())),
                Err(error) => Some(format!("not answered: {error:?}")),
            };
            latencies.lock().expect("not poisoned").push(sent.elapsed());
            if let Some(failure) = failure {
                errors.fetch_add(1, Ordering::Relaxed);
                bar.suspend(|| eprintln!("request {number} failed: {failure}"));
            }
            bar.inc(1);
        }
    };
    futures::future::join_all((0..concurrency.max(1)).map(|_| worker())).await;
    let wall = started.elapsed();
    let latencies = latencies.into_inner().expect("not poisoned");
    let errors = errors.load(Ordering::Relaxed);
    let items = (latencies.len() - errors) * items_each;
    (latencies, items, errors, wall)
}

/// The JSON answer of a GET (`null` when it fails).
async fn get_json(request: reqwest::RequestBuilder) -> Value {
    match request.send().await {
        Ok(response) if response.status().is_success() => response.json().await.unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// The statements of a StatementResult.
fn statements_of(page: &Value) -> &[Value] {
    page["statements"].as_array().map_or(&[], Vec::as_slice)
}

/// Runs the benchmark and prints its results.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    // Idle connections are dropped before servers close them (actix-web and
    // uvicorn after 5 s), so that a paced run never sends on a closing one.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .pool_idle_timeout(Duration::from_secs(2))
        .build()?;
    let base = args.endpoint.trim_end_matches('/').to_owned();
    let request = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}{path}"))
            .basic_auth(&args.key, Some(&args.secret))
            .header("X-Experience-API-Version", &args.version)
    };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut results = Vec::new();

    let end_micros = args.shape.end_micros();
    let batches = args.statements.div_ceil(args.batch);
    let bar = indicatif::ProgressBar::new(batches as u64);
    bar.set_message("ingest");
    let post = |number: usize| {
        let size = args.batch.min(args.statements - number * args.batch);
        request(reqwest::Method::POST, "/statements").json(&batch_body(
            args.seed,
            number,
            size,
            &args.shape,
            end_micros,
        ))
    };
    let pace = (args.rate > 0).then(|| Duration::from_secs_f64(args.batch as f64 / args.rate as f64));
    let (latencies, items, errors, wall) = drive(batches, post, args.batch, args.concurrency, pace, &bar).await;
    bar.finish_and_clear();
    results.push(summary(&format!("ingest (batches of {})", args.batch), latencies, items, wall, errors));

    if args.suite != Suite::Analytics {
        xapi_queries(&args, &client, &base, &mut rng, end_micros, &mut results).await?;
    }
    if args.suite != Suite::Xapi {
        analytics_queries(&args, &client, &base, &mut results).await?;
    }
    print_and_save(&args, &base, &results)
}

/// Times the GETs of /statements of each kind, paging through `more`, and
/// single-statement POSTs.
async fn xapi_queries(
    args: &BenchArgs,
    client: &reqwest::Client,
    base: &str,
    rng: &mut StdRng,
    end_micros: i64,
    results: &mut Vec<Value>,
) -> anyhow::Result<()> {
    let request = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}{path}"))
            .basic_auth(&args.key, Some(&args.secret))
            .header("X-Experience-API-Version", &args.version)
    };
    let enc = |text: &str| serde_urlencoded::to_string([("x", text)]).unwrap_or_default()[2..].to_owned();
    let mut kinds: Vec<(&str, QueryPath)> = vec![
        (
            "by verb",
            Box::new(|r| {
                format!(
                    "/statements?limit=100&verb={}",
                    enc(&format!("http://example.com/verbs/v{}", r.gen_range(0..VERBS)))
                )
            }),
        ),
        (
            "by agent",
            Box::new(|r| {
                format!(
                    "/statements?limit=100&agent={}",
                    enc(&format!(
                        r#"{{"mbox":"mailto:learner{}@example.com"}}"#,
                        r.gen_range(0..args.shape.learners.max(1))
                    ))
                )
            }),
        ),
        (
            "by activity",
            Box::new(|r| {
                format!(
                    "/statements?limit=100&activity={}",
                    enc(&format!("http://example.com/activities/a{}", r.gen_range(0..args.shape.activities.max(1))))
                )
            }),
        ),
        (
            "by registration",
            Box::new(|r| format!("/statements?limit=100&registration={}", registration(r.gen_range(0..REGISTRATIONS)))),
        ),
        (
            "related_agents",
            Box::new(|r| {
                format!(
                    "/statements?limit=100&related_agents=true&agent={}",
                    enc(&format!(r#"{{"mbox":"mailto:teacher{}@example.com"}}"#, r.gen_range(0..10)))
                )
            }),
        ),
        (
            "related_activities",
            Box::new(|r| {
                format!(
                    "/statements?limit=100&related_activities=true&activity={}",
                    enc(&format!("http://example.com/courses/c{}", r.gen_range(0..10)))
                )
            }),
        ),
        ("newest 100", Box::new(|_| "/statements?limit=100".to_owned())),
    ];
    // What the store holds: ids to GET by id, and the stored times that
    // bound the since/until windows.
    let newest = get_json(request(reqwest::Method::GET, "/statements?limit=100")).await;
    let oldest = get_json(request(reqwest::Method::GET, "/statements?limit=1&ascending=true")).await;
    let ids: Vec<String> = statements_of(&newest).iter().filter_map(|s| Some(s["id"].as_str()?.to_owned())).collect();
    let stored_micros = |page: &Value| -> Option<i64> {
        let text = statements_of(page).first()?["stored"].as_str()?.to_owned();
        Some(chrono::DateTime::parse_from_rfc3339(&text).ok()?.timestamp_micros())
    };
    let (first, last) = (stored_micros(&oldest).unwrap_or(0), stored_micros(&newest).unwrap_or(0));
    let micros_text = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    if !ids.is_empty() {
        kinds.insert(
            0,
            ("by id", Box::new(move |r| format!("/statements?statementId={}", ids[r.gen_range(0..ids.len())]))),
        );
    }
    if last > first {
        // A tenth of the stored span, anywhere in it.
        let width = ((last - first) / 10).max(1);
        kinds.push((
            "since/until window",
            Box::new(move |r| {
                let since = r.gen_range(first..=last - width);
                format!(
                    "/statements?limit=100&since={}&until={}",
                    enc(&micros_text(since)),
                    enc(&micros_text(since + width))
                )
            }),
        ));
    }
    for (name, path) in kinds.drain(..) {
        let bar = indicatif::ProgressBar::new(args.queries as u64);
        let paths: Vec<String> = (0..args.queries).map(|_| path(rng)).collect();
        let get = |number: usize| request(reqwest::Method::GET, &paths[number]);
        let (latencies, items, errors, wall) = drive(paths.len(), get, 1, args.concurrency, None, &bar).await;
        bar.finish_and_clear();
        results.push(summary(name, latencies, items, wall, errors));
    }

    // Paging: one reader follows `more` from the first page of a verb, page by page.
    let mut latencies = Vec::new();
    let (mut errors, paging_started) = (0, Instant::now());
    let first_page = format!("/statements?limit=100&verb={}", enc("http://example.com/verbs/v0"));
    let mut next = Some(first_page);
    let endpoint = reqwest::Url::parse(&format!("{base}/"))?;
    while let Some(path) = next.take() {
        if latencies.len() >= args.queries {
            break;
        }
        let sent = Instant::now();
        // The first page is relative to the endpoint; `more` is an absolute path (or URL).
        let url = if path.starts_with("/statements") { endpoint.join(&path[1..])? } else { endpoint.join(&path)? };
        let page = client
            .get(url)
            .basic_auth(&args.key, Some(&args.secret))
            .header("X-Experience-API-Version", &args.version)
            .send()
            .await;
        let page = match page {
            Ok(response) if response.status().is_success() => response.json::<Value>().await.ok(),
            _ => None,
        };
        latencies.push(sent.elapsed());
        match page {
            Some(page) => next = page["more"].as_str().filter(|more| !more.is_empty()).map(str::to_owned),
            None => errors += 1,
        }
    }
    let pages = latencies.len();
    results.push(summary("paging through more", latencies, pages - errors, paging_started.elapsed(), errors));

    // Single-statement POSTs at moderate load, the verdict awaited.
    let bar = indicatif::ProgressBar::new(args.single_posts as u64);
    let singles: Vec<Value> = (0..args.single_posts).map(|_| statement(rng, &args.shape, end_micros)).collect();
    let post = |number: usize| request(reqwest::Method::POST, "/statements").json(&singles[number]);
    let (latencies, items, errors, wall) = drive(singles.len(), post, 1, args.single_concurrency, None, &bar).await;
    bar.finish_and_clear();
    let name = format!("single POST (concurrency {})", args.single_concurrency);
    results.push(summary(&name, latencies, items, wall, errors));
    Ok(())
}

/// Times GET /analytics/v1/query (at the server root: the endpoint without
/// its last segment) for every measure by every dimension (and by none),
/// over all the data, one kind after the other.
async fn analytics_queries(
    args: &BenchArgs,
    client: &reqwest::Client,
    base: &str,
    results: &mut Vec<Value>,
) -> anyhow::Result<()> {
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    let today = chrono::Utc::now().date_naive();
    let window = (args.analytics_days > 0).then(|| {
        let since = today - chrono::Days::new(u64::from(args.analytics_days));
        (format!("{since}T00:00:00Z"), format!("{today}T00:00:00Z"))
    });
    for measure in MEASURES {
        for by in DIMENSIONS {
            let mut url = reqwest::Url::parse(&format!("{root}/analytics/v1/query"))?;
            url.query_pairs_mut().append_pair("measure", measure);
            if !by.is_empty() {
                url.query_pairs_mut().append_pair("by", by);
            }
            if let Some((since, until)) = &window {
                url.query_pairs_mut().append_pair("since", since).append_pair("until", until);
            }
            let bar = indicatif::ProgressBar::new(args.analytics_queries as u64);
            let get = |_| client.get(url.clone()).basic_auth(&args.key, Some(&args.secret));
            let (latencies, items, errors, wall) =
                drive(args.analytics_queries, get, 1, args.analytics_concurrency, None, &bar).await;
            bar.finish_and_clear();
            let name = if by.is_empty() { measure.to_owned() } else { format!("{measure} by {by}") };
            results.push(summary(&name, latencies, items, wall, errors));
        }
    }
    Ok(())
}

/// Prints the results as a table and writes them as JSON when asked.
fn print_and_save(args: &BenchArgs, base: &str, results: &[Value]) -> anyhow::Result<()> {
    println!(
        "{:<36} {:>8} {:>7} {:>12} {:>9} {:>9} {:>9}",
        "kind", "requests", "errors", "per second", "p50 ms", "p99 ms", "max ms"
    );
    for result in results {
        println!(
            "{:<36} {:>8} {:>7} {:>12.0} {:>9.2} {:>9.2} {:>9.2}",
            result["kind"].as_str().unwrap_or(""),
            result["requests"],
            result["errors"],
            result["items_per_second"].as_f64().unwrap_or(0.0),
            result["p50_ms"].as_f64().unwrap_or(0.0),
            result["p99_ms"].as_f64().unwrap_or(0.0),
            result["max_ms"].as_f64().unwrap_or(0.0),
        );
    }
    if let Some(path) = &args.json {
        let report = json!({"endpoint": base, "statements": args.statements, "batch": args.batch,
                            "concurrency": args.concurrency, "seed": args.seed, "results": results});
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}
