//! The first groups of a dimension by one measure over all of a tenant's
//! days: one row per (dimension, measure) holding the first [`TOP_KEPT`]
//! groups in answer order (largest value first, ties by group), what a
//! question over all days by a dimension reads instead of every group's row.
//!
//! The builder moves the groups it refreshes in the lists. What keeps a
//! list true without reading every group: every group outside it comes
//! after its last entry. A group that enters goes in its place (the last
//! entry falls out when the list is full); a group in the list whose value
//! falls behind the last entry leaves it, and the list is one shorter. A
//! list too short for the answers asked of it is rebuilt from the groups'
//! whole-time values.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// Groups a list keeps.
pub const TOP_KEPT: usize = 500;

/// A list shorter than this (and not holding every group) is rebuilt.
pub const TOP_REBUILD_BELOW: usize = 250;

/// The first groups of a dimension by one measure.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TopList {
    /// Whether it holds every group with a value (then no group is outside).
    pub complete: bool,
    /// (value, group), in answer order.
    pub entries: Vec<(f64, String)>,
}

/// Answer order: the larger value first, then the smaller group.
fn order(a: &(f64, String), b: &(f64, String)) -> Ordering {
    b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1))
}

impl TopList {
    /// The list of every group's value (in any order): its first
    /// [`TOP_KEPT`], complete when that is all of them.
    pub fn of(mut groups: Vec<(f64, String)>) -> Self {
        groups.sort_by(order);
        let complete = groups.len() <= TOP_KEPT;
        groups.truncate(TOP_KEPT);
        Self { complete, entries: groups }
    }

    /// Moves groups to their new values (`None`: it has none, or is gone;
    /// the last value of a group given twice counts), in one pass and one
    /// sort. Returns whether the list changed. A group that moves is taken
    /// out; then those that come before the last entry left (or all, when
    /// the list holds every group) go in, and the list is cut to
    /// [`TOP_KEPT`].
    pub fn update_all(&mut self, updates: &[(&str, Option<f64>)]) -> bool {
        // Hashed with foldhash: groups are this process's own keys.
        let new: std::collections::HashMap<&str, Option<f64>, foldhash::fast::RandomState> =
            updates.iter().copied().collect();
        let mut stayed = std::collections::HashSet::<String, foldhash::fast::RandomState>::default();
        let before = self.entries.len();
        self.entries.retain(|(value, group)| match new.get(group.as_str()) {
            None => true,
            Some(Some(now)) if now.to_bits() == value.to_bits() => {
                stayed.insert(group.clone());
                true
            }
            Some(_) => false,
        });
        let mut changed = self.entries.len() != before;
        let last = self.entries.last().cloned();
        for (group, value) in new {
            let Some(value) = value else { continue };
            if stayed.contains(group) {
                continue;
            }
            let entry = (value, group.to_owned());
            if self.complete || last.as_ref().is_some_and(|last| order(&entry, last) == Ordering::Less) {
                self.entries.push(entry);
                changed = true;
            }
        }
        if changed {
            self.entries.sort_by(order);
            if self.entries.len() > TOP_KEPT {
                self.entries.truncate(TOP_KEPT);
                self.complete = false;
            }
        }
        changed
    }

    /// Whether it must be rebuilt from every group's values.
    pub fn too_short(&self) -> bool {
        !self.complete && self.entries.len() < TOP_REBUILD_BELOW
    }

    /// Its first `limit` entries, when it has them (or holds every group).
    pub fn first(&self, limit: usize) -> Option<&[(f64, String)]> {
        (self.complete || limit <= self.entries.len()).then(|| &self.entries[..limit.min(self.entries.len())])
    }

    /// The row value.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("lists serialise")
    }

    /// Reads a row value back.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `limit` of every group's values, as an answer would sort them.
    fn truth(values: &std::collections::BTreeMap<String, f64>, limit: usize) -> Vec<(f64, String)> {
        let mut all: Vec<(f64, String)> = values.iter().map(|(g, v)| (*v, g.clone())).collect();
        all.sort_by(order);
        all.truncate(limit);
        all
    }

    #[test]
    fn moves_keep_the_first_groups_true_and_a_short_list_asks_to_be_rebuilt() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut values = std::collections::BTreeMap::new();
        let mut list = TopList { complete: true, entries: Vec::new() };
        let mut rebuilt = 0;
        let mut short = false;
        for step in 0..12_000 {
            let group = format!("g{}", rng.gen_range(0..1_000));
            // Values rise mostly, and fall or vanish sometimes (voiding,
            // erasure, ratios); in the last third mostly fall.
            let falls = if step < 8_000 { 1 } else { 8 };
            let value = match rng.gen_range(0..10) {
                0 => None,
                n if n <= falls => Some(f64::from(rng.gen_range(0..50))),
                _ => Some(values.get(&group).copied().unwrap_or(0.0) + f64::from(rng.gen_range(1..20))),
            };
            match value {
                Some(v) => values.insert(group.clone(), v),
                None => values.remove(&group),
            };
            list.update_all(&[(group.as_str(), value)]);
            short |= list.entries.len() < 400 && !list.complete;
            if list.too_short() {
                list = TopList::of(values.iter().map(|(g, v)| (*v, g.clone())).collect());
                rebuilt += 1;
            }
            let limit = 100;
            let first = list.first(limit).expect("a list never shorter than the rebuild mark");
            assert_eq!(first, truth(&values, limit).as_slice(), "step {step}");
        }
        assert!(short && rebuilt > 0, "falls made the list short, and it was rebuilt");
        // The same moves, many groups at a time.
        let mut values = std::collections::BTreeMap::new();
        let mut list = TopList { complete: true, entries: Vec::new() };
        let mut rebuilt = 0;
        for round in 0..300 {
            let falls = if round < 200 { 1 } else { 8 };
            let moves: Vec<(String, Option<f64>)> = (0..rng.gen_range(1..120))
                .map(|_| {
                    let group = format!("g{}", rng.gen_range(0..1_000));
                    let value = match rng.gen_range(0..10) {
                        0 => None,
                        n if n <= falls => Some(f64::from(rng.gen_range(0..50))),
                        _ => Some(values.get(&group).copied().unwrap_or(0.0) + f64::from(rng.gen_range(1..20))),
                    };
                    (group, value)
                })
                .collect();
            for (group, value) in &moves {
                match value {
                    Some(v) => values.insert(group.clone(), *v),
                    None => values.remove(group),
                };
            }
            let moves: Vec<(&str, Option<f64>)> = moves.iter().map(|(g, v)| (g.as_str(), *v)).collect();
            list.update_all(&moves);
            if list.too_short() {
                list = TopList::of(values.iter().map(|(g, v)| (*v, g.clone())).collect());
                rebuilt += 1;
            }
            let first = list.first(100).expect("a list never shorter than the rebuild mark");
            assert_eq!(first, truth(&values, 100).as_slice(), "round {round}");
        }
        assert!(rebuilt > 0, "falls made the list short, and it was rebuilt");
        assert_eq!(TopList::decode(&list.encode()), Some(list));
    }
}
