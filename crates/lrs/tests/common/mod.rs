//! Shared end-to-end helper: runs the real `lrs` binary on a free port and talks to it over HTTP.
//!
//! Every test binary includes this module and uses a different part of it.
#![allow(dead_code)]

pub(crate) mod analytics;
pub(crate) mod deployment;
pub(crate) mod forwarding;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The xAPI version every helper request announces.
pub(crate) const XAPI_VERSION: &str = "1.0.3";
/// The key the server is started with.
pub(crate) const KEY: &str = "e2e-key";
/// How long the server may take to print its endpoint.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `lrs serve` process.
pub(crate) struct Lrs {
    /// `http://127.0.0.1:PORT/xapi`, as printed by the server.
    pub(crate) endpoint: String,
    /// `http://127.0.0.1:PORT`, to prefix paths such as `more` links.
    pub(crate) origin: String,
    /// The Basic auth key.
    pub(crate) key: String,
    /// The Basic auth secret.
    pub(crate) secret: String,
    /// The server process.
    pub(crate) child: Child,
    /// Where the server keeps its data.
    pub(crate) data_dir: PathBuf,
    /// The fresh data dir this server owns, if any (removed when dropped).
    temp: Option<TempDir>,
    /// Everything the server wrote on stderr so far.
    stderr: Arc<Mutex<String>>,
    /// A client with generous timeouts.
    pub(crate) client: Client,
    /// The arguments it was started with (before the data dir).
    args: Vec<String>,
    /// The extra environment it was started with.
    envs: Vec<(String, String)>,
}

/// A fresh, unique secret.
fn fresh_secret() -> String {
    format!("e2e-secret-{}", uuid::Uuid::new_v4().simple())
}

/// Runs `lrs replay` on a stopped server's data dir and checks that it succeeded.
pub(crate) fn replay(data_dir: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_lrs")).args(["replay", "--data-dir"]).arg(data_dir).output().unwrap();
    assert!(output.status.success(), "replay: {}", String::from_utf8_lossy(&output.stderr));
}

/// A blocking HTTP client with bounded timeouts.
pub(crate) fn client() -> Client {
    Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

impl Lrs {
    /// Starts a server on a fresh temporary data dir, owned (and removed) by the returned value.
    pub(crate) fn start() -> Lrs {
        let temp = TempDir::new().expect("temp dir");
        let mut lrs = Lrs::start_in(temp.path(), &fresh_secret());
        lrs.temp = Some(temp);
        lrs
    }

    /// Starts a server on `data_dir` with the given secret (for restarts).
    pub(crate) fn start_in(data_dir: &Path, secret: &str) -> Lrs {
        let listen = "127.0.0.1:0".to_owned();
        let args = ["serve".to_owned(), "--listen".to_owned(), listen, "--data-dir".to_owned()];
        Lrs::start_with(&args, data_dir, secret, &[])
    }

    /// Starts `lrs ARGS… DATA_DIR` (the last argument is the data dir) with the
    /// bootstrap credential and extra environment variables.
    pub(crate) fn start_with(args: &[String], data_dir: &Path, secret: &str, envs: &[(String, String)]) -> Lrs {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lrs"));
        command
            .args(args)
            .arg(data_dir)
            .env("LRS_BOOTSTRAP_KEY", KEY)
            .env("LRS_BOOTSTRAP_SECRET", secret)
            .env_remove("LRS_LISTEN")
            .env_remove("LRS_DATA_DIR")
            .env_remove("LRS_ROLES")
            .env_remove("LRS_LOG_BACKEND");
        for (name, value) in envs {
            command.env(name, value);
        }
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn lrs");

        // Drain stderr for the whole life of the process, keeping it for failure messages.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr pipe");
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        // Read stdout lines on a thread (and keep draining after the banner, so the
        // server never writes into a closed pipe).
        let out_pipe = child.stdout.take().expect("stdout pipe");
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines() {
                let Ok(line) = line else { break };
                let _ = lines_tx.send(line);
            }
        });

        let deadline = Instant::now() + START_TIMEOUT;
        let mut endpoint = None;
        let mut key = None;
        while endpoint.is_none() || key.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(value) = line.strip_prefix("ENDPOINT=") {
                        endpoint = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("KEY=") {
                        key = Some(value.trim().to_owned());
                    }
                }
                Err(error) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    // Give the stderr thread a moment to collect the last words.
                    thread::sleep(Duration::from_millis(100));
                    panic!(
                        "lrs did not print ENDPOINT= and KEY= within {START_TIMEOUT:?} ({error}); stderr:\n{}",
                        stderr.lock().unwrap()
                    );
                }
            }
        }
        let endpoint = endpoint.unwrap();
        let key = key.unwrap();
        assert_eq!(key, KEY, "the server must use LRS_BOOTSTRAP_KEY");
        let origin = endpoint.strip_suffix("/xapi").unwrap_or_else(|| panic!("endpoint {endpoint} must end in /xapi"));
        Lrs {
            origin: origin.to_owned(),
            endpoint,
            key,
            secret: secret.to_owned(),
            child,
            data_dir: data_dir.to_owned(),
            temp: None,
            stderr,
            client: client(),
            args: args.to_vec(),
            envs: envs.to_vec(),
        }
    }

    /// SIGKILLs the server (no graceful shutdown) and reaps it.
    pub(crate) fn kill9(&mut self) {
        // Child::kill sends SIGKILL on unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGKILLs this server (if still running) and starts a new one on the same data dir.
    pub(crate) fn restart(mut self) -> Lrs {
        self.kill9();
        let temp = self.temp.take();
        let mut next = Lrs::start_in(&self.data_dir, &self.secret);
        next.temp = temp;
        next
    }

    /// What the server wrote on stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// True while the process runs.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `origin + path_and_query`; the path starts with `/`, e.g. `/xapi/statements?…`.
    pub(crate) fn url(&self, path_and_query: &str) -> String {
        assert!(path_and_query.starts_with('/'), "path must start with '/': {path_and_query}");
        format!("{}{path_and_query}", self.origin)
    }

    /// A request with no headers at all.
    pub(crate) fn bare(&self, method: Method, path_and_query: &str) -> RequestBuilder {
        self.client.request(method, self.url(path_and_query))
    }

    /// A request with valid Basic credentials and the version header.
    pub(crate) fn authed(&self, method: Method, path_and_query: &str) -> RequestBuilder {
        self.bare(method, path_and_query)
            .basic_auth(&self.key, Some(&self.secret))
            .header("X-Experience-API-Version", XAPI_VERSION)
    }

    /// POST /xapi/statements with a JSON body.
    pub(crate) fn post(&self, body: &Value) -> (u16, Value) {
        let (status, _, body) = send(self.authed(Method::POST, "/xapi/statements").json(body));
        (status, body)
    }

    /// PUT /xapi/statements?statementId=ID with a JSON body.
    pub(crate) fn put(&self, id: &str, body: &Value) -> (u16, Value) {
        let path = statements_query(&[("statementId", id)]);
        let (status, _, body) = send(self.authed(Method::PUT, &path).json(body));
        (status, body)
    }

    /// GET an origin-relative path such as `/xapi/statements?verb=…` or a `more` link.
    pub(crate) fn get(&self, path_and_query: &str) -> (u16, HeaderMap, Value) {
        send(self.authed(Method::GET, path_and_query))
    }

    /// Follows `more` links from `first` and returns every statement, bounded by `max_pages`.
    pub(crate) fn get_all(&self, first: &str, max_pages: usize) -> Vec<Value> {
        let mut statements = Vec::new();
        let mut next = first.to_owned();
        for _ in 0..max_pages {
            let (status, _, body) = self.get(&next);
            assert_eq!(status, 200, "GET {next} answered {status}: {body}");
            let page = body["statements"].as_array().unwrap_or_else(|| panic!("no statements array in {body}"));
            statements.extend(page.iter().cloned());
            match body["more"].as_str() {
                Some("") | None => return statements,
                Some(more) => next = more.to_owned(),
            }
        }
        panic!("more than {max_pages} pages from {first}");
    }
}

impl Drop for Lrs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a request and returns status, headers and the body parsed as JSON
/// (a body that is not JSON comes back as a JSON string holding the raw text).
/// Whether scripts/kafka-broker.sh has installed tansu (the broker-outage tests need it).
pub(crate) fn tansu_installed() -> bool {
    let home = std::env::var("HOME").unwrap_or_default();
    let tools = std::env::var("LRS_TOOLS_DIR").unwrap_or_else(|_| format!("{home}/.cache/lrs-tools"));
    Path::new(&tools).join("tansu/bin/tansu").exists()
}

/// Runs `scripts/kafka-broker.sh ACTION [PORT] DIR` (start on `port`, or stop).
pub(crate) fn broker_command(action: &str, port: u16, dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka-broker.sh");
    let mut command = Command::new("bash");
    command.arg(script).arg(action);
    if action == "start" {
        command.arg(port.to_string());
    }
    let status = command.arg(dir).status().expect("run kafka-broker.sh");
    assert!(status.success(), "kafka-broker.sh {action} failed");
}

/// Polls `/readyz` until it answers `want` (within a minute); returns the last body.
pub(crate) fn wait_for_readyz(lrs: &Lrs, want: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) = send(lrs.bare(Method::GET, "/readyz"));
        if status == want {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz never answered {want}; last {status} {body}");
        thread::sleep(Duration::from_millis(300));
    }
}

pub(crate) fn send(request: RequestBuilder) -> (u16, HeaderMap, Value) {
    let response = request.send().expect("request failed");
    read(response)
}

/// Status, headers and body (JSON, or a string of the raw text) of a response.
pub(crate) fn read(response: Response) -> (u16, HeaderMap, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().expect("read body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// `/xapi/statements?` followed by the url-encoded parameters.
pub(crate) fn statements_query(params: &[(&str, &str)]) -> String {
    let mut url = Url::parse("http://localhost/xapi/statements").unwrap();
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// A verb IRI no other test uses.
pub(crate) fn unique_verb() -> String {
    format!("http://example.com/verbs/e2e-{}", uuid::Uuid::new_v4().simple())
}

/// A minimal valid statement with the given id and verb.
pub(crate) fn statement(id: &str, verb: &str) -> Value {
    json!({
        "id": id,
        "actor": { "objectType": "Agent", "name": "E2E Tester", "mbox": "mailto:e2e@example.com" },
        "verb": { "id": verb, "display": { "en-US": "tested" } },
        "object": { "objectType": "Activity", "id": "http://example.com/activities/e2e" },
    })
}

impl Lrs {
    /// A request with valid Basic credentials and the given `X-Experience-API-Version`.
    pub(crate) fn authed_as(&self, method: Method, path_and_query: &str, version: &str) -> RequestBuilder {
        self.bare(method, path_and_query)
            .basic_auth(&self.key, Some(&self.secret))
            .header("X-Experience-API-Version", version)
    }
}

/// Sends a request and returns status, headers and the raw body bytes.
pub(crate) fn send_raw(request: RequestBuilder) -> (u16, HeaderMap, Vec<u8>) {
    let response = request.send().expect("request failed");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().expect("read body").to_vec();
    (status, headers, body)
}

/// `path?` followed by the url-encoded parameters (`path` alone when there are none).
pub(crate) fn path_query(path: &str, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse("http://localhost").unwrap().join(path).unwrap();
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// A header as text ("" when absent).
pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or("")
}

/// Days from 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn http_date_seconds(text: &str) -> i64 {
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert!(fields.len() == 6 && fields[5] == "GMT", "not an HTTP date: {text:?}");
    let day: i64 = fields[1].parse().unwrap_or_else(|_| panic!("bad day in {text:?}"));
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == fields[2])
        .unwrap_or_else(|| panic!("bad month in {text:?}")) as i64
        + 1;
    let year: i64 = fields[3].parse().unwrap_or_else(|_| panic!("bad year in {text:?}"));
    let hms: Vec<i64> =
        fields[4].split(':').map(|n| n.parse().unwrap_or_else(|_| panic!("bad time in {text:?}"))).collect();
    let days = days_from_civil(year, month, day);
    days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

/// Whole seconds since the epoch of a UTC ISO 8601 timestamp `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub(crate) fn iso_utc_seconds(text: &str) -> i64 {
    assert!(text.ends_with('Z') && text.len() >= 20, "not a UTC ISO 8601 timestamp: {text:?}");
    let bad = || -> i64 { panic!("not a UTC ISO 8601 timestamp: {text:?}") };
    let number =
        |range: std::ops::Range<usize>| -> i64 { text.get(range).and_then(|s| s.parse().ok()).unwrap_or_else(bad) };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
}

/// Fails under CI (which must run every test), else says that the test is skipped.
pub(crate) fn skip_or_fail(what: &str) {
    assert!(std::env::var("CI").is_err(), "CI must run the distributed tests: {what}");
    note_skip(&format!("{what}; run `make test` to start a broker"));
}

/// Says that the running test is skipped and why: on stderr, and as a line
/// of $LRS_SKIP_LOG, which scripts/test-all.sh lists after the tests (cargo
/// shows a passing test's stderr to no one).
pub(crate) fn note_skip(why: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    eprintln!("SKIPPED: {test}: {why}");
    if let Ok(path) = std::env::var("LRS_SKIP_LOG") {
        use std::io::Write as _;
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "{} {test}: {why}", env!("CARGO_CRATE_NAME"));
        }
    }
}

/// The Kafka-protocol broker of `make test` (LRS_KAFKA_BROKERS), or `None` after saying the test is skipped.
pub(crate) fn broker() -> Option<String> {
    match std::env::var("LRS_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.is_empty() => Some(brokers),
        _ => {
            skip_or_fail("LRS_KAFKA_BROKERS is not set");
            None
        }
    }
}

/// The environment of a distributed process on `brokers` with topics named `prefix.*`.
pub(crate) fn kafka_env(brokers: &str, prefix: &str) -> Vec<(String, String)> {
    [
        ("LRS_LOG_BACKEND", "kafka"),
        ("LRS_KAFKA_BROKERS", brokers),
        ("LRS_KAFKA_TOPIC_PREFIX", prefix),
        ("LRS_KAFKA_PARTITIONS", "3"),
        ("LRS_KAFKA_DELIVERY_TIMEOUT_MS", "2000"),
        ("LRS_VERDICT_DEADLINE_MS", "8000"),
        ("LRS_VAULT_TOKEN", VAULT_TOKEN),
    ]
    .iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect()
}

/// The token of the vault route between the processes of a test cluster.
pub(crate) const VAULT_TOKEN: &str = "vault-token-for-tests";

fn words(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// A projector+query process of the distributed deployment on the embedded store in `dir`.
pub(crate) fn projector_query(dir: &Path, secret: &str, env: &[(String, String)]) -> Lrs {
    let args = words(&["run", "--roles", "projector,query", "--listen", "127.0.0.1:0", "--data-dir"]);
    Lrs::start_with(&args, dir, secret, env)
}

/// A gateway process of the distributed deployment (no store of its own),
/// sealing with the vault of `owner` (the projector+query process).
pub(crate) fn gateway(owner: &Lrs, secret: &str, env: &[(String, String)]) -> Lrs {
    let mut env = env.to_vec();
    env.push(("LRS_VAULT_URL".into(), owner.origin.clone()));
    Lrs::start_with(&words(&["gateway", "--listen", "127.0.0.1:0", "--data-dir"]), Path::new("unused"), secret, &env)
}

/// Fails naming the file when any file under `dir` (recursively) holds one
/// of `needles` as bytes.
pub(crate) fn assert_no_file_holds(dir: &Path, needles: &[&str]) {
    let mut pending = vec![dir.to_owned()];
    let mut files = 0;
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else { continue };
            files += 1;
            for needle in needles {
                let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
                assert!(!found, "{} holds {needle:?} in the clear", path.display());
            }
        }
    }
    assert!(files > 0, "no file under {} to search", dir.display());
}

impl Lrs {
    /// Stops this server gracefully-less (SIGKILL) and starts the same
    /// command again on the same data dir with the same environment.
    pub(crate) fn restart_keeping_env(mut self) -> Lrs {
        self.kill9();
        let mut next = Lrs::start_with(&self.args, &self.data_dir, &self.secret, &self.envs);
        next.temp = self.temp.take();
        next
    }
}
