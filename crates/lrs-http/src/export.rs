//! `GET /export/v1/statements` on the server root: the tenant's statements
//! (voided ones left out) with the xAPI filters, oldest `stored` first, as
//! ndjson, csv or parquet, streamed a page at a time so that memory stays
//! flat whatever the size. The scope is `export` (or `all`); every export
//! is recorded in the audit trail with its request and row count.
//! docs/INTEGRATIONS.md.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use lrs_core::{QueryService, Scope, StatementQuery, StatementsPage, TenantId};
use lrs_export::{Encoder, Format};

use crate::error::ApiError;
use crate::extract::Caller;
use crate::params::Params;
use crate::AppState;

/// Scopes that may export.
const EXPORT: &[Scope] = &[Scope::Export];

/// The xAPI filters an export takes (`since` and `until` on `stored`).
const FILTERS: [&str; 8] =
    ["agent", "verb", "activity", "registration", "related_activities", "related_agents", "since", "until"];

/// Registers the export routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/export/v1").route("/statements", web::get().to(statements)));
}

/// GET /export/v1/statements
async fn statements(req: HttpRequest, state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(EXPORT)?;
    let params = Params::parse(&req)?;
    let mut allowed = vec!["format"];
    allowed.extend(FILTERS);
    params.only(&allowed)?;
    let format = match params.get("format") {
        None => Format::Ndjson,
        Some(name) => Format::parse(name).ok_or_else(|| {
            ApiError::BadRequest(format!("format: unknown export format {name:?}; use ndjson, csv or parquet"))
        })?,
    };
    let params = params.into_map();
    let mut query = crate::statements::list_query(&params)?;
    // The request as audited: its parameters in name order.
    let request: std::collections::BTreeMap<&String, &String> = params.iter().collect();
    query.ascending = true;
    query.limit = 0;
    let service = state.query()?.clone();
    let tenant = caller.0.tenant.clone();
    // The first page before the answer: a store that fails now is a 503.
    let first = service.statements(&tenant, &query).await?;
    let encoder =
        Encoder::new(format).map_err(|error| ApiError::Unavailable(format!("cannot start the export: {error}")))?;
    let export = Export {
        service,
        tenant,
        credential: caller.0.source().map(str::to_owned),
        request: serde_urlencoded::to_string(&request).unwrap_or_default(),
        encoder: Some(encoder),
        next: Next::Page(first),
        rows: 0,
        recorded: false,
    };
    let stream = futures::stream::unfold(export, |mut export| async move {
        let chunk = export.next_chunk().await?;
        Some((chunk, export))
    });
    let filename = format!("attachment; filename=\"statements.{}\"", format.name());
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((header::CONTENT_DISPOSITION, filename))
        .streaming(stream))
}

/// What an export reads next.
enum Next {
    /// A page already read.
    Page(StatementsPage),
    /// The page of this query.
    Query(StatementQuery),
    /// Nothing: the export ended.
    Done,
}

/// An export under way.
struct Export {
    service: QueryService,
    tenant: TenantId,
    credential: Option<String>,
    request: String,
    encoder: Option<Encoder>,
    next: Next,
    rows: u64,
    recorded: bool,
}

impl Export {
    /// The next bytes to send; `None` at the end.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, actix_web::Error>> {
        loop {
            let page = match std::mem::replace(&mut self.next, Next::Done) {
                Next::Done => return None,
                Next::Page(page) => page,
                Next::Query(query) => match self.service.statements(&self.tenant, &query).await {
                    Ok(page) => page,
                    Err(error) => return Some(Err(self.fail(error.to_string()).await)),
                },
            };
            self.next = match page.more.as_deref().map(StatementQuery::from_cursor) {
                Some(Ok(query)) => Next::Query(query),
                Some(Err(error)) => return Some(Err(self.fail(error.to_string()).await)),
                None => Next::Done,
            };
            let encoder = self.encoder.as_mut()?;
            let mut bytes = match encoder.push(&page.statements) {
                Ok(bytes) => bytes,
                Err(error) => return Some(Err(self.fail(error.to_string()).await)),
            };
            self.rows += page.statements.len() as u64;
            if matches!(self.next, Next::Done) {
                match self.encoder.take()?.finish() {
                    Ok(rest) => bytes.extend(rest),
                    Err(error) => return Some(Err(self.fail(error.to_string()).await)),
                }
                self.record(true).await;
            }
            if !bytes.is_empty() {
                return Some(Ok(Bytes::from(bytes)));
            }
        }
    }

    /// Ends a failed export: recorded as incomplete, the stream broken off.
    async fn fail(&mut self, message: String) -> actix_web::Error {
        tracing::warn!(tenant = %self.tenant, error = %message, "an export failed part way");
        self.next = Next::Done;
        self.record(false).await;
        actix_web::error::ErrorServiceUnavailable(message)
    }

    async fn record(&mut self, complete: bool) {
        self.recorded = true;
        let request = std::mem::take(&mut self.request);
        record(&self.service, &self.tenant, self.credential.clone(), request, (self.rows, complete)).await;
    }
}

/// Records an export in the audit trail; a failure is logged, not answered.
async fn record(
    service: &QueryService,
    tenant: &TenantId,
    credential: Option<String>,
    request: String,
    rows: (u64, bool),
) {
    if let Err(error) = service.record_export(tenant, credential, request, rows).await {
        tracing::warn!(%tenant, %error, "cannot record an export in the audit trail");
    }
}

impl Drop for Export {
    /// A client that went away before the end: the export is recorded as
    /// incomplete, with the rows read so far.
    fn drop(&mut self) {
        if self.recorded {
            return;
        }
        let (service, tenant, credential) = (self.service.clone(), self.tenant.clone(), self.credential.take());
        let (request, rows) = (std::mem::take(&mut self.request), self.rows);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { record(&service, &tenant, credential, request, (rows, false)).await });
        }
    }
}
