//! Request extractors: the authenticated caller and the xAPI version.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpRequest};
use base64::Engine as _;
use lrs_core::{AuthError, Principal, Scope};
use xapi::Version;

use crate::error::ApiError;
use crate::AppState;

/// Name of the xAPI version header.
pub(crate) const VERSION_HEADER: &str = "X-Experience-API-Version";

/// The caller of a request, authenticated by HTTP Basic or a Bearer JWT,
/// within its tenant's request rate.
pub(crate) struct Caller(pub(crate) Principal);

impl Caller {
    /// 403 unless the caller holds one of `scopes` (or `all`).
    pub(crate) fn require(&self, scopes: &[Scope]) -> Result<(), ApiError> {
        if self.0.has_any(scopes) {
            return Ok(());
        }
        let names: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
        Err(ApiError::Forbidden(format!("this needs one of the scopes {}", names.join(", "))))
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let limits = req.app_data::<web::Data<crate::limits::RateLimits>>().cloned();
        let budget = match *req.method() {
            actix_web::http::Method::GET | actix_web::http::Method::HEAD => crate::limits::Budget::Reads,
            _ => crate::limits::Budget::Writes,
        };
        let bearer = bearer_token(req);
        let credentials = basic_credentials(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Unavailable("server state missing".into()))?;
            let outcome = match bearer {
                Some(token) => state.auth.authenticate_bearer(&token).await?,
                None => {
                    let (key, secret) = credentials?;
                    state.auth.authenticate(&key, &secret).await?
                }
            };
            let principal = outcome.map_err(|AuthError::Unauthenticated(message)| ApiError::Unauthorized(message))?;
            if let Some(limits) = limits {
                limits.check(&principal, budget)?;
            }
            Ok(Caller(principal))
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let text = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = text.strip_prefix("Bearer ").or_else(|| text.strip_prefix("bearer "))?;
    Some(token.trim().to_owned())
}

fn basic_credentials(req: &HttpRequest) -> Result<(String, String), ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header is required (HTTP Basic)".into()))?;
    let text = value.to_str().map_err(|_| ApiError::Unauthorized("the Authorization header is not text".into()))?;
    let encoded = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header must use the Basic scheme".into()))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ApiError::Unauthorized("the Basic credentials are not valid base64 text".into()))?;
    let (key, secret) = decoded
        .split_once(':')
        .ok_or_else(|| ApiError::Unauthorized("the Basic credentials must be key:secret".into()))?;
    Ok((key.to_owned(), secret.to_owned()))
}

/// The xAPI version a request asks for, from its required version header.
pub(crate) struct RequestVersion(pub(crate) Version);

impl FromRequest for RequestVersion {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(request_version(req).map(RequestVersion))
    }
}

fn request_version(req: &HttpRequest) -> Result<Version, ApiError> {
    let value = req
        .headers()
        .get(VERSION_HEADER)
        .ok_or_else(|| ApiError::BadRequest(format!("the {VERSION_HEADER} header is required")))?;
    let text = value.to_str().map_err(|_| ApiError::BadRequest(format!("the {VERSION_HEADER} header is not text")))?;
    Version::parse_header(text.trim())
        .map_err(|_| ApiError::BadRequest(format!("{VERSION_HEADER} {text:?} is not supported; use 1.0.x or 2.0.x")))
}

/// The xAPI version each credential last spoke in a successful request, used
/// to answer a request of the same client that carries no (valid) version
/// header in its own dialect.
#[derive(Default)]
pub(crate) struct SpokenVersions(std::sync::Mutex<std::collections::HashMap<String, Version>>);

/// Sets the version header on every response: 2.0.0 for 2.0 requests, 1.0.3
/// for 1.0.x ones; a request without a valid header gets the version its
/// credential last used successfully, else the latest (2.0.0).
pub(crate) async fn version_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let key = basic_credentials(req.request()).ok().map(|(key, _)| key);
    let spoken = req.app_data::<web::Data<SpokenVersions>>().cloned();
    let requested = request_version(req.request()).ok();
    let version = requested.or_else(|| {
        let remembered = spoken.as_ref()?.0.lock().ok()?.get(key.as_deref()?).copied();
        remembered
    });
    let answered = match version {
        Some(version) if !version.is_v2() => "1.0.3",
        _ => "2.0.0",
    };
    let mut response = next.call(req).await?;
    if let (Some(requested), Some(key), Some(spoken)) = (requested, key, spoken) {
        if response.status().is_success() {
            if let Ok(mut versions) = spoken.0.lock() {
                if versions.get(&key) != Some(&requested) {
                    versions.insert(key, requested);
                }
            }
        }
    }
    response
        .headers_mut()
        .insert(HeaderName::from_static("x-experience-api-version"), HeaderValue::from_static(answered));
    Ok(response)
}
