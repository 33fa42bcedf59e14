//! The Statement resource: PUT, POST, GET and HEAD on /xapi/statements.

use std::collections::HashMap;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use lrs_core::{AttachmentPart, Scope, StatementQuery};
use serde_json::Value;
use uuid::Uuid;
use xapi::Format;

use crate::error::ApiError;
use crate::extract::{Caller, RequestVersion};
use crate::multipart;
use crate::params::{check_iri, http_date, parse_time, parse_uuid, Params};
use crate::AppState;

/// Most statements one POST may carry.
pub(crate) const MAX_BATCH: usize = 1000;

const CONSISTENT_THROUGH: &str = "x-experience-api-consistent-through";

/// Parameters a statement GET may carry.
const GET_PARAMS: &[&str] = &[
    "statementId",
    "voidedStatementId",
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
    "limit",
    "format",
    "attachments",
    "ascending",
    "more",
];

fn media_type(req: &HttpRequest) -> (String, String) {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    (media_type, content_type)
}

fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    xapi::parse_json(bytes).map_err(|error| ApiError::BadRequest(format!("body is not valid JSON: {error}")))
}

/// The statements of a PUT or POST body and the attachment bodies beside them:
/// application/json, or multipart/mixed with the statements first.
fn statement_request(req: &HttpRequest, body: &[u8]) -> Result<(Value, Vec<AttachmentPart>), ApiError> {
    let (media_type, content_type) = media_type(req);
    match media_type.as_str() {
        "application/json" => Ok((parse_json(body)?, Vec::new())),
        "multipart/mixed" => {
            let boundary = multipart::boundary_of(&content_type).ok_or_else(|| {
                ApiError::BadRequest("multipart/mixed Content-Type needs a boundary parameter".into())
            })?;
            let mut parts = multipart::parse(body, &boundary).map_err(ApiError::BadRequest)?.into_iter();
            let first =
                parts.next().ok_or_else(|| ApiError::BadRequest("the multipart body has no sections".into()))?;
            let first_type = first.header("content-type").unwrap_or("");
            if !first_type.to_ascii_lowercase().starts_with("application/json") {
                return Err(ApiError::BadRequest(format!(
                    "the first multipart section must be application/json statements, not {first_type:?}"
                )));
            }
            let statements = parse_json(&first.body)?;
            let attachments = parts
                .enumerate()
                .map(|(index, part)| {
                    let at = index + 2;
                    let sha2 = part.header("x-experience-api-hash").ok_or_else(|| {
                        ApiError::BadRequest(format!("multipart section {at} has no X-Experience-API-Hash header"))
                    })?;
                    let encoding = part.header("content-transfer-encoding").unwrap_or("");
                    if !encoding.eq_ignore_ascii_case("binary") {
                        return Err(ApiError::BadRequest(format!(
                            "multipart section {at} needs Content-Transfer-Encoding: binary"
                        )));
                    }
                    Ok(AttachmentPart {
                        sha2: sha2.to_owned(),
                        content_type: part.header("content-type").unwrap_or("application/octet-stream").to_owned(),
                        body: part.body.clone(),
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            Ok((statements, attachments))
        }
        _ => Err(ApiError::BadRequest(format!(
            "Content-Type must be application/json or multipart/mixed, not {:?}",
            if content_type.is_empty() { "(none)" } else { content_type.as_str() }
        ))),
    }
}

/// A boolean parameter: `true` or `false`, in any case (TinCanPython sends `True`).
fn parse_bool(name: &str, value: &str) -> Result<bool, ApiError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::BadRequest(format!("{name}: must be true or false, not {value:?}"))),
    }
}

/// PUT /xapi/statements?statementId=…: stores one statement with that id.
pub(crate) async fn put(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    version: RequestVersion,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req)?.into_map();
    if let Some(name) = params.keys().find(|name| name.as_str() != "statementId") {
        return Err(ApiError::BadRequest(format!("parameter {name} is not allowed on PUT")));
    }
    let id = params
        .get("statementId")
        .ok_or_else(|| ApiError::BadRequest("statementId parameter is required on PUT".into()))?;
    let id = parse_uuid("statementId", id)?;
    caller.require(&[Scope::StatementsWrite])?;
    let (statement, attachments) = statement_request(&req, &body)?;
    if !statement.is_object() {
        return Err(ApiError::BadRequest("PUT takes one statement object".into()));
    }
    state.gateway()?.store_statements(&caller.0, statement, version.0, Some(id), attachments).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// POST /xapi/statements: stores one statement or a batch, answering their ids.
pub(crate) async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    version: RequestVersion,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req)?.into_map();
    if let Some(name) = params.keys().next() {
        return Err(ApiError::BadRequest(format!("parameter {name} is not allowed on POST")));
    }
    caller.require(&[Scope::StatementsWrite])?;
    let (statements, attachments) = statement_request(&req, &body)?;
    if statements.as_array().is_some_and(|batch| batch.len() > MAX_BATCH) {
        return Err(ApiError::TooLarge(format!("a batch holds at most {MAX_BATCH} statements")));
    }
    let ids = state.gateway()?.store_statements(&caller.0, statements, version.0, None, attachments).await?;
    Ok(HttpResponse::Ok().json(ids))
}

/// GET (and HEAD) /xapi/statements: one statement by id, or a filtered page.
/// Every answer, errors included, carries X-Experience-API-Consistent-Through.
pub(crate) async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Result<Caller, ApiError>,
    version: Result<RequestVersion, ApiError>,
) -> HttpResponse {
    let consistent_through = match &caller {
        Ok(caller) => match state.query() {
            Ok(query) => query.consistent_through(&caller.0.tenant).await.unwrap_or_else(|_| chrono::Utc::now()),
            Err(_) => chrono::Utc::now(),
        },
        Err(_) => chrono::Utc::now(),
    };
    let result = match (caller, version) {
        (Ok(caller), Ok(_)) => get_statements(&req, &state, &caller).await,
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    let mut response = result.unwrap_or_else(|error| error.error_response());
    let value = header_value(&xapi::format_timestamp(consistent_through));
    response.headers_mut().insert(HeaderName::from_static(CONSISTENT_THROUGH), value);
    response
}

async fn get_statements(req: &HttpRequest, state: &AppState, caller: &Caller) -> Result<HttpResponse, ApiError> {
    caller.require(&[Scope::StatementsRead, Scope::StatementsReadMine, Scope::AllRead])?;
    // statements/read/mine alone: only the statements this credential's authority wrote.
    let only_mine = if caller.0.has_any(&[Scope::StatementsRead, Scope::AllRead]) {
        None
    } else {
        Some(xapi::agent_key(&caller.0.authority).map(|key| key.as_str().to_owned()).unwrap_or_default())
    };
    let params = Params::parse(req)?.into_map();
    if let Some(name) = params.keys().find(|name| !GET_PARAMS.contains(&name.as_str())) {
        return Err(ApiError::BadRequest(format!("parameter {name} is not a statement query parameter")));
    }
    let tenant = &caller.0.tenant;
    let format = match params.get("format") {
        Some(text) => Format::parse(text).map_err(|e| ApiError::BadRequest(format!("format: {}", e.message())))?,
        None => Format::Exact,
    };
    let with_attachments = match params.get("attachments") {
        Some(text) => parse_bool("attachments", text)?,
        None => false,
    };
    let languages = accept_languages(req);

    let single = match (params.get("statementId"), params.get("voidedStatementId")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest("statementId and voidedStatementId cannot be combined".into()))
        }
        (Some(id), None) => Some((parse_uuid("statementId", id)?, false)),
        (None, Some(id)) => Some((parse_uuid("voidedStatementId", id)?, true)),
        (None, None) => None,
    };
    let response = HttpResponse::Ok();
    if let Some((id, voided)) = single {
        if let Some(name) = params
            .keys()
            .find(|name| !matches!(name.as_str(), "statementId" | "voidedStatementId" | "format" | "attachments"))
        {
            return Err(ApiError::BadRequest(format!(
                "parameter {name} cannot be combined with statementId or voidedStatementId"
            )));
        }
        let statement = state
            .query()?
            .statement(tenant, id, voided)
            .await?
            .filter(|statement| {
                let mine = StatementQuery { authority: only_mine.clone(), ..Default::default() };
                mine.authority_allows(statement)
            })
            .ok_or_else(|| ApiError::NotFound(format!("no statement {id}")))?;
        let document = match format {
            Format::Exact => serde_json::to_vec(&statement),
            _ => serde_json::to_vec(&xapi::format_statement(&statement, format, &languages)),
        }
        .expect("json");
        let modified = last_modified(std::slice::from_ref(&statement));
        return respond(state, tenant, response, document, modified, &[statement], with_attachments).await;
    }

    let mut query = match params.get("more") {
        Some(cursor) => StatementQuery::from_cursor(cursor)?,
        None => list_query(&params)?,
    };
    if only_mine.is_some() {
        query.authority = only_mine;
    }
    if format == Format::Exact && !with_attachments {
        // Answered as stored: most statements straight from their rows' bytes.
        let page = state.query()?.statements_serialised(tenant, &query).await?;
        let more = page.more.map_or_else(String::new, |cursor| more_link(&cursor, &params));
        let mut document = Vec::with_capacity(page.statements.iter().map(|s| s.len() + 1).sum::<usize>() + 64);
        document.extend_from_slice(b"{\"statements\":[");
        for (at, statement) in page.statements.iter().enumerate() {
            if at > 0 {
                document.push(b',');
            }
            document.extend_from_slice(statement);
        }
        document.extend_from_slice(b"],\"more\":");
        serde_json::to_writer(&mut document, &more).expect("a string serialises");
        document.push(b'}');
        let modified = page.latest_stored.map(http_date);
        return respond(state, tenant, response, document, modified, &[], false).await;
    }
    let page = state.query()?.statements(tenant, &query).await?;
    let modified = last_modified(&page.statements);
    let more = page.more.map_or_else(String::new, |cursor| more_link(&cursor, &params));
    let document = match format {
        // Answered as read: serialised from the page, not copied into another value first.
        Format::Exact => serde_json::to_vec(&StatementResult { statements: &page.statements, more: &more }),
        _ => {
            let statements: Vec<Value> =
                page.statements.iter().map(|s| xapi::format_statement(s, format, &languages)).collect();
            serde_json::to_vec(&StatementResult { statements: &statements, more: &more })
        }
    }
    .expect("json");
    respond(state, tenant, response, document, modified, &page.statements, with_attachments).await
}

/// The StatementResult object of a GET: a page of statements and the URL
/// of the next one (empty when there is none).
#[derive(serde::Serialize)]
struct StatementResult<'a> {
    statements: &'a [Value],
    more: &'a str,
}

/// The Last-Modified value of an answer: the latest `stored` of its statements.
fn last_modified(statements: &[Value]) -> Option<String> {
    let latest = statements.iter().filter_map(|s| xapi::parse_timestamp(s.get("stored")?.as_str()?).ok()).max()?;
    Some(http_date(u64::try_from(latest.timestamp_micros()).unwrap_or(0)))
}

/// Answers `document` (serialised JSON), or multipart/mixed with the
/// attachment bodies of `statements` after it when `with_attachments`.
async fn respond(
    state: &AppState,
    tenant: &lrs_core::TenantId,
    mut response: actix_web::HttpResponseBuilder,
    document: Vec<u8>,
    modified: Option<String>,
    statements: &[Value],
    with_attachments: bool,
) -> Result<HttpResponse, ApiError> {
    if let Some(last_modified) = modified {
        response.insert_header((header::LAST_MODIFIED, last_modified));
    }
    if !with_attachments {
        return Ok(response.content_type("application/json").body(document));
    }
    let mut parts =
        vec![multipart::Part { headers: vec![("Content-Type".into(), "application/json".into())], body: document }];
    let mut seen = std::collections::HashSet::new();
    for attachment in statements.iter().filter_map(|s| s.get("attachments")?.as_array()).flatten() {
        let Some(sha2) = attachment.get("sha2").and_then(Value::as_str).map(str::to_ascii_lowercase) else { continue };
        if !seen.insert(sha2.clone()) {
            continue;
        }
        let Some(body) = state.query()?.attachment(tenant, &sha2).await? else { continue };
        let content_type = attachment.get("contentType").and_then(Value::as_str).unwrap_or("application/octet-stream");
        parts.push(multipart::Part {
            headers: vec![
                ("Content-Type".into(), content_type.to_owned()),
                ("Content-Transfer-Encoding".into(), "binary".into()),
                ("X-Experience-API-Hash".into(), sha2),
            ],
            body,
        });
    }
    let boundary = format!("xapi-{}", Uuid::new_v4().simple());
    Ok(response
        .insert_header((header::CONTENT_TYPE, format!("multipart/mixed; boundary={boundary}")))
        .body(multipart::build(&boundary, &parts)))
}

fn more_link(cursor: &str, params: &HashMap<String, String>) -> String {
    let mut link = format!("/xapi/statements?more={cursor}");
    for name in ["format", "attachments"] {
        if let Some(value) = params.get(name) {
            link.push('&');
            link.push_str(&serde_urlencoded::to_string([(name, value)]).unwrap_or_default());
        }
    }
    link
}

pub(crate) fn list_query(params: &HashMap<String, String>) -> Result<StatementQuery, ApiError> {
    let mut query = StatementQuery::default();
    if let Some(agent) = params.get("agent") {
        let key = xapi::parse_agent_param(agent).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        query.agent = Some(key.as_str().to_owned());
    }
    if let Some(verb) = params.get("verb") {
        query.verb = Some(check_iri("verb", verb)?);
    }
    if let Some(activity) = params.get("activity") {
        query.activity = Some(check_iri("activity", activity)?);
    }
    if let Some(registration) = params.get("registration") {
        query.registration = Some(parse_uuid("registration", registration)?);
    }
    if let Some(value) = params.get("related_activities") {
        query.related_activities = parse_bool("related_activities", value)?;
    }
    if let Some(value) = params.get("related_agents") {
        query.related_agents = parse_bool("related_agents", value)?;
    }
    if let Some(value) = params.get("ascending") {
        query.ascending = parse_bool("ascending", value)?;
    }
    if let Some(value) = params.get("since") {
        query.since = Some(parse_time("since", value)?);
    }
    if let Some(value) = params.get("until") {
        query.until = Some(parse_time("until", value)?);
    }
    if let Some(value) = params.get("limit") {
        query.limit = value
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("limit: {value:?} is not a non-negative integer")))?;
    }
    Ok(query)
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The languages of the Accept-Language header, most preferred first.
fn accept_languages(req: &HttpRequest) -> Vec<String> {
    let Some(header) = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
        return Vec::new();
    };
    let mut weighted: Vec<(f32, usize, String)> = header
        .split(',')
        .enumerate()
        .filter_map(|(position, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            if tag.is_empty() {
                return None;
            }
            let weight =
                parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            Some((weight, position, tag.to_owned()))
        })
        .collect();
    weighted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    weighted.into_iter().map(|(_, _, tag)| tag).collect()
}
