//! Logs and traces of the process: the `tracing` subscriber (text or JSON
//! logs on stderr) and, when an OTLP endpoint is configured, an
//! OpenTelemetry layer exporting spans over OTLP/HTTP (protobuf), with the
//! W3C propagation that links the gateway's and the projector's spans.
//!
//! Traces are off unless `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `LRS_OTLP_ENDPOINT` (a base URL
//! like the first; `/v1/traces` is appended) is set. The standard `OTEL_…`
//! variables (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_EXPORTER_OTLP_HEADERS`, …) apply.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The installed tracing; flushes and shuts the span exporter down when dropped.
pub(crate) struct Telemetry {
    /// The OpenTelemetry provider, when traces are exported.
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("cannot flush the trace exporter: {error}");
            }
        }
    }
}

/// What is logged when `LRS_LOG` is unset: this project's crates at info,
/// its dependencies (the store's flushes, the HTTP server's workers) at
/// warn, so that the start-up banner is not buried.
const DEFAULT_LOG: &str = "warn,lrs=info,lrs_core=info,lrs_http=info,lrs_embedded=info,lrs_kafka=info,\
lrs_scylla=info,lrs_forward=info,lrs_export=info,xapi=info,xapi_profiles=info";

/// Installs the global subscriber: logs filtered by `LRS_LOG` (default
/// [`DEFAULT_LOG`]), JSON with `LRS_LOG_FORMAT=json`, and span export as
/// `service_name` when an OTLP endpoint is configured.
pub(crate) fn init(service_name: &str) -> Telemetry {
    // An empty LRS_LOG is taken as unset.
    let wanted = std::env::var("LRS_LOG").ok().filter(|text| !text.trim().is_empty());
    let filter = wanted.and_then(|text| EnvFilter::try_new(text).ok()).unwrap_or_else(|| EnvFilter::new(DEFAULT_LOG));
    let json = std::env::var("LRS_LOG_FORMAT").is_ok_and(|v| v == "json");
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = if json { logs.json().with_filter(filter).boxed() } else { logs.with_filter(filter).boxed() };
    let (provider, export_error) = match otlp_endpoint() {
        None => (None, None),
        Some(endpoint) => match tracer_provider(endpoint, service_name) {
            Ok(provider) => (Some(provider), None),
            Err(error) => (None, Some(error)),
        },
    };
    // The span layer has its own filter, so quiet logs do not cut traces.
    let spans = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("lrs")).with_filter(LevelFilter::INFO)
    });
    tracing_subscriber::registry().with(logs).with(spans).init();
    if provider.is_some() {
        lrs_core::trace::install_propagation(Box::new(W3cPropagation));
        tracing::info!(service = service_name, "exporting traces over OTLP");
    }
    if let Some(error) = export_error {
        tracing::error!(%error, "cannot set up the OTLP trace exporter; traces are not exported");
    }
    Telemetry { provider }
}

/// The configured OTLP endpoint: `Some(None)` when the exporter's own
/// `OTEL_…` variables name it, `Some(Some(url))` for `LRS_OTLP_ENDPOINT`.
fn otlp_endpoint() -> Option<Option<String>> {
    let set = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    if set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some() || set("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        return Some(None);
    }
    set("LRS_OTLP_ENDPOINT").map(|base| Some(format!("{}/v1/traces", base.trim().trim_end_matches('/'))))
}

/// A provider exporting batches of spans over OTLP/HTTP with protobuf bodies.
fn tracer_provider(
    endpoint: Option<String>,
    service_name: &str,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let builder = opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary);
    let builder = match endpoint {
        Some(endpoint) => builder.with_endpoint(endpoint),
        None => builder,
    };
    let exporter = builder.build()?;
    let resource = match std::env::var("OTEL_SERVICE_NAME") {
        Ok(name) if !name.is_empty() => Resource::builder().build(),
        _ => Resource::builder().with_service_name(service_name.to_owned()).build(),
    };
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// W3C `traceparent` / `tracestate` propagation between `tracing` spans
/// (through the OpenTelemetry layer) and carried headers.
struct W3cPropagation;

impl lrs_core::trace::Propagation for W3cPropagation {
    fn set_parent(&self, span: &tracing::Span, carrier: &HashMap<String, String>) {
        let parent = TraceContextPropagator::new().extract(carrier);
        if parent.span().span_context().is_valid() {
            if let Err(error) = span.set_parent(parent) {
                tracing::debug!(%error, "cannot set the parent of a span");
            }
        }
    }

    fn inject(&self, span: &tracing::Span) -> Vec<(String, String)> {
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
        carrier.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrs_core::trace::Propagation;

    /// Runs `body` under a subscriber with the OpenTelemetry layer (no exporter).
    fn with_otel_layer<T>(body: impl FnOnce() -> T) -> T {
        let provider = SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, body)
    }

    fn traceparent(context: &[(String, String)]) -> String {
        context.iter().find(|(name, _)| name == "traceparent").map(|(_, value)| value.clone()).unwrap_or_default()
    }

    #[test]
    fn a_carried_context_becomes_the_parent_and_the_child_carries_its_trace() {
        let carrier = HashMap::from([(
            "traceparent".to_owned(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
        )]);
        let injected = with_otel_layer(|| {
            let span = tracing::info_span!("child");
            W3cPropagation.set_parent(&span, &carrier);
            W3cPropagation.inject(&span)
        });
        let traceparent = traceparent(&injected);
        assert!(traceparent.starts_with("00-0af7651916cd43dd8448eb211c80319c-"), "{traceparent}");
        assert!(!traceparent.contains("b7ad6b7169203331"), "the child has its own span id: {traceparent}");
    }

    #[test]
    fn a_span_without_a_carried_context_starts_a_new_trace() {
        let (first, second) = with_otel_layer(|| {
            let empty = HashMap::new();
            let first = tracing::info_span!("first");
            W3cPropagation.set_parent(&first, &empty);
            let second = tracing::info_span!("second");
            (traceparent(&W3cPropagation.inject(&first)), traceparent(&W3cPropagation.inject(&second)))
        });
        assert_eq!(first.len(), 55, "{first}");
        assert_ne!(first[3..35], second[3..35], "two roots, two traces");
    }
}
