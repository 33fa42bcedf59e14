//! The xAPI 1.0.3 Alternate Request Syntax (Communication 1.3): a client that
//! cannot send PUT, DELETE or custom headers sends `POST …?method=PUT` with an
//! `application/x-www-form-urlencoded` body carrying the headers, the query
//! parameters and the request content (`content`) as form fields. This
//! middleware rewrites such a request into the equivalent one (method,
//! headers, query string, body) before routing, so every route, extractor and
//! rule applies to it unchanged.
//!
//! xAPI 2.0 removed the syntax: a request that announces 2.0 (by header or
//! form field) and carries `method=` is answered 400, as is any request that
//! breaks the 1.0.3 rules (not a POST, another query parameter beside
//! `method`, not a form body, an unknown method).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, Uri};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use xapi::Version;

use crate::error::ApiError;
use crate::extract::VERSION_HEADER;

/// Form fields the LRS treats as request headers (matched case-insensitively).
const HEADER_FIELDS: &[&str] =
    &["Authorization", VERSION_HEADER, "Content-Type", "Content-Length", "If-Match", "If-None-Match"];

/// Methods a client may ask for through `method=`.
const METHODS: &[&str] = &["GET", "HEAD", "PUT", "POST", "DELETE"];

/// Name of the form field that carries the request content.
const CONTENT_FIELD: &str = "content";

/// The request one alternate-syntax request stands for.
#[derive(Debug, Default, PartialEq)]
struct Rewritten {
    /// The method asked for.
    method: Option<Method>,
    /// Header fields of the form, by their canonical names.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Every other form field, in order: the query parameters.
    query: Vec<(String, String)>,
    /// The `content` field, if any.
    content: Option<String>,
}

/// Rewrites alternate-syntax requests (those with a `method` query parameter)
/// into the request they stand for; passes every other request through.
pub(crate) async fn rewrite(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(method) = method_parameter(req.query_string()) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let method = match check_request(&req, method) {
        Ok(method) => method,
        Err(error) => return Ok(req.into_response(error.error_response()).map_into_right_body()),
    };
    let body = match req.extract::<web::Bytes>().await {
        Ok(body) => body,
        // Oversized or broken bodies: actix-web's own error, made JSON by the error handler.
        Err(error) => return Ok(req.error_response(error).map_into_right_body()),
    };
    let rewritten = match parse_form(&body).and_then(|mut rewritten| {
        rewritten.method = Some(method);
        check_version(req.headers(), &rewritten)?;
        Ok(rewritten)
    }) {
        Ok(rewritten) => rewritten,
        Err(error) => return Ok(req.into_response(error.error_response()).map_into_right_body()),
    };
    if let Err(error) = apply(&mut req, rewritten) {
        return Ok(req.into_response(error.error_response()).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The value of the `method` query parameter, if the query string has one.
fn method_parameter(query: &str) -> Option<String> {
    if query.is_empty() {
        return None;
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(name, _)| name == "method").map(|(_, value)| value)
}

/// Checks the outer request: a POST, `method` its only query parameter, a
/// form body, and a method the LRS knows. Answers the method asked for.
fn check_request(req: &ServiceRequest, method: String) -> Result<Method, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::BadRequest(format!(
            "the alternate request syntax (method={method}) must be sent as a POST, not {}",
            req.method()
        )));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|error| ApiError::BadRequest(format!("malformed query string: {error}")))?;
    if pairs.len() != 1 {
        let others: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).filter(|name| *name != "method").collect();
        let others = if others.is_empty() { "method".to_owned() } else { others.join(", ") };
        return Err(ApiError::BadRequest(format!(
            "the alternate request syntax takes every parameter in its form body; \
             the query string may hold only method (also found: {others})"
        )));
    }
    if !METHODS.contains(&method.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "method={method:?} is not supported; use one of {}",
            METHODS.join(", ")
        )));
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        let shown = if content_type.is_empty() { "(none)" } else { content_type };
        return Err(ApiError::BadRequest(format!(
            "the alternate request syntax (method={method}) needs Content-Type \
             application/x-www-form-urlencoded, not {shown:?}"
        )));
    }
    Method::from_bytes(method.as_bytes()).map_err(|_| ApiError::BadRequest(format!("method={method:?} is not valid")))
}

/// Splits a form body into header fields, query parameters and content.
fn parse_form(body: &[u8]) -> Result<Rewritten, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|error| {
        ApiError::BadRequest(format!("the alternate request syntax body is not a valid form: {error}"))
    })?;
    let mut rewritten = Rewritten::default();
    let mut seen: Vec<String> = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
            return Err(ApiError::BadRequest(format!(
                "the alternate request syntax body is not a form of header, parameter and content fields \
                 (field name {name:?})"
            )));
        }
        let key = name.to_ascii_lowercase();
        if seen.contains(&key) {
            return Err(ApiError::BadRequest(format!("form field {name} is given more than once")));
        }
        seen.push(key);
        if name == CONTENT_FIELD {
            rewritten.content = Some(value);
        } else if name == "method" {
            return Err(ApiError::BadRequest("method belongs in the query string, not in the form body".into()));
        } else if let Some(canonical) = HEADER_FIELDS.iter().find(|field| field.eq_ignore_ascii_case(&name)) {
            let header_name = HeaderName::from_bytes(canonical.as_bytes())
                .map_err(|_| ApiError::BadRequest(format!("form field {name} is not a header name")))?;
            let header_value = HeaderValue::from_str(&value)
                .map_err(|_| ApiError::BadRequest(format!("form field {name} is not a valid header value")))?;
            rewritten.headers.push((header_name, header_value));
        } else {
            rewritten.query.push((name, value));
        }
    }
    Ok(rewritten)
}

/// Refuses the syntax to xAPI 2.0 requests (the header sent, or the one in the form).
fn check_version(headers: &HeaderMap, rewritten: &Rewritten) -> Result<(), ApiError> {
    let sent = headers.get(VERSION_HEADER);
    let form = rewritten.headers.iter().find(|(name, _)| name.as_str().eq_ignore_ascii_case(VERSION_HEADER));
    let is_v2 = |value: &HeaderValue| {
        value.to_str().ok().and_then(|text| Version::parse_header(text).ok()).is_some_and(Version::is_v2)
    };
    if sent.is_some_and(is_v2) || form.is_some_and(|(_, value)| is_v2(value)) {
        return Err(ApiError::BadRequest(
            "xAPI 2.0 removed the alternate request syntax; send the request itself".into(),
        ));
    }
    Ok(())
}

/// Turns `req` into the request `rewritten` describes.
fn apply(req: &mut ServiceRequest, rewritten: Rewritten) -> Result<(), ApiError> {
    let query = serde_urlencoded::to_string(&rewritten.query)
        .map_err(|error| ApiError::BadRequest(format!("form parameters cannot be encoded: {error}")))?;
    let path_and_query = if query.is_empty() { req.path().to_owned() } else { format!("{}?{query}", req.path()) };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| ApiError::BadRequest("form parameters do not make a valid query string".into()))?,
    );
    let uri = Uri::from_parts(parts).map_err(|_| ApiError::BadRequest("the rewritten URI is not valid".into()))?;

    let headers = req.headers_mut();
    // The outer body's framing and type describe the form, not the content.
    headers.remove(header::CONTENT_TYPE);
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::TRANSFER_ENCODING);
    headers.remove(header::CONTENT_ENCODING);
    for (name, value) in rewritten.headers {
        if name != header::CONTENT_LENGTH {
            headers.insert(name, value);
        }
    }
    let content = rewritten.content.unwrap_or_default();
    if !content.is_empty() {
        if !headers.contains_key(header::CONTENT_TYPE) {
            // The form need not say what the content is: JSON when it parses as JSON.
            let default = if serde_json::from_str::<serde::de::IgnoredAny>(&content).is_ok() {
                "application/json"
            } else {
                "application/octet-stream"
            };
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(default));
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(content.len()));
    }

    req.match_info_mut().get_mut().update(&uri);
    let head = req.head_mut();
    head.uri = uri;
    head.method = rewritten.method.unwrap_or(Method::POST);
    req.set_payload(Payload::from(web::Bytes::from(content)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_split_into_headers_query_and_content() {
        let body =
            "statementId=abc&X-Experience-API-Version=1.0.3&authorization=Basic%20eDp5&content=%7B%22a%22%3A1%7D";
        let rewritten = parse_form(body.as_bytes()).unwrap();
        assert_eq!(rewritten.query, vec![("statementId".to_owned(), "abc".to_owned())]);
        assert_eq!(rewritten.content.as_deref(), Some("{\"a\":1}"));
        let names: Vec<&str> = rewritten.headers.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, vec!["x-experience-api-version", "authorization"]);
    }

    #[test]
    fn a_json_body_is_not_a_form() {
        assert!(parse_form(br#"{"statementId":"abc","content":"{}"}"#).is_err());
    }

    #[test]
    fn duplicate_and_method_fields_are_refused() {
        assert!(parse_form(b"a=1&a=2").is_err());
        assert!(parse_form(b"method=PUT").is_err());
    }

    #[test]
    fn v2_requests_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("x-experience-api-version"), HeaderValue::from_static("2.0.0"));
        assert!(check_version(&headers, &Rewritten::default()).is_err());
        let form = parse_form(b"X-Experience-API-Version=2.0.0").unwrap();
        assert!(check_version(&HeaderMap::new(), &form).is_err());
        let form = parse_form(b"X-Experience-API-Version=1.0.3").unwrap();
        assert!(check_version(&HeaderMap::new(), &form).is_ok());
    }

    #[test]
    fn method_is_found_in_the_query() {
        assert_eq!(method_parameter("method=PUT"), Some("PUT".to_owned()));
        assert_eq!(method_parameter("statementId=1"), None);
        assert_eq!(method_parameter(""), None);
    }
}
