//! `make cluster-up` as an operator and a client use it: scripts/cluster.sh
//! starts a broker, the projector+query process, two gateways and the nginx
//! router, and prints ENDPOINT=, KEY=, SECRET=, ADMIN_URL= and
//! OPERATOR_TOKEN=. Through the router, tenants and credentials made at
//! ADMIN_URL work within 2 seconds (Basic and JWT) and stay apart on every
//! route; erasure leaves the agent in no answer and in no file of the
//! cluster (data dirs and broker storage), also after `cluster.sh replay`;
//! analytics answer what the statements sent through the router say, also
//! after an erasure and a replay.
//!
//! Needs tansu and nginx, which `make test` installs (scripts/test-deps.sh).
//! Outside CI a missing tool skips the test saying so; under CI it fails.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::analytics::{check_everything, post_and_void, settled, Sent};
use common::deployment::{
    assert_tenants_isolated, check_forgotten, forget, write_erasure_world, Deployment, FORGOTTEN, KEPT,
};
use common::skip_or_fail;
use reqwest::Method;

const JWT_SECRET: &str = "jwt-secret-for-the-cluster-test";

/// A cluster started by scripts/cluster.sh in a directory of its own, on free ports.
struct Cluster {
    dir: tempfile::TempDir,
    printed: HashMap<String, String>,
    env: Vec<(String, String)>,
}

/// A port free now and never handed out before in this test process (the
/// two tests here start clusters at once: a port taken twice would route one
/// cluster's requests to the other's processes).
fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap();
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cluster.sh")
}

fn nginx_installed() -> bool {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().any(|path| Path::new(path).exists())
}

impl Cluster {
    /// Starts one, or says why the test is skipped.
    fn up() -> Option<Cluster> {
        Self::up_with(&[])
    }

    /// Starts one with more environment for its processes.
    fn up_with(extra: &[(&str, &str)]) -> Option<Cluster> {
        if !common::tansu_installed() || !nginx_installed() {
            skip_or_fail("the cluster test needs tansu and nginx (scripts/test-deps.sh installs them)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let env: Vec<(String, String)> = [
            ("CLUSTER_DIR", dir.path().display().to_string()),
            ("ROUTER_PORT", free_port().to_string()),
            ("BROKER_PORT", free_port().to_string()),
            ("QUERY_PORT", free_port().to_string()),
            ("GATEWAY_PORTS", format!("{} {}", free_port(), free_port())),
            ("LRS_BIN", env!("CARGO_BIN_EXE_lrs").to_owned()),
            ("LRS_JWT_HS256_SECRET", JWT_SECRET.to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .chain(extra.iter().map(|(name, value)| (name.to_string(), value.to_string())))
        .collect();
        let output = Command::new("bash")
            .arg(script())
            .arg("up")
            .env_remove("LRS_BOOTSTRAP_KEY")
            .env_remove("LRS_BOOTSTRAP_SECRET")
            .env_remove("LRS_OPERATOR_TOKEN")
            .envs(env.iter().cloned())
            .output()
            .expect("run cluster.sh up");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let cluster = Cluster {
            printed: stdout
                .lines()
                .filter_map(|line| line.split_once('='))
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            dir,
            env,
        };
        assert!(
            output.status.success(),
            "cluster.sh up failed: {stdout}\n{}\n{}",
            String::from_utf8_lossy(&output.stderr),
            cluster.logs()
        );
        Some(cluster)
    }

    fn printed(&self, name: &str) -> &str {
        self.printed.get(name).unwrap_or_else(|| panic!("cluster.sh up did not print {name}=: {:?}", self.printed))
    }

    /// The deployment as the printed values describe it.
    fn deployment(&self) -> Deployment {
        let endpoint = self.printed("ENDPOINT");
        let admin = self.printed("ADMIN_URL");
        let mut deployment =
            Deployment::new(endpoint.strip_suffix("/xapi").unwrap(), self.printed("OPERATOR_TOKEN"), JWT_SECRET);
        deployment.admin_origin = admin.strip_suffix("/admin").expect("ADMIN_URL ends in /admin").to_owned();
        deployment
    }

    /// `cluster.sh replay`: the projector's tables rebuilt from Kafka.
    fn replay(&self) {
        let output = Command::new("bash").arg(script()).arg("replay").envs(self.env.iter().cloned()).output().unwrap();
        assert!(
            output.status.success(),
            "cluster.sh replay failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
    }

    /// `cluster.sh kill-projector`: SIGKILL the projector+query process and start it again.
    fn kill_projector(&self) {
        let output =
            Command::new("bash").arg(script()).arg("kill-projector").envs(self.env.iter().cloned()).output().unwrap();
        assert!(
            output.status.success(),
            "cluster.sh kill-projector failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
    }

    /// The last lines of every process's log, for failure messages.
    fn logs(&self) -> String {
        let mut logs = String::new();
        for entry in std::fs::read_dir(self.dir.path()).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                logs.push_str(&format!(
                    "--- {}\n{}\n",
                    path.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
        }
        logs
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("down").envs(self.env.iter().cloned()).output();
    }
}

#[test]
fn credentials_made_at_admin_url_work_through_the_router_and_tenants_stay_apart() {
    let Some(cluster) = Cluster::up() else { return };
    let deployment = cluster.deployment();
    deployment.tenant("router-tenant", None);
    let basic = deployment.credential("router-tenant", &["all"]);
    let waited = deployment.wait_until_accepted(&basic, Duration::from_secs(2));
    eprintln!("a credential made at ADMIN_URL worked through the router after {waited:?}");
    deployment.wait_until_accepted(&deployment.token("router-tenant", "all", 600), Duration::from_secs(2));
    let body = serde_json::json!({"actor": {"mbox": "mailto:router@example.com"}, "verb": {"id": "http://example.com/v"},
                                  "object": {"id": "http://example.com/router"}});
    let (status, ids) = deployment.xapi(&basic, Method::POST, "/xapi/statements", Some(&body));
    assert_eq!(status, 200, "a write through the router: {ids}");
    let id = ids[0].as_str().unwrap();
    let (status, read) = deployment.xapi(&basic, Method::GET, &format!("/xapi/statements?statementId={id}"), None);
    assert_eq!(status, 200, "and read back through the router: {read}");

    // An export through the router holds the statement, and the audit trail
    // (written through the log by the query role) records it.
    let common::deployment::Auth::Basic(key, secret) = &basic else { unreachable!() };
    let response = deployment
        .http
        .get(format!("{}/export/v1/statements?format=csv", deployment.origin))
        .basic_auth(key, Some(secret))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let csv = response.text().unwrap();
    assert_eq!(csv.lines().count(), 2, "a header and the one statement: {csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with(id), "{csv}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, trail) = deployment.admin(Method::GET, "/admin/audit", None);
        assert_eq!(status, 200);
        let recorded = trail.as_array().unwrap().iter().any(|entry| {
            entry["action"] == "statements.export"
                && entry["tenant"] == "router-tenant"
                && entry["credential"] == serde_json::json!(key)
                && entry["detail"]["rows"] == 1
        });
        if recorded {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no export in the audit trail: {trail}");
        std::thread::sleep(Duration::from_millis(100));
    }

    assert_tenants_isolated(&deployment);
}

#[test]
fn erasure_on_the_cluster_leaves_nothing_in_any_answer_or_file_also_after_a_replay() {
    let Some(cluster) = Cluster::up() else { return };
    let deployment = cluster.deployment();
    deployment.tenant("erasing", None);
    let auth = deployment.credential("erasing", &["all"]);
    deployment.wait_until_accepted(&auth, Duration::from_secs(2));
    let world = write_erasure_world(&deployment, &auth);
    // Both gateways see a new agent at the same moment: one subject, or the
    // erasure below would leave the statements sealed for the other one.
    let twin = serde_json::json!({"mbox": "mailto:twin@example.com", "name": "Twin Learner"});
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (origin, twin) = (deployment.origin.clone(), twin.clone());
            let (key, secret) = match &auth {
                common::deployment::Auth::Basic(key, secret) => (key.clone(), secret.clone()),
                common::deployment::Auth::Bearer(_) => unreachable!(),
            };
            std::thread::spawn(move || {
                let body = serde_json::json!({"actor": twin, "verb": {"id": "http://example.com/v"},
                                              "object": {"id": "http://example.com/twin"}});
                let response = common::client()
                    .post(format!("{origin}/xapi/statements"))
                    .header("X-Experience-API-Version", "1.0.3")
                    .basic_auth(key, Some(secret))
                    .json(&body)
                    .send()
                    .unwrap();
                response.status().as_u16()
            })
        })
        .collect();
    for writer in writers {
        assert_eq!(writer.join().unwrap(), 200);
    }
    let twin_param = common::deployment::enc(&twin.to_string());
    let (_, page) = deployment.xapi(&auth, Method::GET, &format!("/xapi/statements?agent={twin_param}"), None);
    assert_eq!(page["statements"].as_array().map(Vec::len), Some(8), "{page}");
    let body = serde_json::json!({"agent": {"mbox": "mailto:twin@example.com"}});
    assert_eq!(deployment.admin(Method::POST, "/admin/tenants/erasing/forget", Some(body)).0, 204);
    let (_, page) = deployment.xapi(&auth, Method::GET, "/xapi/statements?limit=0", None);
    assert!(!page.to_string().contains("twin@example.com"), "a second subject kept some: {page}");
    // Before: the cluster holds the agent, sealed (the walk reads it back).
    let (status, _) = deployment.xapi(
        &auth,
        Method::GET,
        &format!("/xapi/statements?statementId={}", world.forgotten_statement),
        None,
    );
    assert_eq!(status, 200);

    forget(&deployment, "erasing");
    check_forgotten(&deployment, &auth, &world);
    // Every file of the cluster: the store and key vault of projector+query,
    // the broker's storage, the gateways' and the router's directories and
    // every process's log.
    common::assert_no_file_holds(cluster.dir.path(), &FORGOTTEN);
    common::assert_no_file_holds(cluster.dir.path(), &KEPT);
    common::assert_no_file_holds(cluster.dir.path(), &["twin@example.com", "Twin Learner"]);

    cluster.replay();
    check_forgotten(&deployment, &auth, &world);
    common::assert_no_file_holds(cluster.dir.path(), &FORGOTTEN);
    let (_, page) = deployment.xapi(&auth, Method::GET, "/xapi/statements?limit=0", None);
    assert!(!page.to_string().contains("twin@example.com"), "a replay brings the twin back: {page}");

    // A gateway that sealed for the agent before it was forgotten seals for
    // a new subject when the agent comes back.
    let again = serde_json::json!({"actor": world.x, "verb": {"id": "http://example.com/returned"},
                                   "object": {"id": "http://example.com/course"}});
    for _ in 0..4 {
        let (status, answer) = deployment.xapi(&auth, Method::POST, "/xapi/statements", Some(&again));
        assert_eq!(status, 200, "a forgotten agent may come back: {answer}");
    }
    let (_, page) = deployment.xapi(
        &auth,
        Method::GET,
        &format!("/xapi/statements?agent={}", common::deployment::enc(&world.x.to_string())),
        None,
    );
    assert_eq!(page["statements"].as_array().map(Vec::len), Some(4), "only what came after the erasure: {page}");
}

#[test]
fn analytics_through_the_router_match_a_recomputation_also_after_erasure_and_replay() {
    let Some(cluster) = Cluster::up() else { return };
    let deployment = cluster.deployment();
    deployment.tenant("learning", None);
    let mut credentials = Vec::new();
    // (statements/read: what wait_until_accepted reads with)
    for scopes in
        [&["statements/write", "statements/read", "analytics/read"][..], &["statements/write", "statements/read"][..]]
    {
        let auth = deployment.credential("learning", scopes);
        deployment.wait_until_accepted(&auth, Duration::from_secs(2));
        let common::deployment::Auth::Basic(key, _) = &auth else { unreachable!() };
        credentials.push((key.clone(), auth));
    }
    // Written through the gateways and Kafka, counted by the builder of the
    // projector process, answered by its query role: every measure by every
    // dimension, each filter and day bounds, as the statements say.
    let sent = post_and_void(&deployment, &credentials);
    let reader = &credentials[0].1;
    check_everything(&deployment, reader, &sent.iter().collect::<Vec<_>>());

    // Erasure reaches the answers (the day blocks of the query role too).
    let forgotten = "learner3@example.com";
    let body = serde_json::json!({"agent": {"mbox": format!("mailto:{forgotten}")}});
    assert_eq!(deployment.admin(Method::POST, "/admin/tenants/learning/forget", Some(body)).0, 204);
    let remaining: Vec<&Sent> =
        sent.iter().filter(|s| s.learner != forgotten && s.instructor.as_deref() != Some(forgotten)).collect();
    assert!(remaining.len() < sent.len() - 5, "the erasure removes something");
    settled(&deployment, reader);
    check_everything(&deployment, reader, &remaining);

    // The rollups rebuilt from Kafka answer the same.
    cluster.replay();
    settled(&deployment, reader);
    check_everything(&deployment, reader, &remaining);
}

#[test]
fn forwarding_from_the_cluster_delivers_every_matching_statement_once_through_an_outage_and_a_sigkill() {
    use common::forwarding::{
        admin_as, free_port as unused_port, post_batches_with, target_ids, wait_for_status_as, FORWARDER_STATUS_TIMEOUT,
    };
    let Some(cluster) = Cluster::up_with(&[("LRS_FORWARD_RETRY_MAX_MS", "1000")]) else { return };
    let deployment = cluster.deployment();
    let (origin, token) = (deployment.admin_origin.clone(), deployment.operator.clone());
    let writer =
        common::deployment::Auth::Basic(cluster.printed("KEY").to_owned(), cluster.printed("SECRET").to_owned());
    let post = |body: &serde_json::Value| deployment.xapi(&writer, Method::POST, "/xapi/statements", Some(body));
    let target_port = unused_port();
    let target_secret = format!("target-{}", uuid::Uuid::new_v4().simple());
    let (wanted, other) = (common::unique_verb(), common::unique_verb());
    let forwarder = serde_json::json!({
        "name": "copy",
        "target": {"kind": "lrs", "endpoint": format!("http://127.0.0.1:{target_port}/xapi"), "key": common::KEY, "secret": target_secret},
        "filter": {"verb": wanted},
        "batch_size": 10,
    });
    let (status, body) = admin_as(&origin, &token, Method::POST, "/admin/tenants/default/forwarders", Some(&forwarder));
    assert_eq!(status, 201, "{body}");

    // Written through the gateways and Kafka while the target is down.
    let mut matching = post_batches_with(&post, &wanted, &other, 3, 100);
    let status = wait_for_status_as(&origin, &token, ("default", "copy"), FORWARDER_STATUS_TIMEOUT, |s| {
        s["failed_attempts"].as_u64() >= Some(2) && s["pending"].as_u64() == Some(150)
    });
    assert_eq!(status["delivered"], 0, "{status}");
    // More arrive while it is still down, so that there is much to deliver
    // when it comes up.
    matching.extend(post_batches_with(&post, &wanted, &other, 20, 100));
    let pending = matching.len() as u64;
    wait_for_status_as(&origin, &token, ("default", "copy"), FORWARDER_STATUS_TIMEOUT, |s| {
        s["pending"].as_u64() == Some(pending)
    });

    // The target comes up; the projector process (which forwards) is
    // SIGKILLed while it delivers, and started again.
    let target_dir = tempfile::TempDir::new().unwrap();
    let args: Vec<String> = ["serve", "--listen", &format!("127.0.0.1:{target_port}"), "--data-dir"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let target = common::Lrs::start_with(&args, target_dir.path(), &target_secret, &[]);
    let started = std::time::Instant::now();
    let delivered_at_kill = loop {
        let (_, body) = admin_as(&origin, &token, Method::GET, "/admin/tenants/default/forwarders/copy", None);
        let delivered = body["status"]["delivered"].as_u64().unwrap_or(0);
        if delivered > 0 {
            cluster.kill_projector();
            break delivered;
        }
        assert!(started.elapsed() < FORWARDER_STATUS_TIMEOUT, "nothing delivered: {body}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!((delivered_at_kill as usize) < matching.len(), "killed after delivering all {delivered_at_kill}");
    let total = matching.len() as u64;
    let status = wait_for_status_as(&origin, &token, ("default", "copy"), FORWARDER_STATUS_TIMEOUT, |s| {
        s["delivered"].as_u64() == Some(total)
    });
    assert_eq!(status["pending"], 0, "{status}");
    assert_eq!(status["dead_lettered"], 0, "{status}");

    let got = target_ids(&target, None);
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "the target lists a statement twice");
    matching.sort();
    assert_eq!(unique, matching, "the target must hold exactly the matching statements");
}
