//! Series of each forwarder, in the process-wide registry that `/metrics`
//! exposes. Labelled by tenant (folded into `all` unless tenant labels are
//! on) and forwarder name (a set the operator bounds).

use std::sync::LazyLock;

use lrs_core::metrics::tenant_label;
use lrs_core::TenantId;
use prometheus::{register_gauge_vec, register_int_counter_vec, GaugeVec, IntCounterVec};

static DELIVERED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "lrs_forwarder_delivered_statements_total",
        "Statements a forwarder's target accepted.",
        &["tenant", "forwarder"]
    )
    .expect("metric registers")
});

static DEAD_LETTERED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "lrs_forwarder_dead_lettered_statements_total",
        "Statements a forwarder's target refused for good (kept as dead letters).",
        &["tenant", "forwarder"]
    )
    .expect("metric registers")
});

static FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "lrs_forwarder_failed_deliveries_total",
        "Deliveries that failed and will be retried (target down, busy or refusing the credential).",
        &["tenant", "forwarder"]
    )
    .expect("metric registers")
});

static LAG: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "lrs_forwarder_lag_seconds",
        "How far a forwarder trails its tenant's newest statement, by their stored times (0: caught up).",
        &["tenant", "forwarder"]
    )
    .expect("metric registers")
});

/// Registers the series (so that they show before the first delivery).
pub fn register() {
    LazyLock::force(&DELIVERED);
    LazyLock::force(&DEAD_LETTERED);
    LazyLock::force(&FAILURES);
    LazyLock::force(&LAG);
}

pub(crate) fn delivered(tenant: &TenantId, forwarder: &str, statements: u64) {
    DELIVERED.with_label_values(&[tenant_label(tenant), forwarder]).inc_by(statements);
}

pub(crate) fn dead_lettered(tenant: &TenantId, forwarder: &str, statements: u64) {
    DEAD_LETTERED.with_label_values(&[tenant_label(tenant), forwarder]).inc_by(statements);
}

pub(crate) fn failed(tenant: &TenantId, forwarder: &str) {
    FAILURES.with_label_values(&[tenant_label(tenant), forwarder]).inc();
}

/// Drops a removed forwarder's series, so that its last lag does not stay
/// (and keep an alert firing) after it is gone.
pub(crate) fn forget(tenant: &TenantId, forwarder: &str) {
    let labels = [tenant_label(tenant), forwarder];
    let _ = DELIVERED.remove_label_values(&labels);
    let _ = DEAD_LETTERED.remove_label_values(&labels);
    let _ = FAILURES.remove_label_values(&labels);
    let _ = LAG.remove_label_values(&labels);
}

pub(crate) fn lag(tenant: &TenantId, forwarder: &str, seconds: f64) {
    LAG.with_label_values(&[tenant_label(tenant), forwarder]).set(seconds);
}
