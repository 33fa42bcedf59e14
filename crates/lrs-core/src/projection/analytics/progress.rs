//! A learner's progress in one activity: what `GET /analytics/v1/learner`
//! answers, one row per (learner, activity).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::fact::Fact;

/// The verb that says its object was passed.
const PASSED: &str = "http://adlnet.gov/expapi/verbs/passed";

/// What a learner did in one activity, across sources and platforms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Its first statement's timestamp, microseconds.
    pub first_micros: i64,
    /// Its last statement's timestamp, microseconds.
    pub last_micros: i64,
    /// Statements about the activity.
    pub attempts: u64,
    /// Whether one completed it.
    pub completed: bool,
    /// Whether one passed it (`result.success` true, or the verb passed).
    pub passed: bool,
    /// The best `result.score.scaled`.
    pub best_score: Option<f64>,
    /// The sum of `result.duration`, seconds.
    pub time_spent_seconds: f64,
    /// The sources (credentials) its statements came from.
    pub sources: BTreeSet<String>,
    /// The platforms (`context.platform`) they came from.
    pub platforms: BTreeSet<String>,
}

impl Progress {
    /// Counts one statement.
    pub fn add(&mut self, fact: &Fact) {
        let single = Progress {
            first_micros: fact.timestamp_micros,
            last_micros: fact.timestamp_micros,
            attempts: 1,
            completed: fact.completes,
            passed: fact.success == Some(true) || fact.verb == PASSED,
            best_score: fact.score.filter(|s| s.is_finite()),
            time_spent_seconds: fact.duration.filter(|d| d.is_finite()).unwrap_or(0.0),
            sources: fact.source.iter().cloned().collect(),
            platforms: fact.platform.iter().cloned().collect(),
        };
        self.merge(&single);
    }

    /// Adds another part of the same learner's progress in the activity.
    pub fn merge(&mut self, other: &Progress) {
        if other.attempts == 0 {
            return;
        }
        if self.attempts == 0 {
            *self = other.clone();
            return;
        }
        self.first_micros = self.first_micros.min(other.first_micros);
        self.last_micros = self.last_micros.max(other.last_micros);
        self.attempts += other.attempts;
        self.completed |= other.completed;
        self.passed |= other.passed;
        self.best_score = match (self.best_score, other.best_score) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.time_spent_seconds += other.time_spent_seconds;
        self.sources.extend(other.sources.iter().cloned());
        self.platforms.extend(other.platforms.iter().cloned());
    }

    /// The row value.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("progress serialises")
    }

    /// Reads a row value back.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}
