//! The embedded log on a disk that fills: appends fail with a storage error
//! (the gateway answers 503), readiness says the log is unready and why, and
//! every append acknowledged before the failure is read back after a
//! restart.
//!
//! The disk is filled for real: the appending half runs in a child process
//! (this test binary run again, on one test) started by bash with a file size
//! limit (`ulimit -f`) and SIGXFSZ ignored, so that redb's writes past the
//! limit fail with EFBIG as they would with ENOSPC on a full disk. The
//! workspace forbids `unsafe`, which setting the limit in-process needs.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use lrs_core::health::HealthCheck;
use lrs_core::log::{EventLog, LogError};
use lrs_embedded::EmbeddedLog;

/// Set in the child: the directory of the log it fills.
const CHILD_DIR: &str = "LRS_FULL_DISK_DIR";
/// The file size limit of the child, in KiB (bash's `ulimit -f` unit).
const LIMIT_KIB: u64 = 4096;
/// Bytes of each appended record.
const RECORD_BYTES: usize = 20_000;

/// The record appended as the `number`th: distinct bytes, so a record read
/// back is known to be that one.
fn payload(number: u32) -> Vec<u8> {
    let mut bytes = vec![0u8; RECORD_BYTES];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(number).to_le_bytes()[1];
    }
    bytes[..4].copy_from_slice(&number.to_be_bytes());
    bytes
}

/// The child's half (does nothing unless started by the parent): appends
/// until an append fails, checks what the log and readiness say then, and
/// writes how many appends were acknowledged to `acknowledged` in the dir.
#[tokio::test]
async fn child_fills_the_disk() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let dir = Path::new(&dir);
    let log = Arc::new(EmbeddedLog::open(&dir.join("log.redb")).expect("the log opens under the limit"));
    assert_eq!(log.append_fault(), None, "a new log has no fault");
    let limit_bytes = LIMIT_KIB * 1024;
    let mut acknowledged = 0u32;
    let failure = loop {
        // Twice the limit in records: the file cannot hold them all.
        assert!(
            u64::from(acknowledged) * (RECORD_BYTES as u64) < 2 * limit_bytes,
            "{acknowledged} appends of {RECORD_BYTES} bytes went past a {limit_bytes}-byte file limit"
        );
        match log.append(b"tenant", payload(acknowledged)).await {
            Ok((_, offset)) => {
                assert_eq!(offset, u64::from(acknowledged), "offsets follow the acknowledged appends");
                acknowledged += 1;
            }
            Err(error) => break error,
        }
    };
    assert!(acknowledged > 0, "the limit leaves room for some appends");
    assert!(matches!(failure, LogError::Storage(_)), "a failed write is a storage error (503), not {failure:?}");
    // redb fails every later write until it is opened again.
    let again = log.append(b"tenant", payload(acknowledged)).await;
    assert!(again.is_err(), "an append after the failure is not acknowledged");
    let fault = log.append_fault().expect("the log keeps why appends fail");
    let readiness = HealthCheck::new(log.clone(), None).readiness().await;
    assert!(!readiness.is_ready(), "a log whose appends fail is not ready: {readiness:?}");
    let check = readiness.checks.iter().find(|check| check.name == "log").expect("the log is checked");
    assert_eq!(check.error.as_deref(), Some(format!("appends fail: {fault}").as_str()));
    std::fs::write(dir.join("acknowledged"), acknowledged.to_string()).expect("the count is written");
}

#[tokio::test]
async fn a_full_disk_fails_appends_and_readiness_and_keeps_what_was_acknowledged() {
    if std::env::var_os(CHILD_DIR).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let test_binary = std::env::current_exe().unwrap();
    let child = Command::new("bash")
        .arg("-c")
        .arg(format!(r#"trap "" XFSZ; ulimit -f {LIMIT_KIB}; exec "$0" --exact child_fills_the_disk --nocapture"#))
        .arg(&test_binary)
        .env(CHILD_DIR, dir.path())
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "the child's checks failed ({}):\n{}\n{}",
        child.status,
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    let acknowledged: u64 = std::fs::read_to_string(dir.path().join("acknowledged")).unwrap().parse().unwrap();

    // Restarted without the limit: every acknowledged record is there, whole.
    let log = Arc::new(EmbeddedLog::open(&dir.path().join("log.redb")).expect("the log opens again"));
    let end = log.end_offset(0).await.unwrap();
    assert!(end >= acknowledged, "{acknowledged} appends were acknowledged but the log ends at {end}");
    let mut next = 0u64;
    while next < acknowledged {
        let records = log.read(0, next, 64, Duration::ZERO).await.unwrap();
        assert!(!records.is_empty(), "record {next} of {acknowledged} acknowledged is missing");
        for record in records.into_iter().take_while(|record| record.offset < acknowledged) {
            assert_eq!(record.offset, next);
            assert!(record.payload == payload(next as u32), "record {next} is not what was appended");
            next += 1;
        }
    }
    // The restarted log takes appends again and is ready.
    assert_eq!(log.append(b"tenant", payload(0)).await.unwrap().1, end);
    assert!(HealthCheck::new(log.clone(), None).readiness().await.is_ready());
    assert_eq!(log.append_fault(), None);
}
