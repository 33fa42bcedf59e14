//! The measures of the analytics API, and the row of a group's measure
//! values kept beside its whole-time aggregate (what a question over all of
//! a tenant's days reads, without merging sketches).

use super::aggregate::{Aggregate, Parts};

/// What a question measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Statements.
    Statements,
    /// Distinct learners (actors).
    Learners,
    /// Completed (learner, activity) pairs.
    Completions,
    /// Completed pairs ÷ pairs seen.
    CompletionRate,
    /// Statements with `result.success` true ÷ those with it set.
    PassRate,
    /// Mean `result.score.scaled`.
    ScoreMean,
    /// Median `result.score.scaled`.
    ScoreP50,
    /// 90th percentile of `result.score.scaled`.
    ScoreP90,
    /// Median `result.duration`, seconds.
    DurationP50,
    /// 90th percentile of `result.duration`, seconds.
    DurationP90,
    /// Statements ÷ distinct learners.
    InteractionsPerLearner,
}

impl Measure {
    /// Every measure.
    pub const ALL: [Measure; 11] = [
        Measure::Statements,
        Measure::Learners,
        Measure::Completions,
        Measure::CompletionRate,
        Measure::PassRate,
        Measure::ScoreMean,
        Measure::ScoreP50,
        Measure::ScoreP90,
        Measure::DurationP50,
        Measure::DurationP90,
        Measure::InteractionsPerLearner,
    ];

    /// Its name in the API.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Statements => "statements",
            Measure::Learners => "learners",
            Measure::Completions => "completions",
            Measure::CompletionRate => "completion_rate",
            Measure::PassRate => "pass_rate",
            Measure::ScoreMean => "score_mean",
            Measure::ScoreP50 => "score_p50",
            Measure::ScoreP90 => "score_p90",
            Measure::DurationP50 => "duration_p50",
            Measure::DurationP90 => "duration_p90",
            Measure::InteractionsPerLearner => "interactions_per_learner",
        }
    }

    /// The measure of a name.
    pub fn parse(name: &str) -> Option<Self> {
        Measure::ALL.into_iter().find(|measure| measure.name() == name)
    }

    /// The parts of an aggregate its value needs.
    pub fn parts(self) -> Parts {
        match self {
            Measure::Statements | Measure::PassRate | Measure::ScoreMean => Parts::Counts,
            Measure::ScoreP50 | Measure::ScoreP90 => Parts::Scores,
            Measure::DurationP50 | Measure::DurationP90 => Parts::Durations,
            Measure::Learners | Measure::InteractionsPerLearner => Parts::Learners,
            Measure::Completions | Measure::CompletionRate => Parts::All,
        }
    }

    /// Its value over a group; `None` when the group has nothing it applies to
    /// (a rate with no denominator, a quantile of nothing).
    pub fn of(self, aggregate: &Aggregate) -> Option<f64> {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let quantile = |sketch: &sketches_ddsketch::DDSketch, q| sketch.quantile(q).ok().flatten();
        match self {
            Measure::Statements => Some(aggregate.statements as f64),
            Measure::Learners => Some(aggregate.learners.count() as f64),
            Measure::Completions => Some(aggregate.completed.count() as f64),
            Measure::CompletionRate => ratio(aggregate.completed.count(), aggregate.pairs.count()),
            Measure::PassRate => ratio(aggregate.success_true, aggregate.success_set),
            Measure::ScoreMean => {
                (aggregate.score_count > 0).then(|| aggregate.score_sum / aggregate.score_count as f64)
            }
            Measure::ScoreP50 => quantile(&aggregate.scores, 0.5),
            Measure::ScoreP90 => quantile(&aggregate.scores, 0.9),
            Measure::DurationP50 => quantile(&aggregate.durations, 0.5),
            Measure::DurationP90 => quantile(&aggregate.durations, 0.9),
            Measure::InteractionsPerLearner => ratio(aggregate.statements, aggregate.learners.count()),
        }
    }
}

/// Encodes the value of every measure over an aggregate (in the order of
/// [`Measure::ALL`]): a row read without decoding the aggregate.
pub fn encode_values(aggregate: &Aggregate) -> Vec<u8> {
    encode_value_list(&values(aggregate))
}

/// Encodes values computed by [`values`].
pub fn encode_value_list(values: &[Option<f64>]) -> Vec<u8> {
    postcard::to_stdvec(values).expect("values serialise")
}

/// The value of every measure over an aggregate, in the order of
/// [`Measure::ALL`] (each distinct count counted once: a sketch's count
/// copies it).
pub fn values(aggregate: &Aggregate) -> Vec<Option<f64>> {
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    let (learners, completed) = (aggregate.learners.count(), aggregate.completed.count());
    Measure::ALL
        .iter()
        .map(|measure| match measure {
            Measure::Learners => Some(learners as f64),
            Measure::Completions => Some(completed as f64),
            Measure::CompletionRate => ratio(completed, aggregate.pairs.count()),
            Measure::InteractionsPerLearner => ratio(aggregate.statements, learners),
            other => other.of(aggregate),
        })
        .collect()
}

/// Every measure's value in a row of [`encode_values`]; `None` for a row of
/// another layout.
pub fn decode_values(bytes: &[u8]) -> Option<Vec<Option<f64>>> {
    let values: Vec<Option<f64>> = postcard::from_bytes(bytes).ok()?;
    (values.len() == Measure::ALL.len()).then_some(values)
}

impl Measure {
    /// Its place in [`Measure::ALL`] (the period of its lists of first groups).
    pub fn place(self) -> usize {
        Measure::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }
}

/// One measure's value in a row of [`encode_values`]; `None` when the group
/// has none, `Some(None)` only for a row of another layout.
pub fn decode_value(bytes: &[u8], measure: Measure) -> Option<Option<f64>> {
    let values: Vec<Option<f64>> = postcard::from_bytes(bytes).ok()?;
    let at = Measure::ALL.iter().position(|m| *m == measure)?;
    values.get(at).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::analytics::fact::Fact;

    #[test]
    fn every_value_at_once_is_each_measure_of_the_aggregate() {
        let mut aggregate = Aggregate::default();
        assert_eq!(values(&aggregate), Measure::ALL.map(|m| m.of(&aggregate)).to_vec());
        for n in 0..1_500u32 {
            aggregate.add(&Fact {
                id: uuid::Uuid::new_v4(),
                timestamp_micros: 0,
                learner: Some(format!("l{}", n % 1_200)),
                verb: "v".into(),
                activity: Some(format!("a{}", n % 7)),
                parents: vec![],
                platform: None,
                source: None,
                success: (n % 3 != 0).then_some(n % 2 == 0),
                completes: n % 5 == 0,
                score: Some(f64::from(n % 100) / 100.0),
                duration: Some(f64::from(n)),
            });
        }
        let each: Vec<Option<f64>> = Measure::ALL.iter().map(|m| m.of(&aggregate)).collect();
        assert_eq!(values(&aggregate), each);
        assert!(each.iter().all(Option::is_some));
    }
}
