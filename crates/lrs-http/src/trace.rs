//! The server span of each request and the W3C trace context (`traceparent`,
//! `tracestate`) carried to the gateway, which puts it on the log event.
//!
//! The incoming context (when the client sent one) is the parent of the
//! request span; what is carried on is the context of that span, so the
//! projector's span for the command joins the same trace. Without an
//! installed propagation (traces not exported) the incoming headers are
//! carried as they came.

use std::collections::HashMap;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing::Instrument;

/// The W3C trace context headers.
const HEADERS: [&str; 2] = ["traceparent", "tracestate"];

/// Runs the request inside its server span with its trace context in scope.
pub(crate) async fn trace_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let incoming: HashMap<String, String> = HEADERS
        .iter()
        .filter_map(|name| {
            let value = req.headers().get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let span = tracing::info_span!(
        "http_request",
        otel.kind = "server",
        otel.name = %format_args!("{} {}", req.method(), req.path()),
        http.request.method = %req.method(),
        url.path = %req.path(),
        http.response.status_code = tracing::field::Empty,
    );
    lrs_core::trace::set_parent(&span, &incoming);
    let carried = lrs_core::trace::span_context(&span).filter(|context| !context.is_empty()).unwrap_or_else(|| {
        HEADERS.iter().filter_map(|name| Some(((*name).to_owned(), incoming.get(*name)?.clone()))).collect()
    });
    let response = lrs_core::trace::with_trace_context(carried, next.call(req)).instrument(span.clone()).await;
    if let Ok(response) = &response {
        span.record("http.response.status_code", response.status().as_u16());
    }
    response
}
