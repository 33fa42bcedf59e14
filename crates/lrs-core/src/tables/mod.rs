//! Keys and row formats of the query tables, written once for every store.

pub mod analytics;
pub mod forwarding;
pub mod keys;
pub mod quality;

use std::ops::Bound;

use uuid::Uuid;

use crate::keys::KeyBuilder;
use crate::store::{Order, QueryStore, StoreError, Table};
use crate::tenant::TenantId;
use crate::vault::Sealed;

/// Microseconds in one time bucket (a day of `stored`).
pub const BUCKET_MICROS: u64 = 86_400_000_000;

/// The time bucket of a `stored` time.
pub fn bucket_of(stored_micros: u64) -> u32 {
    (stored_micros / BUCKET_MICROS) as u32
}

/// Whether an index lists only the statement itself or its related parts too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexScope {
    /// Actor/object only (the plain `agent` and `activity` filters).
    Direct,
    /// Context, authority and sub-statement parts (`related_*`): since
    /// 2026-12-06 only what is not also direct (a related query reads the
    /// direct rows beside these); rows written before hold the direct too.
    Related,
}

impl IndexScope {
    fn tag(self) -> &'static str {
        match self {
            IndexScope::Direct => "d",
            IndexScope::Related => "r",
        }
    }
}

/// The key of one statement-index partition, without its time bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexKey {
    /// Table of the index.
    pub table: Table,
    prefix: KeyBuilder,
}

impl IndexKey {
    /// All statements of a tenant, by `stored`.
    pub fn all(tenant: &TenantId) -> Self {
        Self { table: Table::ByStored, prefix: KeyBuilder::new().str(tenant.as_str()) }
    }

    /// Statements with a verb.
    pub fn verb(tenant: &TenantId, verb: &str) -> Self {
        Self { table: Table::ByVerb, prefix: KeyBuilder::new().str(tenant.as_str()).str(verb) }
    }

    /// Statements about an activity.
    pub fn activity(tenant: &TenantId, scope: IndexScope, activity: &str) -> Self {
        let prefix = KeyBuilder::new().str(tenant.as_str()).str(scope.tag()).str(activity);
        Self { table: Table::ByActivity, prefix }
    }

    /// Statements about an agent, by its IFI key.
    pub fn agent(tenant: &TenantId, scope: IndexScope, agent: &str) -> Self {
        let prefix = KeyBuilder::new().str(tenant.as_str()).str(scope.tag()).str(agent);
        Self { table: Table::ByAgent, prefix }
    }

    /// Statements of a registration.
    pub fn registration(tenant: &TenantId, registration: Uuid) -> Self {
        let prefix = KeyBuilder::new().str(tenant.as_str()).bytes(registration.as_bytes());
        Self { table: Table::ByRegistration, prefix }
    }

    /// The partition key of one time bucket.
    pub fn partition(&self, bucket: u32) -> Vec<u8> {
        self.prefix.with_u32(bucket)
    }

    /// The partition of `index_days` that lists the days (time buckets)
    /// holding rows of this key ([`day_clustering`]), so that a walk visits
    /// those days only, however many days the tenant's history spans.
    pub fn days_partition(&self) -> Vec<u8> {
        self.prefix.clone().str(self.table.name()).build()
    }
}

/// Clustering key of a day in an index key's days partition.
pub fn day_clustering(bucket: u32) -> Vec<u8> {
    bucket.to_be_bytes().to_vec()
}

/// Reads back the day of a [`day_clustering`] key.
pub fn parse_day_clustering(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// The days a walk over one or more index keys visits, in walk order,
/// between two days (inclusive): every day before the tenant's
/// [`TenantMeta::days_listed_from`] (rows written before days were listed),
/// and from there only the days the keys' days partitions list. Each days
/// partition is read a few days at a time, more as the walk goes on, so a
/// page of a busy key reads one short range.
pub struct DayWalk {
    order: Order,
    /// Days not listed, still to visit (ascending: visited first; descending: last).
    unlisted: std::ops::Range<u32>,
    /// Each key's days partition, the days read and not yet visited, where
    /// the next read starts, and whether the partition has no more.
    listed: Vec<ListedDays>,
    reads: u32,
}

/// One key's listed days, as a [`DayWalk`] reads them.
struct ListedDays {
    partition: Vec<u8>,
    read: std::collections::VecDeque<u32>,
    range: (Bound<u32>, Bound<u32>),
    exhausted: bool,
}

impl DayWalk {
    /// A walk over `keys` from day `first` to day `last` (inclusive), in `order`.
    pub fn new(keys: &[IndexKey], meta: &TenantMeta, first: u32, last: u32, order: Order) -> Self {
        let listed_from = meta.days_listed_from.max(first);
        // Empty when every day from `first` is listed.
        let unlisted = first..meta.days_listed_from.min(last.saturating_add(1));
        let listed = keys
            .iter()
            .map(|key| ListedDays {
                partition: key.days_partition(),
                read: std::collections::VecDeque::new(),
                range: (Bound::Included(listed_from), Bound::Included(last)),
                exhausted: listed_from > last,
            })
            .collect();
        Self { order, unlisted, listed, reads: 0 }
    }

    /// The next day to visit, or none when the walk is over.
    pub async fn next(&mut self, store: &dyn QueryStore) -> Result<Option<u32>, StoreError> {
        if self.order == Order::Ascending {
            if let Some(day) = self.unlisted.next() {
                return Ok(Some(day));
            }
            self.next_listed(store).await
        } else {
            if let Some(day) = self.next_listed(store).await? {
                return Ok(Some(day));
            }
            Ok(self.unlisted.next_back())
        }
    }

    /// The next listed day of any key, in walk order (a day two keys list, once).
    async fn next_listed(&mut self, store: &dyn QueryStore) -> Result<Option<u32>, StoreError> {
        // 8 days on the first read of a partition, then 32, 128, up to 1,024.
        let want = 8usize << (2 * self.reads.min(7));
        let mut read_any = false;
        for days in &mut self.listed {
            if !days.read.is_empty() || days.exhausted {
                continue;
            }
            let range = (days.range.0.map(day_clustering), days.range.1.map(day_clustering));
            let rows = store.scan(Table::IndexDays, &days.partition, range, self.order, want).await?;
            days.exhausted = rows.len() < want;
            days.read.extend(rows.iter().filter_map(|(clustering, _)| parse_day_clustering(clustering)));
            if let Some(&last) = days.read.back() {
                match self.order {
                    Order::Ascending => days.range.0 = Bound::Excluded(last),
                    Order::Descending => days.range.1 = Bound::Excluded(last),
                }
            }
            read_any = true;
        }
        if read_any {
            self.reads += 1;
        }
        let heads = self.listed.iter().filter_map(|days| days.read.front().copied());
        let next = match self.order {
            Order::Ascending => heads.min(),
            Order::Descending => heads.max(),
        };
        if let Some(day) = next {
            for days in &mut self.listed {
                if days.read.front() == Some(&day) {
                    days.read.pop_front();
                }
            }
        }
        Ok(next)
    }
}

/// Clustering key of an index row: the `stored` time.
pub fn index_clustering(stored_micros: u64) -> Vec<u8> {
    stored_micros.to_be_bytes().to_vec()
}

/// Reads back the `stored` time of an index clustering key.
pub fn parse_index_clustering(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Why a statement is in an index partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexMatch {
    /// Its own content has the partition's value.
    Own,
    /// A statement it targets through a StatementRef has it.
    Reference,
    /// Not said (rows written before 2026-12-06).
    Unknown,
}

/// The value of an index row: the statement's id, then whether it is
/// indexed for its own content or a target's.
pub fn index_value(id: Uuid, why: IndexMatch) -> Vec<u8> {
    let mut out = id.as_bytes().to_vec();
    match why {
        IndexMatch::Own => out.push(0),
        IndexMatch::Reference => out.push(1),
        IndexMatch::Unknown => {}
    }
    out
}

/// Reads back an index row's value.
pub fn parse_index_value(bytes: &[u8]) -> Option<(Uuid, IndexMatch)> {
    let id = Uuid::from_slice(bytes.get(..16)?).ok()?;
    let why = match bytes.get(16) {
        None => IndexMatch::Unknown,
        Some(0) => IndexMatch::Own,
        Some(_) => IndexMatch::Reference,
    };
    Some((id, why))
}

/// Partition key of a statement's entry in `statements` (by id).
pub fn statement_partition(tenant: &TenantId, id: Uuid) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).bytes(id.as_bytes()).build()
}

/// Where a statement's row is, as `statements` (by id) holds it: its
/// `stored` time, the key of its row in `statements_by_stored`; or, as
/// written before 2026-12-06, the row itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementEntry {
    /// The row is in `statements_by_stored`, at this `stored` time.
    At(u64),
    /// The row itself (earlier versions).
    Row(StatementRow),
}

impl StatementEntry {
    /// Encodes an entry pointing at the row stored at `stored_micros`.
    pub fn encode_at(stored_micros: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(9);
        out.push(LOCATOR);
        out.extend_from_slice(&stored_micros.to_be_bytes());
        out
    }

    /// Decodes an entry; `None` when it is neither kind.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes.first()? & LOCATOR {
            0 => StatementRow::decode(bytes).map(StatementEntry::Row),
            _ => Some(StatementEntry::At(u64::from_be_bytes(bytes.get(1..9)?.try_into().ok()?))),
        }
    }
}

/// A row of `statements_by_stored`: the statement's id, then its
/// [`StatementRow`] (rows written before 2026-12-06 hold the id only).
pub fn encode_stored_row(id: Uuid, row: &StatementRow) -> Vec<u8> {
    let mut out = id.as_bytes().to_vec();
    out.extend(row.encode());
    out
}

/// The id and, when the row holds it, the [`StatementRow`] of a
/// `statements_by_stored` row; `None` when it is neither kind.
pub fn decode_stored_row(bytes: &[u8]) -> Option<(Uuid, Option<StatementRow>)> {
    let id = Uuid::from_slice(bytes.get(..16)?).ok()?;
    match &bytes[16..] {
        [] => Some((id, None)),
        row => Some((id, Some(StatementRow::decode(row)?))),
    }
}

/// The row of statement `id`, stored at `stored_micros`, from
/// `statements_by_stored`; `None` when that row is of another statement or
/// holds the id only (then [`read_statement`] finds it).
pub async fn read_statement_at(
    store: &dyn QueryStore,
    tenant: &TenantId,
    id: Uuid,
    stored_micros: u64,
) -> Result<Option<StatementRow>, StoreError> {
    let partition = IndexKey::all(tenant).partition(bucket_of(stored_micros));
    let bytes = store.get(Table::ByStored, &partition, &index_clustering(stored_micros)).await?;
    Ok(bytes.as_deref().and_then(decode_stored_row).and_then(|(found, row)| row.filter(|_| found == id)))
}

/// The row of statement `id`: its entry in `statements`, then (for an entry
/// of this version) its row in `statements_by_stored`.
pub async fn read_statement(
    store: &dyn QueryStore,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<StatementRow>, StoreError> {
    let entry = store.get(Table::Statements, &statement_partition(tenant, id), &[]).await?;
    match entry.as_deref().and_then(StatementEntry::decode) {
        None => Ok(None),
        Some(StatementEntry::Row(row)) => Ok(Some(row)),
        Some(StatementEntry::At(stored)) => read_statement_at(store, tenant, id, stored).await,
    }
}

/// The first byte of a verdict partition: no tenant id (the first part of
/// the partitions of earlier versions) starts with it.
const VERDICT_BUCKET: u8 = 0xFF;

/// The minute (since the Unix epoch) of a command id: the time in a UUIDv7,
/// which the gateway gives every command it awaits; `None` for others.
pub fn command_minute(command_id: Uuid) -> Option<u64> {
    let (seconds, _) = command_id.get_timestamp()?.to_unix();
    (command_id.get_version_num() == 7).then_some(seconds / 60)
}

/// The partition of the verdicts of one log partition and one minute of
/// command ids: what expires together.
pub fn verdict_bucket(log_partition: u32, minute: u64) -> Vec<u8> {
    let mut key = vec![VERDICT_BUCKET];
    key.extend_from_slice(&log_partition.to_be_bytes());
    key.extend_from_slice(&minute.to_be_bytes());
    key
}

/// Whether a verdict partition is a bucket of this version (not a row of an
/// earlier version, keyed by tenant and command id).
pub fn is_verdict_bucket(partition: &[u8]) -> bool {
    partition.len() == 13 && partition[0] == VERDICT_BUCKET
}

/// Partition and clustering key of the verdict of an awaited command
/// (`None`: the id is not a UUIDv7, and no one awaits it).
pub fn verdict_key(log_partition: u32, tenant: &TenantId, command_id: Uuid) -> Option<(Vec<u8>, Vec<u8>)> {
    let minute = command_minute(command_id)?;
    let clustering = KeyBuilder::new().str(tenant.as_str()).bytes(command_id.as_bytes()).build();
    Some((verdict_bucket(log_partition, minute), clustering))
}

/// Partition key of an attachment body, by its lowercase hex SHA-2.
pub fn attachment_partition(tenant: &TenantId, sha2: &str) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str(&sha2.to_ascii_lowercase()).build()
}

/// Partition key of an activity's canonical definition.
pub fn activity_partition(tenant: &TenantId, activity_id: &str) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str(activity_id).build()
}

/// Partition key of what is known of an agent, by its IFI key.
pub fn agent_partition(tenant: &TenantId, agent_key: &str) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).str(agent_key).build()
}

/// Meta partition holding the projector's positions, one row per log partition.
pub fn positions_partition() -> Vec<u8> {
    KeyBuilder::new().str("positions").build()
}

/// Meta clustering key of a log partition's position.
pub fn position_clustering(log_partition: u32) -> Vec<u8> {
    KeyBuilder::new().u32(log_partition).build()
}

/// Meta partition of a tenant's projection state.
pub fn tenant_meta_partition(tenant: &TenantId) -> Vec<u8> {
    KeyBuilder::new().str("tenant").str(tenant.as_str()).build()
}

/// A stored statement with what the projector knows about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementRow {
    /// Whether a voiding statement has voided it.
    pub voided: bool,
    /// Its `stored` time in microseconds.
    pub stored_micros: u64,
    /// The statement JSON as the gateway sealed it, sealed for the agents it
    /// names or in the clear: without `stored`, and without `timestamp` when
    /// it was sent without one; [`set_stored`] adds both as it is read (rows
    /// written before 2026-12-05 hold them already, with the same values).
    pub body: RowBody,
    /// What the body lacks of the statement as the LRS answers it.
    pub completion: Completion,
}

/// What a row's body lacks of the statement as the LRS answers it, when the
/// row says so: then a page is answered from the body's bytes, without
/// parsing them (see [`answer_bytes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Not said (rows written before 2026-12-06, or a body holding a
    /// `stored` its sender set): parse the body and [`set_stored`].
    Unknown,
    /// `stored` only (the statement was sent with a `timestamp`).
    Stored,
    /// `stored`, and `timestamp` (the statement was sent without one).
    StoredAndTimestamp,
}

impl Completion {
    /// What a statement about to be stored, as the gateway sealed it, lacks.
    pub fn of(statement: &serde_json::Value) -> Self {
        match (statement.get("stored"), statement.get("timestamp")) {
            (Some(_), _) => Completion::Unknown,
            (None, Some(_)) => Completion::Stored,
            (None, None) => Completion::StoredAndTimestamp,
        }
    }
}

/// The statement of a row as the LRS answers it, from its body's bytes
/// (`opened`: the JSON, opened when sealed) and what the row says they lack:
/// `stored` (and `timestamp`) put first in the object. `None` when the row
/// does not say, or the bytes are not a non-empty object.
pub fn answer_bytes(opened: &[u8], stored_micros: u64, completion: Completion) -> Option<Vec<u8>> {
    let rest = opened.strip_prefix(b"{")?;
    if rest.iter().find(|b| !b.is_ascii_whitespace()).is_none_or(|b| *b == b'}') {
        return None;
    }
    let time = xapi::format_timestamp(micros_to_datetime(stored_micros));
    let mut out = Vec::with_capacity(opened.len() + 2 * time.len() + 28);
    out.extend_from_slice(b"{\"stored\":\"");
    out.extend_from_slice(time.as_bytes());
    match completion {
        Completion::Unknown => return None,
        Completion::Stored => {}
        Completion::StoredAndTimestamp => {
            out.extend_from_slice(b"\",\"timestamp\":\"");
            out.extend_from_slice(time.as_bytes());
        }
    }
    out.extend_from_slice(b"\",");
    out.extend_from_slice(rest);
    Some(out)
}

/// Completes a statement read from its row as the LRS answers it: `stored`
/// is its stored time, and so is `timestamp` when it was sent without one.
pub fn set_stored(statement: &mut serde_json::Value, stored_micros: u64) {
    let Some(members) = statement.as_object_mut() else { return };
    let stored = serde_json::Value::String(xapi::format_timestamp(micros_to_datetime(stored_micros)));
    if !members.contains_key("timestamp") {
        members.insert("timestamp".to_owned(), stored.clone());
    }
    members.insert("stored".to_owned(), stored);
}

/// The statement JSON of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowBody {
    /// In the clear (no vault, or a log written before statements were sealed).
    Clear(Vec<u8>),
    /// Sealed with the keys of the agents it names (see `vault.rs`).
    Sealed(Sealed),
}

/// Flags of the first byte of a statement row.
const VOIDED: u8 = 1;
const SEALED: u8 = 2;
/// Flag of the first byte of a [`StatementEntry::At`] (never of a row).
const LOCATOR: u8 = 4;
/// Flags of a row's [`Completion`]: the body lacks `stored`; and `timestamp`.
const BARE: u8 = 8;
const UNTIMED: u8 = 16;

impl StatementRow {
    /// Encodes the row: flags, `stored`, then the JSON or the sealed value.
    pub fn encode(&self) -> Vec<u8> {
        let body = match &self.body {
            RowBody::Clear(json) => std::borrow::Cow::Borrowed(json.as_slice()),
            RowBody::Sealed(sealed) => std::borrow::Cow::Owned(sealed.to_bytes()),
        };
        let mut out = Vec::with_capacity(9 + body.len());
        let sealed = if matches!(self.body, RowBody::Sealed(_)) { SEALED } else { 0 };
        let completion = match self.completion {
            Completion::Unknown => 0,
            Completion::Stored => BARE,
            Completion::StoredAndTimestamp => BARE | UNTIMED,
        };
        out.push((u8::from(self.voided) * VOIDED) | sealed | completion);
        out.extend_from_slice(&self.stored_micros.to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a row; `None` when it is not a statement row.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 9 || bytes[0] & LOCATOR != 0 {
            return None;
        }
        let body = match bytes[0] & SEALED {
            0 => RowBody::Clear(bytes[9..].to_vec()),
            _ => RowBody::Sealed(Sealed::from_bytes(&bytes[9..])?),
        };
        let completion = match bytes[0] & (BARE | UNTIMED) {
            BARE => Completion::Stored,
            flags if flags == BARE | UNTIMED => Completion::StoredAndTimestamp,
            _ => Completion::Unknown,
        };
        Some(Self {
            voided: bytes[0] & VOIDED != 0,
            stored_micros: u64::from_be_bytes(bytes[1..9].try_into().ok()?),
            body,
            completion,
        })
    }

    /// The subjects whose keys open it (none for a row in the clear).
    pub fn subjects(&self) -> &[Uuid] {
        match &self.body {
            RowBody::Clear(_) => &[],
            RowBody::Sealed(sealed) => &sealed.subjects,
        }
    }
}

/// Partition key of the documents of a forgotten-able agent: its subject.
pub fn agent_documents_partition(tenant: &TenantId, subject: Uuid) -> Vec<u8> {
    KeyBuilder::new().str(tenant.as_str()).bytes(subject.as_bytes()).build()
}

/// Clustering key of one document in its agent's list: where the document is.
pub fn agent_documents_clustering(partition: &[u8], clustering: &[u8]) -> Vec<u8> {
    KeyBuilder::new().u32(partition.len() as u32).bytes(partition).bytes(clustering).build()
}

/// The document partition and clustering keys of an agent's list entry.
pub fn parse_agent_documents_clustering(bytes: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let length = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let partition = bytes.get(4..4 + length)?;
    Some((partition.to_vec(), bytes[4 + length..].to_vec()))
}

/// Meta partition of the subjects forgotten in a tenant (one row each):
/// events sealed for them after their erasure are refused, also in a replay.
pub fn forgotten_partition(tenant: &TenantId) -> Vec<u8> {
    KeyBuilder::new().str("forgotten").str(tenant.as_str()).build()
}

/// The one audit partition of earlier versions (still read, no longer written).
pub fn audit_partition_before_months() -> Vec<u8> {
    KeyBuilder::new().str("audit").build()
}

/// The audit partition of a month (a month index: year × 12 + month − 1, UTC):
/// the trail is one partition per month, not one for ever.
pub fn audit_partition(month: u32) -> Vec<u8> {
    KeyBuilder::new().str("audit").u32(month).build()
}

/// The month index (year × 12 + month − 1) of a time in microseconds, UTC.
pub fn month_of_micros(micros: i64) -> u32 {
    use chrono::Datelike;
    let date = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().date_naive();
    u32::try_from(date.year()).unwrap_or(1970) * 12 + date.month0()
}

/// Meta partition of the months the audit trail has entries in (a row each,
/// the month as clustering).
pub fn audit_months_partition() -> Vec<u8> {
    KeyBuilder::new().str("audit-months").build()
}

/// Meta partition of the attachment bodies a projector of a log partition
/// stored and no statement has kept yet: a row each, clustering the log
/// time of its first chunk (big-endian) and the body's tenant and SHA-2.
pub fn attachment_pending_partition(log_partition: u32) -> Vec<u8> {
    KeyBuilder::new().str("attachment-pending").u32(log_partition).build()
}

/// Clustering of a pending attachment body: its first chunk's log time, then its tenant and SHA-2.
pub fn attachment_pending_clustering(log_micros: i64, tenant: &TenantId, sha2: &str) -> Vec<u8> {
    let mut key = log_micros.max(0).to_be_bytes().to_vec();
    key.extend(KeyBuilder::new().str(tenant.as_str()).str(&sha2.to_ascii_lowercase()).build());
    key
}

/// The log time, tenant and SHA-2 of a pending attachment's clustering key.
pub fn parse_attachment_pending_clustering(key: &[u8]) -> Option<(i64, TenantId, String)> {
    let log_micros = i64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let mut parts = keys::decode_strings(key.get(8..)?)?.into_iter();
    let tenant = TenantId::parse(&parts.next()?).ok()?;
    Some((log_micros, tenant, parts.next()?))
}

/// Meta row of the log time (big-endian micros) at which the body was last
/// sent while it waits to be kept: a sweep collects it only after the grace
/// from then. No row: the body is kept, or was stored by an earlier version.
pub fn attachment_sent_partition(tenant: &TenantId, sha2: &str) -> Vec<u8> {
    KeyBuilder::new().str("attachment-sent").str(tenant.as_str()).str(&sha2.to_ascii_lowercase()).build()
}

/// Meta row present when a stored statement of the tenant has an attachment
/// with this body: the body is kept (never collected).
pub fn attachment_kept_partition(tenant: &TenantId, sha2: &str) -> Vec<u8> {
    KeyBuilder::new().str("attachment-kept").str(tenant.as_str()).str(&sha2.to_ascii_lowercase()).build()
}

/// Meta row of the last minute of verdicts a projector of a log partition dropped.
pub fn verdict_sweep_partition(log_partition: u32) -> Vec<u8> {
    KeyBuilder::new().str("verdict-sweep").u32(log_partition).build()
}

/// Meta partition of the subjects a projector of a log partition has
/// purged and whose keys it must still destroy.
pub fn destroy_partition(log_partition: u32) -> Vec<u8> {
    KeyBuilder::new().str("destroy").u32(log_partition).build()
}

/// Clustering key of a subject waiting for its key's destruction.
pub fn destroy_clustering(tenant: &TenantId, subject: Uuid) -> Vec<u8> {
    KeyBuilder::new().bytes(subject.as_bytes()).str(tenant.as_str()).build()
}

/// The tenant and subject of a [`destroy_clustering`] key.
pub fn parse_destroy_clustering(bytes: &[u8]) -> Option<(TenantId, Uuid)> {
    let subject = Uuid::from_slice(bytes.get(..16)?).ok()?;
    let parts = crate::keys::decode_strings(&bytes[16..])?;
    Some((TenantId::parse(parts.first()?).ok()?, subject))
}

/// Projection state of one tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TenantMeta {
    /// `stored` of the last statement projected (0 when none).
    pub last_stored: u64,
    /// First time bucket holding statements.
    pub first_bucket: u32,
    /// The first day from which `index_days` lists every day of every index
    /// key ([`IndexKey::days_partition`]): 0 for a tenant whose first
    /// statement came after days were listed; for an older tenant, the day
    /// after its last statement then (a walk visits every day before it).
    pub days_listed_from: u32,
}

impl TenantMeta {
    /// Encodes the row.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.last_stored.to_be_bytes().to_vec();
        out.extend_from_slice(&self.first_bucket.to_be_bytes());
        out.extend_from_slice(&self.days_listed_from.to_be_bytes());
        out
    }

    /// Decodes a row (missing or malformed rows read as the default). A row
    /// of an earlier version (12 bytes, no days listed) lists days from the
    /// day after its last statement.
    pub fn decode(bytes: &[u8]) -> Self {
        if bytes.len() != 12 && bytes.len() != 16 {
            return Self::default();
        }
        let last_stored = u64::from_be_bytes(bytes[0..8].try_into().expect("8 bytes"));
        let days_listed_from = match bytes.get(12..16) {
            Some(listed) => u32::from_be_bytes(listed.try_into().expect("4 bytes")),
            None if last_stored == 0 => 0,
            None => bucket_of(last_stored) + 1,
        };
        Self {
            last_stored,
            first_bucket: u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")),
            days_listed_from,
        }
    }
}

/// Reads the next offset to apply for a log partition.
pub async fn load_position(store: &dyn QueryStore, partition: u32) -> Result<u64, StoreError> {
    let row = store.get(Table::Meta, &positions_partition(), &position_clustering(partition)).await?;
    Ok(row.and_then(|bytes| Some(u64::from_be_bytes(bytes.as_slice().try_into().ok()?))).unwrap_or(0))
}

/// How many StatementRef hops a filter follows.
pub const MAX_REFERENCE_DEPTH: usize = 8;

/// The id a statement's StatementRef object points at, if its object is one.
pub fn statement_ref_target(json: &serde_json::Value) -> Option<Uuid> {
    let object = json.get("object")?;
    if object.get("objectType")?.as_str()? != "StatementRef" {
        return None;
    }
    Uuid::parse_str(object.get("id")?.as_str()?).ok()
}

/// Converts microseconds since the epoch to a UTC time.
pub fn micros_to_datetime(micros: u64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(i64::try_from(micros).unwrap_or(i64::MAX)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_attachment_key_reads_back_and_sorts_by_log_time() {
        let tenant = TenantId::parse("acme").unwrap();
        let key = attachment_pending_clustering(1_700_000_000_000_000, &tenant, "ABCD");
        assert_eq!(
            parse_attachment_pending_clustering(&key),
            Some((1_700_000_000_000_000, tenant.clone(), "abcd".into()))
        );
        assert!(attachment_pending_clustering(5, &tenant, "ff") < attachment_pending_clustering(6, &tenant, "00"));
        assert_eq!(parse_attachment_pending_clustering(b"short"), None);
    }

    #[test]
    fn a_statement_answered_from_its_bytes_is_the_one_answered_parsed() {
        let stored = 1_700_000_000_123_456;
        for statement in [
            serde_json::json!({"id": "x", "verb": {"id": "v"}, "timestamp": "2020-01-02T03:04:05.678Z"}),
            serde_json::json!({"id": "x", "object": {"id": "o", "definition": {"timestamp": 1}}}),
        ] {
            let bytes = serde_json::to_vec(&statement).unwrap();
            let mut parsed = statement.clone();
            set_stored(&mut parsed, stored);
            let answered = answer_bytes(&bytes, stored, Completion::of(&statement)).expect("answered from bytes");
            assert_eq!(serde_json::from_slice::<serde_json::Value>(&answered).unwrap(), parsed);
        }
        let sent_stored = serde_json::json!({"id": "x", "stored": "2001-01-01T00:00:00Z"});
        assert_eq!(Completion::of(&sent_stored), Completion::Unknown, "a sender's stored is replaced, so parsed");
        assert_eq!(answer_bytes(b"{\"id\":1}", stored, Completion::Unknown), None);
        assert_eq!(answer_bytes(b"{ }", stored, Completion::Stored), None);
        assert_eq!(answer_bytes(b"[1]", stored, Completion::Stored), None);
    }

    #[test]
    fn an_index_value_reads_back_and_rows_of_earlier_versions_say_nothing() {
        let id = Uuid::new_v4();
        for why in [IndexMatch::Own, IndexMatch::Reference, IndexMatch::Unknown] {
            assert_eq!(parse_index_value(&index_value(id, why)), Some((id, why)));
        }
        assert_eq!(parse_index_value(id.as_bytes()), Some((id, IndexMatch::Unknown)));
        assert_eq!(parse_index_value(b"short"), None);
    }

    #[test]
    fn statement_row_round_trips() {
        let row = StatementRow {
            voided: true,
            stored_micros: 1_700_000_000_000_000,
            body: RowBody::Clear(b"{}".to_vec()),
            completion: Completion::StoredAndTimestamp,
        };
        assert_eq!(StatementRow::decode(&row.encode()), Some(row.clone()));
        let sealed = Sealed {
            subjects: vec![Uuid::new_v4()],
            shares: Vec::new(),
            salt: vec![1; 16],
            ciphertext: vec![2; 90],
            packing: Default::default(),
        };
        let row = StatementRow { body: RowBody::Sealed(sealed), ..row };
        assert_eq!(StatementRow::decode(&row.encode()), Some(row.clone()));
        assert_eq!(row.subjects().len(), 1);
        assert_eq!(StatementRow::decode(b"short"), None);
        // A row written before rows were sealed: flags 0 or 1, then JSON.
        let old = [&[1u8][..], &5u64.to_be_bytes(), b"{}"].concat();
        assert_eq!(
            StatementRow::decode(&old),
            Some(StatementRow {
                voided: true,
                stored_micros: 5,
                body: RowBody::Clear(b"{}".to_vec()),
                completion: Completion::Unknown
            })
        );
    }

    #[test]
    fn key_parts_read_back() {
        let tenant = TenantId::parse("t").unwrap();
        let subject = Uuid::new_v4();
        assert_eq!(parse_destroy_clustering(&destroy_clustering(&tenant, subject)), Some((tenant, subject)));
        let clustering = agent_documents_clustering(b"part\x00ition", b"doc");
        assert_eq!(parse_agent_documents_clustering(&clustering), Some((b"part\x00ition".to_vec(), b"doc".to_vec())));
    }

    #[test]
    fn tenant_meta_round_trips() {
        let meta = TenantMeta { last_stored: 5, first_bucket: 7, days_listed_from: 9 };
        assert_eq!(TenantMeta::decode(&meta.encode()), meta);
    }

    #[test]
    fn a_tenant_of_an_earlier_version_lists_days_from_the_day_after_its_last_statement() {
        let last_stored = 3 * BUCKET_MICROS + 17;
        let old = [last_stored.to_be_bytes().as_slice(), &2u32.to_be_bytes()].concat();
        let meta = TenantMeta::decode(&old);
        assert_eq!((meta.last_stored, meta.first_bucket, meta.days_listed_from), (last_stored, 2, 4));
        let empty = [0u64.to_be_bytes().as_slice(), &0u32.to_be_bytes()].concat();
        assert_eq!(TenantMeta::decode(&empty).days_listed_from, 0, "no statement yet: every day is listed");
    }

    #[test]
    fn tenants_never_share_a_partition() {
        let a = TenantId::parse("a").unwrap();
        let ab = TenantId::parse("ab").unwrap();
        assert_ne!(IndexKey::verb(&a, "bx").partition(1), IndexKey::verb(&ab, "x").partition(1));
    }
}
