//! `lrs load` fills a data dir through the gateway and projector without
//! HTTP: afterwards `lrs serve` on that dir answers every loaded statement,
//! once, with the bench generator's content.

mod common;

use std::collections::HashSet;
use std::process::Command;

use common::{Lrs, KEY};

#[test]
fn loaded_statements_are_all_served_once() {
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let output = Command::new(env!("CARGO_BIN_EXE_lrs"))
        .args(["load", "--statements", "1234", "--batch", "200", "--concurrency", "4", "--data-dir"])
        .arg(dir.path())
        .env("LRS_BOOTSTRAP_KEY", KEY)
        .env("LRS_BOOTSTRAP_SECRET", &secret)
        .env_remove("LRS_DATA_DIR")
        .env_remove("LRS_LOG_BACKEND")
        .output()
        .expect("run lrs load");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "lrs load failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("loaded 1234 statements"), "{stdout}");

    let lrs = Lrs::start_in(dir.path(), &secret);
    let all = lrs.get_all("/xapi/statements?limit=500", 10);
    let ids: HashSet<&str> = all.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(all.len(), 1234, "every loaded statement is served");
    assert_eq!(ids.len(), 1234, "each once");
    let first = &all[0];
    assert!(first["verb"]["id"].as_str().unwrap().starts_with("http://example.com/verbs/v"), "{first}");
    assert!(first["context"]["registration"].is_string(), "{first}");
    let (status, _, body) = lrs.get("/xapi/statements?limit=1&verb=http%3A%2F%2Fexample.com%2Fverbs%2Fv0");
    assert_eq!(status, 200);
    assert_eq!(body["statements"].as_array().map(Vec::len), Some(1), "a filter finds loaded statements: {body}");
}
