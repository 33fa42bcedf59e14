//! The engine against published profiles (ADL's cmi5 and video profiles,
//! fixtures/SOURCES.md says where each comes from) and statements written
//! for their templates; the expected verdicts were computed by an
//! independent transcription of the specification's algorithms.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use xapi_profiles::{Applies, LoadedProfile, Profile, ProfileSet, Progress};

fn read(relative: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn set(fixture: &str) -> ProfileSet {
    let profile = Profile::parse(&read(&format!("fixtures/{fixture}"))).expect("the published profile loads");
    ProfileSet::new(vec![LoadedProfile { profile, applies: Applies::Category }])
}

/// What a statement gets: the templates it follows and, per template it
/// breaks, the location of the rule that fails first.
fn verdict(profiles: &ProfileSet, example: &str) -> (BTreeSet<String>, Vec<(String, String)>) {
    let statement = read(&format!("examples/{example}"));
    let verdict = profiles.validate(&statement, &|_| None);
    let failures = verdict.failures.iter().map(|f| (f.template.clone(), f.rule.clone())).collect();
    (verdict.matched.into_iter().collect(), failures)
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const CMI5: &str = "https://w3id.org/xapi/cmi5#";
const VIDEO: &str = "https://w3id.org/xapi/video/templates#";

#[test]
fn cmi5_statements_follow_or_break_the_templates_they_match() {
    let cmi5 = set("cmi5-v1.0.jsonld");
    let t = |name: &str| format!("{CMI5}{name}");
    for (example, template) in [
        ("cmi5/completed.valid.json", "completed"),
        ("cmi5/initialized.valid.json", "initialized"),
        ("cmi5/launched.valid.json", "launched"),
        ("cmi5/terminated.valid.json", "terminated"),
    ] {
        let (matched, failures) = verdict(&cmi5, example);
        assert_eq!(matched, ids(&[&t("generalrestrictions"), &t(template)]), "{example}");
        assert!(failures.is_empty(), "{example}: {failures:?}");
    }
    let broken = [
        ("cmi5/completed.invalid-missing-moveon-any.json", "completed", "$.context.contextActivities.category[*].id"),
        ("cmi5/completed.invalid-success-excluded.json", "completed", "$.result.success"),
        (
            "cmi5/launched.invalid-launchmode-all.json",
            "launched",
            "$.context.extensions['https://w3id.org/xapi/cmi5/context/extensions/launchmode']",
        ),
        // A statement cmi5 itself allows, but the profile's rule points at
        // `$.result['…reason']` instead of result.extensions: it fails.
        (
            "cmi5/waived.cmi5-correct-but-fails-profile.json",
            "waived",
            "$.result['https://w3id.org/xapi/cmi5/result/extensions/reason']",
        ),
    ];
    for (example, template, location) in broken {
        let (_, failures) = verdict(&cmi5, example);
        let of_template: Vec<_> = failures.iter().filter(|(id, _)| *id == t(template)).collect();
        assert_eq!(of_template.len(), 1, "{example} must break {template}: {failures:?}");
        assert!(
            of_template[0].1.starts_with(location),
            "{example}: failing rule {:?}, want {location}",
            of_template[0].1
        );
    }
}

#[test]
fn video_statements_follow_or_break_the_templates_they_match() {
    let video = set("video-v1.0.3.jsonld");
    let t = |name: &str| format!("{VIDEO}{name}");
    for (example, template) in [
        ("video/completed.valid.json", "completed"),
        ("video/initialized.valid.json", "initialized"),
        ("video/paused.valid.json", "paused"),
        ("video/played.valid.json", "played"),
        ("video/terminated.valid.json", "terminated"),
    ] {
        let (matched, failures) = verdict(&video, example);
        assert_eq!(matched, ids(&[&t(template)]), "{example}");
        assert!(failures.is_empty(), "{example}: {failures:?}");
    }
    let (matched, failures) = verdict(&video, "video/completed.unmatched-no-activity-type.json");
    assert!(matched.is_empty() && failures.is_empty(), "without the video activity type no template matches");

    for (example, template, location) in [
        ("video/completed.invalid-missing-duration.json", "completed", "$.result.duration"),
        (
            "video/paused.invalid-missing-played-segments.json",
            "paused",
            "$.result.extensions['https://w3id.org/xapi/video/extensions/played-segments']",
        ),
        (
            "video/played.invalid-missing-time.json",
            "played",
            "$.result.extensions['https://w3id.org/xapi/video/extensions/time']",
        ),
    ] {
        let (_, failures) = verdict(&video, example);
        assert_eq!(failures, vec![(t(template), location.to_owned())], "{example}");
    }
    // The three volumechange-like templates share their determining
    // properties: a statement shaped for one matches all three and breaks
    // the other two, as the specification's algorithm says.
    let (_, failures) = verdict(&video, "video/volumechange.spec-algorithm-invalid-overlap.json");
    let broken: BTreeSet<String> = failures.into_iter().map(|(template, _)| template).collect();
    assert_eq!(broken, ids(&[&t("closed-captioning"), &t("screenchange")]));
}

/// The templates each statement of a sequence matched, as the pattern check takes them.
fn sequence(profiles: &ProfileSet, example: &str) -> Vec<BTreeSet<String>> {
    let statements = read(&format!("examples/{example}"));
    let statements = statements.as_array().expect("a pattern example is an array");
    profiles.validate_batch(statements).into_iter().map(|verdict| verdict.matched.into_iter().collect()).collect()
}

#[test]
fn registrations_follow_or_break_the_primary_patterns() {
    let cmi5 = set("cmi5-v1.0.jsonld");
    let profile = "https://w3id.org/xapi/cmi5";
    let progress = |example: &str| cmi5.follow(profile, &sequence(&cmi5, example)).map(|(_, progress)| progress);
    assert_eq!(progress("cmi5/pattern.session.valid.json"), Some(Progress::Complete));
    assert_ne!(progress("cmi5/pattern.session.unfinished.json"), Some(Progress::Broken));
    assert_eq!(progress("cmi5/pattern.session.out-of-order.json"), Some(Progress::Broken));

    let video = set("video-v1.0.3.jsonld");
    let profile = "https://w3id.org/xapi/video";
    let progress = |example: &str| video.follow(profile, &sequence(&video, example)).map(|(_, progress)| progress);
    assert_ne!(progress("video/pattern.valid.json"), Some(Progress::Broken));
    assert_eq!(progress("video/pattern.missing-initialized.json"), Some(Progress::Broken));
}

#[test]
fn every_published_profile_loads_or_is_refused_with_a_reason() {
    for fixture in [
        "cmi5-v1.0.jsonld",
        "video-v1.0.3.jsonld",
        "video-v1.0.jsonld",
        "video-toplevel-v1.0.2.jsonld",
        "audio-v1.0.jsonld",
        "flashcards-v0.1.jsonld",
        "learnercompetencyassertion.json",
        "scorm-v1.0.jsonld",
        "third-party/persephone-cmi5.json",
        "third-party/persephone-calibration.jsonld",
    ] {
        match Profile::parse(&read(&format!("fixtures/{fixture}"))) {
            Ok(profile) => assert!(!profile.templates.is_empty(), "{fixture}: loaded without templates"),
            Err(error) => panic!("{fixture} is a published profile and must load: {error}"),
        }
    }
    // ADL's empty starter template and a 2020 stub with no id are refused, saying why.
    for fixture in ["starter-template.jsonld", "cmi5-toplevel-categories.jsonld"] {
        let error = Profile::parse(&read(&format!("fixtures/{fixture}"))).expect_err(fixture).to_string();
        assert!(!error.is_empty(), "{fixture}: refused without a reason");
        println!("{fixture}: {error}");
    }
}
