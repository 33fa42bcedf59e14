//! The key vault's rows on disk for the embedded deployments: one small file
//! per row, named by the row key, under `keys/` in the data dir (a
//! subject's row and its agent's, one value, are one file with two names:
//! hard links, gone when both are unlinked).
//!
//! Why not the embedded store: an erased agent's key must leave the disk
//! when the erasure answers, and no embedded key-value engine promises
//! that a deleted value leaves its files within a bound (an LSM tree keeps
//! it in its journal until 64 MiB more are written and in its table files
//! until a compaction reaches them; a copy-on-write B-tree keeps it in
//! freed pages). A row that is a file is gone when the file is unlinked.
//! Writes are durable (the file and its directory are synced), and a
//! conditional write is a hard link, which the file system makes atomic
//! for every process (docs/adr/0003).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lrs_core::store::StoreError;
use lrs_core::vault::VaultStore;
use rand::RngCore as _;

use crate::EmbeddedError;

/// The rows of a key vault, a file each.
#[derive(Clone, Debug)]
pub struct FileVault {
    dir: PathBuf,
}

fn storage(error: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(format!("key vault: {error}"))
}

impl FileVault {
    /// Opens (or creates) the vault in `dir`, removing the temporary files a
    /// crash may have left.
    pub fn open(dir: &Path) -> Result<Self, EmbeddedError> {
        let open_error = |source: std::io::Error| EmbeddedError::OpenVault { path: dir.display().to_string(), source };
        fs::create_dir_all(dir).map_err(open_error)?;
        for shard in fs::read_dir(dir).map_err(open_error)?.flatten() {
            if !shard.path().is_dir() {
                continue;
            }
            for file in fs::read_dir(shard.path()).map_err(open_error)?.flatten() {
                if file.file_name().to_string_lossy().ends_with(".tmp") {
                    fs::remove_file(file.path()).map_err(open_error)?;
                }
            }
        }
        Ok(Self { dir: dir.to_owned() })
    }

    /// The directory of a row's file: rows spread over 256 directories by
    /// the last byte of their key (a subject id or a digest: uniform).
    fn shard(&self, key: &[u8]) -> PathBuf {
        self.dir.join(hex::encode([key.last().copied().unwrap_or(0)]))
    }

    fn path(&self, key: &[u8]) -> PathBuf {
        self.shard(key).join(hex::encode(key))
    }

    /// Writes `value` to a new temporary file beside `key`'s file, synced.
    fn temporary(&self, key: &[u8], value: &[u8]) -> std::io::Result<PathBuf> {
        let shard = self.shard(key);
        fs::create_dir_all(&shard)?;
        let path = shard.join(format!("{}.{:016x}.tmp", hex::encode(key), rand::thread_rng().next_u64()));
        let mut file = fs::File::create(&path)?;
        file.write_all(value)?;
        file.sync_all()?;
        Ok(path)
    }

    fn get_now(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if !can_be_a_file(key) {
            // A row of an earlier vault keyed by a long agent identifier:
            // never written here (moving it in would have failed).
            return Ok(None);
        }
        match fs::read(self.path(key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(storage(error)),
        }
    }

    fn put_now(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let temporary = self.temporary(key, value).map_err(storage)?;
        fs::rename(&temporary, self.path(key)).map_err(storage)?;
        sync_dir(&self.shard(key))
    }

    fn put_if_absent_now(&self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let temporary = self.temporary(key, value).map_err(storage)?;
        let existing = self.link_unless_taken(&temporary, key)?;
        if existing.is_none() {
            sync_dir(&self.shard(key))?;
        }
        Ok(existing)
    }

    /// Names the file `temporary` by `key` unless `key` has a file (a hard
    /// link, which the file system makes atomic for every process), then
    /// removes the temporary name; returns the value `key` already had. The
    /// new name's directory is left to sync.
    fn link_unless_taken(&self, temporary: &Path, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        fs::create_dir_all(self.shard(key)).map_err(storage)?;
        let linked = fs::hard_link(temporary, self.path(key));
        fs::remove_file(temporary).map_err(storage)?;
        match linked {
            Ok(()) => Ok(None),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                self.get_now(key)?.map(Some).ok_or_else(|| storage("a row vanished while it was written"))
            }
            Err(error) => Err(storage(error)),
        }
    }

    /// [`FileVault::put_now`] of every row, the files written and synced
    /// side by side (the disk takes several syncs at once in about the time
    /// of one), then each directory they went into synced once.
    fn put_many_now(&self, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        let shards = side_by_side(rows, |(key, value)| {
            let temporary = self.temporary(&key, &value).map_err(storage)?;
            fs::rename(&temporary, self.path(&key)).map_err(storage)?;
            Ok(self.shard(&key))
        })?;
        self.sync_dirs(shards)
    }

    /// Each row's value written once, to one file, synced (side by side),
    /// and named twice: by its first key (each such directory synced, so
    /// that no second name outlives the first in a crash), then by its second
    /// key by a hard link that fails where the key has a file (each such
    /// directory synced). Returns, in order, the values the second keys had.
    fn put_pairs_now(&self, rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let written = side_by_side(rows, |(first, second, value)| {
            let temporary = self.temporary(&first, &value).map_err(storage)?;
            fs::hard_link(&temporary, self.path(&first)).map_err(storage)?;
            Ok((temporary, first, second))
        })?;
        self.sync_dirs(written.iter().map(|(_, first, _)| self.shard(first)).collect())?;
        let linked = side_by_side(written, |(temporary, _, second)| {
            Ok((self.shard(&second), self.link_unless_taken(&temporary, &second)?))
        })?;
        let shards = linked.iter().filter(|(_, existing)| existing.is_none()).map(|(shard, _)| shard.clone()).collect();
        self.sync_dirs(shards)?;
        Ok(linked.into_iter().map(|(_, existing)| existing).collect())
    }

    /// Syncs each of `shards` once, side by side.
    fn sync_dirs(&self, mut shards: Vec<PathBuf>) -> Result<(), StoreError> {
        shards.sort();
        shards.dedup();
        side_by_side(shards, |shard| sync_dir(&shard)).map(drop)
    }

    fn delete_now(&self, keys: &[Vec<u8>]) -> Result<(), StoreError> {
        let mut shards = Vec::new();
        for key in keys.iter().filter(|key| can_be_a_file(key)) {
            match fs::remove_file(self.path(key)) {
                Ok(()) => shards.push(self.shard(key)),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(storage(error)),
            }
        }
        shards.dedup();
        shards.iter().try_for_each(|shard| sync_dir(shard))
    }
}

/// The longest file name the vault's file systems take (`NAME_MAX`).
const LONGEST_NAME: usize = 255;

/// Whether a row of `key` can be a file: its name, the key in hex, is not
/// too long. Rows keyed by digest or subject id always can; a row of an
/// earlier vault keyed by a long agent identifier cannot, and is none.
fn can_be_a_file(key: &[u8]) -> bool {
    key.len() * 2 <= LONGEST_NAME
}

/// Makes a directory's entries (a new, renamed or removed file) durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir).and_then(|dir| dir.sync_all()).map_err(storage)
}

/// Threads a batch of vault files is written by at most.
const WRITERS: usize = 16;

/// `work` over every item, on up to [`WRITERS`] threads; the results in
/// the items' order, or the first error.
fn side_by_side<T: Send, R: Send>(
    items: Vec<T>,
    work: impl Fn(T) -> Result<R, StoreError> + Sync,
) -> Result<Vec<R>, StoreError> {
    if items.len() <= 1 {
        return items.into_iter().map(work).collect();
    }
    let per_thread = items.len().div_ceil(WRITERS);
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(per_thread).collect());
    }
    let work = &work;
    std::thread::scope(|scope| {
        let threads: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(work).collect::<Result<Vec<R>, StoreError>>()))
            .collect();
        let mut results = Vec::new();
        for thread in threads {
            results.extend(thread.join().map_err(|_| storage("a vault writer thread panicked"))??);
        }
        Ok(results)
    })
}

/// Runs a blocking vault operation off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work).await.map_err(storage)?
}

#[async_trait]
impl VaultStore for FileVault {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (vault, key) = (self.clone(), key.to_vec());
        blocking(move || vault.get_now(&key)).await
    }

    async fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let (vault, keys) = (self.clone(), keys.to_vec());
        blocking(move || keys.iter().map(|key| vault.get_now(key)).collect()).await
    }

    async fn put(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let (vault, key) = (self.clone(), key.to_vec());
        blocking(move || vault.put_now(&key, &value)).await
    }

    async fn put_if_absent(&self, key: &[u8], value: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        let (vault, key) = (self.clone(), key.to_vec());
        blocking(move || vault.put_if_absent_now(&key, &value)).await
    }

    async fn put_many(&self, rows: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        let vault = self.clone();
        blocking(move || vault.put_many_now(rows)).await
    }

    async fn put_pairs(&self, rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let vault = self.clone();
        blocking(move || vault.put_pairs_now(rows)).await
    }

    async fn delete(&self, keys: &[Vec<u8>]) -> Result<(), StoreError> {
        let (vault, keys) = (self.clone(), keys.to_vec());
        blocking(move || vault.delete_now(&keys)).await
    }
}

/// Opens the vault in `dir`, first moving into it the rows of the vault an
/// earlier version kept in the embedded store at `earlier` (then removed).
pub fn open_vault_moving(dir: &Path, earlier: &Path) -> Result<FileVault, EmbeddedError> {
    let vault = FileVault::open(dir)?;
    if !earlier.exists() {
        return Ok(vault);
    }
    let moved = (|| -> Result<usize, String> {
        let store = crate::EmbeddedStore::open(earlier).map_err(|e| e.to_string())?;
        let rows = store.rows_of(lrs_core::Table::Vault).map_err(|e| e.to_string())?;
        for (partition, _, value) in &rows {
            vault.put_now(partition, value).map_err(|e| e.to_string())?;
        }
        Ok(rows.len())
    })()
    .map_err(|reason| EmbeddedError::MoveVault { path: earlier.display().to_string(), reason })?;
    fs::remove_dir_all(earlier)
        .map_err(|source| EmbeddedError::OpenVault { path: earlier.display().to_string(), source })?;
    tracing::info!(rows = moved, from = %earlier.display(), "moved the key vault to its own files");
    Ok(vault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_are_files_that_a_delete_unlinks() {
        let dir = tempfile::tempdir().unwrap();
        let vault = FileVault::open(dir.path()).unwrap();
        vault.put(b"k1", b"v1".to_vec()).await.unwrap();
        assert_eq!(vault.get(b"k1").await.unwrap(), Some(b"v1".to_vec()));
        assert_eq!(vault.put_if_absent(b"k1", b"other".to_vec()).await.unwrap(), Some(b"v1".to_vec()));
        assert_eq!(vault.put_if_absent(b"k2", b"v2".to_vec()).await.unwrap(), None);
        assert_eq!(vault.get(b"k2").await.unwrap(), Some(b"v2".to_vec()));
        vault.delete(&[b"k1".to_vec(), b"missing".to_vec()]).await.unwrap();
        assert_eq!(vault.get(b"k1").await.unwrap(), None);
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .flat_map(|shard| std::fs::read_dir(shard.path()).unwrap())
            .collect();
        assert_eq!(files.len(), 1, "one row, one file, no temporary left");
    }

    #[tokio::test]
    async fn a_pair_is_one_file_with_two_names_unless_the_second_is_taken() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let vault = FileVault::open(dir.path()).unwrap();
        vault.put(b"taken", b"earlier".to_vec()).await.unwrap();
        let rows = vec![
            (b"s1".to_vec(), b"a1".to_vec(), b"pair one".to_vec()),
            (b"s2".to_vec(), b"taken".to_vec(), b"pair two".to_vec()),
        ];

        let existing = vault.put_pairs(rows).await.unwrap();

        assert_eq!(existing, vec![None, Some(b"earlier".to_vec())]);
        assert_eq!(vault.get(b"a1").await.unwrap().as_deref(), Some(&b"pair one"[..]));
        assert_eq!(vault.get(b"taken").await.unwrap().as_deref(), Some(&b"earlier"[..]), "a taken name stays");
        let links = |key: &[u8]| std::fs::metadata(vault.path(key)).unwrap().nlink();
        assert_eq!((links(b"s1"), links(b"a1")), (2, 2), "one file, two names");
        assert_eq!(links(b"s2"), 1, "no temporary name left");
        vault.delete(&[b"s1".to_vec(), b"a1".to_vec(), b"s2".to_vec()]).await.unwrap();
        let left: Vec<Vec<u8>> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .flat_map(|shard| std::fs::read_dir(shard.path()).unwrap())
            .map(|file| std::fs::read(file.unwrap().path()).unwrap())
            .collect();
        assert_eq!(left, vec![b"earlier".to_vec()], "only the row that was there before");
    }

    #[tokio::test]
    async fn rows_written_many_at_once_are_each_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let vault = FileVault::open(dir.path()).unwrap();
        vault.put(b"k7", b"first".to_vec()).await.unwrap();
        let rows =
            |value: &[u8]| (0..100u8).map(|n| (format!("k{n}").into_bytes(), value.to_vec())).collect::<Vec<_>>();
        vault.put_many(rows(b"many")[50..].to_vec()).await.unwrap();

        let existing = vault.put_many_if_absent(rows(b"late")).await.unwrap();

        for (n, existing) in existing.iter().enumerate() {
            let want: Option<&[u8]> = match n {
                7 => Some(b"first"),
                50.. => Some(b"many"),
                _ => None,
            };
            assert_eq!(existing.as_deref(), want, "k{n}");
            let now = vault.get(format!("k{n}").as_bytes()).await.unwrap();
            assert_eq!(now.as_deref(), Some(want.unwrap_or(b"late")), "k{n}");
        }
        let files: usize = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|shard| std::fs::read_dir(shard.path()).unwrap().count())
            .sum();
        assert_eq!(files, 100, "a file per row, no temporary left");
    }
}
