//! The operator API under /admin: tenants, credentials and the audit trail,
//! guarded by the operator token (LRS_OPERATOR_TOKEN), never by a tenant credential.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use lrs_core::forwarders::{ForwardFilter, ForwardTarget, Forwarder};
use lrs_core::tables::forwarding::ForwarderState;
use lrs_core::{AdminService, Scope, TenantId};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::AppState;

/// Registers the operator routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .route("/tenants", web::get().to(list_tenants))
            .route("/tenants", web::post().to(create_tenant))
            .route("/tenants/{id}", web::delete().to(delete_tenant))
            .route("/tenants/{id}/suspend", web::post().to(suspend_tenant))
            .route("/tenants/{id}/resume", web::post().to(resume_tenant))
            .route("/tenants/{id}/limits", web::put().to(set_limits))
            .route("/tenants/{id}/credentials", web::get().to(list_credentials))
            .route("/tenants/{id}/credentials", web::post().to(issue_credential))
            .route("/credentials/{key}/rotate", web::post().to(rotate_credential))
            .route("/credentials/{key}", web::delete().to(revoke_credential))
            .route("/tenants/{id}/forget", web::post().to(forget_agent))
            .route("/tenants/{id}/retention", web::put().to(set_retention))
            .route("/tenants/{id}/profiles", web::get().to(list_profiles))
            .route("/tenants/{id}/profiles", web::post().to(add_profile))
            .route("/tenants/{id}/profiles/{profile:.*}", web::delete().to(remove_profile))
            .route("/tenants/{id}/profile-enforcement", web::get().to(get_enforcement))
            .route("/tenants/{id}/profile-enforcement", web::put().to(set_enforcement))
            .route("/tenants/{id}/forwarders", web::get().to(list_forwarders))
            .route("/tenants/{id}/forwarders", web::post().to(add_forwarder))
            .route("/tenants/{id}/forwarders/{name}", web::get().to(get_forwarder))
            .route("/tenants/{id}/forwarders/{name}", web::delete().to(remove_forwarder))
            .route("/tenants/{id}/forwarders/{name}/dead-letters", web::get().to(list_dead_letters))
            .route("/tenants/{id}/forwarders/{name}/dead-letters/replay", web::post().to(replay_dead_letters))
            .route("/retention/apply", web::post().to(apply_retention))
            .route("/audit", web::get().to(audit)),
    );
}

/// The admin service, once the request carries the operator token.
fn operator<'a>(req: &HttpRequest, state: &'a AppState) -> Result<&'a AdminService, ApiError> {
    let (Some(admin), Some(expected)) = (&state.admin, &state.operator_token) else {
        return Err(ApiError::NotFound("the operator API is disabled; set LRS_OPERATOR_TOKEN to enable it".into()));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|text| text.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::Unauthorized("the operator API needs Authorization: Bearer <operator token>".into())
        })?;
    let same = Sha256::digest(given.trim().as_bytes()) == Sha256::digest(expected.as_bytes());
    if !same {
        return Err(ApiError::Unauthorized("wrong operator token".into()));
    }
    Ok(admin)
}

fn tenant_id(text: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    requests_per_second: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    requests_per_second: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCredential {
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("body: {e}")))
}

async fn list_tenants(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(operator(&req, &state)?.tenants().await?))
}

async fn create_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = operator(&req, &state)?;
    let new: NewTenant = json_body(&body)?;
    let tenant = admin.create_tenant(&new.id, &new.name, new.requests_per_second).await?;
    Ok(HttpResponse::Created().json(tenant))
}

async fn delete_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    operator(&req, &state)?.delete_tenant(&tenant_id(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn suspend_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(operator(&req, &state)?.suspend_tenant(&tenant_id(&path)?, true).await?))
}

async fn resume_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(operator(&req, &state)?.suspend_tenant(&tenant_id(&path)?, false).await?))
}

async fn set_limits(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = operator(&req, &state)?;
    let limits: Limits = json_body(&body)?;
    Ok(HttpResponse::Ok().json(admin.set_rate_limit(&tenant_id(&path)?, limits.requests_per_second).await?))
}

async fn list_credentials(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(operator(&req, &state)?.credentials(&tenant_id(&path)?).await?))
}

async fn issue_credential(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = operator(&req, &state)?;
    let new: NewCredential = json_body(&body)?;
    let scopes = new
        .scopes
        .iter()
        .map(|name| Scope::parse(name).ok_or_else(|| ApiError::BadRequest(format!("scopes: unknown scope {name:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let expires = match new.expires_at {
        Some(text) => Some(
            xapi::parse_timestamp(&text)
                .map_err(|e| ApiError::BadRequest(format!("expires_at: {}", e.message())))?
                .timestamp_micros(),
        ),
        None => None,
    };
    let (view, secret) = admin.issue_credential(&tenant_id(&path)?, scopes, expires).await?;
    let mut body = serde_json::to_value(view).expect("json");
    body["secret"] = json!(secret);
    Ok(HttpResponse::Created().json(body))
}

async fn rotate_credential(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (view, secret) = operator(&req, &state)?.rotate_credential(&path).await?;
    let mut body = serde_json::to_value(view).expect("json");
    body["secret"] = json!(secret);
    Ok(HttpResponse::Ok().json(body))
}

async fn revoke_credential(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    operator(&req, &state)?.revoke_credential(&path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Retention {
    seconds: Option<u64>,
}

async fn set_retention(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = operator(&req, &state)?;
    let retention: Retention = json_body(&body)?;
    Ok(HttpResponse::Ok().json(admin.set_retention(&tenant_id(&path)?, retention.seconds).await?))
}

async fn apply_retention(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let applied = operator(&req, &state)?.apply_retention().await?;
    Ok(HttpResponse::Ok().json(json!({ "tenants": applied })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Forget {
    agent: serde_json::Value,
}

async fn forget_agent(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = operator(&req, &state)?;
    let forget: Forget = json_body(&body)?;
    admin.forget_agent(&tenant_id(&path)?, &forget.agent.to_string()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn audit(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(operator(&req, &state)?.audit().await?))
}

async fn list_profiles(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(operator(&req, &state)?.profiles(&tenant_id(&path)?).await?))
}

/// POST /admin/tenants/{id}/profiles[?applies=all]: the body is the profile's JSON-LD document.
async fn add_profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = operator(&req, &state)?;
    let query = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("query: {e}")))?;
    let applies_to_all = match query.get("applies").map(String::as_str) {
        None | Some("category") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "applies: \"category\" (statements naming a version of the profile) or \"all\", not {other:?}"
            )))
        }
    };
    let view = admin.add_profile(&tenant_id(&path)?, &body, applies_to_all).await?;
    Ok(HttpResponse::Created().json(view))
}

/// DELETE /admin/tenants/{id}/profiles/{profile IRI, url-encoded}
async fn remove_profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, profile) = path.into_inner();
    let profile = percent_decode(&profile)?;
    operator(&req, &state)?.remove_profile(&tenant_id(&id)?, &profile).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Decodes what a router left encoded (`%2F` in a path segment).
fn percent_decode(text: &str) -> Result<String, ApiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            let byte =
                byte.ok_or_else(|| ApiError::BadRequest(format!("profile: bad percent-encoding in {text:?}")))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::BadRequest("profile: not UTF-8 once decoded".into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnforcementBody {
    mode: Option<String>,
    #[serde(default)]
    credential: Option<String>,
}

async fn get_enforcement(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(operator(&req, &state)?.enforcement(&tenant_id(&path)?).await?))
}

/// PUT /admin/tenants/{id}/profile-enforcement with `{"mode": "off"|"report"|"reject"}`,
/// and `"credential": KEY` for one credential (`"mode": null` takes it back to the tenant's).
async fn set_enforcement(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = operator(&req, &state)?;
    let body: EnforcementBody = json_body(&body)?;
    let mode =
        match body.mode.as_deref() {
            None => None,
            Some(text) => Some(lrs_core::tenants::Enforcement::parse(text).ok_or_else(|| {
                ApiError::BadRequest(format!("mode: \"off\", \"report\" or \"reject\", not {text:?}"))
            })?),
        };
    let view = admin.set_enforcement(&tenant_id(&path)?, mode, body.credential.as_deref()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// A forwarder as the operator sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewForwarder {
    name: String,
    target: ForwardTarget,
    #[serde(default)]
    filter: ForwardFilter,
    #[serde(default = "default_batch_size")]
    batch_size: u32,
    /// `start` (the statements stored before it too, the default) or `now`.
    #[serde(default)]
    from: Option<String>,
}

fn default_batch_size() -> u32 {
    100
}

/// POST /admin/tenants/{id}/forwarders
async fn add_forwarder(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = operator(&req, &state)?;
    let new: NewForwarder = json_body(&body)?;
    let from_start = match new.from.as_deref() {
        None | Some("start") => true,
        Some("now") => false,
        Some(other) => return Err(ApiError::BadRequest(format!("from: \"start\" or \"now\", not {other:?}"))),
    };
    let forwarder = Forwarder {
        name: new.name,
        target: new.target,
        filter: new.filter,
        batch_size: new.batch_size,
        from_start,
        created_micros: 0,
    };
    let added = admin.add_forwarder(&tenant_id(&path)?, forwarder).await?;
    Ok(HttpResponse::Created().json(added))
}

/// A forwarder with what it delivered and what it has yet to, as GET answers it.
async fn forwarder_view(
    app: &AppState,
    tenant: &TenantId,
    forwarder: &Forwarder,
    state: &ForwarderState,
) -> Result<serde_json::Value, ApiError> {
    let (pending, newest, first_pending) = pending(app, tenant, forwarder, state.position).await?;
    let time =
        |micros: Option<i64>| micros.and_then(chrono::DateTime::from_timestamp_micros).map(xapi::format_timestamp);
    let position = i64::try_from(state.position).ok().filter(|p| *p > 0);
    // From the oldest statement still to deliver to the newest (0: none to
    // deliver); not from the position, which is 0 before the first delivery.
    let lag_seconds = newest
        .map(|newest| first_pending.map_or(0.0, |first| newest.saturating_sub(state.position.max(first)) as f64 / 1e6));
    Ok(serde_json::json!({
        "name": forwarder.name,
        "target": forwarder.target,
        "filter": forwarder.filter,
        "batch_size": forwarder.batch_size,
        "from": if forwarder.from_start { "start" } else { "now" },
        "created": time(Some(forwarder.created_micros)),
        "status": {
            "delivered": state.delivered,
            "pending": pending.map(|(count, _)| count),
            "pending_at_least": pending.is_some_and(|(_, capped)| capped),
            "lag_seconds": lag_seconds,
            "dead_lettered": state.dead_lettered,
            "failed_attempts": state.failed_attempts,
            "failing": state.consecutive_failures > 0,
            "last_error": state.last_error,
            "last_error_at": time(state.last_error_micros),
            "last_delivered_at": time(state.last_delivered_micros),
            "position": time(position),
        },
    }))
}

/// Most statements counted as pending.
const PENDING_COUNTED: usize = 10_000;

/// The matching statements after a forwarder's position (counted up to
/// [`PENDING_COUNTED`]; true when there are more), when this process reads
/// the statements.
async fn pending(
    state: &AppState,
    tenant: &TenantId,
    forwarder: &Forwarder,
    position: u64,
) -> Result<(Option<(usize, bool)>, Option<u64>, Option<u64>), ApiError> {
    let Some(query) = &state.query else { return Ok((None, None, None)) };
    let newest = query.last_stored(tenant).await?;
    let filter = forwarder.filter.query().map_err(ApiError::BadRequest)?;
    let mut counted = 0;
    let mut after = position;
    let mut first_pending = None;
    while counted < PENDING_COUNTED && after < newest {
        let page = query.statements_after(tenant, &filter, (after, newest), lrs_core::query::MAX_PAGE).await?;
        let Some(&(last, _)) = page.last() else { break };
        first_pending = first_pending.or(page.first().map(|(stored, _)| *stored));
        counted += page.len();
        after = last;
        if page.len() < lrs_core::query::MAX_PAGE {
            break;
        }
    }
    let capped = counted >= PENDING_COUNTED && after < newest;
    Ok((Some((counted.min(PENDING_COUNTED), capped)), Some(newest), first_pending))
}

/// GET /admin/tenants/{id}/forwarders
async fn list_forwarders(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_id(&path)?;
    let forwarders = operator(&req, &state)?.forwarders(&tenant).await?;
    let mut views = Vec::with_capacity(forwarders.len());
    for (forwarder, delivered) in &forwarders {
        views.push(forwarder_view(&state, &tenant, forwarder, delivered).await?);
    }
    Ok(HttpResponse::Ok().json(views))
}

/// GET /admin/tenants/{id}/forwarders/{name}
async fn get_forwarder(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let tenant = tenant_id(&id)?;
    let (forwarder, delivered) = operator(&req, &state)?.forwarder(&tenant, &name).await?;
    Ok(HttpResponse::Ok().json(forwarder_view(&state, &tenant, &forwarder, &delivered).await?))
}

/// DELETE /admin/tenants/{id}/forwarders/{name}
async fn remove_forwarder(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    operator(&req, &state)?.remove_forwarder(&tenant_id(&id)?, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// GET /admin/tenants/{id}/forwarders/{name}/dead-letters
async fn list_dead_letters(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let letters = operator(&req, &state)?.dead_letters(&tenant_id(&id)?, &name).await?;
    let views: Vec<_> = letters
        .iter()
        .map(|letter| {
            serde_json::json!({
                "statements": letter.ids,
                "error": letter.error,
                "at": chrono::DateTime::from_timestamp_micros(letter.at_micros).map(xapi::format_timestamp),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// POST /admin/tenants/{id}/forwarders/{name}/dead-letters/replay: the
/// forwarder delivers its dead letters again (202: asked).
async fn replay_dead_letters(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let letters = operator(&req, &state)?.replay_dead_letters(&tenant_id(&id)?, &name).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "dead_letters": letters })))
}
