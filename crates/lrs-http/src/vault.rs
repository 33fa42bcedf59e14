//! The key vault over HTTP, for the distributed deployment on the embedded
//! store: the process that owns the vault (projector+query) answers
//! `POST /internal/v1/vault/subjects` with an agent's subject, created on
//! first use under the vault's lock, and a gateway without a store asks it
//! through [`RemoteVault`] for the keys it seals with, remembering them. The
//! route is guarded by a token of its own (`LRS_VAULT_TOKEN`), never routed
//! by the public router, and answers only while the token is set.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use async_trait::async_trait;
use base64::Engine as _;
use lrs_core::store::StoreError;
use lrs_core::vault::{SealingKeys, Subject};
use lrs_core::TenantId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::AppState;

/// The path of the subjects route.
const SUBJECTS_PATH: &str = "/internal/v1/vault/subjects";

/// Registers the vault route.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(SUBJECTS_PATH, web::post().to(subject));
}

/// What a gateway asks for: the subject of an agent (its IFI key) of a
/// tenant, or those of several agents (`agents`, answered in their order).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectRequest {
    tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agents: Option<Vec<String>>,
}

/// Agents asked for in one request at most (a gateway asks in parts of this size).
const AGENTS_PER_REQUEST: usize = 1_000;

/// Bytes of agent identifiers a gateway puts in one request at most (the
/// route's body, escaped as JSON, stays far under the server's body limit).
const AGENT_BYTES_PER_REQUEST: usize = 1 << 20;

/// The answer to a request naming `agents`: their subjects, in order.
#[derive(Serialize, Deserialize)]
struct SubjectsAnswer {
    subjects: Vec<SubjectAnswer>,
}

/// The answer: the subject's id and its key, base64.
#[derive(Serialize, Deserialize)]
struct SubjectAnswer {
    id: Uuid,
    key: String,
}

async fn subject(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let (Some(vault), Some(expected)) = (&state.vault, &state.vault_token) else {
        return Err(ApiError::NotFound("this process serves no vault (set LRS_VAULT_TOKEN beside a store)".into()));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|text| text.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::Unauthorized("the vault needs Authorization: Bearer <vault token>".into()))?;
    if Sha256::digest(given.trim().as_bytes()) != Sha256::digest(expected.as_bytes()) {
        return Err(ApiError::Unauthorized("wrong vault token".into()));
    }
    let request: SubjectRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("body: {e}")))?;
    let tenant = TenantId::parse(&request.tenant).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let unavailable = |e: StoreError| ApiError::Unavailable(e.to_string());
    let answer = |subject: &Subject| SubjectAnswer { id: subject.id, key: subject.key_base64() };
    match (request.agent, request.agents) {
        (Some(agent), None) if !agent.is_empty() => {
            let subject = vault.subject(&tenant, &agent).await.map_err(unavailable)?;
            Ok(HttpResponse::Ok().json(answer(&subject)))
        }
        (None, Some(agents))
            if (1..=AGENTS_PER_REQUEST).contains(&agents.len()) && agents.iter().all(|a| !a.is_empty()) =>
        {
            let named: Vec<&str> = agents.iter().map(String::as_str).collect();
            let subjects = vault.subjects(&tenant, &named).await.map_err(unavailable)?;
            Ok(HttpResponse::Ok().json(SubjectsAnswer { subjects: subjects.iter().map(answer).collect() }))
        }
        _ => Err(ApiError::BadRequest(format!(
            "give either agent (an agent's identifier key) or agents (1 to {AGENTS_PER_REQUEST} of them, none empty)"
        ))),
    }
}

/// Subjects a gateway remembers.
const REMEMBERED_SUBJECTS: usize = 100_000;

/// The vault of another process, asked over HTTP and remembered.
pub struct RemoteVault {
    client: reqwest::Client,
    url: String,
    token: String,
    subjects: quick_cache::sync::Cache<(TenantId, String), Subject>,
    agents: quick_cache::sync::Cache<Uuid, (TenantId, String)>,
}

impl RemoteVault {
    /// The vault served at `base_url` (e.g. `http://127.0.0.1:18181`) behind `token`.
    pub fn new(base_url: &str, token: &str) -> Result<Arc<Self>, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("vault client: {e}"))?;
        Ok(Arc::new(Self {
            client,
            url: format!("{}{SUBJECTS_PATH}", base_url.trim_end_matches('/')),
            token: token.to_owned(),
            subjects: quick_cache::sync::Cache::new(REMEMBERED_SUBJECTS),
            agents: quick_cache::sync::Cache::new(REMEMBERED_SUBJECTS),
        }))
    }

    /// Asks the vault; its answer of type `A`.
    async fn ask<A: serde::de::DeserializeOwned>(&self, request: &SubjectRequest) -> Result<A, StoreError> {
        let unavailable = |what: String| StoreError::Unavailable(format!("vault at {}: {what}", self.url));
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(request)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("answered {}", response.status())));
        }
        response.json().await.map_err(|e| unavailable(e.to_string()))
    }

    /// Remembers the subject of an agent the vault answered with.
    fn remember(&self, key: (TenantId, String), answer: SubjectAnswer) -> Result<Subject, StoreError> {
        let key_bytes = base64::engine::general_purpose::STANDARD.decode(&answer.key).unwrap_or_default();
        let subject = Subject::from_parts(answer.id, &key_bytes)
            .ok_or_else(|| StoreError::Unavailable(format!("vault at {}: answered a malformed key", self.url)))?;
        self.agents.insert(subject.id, key.clone());
        self.subjects.insert(key, subject.clone());
        Ok(subject)
    }
}

#[async_trait]
impl SealingKeys for RemoteVault {
    async fn subject(&self, tenant: &TenantId, agent: &str) -> Result<Subject, StoreError> {
        let key = (tenant.clone(), agent.to_owned());
        if let Some(subject) = self.subjects.get(&key) {
            return Ok(subject);
        }
        let request =
            SubjectRequest { tenant: tenant.as_str().to_owned(), agent: Some(agent.to_owned()), agents: None };
        let answer: SubjectAnswer = self.ask(&request).await?;
        self.remember(key, answer)
    }

    /// Those not remembered asked for in one request per
    /// [`AGENTS_PER_REQUEST`] (or per [`AGENT_BYTES_PER_REQUEST`] of their
    /// identifiers, whichever comes first).
    async fn subjects(&self, tenant: &TenantId, agents: &[&str]) -> Result<Vec<Subject>, StoreError> {
        let mut subjects: Vec<Option<Subject>> =
            agents.iter().map(|agent| self.subjects.get(&(tenant.clone(), (*agent).to_owned()))).collect();
        let unknown: Vec<usize> = (0..agents.len()).filter(|at| subjects[*at].is_none()).collect();
        let mut parts: Vec<&[usize]> = Vec::new();
        let (mut start, mut bytes) = (0, 0);
        for (end, at) in unknown.iter().enumerate() {
            if end > start && (end - start == AGENTS_PER_REQUEST || bytes + agents[*at].len() > AGENT_BYTES_PER_REQUEST)
            {
                parts.push(&unknown[start..end]);
                (start, bytes) = (end, 0);
            }
            bytes += agents[*at].len();
        }
        if start < unknown.len() {
            parts.push(&unknown[start..]);
        }
        for part in parts {
            let named = part.iter().map(|at| agents[*at].to_owned()).collect();
            let request = SubjectRequest { tenant: tenant.as_str().to_owned(), agent: None, agents: Some(named) };
            let answer: SubjectsAnswer = self.ask(&request).await?;
            if answer.subjects.len() != part.len() {
                let what = format!("answered {} subjects for {} agents", answer.subjects.len(), part.len());
                return Err(StoreError::Unavailable(format!("vault at {}: {what}", self.url)));
            }
            for (at, subject) in part.iter().zip(answer.subjects) {
                subjects[*at] = Some(self.remember((tenant.clone(), agents[*at].to_owned()), subject)?);
            }
        }
        Ok(subjects.into_iter().map(|subject| subject.expect("every agent answered")).collect())
    }

    fn forget_cached(&self, _tenant: &TenantId, subject: Uuid) {
        if let Some((_, key)) = self.agents.remove(&subject) {
            self.subjects.remove(&key);
        }
    }
}
