//! CORS for browser clients: preflight `OPTIONS` requests on every `/xapi`
//! route are answered here (no credentials needed), and every answer to a
//! request that carries `Origin` gets the headers that let the page read it.
//!
//! The request's origin is echoed (not `*`), since xAPI clients send
//! credentials (`Authorization`) and browsers refuse `*` with credentials.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::HttpResponse;

/// Methods a browser may use on the xAPI resources.
const ALLOW_METHODS: &str = "GET, HEAD, PUT, POST, DELETE, OPTIONS";

/// Request headers always allowed (beside those a preflight asks for).
const ALLOW_HEADERS: &[&str] =
    &["Authorization", "Content-Type", "X-Experience-API-Version", "If-Match", "If-None-Match"];

/// Response headers a page may read.
const EXPOSE_HEADERS: &str =
    "ETag, Last-Modified, X-Experience-API-Version, X-Experience-API-Consistent-Through, Content-Type";

/// How long, in seconds, a browser may cache a preflight answer.
const MAX_AGE_SECONDS: &str = "86400";

/// Answers preflights under `/xapi` and adds the CORS headers to answers to
/// requests that carry `Origin`.
pub(crate) async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    if req.method() == Method::OPTIONS && is_xapi_path(req.path()) {
        let response = preflight(req.headers(), origin.as_ref());
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        add_common(headers, &origin);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    }
    Ok(response.map_into_left_body())
}

/// True for `/xapi` and everything below it.
fn is_xapi_path(path: &str) -> bool {
    path == "/xapi" || path.starts_with("/xapi/")
}

/// The answer to an `OPTIONS` request: 204 with everything a browser needs.
fn preflight(request: &HeaderMap, origin: Option<&HeaderValue>) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    response.insert_header((header::ALLOW, ALLOW_METHODS));
    let mut response = response.finish();
    let headers = response.headers_mut();
    if let Some(origin) = origin {
        add_common(headers, origin);
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
    if let Ok(allowed) = HeaderValue::from_str(&allow_headers(request)) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    }
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECONDS));
    response
}

/// Allow-Origin (echoed), Allow-Credentials, and `Vary: Origin` for caches.
fn add_common(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The always-allowed headers plus every well-formed one the preflight asks for.
fn allow_headers(request: &HeaderMap) -> String {
    let mut allowed: Vec<String> = ALLOW_HEADERS.iter().map(|name| (*name).to_owned()).collect();
    let requested = request.get_all(header::ACCESS_CONTROL_REQUEST_HEADERS).filter_map(|value| value.to_str().ok());
    for name in requested.flat_map(|list| list.split(',')).map(str::trim) {
        let known = allowed.iter().any(|have| have.eq_ignore_ascii_case(name));
        if !known && HeaderName::from_bytes(name.as_bytes()).is_ok() {
            allowed.push(name.to_owned());
        }
    }
    allowed.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_headers_are_added_once() {
        let mut request = HeaderMap::new();
        request.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("authorization, x-custom, X-Custom, bad header"),
        );
        assert_eq!(
            allow_headers(&request),
            "Authorization, Content-Type, X-Experience-API-Version, If-Match, If-None-Match, x-custom"
        );
    }

    #[test]
    fn only_xapi_paths_are_preflighted() {
        assert!(is_xapi_path("/xapi"));
        assert!(is_xapi_path("/xapi/statements"));
        assert!(!is_xapi_path("/xapidocs"));
    }
}
