//! The dashboard page as a person uses it: headless Chromium (Debian's,
//! driven by playwright-core from npm; scripts/test-deps.sh installs both)
//! opens the server's root, lands on the dashboard, signs in with a key and
//! secret, and reads the figures, which must be the numbers the analytics
//! API gives; the page logs no console error and requests nothing outside
//! 127.0.0.1. The script is dashboard/tests/e2e.mjs; the screenshot is kept
//! in target/test-artifacts/dashboard.png.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::deployment::{Auth, Deployment};
use common::{skip_or_fail, Lrs};
use reqwest::Method;
use serde_json::json;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn a_person_signs_in_and_reads_the_numbers_the_api_gives() {
    let dashboard = repository().join("dashboard");
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !node || !Path::new("/usr/bin/chromium").exists() || !dashboard.join("node_modules/playwright-core").exists() {
        skip_or_fail(
            "the dashboard test needs node, chromium and playwright-core (scripts/test-deps.sh installs them)",
        );
        return;
    }
    let lrs = Lrs::start();
    let deployment = Deployment::new(&lrs.origin, "", "");
    let auth = Auth::Basic(lrs.key.clone(), lrs.secret.clone());
    // Three weeks of learning: 4 activities of 2 courses, on 2 platforms, 9 learners.
    for n in 0..120u32 {
        let day = chrono::Utc::now().date_naive() - chrono::Duration::days(i64::from(n % 21));
        let statement = json!({
            "actor": {"mbox": format!("mailto:learner{}@example.com", n % 9), "name": format!("Learner {}", n % 9)},
            "verb": {"id": if n % 3 == 0 { "http://adlnet.gov/expapi/verbs/completed" } else { "http://adlnet.gov/expapi/verbs/experienced" }},
            "object": {"id": format!("http://example.com/activity/{}", n % 4)},
            "result": {"score": {"scaled": f64::from(n % 10) / 10.0}, "success": n % 4 != 0, "duration": format!("PT{}M", 1 + n % 30)},
            "context": {"platform": if n % 2 == 0 { "VR" } else { "LMS" },
                        "contextActivities": {"parent": [{"id": format!("http://example.com/course/{}", n % 2)}]}},
            "timestamp": format!("{day}T{:02}:00:00Z", n % 24),
        });
        let (status, body) = deployment.xapi(&auth, Method::POST, "/xapi/statements", Some(&statement));
        assert_eq!(status, 200, "{body}");
    }
    // What the quality page must show: one refused statement, the first
    // statement's event again under another id, and the first statement again.
    let mut first = json!({"actor": {"mbox": "mailto:learner0@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": "http://example.com/activity/0"}, "timestamp": "2026-01-05T10:00:00Z", "id": uuid::Uuid::new_v4().to_string()});
    assert_eq!(deployment.xapi(&auth, Method::POST, "/xapi/statements", Some(&first)).0, 200);
    assert_eq!(deployment.xapi(&auth, Method::POST, "/xapi/statements", Some(&first)).0, 200);
    first["id"] = json!(uuid::Uuid::new_v4().to_string());
    assert_eq!(deployment.xapi(&auth, Method::POST, "/xapi/statements", Some(&first)).0, 200);
    // Learner 1's name under a second address (naming drift), long ago.
    let namesake = json!({"actor": {"mbox": "mailto:learner1.home@example.com", "name": "learner 1"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}, "object": {"id": "http://example.com/activity/0"},
        "timestamp": "2026-01-05T11:00:00Z"});
    assert_eq!(deployment.xapi(&auth, Method::POST, "/xapi/statements", Some(&namesake)).0, 200);
    let refused =
        json!({"actor": {"mbox": "mailto:learner0@example.com"}, "object": {"id": "http://example.com/activity/0"}});
    assert_eq!(deployment.xapi(&auth, Method::POST, "/xapi/statements", Some(&refused)).0, 400);
    // Until the analytics builder has applied them.
    let written = chrono::Utc::now();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, answer) = deployment.xapi(&auth, Method::GET, "/analytics/v1/query?measure=statements", None);
        let through = answer["consistent_through"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if through.is_some_and(|t| t >= written) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "analytics never caught up: {answer}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let artifacts = repository().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let output = Command::new("node")
        .arg("tests/e2e.mjs")
        .args([&lrs.origin, &lrs.key, &lrs.secret])
        .arg(&screenshot)
        .current_dir(&dashboard)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the dashboard test failed:\n{stdout}\n{stderr}\nserver:\n{}", lrs.stderr());
    assert!(screenshot.exists(), "a screenshot is kept");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("the script's report");
    assert_eq!(report["figures"]["statements"]["expected"], 120.0, "{report}");
    let quality = &report["quality"][&lrs.key];
    assert_eq!(quality["accepted"], 123, "120, the first statement, its duplicate, the namesake: {report}");
    assert_eq!(quality["rejected"], 1, "{report}");
    assert_eq!(quality["duplicates"], 1, "{report}");
    assert_eq!(quality["resent"], 1, "{report}");
    assert_eq!(quality["missing_registration"], 123, "no statement has a registration: {report}");
    assert_eq!(quality["missing_parent"], 3, "only the three extra statements lack a course: {report}");
    // Learner 1 sent 14 of the 120 (n % 9 == 1), the namesake 1.
    let drift: Vec<&str> = report["drift"].as_array().unwrap().iter().filter_map(|row| row.as_str()).collect();
    assert!(
        drift.iter().any(|row| row.starts_with("learner")
            && row.contains("mailto:learner1.home@example.com (1), mailto:learner1@example.com (14)")),
        "the page lists the learner drift: {report}"
    );
    assert_eq!(report["figures"]["learners"]["expected"], 9.0, "{report}");
}
