//! Patterns (structure §9, communication §2.2): the greedy matching of a
//! registration's statements, in timestamp order, against a primary
//! pattern, transcribed from the specification's `matches` pseudocode
//! (no backtracking; alternates keep the longest match).

use std::collections::{BTreeSet, HashMap};

/// What a pattern is made of: template or pattern ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatternKind {
    /// The members match one after the other.
    Sequence(Vec<String>),
    /// One of the members matches (the one that matches most).
    Alternates(Vec<String>),
    /// The member matches once or not at all.
    Optional(String),
    /// The member matches once or more.
    OneOrMore(String),
    /// The member matches any number of times.
    ZeroOrMore(String),
}

impl PatternKind {
    /// The ids it refers to.
    pub fn members(&self) -> Vec<&str> {
        match self {
            PatternKind::Sequence(ids) | PatternKind::Alternates(ids) => ids.iter().map(String::as_str).collect(),
            PatternKind::Optional(id) | PatternKind::OneOrMore(id) | PatternKind::ZeroOrMore(id) => vec![id],
        }
    }

    /// Its name in a profile document.
    pub fn name(&self) -> &'static str {
        match self {
            PatternKind::Sequence(_) => "sequence",
            PatternKind::Alternates(_) => "alternates",
            PatternKind::Optional(_) => "optional",
            PatternKind::OneOrMore(_) => "oneOrMore",
            PatternKind::ZeroOrMore(_) => "zeroOrMore",
        }
    }
}

/// A pattern of a profile.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// Its IRI.
    pub id: String,
    /// Whether statement groups are checked against it.
    pub primary: bool,
    /// What it is made of.
    pub kind: PatternKind,
}

/// How far a group of statements follows a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The statements follow the pattern to its end.
    Complete,
    /// The statements follow it so far; more are expected.
    InProgress,
    /// The statements break it.
    Broken,
}

/// The outcome of `matches` in the specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    Partial,
    Failure,
}

/// Matches statements (each given by the templates it matched) against patterns.
pub(crate) struct Matcher<'a> {
    pub(crate) patterns: &'a HashMap<String, Pattern>,
    pub(crate) statements: &'a [BTreeSet<String>],
}

impl Matcher<'_> {
    /// How the statements follow a primary pattern. A statement left over
    /// after a complete match breaks it; running out in the middle is
    /// progress (the registration goes on).
    pub(crate) fn follow(&self, pattern: &str) -> Progress {
        let end = self.statements.len();
        match self.matches(0, pattern) {
            (Outcome::Success, rest) if rest == end => Progress::Complete,
            (Outcome::Partial, _) => Progress::InProgress,
            _ => Progress::Broken,
        }
    }

    /// `matches(statements[at..], element)`: the outcome and where the
    /// statements it did not consume start.
    fn matches(&self, at: usize, element: &str) -> (Outcome, usize) {
        let end = self.statements.len();
        let Some(pattern) = self.patterns.get(element) else {
            // A template.
            if at == end {
                return (Outcome::Partial, end);
            }
            return if self.statements[at].contains(element) {
                (Outcome::Success, at + 1)
            } else {
                (Outcome::Failure, at)
            };
        };
        match &pattern.kind {
            PatternKind::Sequence(members) => {
                let mut next = at;
                for member in members {
                    match self.matches(next, member) {
                        (Outcome::Failure, _) => return (Outcome::Failure, at),
                        (Outcome::Partial, _) => return (Outcome::Partial, end),
                        (Outcome::Success, rest) => next = rest,
                    }
                }
                (Outcome::Success, next)
            }
            PatternKind::Alternates(members) => {
                let (mut outcome, mut next) = (Outcome::Failure, at);
                for member in members {
                    let (maybe, rest) = self.matches(at, member);
                    if maybe == Outcome::Success {
                        outcome = Outcome::Success;
                        if rest > next {
                            next = rest;
                        }
                    }
                    if maybe == Outcome::Partial && outcome == Outcome::Failure {
                        outcome = Outcome::Partial;
                    }
                }
                if outcome == Outcome::Partial {
                    return (Outcome::Partial, end);
                }
                (outcome, next)
            }
            PatternKind::OneOrMore(member) => {
                let mut outcome = Outcome::Failure;
                let mut last = at;
                loop {
                    let (again, next) = self.matches(last, member);
                    if again == Outcome::Success {
                        outcome = Outcome::Success;
                    } else if outcome == Outcome::Failure && again == Outcome::Partial {
                        return (Outcome::Partial, end);
                    } else {
                        if again == Outcome::Partial && last != end {
                            return (Outcome::Partial, last);
                        }
                        return (outcome, last);
                    }
                    if next == last {
                        return (Outcome::Success, next);
                    }
                    last = next;
                }
            }
            PatternKind::ZeroOrMore(member) => {
                let mut last = at;
                loop {
                    let (again, next) = self.matches(last, member);
                    if again == Outcome::Failure {
                        return (Outcome::Success, last);
                    }
                    if again == Outcome::Partial && next != end {
                        return (Outcome::Partial, next);
                    }
                    if next == last {
                        return (Outcome::Success, next);
                    }
                    last = next;
                }
            }
            PatternKind::Optional(member) => {
                if at == end {
                    return (Outcome::Success, end);
                }
                match self.matches(at, member) {
                    (Outcome::Failure, _) => (Outcome::Success, at),
                    other => other,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cmi5-like session: launched, initialized, then any of
    /// (completed | passed | failed), then terminated or abandoned.
    fn patterns() -> HashMap<String, Pattern> {
        let p = |id: &str, primary, kind| (id.to_owned(), Pattern { id: id.to_owned(), primary, kind });
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        HashMap::from([
            p("session", true, PatternKind::Sequence(ids(&["launched", "initialized", "middle", "end"]))),
            p("middle", false, PatternKind::ZeroOrMore("outcome".into())),
            p("outcome", false, PatternKind::Alternates(ids(&["completed", "passed", "failed"]))),
            p("end", false, PatternKind::Alternates(ids(&["terminated", "abandoned"]))),
            p("tries", true, PatternKind::OneOrMore("attempted".into())),
            p("maybe", true, PatternKind::Sequence(ids(&["opt", "terminated"]))),
            p("opt", false, PatternKind::Optional("launched".into())),
        ])
    }

    fn follow(pattern: &str, sequence: &[&str]) -> Progress {
        let statements: Vec<BTreeSet<String>> =
            sequence.iter().map(|t| t.split('+').map(str::to_owned).collect()).collect();
        let patterns = patterns();
        Matcher { patterns: &patterns, statements: &statements }.follow(pattern)
    }

    #[test]
    fn each_pattern_kind_good_and_bad() {
        use Progress::*;
        // sequence, with zeroOrMore and alternates inside
        assert_eq!(follow("session", &["launched", "initialized", "passed", "completed", "terminated"]), Complete);
        assert_eq!(follow("session", &["launched", "initialized", "abandoned"]), Complete);
        assert_eq!(follow("session", &["launched", "initialized"]), InProgress);
        assert_eq!(follow("session", &["initialized", "launched"]), Broken);
        assert_eq!(follow("session", &["launched", "initialized", "terminated", "passed"]), Broken, "left over");
        assert_eq!(follow("session", &["launched", "initialized", "attempted", "terminated"]), Broken);
        // oneOrMore
        assert_eq!(follow("tries", &["attempted"]), Complete);
        assert_eq!(follow("tries", &["attempted", "attempted", "attempted"]), Complete);
        assert_eq!(follow("tries", &[]), InProgress);
        assert_eq!(follow("tries", &["passed"]), Broken);
        assert_eq!(follow("tries", &["attempted", "passed"]), Broken);
        // optional
        assert_eq!(follow("maybe", &["terminated"]), Complete);
        assert_eq!(follow("maybe", &["launched", "terminated"]), Complete);
        assert_eq!(follow("maybe", &["launched", "launched", "terminated"]), Broken);
        // a statement matching several templates
        assert_eq!(
            follow("session", &["launched", "initialized", "completed+general", "terminated+general"]),
            Complete
        );
    }
}
