//! The document resources: /activities/state, /activities/profile and /agents/profile.

use actix_web::http::header;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use lrs_core::{DocumentKind, DocumentScope, Precondition, Scope};
use xapi::Version;

use crate::error::ApiError;
use crate::extract::{Caller, RequestVersion};
use crate::params::{agent_key, check_iri, http_date, Params};
use crate::AppState;

/// The parameters of a document request, by resource.
struct Target {
    scope: DocumentScope,
    id: Option<String>,
    since: Option<u64>,
}

fn target(kind: DocumentKind, params: &Params, method: &Method) -> Result<Target, ApiError> {
    let (id_name, allowed): (&str, &[&str]) = match kind {
        DocumentKind::State => ("stateId", &["activityId", "agent", "registration", "stateId", "since"]),
        DocumentKind::ActivityProfile => ("profileId", &["activityId", "profileId", "since"]),
        DocumentKind::AgentProfile => ("profileId", &["agent", "profileId", "since"]),
    };
    params.only(allowed)?;
    let mut scope = DocumentScope::default();
    if matches!(kind, DocumentKind::State | DocumentKind::ActivityProfile) {
        scope.activity_id = Some(check_iri("activityId", params.required("activityId")?)?);
    }
    if matches!(kind, DocumentKind::State | DocumentKind::AgentProfile) {
        scope.agent = Some(agent_key(params.required("agent")?)?);
    }
    if kind == DocumentKind::State {
        scope.registration = params.uuid("registration")?;
    }
    let id = params.get(id_name).map(str::to_owned);
    let id_required =
        *method == Method::PUT || *method == Method::POST || (*method == Method::DELETE && kind != DocumentKind::State);
    if id_required && id.is_none() {
        return Err(ApiError::BadRequest(format!("parameter {id_name} is required")));
    }
    let since = params.timestamp("since")?;
    if since.is_some() && (id.is_some() || !(*method == Method::GET || *method == Method::HEAD)) {
        return Err(ApiError::BadRequest(format!("since only applies to a GET without {id_name}")));
    }
    Ok(Target { scope, id, since })
}

fn precondition(req: &HttpRequest, required: bool) -> Precondition {
    let header_tags = |name: header::HeaderName| {
        req.headers().get(name).and_then(|v| v.to_str().ok()).map(Precondition::parse_header)
    };
    Precondition {
        if_match: header_tags(header::IF_MATCH),
        if_none_match: header_tags(header::IF_NONE_MATCH),
        required,
        required_to_create: false,
    }
}

/// Handles every method of a document resource.
async fn handle(
    kind: DocumentKind,
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    version: Version,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let method = req.method().clone();
    let write_scope = if kind == DocumentKind::State { Scope::State } else { Scope::Profile };
    if method == Method::GET || method == Method::HEAD {
        caller.require(&[write_scope, Scope::AllRead])?;
    } else {
        caller.require(&[write_scope])?;
    }
    let params = Params::parse(&req)?;
    let target = target(kind, &params, &method)?;
    let tenant = &caller.0.tenant;
    if method == Method::GET || method == Method::HEAD {
        return match target.id {
            Some(id) => {
                let document = state
                    .query()?
                    .document(tenant, kind, &target.scope, &id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("no document {id:?}")))?;
                Ok(HttpResponse::Ok()
                    .insert_header((header::CONTENT_TYPE, document.content_type.clone()))
                    .insert_header((header::ETAG, format!("\"{}\"", document.etag)))
                    .insert_header((header::LAST_MODIFIED, http_date(document.updated_micros)))
                    .body(document.content))
            }
            None => {
                let (ids, latest) = state.query()?.document_ids(tenant, kind, &target.scope, target.since).await?;
                let mut response = HttpResponse::Ok();
                if let Some(latest) = latest {
                    response.insert_header((header::LAST_MODIFIED, http_date(latest)));
                }
                Ok(response.json(ids))
            }
        };
    }
    if method == Method::DELETE {
        let precondition = precondition(&req, false);
        state.gateway()?.delete_documents(tenant, kind, target.scope, target.id, precondition).await?;
        return Ok(HttpResponse::NoContent().finish());
    }
    let merge = method == Method::POST;
    // Profiles always need a precondition to overwrite; since xAPI 2.0 so does state.
    let required = !merge && (kind != DocumentKind::State || version.is_v2());
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let id = target.id.expect("checked for PUT and POST");
    let mut precondition = precondition(&req, required);
    precondition.required_to_create = required && kind != DocumentKind::State && !version.is_v2();
    let address = lrs_core::gateway::DocumentAddress { kind, scope: target.scope, id };
    state.gateway()?.put_document(tenant, address, content_type, &body, merge, precondition).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// /activities/state.
pub(crate) async fn state_resource(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    version: RequestVersion,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    handle(DocumentKind::State, req, state, caller, version.0, body).await
}

/// /activities/profile.
pub(crate) async fn activity_profile_resource(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    version: RequestVersion,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    handle(DocumentKind::ActivityProfile, req, state, caller, version.0, body).await
}

/// /agents/profile.
pub(crate) async fn agent_profile_resource(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    version: RequestVersion,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    handle(DocumentKind::AgentProfile, req, state, caller, version.0, body).await
}
