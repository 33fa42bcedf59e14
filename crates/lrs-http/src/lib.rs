//! The HTTP face of the LRS: actix-web routes of the gateway (writes) and the
//! query service (reads), authentication and the xAPI header rules. This is
//! the only crate that knows actix-web.

mod about;
mod activities;
mod admin;
mod alternate;
mod analytics;
mod cors;
mod dashboard;
mod documents;
mod error;
mod export;
mod extract;
mod health;
mod limits;
mod metrics;
mod multipart;
mod params;
mod quality;
mod statements;
mod trace;
mod vault;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpServer};
use lrs_core::{Authenticator, Gateway, QueryService};

pub use error::ApiError;
pub use vault::RemoteVault;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What every route handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Accepts writes, when this process has the gateway role.
    pub gateway: Option<Gateway>,
    /// Answers reads, when this process has the query role.
    pub query: Option<QueryService>,
    /// Answers analytics questions, when this process has the query role.
    pub analytics: Option<lrs_core::analytics::AnalyticsService>,
    /// Answers the data-quality report, when this process has the query role.
    pub quality: Option<lrs_core::quality::QualityService>,
    /// Checks credentials.
    pub auth: Authenticator,
    /// Checks the dependencies for `/readyz` (always ready when absent).
    pub health: Option<lrs_core::health::HealthCheck>,
    /// Tenant and credential administration, when this process has a store.
    pub admin: Option<lrs_core::AdminService>,
    /// The operator token guarding /admin (none: the operator API is disabled).
    pub operator_token: Option<String>,
    /// How many processes run this process's roles behind the router; each
    /// enforces its share of a tenant's rate limit.
    pub replicas: u32,
    /// The key vault this process owns, served to gateways when `vault_token` is set.
    pub vault: Option<lrs_core::vault::KeyVault>,
    /// The token guarding the vault route (none: the route is off).
    pub vault_token: Option<String>,
}

impl AppState {
    /// The gateway, or 503 in a process without the gateway role.
    pub(crate) fn gateway(&self) -> Result<&Gateway, ApiError> {
        self.gateway
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("this process does not accept writes (no gateway role)".into()))
    }

    /// The query service, or 503 in a process without the query role.
    pub(crate) fn query(&self) -> Result<&QueryService, ApiError> {
        self.query
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("this process does not answer reads (no query role)".into()))
    }
}

/// Registers the xAPI routes under `/xapi`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/xapi")
            .service(
                web::resource("/statements")
                    .route(web::get().to(statements::get))
                    .route(web::head().to(statements::get))
                    .route(web::put().to(statements::put))
                    .route(web::post().to(statements::post)),
            )
            .service(web::resource("/about").route(web::get().to(about::get)).route(web::head().to(about::get)))
            .service(document_resource("/activities/state", documents::state_resource))
            .service(document_resource("/activities/profile", documents::activity_profile_resource))
            .service(document_resource("/agents/profile", documents::agent_profile_resource))
            .service(
                web::resource("/activities")
                    .route(web::get().to(activities::activity))
                    .route(web::head().to(activities::activity)),
            )
            .service(
                web::resource("/agents")
                    .route(web::get().to(activities::person))
                    .route(web::head().to(activities::person)),
            ),
    );
}

/// Registers the operations routes, without auth: `/metrics` (Prometheus
/// text format), `/healthz` (alive) and `/readyz` (dependencies answer).
pub fn configure_operations(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics::exposition))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz));
}

/// A document resource: GET, HEAD, PUT, POST and DELETE on one handler.
fn document_resource<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler.clone()))
        .route(web::put().to(handler.clone()))
        .route(web::post().to(handler.clone()))
        .route(web::delete().to(handler))
}

/// Starts the HTTP server on `listener` with `workers` worker threads.
pub fn serve(listener: TcpListener, state: AppState, workers: usize) -> std::io::Result<Server> {
    metrics::register();
    let state = web::Data::new(state);
    let spoken_versions = web::Data::new(extract::SpokenVersions::default());
    let rate_limits = web::Data::new(limits::RateLimits::new(state.replicas));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(spoken_versions.clone())
            .app_data(rate_limits.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .wrap(actix_web::middleware::from_fn(trace::trace_context))
            .wrap(actix_web::middleware::from_fn(extract::version_header))
            .wrap(actix_web::middleware::from_fn(alternate::rewrite))
            .wrap(ErrorHandlers::new().default_handler(error::json_error_body))
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .wrap(actix_web::middleware::from_fn(cors::cors))
            .wrap(actix_web::middleware::from_fn(metrics::record))
            .configure(configure_operations)
            .configure(configure)
            .configure(admin::configure)
            .configure(analytics::configure)
            .configure(quality::configure)
            .configure(export::configure)
            .configure(dashboard::configure)
            .configure(vault::configure)
            .default_service(web::to(error::not_found))
    })
    .workers(workers)
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}
