//! Proves that a published, unmodified xAPI client works against the real server:
//! Rustici's TinCanPython (PyPI `tincan`, xAPI 1.0.3) runs `tests/clients/tincan_roundtrip.py`
//! (statements, batch, query with `more`, voiding, state, both profiles, activities, agents).
//!
//! `scripts/xapi-client-deps.sh` installs the library into a reused virtualenv under
//! `~/.cache/lrs-tools` (first run needs python3 and network access to PyPI).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::Lrs;

/// How long the install script may take (a fresh venv and one small download).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the client program may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// What a bounded run of a program produced.
struct Run {
    /// The exit status, or `None` when it was killed at the deadline.
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn succeeded(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }

    fn describe(&self, what: &str, timeout: Duration) -> String {
        let ended = match self.status {
            Some(status) => format!("exited with {status}"),
            None => format!("was killed after {timeout:?}"),
        };
        format!("{what} {ended}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

/// Runs `command` with its output captured, killing it if it outlives `timeout`.
fn run_bounded(command: &mut Command, timeout: Duration) -> Run {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout pipe")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr pipe")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("wait for child") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => thread::sleep(Duration::from_millis(50)),
        }
    };
    Run { status, stdout: stdout.join().expect("stdout reader"), stderr: stderr.join().expect("stderr reader") }
}

/// The repository root (this crate is `crates/lrs`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// Installs TinCanPython (or finds it installed) and returns the venv's python.
fn tincan_python(root: &Path) -> PathBuf {
    let script = root.join("scripts/xapi-client-deps.sh");
    let run = run_bounded(Command::new("bash").arg(&script).current_dir(root), INSTALL_TIMEOUT);
    assert!(run.succeeded(), "{}", run.describe(&script.display().to_string(), INSTALL_TIMEOUT));
    let python = run.stdout.lines().last().map(str::trim).unwrap_or_default();
    let python = PathBuf::from(python);
    assert!(python.is_file(), "{}: last stdout line is not a python: {:?}", script.display(), run.stdout);
    python
}

#[test]
fn tincan_python_client_round_trips_every_resource() {
    let root = repo_root();
    let python = tincan_python(&root);
    let program = root.join("tests/clients/tincan_roundtrip.py");
    let lrs = Lrs::start();

    let run = run_bounded(
        Command::new(&python)
            .arg(&program)
            .arg(&lrs.endpoint)
            .arg(&lrs.key)
            .arg(&lrs.secret)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .current_dir(&root),
        CLIENT_TIMEOUT,
    );
    assert!(
        run.succeeded(),
        "{}\n--- lrs stderr ---\n{}",
        run.describe(&program.display().to_string(), CLIENT_TIMEOUT),
        lrs.stderr()
    );
    assert!(run.stdout.contains(": OK"), "no summary line from the client:\n{}", run.stdout);
    println!("{}", run.stdout.trim());
}
