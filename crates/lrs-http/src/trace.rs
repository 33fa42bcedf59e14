//! Carries the W3C trace context of each request (`traceparent`,
//! `tracestate`) to the gateway, which puts it on the log event.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// Scopes the request's trace context around its handling.
pub(crate) async fn trace_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let context: Vec<(String, String)> = ["traceparent", "tracestate"]
        .iter()
        .filter_map(|name| {
            let value = req.headers().get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    lrs_core::trace::with_trace_context(context, next.call(req)).await
}
