//! One forwarder's worker: reads the tenant's statements in `stored` order
//! after its durable position, delivers them a batch at a time, and moves
//! the position (with its counts, in one write) only once the target took
//! them or refused them for good. A crash between a delivery and that
//! write delivers the batch again: at least once, and exactly once in
//! effect on an LRS target, which keys statements by id.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use lrs_core::forwarders::{ForwardTarget, Forwarder};
use lrs_core::query::{QueryService, StatementQuery};
use lrs_core::store::{QueryStore, WriteBatch};
use lrs_core::tables::forwarding::{self, DeadLetter, ForwarderState};
use lrs_core::{Tenant, TenantId};
use rand::Rng as _;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};
use uuid::Uuid;
use xapi_profiles::ProfileSet;

use crate::deliver::{carried_attachments, Body, Deliverer, Outcome};
use crate::{metrics, ForwardError, Settings};

/// A forwarder at work.
pub(crate) struct Worker {
    pub(crate) tenant: watch::Receiver<Arc<Tenant>>,
    pub(crate) forwarder: Forwarder,
    pub(crate) store: Arc<dyn QueryStore>,
    pub(crate) query: QueryService,
    pub(crate) deliverer: Deliverer,
    pub(crate) settings: Settings,
}

/// Statements of a page: what goes, and where the page ends.
struct Page {
    statements: Vec<(u64, Value)>,
    last_stored: u64,
}

impl Worker {
    /// Delivers until `stop` turns true; a store failure is retried.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let tenant_id = self.tenant.borrow().id.clone();
        let mut state = loop {
            match self.load_state(&tenant_id).await {
                Ok(state) => break state,
                Err(error) => {
                    warn!(%error, forwarder = %self.forwarder.name, "cannot read a forwarder's position; retrying");
                    if pause(&mut stop, Duration::from_secs(1)).await {
                        return;
                    }
                }
            }
        };
        info!(tenant = %tenant_id, forwarder = %self.forwarder.name, target = %self.forwarder.target.address(), "forwarder started");
        let mut settled = Settled::new(self.settings.settle);
        let mut template = TemplateFilter::default();
        loop {
            if *stop.borrow() {
                return;
            }
            template.refresh(&self.tenant.borrow(), self.forwarder.filter.template.as_deref());
            let step = self.step(&tenant_id, &mut state, &mut settled, &template).await;
            let wait = match step {
                Ok(Step::Busy) => continue,
                Ok(Step::Idle) => self.settings.poll,
                Ok(Step::Failed) => backoff(&self.settings, state.consecutive_failures),
                Err(error) => {
                    warn!(%error, forwarder = %self.forwarder.name, "forwarder step failed; retrying");
                    Duration::from_secs(1)
                }
            };
            if pause(&mut stop, wait).await {
                return;
            }
        }
    }

    async fn load_state(&self, tenant: &TenantId) -> Result<ForwarderState, ForwardError> {
        let stored = forwarding::load_state(self.store.as_ref(), tenant, &self.forwarder.name).await?;
        Ok(match stored.filter(|state| state.incarnation == self.forwarder.created_micros) {
            Some(state) => state,
            None => ForwarderState {
                incarnation: self.forwarder.created_micros,
                position: if self.forwarder.from_start { 0 } else { self.forwarder.created_micros.max(0) as u64 },
                ..ForwarderState::default()
            },
        })
    }

    /// One round: dead letters asked for again, then the next page.
    async fn step(
        &self,
        tenant: &TenantId,
        state: &mut ForwarderState,
        settled: &mut Settled,
        template: &TemplateFilter,
    ) -> Result<Step, ForwardError> {
        if forwarding::replay_requested(self.store.as_ref(), tenant, &self.forwarder.name).await?.is_some() {
            self.replay_dead_letters(tenant, state).await?;
        }
        let newest = self.query.last_stored(tenant).await?;
        let bound = settled.bound(newest);
        // The lag: from the oldest statement still to deliver (not from the
        // position, which is 0 before the first delivery) to the newest.
        let lag = |since: u64| metrics::lag(tenant, &self.forwarder.name, newest.saturating_sub(since) as f64 / 1e6);
        if bound <= state.position {
            lag(state.position);
            return Ok(Step::Idle);
        }
        let query = self.filter_query()?;
        let limit = self.forwarder.batch_size as usize;
        let found = self.query.statements_after(tenant, &query, (state.position, bound), limit).await?;
        let (Some(&(first_stored, _)), Some(&(last_stored, _))) = (found.first(), found.last()) else {
            // Nothing matches up to the bound: the position moves there
            // only in memory (the next write carries it).
            state.position = bound;
            lag(bound);
            return Ok(Step::Idle);
        };
        lag(state.position.max(first_stored));
        let page = Page { statements: found.into_iter().filter(|(_, s)| template.passes(s)).collect(), last_stored };
        self.deliver_page(tenant, state, page).await
    }

    fn filter_query(&self) -> Result<StatementQuery, ForwardError> {
        self.forwarder.filter.query().map_err(ForwardError::Filter)
    }

    /// Delivers a page; on a refusal of several statements, each alone, so
    /// that one bad statement does not hold back the others.
    async fn deliver_page(
        &self,
        tenant: &TenantId,
        state: &mut ForwarderState,
        page: Page,
    ) -> Result<Step, ForwardError> {
        let name = &self.forwarder.name;
        let mut batch = WriteBatch::default();
        if !page.statements.is_empty() {
            let delivery = delivery_id(tenant, name, page.statements[0].0);
            let values: Vec<Value> = page.statements.iter().map(|(_, s)| s.clone()).collect();
            match self.send(tenant, &delivery, &values).await? {
                Outcome::Delivered => self.delivered(tenant, state, values.len()),
                Outcome::Retry(error) => return self.failed(tenant, state, error).await,
                Outcome::Refused(error) if values.len() == 1 => {
                    self.refused(tenant, state, &mut batch, &page.statements, error);
                }
                Outcome::Refused(_) => {
                    let mut refused = Vec::new();
                    let mut last_error = String::new();
                    for (stored, statement) in &page.statements {
                        let delivery = delivery_id(tenant, name, *stored);
                        let one = std::slice::from_ref(statement);
                        match self.send(tenant, &delivery, one).await? {
                            Outcome::Delivered => self.delivered(tenant, state, 1),
                            Outcome::Refused(error) => {
                                refused.push((*stored, statement.clone()));
                                last_error = error;
                            }
                            // What went so far is kept; the rest waits for the target.
                            Outcome::Retry(error) => {
                                self.refused(tenant, state, &mut batch, &refused, last_error);
                                state.position = stored.saturating_sub(1).max(state.position);
                                forwarding::put_state(&mut batch, tenant, name, state);
                                self.store.write(batch).await?;
                                return self.failed(tenant, state, error).await;
                            }
                        }
                    }
                    self.refused(tenant, state, &mut batch, &refused, last_error);
                }
            }
        }
        state.position = page.last_stored;
        forwarding::put_state(&mut batch, tenant, name, state);
        self.store.write(batch).await?;
        Ok(Step::Busy)
    }

    /// Delivers statements with the attachment bodies they carry (to an
    /// LRS, which refuses a statement whose body is missing; a webhook gets
    /// the statements only).
    async fn send(&self, tenant: &TenantId, delivery: &str, statements: &[Value]) -> Result<Outcome, ForwardError> {
        let mut bodies = Vec::new();
        if matches!(self.forwarder.target, ForwardTarget::Lrs { .. }) {
            for (sha2, content_type) in carried_attachments(statements) {
                if let Some(bytes) = self.query.attachment(tenant, &sha2).await? {
                    bodies.push(Body { sha2, content_type, bytes });
                }
            }
        }
        let name = &self.forwarder.name;
        Ok(self.deliverer.deliver(&self.forwarder.target, name, delivery, statements, &bodies).await)
    }

    fn delivered(&self, tenant: &TenantId, state: &mut ForwarderState, count: usize) {
        state.delivered += count as u64;
        state.consecutive_failures = 0;
        state.last_delivered_micros = Some(chrono::Utc::now().timestamp_micros());
        metrics::delivered(tenant, &self.forwarder.name, count as u64);
    }

    fn refused(
        &self,
        tenant: &TenantId,
        state: &mut ForwarderState,
        batch: &mut WriteBatch,
        statements: &[(u64, Value)],
        error: String,
    ) {
        let Some(&(first_stored, _)) = statements.first() else { return };
        let ids = statements.iter().filter_map(|(_, s)| s["id"].as_str().and_then(|id| Uuid::parse_str(id).ok()));
        let letter = DeadLetter {
            first_stored,
            ids: ids.collect(),
            error: error.clone(),
            at_micros: chrono::Utc::now().timestamp_micros(),
        };
        warn!(forwarder = %self.forwarder.name, statements = letter.ids.len(), %error, "target refused statements; kept as a dead letter");
        forwarding::put_dead_letter(batch, tenant, &self.forwarder.name, &letter);
        state.dead_lettered += letter.ids.len() as u64;
        state.last_error = Some(error);
        state.last_error_micros = Some(letter.at_micros);
        metrics::dead_lettered(tenant, &self.forwarder.name, letter.ids.len() as u64);
    }

    async fn failed(&self, tenant: &TenantId, state: &mut ForwarderState, error: String) -> Result<Step, ForwardError> {
        if state.consecutive_failures == 0 {
            warn!(forwarder = %self.forwarder.name, %error, "delivery failed; retrying with backoff");
        }
        state.failed_attempts += 1;
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        state.last_error = Some(error);
        state.last_error_micros = Some(chrono::Utc::now().timestamp_micros());
        metrics::failed(tenant, &self.forwarder.name);
        let mut batch = WriteBatch::default();
        forwarding::put_state(&mut batch, tenant, &self.forwarder.name, state);
        self.store.write(batch).await?;
        Ok(Step::Failed)
    }

    /// Delivers each dead letter again: one the target takes now goes.
    async fn replay_dead_letters(&self, tenant: &TenantId, state: &mut ForwarderState) -> Result<(), ForwardError> {
        let name = &self.forwarder.name;
        let letters = forwarding::dead_letters(self.store.as_ref(), tenant, name).await?;
        let mut batch = WriteBatch::default();
        for letter in letters {
            let mut statements = Vec::with_capacity(letter.ids.len());
            for id in &letter.ids {
                if let Some(statement) = self.query.statement(tenant, *id, false).await? {
                    statements.push(statement);
                }
            }
            let delivery = delivery_id(tenant, name, letter.first_stored);
            let outcome = if statements.is_empty() {
                Outcome::Delivered
            } else {
                self.send(tenant, &delivery, &statements).await?
            };
            match outcome {
                Outcome::Delivered => {
                    forwarding::delete_dead_letter(&mut batch, tenant, name, letter.first_stored);
                    state.dead_lettered = state.dead_lettered.saturating_sub(letter.ids.len() as u64);
                    self.delivered(tenant, state, statements.len());
                }
                Outcome::Retry(error) | Outcome::Refused(error) => {
                    let letter = DeadLetter { error, at_micros: chrono::Utc::now().timestamp_micros(), ..letter };
                    forwarding::put_dead_letter(&mut batch, tenant, name, &letter);
                }
            }
        }
        forwarding::clear_replay(&mut batch, tenant, name);
        forwarding::put_state(&mut batch, tenant, name, state);
        self.store.write(batch).await?;
        Ok(())
    }
}

/// What a step did: delivered a page (go on at once), found nothing (wait
/// a poll), or failed to deliver (wait the backoff).
enum Step {
    Busy,
    Idle,
    Failed,
}

/// Waits `wait`, or less when `stop` turns true; returns whether it did.
async fn pause(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    tokio::select! {
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
        _ = tokio::time::sleep(wait) => false,
    }
}

/// The wait after the `failures`-th failure in a row: the base doubled
/// each time up to the cap, of which a random half (equal jitter), so that
/// forwarders to one target do not retry in step.
pub fn backoff(settings: &Settings, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let full = settings.retry_base.saturating_mul(1 << exponent).min(settings.retry_max);
    let half = full / 2;
    half + half.mul_f64(rand::thread_rng().gen::<f64>())
}

/// The name of a delivery: the same for the same forwarder and first statement.
fn delivery_id(tenant: &TenantId, name: &str, first_stored: u64) -> String {
    let text = format!("{tenant}/{name}/{first_stored}");
    Uuid::new_v5(&Uuid::NAMESPACE_URL, text.as_bytes()).to_string()
}

/// The bound up to which the tables are trusted to hold every statement:
/// the newest `stored` time seen at least `settle` ago (a store whose
/// batches become visible row by row, ScyllaDB's, needs that time; the
/// embedded one writes atomically and settles at once).
struct Settled {
    settle: Duration,
    /// Newest `stored` times seen, and when, not yet `settle` old.
    seen: VecDeque<(Instant, u64)>,
    /// The newest seen at least `settle` ago.
    settled: u64,
}

impl Settled {
    fn new(settle: Duration) -> Self {
        Self { settle, seen: VecDeque::new(), settled: 0 }
    }

    fn bound(&mut self, newest: u64) -> u64 {
        if self.settle.is_zero() {
            return newest;
        }
        let now = Instant::now();
        self.seen.push_back((now, newest));
        while let Some(&(_, stored)) = self.seen.front().filter(|(at, _)| now.duration_since(*at) >= self.settle) {
            self.settled = stored;
            self.seen.pop_front();
        }
        self.settled
    }
}

/// The statement template a forwarder's statements must match and follow.
#[derive(Default)]
struct TemplateFilter {
    compiled: Option<(u64, Arc<ProfileSet>)>,
    template: Option<String>,
}

impl TemplateFilter {
    fn refresh(&mut self, tenant: &Tenant, template: Option<&str>) {
        self.template = template.map(str::to_owned);
        if template.is_none() || self.compiled.as_ref().is_some_and(|(revision, _)| *revision == tenant.revision) {
            return;
        }
        self.compiled = Some((tenant.revision, Arc::new(lrs_core::plan::compile(&tenant.profiles))));
    }

    fn passes(&self, statement: &Value) -> bool {
        let (Some(wanted), Some((_, profiles))) = (&self.template, &self.compiled) else { return true };
        profiles
            .profiles()
            .iter()
            .flat_map(|p| &p.profile.templates)
            .filter(|t| &t.id == wanted)
            .any(|template| template.matches(statement) && template.check(statement, &|_| None).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stored_time_is_trusted_once_it_was_seen_settle_ago() {
        let mut settled = Settled::new(Duration::from_secs(5));
        assert_eq!(settled.bound(100), 0, "nothing seen 5 s ago yet");
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(settled.bound(200), 0);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(settled.bound(300), 100, "100 was seen 5 s ago");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(settled.bound(300), 300, "the newest seen at least 5 s ago");
        assert_eq!(Settled::new(Duration::ZERO).bound(42), 42, "an atomic store settles at once");
    }

    #[test]
    fn the_backoff_doubles_up_to_the_cap_and_keeps_a_random_half() {
        let settings = Settings {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            ..Settings::default()
        };
        for (failures, full) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (30, 1000)] {
            let wait = backoff(&settings, failures);
            let full = Duration::from_millis(full);
            assert!(wait >= full / 2 && wait <= full, "failure {failures}: {wait:?} not within half of {full:?}");
        }
    }
}
