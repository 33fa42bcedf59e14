//! `/healthz` (the process answers) and `/readyz` (its log and store answer
//! and its projector is caught up within the bound): no auth, JSON bodies.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::AppState;

/// `GET /healthz`: 200 while the process runs.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

/// `GET /readyz`: 200 when every dependency answers, else 503 naming the
/// failed ones.
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let Some(check) = &state.health else {
        return HttpResponse::Ok().json(json!({ "status": "ready", "checks": [] }));
    };
    let readiness = check.readiness().await;
    if readiness.is_ready() {
        HttpResponse::Ok().json(readiness)
    } else {
        HttpResponse::ServiceUnavailable().json(readiness)
    }
}
