//! The crate's error type and its mapping onto the port's `StoreError`.

use lrs_core::store::StoreError;
use scylla::errors::{
    DbError, ExecutionError, NewSessionError, NextPageError, NextRowError, PagerExecutionError, PrepareError,
    RequestAttemptError, RequestError,
};

/// Failures of the ScyllaDB store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScyllaError {
    /// The settings cannot be used.
    #[error("invalid ScyllaDB settings: {0}")]
    Settings(String),
    /// No session could be opened to the contact points.
    #[error("cannot connect to ScyllaDB at {nodes}: {source}")]
    Connect {
        /// The contact points, comma-separated.
        nodes: String,
        /// The driver's error.
        #[source]
        source: Box<NewSessionError>,
    },
    /// A statement could not be prepared.
    #[error("cannot prepare `{cql}`: {source}")]
    Prepare {
        /// The statement.
        cql: String,
        /// The driver's error.
        #[source]
        source: Box<PrepareError>,
    },
    /// A statement (or schema change) failed.
    #[error("`{cql}` failed: {source}")]
    Execute {
        /// The statement.
        cql: String,
        /// The driver's error.
        #[source]
        source: Box<ExecutionError>,
    },
    /// A paged read could not start.
    #[error("paged read `{cql}` failed: {source}")]
    Pager {
        /// The statement.
        cql: String,
        /// The driver's error.
        #[source]
        source: Box<PagerExecutionError>,
    },
    /// A page or row of a paged read failed.
    #[error("reading rows of `{cql}` failed: {source}")]
    Rows {
        /// The statement.
        cql: String,
        /// The driver's error.
        #[source]
        source: Box<NextRowError>,
    },
    /// Rows came back in another shape than `(blob, …)`.
    #[error("rows of `{cql}` have an unexpected shape: {reason}")]
    Shape {
        /// The statement.
        cql: String,
        /// What did not match.
        reason: String,
    },
    /// A logged batch failed (nothing of it is guaranteed applied).
    #[error("logged batch of {statements} statements failed: {source}")]
    Batch {
        /// Statements in the batch.
        statements: usize,
        /// The driver's error.
        #[source]
        source: Box<ExecutionError>,
    },
}

impl ScyllaError {
    /// True when the cluster could not be reached or could not answer in
    /// time (no connection, timeouts, not enough replicas, overload): a
    /// retry later may succeed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            ScyllaError::Settings(_) | ScyllaError::Shape { .. } => false,
            ScyllaError::Connect { source, .. } => !matches!(**source, NewSessionError::IllegalConfig(_)),
            ScyllaError::Prepare { source, .. } => prepare_unavailable(source),
            ScyllaError::Execute { source, .. } | ScyllaError::Batch { source, .. } => execution_unavailable(source),
            ScyllaError::Pager { source, .. } => match source.as_ref() {
                PagerExecutionError::PrepareError(e) => prepare_unavailable(e),
                PagerExecutionError::NextPageError(e) => page_unavailable(e),
                _ => false,
            },
            ScyllaError::Rows { source, .. } => match source.as_ref() {
                NextRowError::NextPageError(e) => page_unavailable(e),
                _ => false,
            },
        }
    }
}

impl From<ScyllaError> for StoreError {
    fn from(error: ScyllaError) -> Self {
        if error.is_unavailable() {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Storage(error.to_string())
        }
    }
}

fn attempt_unavailable(error: &RequestAttemptError) -> bool {
    match error {
        RequestAttemptError::UnableToAllocStreamId | RequestAttemptError::BrokenConnectionError(_) => true,
        RequestAttemptError::DbError(db, _) => matches!(
            db,
            DbError::Unavailable { .. }
                | DbError::Overloaded
                | DbError::IsBootstrapping
                | DbError::ReadTimeout { .. }
                | DbError::WriteTimeout { .. }
                | DbError::RateLimitReached { .. }
        ),
        _ => false,
    }
}

fn prepare_unavailable(error: &PrepareError) -> bool {
    match error {
        PrepareError::ConnectionPoolError(_) => true,
        PrepareError::AllAttemptsFailed { first_attempt } => attempt_unavailable(first_attempt),
        _ => false,
    }
}

fn execution_unavailable(error: &ExecutionError) -> bool {
    match error {
        ExecutionError::EmptyPlan | ExecutionError::ConnectionPoolError(_) | ExecutionError::RequestTimeout(_) => true,
        ExecutionError::LastAttemptError(attempt) => attempt_unavailable(attempt),
        ExecutionError::PrepareError(e) => prepare_unavailable(e),
        _ => false,
    }
}

fn page_unavailable(error: &NextPageError) -> bool {
    match error {
        NextPageError::RequestFailure(request) => match request {
            RequestError::EmptyPlan | RequestError::ConnectionPoolError(_) | RequestError::RequestTimeout(_) => true,
            RequestError::LastAttemptError(attempt) => attempt_unavailable(attempt),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_errors_map_to_unavailable_or_storage() {
        let timeout = ScyllaError::Execute {
            cql: "q".into(),
            source: Box::new(ExecutionError::RequestTimeout(std::time::Duration::from_secs(1))),
        };
        assert!(matches!(StoreError::from(timeout), StoreError::Unavailable(_)));
        let overloaded = ScyllaError::Batch {
            statements: 2,
            source: Box::new(ExecutionError::LastAttemptError(RequestAttemptError::DbError(
                DbError::Overloaded,
                "busy".into(),
            ))),
        };
        assert!(matches!(StoreError::from(overloaded), StoreError::Unavailable(_)));
        let invalid = ScyllaError::Execute {
            cql: "q".into(),
            source: Box::new(ExecutionError::LastAttemptError(RequestAttemptError::DbError(
                DbError::Invalid,
                "no".into(),
            ))),
        };
        let mapped = StoreError::from(invalid);
        assert!(matches!(&mapped, StoreError::Storage(m) if m.contains("`q` failed")), "{mapped}");
        let shape = ScyllaError::Shape { cql: "q".into(), reason: "int".into() };
        assert!(matches!(StoreError::from(shape), StoreError::Storage(_)));
    }
}
