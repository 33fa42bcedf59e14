//! The embedded deployment's storage, so `lrs serve` needs no other server:
//! the event log on redb (a pure-Rust, ACID, copy-on-write B-tree with
//! checksummed commits: appends are few and group-committed), and the query
//! tables on fjall (a pure-Rust LSM tree with atomic cross-keyspace batches:
//! the projector writes ~15 rows per statement at random keys, which an LSM
//! absorbs far faster than a copy-on-write B-tree).

mod log;
mod store;

pub use log::EmbeddedLog;
pub use store::EmbeddedStore;

/// Failures opening the embedded storage.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The log's database file could not be opened or created.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: Box<redb::Error>,
    },
    /// The store's directory could not be opened or created.
    #[error("cannot open {path}: {source}")]
    OpenStore {
        /// The directory.
        path: String,
        /// Why.
        source: Box<fjall::Error>,
    },
}
