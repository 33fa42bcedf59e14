//! The query-table port: ordered tables with a partition key and a clustering
//! key, defined once here and implemented by every store.

use std::ops::Bound;

use async_trait::async_trait;

/// The query tables. Every partition key starts with the tenant id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Statement by id: (tenant, statement id) → statement row.
    Statements,
    /// Statements by `stored`: (tenant, day) / stored → statement id.
    ByStored,
    /// Statements by verb: (tenant, verb, day) / stored → statement id.
    ByVerb,
    /// Statements by activity: (tenant, scope, activity, day) / stored → id.
    ByActivity,
    /// Statements by agent: (tenant, scope, agent key, day) / stored → id.
    ByAgent,
    /// Statements by registration: (tenant, registration, day) / stored → id.
    ByRegistration,
    /// Verdict of each command: (tenant, command id) → verdict.
    Verdicts,
    /// Projection bookkeeping: positions, per-tenant watermarks and buckets.
    Meta,
    /// Credentials: (key) → credential record.
    Credentials,
    /// Attachment bodies, content-addressed: (tenant, sha2) / chunk offset → bytes.
    Attachments,
    /// Documents: (tenant, resource, activity, agent, registration) / id → document.
    Documents,
    /// Activities: (tenant, activity id) → merged canonical Activity object.
    Activities,
    /// Agents: (tenant, agent key) → the Agent objects seen with that identifier.
    Agents,
    /// Tenants: (tenant) → tenant record.
    Tenants,
    /// Audit trail of administrative actions: ("audit") / (time, log offset) → entry.
    Audit,
    /// Key vault of erasure (kept apart from the rebuildable tables).
    Vault,
    /// Documents of each agent with a subject: (tenant, subject) / (document partition, id) → ().
    AgentDocuments,
    /// The analytics fact of each counted statement: (tenant, day of timestamp) / statement id → fact.
    AnalyticsFacts,
    /// Each learner's facts: (tenant, learner) / (day, statement id) → ().
    AnalyticsLearnerFacts,
    /// Analytics rollups: (tenant, tier, period) / (dimension, value) → aggregate.
    AnalyticsRollups,
    /// Who each learner key stands for: (tenant, learner) → its identifier, sealed with its key.
    AnalyticsLearners,
    /// What the analytics builder has yet to apply: (log partition) / (offset, seq) → change.
    AnalyticsOutbox,
    /// Data-quality counts: (tenant, day) / (source, count name) → u64.
    QualityCounts,
    /// The first statement of each event signature: (tenant, signature) → statement id.
    QualitySignatures,
    /// Names seen per IRI, for drift: (tenant, kind) / (normalised name, IRI) → u64.
    QualityNames,
    /// The statements of each pattern group: (tenant, profile, registration, subregistration) / (timestamp, id) → templates followed.
    QualityPatternSteps,
    /// How each pattern group follows its profile's primary patterns: (tenant) / (profile, registration, subregistration) → progress.
    QualityPatternGroups,
    /// What each forwarder delivered: (tenant, forwarder) / state, dead letters → JSON.
    Forwarding,
    /// The days that hold rows of each statement-index key: (index key) / day → ().
    IndexDays,
}

impl Table {
    /// Every table, for stores that create them up front.
    pub const ALL: [Table; 29] = [
        Table::Statements,
        Table::ByStored,
        Table::ByVerb,
        Table::ByActivity,
        Table::ByAgent,
        Table::ByRegistration,
        Table::Verdicts,
        Table::Meta,
        Table::Credentials,
        Table::Attachments,
        Table::Documents,
        Table::Activities,
        Table::Agents,
        Table::Tenants,
        Table::Audit,
        Table::Vault,
        Table::AgentDocuments,
        Table::AnalyticsFacts,
        Table::AnalyticsLearnerFacts,
        Table::AnalyticsRollups,
        Table::AnalyticsLearners,
        Table::AnalyticsOutbox,
        Table::QualityCounts,
        Table::QualitySignatures,
        Table::QualityNames,
        Table::QualityPatternSteps,
        Table::QualityPatternGroups,
        Table::Forwarding,
        Table::IndexDays,
    ];

    /// The table's place in [`Table::ALL`], for stores that keep a slot per
    /// table in an array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The table's name in a store.
    pub fn name(self) -> &'static str {
        match self {
            Table::Statements => "statements",
            Table::ByStored => "statements_by_stored",
            Table::ByVerb => "statements_by_verb",
            Table::ByActivity => "statements_by_activity",
            Table::ByAgent => "statements_by_agent",
            Table::ByRegistration => "statements_by_registration",
            Table::Verdicts => "verdicts",
            Table::Meta => "meta",
            Table::Credentials => "credentials",
            Table::Attachments => "attachments",
            Table::Documents => "documents",
            Table::Activities => "activities",
            Table::Agents => "agents",
            Table::Tenants => "tenants",
            Table::Audit => "audit",
            Table::Vault => "vault",
            Table::AgentDocuments => "agent_documents",
            Table::AnalyticsFacts => "analytics_facts",
            Table::AnalyticsLearnerFacts => "analytics_learner_facts",
            Table::AnalyticsRollups => "analytics_rollups",
            Table::AnalyticsLearners => "analytics_learners",
            Table::AnalyticsOutbox => "analytics_outbox",
            Table::QualityCounts => "quality_counts",
            Table::QualitySignatures => "quality_signatures",
            Table::QualityNames => "quality_names",
            Table::QualityPatternSteps => "quality_pattern_steps",
            Table::QualityPatternGroups => "quality_pattern_groups",
            Table::Forwarding => "forwarding",
            Table::IndexDays => "index_days",
        }
    }
}

/// Direction of a clustering-order walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Smallest clustering key first.
    Ascending,
    /// Largest clustering key first.
    Descending,
}

/// A write to one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Insert or overwrite a row.
    Put {
        /// Table written.
        table: Table,
        /// Encoded partition key.
        partition: Vec<u8>,
        /// Encoded clustering key.
        clustering: Vec<u8>,
        /// Row value.
        value: Vec<u8>,
    },
    /// Remove a row if present.
    Delete {
        /// Table written.
        table: Table,
        /// Encoded partition key.
        partition: Vec<u8>,
        /// Encoded clustering key.
        clustering: Vec<u8>,
    },
}

/// Writes applied atomically: all of them or none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The writes, in order.
    pub mutations: Vec<Mutation>,
}

impl WriteBatch {
    /// An empty batch with room for `mutations` writes (a large batch then
    /// grows without copying itself over and over).
    pub fn with_capacity(mutations: usize) -> Self {
        Self { mutations: Vec::with_capacity(mutations) }
    }

    /// Adds a put.
    pub fn put(&mut self, table: Table, partition: Vec<u8>, clustering: Vec<u8>, value: Vec<u8>) {
        self.mutations.push(Mutation::Put { table, partition, clustering, value });
    }

    /// Adds a delete.
    pub fn delete(&mut self, table: Table, partition: Vec<u8>, clustering: Vec<u8>) {
        self.mutations.push(Mutation::Delete { table, partition, clustering });
    }

    /// True when the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.mutations.is_empty()
    }
}

/// Rows of one partition: (clustering key, value) pairs in walk order.
pub type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// A clustering-key range inside one partition.
pub type ClusteringRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A whole partition read in ascending pages of at most `page` rows, each
/// page from after the last key of the one before: a large partition is
/// never held whole as rows.
pub struct PartitionPages<'a> {
    store: &'a dyn QueryStore,
    table: Table,
    partition: &'a [u8],
    page: usize,
    /// Where the next page starts; none once a page came back short.
    from: Option<Bound<Vec<u8>>>,
}

impl<'a> PartitionPages<'a> {
    /// The pages of `partition` of `table`, `page` rows at most each.
    pub fn new(store: &'a dyn QueryStore, table: Table, partition: &'a [u8], page: usize) -> Self {
        Self { store, table, partition, page, from: Some(Bound::Unbounded) }
    }

    /// The next page; none after the last.
    pub async fn next(&mut self) -> Result<Option<Rows>, StoreError> {
        let Some(from) = self.from.take() else { return Ok(None) };
        let range = (from, Bound::Unbounded);
        let rows = self.store.scan(self.table, self.partition, range, Order::Ascending, self.page).await?;
        if rows.len() == self.page {
            self.from = rows.last().map(|(last, _)| Bound::Excluded(last.clone()));
        }
        Ok(Some(rows))
    }
}

/// True when no clustering key can lie within (`low`, `high`).
pub fn empty_range(low: &Bound<Vec<u8>>, high: &Bound<Vec<u8>>) -> bool {
    match (low, high) {
        (Bound::Included(l), Bound::Included(h)) => l > h,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Excluded(h)) | (Bound::Excluded(l), Bound::Included(h)) => {
            l >= h
        }
        _ => false,
    }
}

/// Failures of a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached.
    #[error("query store unavailable: {0}")]
    Unavailable(String),
    /// The store's storage failed.
    #[error("query store failed: {0}")]
    Storage(String),
}

/// The query tables of a store.
#[async_trait]
pub trait QueryStore: Send + Sync + 'static {
    /// Reads one row.
    async fn get(&self, table: Table, partition: &[u8], clustering: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Reads rows of one table by their keys (partition, clustering), in the
    /// keys' order: a page's statement rows, which lie apart on disk. A
    /// store reads them at once where it can; this one reads them in turn.
    async fn get_many(&self, table: Table, keys: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut rows = Vec::with_capacity(keys.len());
        for (partition, clustering) in &keys {
            rows.push(self.get(table, partition, clustering).await?);
        }
        Ok(rows)
    }

    /// Reads up to `limit` rows of one partition within `range`, in `order`.
    async fn scan(
        &self,
        table: Table,
        partition: &[u8],
        range: ClusteringRange,
        order: Order,
        limit: usize,
    ) -> Result<Rows, StoreError>;

    /// Applies a batch atomically and durably.
    async fn write(&self, batch: WriteBatch) -> Result<(), StoreError>;

    /// Applies a batch of the projector atomically, durably soon: the log
    /// holds every effect of it and the batch carries its own log position,
    /// so a crash that loses it only makes the projector apply it again. A
    /// store may defer the flush to disk (the embedded one does, for a
    /// bounded time); by default this is [`QueryStore::write`].
    async fn write_rebuildable(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.write(batch).await
    }

    /// Every row of a table as (partition, clustering, value): for copies and
    /// replay checks, never on a request path.
    async fn dump(&self, table: Table) -> Result<Vec<TableRow>, StoreError>;

    /// Writes a row durably unless the row exists; returns the existing value
    /// when it does. Atomic against every other caller, in this process and
    /// in others sharing the store (ScyllaDB: a lightweight transaction).
    async fn put_if_absent(
        &self,
        table: Table,
        partition: &[u8],
        clustering: &[u8],
        value: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, StoreError>;
}

/// One row of a table: partition key, clustering key, value.
pub type TableRow = (Vec<u8>, Vec<u8>, Vec<u8>);

#[cfg(test)]
mod tests {
    use super::Table;

    /// A store's slot for a table is the table's place in `Table::ALL`, and
    /// no two tables share one.
    #[test]
    fn every_table_is_at_its_index_in_all() {
        for (place, table) in Table::ALL.iter().enumerate() {
            assert_eq!(table.index(), place, "{} is not at its index", table.name());
        }
    }
}
