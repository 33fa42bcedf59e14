//! The dashboard page, served by the LRS itself from files compiled into the
//! binary (dashboard/ of the repository; Chart.js vendored there from npm):
//! `GET /` leads to it, `GET /dashboard` is the page, `GET
//! /dashboard/assets/{name}` its script, style and chart library, cached for
//! a year under a content hash. It reads only the public analytics API, and
//! its Content-Security-Policy lets it load nothing from another host.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The page, with `{{name}}` placeholders for each asset's content hash.
const INDEX: &str = include_str!("../../../dashboard/index.html");

/// The assets: name, media type, bytes.
const ASSETS: [(&str, &str, &[u8]); 3] = [
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../../dashboard/app.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../../dashboard/app.css")),
    (
        "chart.umd.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../dashboard/vendor/chart.umd.min.js"),
    ),
];

/// What the page may load: its own files and its own API, nothing else.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                      connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The first 16 hex digits of an asset's SHA-256.
fn content_hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

/// Registers the page's routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root))
        .route("/dashboard", web::get().to(page))
        .route("/dashboard/assets/{name}", web::get().to(asset));
}

async fn root() -> HttpResponse {
    HttpResponse::Found().insert_header((header::LOCATION, "/dashboard")).finish()
}

async fn page() -> HttpResponse {
    let mut html = INDEX.to_owned();
    for (name, _, bytes) in ASSETS {
        html = html.replace(&format!("{{{{{name}}}}}"), &content_hash(bytes));
    }
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(html)
}

async fn asset(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (_, media_type, bytes) = ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == name.as_str())
        .ok_or_else(|| ApiError::NotFound(format!("no dashboard asset {name}")))?;
    let etag = format!("\"{}\"", content_hash(bytes));
    let fresh = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str());
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .content_type(*media_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    Ok(if fresh { response.finish() } else { response.body(*bytes) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_asset_by_its_hash() {
        for (name, _, bytes) in ASSETS {
            assert!(INDEX.contains(&format!("{{{{{name}}}}}")), "index.html loads {name}");
            assert_eq!(content_hash(bytes).len(), 16);
        }
        assert!(!INDEX.contains("http://") && !INDEX.contains("https://"), "the page names no other host");
    }
}
