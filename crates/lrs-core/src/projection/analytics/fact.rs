//! What the analytics projection keeps of a statement: its fact, the few
//! values every measure and dimension is computed from.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// ADL's verbs that complete their object (beside `result.completion`).
pub const COMPLETING_VERBS: [&str; 2] =
    ["http://adlnet.gov/expapi/verbs/completed", "http://adlnet.gov/expapi/verbs/passed"];

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// A dimension of the rollups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dimension {
    /// Every statement (one group).
    All,
    /// The verb's IRI.
    Verb,
    /// The object's activity id.
    Activity,
    /// A context parent or grouping activity (the course, the module).
    Parent,
    /// `context.platform`.
    Platform,
    /// The credential (or token subject) that sent it.
    Source,
    /// The actor (its subject, or its identifier without a vault).
    Learner,
}

impl Dimension {
    /// Every dimension the rollups are kept by.
    pub const ALL: [Dimension; 7] = [
        Dimension::All,
        Dimension::Verb,
        Dimension::Activity,
        Dimension::Parent,
        Dimension::Platform,
        Dimension::Source,
        Dimension::Learner,
    ];

    /// Its name in rows and in the API.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::Verb => "verb",
            Dimension::Activity => "activity",
            Dimension::Parent => "parent",
            Dimension::Platform => "platform",
            Dimension::Source => "source",
            Dimension::Learner => "learner",
        }
    }

    /// The dimension of a name.
    pub fn parse(name: &str) -> Option<Self> {
        Dimension::ALL.into_iter().find(|dimension| dimension.name() == name)
    }
}

/// One statement, as the analytics rollups see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// The statement id.
    #[serde(rename = "i")]
    pub id: Uuid,
    /// Its `timestamp`, microseconds since the epoch (UTC).
    #[serde(rename = "t")]
    pub timestamp_micros: i64,
    /// The learner: its subject key, or its identifier (no vault).
    #[serde(rename = "l")]
    pub learner: Option<String>,
    /// The verb's IRI.
    #[serde(rename = "v")]
    pub verb: String,
    /// The object's id when it is an activity.
    #[serde(rename = "a")]
    pub activity: Option<String>,
    /// Context parent and grouping activity ids.
    #[serde(rename = "p")]
    pub parents: Vec<String>,
    /// `context.platform`.
    #[serde(rename = "f")]
    pub platform: Option<String>,
    /// The credential or token subject that sent it (its authority's account name).
    #[serde(rename = "s")]
    pub source: Option<String>,
    /// `result.success`.
    #[serde(rename = "ok")]
    pub success: Option<bool>,
    /// Whether it completes its object (`result.completion` true, or a completing verb).
    #[serde(rename = "c")]
    pub completes: bool,
    /// `result.score.scaled`.
    #[serde(rename = "sc")]
    pub score: Option<f64>,
    /// `result.duration`, in seconds.
    #[serde(rename = "d")]
    pub duration: Option<f64>,
}

fn text(value: &Value, path: &[&str]) -> Option<String> {
    xapi::str_at(value, path).map(str::to_owned)
}

/// The ids of a context activities list (an object or an array of them).
fn activity_ids(list: Option<&Value>, ids: &mut Vec<String>) {
    let mut add = |item: &Value| {
        if let Some(id) = item.get("id").and_then(Value::as_str) {
            if !ids.iter().any(|known| known == id) {
                ids.push(id.to_owned());
            }
        }
    };
    match list {
        Some(Value::Array(items)) => items.iter().for_each(&mut add),
        Some(single @ Value::Object(_)) => add(single),
        _ => {}
    }
}

impl Fact {
    /// The fact of a stored statement, `None` for a voiding statement (which
    /// counts in no measure). `learner` is the key of its actor.
    pub fn of(statement: &Value, learner: Option<String>) -> Option<Fact> {
        let verb = xapi::str_at(statement, &["verb", "id"])?;
        if verb == xapi::VOIDED_VERB {
            return None;
        }
        let id = Uuid::parse_str(statement.get("id")?.as_str()?).ok()?;
        let timestamp = statement.get("timestamp").and_then(Value::as_str)?;
        let timestamp_micros = xapi::parse_timestamp(timestamp).ok()?.timestamp_micros();
        let object = statement.get("object");
        let is_activity =
            object.and_then(|o| o.get("objectType")).and_then(Value::as_str).is_none_or(|kind| kind == "Activity");
        let activity = if is_activity { object.and_then(|o| text(o, &["id"])) } else { None };
        let context = statement.get("context");
        let context_activities = context.and_then(|c| c.get("contextActivities"));
        let mut parents = Vec::new();
        activity_ids(context_activities.and_then(|c| c.get("parent")), &mut parents);
        activity_ids(context_activities.and_then(|c| c.get("grouping")), &mut parents);
        let account = xapi::at_path(statement, &["authority", "account"]);
        let source =
            account.filter(|a| a.get("homePage").is_some_and(Value::is_string)).and_then(|a| text(a, &["name"]));
        let result = statement.get("result");
        let completion = result.and_then(|r| r.get("completion")).and_then(Value::as_bool) == Some(true);
        Some(Fact {
            id,
            timestamp_micros,
            learner,
            completes: completion || COMPLETING_VERBS.contains(&verb),
            verb: verb.to_owned(),
            activity,
            parents,
            platform: context.and_then(|c| text(c, &["platform"])),
            source,
            success: result.and_then(|r| r.get("success")).and_then(Value::as_bool),
            score: result.and_then(|r| xapi::at_path(r, &["score", "scaled"])).and_then(Value::as_f64),
            duration: result.and_then(|r| r.get("duration")).and_then(Value::as_str).and_then(xapi::duration_seconds),
        })
    }

    /// The day of its timestamp: days since 1970-01-01 (UTC).
    pub fn day(&self) -> u32 {
        u32::try_from(self.timestamp_micros.div_euclid(DAY_MICROS)).unwrap_or(0)
    }

    /// Every group it counts in: (dimension, value).
    pub fn groups(&self) -> Vec<(Dimension, &str)> {
        let mut groups = vec![(Dimension::All, ""), (Dimension::Verb, self.verb.as_str())];
        groups.extend(self.activity.as_deref().map(|a| (Dimension::Activity, a)));
        groups.extend(self.parents.iter().map(|p| (Dimension::Parent, p.as_str())));
        groups.extend(self.platform.as_deref().map(|p| (Dimension::Platform, p)));
        groups.extend(self.source.as_deref().map(|s| (Dimension::Source, s)));
        groups.extend(self.learner.as_deref().map(|l| (Dimension::Learner, l)));
        groups
    }

    /// The value it has in `dimension`, when it has exactly one there.
    pub fn has(&self, dimension: Dimension, value: &str) -> bool {
        match dimension {
            Dimension::All => true,
            Dimension::Verb => self.verb == value,
            Dimension::Activity => self.activity.as_deref() == Some(value),
            Dimension::Parent => self.parents.iter().any(|p| p == value),
            Dimension::Platform => self.platform.as_deref() == Some(value),
            Dimension::Source => self.source.as_deref() == Some(value),
            Dimension::Learner => self.learner.as_deref() == Some(value),
        }
    }

    /// The row value (compact binary).
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("facts serialise")
    }

    /// Reads a row value back.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

/// A fact read in place from its row: the texts borrowed, not copied (what
/// a reader that only numbers them needs). Same fields, same order as [`Fact`].
#[derive(Debug, Deserialize)]
pub struct FactRef<'a> {
    /// The statement id.
    #[serde(rename = "i")]
    pub id: Uuid,
    /// Its `timestamp`, microseconds since the epoch (UTC).
    #[serde(rename = "t")]
    pub timestamp_micros: i64,
    /// The learner.
    #[serde(rename = "l", borrow)]
    pub learner: Option<&'a str>,
    /// The verb's IRI.
    #[serde(rename = "v")]
    pub verb: &'a str,
    /// The object's id when it is an activity.
    #[serde(rename = "a", borrow)]
    pub activity: Option<&'a str>,
    /// Context parent and grouping activity ids.
    #[serde(rename = "p", borrow)]
    pub parents: Vec<&'a str>,
    /// `context.platform`.
    #[serde(rename = "f", borrow)]
    pub platform: Option<&'a str>,
    /// The source.
    #[serde(rename = "s", borrow)]
    pub source: Option<&'a str>,
    /// `result.success`.
    #[serde(rename = "ok")]
    pub success: Option<bool>,
    /// Whether it completes its object.
    #[serde(rename = "c")]
    pub completes: bool,
    /// `result.score.scaled`.
    #[serde(rename = "sc")]
    pub score: Option<f64>,
    /// `result.duration`, in seconds.
    #[serde(rename = "d")]
    pub duration: Option<f64>,
}

impl<'a> FactRef<'a> {
    /// Reads a row value of [`Fact::encode`] in place.
    pub fn decode(bytes: &'a [u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

/// The month index (year × 12 + month − 1, UTC) of a day since 1970-01-01.
pub fn month_of_day(day: u32) -> u32 {
    crate::tables::month_of_micros(i64::from(day) * DAY_MICROS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fact_keeps_what_the_measures_need_and_voiding_statements_have_none() {
        let statement = json!({
            "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee", "timestamp": "2026-03-02T10:00:00Z",
            "actor": {"mbox": "mailto:a@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
            "object": {"id": "http://example.com/quiz"},
            "result": {"success": true, "score": {"scaled": 0.8}, "duration": "PT1M30S"},
            "context": {"platform": "VR", "contextActivities": {
                "parent": [{"id": "http://example.com/course"}], "grouping": {"id": "http://example.com/program"}}},
            "authority": {"account": {"homePage": "https://lrs.invalid/credentials", "name": "lms-key"}},
        });
        let fact = Fact::of(&statement, Some("subject:1".into())).unwrap();
        assert!(fact.completes, "passed completes its object");
        assert_eq!(fact.success, Some(true));
        assert_eq!(fact.score, Some(0.8));
        assert_eq!(fact.duration, Some(90.0));
        assert_eq!(fact.parents, ["http://example.com/course", "http://example.com/program"]);
        assert_eq!(fact.source.as_deref(), Some("lms-key"));
        assert_eq!(fact.day(), 20_514, "2026-03-02 is day 20514");
        assert_eq!(Fact::decode(&fact.encode()), Some(fact.clone()));
        let encoded = fact.encode();
        let read = FactRef::decode(&encoded).unwrap();
        assert_eq!((read.learner, read.verb, read.parents.len()), (Some("subject:1"), fact.verb.as_str(), 2));
        assert_eq!((read.source, read.score, read.duration), (Some("lms-key"), Some(0.8), Some(90.0)));
        assert_eq!(fact.groups().len(), 8);
        let mut voiding = statement.clone();
        voiding["verb"]["id"] = json!("http://adlnet.gov/expapi/verbs/voided");
        assert_eq!(Fact::of(&voiding, None), None);
    }

    #[test]
    fn months_count_from_year_zero() {
        assert_eq!(month_of_day(20_514), 2026 * 12 + 2);
        assert_eq!(month_of_day(0), 1970 * 12);
    }
}
