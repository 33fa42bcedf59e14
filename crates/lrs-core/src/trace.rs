//! The W3C trace context of the request being served, carried from the HTTP
//! layer to the log without threading it through every call.

use std::future::Future;

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
