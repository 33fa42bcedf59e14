//! Metrics of the core: statements accepted and rejected, log appends and
//! verdict waits at the gateway; batches, lag and watermark age of the
//! projector; store writes. All live in the process-wide default registry of
//! the `prometheus` crate, which `/metrics` exposes.
//!
//! Names are `lrs_<subsystem>_<name>[_unit]`, counters end in `_total`, and
//! every label value comes from a bounded set: outcomes and reasons are fixed
//! words, partitions are the log's partition numbers, and tenants are folded
//! into [`ALL_TENANTS`] unless [`set_tenant_labels`] turned them on.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

use prometheus::{
    register_gauge_vec, register_histogram, register_histogram_vec, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec, GaugeVec, Histogram, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
};

use crate::tenant::TenantId;

/// The tenant label's value while per-tenant labels are off.
pub const ALL_TENANTS: &str = "all";

/// Latency buckets, in seconds: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Why statements were rejected: the `reason` label's values.
pub const REJECT_REASONS: [&str; 4] = ["invalid", "conflict", "precondition_failed", "unavailable"];

static TENANT_LABELS: AtomicBool = AtomicBool::new(false);

static STATEMENTS_ACCEPTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "lrs_gateway_statements_accepted_total",
        "Statements stored (or found already stored with the same content) by the gateway.",
        &["tenant"]
    )
    .expect("metric registers")
});

static STATEMENTS_REJECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "lrs_gateway_statements_rejected_total",
        "Statements the gateway did not store, by reason (invalid 400, conflict 409, precondition_failed 412, unavailable 503).",
        &["tenant", "reason"]
    )
    .expect("metric registers")
});

static LOG_APPEND: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "lrs_gateway_log_append_duration_seconds",
        "Time to append one event to the log durably, by outcome (ok, error).",
        &["outcome"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers")
});

static VERDICT_WAIT: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "lrs_gateway_verdict_wait_duration_seconds",
        "Time from a command's append to its verdict, by how it was found (bus, table, timeout).",
        &["outcome"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers")
});

static DOWNSTREAM_APPLY: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "lrs_projector_downstream_duration_seconds",
        "Time a projection downstream of the statement projection takes for one batch, by projection.",
        &["projection"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers")
});

static PROJECTION_BATCH: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "lrs_projector_batch_duration_seconds",
        "Time to decide and write one projection batch, store write included.",
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers")
});

static RECORDS_APPLIED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "lrs_projector_records_applied_total",
        "Log records the projector applied, by log partition.",
        &["partition"]
    )
    .expect("metric registers")
});

static CONSUMER_LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "lrs_projector_consumer_lag_records",
        "Log end offset minus the projector's applied position, by log partition.",
        &["partition"]
    )
    .expect("metric registers")
});

static WATERMARK_AGE: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "lrs_projector_watermark_age_seconds",
        "How far the projection trails the log in time: 0 when caught up, else now minus the append time of the last applied record.",
        &["partition"]
    )
    .expect("metric registers")
});

static DEPENDENCY_UP: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "lrs_health_dependency_up",
        "1 when the dependency answered the last readiness check (log, store; projector: within its lag bound), else 0.",
        &["dependency"]
    )
    .expect("metric registers")
});

static READY: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!("lrs_health_ready", "1 when the last readiness check (/readyz or a scrape) passed, else 0.")
        .expect("metric registers")
});

static STORE_WRITE: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "lrs_store_write_duration_seconds",
        "Time to apply one atomic write batch to the query store, by outcome (ok, error).",
        &["outcome"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers")
});

static BUILDER_STEP: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "lrs_analytics_builder_step_duration_seconds",
        "Time of one step of an analytics builder, by step (apply: a pass over the outbox; refresh: whole-time values; fold: deltas into their rollups).",
        &["step"],
        LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers")
});

static ROLLUP_BYTES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "lrs_analytics_rollup_bytes_written_total",
        "Bytes of analytics rollup rows written, by how (whole: rows written whole by a pass; delta: deltas; fold: rows written by folding their deltas).",
        &["how"]
    )
    .expect("metric registers")
});

static STATEMENTS_PREPARED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "lrs_projector_statements_prepared_total",
        "Sealed statements the projector's read-ahead prepared, by how (handed: taken as the gateway of the same process handed them; opened: opened and parsed from the log).",
        &["how"]
    )
    .expect("metric registers")
});

/// How the read-ahead prepares a sealed statement, as its metric names it.
pub const PREPARED_HOW: [&str; 2] = ["handed", "opened"];

/// Counts `count` sealed statements the read-ahead prepared (`how`: one of [`PREPARED_HOW`]).
pub(crate) fn statements_prepared(how: &'static str, count: usize) {
    STATEMENTS_PREPARED.with_label_values(&[how]).inc_by(count as u64);
}

/// The steps of an analytics builder, as its metrics name them.
pub const BUILDER_STEPS: [&str; 3] = ["apply", "refresh", "fold"];

/// How analytics rollup rows are written, as their metric names it.
pub const ROLLUP_WRITES: [&str; 3] = ["whole", "delta", "fold"];

/// Records how long a step of an analytics builder took (a step of [`BUILDER_STEPS`]).
pub(crate) fn builder_step(step: &'static str, started: Instant) {
    BUILDER_STEP.with_label_values(&[step]).observe(started.elapsed().as_secs_f64());
}

/// Counts bytes of rollup rows written (`how`: one of [`ROLLUP_WRITES`]).
pub(crate) fn rollup_bytes_written(how: &'static str, bytes: usize) {
    ROLLUP_BYTES.with_label_values(&[how]).inc_by(bytes as u64);
}

/// Registers every core metric (so each family is exposed before its first
/// event) and creates the series of the fixed label values.
pub fn register() {
    let tenant = if TENANT_LABELS.load(Ordering::Relaxed) { None } else { Some(ALL_TENANTS) };
    if let Some(tenant) = tenant {
        STATEMENTS_ACCEPTED.with_label_values(&[tenant]);
        for reason in REJECT_REASONS {
            STATEMENTS_REJECTED.with_label_values(&[tenant, reason]);
        }
    }
    for outcome in ["ok", "error"] {
        LOG_APPEND.with_label_values(&[outcome]);
        STORE_WRITE.with_label_values(&[outcome]);
    }
    for outcome in ["bus", "table", "timeout"] {
        VERDICT_WAIT.with_label_values(&[outcome]);
    }
    for step in BUILDER_STEPS {
        BUILDER_STEP.with_label_values(&[step]);
    }
    for how in ROLLUP_WRITES {
        ROLLUP_BYTES.with_label_values(&[how]);
    }
    for how in PREPARED_HOW {
        STATEMENTS_PREPARED.with_label_values(&[how]);
    }
    LazyLock::force(&PROJECTION_BATCH);
    LazyLock::force(&DOWNSTREAM_APPLY);
    LazyLock::force(&RECORDS_APPLIED);
    LazyLock::force(&CONSUMER_LAG);
    LazyLock::force(&WATERMARK_AGE);
}

/// Turns per-tenant label values on (`true`) or folds them all into
/// [`ALL_TENANTS`] (`false`, the default): for deployments with many tenants.
pub fn set_tenant_labels(enabled: bool) {
    TENANT_LABELS.store(enabled, Ordering::Relaxed);
}

/// The tenant label's value for `tenant`.
pub fn tenant_label(tenant: &TenantId) -> &str {
    if TENANT_LABELS.load(Ordering::Relaxed) {
        tenant.as_str()
    } else {
        ALL_TENANTS
    }
}

/// Number of statements in a statements request body (an object or an array).
pub(crate) fn statement_count(body: &serde_json::Value) -> u64 {
    match body {
        serde_json::Value::Array(items) => items.len() as u64,
        _ => 1,
    }
}

/// Counts the outcome of a statements write of `count` statements: accepted
/// (`None`), or rejected for a reason from a bounded set (`invalid`, …).
pub(crate) fn record_statements(tenant: &TenantId, count: u64, rejected: Option<&'static str>) {
    let tenant = tenant_label(tenant);
    match rejected {
        None => STATEMENTS_ACCEPTED.with_label_values(&[tenant]).inc_by(count),
        Some(reason) => STATEMENTS_REJECTED.with_label_values(&[tenant, reason]).inc_by(count),
    }
}

/// Awaits a log append, timing it.
pub(crate) async fn timed_append<T, E>(append: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let started = Instant::now();
    let result = append.await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    LOG_APPEND.with_label_values(&[outcome]).observe(started.elapsed().as_secs_f64());
    result
}

/// Records how long a gateway waited for a verdict and how it ended
/// (`bus`, `table` or `timeout`).
pub(crate) fn verdict_waited(started: Instant, outcome: &'static str) {
    VERDICT_WAIT.with_label_values(&[outcome]).observe(started.elapsed().as_secs_f64());
}

/// Awaits a store write batch, timing it.
pub(crate) async fn timed_store_write<T, E>(write: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let started = Instant::now();
    let result = write.await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    STORE_WRITE.with_label_values(&[outcome]).observe(started.elapsed().as_secs_f64());
    result
}

/// Records the outcome of a readiness check: whether each dependency
/// answered, and whether the process is ready.
pub(crate) fn set_readiness<'a>(checks: impl Iterator<Item = (&'a str, bool)>, ready: bool) {
    for (name, ok) in checks {
        DEPENDENCY_UP.with_label_values(&[name]).set(i64::from(ok));
    }
    READY.set(i64::from(ready));
}

/// Records how long a downstream projection took for one batch.
pub(crate) fn downstream_applied(projection: &'static str, started: Instant) {
    DOWNSTREAM_APPLY.with_label_values(&[projection]).observe(started.elapsed().as_secs_f64());
}

/// Records one applied projection batch of `records` records of `partition`.
pub(crate) fn batch_applied(partition: u32, records: usize, started: Instant) {
    PROJECTION_BATCH.observe(started.elapsed().as_secs_f64());
    RECORDS_APPLIED.with_label_values(&[&partition.to_string()]).inc_by(records as u64);
}

/// Sets the lag and the watermark age of `partition`. `last_applied_micros`
/// is the append time of the last applied record, when known.
pub(crate) fn set_lag(partition: u32, lag: u64, last_applied_micros: Option<i64>) {
    let label = partition.to_string();
    CONSUMER_LAG.with_label_values(&[&label]).set(i64::try_from(lag).unwrap_or(i64::MAX));
    let age = if lag == 0 {
        Some(0.0)
    } else {
        last_applied_micros.map(|micros| {
            let now = chrono::Utc::now().timestamp_micros();
            (now.saturating_sub(micros)).max(0) as f64 / 1e6
        })
    };
    if let Some(age) = age {
        WATERMARK_AGE.with_label_values(&[&label]).set(age);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        prometheus::gather().into_iter().find(|family| family.name() == name).and_then(|family| {
            family
                .get_metric()
                .iter()
                .find(|metric| {
                    labels.iter().all(|(label, value)| {
                        metric.get_label().iter().any(|pair| pair.name() == *label && pair.value() == *value)
                    })
                })
                .map(|metric| {
                    if family.get_field_type() == prometheus::proto::MetricType::COUNTER {
                        metric.get_counter().get_value()
                    } else {
                        metric.get_gauge().get_value()
                    }
                })
        })
    }

    #[test]
    fn rejections_are_counted_by_reason_with_the_tenant_folded() {
        register();
        let tenant = TenantId::parse("metrics-test").unwrap();
        let before = sample("lrs_gateway_statements_rejected_total", &[("reason", "conflict")]).unwrap_or(0.0);
        record_statements(&tenant, 3, Some("conflict"));
        let after = sample("lrs_gateway_statements_rejected_total", &[("reason", "conflict"), ("tenant", ALL_TENANTS)]);
        assert_eq!(after, Some(before + 3.0));
    }

    #[test]
    fn the_watermark_age_is_zero_when_caught_up_and_grows_with_lag() {
        set_lag(97, 0, None);
        assert_eq!(sample("lrs_projector_watermark_age_seconds", &[("partition", "97")]), Some(0.0));
        let ten_seconds_ago = chrono::Utc::now().timestamp_micros() - 10_000_000;
        set_lag(97, 5, Some(ten_seconds_ago));
        assert_eq!(sample("lrs_projector_consumer_lag_records", &[("partition", "97")]), Some(5.0));
        let age = sample("lrs_projector_watermark_age_seconds", &[("partition", "97")]).unwrap();
        assert!((10.0..20.0).contains(&age), "age {age}");
    }
}
