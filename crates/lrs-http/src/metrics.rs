//! HTTP metrics and the `/metrics` exposition: requests by route template,
//! method and status, and their latency. Route labels are the templates the
//! request matched (`/xapi/statements`), never raw paths; requests that match
//! no route share the label `unmatched`.

use std::sync::LazyLock;
use std::time::Instant;

use crate::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use prometheus::{register_histogram_vec, register_int_counter_vec, Encoder as _, HistogramVec, IntCounterVec};

static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "lrs_http_requests_total",
        "HTTP requests answered, by route template, method and status code.",
        &["route", "method", "status"]
    )
    .expect("metric registers")
});

static DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "lrs_http_request_duration_seconds",
        "Time from receiving an HTTP request to its response head, by route template and method.",
        &["route", "method"],
        lrs_core::metrics::LATENCY_BUCKETS.to_vec()
    )
    .expect("metric registers")
});

/// Registers the HTTP and core metric families, so that `/metrics` lists
/// them before the first request.
pub(crate) fn register() {
    LazyLock::force(&REQUESTS);
    LazyLock::force(&DURATION);
    lrs_core::metrics::register();
}

/// Counts and times every request.
pub(crate) async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let result = next.call(req).await;
    let (route, status) = match &result {
        Ok(response) => {
            let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
            (route, response.status())
        }
        Err(error) => ("unmatched".to_owned(), error.as_response_error().status_code()),
    };
    REQUESTS.with_label_values(&[route.as_str(), method, status.as_str()]).inc();
    DURATION.with_label_values(&[route.as_str(), method]).observe(started.elapsed().as_secs_f64());
    result
}

/// The method as a label value: the standard ones, else `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::PATCH, "PATCH"),
    ];
    KNOWN.iter().find(|(known, _)| known == method).map_or("other", |(_, label)| label)
}

/// `GET /metrics`: every metric of the process in the Prometheus text format,
/// after a readiness check that refreshes the `lrs_health_*` gauges.
pub(crate) async fn exposition(state: Option<web::Data<AppState>>) -> HttpResponse {
    if let Some(check) = state.as_ref().and_then(|state| state.health.as_ref()) {
        check.readiness().await;
    }
    let encoder = prometheus::TextEncoder::new();
    let mut buffer = Vec::new();
    match encoder.encode(&prometheus::gather(), &mut buffer) {
        Ok(()) => HttpResponse::Ok().content_type(encoder.format_type()).body(buffer),
        Err(error) => HttpResponse::InternalServerError().content_type("text/plain").body(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test as actix_test;
    use actix_web::App;

    use super::*;

    #[actix_web::test]
    async fn requests_are_counted_by_route_template_and_exposed() {
        register();
        let app = actix_test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(record))
                .route("/metrics", web::get().to(exposition))
                .route("/items/{id}", web::get().to(HttpResponse::Ok))
                .default_service(web::to(HttpResponse::NotFound)),
        )
        .await;
        for path in ["/items/secret-1", "/items/secret-2", "/nowhere/secret-3"] {
            actix_test::call_service(&app, actix_test::TestRequest::get().uri(path).to_request()).await;
        }
        let response =
            actix_test::call_service(&app, actix_test::TestRequest::get().uri("/metrics").to_request()).await;
        assert!(response.status().is_success());
        let text = String::from_utf8(actix_test::read_body(response).await.to_vec()).unwrap();
        assert!(text.contains(r#"lrs_http_requests_total{method="GET",route="/items/{id}",status="200"} 2"#), "{text}");
        assert!(text.contains(r#"lrs_http_requests_total{method="GET",route="unmatched",status="404"} 1"#), "{text}");
        assert!(text.contains("# TYPE lrs_http_request_duration_seconds histogram"), "{text}");
        assert!(text.contains("# TYPE lrs_gateway_statements_accepted_total counter"), "{text}");
        assert!(!text.contains("secret-"), "raw paths must not become labels: {text}");
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(method_label(&Method::PUT), "PUT");
    }
}
