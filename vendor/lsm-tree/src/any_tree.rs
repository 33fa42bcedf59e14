// Copyright (c) 2024-present, fjall-rs
// This source code is licensed under both the Apache 2.0 and MIT License
// (found in the LICENSE-* files in the repository)

use crate::{BlobTree, Tree};
use enum_dispatch::enum_dispatch;

/// May be a standard [`Tree`] or a [`BlobTree`]
#[derive(Clone)]
#[enum_dispatch(AbstractTree)]
pub enum AnyTree {
    /// Standard LSM-tree, see [`Tree`]
    Standard(Tree),

    /// Key-value separated LSM-tree, see [`BlobTree`]
    Blob(BlobTree),
}

impl AnyTree {
    /// PATCH (lrs): appends items, in ascending key order, to the active
    /// memtable in one go (a blob tree's index takes them as its `insert`
    /// does); returns their size.
    pub fn append_sorted<I: IntoIterator<Item = crate::InternalValue>>(&self, items: I) -> u64 {
        match self {
            Self::Standard(tree) => tree.append_sorted(items),
            Self::Blob(tree) => tree.index.append_sorted(items),
        }
    }
}
