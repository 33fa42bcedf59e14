//! The query service and its planner: answers statement GETs from the query
//! tables by walking the most selective index in `stored` order.

use std::ops::Bound;
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use xapi::Statement;

use crate::documents::{document_clustering, Document, DocumentKind, DocumentScope};
use crate::log::EventLog;
use crate::store::{Order, QueryStore, StoreError, Table};
use crate::tables::{
    activity_partition, agent_partition, answer_bytes, attachment_partition, bucket_of, decode_stored_row,
    index_clustering, parse_index_clustering, parse_index_value, read_statement, tenant_meta_partition, DayWalk,
    IndexKey, IndexMatch, IndexScope, RowBody, StatementRow, TenantMeta,
};
use crate::tables::{load_position, micros_to_datetime, set_stored, statement_ref_target, MAX_REFERENCE_DEPTH};
use crate::tenant::TenantId;
use crate::vault::{open_row, open_with, subject_index_key, KeyVault};

/// Most document ids one listing returns.
pub const MAX_DOCUMENT_IDS: usize = 10_000;

/// Reads a document id back from its clustering key.
fn decode_document_id(clustering: &[u8]) -> Option<String> {
    let body = clustering.strip_suffix(&[0, 1])?;
    let mut bytes = Vec::with_capacity(body.len());
    let mut iter = body.iter();
    while let Some(&b) = iter.next() {
        bytes.push(b);
        if b == 0 {
            iter.next();
        }
    }
    String::from_utf8(bytes).ok()
}

/// Most statements one page holds.
pub const MAX_PAGE: usize = 500;

/// Failures of a query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request is malformed (400).
    #[error("{0}")]
    Invalid(String),
    /// The store failed (503).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log refused a record (503).
    #[error(transparent)]
    Log(#[from] crate::log::LogError),
}

/// The filters and paging of a statement list request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementQuery {
    /// IFI key of the `agent` filter.
    pub agent: Option<String>,
    /// The `verb` filter.
    pub verb: Option<String>,
    /// The `activity` filter.
    pub activity: Option<String>,
    /// The `registration` filter.
    pub registration: Option<Uuid>,
    /// Match related activities too.
    pub related_activities: bool,
    /// Match related agents too.
    pub related_agents: bool,
    /// Only statements stored after this time (exclusive), microseconds.
    pub since: Option<u64>,
    /// Only statements stored at or before this time, microseconds.
    pub until: Option<u64>,
    /// Page size (0 = the server's maximum).
    pub limit: usize,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    /// Continue after this `stored` time (set by a `more` cursor).
    pub after: Option<u64>,
    /// Only statements whose authority has this IFI key (statements/read/mine).
    #[serde(default)]
    pub authority: Option<String>,
}

impl StatementQuery {
    /// Encodes the query as an opaque `more` cursor.
    pub fn to_cursor(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("query serialises"))
    }

    /// Decodes a `more` cursor.
    pub fn from_cursor(cursor: &str) -> Result<Self, QueryError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| QueryError::Invalid("more: not a cursor issued by this LRS".into()))?;
        serde_json::from_slice(&bytes).map_err(|_| QueryError::Invalid("more: not a cursor issued by this LRS".into()))
    }

    fn page_size(&self) -> usize {
        if self.limit == 0 || self.limit > MAX_PAGE {
            MAX_PAGE
        } else {
            self.limit
        }
    }

    /// The indexes the planner walks, one table's partitions whose rows it
    /// reads as one (a related filter's direct and related rows);
    /// `agent_index` is the key the `agent` filter's rows are indexed under
    /// (its subject, when it has one).
    fn plan(&self, tenant: &TenantId, agent_index: Option<&str>) -> Vec<IndexKey> {
        let scopes = |related: bool| {
            if related {
                vec![IndexScope::Direct, IndexScope::Related]
            } else {
                vec![IndexScope::Direct]
            }
        };
        if let Some(registration) = self.registration {
            vec![IndexKey::registration(tenant, registration)]
        } else if let Some(agent) = agent_index {
            scopes(self.related_agents).into_iter().map(|scope| IndexKey::agent(tenant, scope, agent)).collect()
        } else if let Some(activity) = &self.activity {
            scopes(self.related_activities)
                .into_iter()
                .map(|scope| IndexKey::activity(tenant, scope, activity))
                .collect()
        } else if let Some(verb) = &self.verb {
            vec![IndexKey::verb(tenant, verb)]
        } else {
            vec![IndexKey::all(tenant)]
        }
    }

    fn matches(&self, statement: &Statement) -> bool {
        let verb_ok = self.verb.as_deref().is_none_or(|verb| statement.verb_id() == verb);
        let registration_ok = self.registration.is_none_or(|r| statement.registration() == Some(r));
        let activity_ok = self
            .activity
            .as_deref()
            .is_none_or(|a| statement.activities(self.related_activities).iter().any(|x| x == a));
        let agent_ok =
            self.agent.as_deref().is_none_or(|a| statement.agents(self.related_agents).iter().any(|x| x.as_str() == a));
        verb_ok && registration_ok && activity_ok && agent_ok
    }

    /// True when the statement passes the authority restriction (statements/read/mine).
    pub fn authority_allows(&self, statement: &Value) -> bool {
        self.authority.as_deref().is_none_or(|wanted| {
            statement.get("authority").and_then(xapi::agent_key).is_some_and(|key| key.as_str() == wanted)
        })
    }
}

/// One page of a statement list.
#[derive(Clone, Debug, PartialEq)]
pub struct StatementsPage {
    /// The statements, as stored.
    pub statements: Vec<Value>,
    /// Cursor of the next page, when there is one.
    pub more: Option<String>,
}

/// One page of a statement list, each statement serialised.
#[derive(Clone, Debug, PartialEq)]
pub struct SerialisedPage {
    /// The statements' JSON, as [`StatementsPage`] holds them.
    pub statements: Vec<Vec<u8>>,
    /// The latest `stored` time of the page (microseconds).
    pub latest_stored: Option<u64>,
    /// Cursor of the next page, when there is one.
    pub more: Option<String>,
}

/// A statement found for a page: parsed, or serialised from its row's bytes.
enum Found {
    Parsed(Value),
    Serialised(Vec<u8>),
}

impl Found {
    /// The statement parsed (`find` serialises only when asked to).
    fn into_value(self) -> Option<Value> {
        match self {
            Found::Parsed(value) => Some(value),
            Found::Serialised(bytes) => serde_json::from_slice(&bytes).ok(),
        }
    }

    /// The statement serialised.
    fn into_bytes(self) -> Vec<u8> {
        match self {
            Found::Parsed(value) => serde_json::to_vec(&value).expect("a JSON value serialises"),
            Found::Serialised(bytes) => bytes,
        }
    }
}

/// Rows of an index scan: clustering key and value.
type IndexRows = Vec<(Vec<u8>, Vec<u8>)>;

/// The next rows of the union of `partitions` of `table` in `range`, in
/// `order`, each clustering key (`stored` time) once, and whether they are
/// all there are. Each partition is read `want` rows at a time; the rows
/// answered go no further than the last read of a partition that has more,
/// so that none of its rows can fall before them. Where partitions share a
/// key (a statement with rows in both, as related rows written before
/// 2026-12-06 are) the first partition's row is kept.
async fn scan_union(
    store: &dyn QueryStore,
    table: Table,
    partitions: &[Vec<u8>],
    range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
    order: Order,
    want: usize,
) -> Result<(IndexRows, bool), StoreError> {
    if let [partition] = partitions {
        let rows = store.scan(table, partition, range, order, want).await?;
        let exhausted = rows.len() < want;
        return Ok((rows, exhausted));
    }
    let before = |a: &[u8], b: &[u8]| if order == Order::Ascending { a < b } else { a > b };
    let mut union: IndexRows = Vec::new();
    let mut frontier: Option<Vec<u8>> = None;
    for partition in partitions {
        let rows = store.scan(table, partition, range.clone(), order, want).await?;
        if rows.len() >= want {
            if let Some((last, _)) = rows.last() {
                if frontier.as_deref().is_none_or(|f| before(last, f)) {
                    frontier = Some(last.clone());
                }
            }
        }
        union.extend(rows);
    }
    // Stable: of rows with the same key, the first partition's stays first.
    union.sort_by(|(a, _), (b, _)| if order == Order::Ascending { a.cmp(b) } else { b.cmp(a) });
    union.dedup_by(|later, first| later.0 == first.0);
    if let Some(frontier) = &frontier {
        union.retain(|(key, _)| !before(frontier, key));
    }
    Ok((union, frontier.is_none()))
}

/// A row's opened bytes parsed, with `stored` (and a missing `timestamp`) set.
fn parse_opened(bytes: &[u8], stored_micros: u64) -> Option<Value> {
    let mut json = xapi::parse_json(bytes).ok()?;
    set_stored(&mut json, stored_micros);
    Some(json)
}

/// Answers statement reads from the query tables.
#[derive(Clone)]
pub struct QueryService {
    store: Arc<dyn QueryStore>,
    log: Arc<dyn EventLog>,
    vault: Option<KeyVault>,
}

impl QueryService {
    /// A query service reading `store`; `log` tells how far projection lags.
    pub fn new(store: Arc<dyn QueryStore>, log: Arc<dyn EventLog>) -> Self {
        Self { store, log, vault: None }
    }

    /// Opens sealed rows with the keys of `vault`, and finds the rows about
    /// an agent under its subject.
    pub fn with_vault(mut self, vault: KeyVault) -> Self {
        self.vault = Some(vault);
        self
    }

    /// The key an agent's statements are indexed under: its subject when it
    /// has one, else its identifier (the credential agent of an authority).
    async fn agent_index_key(&self, tenant: &TenantId, agent: &str) -> Result<String, QueryError> {
        match &self.vault {
            Some(vault) => Ok(match vault.find(tenant, agent).await? {
                Some(subject) => subject_index_key(subject.id),
                None => agent.to_owned(),
            }),
            None => Ok(agent.to_owned()),
        }
    }

    /// The key an agent's documents are kept under: its subject (none when
    /// it has none: nothing is stored about it), or without a vault its identifier.
    async fn agent_document_key(&self, tenant: &TenantId, agent: &str) -> Result<Option<String>, QueryError> {
        match &self.vault {
            Some(vault) => Ok(vault.find(tenant, agent).await?.map(|subject| subject_index_key(subject.id))),
            None => Ok(Some(agent.to_owned())),
        }
    }

    /// The scope's partition of a document resource, or `None` when its
    /// agent has nothing stored.
    async fn document_partition(
        &self,
        tenant: &TenantId,
        kind: DocumentKind,
        scope: &DocumentScope,
    ) -> Result<Option<Vec<u8>>, QueryError> {
        let Some(agent) = &scope.agent else { return Ok(Some(scope.partition(tenant, kind))) };
        let Some(key) = self.agent_document_key(tenant, agent).await? else { return Ok(None) };
        Ok(Some(DocumentScope { agent: Some(key), ..scope.clone() }.partition(tenant, kind)))
    }

    /// The statement JSON of a row; `None` when it cannot be opened.
    async fn open(&self, tenant: &TenantId, row: StatementRow) -> Result<Option<Value>, QueryError> {
        let stored_micros = row.stored_micros;
        Ok(self.open_bytes(tenant, row.body).await?.and_then(|bytes| parse_opened(&bytes, stored_micros)))
    }

    /// The JSON bytes of a row's body, opened when sealed; `None` when it cannot be opened.
    async fn open_bytes(&self, tenant: &TenantId, body: RowBody) -> Result<Option<Vec<u8>>, QueryError> {
        Ok(match body {
            RowBody::Clear(json) => Some(json),
            RowBody::Sealed(sealed) => match &self.vault {
                Some(vault) => open_with(vault, tenant, &sealed).await?,
                None => None,
            },
        })
    }

    /// The `stored` time before which the tenant's statements are past retention.
    async fn retention_cutoff(&self, tenant: &TenantId) -> Result<Option<u64>, QueryError> {
        let record = crate::tenants::load_tenant(self.store.as_ref(), tenant).await?;
        Ok(record.and_then(|record| record.retention_cutoff(chrono::Utc::now().timestamp_micros())))
    }

    /// A statement by id: the voided one for `voided`, otherwise a not-voided one.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn statement(&self, tenant: &TenantId, id: Uuid, voided: bool) -> Result<Option<Value>, QueryError> {
        let cutoff = self.retention_cutoff(tenant).await?;
        let row = self.load(tenant, id).await?.filter(|row| cutoff.is_none_or(|cutoff| row.stored_micros >= cutoff));
        match row.filter(|row| row.voided == voided) {
            Some(row) => self.open(tenant, row).await,
            None => Ok(None),
        }
    }

    async fn load(&self, tenant: &TenantId, id: Uuid) -> Result<Option<StatementRow>, QueryError> {
        Ok(read_statement(self.store.as_ref(), tenant, id).await?)
    }

    /// The rows of `statements_by_stored` at the `stored` times of index
    /// rows, in their order, read together.
    async fn stored_rows(&self, tenant: &TenantId, index_rows: &IndexRows) -> Result<Vec<Option<Vec<u8>>>, QueryError> {
        let all = IndexKey::all(tenant);
        let keys = (index_rows.iter())
            .map(|(clustering, _)| {
                let stored = parse_index_clustering(clustering).unwrap_or_default();
                (all.partition(bucket_of(stored)), clustering.clone())
            })
            .collect();
        Ok(self.store.get_many(Table::ByStored, keys).await?)
    }

    /// The row of statement `id`, which an index row points at: its row of
    /// `statements_by_stored` at that `stored` time (`stored_row`, read
    /// with the page's others) when it holds this statement's row, or by id
    /// for a row written before rows moved there.
    async fn row_of(
        &self,
        tenant: &TenantId,
        id: Uuid,
        stored_row: Option<Vec<u8>>,
    ) -> Result<Option<StatementRow>, QueryError> {
        let row =
            stored_row.as_deref().and_then(decode_stored_row).and_then(|(found, row)| row.filter(|_| found == id));
        match row {
            Some(row) => Ok(Some(row)),
            None => self.load(tenant, id).await,
        }
    }

    async fn tenant_meta(&self, tenant: &TenantId) -> Result<Option<TenantMeta>, QueryError> {
        let bytes = self.store.get(Table::Meta, &tenant_meta_partition(tenant), &[]).await?;
        Ok(bytes.map(|bytes| TenantMeta::decode(&bytes)))
    }

    /// One page of the statements matching `query`, newest first unless ascending.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn statements(&self, tenant: &TenantId, query: &StatementQuery) -> Result<StatementsPage, QueryError> {
        let (found, more) = self.page(tenant, query, false).await?;
        let statements = found.into_iter().filter_map(|(_, found)| found.into_value()).collect();
        Ok(StatementsPage { statements, more })
    }

    /// One page of the statements matching `query`, as [`Self::statements`]
    /// answers it, each serialised: most straight from the bytes stored (see
    /// [`answer_bytes`]), so that a GET in the exact format need not parse them.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn statements_serialised(
        &self,
        tenant: &TenantId,
        query: &StatementQuery,
    ) -> Result<SerialisedPage, QueryError> {
        let (found, more) = self.page(tenant, query, true).await?;
        let latest_stored = found.iter().map(|(stored, _)| *stored).max();
        let statements = found.into_iter().map(|(_, found)| found.into_bytes()).collect();
        Ok(SerialisedPage { statements, latest_stored, more })
    }

    /// Up to a page of `query`'s statements, and the cursor of the next page.
    async fn page(
        &self,
        tenant: &TenantId,
        query: &StatementQuery,
        exact: bool,
    ) -> Result<(Vec<(u64, Found)>, Option<String>), QueryError> {
        let page_size = query.page_size();
        let mut found = self.find(tenant, query, exact).await?;
        let more = if found.len() > page_size {
            found.truncate(page_size);
            let last_stored = found.last().map(|(stored, _)| *stored);
            Some(StatementQuery { after: last_stored, ..query.clone() }.to_cursor())
        } else {
            None
        };
        Ok((found, more))
    }

    /// The `stored` time (microseconds) of a tenant's newest statement (0: none).
    pub async fn last_stored(&self, tenant: &TenantId) -> Result<u64, QueryError> {
        Ok(self.tenant_meta(tenant).await?.map_or(0, |meta| meta.last_stored))
    }

    /// Up to `limit` statements matching `query` (ascending: stored after
    /// `after`, at or before `until`), each with its `stored` time in
    /// microseconds: what a forwarder delivers next.
    pub async fn statements_after(
        &self,
        tenant: &TenantId,
        query: &StatementQuery,
        (after, until): (u64, u64),
        limit: usize,
    ) -> Result<Vec<(u64, Value)>, QueryError> {
        let query = StatementQuery { after: Some(after), until: Some(until), ascending: true, limit, ..query.clone() };
        let mut found = self.find(tenant, &query, false).await?;
        found.truncate(query.page_size());
        Ok(found.into_iter().filter_map(|(stored, found)| Some((stored, found.into_value()?))).collect())
    }

    /// The statements matching `query`, with their `stored` times: up to one
    /// more than a page, so that the caller knows whether there are more.
    async fn find(
        &self,
        tenant: &TenantId,
        query: &StatementQuery,
        exact: bool,
    ) -> Result<Vec<(u64, Found)>, QueryError> {
        let page_size = query.page_size();
        let Some(meta) = self.tenant_meta(tenant).await? else {
            return Ok(Vec::new());
        };
        let mut low = query.since.map_or(Bound::Unbounded, Bound::Excluded);
        if let Some(cutoff) = self.retention_cutoff(tenant).await? {
            low = tighter_low(low, cutoff.saturating_sub(1));
        }
        let mut high = query.until.map_or(Bound::Unbounded, Bound::Included);
        if let Some(after) = query.after {
            if query.ascending {
                low = tighter_low(low, after);
            } else {
                high = tighter_high(high, after);
            }
        }
        let first_bucket = match low {
            Bound::Excluded(t) => bucket_of(t.saturating_add(1)),
            Bound::Included(t) => bucket_of(t),
            Bound::Unbounded => meta.first_bucket,
        }
        .max(meta.first_bucket);
        let last_bucket = match high {
            Bound::Included(t) | Bound::Excluded(t) => bucket_of(t),
            Bound::Unbounded => bucket_of(meta.last_stored),
        }
        .min(bucket_of(meta.last_stored));
        if first_bucket > last_bucket {
            return Ok(Vec::new());
        }
        let range = (low.map(index_clustering), high.map(index_clustering));
        let order = if query.ascending { Order::Ascending } else { Order::Descending };
        let agent_index = match &query.agent {
            Some(agent) => Some(self.agent_index_key(tenant, agent).await?),
            None => None,
        };
        let indexes = query.plan(tenant, agent_index.as_deref());
        let table = indexes[0].table;
        // The days that hold rows of the plan's keys, not every day of the
        // tenant's history: a registration of last week, or an agent seen
        // twice a year, reads a few days of rows.
        let mut days = DayWalk::new(&indexes, &meta, first_bucket, last_bucket, order);

        // A statement is answered from its bytes (not parsed, checked and
        // serialised again) when nothing about it needs checking: no
        // authority restriction, and the index row says it matches the one
        // filter for its own content.
        let filters =
            [query.registration.is_some(), query.agent.is_some(), query.activity.is_some(), query.verb.is_some()];
        let from_bytes = exact && query.authority.is_none() && filters.iter().filter(|f| **f).count() <= 1;
        let mut found: Vec<(u64, Found)> = Vec::with_capacity(page_size + 1);
        'buckets: while let Some(bucket) = days.next(self.store.as_ref()).await? {
            let partitions: Vec<Vec<u8>> = indexes.iter().map(|index| index.partition(bucket)).collect();
            let mut bucket_range = range.clone();
            loop {
                let want = (page_size + 1 - found.len()).max(16);
                let (rows, exhausted) =
                    scan_union(self.store.as_ref(), table, &partitions, bucket_range.clone(), order, want).await?;
                // The other indexes hold ids: their statements' rows, apart
                // on disk, are read together.
                let mut stored_rows = match table {
                    Table::ByStored => Vec::new(),
                    _ => self.stored_rows(tenant, &rows).await?,
                }
                .into_iter();
                for (clustering, value) in &rows {
                    let stored_row = stored_rows.next().flatten();
                    let Some(stored) = parse_index_clustering(clustering) else { continue };
                    if order == Order::Ascending {
                        bucket_range.0 = Bound::Excluded(clustering.clone());
                    } else {
                        bucket_range.1 = Bound::Excluded(clustering.clone());
                    }
                    // A row of `statements_by_stored` holds the statement's
                    // row; the other indexes its id.
                    let (row, why) = if table == Table::ByStored {
                        match decode_stored_row(value) {
                            Some((_, Some(row))) => (Some(row), IndexMatch::Own),
                            Some((id, None)) => (self.load(tenant, id).await?, IndexMatch::Own),
                            None => (None, IndexMatch::Unknown),
                        }
                    } else {
                        match parse_index_value(value) {
                            Some((id, why)) => (self.row_of(tenant, id, stored_row).await?, why),
                            None => (None, IndexMatch::Unknown),
                        }
                    };
                    let Some(row) = row else { continue };
                    if row.voided {
                        continue;
                    }
                    let completion = row.completion;
                    let Some(bytes) = self.open_bytes(tenant, row.body).await? else { continue };
                    if from_bytes && why == IndexMatch::Own {
                        if let Some(answer) = answer_bytes(&bytes, stored, completion) {
                            found.push((stored, Found::Serialised(answer)));
                            if found.len() > page_size {
                                break 'buckets;
                            }
                            continue;
                        }
                    }
                    let Some(json) = parse_opened(&bytes, stored) else { continue };
                    let statement = Statement::from_trusted(json);
                    if !query.authority_allows(statement.value()) {
                        continue;
                    }
                    if self.matches_through_references(tenant, query, &statement).await? {
                        found.push((stored, Found::Parsed(statement.into_value())));
                        if found.len() > page_size {
                            break 'buckets;
                        }
                    }
                }
                if exhausted {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// Records in the audit trail (through the log, as every audited
    /// action) that `credential` exported `rows` statements of `tenant`.
    pub async fn record_export(
        &self,
        tenant: &TenantId,
        credential: Option<String>,
        request: String,
        (rows, complete): (u64, bool),
    ) -> Result<(), QueryError> {
        let command = crate::event::Command::RecordExport { credential, request, rows, complete };
        let now = chrono::Utc::now().timestamp_micros();
        let payload = crate::event::encode(tenant, Uuid::new_v4(), now, &command);
        self.log.append(tenant.as_str().as_bytes(), payload).await?;
        Ok(())
    }

    /// The body of an attachment by its SHA-2, if this tenant sent it: its
    /// chunks in order.
    pub async fn attachment(&self, tenant: &TenantId, sha2: &str) -> Result<Option<Vec<u8>>, QueryError> {
        let all = (Bound::Unbounded, Bound::Unbounded);
        let partition = attachment_partition(tenant, sha2);
        let chunks = self.store.scan(Table::Attachments, &partition, all, Order::Ascending, usize::MAX).await?;
        if chunks.is_empty() {
            return Ok(None);
        }
        Ok(Some(chunks.into_iter().flat_map(|(_, bytes)| bytes).collect()))
    }

    /// One document of a resource.
    pub async fn document(
        &self,
        tenant: &TenantId,
        kind: DocumentKind,
        scope: &DocumentScope,
        id: &str,
    ) -> Result<Option<Document>, QueryError> {
        let Some(partition) = self.document_partition(tenant, kind, scope).await? else { return Ok(None) };
        let Some(row) = self.store.get(Table::Documents, &partition, &document_clustering(id)).await? else {
            return Ok(None);
        };
        let row = open_row(self.vault.as_ref(), tenant, row).await?;
        Ok(row.and_then(|bytes| Document::decode(&bytes)))
    }

    /// The ids of a scope's documents updated after `since` (all when `None`),
    /// with the latest update time among them.
    pub async fn document_ids(
        &self,
        tenant: &TenantId,
        kind: DocumentKind,
        scope: &DocumentScope,
        since: Option<u64>,
    ) -> Result<(Vec<String>, Option<u64>), QueryError> {
        let all = (Bound::Unbounded, Bound::Unbounded);
        let Some(partition) = self.document_partition(tenant, kind, scope).await? else {
            return Ok((Vec::new(), None));
        };
        let rows = self.store.scan(Table::Documents, &partition, all, Order::Ascending, MAX_DOCUMENT_IDS).await?;
        let mut ids = Vec::new();
        let mut latest = None;
        for (clustering, value) in rows {
            let Some(value) = open_row(self.vault.as_ref(), tenant, value).await? else { continue };
            let Some(document) = Document::decode(&value) else { continue };
            if since.is_some_and(|since| document.updated_micros <= since) {
                continue;
            }
            latest = latest.max(Some(document.updated_micros));
            if let Some(id) = decode_document_id(&clustering) {
                ids.push(id);
            }
        }
        Ok((ids, latest))
    }

    /// The canonical Activity object of an activity id, if any statement named it.
    pub async fn activity(&self, tenant: &TenantId, activity_id: &str) -> Result<Option<Value>, QueryError> {
        let row = self.store.get(Table::Activities, &activity_partition(tenant, activity_id), &[]).await?;
        Ok(row.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// The names statements gave an agent with this IFI key.
    pub async fn agent_names(&self, tenant: &TenantId, agent_key: &str) -> Result<Vec<String>, QueryError> {
        let key = self.agent_index_key(tenant, agent_key).await?;
        let row = match self.store.get(Table::Agents, &agent_partition(tenant, &key), &[]).await? {
            Some(row) => open_row(self.vault.as_ref(), tenant, row).await?,
            None => None,
        };
        let names = row
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|value| serde_json::from_value(value["names"].clone()).ok());
        Ok(names.unwrap_or_default())
    }

    /// True when the statement, or a statement it targets through a chain of
    /// StatementRefs, matches the query's filters.
    async fn matches_through_references(
        &self,
        tenant: &TenantId,
        query: &StatementQuery,
        statement: &Statement,
    ) -> Result<bool, QueryError> {
        if query.matches(statement) {
            return Ok(true);
        }
        let mut target = statement_ref_target(statement.value());
        for _ in 0..MAX_REFERENCE_DEPTH {
            let Some(id) = target else { break };
            let Some(row) = self.load(tenant, id).await? else { break };
            let Some(json) = self.open(tenant, row).await? else { break };
            target = statement_ref_target(&json);
            if query.matches(&Statement::from_trusted(json)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Partitions of the log it answers for.
    pub fn log_partitions(&self) -> u32 {
        self.log.partitions()
    }

    /// The time up to which this tenant's answers are complete: now when the
    /// projector has caught up with the log, else the `stored` of the last
    /// statement it applied.
    pub async fn consistent_through(&self, tenant: &TenantId) -> Result<chrono::DateTime<chrono::Utc>, QueryError> {
        let mut caught_up = true;
        for partition in 0..self.log.partitions() {
            let end = self.log.end_offset(partition).await.ok();
            let applied = load_position(self.store.as_ref(), partition).await?;
            caught_up &= end.is_some_and(|end| applied >= end);
        }
        if caught_up {
            return Ok(chrono::Utc::now());
        }
        let last = self.tenant_meta(tenant).await?.map_or(0, |meta| meta.last_stored);
        Ok(micros_to_datetime(last))
    }
}

fn tighter_low(low: Bound<u64>, after: u64) -> Bound<u64> {
    match low {
        Bound::Excluded(t) | Bound::Included(t) if t > after => low,
        _ => Bound::Excluded(after),
    }
}

fn tighter_high(high: Bound<u64>, after: u64) -> Bound<u64> {
    match high {
        Bound::Excluded(t) | Bound::Included(t) if t < after => high,
        _ => Bound::Excluded(after),
    }
}
