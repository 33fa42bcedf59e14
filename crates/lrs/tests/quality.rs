//! The data-quality report against counts this test keeps itself: two
//! credentials of a tenant send good statements and each kind of fault
//! (refused statements, duplicate events, resends, statements without a
//! registration or a parent, timestamps in the future or long past, a
//! conflicting id) in different numbers, and naming drift; the report
//! answers exactly those counts per source, on `lrs serve` and again after
//! `lrs replay`. Scopes: `analytics/read` reads it, `statements/read` does not.

mod common;

use std::collections::BTreeMap;

use common::deployment::{Auth, Deployment};
use common::Lrs;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const OPERATOR: &str = "operator-token-for-quality";
const SECRET: &str = "quality-secret";

fn start(dir: &std::path::Path) -> Lrs {
    let args = ["serve".to_owned(), "--listen".to_owned(), "127.0.0.1:0".to_owned(), "--data-dir".to_owned()];
    Lrs::start_with(&args, dir, SECRET, &[("LRS_OPERATOR_TOKEN".to_owned(), OPERATOR.to_owned())])
}

/// What the test expects the report to say about one source.
#[derive(Clone, Debug, Default, PartialEq)]
struct Expected {
    accepted: u64,
    rejections: BTreeMap<String, u64>,
    duplicates: u64,
    resent: u64,
    missing_registration: u64,
    missing_parent: u64,
    future_timestamps: u64,
    late_timestamps: u64,
}

impl Expected {
    fn as_report(&self, source: &str) -> Value {
        let rejections: Vec<Value> =
            self.rejections.iter().map(|(reason, count)| json!({"reason": reason, "count": count})).collect();
        json!({
            "source": source,
            "accepted": self.accepted,
            "rejected": self.rejections.values().sum::<u64>(),
            "rejections": rejections,
            "duplicates": self.duplicates,
            "resent": self.resent,
            "missing_registration": self.missing_registration,
            "missing_parent": self.missing_parent,
            "future_timestamps": self.future_timestamps,
            "late_timestamps": self.late_timestamps,
        })
    }
}

/// Sends statements as one source and keeps the counts the report must show.
struct Source<'a> {
    deployment: &'a Deployment,
    auth: Auth,
    expected: Expected,
    /// The (actor, verb, object, result, timestamp) of every event this
    /// tenant accepted, with the id that first carried it.
    events: &'a mut Vec<(Value, String)>,
}

impl Source<'_> {
    fn post(&mut self, body: &Value) -> (u16, Value) {
        self.deployment.xapi(&self.auth, Method::POST, "/xapi/statements", Some(body))
    }

    /// Posts statements that must be stored, counting what each lacks.
    fn accept(&mut self, statements: &[Value]) {
        let (status, answer) = self.post(&json!(statements));
        assert_eq!(status, 200, "{answer}");
        let now = chrono::Utc::now();
        for statement in statements {
            self.expected.accepted += 1;
            if statement.pointer("/context/registration").is_none() {
                self.expected.missing_registration += 1;
            }
            let lists = statement.pointer("/context/contextActivities");
            if lists.and_then(|l| l.get("parent").or(l.get("grouping"))).is_none() {
                self.expected.missing_parent += 1;
            }
            let timestamp = chrono::DateTime::parse_from_rfc3339(statement["timestamp"].as_str().unwrap()).unwrap();
            if timestamp > now + chrono::Duration::hours(1) {
                self.expected.future_timestamps += 1;
            }
            if timestamp < now - chrono::Duration::days(31) {
                self.expected.late_timestamps += 1;
            }
            let event = json!([
                statement["actor"],
                statement["verb"]["id"],
                statement["object"],
                statement["result"],
                statement["timestamp"]
            ]);
            let id = statement["id"].as_str().unwrap().to_owned();
            match self.events.iter().find(|(known, _)| *known == event) {
                Some((_, first)) if *first != id => self.expected.duplicates += 1,
                Some(_) => {}
                None => self.events.push((event, id)),
            }
        }
    }

    /// Posts a body that must be refused with `status`, counted under `reason`.
    fn refuse(&mut self, body: &Value, status: u16, reason: &str) {
        let (answered, answer) = self.post(body);
        assert_eq!(answered, status, "{answer}");
        let count = body.as_array().map_or(1, Vec::len) as u64;
        *self.expected.rejections.entry(reason.to_owned()).or_default() += count;
    }

    /// Sends an accepted statement again, unchanged.
    fn resend(&mut self, statement: &Value) {
        let (status, answer) = self.post(statement);
        assert_eq!(status, 200, "{answer}");
        self.expected.resent += 1;
    }
}

fn statement(learner: &str, verb: &str, activity: &str, timestamp: chrono::DateTime<chrono::Utc>) -> Value {
    json!({
        "id": Uuid::new_v4().to_string(),
        "actor": {"mbox": format!("mailto:{learner}@example.com"), "name": learner},
        "verb": {"id": verb, "display": {"en-US": "completed"}},
        "object": {"id": activity, "definition": {"name": {"en-US": "Module 1"}}},
        "result": {"completion": true},
        "timestamp": xapi_time(timestamp),
        "context": {
            "registration": Uuid::new_v4().to_string(),
            "contextActivities": {"parent": [{"id": "http://example.com/course/1"}]}
        }
    })
}

fn xapi_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Sends `times` of each fault, and some good statements.
fn send_every_fault(source: &mut Source, learner: &str, times: usize) {
    let now = chrono::Utc::now();
    let verb = "http://adlnet.gov/expapi/verbs/completed";
    for n in 0..times {
        let activity = format!("http://example.com/activity/{learner}/{n}");
        let good = statement(learner, verb, &activity, now);
        source.accept(std::slice::from_ref(&good));
        // The same event under another id, in a batch with a good statement.
        let mut duplicate = good.clone();
        duplicate["id"] = json!(Uuid::new_v4().to_string());
        let other = statement(learner, verb, &format!("{activity}/other"), now);
        source.accept(&[duplicate, other]);
        // The same statement again.
        source.resend(&good);
        // No registration; no parent; neither.
        let mut no_registration = statement(learner, verb, &format!("{activity}/r"), now);
        no_registration["context"].as_object_mut().unwrap().remove("registration");
        let mut no_parent = statement(learner, verb, &format!("{activity}/p"), now);
        no_parent["context"].as_object_mut().unwrap().remove("contextActivities");
        let mut bare = statement(learner, verb, &format!("{activity}/b"), now);
        bare.as_object_mut().unwrap().remove("context");
        source.accept(&[no_registration, no_parent, bare]);
        // A day ahead, and sixty days late.
        let future = statement(learner, verb, &format!("{activity}/f"), now + chrono::Duration::days(1));
        let late = statement(learner, verb, &format!("{activity}/l"), now - chrono::Duration::days(60));
        source.accept(&[future, late]);
        // Refused: a statement without a verb, a batch of two with a bad
        // actor, and another content under a stored id.
        let mut no_verb = statement(learner, verb, &activity, now);
        no_verb.as_object_mut().unwrap().remove("verb");
        source.refuse(&no_verb, 400, "invalid");
        let mut bad_actor = statement(learner, verb, &activity, now);
        bad_actor["actor"] = json!({"mbox": "not-a-mailbox"});
        source.refuse(&json!([statement(learner, verb, &activity, now), bad_actor]), 400, "invalid");
        let mut conflicting = good.clone();
        conflicting["result"] = json!({"completion": false});
        source.refuse(&conflicting, 409, "conflict");
    }
}

fn report(deployment: &Deployment, auth: &Auth) -> Value {
    let (status, report) = deployment.xapi(auth, Method::GET, "/quality/v1/report", None);
    assert_eq!(status, 200, "{report}");
    report
}

#[test]
fn the_report_counts_each_fault_per_source_on_serve_and_after_replay() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    let bootstrap = Auth::Basic(common::KEY.to_owned(), SECRET.to_owned());
    let second = deployment.credential("default", &["all"]);
    let Auth::Basic(second_key, _) = &second else { unreachable!() };
    let second_key = second_key.clone();

    let mut events = Vec::new();
    let mut first =
        Source { deployment: &deployment, auth: bootstrap, expected: Expected::default(), events: &mut events };
    send_every_fault(&mut first, "ann", 1);
    let first_expected = first.expected.clone();
    let mut other =
        Source { deployment: &deployment, auth: second, expected: Expected::default(), events: &mut events };
    send_every_fault(&mut other, "bob", 3);
    // Naming drift: one display under two verb IRIs, one name under two activity IRIs.
    let now = chrono::Utc::now();
    let drift = [
        statement("bob", "http://example.com/verbs/completed", "http://example.com/course/m1", now),
        statement("bob", "http://example.com/verbs/completed", "http://example.com/course/m1", now),
    ];
    other.accept(&drift);
    // Learner drift: "ann" (every statement of the first source) is also
    // the name, in other case and spaces, of a second learner.
    let mut namesakes = Vec::new();
    for _ in 0..2 {
        let mut namesake = statement("ann", "http://adlnet.gov/expapi/verbs/completed", "http://example.com/n", now);
        namesake["actor"] = json!({"mbox": "mailto:ann.smith@work.example.com", "name": "  ANN "});
        namesakes.push(namesake);
    }
    other.accept(&namesakes);
    let other_expected = other.expected.clone();

    // Every refusal was logged before its answer and is applied before any
    // later write of the tenant is acknowledged: the report is complete.
    let reader = deployment.credential("default", &["analytics/read"]);
    let mut sources = [(common::KEY.to_owned(), first_expected), (second_key, other_expected)];
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    let want_sources: Vec<Value> = sources.iter().map(|(key, expected)| expected.as_report(key)).collect();
    // Verb display "completed" under ADL's IRI (every fault statement) and
    // example.com's (2); activity name "module 1" under every activity IRI.
    let adl_completed = events.iter().filter(|(e, _)| e[1] == "http://adlnet.gov/expapi/verbs/completed").count();
    let check = |report: &Value| {
        assert_eq!(report["sources"], json!(want_sources), "{report:#}");
        let verbs = report["drift"]["verbs"].as_array().unwrap();
        assert_eq!(verbs.len(), 1, "{report:#}");
        assert_eq!(verbs[0]["name"], "completed");
        assert_eq!(
            verbs[0]["ids"],
            json!(["http://adlnet.gov/expapi/verbs/completed", "http://example.com/verbs/completed"])
        );
        let counts = verbs[0]["counts"].as_array().unwrap();
        assert_eq!(counts[1], 2, "the example.com verb was used twice");
        // Every accepted statement counts once, duplicates included (they are stored).
        let accepted_adl: u64 = sources.iter().map(|(_, e)| e.accepted).sum::<u64>() - 2;
        assert_eq!(counts[0], accepted_adl, "{report:#}");
        assert!(adl_completed as u64 <= accepted_adl);
        let activities = report["drift"]["activities"].as_array().unwrap();
        assert_eq!(activities.len(), 1, "{report:#}");
        assert_eq!(activities[0]["name"], "module 1");
        let activity_counts: u64 =
            activities[0]["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum();
        assert_eq!(activity_counts, accepted_adl + 2);
        assert_eq!(report["profiles"], json!([]), "no profile is loaded");
        let learners = &report["drift"]["learners"];
        let ann = json!([{"name": "ann", "ids": ["mailto:ann.smith@work.example.com", "mailto:ann@example.com"],
                          "counts": [2, sources.iter().find(|(key, _)| key == common::KEY).unwrap().1.accepted]}]);
        assert_eq!(*learners, ann, "bob's name is his alone: {report:#}");
    };
    check(&report(&deployment, &reader));

    // The scope: statements/read does not read the report.
    let statements_reader = deployment.credential("default", &["statements/read"]);
    let (status, _) = deployment.xapi(&statements_reader, Method::GET, "/quality/v1/report", None);
    assert_eq!(status, 403);
    let (status, answer) = deployment.xapi(&reader, Method::GET, "/quality/v1/report?since=2026-02-30", None);
    assert_eq!(status, 400, "{answer}");

    // A replay rebuilds the same report.
    drop(lrs);
    common::replay(dir.path());
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    check(&report(&deployment, &reader));

    // Erasure: the namesake's name and identifier leave the report.
    forget_and_wait(&deployment, &reader, "ann.smith@work.example.com");
}

/// Forgets the learner of `mbox` (without `mailto:`) and waits until the
/// report has no learner drift and no word of it.
fn forget_and_wait(deployment: &Deployment, reader: &Auth, mbox: &str) {
    let body = json!({"agent": {"mbox": format!("mailto:{mbox}")}});
    assert_eq!(deployment.admin(Method::POST, "/admin/tenants/default/forget", Some(body)).0, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let after = report(deployment, reader);
        if after["drift"]["learners"] == json!([]) {
            assert!(!after.to_string().contains(mbox), "{after:#}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the forgotten learner stays: {after:#}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A statement of learner `cy{learner}` (named "Cy"), verb `{verb}`
/// displayed "Watched", activity `{activity}` named "Clip".
fn watched(learner: usize, verb: usize, activity: usize) -> Value {
    json!({
        "actor": {"mbox": format!("mailto:cy{learner}@example.com"), "name": "Cy"},
        "verb": {"id": format!("http://example.com/verbs/watched{verb}"), "display": {"en-US": "Watched"}},
        "object": {"id": format!("http://example.com/clips/{activity}"), "definition": {"name": {"en-US": "Clip"}}},
    })
}

/// The drift report's group of `name` in `kind`: its ids and counts.
fn drift_group(report: &Value, kind: &str, name: &str) -> Option<(Vec<String>, Vec<u64>)> {
    let groups = report["drift"][kind].as_array().unwrap();
    let group = groups.iter().find(|group| group["name"] == name)?;
    let ids = group["ids"].as_array().unwrap().iter().map(|id| id.as_str().unwrap().to_owned()).collect();
    let counts = group["counts"].as_array().unwrap().iter().map(|count| count.as_u64().unwrap()).collect();
    Some((ids, counts))
}

/// Names are counted per projector batch in a pending row and added into
/// their rows every few dozen batches: the report is exact whichever rows
/// the counts are in, over many batches (each POST is one), across a
/// restart (which starts with nothing known of the pending rows) and an
/// erasure (the learner's pending counts go too).
#[test]
fn drift_counts_are_exact_over_many_batches_a_restart_and_an_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    let writer = Auth::Basic(common::KEY.to_owned(), SECRET.to_owned());
    let reader = deployment.credential("default", &["analytics/read"]);
    // (learner, verb, activity) → statements sent; learner → statements since it was last forgotten.
    let mut sent: BTreeMap<(usize, usize, usize), u64> = BTreeMap::new();
    let mut named: BTreeMap<usize, u64> = BTreeMap::new();
    let mut post = |deployment: &Deployment, from: usize, to: usize, named: &mut BTreeMap<usize, u64>| {
        for n in from..to {
            let (learner, verb, activity) = (n % 2, n % 2, n % 3);
            let body = json!([watched(learner, verb, activity)]);
            let (status, answer) = deployment.xapi(&writer, Method::POST, "/xapi/statements", Some(&body));
            assert_eq!(status, 200, "{answer}");
            *sent.entry((learner, verb, activity)).or_default() += 1;
            *named.entry(learner).or_default() += 1;
        }
        sent.clone()
    };
    let expect =
        |deployment: &Deployment, sent: &BTreeMap<(usize, usize, usize), u64>, named: &BTreeMap<usize, u64>| {
            let by = |pick: &dyn Fn(&(usize, usize, usize)) -> usize, of: usize| -> u64 {
                sent.iter().filter(|(key, _)| pick(key) == of).map(|(_, count)| count).sum()
            };
            let report = report(deployment, &reader);
            let verbs = drift_group(&report, "verbs", "watched").expect("the verbs' drift");
            let verb_ids =
                vec!["http://example.com/verbs/watched0".to_owned(), "http://example.com/verbs/watched1".to_owned()];
            assert_eq!(verbs, (verb_ids, vec![by(&|k| k.1, 0), by(&|k| k.1, 1)]), "{report:#}");
            let clips = drift_group(&report, "activities", "clip").expect("the activities' drift");
            let clip_counts: Vec<u64> = (0..3).map(|activity| by(&|k| k.2, activity)).collect();
            assert_eq!(clips.1, clip_counts, "{report:#}");
            let learners: Vec<(usize, u64)> = named.iter().map(|(learner, count)| (*learner, *count)).collect();
            let ids = learners.iter().map(|(learner, _)| format!("mailto:cy{learner}@example.com")).collect();
            let counts = learners.iter().map(|(_, count)| *count).collect();
            assert_eq!(drift_group(&report, "learners", "cy"), Some((ids, counts)), "{report:#}");
        };
    // More batches than a tenant's pending rows gather before they are added up.
    let sent = post(&deployment, 0, 75, &mut named);
    expect(&deployment, &sent, &named);
    // A restart: the first batch after it adds up what is pending.
    drop(lrs);
    let lrs = start(dir.path());
    let deployment = Deployment::new(&lrs.origin, OPERATOR, "");
    let sent = post(&deployment, 75, 120, &mut named);
    expect(&deployment, &sent, &named);
    // Forgetting cy1: its name counts leave the report, pending or not; the
    // verbs and clips it used keep their counts (they were counted when
    // its statements came).
    forget_and_wait(&deployment, &reader, "cy1@example.com");
    // cy1 again: counted from nothing.
    named.remove(&1);
    let sent = post(&deployment, 120, 190, &mut named);
    expect(&deployment, &sent, &named);
}
