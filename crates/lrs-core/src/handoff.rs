//! The statements a gateway appends, handed in memory to the projector of
//! the same process (ADR 0012). The gateway already holds each statement
//! validated and normalised when it seals it; the projector's read-ahead
//! takes them by the command's id instead of opening the seal and parsing
//! the JSON again. The log stays the only record: a command whose
//! statements were not handed (another process's gateway, a restart, a
//! replay, a full handoff) is opened and parsed as before, to the same
//! values, since the gateway sealed exactly the bytes of these values.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

/// At most this many statements wait in a handoff: each POST awaits its
/// verdict, so the waiting statements are those of the requests in flight
/// (16 batches of 100 in `lrs bench`); past the bound the read-ahead opens
/// them from the log.
pub const HANDOFF_STATEMENTS: usize = 10_000;

/// Statements not taken within this time (a verdict that timed out, a
/// projector stopped) are dropped.
pub const HANDOFF_KEEP: Duration = Duration::from_secs(60);

/// A statement handed: as the gateway sealed it, with the IFI keys of its
/// personal agents in the order of its seal's subjects (what
/// `vault::personal_agents` gives), which the read-ahead would work out again.
#[derive(Debug, Clone, PartialEq)]
pub struct HandedStatement {
    /// The statement, validated and normalised.
    pub json: Value,
    /// Its personal agents, one for each subject of its seal, in order.
    pub agents: Vec<String>,
}

/// Statements handed from the gateways of a process to its projectors, by command id.
#[derive(Clone, Default)]
pub struct StatementHandoff {
    inner: Arc<Mutex<Waiting>>,
}

/// What waits in a handoff.
#[derive(Default)]
struct Waiting {
    /// The statements of each command, in the command's order.
    by_command: HashMap<Uuid, Vec<HandedStatement>>,
    /// Command ids in the order handed, with when (some already taken).
    order: VecDeque<(Instant, Uuid)>,
    /// How many statements `by_command` holds.
    statements: usize,
}

impl Waiting {
    /// Drops from the front of `order` the ids already taken and the statements kept too long.
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.order.front() {
            let taken = !self.by_command.contains_key(&id);
            if !taken && now.duration_since(at) < HANDOFF_KEEP {
                return;
            }
            self.order.pop_front();
            if let Some(dropped) = self.by_command.remove(&id) {
                self.statements -= dropped.len();
            }
        }
    }
}

impl StatementHandoff {
    /// Hands the statements of command `command_id` (validated, normalised,
    /// as sealed in it) to the projector; returns whether it took them (it
    /// does not when [`HANDOFF_STATEMENTS`] already wait).
    pub fn hand(&self, command_id: Uuid, statements: Vec<HandedStatement>) -> bool {
        let now = Instant::now();
        let mut waiting = self.inner.lock().expect("handoff lock");
        waiting.expire(now);
        if waiting.statements + statements.len() > HANDOFF_STATEMENTS {
            return false;
        }
        waiting.statements += statements.len();
        if let Some(replaced) = waiting.by_command.insert(command_id, statements) {
            waiting.statements -= replaced.len();
        }
        waiting.order.push_back((now, command_id));
        true
    }

    /// Takes the statements handed for command `command_id`, if any.
    pub fn take(&self, command_id: Uuid) -> Option<Vec<HandedStatement>> {
        let mut waiting = self.inner.lock().expect("handoff lock");
        let taken = waiting.by_command.remove(&command_id)?;
        waiting.statements -= taken.len();
        Some(taken)
    }

    /// How many statements wait to be taken.
    pub fn waiting(&self) -> usize {
        self.inner.lock().expect("handoff lock").statements
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn handed(json: Value) -> HandedStatement {
        HandedStatement { json, agents: vec!["mbox:mailto:a@example.com".into()] }
    }

    #[test]
    fn statements_handed_are_taken_once_by_their_command() {
        let handoff = StatementHandoff::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(handoff.hand(a, vec![handed(json!({"n": 1})), handed(json!({"n": 2}))]));
        assert!(handoff.hand(b, vec![handed(json!({"n": 3}))]));
        assert_eq!(handoff.waiting(), 3);
        assert_eq!(handoff.take(b), Some(vec![handed(json!({"n": 3}))]));
        assert_eq!(handoff.take(b), None);
        assert_eq!(handoff.take(Uuid::now_v7()), None);
        assert_eq!(handoff.take(a).map(|s| s.len()), Some(2));
        assert_eq!(handoff.waiting(), 0);
    }

    #[test]
    fn past_the_bound_statements_are_not_taken_in_and_taking_makes_room() {
        let handoff = StatementHandoff::default();
        let batch = |n: usize| (0..n).map(|i| handed(json!({ "i": i }))).collect::<Vec<_>>();
        let first = Uuid::now_v7();
        assert!(handoff.hand(first, batch(HANDOFF_STATEMENTS - 1)));
        let second = Uuid::now_v7();
        assert!(!handoff.hand(second, batch(2)), "one over the bound");
        assert_eq!(handoff.take(second), None);
        assert!(handoff.hand(Uuid::now_v7(), batch(1)), "up to the bound");
        handoff.take(first);
        assert!(handoff.hand(second, batch(2)));
        assert_eq!(handoff.waiting(), 3);
        // Taken ids leave the order as later ones are handed.
        assert!(handoff.inner.lock().unwrap().order.len() <= 3);
    }

    #[test]
    fn statements_left_too_long_are_dropped() {
        let handoff = StatementHandoff::default();
        let old = Uuid::now_v7();
        handoff.hand(old, vec![handed(json!({}))]);
        let mut waiting = handoff.inner.lock().unwrap();
        let now = Instant::now() + HANDOFF_KEEP;
        waiting.expire(now);
        assert_eq!(waiting.statements, 0);
        assert!(waiting.by_command.is_empty() && waiting.order.is_empty());
    }
}
