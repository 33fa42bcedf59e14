//! The data-quality report on the server root: `GET /quality/v1/report`
//! (counts per source, naming drift, what the statement plan found). The
//! tenant comes from the credential; the scope is `analytics/read` (or
//! `all/read`, or `all`). docs/QUALITY.md.

use actix_web::{web, HttpRequest, HttpResponse};
use lrs_core::quality::QualityService;
use lrs_core::Scope;

use crate::analytics::day_bound;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::params::Params;
use crate::AppState;

/// Scopes that may read the report.
const READ_QUALITY: &[Scope] = &[Scope::AnalyticsRead, Scope::AllRead];

/// Days a report covers when `since` is not given (up to `until`, today by default).
const DEFAULT_DAYS: u32 = 90;

/// Registers the quality routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/quality/v1").route("/report", web::get().to(report)));
}

fn service(state: &AppState) -> Result<&QualityService, ApiError> {
    state
        .quality
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this process does not answer reads (no query role)".into()))
}

/// GET /quality/v1/report?since=YYYY-MM-DD&until=YYYY-MM-DD
async fn report(req: HttpRequest, state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(READ_QUALITY)?;
    let params = Params::parse(&req)?;
    params.only(&["since", "until"])?;
    let today = u32::try_from(chrono::Utc::now().timestamp().div_euclid(86_400)).unwrap_or(0);
    let until = params.get("until").map(|text| day_bound("until", text)).transpose()?.unwrap_or(today);
    let since = match params.get("since") {
        Some(text) => day_bound("since", text)?,
        None => until.saturating_sub(DEFAULT_DAYS - 1),
    };
    if since > until {
        return Err(ApiError::BadRequest("since: must not be after until".into()));
    }
    if until - since >= lrs_core::quality::MAX_REPORT_DAYS {
        return Err(ApiError::BadRequest(format!(
            "since: a report covers at most {} days",
            lrs_core::quality::MAX_REPORT_DAYS
        )));
    }
    let report = service(&state)?.report(&caller.0.tenant, since, until).await?;
    Ok(HttpResponse::Ok().json(report))
}
