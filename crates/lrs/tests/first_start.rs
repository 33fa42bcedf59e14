//! A new user's first start: the banner with ENDPOINT, KEY and SECRET is on
//! standard output, and standard error says the LRS serves without the
//! store's and HTTP server's internals (dependencies log at warn by default).

mod common;

use std::time::{Duration, Instant};

use common::Lrs;

#[test]
fn the_first_start_logs_the_lrs_and_not_its_dependencies_internals() {
    let dir = tempfile::TempDir::new().unwrap();
    let args: Vec<String> = ["serve", "--listen", "127.0.0.1:0", "--data-dir"].iter().map(|s| s.to_string()).collect();
    // LRS_LOG unset, as on a new machine.
    let lrs = Lrs::start_with(&args, dir.path(), "first-start-secret", &[("LRS_LOG".into(), String::new())]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lrs.stderr().contains("serving") {
        assert!(Instant::now() < deadline, "no `serving` line from the LRS: {}", lrs.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _, _) = lrs.get("/xapi/statements?limit=1");
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(300));
    let stderr = lrs.stderr();
    for internal in ["lsm_tree", "fjall", "actix_server"] {
        assert!(!stderr.contains(internal), "{internal} logs at start by default:\n{stderr}");
    }
    let lines = stderr.lines().count();
    assert!(lines <= 10, "{lines} lines on stderr at the first start:\n{stderr}");
}
