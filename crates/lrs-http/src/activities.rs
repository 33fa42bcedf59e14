//! The Activities and Agents resources: what statements have said about an
//! activity or an agent.

use actix_web::{web, HttpRequest, HttpResponse};
use lrs_core::Scope;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{Caller, RequestVersion};
use crate::params::{agent_key, check_iri, Params};
use crate::AppState;

/// Scopes that may read what statements said about activities and agents.
const READ_DEFINITIONS: &[Scope] = &[Scope::AllRead, Scope::StatementsRead, Scope::StatementsReadMine, Scope::Define];

/// GET /activities?activityId=…: the canonical Activity object, merged from
/// every statement that named it.
pub(crate) async fn activity(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    _version: RequestVersion,
) -> Result<HttpResponse, ApiError> {
    caller.require(READ_DEFINITIONS)?;
    let params = Params::parse(&req)?;
    params.only(&["activityId"])?;
    let id = check_iri("activityId", params.required("activityId")?)?;
    let activity = state.query()?.activity(&caller.0.tenant, &id).await?;
    Ok(HttpResponse::Ok().json(activity.unwrap_or_else(|| json!({ "objectType": "Activity", "id": id }))))
}

/// GET /agents?agent=…: the Person object of an agent: its identifiers and
/// every name statements gave it.
pub(crate) async fn person(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    _version: RequestVersion,
) -> Result<HttpResponse, ApiError> {
    caller.require(READ_DEFINITIONS)?;
    let params = Params::parse(&req)?;
    params.only(&["agent"])?;
    let text = params.required("agent")?;
    let key = agent_key(text)?;
    let agent: Value = serde_json::from_str(text).map_err(|e| ApiError::BadRequest(format!("agent: {e}")))?;
    let mut names = state.query()?.agent_names(&caller.0.tenant, &key).await?;
    if let Some(name) = agent.get("name").and_then(Value::as_str) {
        if !names.iter().any(|n| n == name) {
            names.insert(0, name.to_owned());
        }
    }
    let mut person = json!({ "objectType": "Person" });
    if !names.is_empty() {
        person["name"] = json!(names);
    }
    for ifi in ["mbox", "mbox_sha1sum", "openid", "account"] {
        if let Some(value) = agent.get(ifi) {
            person[ifi] = json!([value]);
        }
    }
    Ok(HttpResponse::Ok().json(person))
}
