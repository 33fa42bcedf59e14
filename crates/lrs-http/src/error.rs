//! The HTTP error type: every failure is answered with its xAPI status and a
//! JSON body `{"error": {"code": …, "message": …}}` that says what is wrong.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use lrs_core::{GatewayError, QueryError, StoreError};

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request breaks a rule.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but without the scope this needs.
    #[error("{0}")]
    Forbidden(String),
    /// 413: the request is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// 429: over the tenant's request rate; retry after the given seconds.
    #[error("{0}")]
    TooManyRequests(String, u64),
    /// 404: nothing there.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with stored data.
    #[error("{0}")]
    Conflict(String),
    /// 412: an If-Match / If-None-Match header does not hold.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 503: a dependency did not answer in time; retry.
    #[error("{0}")]
    Unavailable(String),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let mut response = HttpResponse::build(status);
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"xAPI\""));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::TooManyRequests(_, seconds) => {
                response.insert_header((header::RETRY_AFTER, seconds.max(&1).to_string()));
            }
            _ => {}
        }
        response.json(body(status, &self.to_string()))
    }
}

/// Longest error message answered; longer ones (a huge invalid value quoted
/// back) are cut.
const MAX_MESSAGE_CHARS: usize = 1000;

fn body(status: StatusCode, message: &str) -> serde_json::Value {
    let message = match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    };
    serde_json::json!({ "error": { "code": status.as_u16(), "message": message } })
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::Invalid(message) | GatewayError::BreaksPlan(message) => ApiError::BadRequest(message),
            GatewayError::Conflict(message) => ApiError::Conflict(message),
            GatewayError::Unavailable(message) => ApiError::Unavailable(message),
            GatewayError::PreconditionFailed(message) => ApiError::PreconditionFailed(message),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::Invalid(message) => ApiError::BadRequest(message),
            QueryError::Store(error) => error.into(),
            QueryError::Log(error) => ApiError::Unavailable(format!("the event log is unavailable: {error}")),
        }
    }
}

impl From<lrs_core::AdminError> for ApiError {
    fn from(error: lrs_core::AdminError) -> Self {
        match error {
            lrs_core::AdminError::Invalid(message) => ApiError::BadRequest(message),
            lrs_core::AdminError::NotFound(message) => ApiError::NotFound(message),
            lrs_core::AdminError::Conflict(message) => ApiError::Conflict(message),
            lrs_core::AdminError::Unavailable(message) => ApiError::Unavailable(message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Unavailable(error.to_string())
    }
}

/// Answers unknown routes.
pub(crate) async fn not_found() -> HttpResponse {
    ApiError::NotFound("no such resource".into()).error_response()
}

/// Gives error responses made by actix-web itself (bad payloads, unknown
/// methods, oversized bodies) the same JSON body as ours.
pub(crate) fn json_error_body<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() && !status.is_server_error() || is_json {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let (request, mut inner) = response.into_parts();
    let message = inner
        .error()
        .map(|error| error.to_string())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_lowercase());
    inner.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let text = body(status, &message).to_string();
    let inner = inner.set_body(BoxBody::new(text));
    let response = ServiceResponse::new(request, inner).map_body(|_, body| EitherBody::right(body));
    Ok(ErrorHandlerResponse::Response(response))
}
