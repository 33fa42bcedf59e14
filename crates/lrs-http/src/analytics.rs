//! The analytics API on the server root: `GET /analytics/v1/query` (one
//! measure, optionally by one dimension, filtered) and `GET
//! /analytics/v1/learner` (one learner's path across sources and
//! platforms). The tenant comes from the credential; the scope is
//! `analytics/read` (or `all/read`, or `all`). docs/ANALYTICS.md.

use actix_web::{web, HttpRequest, HttpResponse};
use lrs_core::analytics::{AnalyticsQuery, AnalyticsService, By, Measure};
use lrs_core::projection::analytics::fact::Dimension;
use lrs_core::Scope;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::Caller;
use crate::params::{agent_key, Params};
use crate::AppState;

/// Scopes that may read analytics.
const READ_ANALYTICS: &[Scope] = &[Scope::AnalyticsRead, Scope::AllRead];

/// Rows answered when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

/// Registers the analytics routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/analytics/v1").route("/query", web::get().to(query)).route("/learner", web::get().to(learner)),
    );
}

fn service(state: &AppState) -> Result<&AnalyticsService, ApiError> {
    state
        .analytics
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this process does not answer reads (no query role)".into()))
}

/// A day bound: `YYYY-MM-DD`, or an RFC 3339 time at midnight UTC (the
/// rollups are by whole days).
pub(crate) fn day_bound(name: &str, text: &str) -> Result<u32, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "{name}: analytics are by whole days (UTC): give a date such as 2026-03-01 or midnight UTC \
             such as 2026-03-01T00:00:00Z, not {text:?}"
        ))
    };
    let date = match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(date) => date,
        Err(_) => {
            let time = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| bad())?.with_timezone(&chrono::Utc);
            if time.time() != chrono::NaiveTime::MIN {
                return Err(bad());
            }
            time.date_naive()
        }
    };
    u32::try_from((date - chrono::NaiveDate::default()).num_days()).map_err(|_| bad())
}

/// GET /analytics/v1/query
async fn query(req: HttpRequest, state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(READ_ANALYTICS)?;
    let params = Params::parse(&req)?;
    let filters = ["verb", "activity", "parent", "platform", "source"];
    let mut allowed = vec!["measure", "by", "since", "until", "limit"];
    allowed.extend(filters);
    params.only(&allowed)?;
    let measure_name = params.required("measure")?;
    let measure = Measure::parse(measure_name).ok_or_else(|| {
        let known: Vec<&str> = Measure::ALL.iter().map(|m| m.name()).collect();
        ApiError::BadRequest(format!("measure: unknown measure {measure_name:?}; use one of {}", known.join(", ")))
    })?;
    let by = match params.get("by") {
        None => None,
        Some(name) => Some(By::parse(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "by: unknown dimension {name:?}; use day, week, month, verb, activity, parent, platform, source or learner"
            ))
        })?),
    };
    let since_day = params.get("since").map(|text| day_bound("since", text)).transpose()?;
    let until_day = params.get("until").map(|text| day_bound("until", text)).transpose()?;
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| *limit > 0)
            .ok_or_else(|| ApiError::BadRequest(format!("limit: must be a positive integer, not {text:?}")))?,
    };
    let filters: Vec<(Dimension, String)> =
        filters.iter().filter_map(|name| Some((Dimension::parse(name)?, params.get(name)?.to_owned()))).collect();
    let question = AnalyticsQuery { measure, by, since_day, until_day, filters, limit };
    let service = service(&state)?;
    let tenant = &caller.0.tenant;
    let consistent_through = service.consistent_through(tenant).await?;
    let rows = service.answer(tenant, &question).await?;
    Ok(HttpResponse::Ok().json(json!({
        "measure": measure.name(),
        "by": params.get("by"),
        "rows": rows,
        "consistent_through": xapi::format_timestamp(consistent_through),
    })))
}

/// GET /analytics/v1/learner?agent=…
async fn learner(req: HttpRequest, state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(READ_ANALYTICS)?;
    let params = Params::parse(&req)?;
    params.only(&["agent"])?;
    let key = agent_key(params.required("agent")?)?;
    let steps = service(&state)?.learner_path(&caller.0.tenant, &key).await?;
    let activities: Vec<serde_json::Value> = steps
        .into_iter()
        .map(|step| {
            let at = |micros: i64| {
                chrono::DateTime::from_timestamp_micros(micros).map(xapi::format_timestamp).unwrap_or_default()
            };
            json!({
                "activity": step.activity,
                "first_seen": at(step.progress.first_micros),
                "last_seen": at(step.progress.last_micros),
                "attempts": step.progress.attempts,
                "completed": step.progress.completed,
                "passed": step.progress.passed,
                "best_score": step.progress.best_score,
                "time_spent_seconds": step.progress.time_spent_seconds,
                "sources": step.progress.sources,
                "platforms": step.progress.platforms,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "activities": activities })))
}
