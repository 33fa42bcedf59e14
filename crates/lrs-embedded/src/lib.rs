//! The embedded deployment's storage, so `lrs serve` needs no other server:
//! the event log on redb (a pure-Rust, ACID, copy-on-write B-tree with
//! checksummed commits: appends are few and group-committed), and the query
//! tables on fjall (a pure-Rust LSM tree with atomic cross-keyspace batches:
//! the projector writes ~15 rows per statement at random keys, which an LSM
//! absorbs far faster than a copy-on-write B-tree), and the key vault's rows
//! as one file each (unlinked when a key is destroyed).

mod log;
mod store;
mod vault;

pub use log::EmbeddedLog;
pub use store::{EmbeddedStore, DEFAULT_CACHE_MB};
pub use vault::{open_vault_moving, FileVault};

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
    /// The key vault's directory could not be opened or created.
    #[error("cannot open the key vault {path}: {source}")]
    OpenVault {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The rows of an earlier key vault could not be moved.
    #[error("cannot move the key vault of {path}: {reason}")]
    MoveVault {
        /// The earlier vault's directory.
        path: String,
        /// Why.
        reason: String,
    },
}
