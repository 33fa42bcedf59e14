//! Verdicts: the projector's decision on each command, and the in-process bus
//! that hands them to the gateway awaiting them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use uuid::Uuid;

/// The projector's decision on one command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every statement is stored (or was already stored with the same content).
    Stored {
        /// Ids of the statements, in request order.
        ids: Vec<Uuid>,
    },
    /// A statement id is taken by a statement with different content (409).
    Conflict {
        /// What conflicts.
        message: String,
    },
    /// The command breaks a rule that needs stored data to check (400).
    Rejected {
        /// What is wrong.
        message: String,
    },
    /// A document was written or deleted.
    Written,
    /// An If-Match / If-None-Match header does not hold (412).
    PreconditionFailed {
        /// Which one.
        message: String,
    },
    /// Sealed with the key of an agent forgotten before the command reached
    /// the projector: nothing was written; the gateway seals it again with a
    /// new subject (a forgotten agent seen again is a new subject).
    SubjectForgotten {
        /// The forgotten subjects.
        subjects: Vec<uuid::Uuid>,
    },
}

/// Where the projector sends the verdicts of the commands it applied.
#[async_trait::async_trait]
pub trait VerdictSink: Send + Sync + 'static {
    /// Delivers verdicts, best effort: a gateway that misses one finds it in
    /// the verdict table or answers 503, and the client's retry is safe.
    async fn publish(&self, verdicts: &[(Uuid, Verdict)]);
}

#[async_trait::async_trait]
impl VerdictSink for VerdictBus {
    async fn publish(&self, verdicts: &[(Uuid, Verdict)]) {
        for (command_id, verdict) in verdicts {
            VerdictBus::publish(self, *command_id, verdict.clone());
        }
    }
}

/// Hands verdicts from the projector to the gateway requests awaiting them,
/// when both run in one process.
#[derive(Clone, Default)]
pub struct VerdictBus {
    waiting: Arc<Mutex<HashMap<Uuid, oneshot::Sender<Verdict>>>>,
}

/// A registered wait for one command's verdict; unregisters when dropped.
pub struct VerdictWait {
    bus: VerdictBus,
    command_id: Uuid,
    receiver: Option<oneshot::Receiver<Verdict>>,
}

impl VerdictBus {
    /// A bus with nobody waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers interest in a command's verdict; call before appending it.
    pub fn register(&self, command_id: Uuid) -> VerdictWait {
        let (sender, receiver) = oneshot::channel();
        self.waiting.lock().expect("verdict bus lock").insert(command_id, sender);
        VerdictWait { bus: self.clone(), command_id, receiver: Some(receiver) }
    }

    /// Delivers a verdict to its waiter, if any.
    pub fn publish(&self, command_id: Uuid, verdict: Verdict) {
        let sender = self.waiting.lock().expect("verdict bus lock").remove(&command_id);
        if let Some(sender) = sender {
            let _ = sender.send(verdict);
        }
    }
}

impl VerdictWait {
    /// Waits for the verdict; `None` when the bus was dropped.
    pub async fn recv(&mut self) -> Option<Verdict> {
        match self.receiver.as_mut() {
            Some(receiver) => receiver.await.ok(),
            None => None,
        }
    }
}

impl Drop for VerdictWait {
    fn drop(&mut self) {
        self.bus.waiting.lock().expect("verdict bus lock").remove(&self.command_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_published_verdict_reaches_its_waiter_only() {
        let bus = VerdictBus::new();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut wait_a = bus.register(a);
        let wait_b = bus.register(b);
        bus.publish(a, Verdict::Stored { ids: vec![a] });
        assert_eq!(wait_a.recv().await, Some(Verdict::Stored { ids: vec![a] }));
        drop(wait_b);
        assert!(bus.waiting.lock().unwrap().is_empty());
    }
}
