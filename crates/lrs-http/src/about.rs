//! The About resource.

use actix_web::HttpResponse;

/// GET /xapi/about: the versions this LRS speaks. Needs no credential.
pub(crate) async fn get() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "version": ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"],
        "extensions": {},
    }))
}
