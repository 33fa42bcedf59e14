//! The W3C trace context of the request being served, carried from the HTTP
//! layer to the log without threading it through every call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;

tokio::task_local! {
    static TRACE_CONTEXT: Vec<(String, String)>;
}

/// Runs `future` with `context` (header name, value pairs such as
/// `traceparent`) as the current trace context.
pub async fn with_trace_context<F: Future>(context: Vec<(String, String)>, future: F) -> F::Output {
    TRACE_CONTEXT.scope(context, future).await
}

/// The current trace context, empty outside a traced request.
pub fn current_trace_context() -> Vec<(String, String)> {
    TRACE_CONTEXT.try_with(Clone::clone).unwrap_or_default()
}

/// Links `tracing` spans to carried W3C trace contexts. The binary installs
/// one when it exports traces (OpenTelemetry); without it spans stay local and
/// the incoming headers are carried as they came. This crate knows no
/// OpenTelemetry type: the implementation lives where the exporter does.
pub trait Propagation: Send + Sync + 'static {
    /// Makes the context in `carrier` (header name, value) the parent of
    /// `span`, which must not have been entered yet; an absent or invalid
    /// context leaves the span as it is.
    fn set_parent(&self, span: &tracing::Span, carrier: &HashMap<String, String>);
    /// The context of `span` as W3C headers (`traceparent`, `tracestate`).
    fn inject(&self, span: &tracing::Span) -> Vec<(String, String)>;
}

static PROPAGATION: OnceLock<Box<dyn Propagation>> = OnceLock::new();

/// Installs the process's span propagation; the first call wins.
pub fn install_propagation(propagation: Box<dyn Propagation>) {
    let _ = PROPAGATION.set(propagation);
}

/// Makes the carried context the parent of `span` (nothing without an
/// installed propagation).
pub fn set_parent(span: &tracing::Span, carrier: &HashMap<String, String>) {
    if let Some(propagation) = PROPAGATION.get() {
        propagation.set_parent(span, carrier);
    }
}

/// The context of `span` as W3C headers, or `None` without an installed
/// propagation.
pub fn span_context(span: &tracing::Span) -> Option<Vec<(String, String)>> {
    PROPAGATION.get().map(|propagation| propagation.inject(span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_context_is_visible_inside_its_scope_only() {
        assert!(current_trace_context().is_empty());
        let context = vec![("traceparent".to_owned(), "00-abc-def-01".to_owned())];
        let seen = with_trace_context(context.clone(), async { current_trace_context() }).await;
        assert_eq!(seen, context);
        assert!(current_trace_context().is_empty());
    }
}
