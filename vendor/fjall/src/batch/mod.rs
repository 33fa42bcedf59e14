// Copyright (c) 2024-present, fjall-rs
// This source code is licensed under both the Apache 2.0 and MIT License
// (found in the LICENSE-* files in the repository)

pub mod item;

use crate::{Database, Keyspace, PersistMode};
use item::Item;
use lsm_tree::{AbstractTree, InternalValue, UserKey, UserValue, ValueType};
use std::collections::HashSet;

/// An atomic write batch
///
/// Allows atomically writing across keyspaces inside the [`Database`].
pub struct WriteBatch {
    pub(crate) data: Vec<Item>,
    db: Database,
    durability: Option<PersistMode>,
}

impl WriteBatch {
    /// Initializes a new write batch.
    ///
    /// This function is called by [`Database::batch`].
    pub(crate) fn new(db: Database) -> Self {
        Self {
            data: Vec::new(),
            db,
            durability: None,
        }
    }

    /// Initializes a new write batch with preallocated capacity.
    ///
    /// ### Note
    ///
    /// "Capacity" refers to the number of batch item slots, not their size in memory.
    #[must_use]
    pub fn with_capacity(db: Database, capacity: usize) -> Self {
        Self {
            data: Vec::with_capacity(capacity),
            db,
            durability: None,
        }
    }

    /// Gets the number of batched items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Returns `true` if there are no batches items (yet).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets the durability level.
    #[must_use]
    pub fn durability(mut self, mode: Option<PersistMode>) -> Self {
        self.durability = mode;
        self
    }

    /// Inserts a key-value pair into the batch.
    pub fn insert<K: Into<UserKey>, V: Into<UserValue>>(&mut self, p: &Keyspace, key: K, value: V) {
        self.data
            .push(Item::new(p.clone(), key, value, ValueType::Value));
    }

    /// Removes a key-value pair.
    pub fn remove<K: Into<UserKey>>(&mut self, p: &Keyspace, key: K) {
        self.data
            .push(Item::new(p.clone(), key, vec![], ValueType::Tombstone));
    }

    /// Adds a weak tombstone marker for a key.
    ///
    /// The tombstone marker of this delete operation will vanish when it
    /// collides with its corresponding insertion.
    /// This may cause older versions of the value to be resurrected, so it should
    /// only be used and preferred in scenarios where a key is only ever written once.
    ///
    /// # Experimental
    ///
    /// This function is currently experimental.
    #[doc(hidden)]
    pub fn remove_weak<K: Into<UserKey>>(&mut self, p: &Keyspace, key: K) {
        self.data
            .push(Item::new(p.clone(), key, vec![], ValueType::WeakTombstone));
    }

    /// Commits the batch to the [`Database`] atomically.
    ///
    /// # Errors
    ///
    /// Will return `Err` if an IO error occurs.
    #[allow(clippy::missing_panics_doc)]
    pub fn commit(self) -> crate::Result<()> {
        self.commit_unthrottled()?.wait();
        Ok(())
    }

    // PATCH (lrs): a commit that leaves its memtable checks and write stalls to the caller.
    /// Commits the batch to the [`Database`] atomically, like [`WriteBatch::commit`],
    /// but returns before the memtable checks and the write stalls it owes, which
    /// [`Throttle::wait`] then does: a caller that serialises its commits with a lock
    /// of its own can let that lock go first.
    ///
    /// # Errors
    ///
    /// Will return `Err` if an IO error occurs.
    #[allow(clippy::missing_panics_doc)]
    pub fn commit_unthrottled(mut self) -> crate::Result<Throttle> {
        if self.is_empty() {
            return Ok(Throttle { keyspaces: HashSet::new() });
        }

        log::trace!("batch: Acquiring journal writer");
        let mut journal_writer = self.db.supervisor.journal.get_writer()?;

        // IMPORTANT: Check the poisoned flag after getting journal mutex, otherwise TOCTOU
        if self.db.is_poisoned.is_poisoned() {
            return Err(crate::Error::Poisoned);
        }

        let batch_seqno = self.db.supervisor.seqno.next();

        journal_writer
            .write_batch(self.data.iter(), self.data.len(), batch_seqno)
            .inspect_err(|e| {
                log::error!(
                    "persist failed, which is a FATAL, and possibly hardware-related, failure: {e:?}",
                );
                self.db.is_poisoned.poison();
            })?;

        if let Some(mode) = self.durability {
            journal_writer.persist(mode).inspect_err(|e| {
                log::error!(
                    "persist failed, which is a FATAL, and possibly hardware-related, failure: {e:?}",
                );
                self.db.is_poisoned.poison();
            })?;
        }

        // TODO: maybe we can use a stack alloc hashset/vec here, such as smallset
        #[expect(clippy::mutable_key_type)]
        let mut keyspaces_with_possible_stall = HashSet::new();

        #[expect(clippy::expect_used)]
        let keyspaces = self
            .db
            .supervisor
            .keyspaces
            .read()
            .expect("lock is poisoned");

        let mut batch_size = 0u64;

        log::trace!("Applying batch (size={}) to memtable(s)", self.data.len());

        // PATCH (lrs): the items of a run of one keyspace go into its
        // memtable in one call, in the batch's order (`append_sorted`: lrs
        // applies a batch table by table in key order, and each key is found
        // in the skip list from the place of the one before). The keyspace
        // goes into the set once per run: hashing each item's keyspace name
        // into it cost more than the skip list's insert of a short row.
        let mut items = std::mem::take(&mut self.data).into_iter().peekable();
        while let Some(first) = items.next() {
            let keyspace = first.keyspace.clone();
            let handle = std::sync::Arc::as_ptr(&keyspace.0);
            let rest = std::iter::from_fn(|| {
                items.next_if(|item| std::sync::Arc::as_ptr(&item.keyspace.0) == handle)
            });
            let run = std::iter::once(first).chain(rest).map(|item| match item.value_type {
                ValueType::Value => {
                    InternalValue::from_components(item.key, item.value, batch_seqno, ValueType::Value)
                }
                ValueType::Tombstone => InternalValue::new_tombstone(item.key, batch_seqno),
                ValueType::WeakTombstone => InternalValue::new_weak_tombstone(item.key, batch_seqno),
                ValueType::Indirection => unreachable!(),
            });
            batch_size += keyspace.tree.append_sorted(run);

            // IMPORTANT: Clone the handle, because we don't want to keep the keyspaces lock open
            keyspaces_with_possible_stall.insert(keyspace);
        }

        self.db.supervisor.snapshot_tracker.publish(batch_seqno);

        drop(journal_writer);

        log::trace!("batch: Freed journal writer");

        drop(keyspaces);

        // IMPORTANT: Add batch size to current write buffer size
        // Otherwise write buffer growth is unbounded when using batches
        self.db.supervisor.write_buffer_size.allocate(batch_size);

        Ok(Throttle { keyspaces: keyspaces_with_possible_stall })
    }
}

// PATCH (lrs): see `WriteBatch::commit_unthrottled`.
/// What a batch committed by [`WriteBatch::commit_unthrottled`] still owes: a
/// memtable rotation where one grew too large, and the write stalls of the
/// keyspaces it wrote to.
#[must_use]
pub struct Throttle {
    #[allow(clippy::mutable_key_type)]
    keyspaces: HashSet<Keyspace>,
}

impl Throttle {
    /// Requests the rotations and waits out the write stalls.
    pub fn wait(self) {
        // Check each affected keyspace for write stall/halt
        for keyspace in &self.keyspaces {
            let memtable_size = keyspace.tree.active_memtable().size();
            keyspace.check_memtable_rotate(memtable_size);
            keyspace.local_backpressure();
        }
    }
}
