//! The aggregate of one rollup group: counts and sums, and mergeable
//! sketches for what cannot be summed — distinct learners and (learner,
//! activity) pairs (exact up to 1,000, then HyperLogLog++ from the
//! `hyperloglogplus` crate) and scores and durations (DDSketch from the
//! `sketches-ddsketch` crate, 1% relative accuracy).

use std::hash::{BuildHasher, Hasher};

use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sketches_ddsketch::compact::{Compact, CompactSketch};
use sketches_ddsketch::{Config, DDSketch};

use super::fact::Fact;

/// Distinct values counted exactly up to here; a sketch beyond.
pub const EXACT_DISTINCT: usize = 1_000;

/// HyperLogLog++ precision: 2^14 registers, a standard error of 0.8%.
const HLL_PRECISION: u8 = 14;

/// The 64 bits a value is counted by: the start of its SHA-256, the same in
/// every process and every version (a sketch outlives the process that made it).
pub fn distinct_hash(value: &str) -> u64 {
    let digest = Sha256::digest(value.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Feeds the HyperLogLog the 64-bit hash it is given, as it is.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct PassThrough;

/// The hasher of [`PassThrough`].
#[derive(Default)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;

    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher::default()
    }
}

/// A HyperLogLog++ over 64-bit hashes.
type Hll = HyperLogLogPlus<u64, PassThrough>;

/// Distinct values: exact while few, a HyperLogLog++ beyond [`EXACT_DISTINCT`].
///
/// A row holds exact hashes as 8 bytes each (the variant `Packed`), copied
/// in and out in one piece: random 64-bit hashes as varints take 10 bytes
/// each and a loop to write and read (rows of an earlier version, variant
/// `Exact`, still read).
#[derive(Clone, Debug)]
pub enum Distinct {
    /// The hashes, sorted, without repeats.
    Exact(Vec<u64>),
    /// A sketch of them.
    Sketch(Box<Hll>),
}

/// How a [`Distinct`] is written in a row, by variant number.
#[derive(Deserialize)]
enum DistinctRow {
    /// Hashes as varints (rows written before `Packed`).
    Exact(Vec<u64>),
    /// A sketch.
    Sketch(Box<Hll>),
    /// Hashes as 8 little-endian bytes each.
    Packed(PackedHashes),
}

/// Hashes read from 8 little-endian bytes each.
struct PackedHashes(Vec<u64>);

impl<'de> Deserialize<'de> for PackedHashes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PackedHashes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("8 bytes per hash")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<PackedHashes, E> {
                if !bytes.len().is_multiple_of(8) {
                    return Err(E::invalid_length(bytes.len(), &self));
                }
                let hashes = bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")));
                Ok(PackedHashes(hashes.collect()))
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

/// Bytes written as bytes (one length, then the bytes as they are).
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl Serialize for Distinct {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Distinct::Exact(hashes) => {
                let bytes: Vec<u8> = hashes.iter().flat_map(|hash| hash.to_le_bytes()).collect();
                serializer.serialize_newtype_variant("Distinct", 2, "Packed", &RawBytes(&bytes))
            }
            Distinct::Sketch(hll) => serializer.serialize_newtype_variant("Distinct", 1, "Sketch", hll),
        }
    }
}

impl<'de> Deserialize<'de> for Distinct {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match DistinctRow::deserialize(deserializer)? {
            DistinctRow::Exact(hashes) | DistinctRow::Packed(PackedHashes(hashes)) => Distinct::Exact(hashes),
            DistinctRow::Sketch(hll) => Distinct::Sketch(hll),
        })
    }
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Exact(Vec::new())
    }
}

fn new_hll() -> Hll {
    HyperLogLogPlus::new(HLL_PRECISION, PassThrough).expect("a valid precision")
}

impl Distinct {
    /// Counts one more value (by its hash).
    pub fn insert(&mut self, hash: u64) {
        match self {
            Distinct::Exact(hashes) => {
                if let Err(at) = hashes.binary_search(&hash) {
                    hashes.insert(at, hash);
                    if hashes.len() > EXACT_DISTINCT {
                        self.become_sketch();
                    }
                }
            }
            Distinct::Sketch(hll) => hll.insert(&hash),
        }
    }

    fn become_sketch(&mut self) {
        if let Distinct::Exact(hashes) = self {
            let mut hll = new_hll();
            for hash in hashes.iter() {
                hll.insert(hash);
            }
            *self = Distinct::Sketch(Box::new(hll));
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Distinct) {
        match (&mut *self, other) {
            // Two sorted lists: one pass (inserting one by one shifts the
            // list once per value).
            (Distinct::Exact(ours), Distinct::Exact(theirs)) if theirs.len() > 4 => {
                let mut merged = Vec::with_capacity(ours.len() + theirs.len());
                let (mut a, mut b) = (ours.iter().peekable(), theirs.iter().peekable());
                while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
                    match x.cmp(y) {
                        std::cmp::Ordering::Less => merged.push(*a.next().expect("peeked")),
                        std::cmp::Ordering::Greater => merged.push(*b.next().expect("peeked")),
                        std::cmp::Ordering::Equal => {
                            merged.push(*a.next().expect("peeked"));
                            b.next();
                        }
                    }
                }
                merged.extend(a);
                merged.extend(b);
                *ours = merged;
                if ours.len() > EXACT_DISTINCT {
                    self.become_sketch();
                }
            }
            (_, Distinct::Exact(hashes)) => hashes.iter().for_each(|hash| self.insert(*hash)),
            (_, Distinct::Sketch(theirs)) => {
                self.become_sketch();
                if let Distinct::Sketch(ours) = self {
                    ours.merge(theirs).expect("sketches of one precision merge");
                }
            }
        }
    }

    /// How many distinct values: exact up to [`EXACT_DISTINCT`], estimated beyond.
    pub fn count(&self) -> u64 {
        match self {
            Distinct::Exact(hashes) => hashes.len() as u64,
            Distinct::Sketch(hll) => (**hll).clone().count().round() as u64,
        }
    }
}

fn new_sketch() -> DDSketch {
    DDSketch::new(Config::defaults())
}

/// The hashes a fact is counted by in distinct counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct FactHashes {
    /// Of its learner.
    pub learner: Option<u64>,
    /// Of its (learner, activity) pair.
    pub pair: Option<u64>,
}

impl FactHashes {
    /// The hashes of a fact.
    pub fn of(fact: &Fact) -> Self {
        let learner = fact.learner.as_deref();
        let pair = learner.zip(fact.activity.as_deref()).map(|(l, a)| distinct_hash(&format!("{l}\u{0}{a}")));
        Self { learner: learner.map(distinct_hash), pair }
    }
}

/// The first byte of a row in the compact form: a row of the earlier form
/// starts with its statements as a varint, never 0 (a group that counts
/// nothing is deleted, and a delta counts at least one statement).
const COMPACT_MARK: u8 = 0;

/// The version of the compact form, after [`COMPACT_MARK`].
const COMPACT_VERSION: u8 = 1;

/// What one group's statements add up to.
///
/// A row holds it in the compact form: [`COMPACT_MARK`], [`COMPACT_VERSION`],
/// then the fields in order, its sketches with only their bins that count
/// (see `sketches_ddsketch::compact`). Rows of the earlier form, every bin
/// written, still read.
#[derive(Clone)]
pub struct Aggregate {
    /// Statements.
    pub statements: u64,
    /// Statements with `result.success` set.
    pub success_set: u64,
    /// Statements with `result.success` true.
    pub success_true: u64,
    /// Sum of `result.score.scaled`.
    pub score_sum: f64,
    /// Statements with `result.score.scaled`.
    pub score_count: u64,
    /// `result.score.scaled`, sketched.
    pub scores: DDSketch,
    /// `result.duration` in seconds, sketched.
    pub durations: DDSketch,
    /// Distinct learners.
    pub learners: Distinct,
    /// Distinct (learner, activity) pairs seen.
    pub pairs: Distinct,
    /// Distinct (learner, activity) pairs completed.
    pub completed: Distinct,
}

impl std::fmt::Debug for Aggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregate")
            .field("statements", &self.statements)
            .field("learners", &self.learners.count())
            .field("scores", &self.scores.count())
            .field("durations", &self.durations.count())
            .finish_non_exhaustive()
    }
}

impl Default for Aggregate {
    fn default() -> Self {
        Self {
            statements: 0,
            success_set: 0,
            success_true: 0,
            score_sum: 0.0,
            score_count: 0,
            scores: new_sketch(),
            durations: new_sketch(),
            learners: Distinct::default(),
            pairs: Distinct::default(),
            completed: Distinct::default(),
        }
    }
}

impl Aggregate {
    /// Counts one statement.
    pub fn add(&mut self, fact: &Fact) {
        self.add_hashed(fact, FactHashes::of(fact));
    }

    /// Counts one statement whose distinct hashes are computed already (a
    /// fact counts in a dozen groups; its hashes are the same in each).
    pub fn add_hashed(&mut self, fact: &Fact, hashes: FactHashes) {
        self.statements += 1;
        if let Some(success) = fact.success {
            self.success_set += 1;
            self.success_true += u64::from(success);
        }
        if let Some(score) = fact.score.filter(|s| s.is_finite()) {
            self.score_sum += score;
            self.score_count += 1;
            self.scores.add(score);
        }
        if let Some(duration) = fact.duration.filter(|d| d.is_finite()) {
            self.durations.add(duration);
        }
        if let Some(learner) = hashes.learner {
            self.learners.insert(learner);
        }
        if let Some(pair) = hashes.pair {
            self.pairs.insert(pair);
            if fact.completes {
                self.completed.insert(pair);
            }
        }
    }

    /// Adds another group's statements.
    pub fn merge(&mut self, other: &Aggregate) {
        self.statements += other.statements;
        self.success_set += other.success_set;
        self.success_true += other.success_true;
        self.score_sum += other.score_sum;
        self.score_count += other.score_count;
        self.scores.merge(&other.scores).expect("sketches of one configuration merge");
        self.durations.merge(&other.durations).expect("sketches of one configuration merge");
        self.learners.merge(&other.learners);
        self.pairs.merge(&other.pairs);
        self.completed.merge(&other.completed);
    }

    /// About how many bytes it takes in memory (a sketch of distinct values
    /// counted at its dense size).
    pub fn weight(&self) -> usize {
        let distinct = |d: &Distinct| match d {
            Distinct::Exact(hashes) => hashes.len() * 8,
            Distinct::Sketch(_) => 1 << HLL_PRECISION,
        };
        let bins = |s: &DDSketch| s.length().min(4_096) * 8;
        256 + distinct(&self.learners)
            + distinct(&self.pairs)
            + distinct(&self.completed)
            + bins(&self.scores)
            + bins(&self.durations)
    }

    /// The row value, in the compact form.
    pub fn encode(&self) -> Vec<u8> {
        let row = (
            (self.statements, self.success_set, self.success_true, self.score_sum, self.score_count),
            Compact(&self.scores),
            Compact(&self.durations),
            &self.learners,
            &self.pairs,
            &self.completed,
        );
        postcard::to_extend(&row, vec![COMPACT_MARK, COMPACT_VERSION]).expect("aggregates serialise")
    }

    /// Reads a row value back (of either form).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        Self::decode_parts(bytes, Parts::All)
    }

    /// Reads back only the leading `parts` of a row (the fields are written
    /// in this order), leaving the rest empty: a question about counts does
    /// not decode sketches and hash lists.
    pub fn decode_parts(bytes: &[u8], parts: Parts) -> Option<Self> {
        type Counts = (u64, u64, u64, f64, u64);
        // Both forms write the fields in the same order; only the sketches differ.
        let (bytes, compact) = match bytes.strip_prefix(&[COMPACT_MARK]) {
            Some(rest) => (rest.strip_prefix(&[COMPACT_VERSION])?, true),
            None => (bytes, false),
        };
        let sketch = |bytes| match compact {
            true => postcard::take_from_bytes::<CompactSketch>(bytes).ok().map(|(CompactSketch(s), rest)| (s, rest)),
            false => postcard::take_from_bytes::<DDSketch>(bytes).ok(),
        };
        let (counts, bytes) = postcard::take_from_bytes::<Counts>(bytes).ok()?;
        let (statements, success_set, success_true, score_sum, score_count) = counts;
        let mut aggregate = Self { statements, success_set, success_true, score_sum, score_count, ..Self::default() };
        if parts == Parts::Counts {
            return Some(aggregate);
        }
        let (scores, bytes) = sketch(bytes)?;
        aggregate.scores = scores;
        if parts == Parts::Scores {
            return Some(aggregate);
        }
        let (durations, bytes) = sketch(bytes)?;
        aggregate.durations = durations;
        if parts == Parts::Durations {
            return Some(aggregate);
        }
        let (learners, bytes) = postcard::take_from_bytes::<Distinct>(bytes).ok()?;
        aggregate.learners = learners;
        if parts == Parts::Learners {
            return Some(aggregate);
        }
        let ((pairs, completed), rest) = postcard::take_from_bytes::<(Distinct, Distinct)>(bytes).ok()?;
        if compact && !rest.is_empty() {
            return None;
        }
        aggregate.pairs = pairs;
        aggregate.completed = completed;
        Some(aggregate)
    }
}

/// How much of an aggregate a question needs, in the order its fields are
/// written: each part includes those before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parts {
    /// Counts and sums.
    Counts,
    /// And the scores' sketch.
    Scores,
    /// And the durations' sketch.
    Durations,
    /// And the distinct learners.
    Learners,
    /// Everything (with the (learner, activity) pairs).
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_counts_are_exact_up_to_a_thousand_and_within_two_percent_beyond() {
        let mut few = Distinct::default();
        for n in 0..999 {
            few.insert(distinct_hash(&format!("learner-{n}")));
            few.insert(distinct_hash(&format!("learner-{n}")));
        }
        assert_eq!(few.count(), 999);
        for total in [1_001u64, 5_000, 50_000] {
            let mut many = Distinct::default();
            let mut halves = (Distinct::default(), Distinct::default());
            for n in 0..total {
                let hash = distinct_hash(&format!("learner-{n}"));
                many.insert(hash);
                if n % 2 == 0 {
                    halves.0.insert(hash)
                } else {
                    halves.1.insert(hash)
                }
            }
            let error = (many.count() as f64 - total as f64).abs() / total as f64;
            assert!(error <= 0.02, "{total}: counted {}", many.count());
            halves.0.merge(&halves.1);
            let error = (halves.0.count() as f64 - total as f64).abs() / total as f64;
            assert!(error <= 0.02, "{total} merged: counted {}", halves.0.count());
        }
    }

    #[test]
    fn exact_hashes_are_written_packed_and_rows_of_varints_still_read() {
        let hashes: Vec<u64> = (0..300u64).map(|n| distinct_hash(&n.to_string())).collect();
        let mut sorted = hashes.clone();
        sorted.sort_unstable();
        let mut distinct = Distinct::default();
        hashes.iter().for_each(|h| distinct.insert(*h));
        let row = postcard::to_stdvec(&distinct).unwrap();
        // Variant 2, a varint length of 2,400 bytes, then 8 bytes per hash.
        assert_eq!(row.len(), 1 + 2 + 8 * 300);
        let Distinct::Exact(back) = postcard::from_bytes::<Distinct>(&row).unwrap() else { panic!("exact") };
        assert_eq!(back, sorted);
        // What an earlier version wrote: variant 0 and the hashes as varints.
        #[derive(Serialize)]
        enum Earlier {
            Exact(Vec<u64>),
        }
        let earlier = postcard::to_stdvec(&Earlier::Exact(sorted.clone())).unwrap();
        let Distinct::Exact(back) = postcard::from_bytes::<Distinct>(&earlier).unwrap() else { panic!("exact") };
        assert_eq!(back, sorted);
        assert!(postcard::from_bytes::<Distinct>(&[2, 3, 1, 2, 3]).is_err(), "not a multiple of 8 bytes");
    }

    #[test]
    fn merging_lists_counts_what_inserting_each_value_counts() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for (left, right) in [(0, 10), (500, 3), (400, 400), (700, 600), (10, 0), (990, 20)] {
            let pick = |rng: &mut rand::rngs::StdRng, n: usize| -> Vec<u64> {
                (0..n).map(|_| distinct_hash(&rng.gen_range(0..1_500u32).to_string())).collect()
            };
            let (a, b) = (pick(&mut rng, left), pick(&mut rng, right));
            let (mut merged, mut other, mut one_by_one) =
                (Distinct::default(), Distinct::default(), Distinct::default());
            a.iter().for_each(|h| merged.insert(*h));
            b.iter().for_each(|h| other.insert(*h));
            a.iter().chain(&b).for_each(|h| one_by_one.insert(*h));
            merged.merge(&other);
            let truth: std::collections::BTreeSet<u64> = a.iter().chain(&b).copied().collect();
            match (&merged, &one_by_one) {
                (Distinct::Exact(m), Distinct::Exact(o)) => {
                    assert_eq!(m, o);
                    assert_eq!(m.iter().copied().collect::<std::collections::BTreeSet<_>>(), truth);
                }
                (Distinct::Sketch(_), Distinct::Sketch(_)) => assert!(truth.len() > EXACT_DISTINCT),
                _ => panic!("{left} + {right}: one exact, one sketched"),
            }
            let error = (merged.count() as f64 - truth.len() as f64).abs() / truth.len().max(1) as f64;
            assert!(error <= 0.02, "{left} + {right}: {} of {}", merged.count(), truth.len());
        }
    }

    #[test]
    fn merged_sketches_hold_what_one_sketch_of_every_value_holds() {
        // Sketches (past the exact lists) merged two by two, sparse and
        // dense both ways, against one sketch that saw every value: the
        // same registers or codes, so the same row and the same count.
        let sketch_of = |values: std::ops::Range<u64>| {
            let mut distinct = Distinct::default();
            values.for_each(|n| distinct.insert(distinct_hash(&format!("learner-{n}"))));
            assert!(matches!(distinct, Distinct::Sketch(_)), "past {EXACT_DISTINCT}: a sketch");
            distinct
        };
        for (left, right) in [
            (0..1_500, 1_000..2_600),     // sparse and sparse
            (0..1_500, 1_000..60_000),    // sparse and dense
            (0..60_000, 50_000..51_200),  // dense and sparse
            (0..60_000, 30_000..120_000), // dense and dense
            (0..200_000, 0..200_000),     // dense and itself
        ] {
            let mut merged = sketch_of(left.clone());
            merged.merge(&sketch_of(right.clone()));
            let mut everything = Distinct::default();
            left.clone().chain(right.clone()).for_each(|n| everything.insert(distinct_hash(&format!("learner-{n}"))));
            let (mut merged, mut everything) = match (merged, everything) {
                (Distinct::Sketch(a), Distinct::Sketch(b)) => (a, b),
                _ => panic!("{left:?} + {right:?}: not sketches"),
            };
            // Counting moves the codes not yet in order into the list.
            assert_eq!(merged.count(), everything.count(), "{left:?} + {right:?}");
            assert_eq!(
                postcard::to_stdvec(&merged).unwrap(),
                postcard::to_stdvec(&everything).unwrap(),
                "{left:?} + {right:?}: the same row"
            );
            let truth = (left.start.min(right.start)..left.end.max(right.end)).count() as f64;
            let error = (merged.count() - truth).abs() / truth;
            assert!(error <= 0.02, "{left:?} + {right:?}: {} of {truth}", merged.count());
        }
    }

    #[test]
    fn sketches_read_and_are_written_as_the_published_crate_wrote_them() {
        // hyperloglogplus 0.4.1 as published (its set of new codes hashed
        // with SipHash) wrote this sketch of learners 0..150: by its rule
        // (a list once the set passes 131 codes), 132 codes in its list
        // and the other 18 in its set.
        let bytes = |hex: &str| -> Vec<u8> {
            let hex = hex.trim();
            (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap()).collect()
        };
        let mut row = vec![1u8]; // the Sketch variant of a Distinct
        row.extend(bytes(include_str!("testdata/sparse-sketch-hyperloglogplus-0.4.1.hex")));
        let Distinct::Sketch(mut earlier) = postcard::from_bytes::<Distinct>(&row).unwrap() else { panic!("a sketch") };
        let mut now = new_hll();
        (0..150).for_each(|n| now.insert(&distinct_hash(&format!("learner-{n}"))));
        assert_eq!(earlier.count(), now.count());
        assert_eq!(earlier.count().round(), 150.0);
        assert_eq!(postcard::to_stdvec(&earlier).unwrap(), postcard::to_stdvec(&now).unwrap());

        // Sketches of learners 0..3,000 (a sorted list of codes) and
        // 0..8,000 (dense registers), counted, as the published crate
        // writes them: this crate makes the same rows of the same values.
        for (learners, hex) in [
            (3_000, include_str!("testdata/sketch-of-3000-hyperloglogplus-0.4.1.hex")),
            (8_000, include_str!("testdata/sketch-of-8000-hyperloglogplus-0.4.1.hex")),
        ] {
            let published = bytes(hex);
            let mut now = new_hll();
            (0..learners).for_each(|n| now.insert(&distinct_hash(&format!("learner-{n}"))));
            let estimate = now.count();
            assert_eq!(postcard::to_stdvec(&now).unwrap(), published, "{learners} learners");
            assert!((estimate - f64::from(learners)).abs() / f64::from(learners) <= 0.02, "{learners}: {estimate}");
        }
    }

    /// A sketch's every field, as the derived form writes them.
    fn fields(sketch: &DDSketch) -> Vec<u8> {
        postcard::to_stdvec(sketch).unwrap()
    }

    #[test]
    fn sketches_read_back_field_for_field_from_rows_of_their_counted_bins() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut sketches = vec![new_sketch()];
        let mut one = new_sketch();
        one.add(0.42);
        sketches.push(one);
        // Zeros, negatives, and values over a range wide enough to collapse
        // the store's lowest bins (more than its 2,048).
        type Draw = fn(&mut rand::rngs::StdRng) -> f64;
        let draws: [(usize, Draw); 4] = [
            (50, |rng| rng.gen_range(0.0..1.0)),
            (500, |rng| rng.gen_range(-3_600.0..3_600.0)),
            (3_000, |rng| 10f64.powf(rng.gen_range(-9.0..12.0))),
            (200, |_| 0.0),
        ];
        for (n, draw) in draws {
            let mut sketch = new_sketch();
            for _ in 0..n {
                sketch.add(draw(&mut rng));
            }
            sketches.push(sketch);
        }
        let mut merged = new_sketch();
        for sketch in &sketches {
            merged.merge(sketch).unwrap();
        }
        sketches.push(merged);
        for sketch in &sketches {
            let row = postcard::to_stdvec(&Compact(sketch)).unwrap();
            let CompactSketch(back) = postcard::from_bytes(&row).unwrap();
            assert_eq!(fields(&back), fields(sketch), "{} values", sketch.count());
            assert!(row.len() <= fields(sketch).len(), "{} values: {} bytes", sketch.count(), row.len());
        }
        assert_eq!(
            postcard::to_stdvec(&Compact(&new_sketch())).unwrap().len(),
            3 + 3 * 8 + 1,
            "an empty sketch: three tags"
        );
        assert_eq!(sketches[4].length(), 2_048, "the wide one collapsed its lowest bins");
    }

    /// A successful, completing fact of learner `n` on activity `a`, scored
    /// 0.9, of ten minutes.
    fn learner_fact(n: u32) -> Fact {
        Fact {
            id: uuid::Uuid::new_v4(),
            timestamp_micros: 0,
            learner: Some(format!("l{n}")),
            verb: "v".into(),
            activity: Some("a".into()),
            parents: vec![],
            platform: None,
            source: None,
            success: Some(true),
            completes: true,
            score: Some(0.9),
            duration: Some(600.0),
        }
    }

    #[test]
    fn an_aggregate_row_holds_its_counted_bins_and_rows_of_every_bin_still_read() {
        let mut aggregate = Aggregate::default();
        aggregate.add(&learner_fact(1));
        let row = aggregate.encode();
        // What an earlier version wrote: the derived form, every bin.
        let earlier = postcard::to_stdvec(&(
            (aggregate.statements, aggregate.success_set, aggregate.success_true),
            (aggregate.score_sum, aggregate.score_count),
            &aggregate.scores,
            &aggregate.durations,
            (&aggregate.learners, &aggregate.pairs, &aggregate.completed),
        ))
        .unwrap();
        assert_eq!(row[..2], [0, 1], "the mark and the version");
        assert!(earlier[0] != 0, "a row of the earlier form starts with its statements");
        // One value in each sketch: 128 bins each, written as one.
        assert!(earlier.len() > 256 && row.len() < earlier.len() - 200, "{} against {}", row.len(), earlier.len());
        for bytes in [&row, &earlier] {
            for parts in [Parts::Counts, Parts::Scores, Parts::Durations, Parts::Learners, Parts::All] {
                let back = Aggregate::decode_parts(bytes, parts).unwrap();
                assert_eq!((back.statements, back.success_true, back.score_count), (1, 1, 1));
                let has = |part| parts as u8 >= part as u8;
                assert_eq!(back.scores.count(), usize::from(has(Parts::Scores)), "{parts:?}");
                assert_eq!(back.durations.count(), usize::from(has(Parts::Durations)), "{parts:?}");
                assert_eq!(back.learners.count(), u64::from(has(Parts::Learners)), "{parts:?}");
                assert_eq!(back.completed.count(), u64::from(has(Parts::All)), "{parts:?}");
            }
            let back = Aggregate::decode(bytes).unwrap();
            assert_eq!(fields(&back.scores), fields(&aggregate.scores));
            assert_eq!(fields(&back.durations), fields(&aggregate.durations));
        }
        // A row cut short, a store's bins past its length, or a length no
        // sketch has: not read, and no panic.
        assert!(Aggregate::decode(&row[..row.len() - 1]).is_none());
        assert!(Aggregate::decode(&[0, 2]).is_none(), "an unknown version");
        #[derive(Serialize)]
        struct StoreRow {
            len: u32,
            offset: i32,
            count: u64,
            min_key: i32,
            max_key: i32,
            bin_limit: u64,
            is_collapsed: bool,
            first: u32,
            // LEB128 varints (postcard writes a `Vec<u8>` as bytes).
            bins: Vec<u8>,
        }
        let store = |len: u32, first: u32, bins: &[u8]| {
            let count = bins.iter().map(|b| u64::from(*b)).sum();
            let (min_key, max_key) = (first as i32, first as i32 + bins.len() as i32 - 1);
            let (offset, bin_limit, is_collapsed, bins) = (0, 2_048, false, bins.to_vec());
            let store = StoreRow { len, offset, count, min_key, max_key, bin_limit, is_collapsed, first, bins };
            let sketch = (None::<u8>, Some(store), None::<u8>, 0.5, 0.5, 0.5, 0u64);
            postcard::to_extend(&((1u64, 0u64, 0u64, 0.5, 1u64), sketch), vec![0, 1]).unwrap()
        };
        assert!(Aggregate::decode_parts(&store(128, 0, &[1]), Parts::Scores).is_some(), "the shape is right");
        assert!(Aggregate::decode_parts(&store(128, 128, &[1]), Parts::Scores).is_none());
        assert!(Aggregate::decode_parts(&store(u32::MAX, 0, &[1]), Parts::Scores).is_none());
        assert!(Aggregate::decode_parts(&store(128, 0, &[1, 0x81]), Parts::Scores).is_none(), "a bin cut short");
        assert!(Aggregate::decode_parts(&store(128, 0, &[0xff; 11]), Parts::Scores).is_none(), "over 64 bits");
    }

    #[test]
    fn an_aggregate_round_trips_and_merges() {
        let fact = |n: u32, score: f64| Fact {
            success: Some(n.is_multiple_of(2)),
            completes: n.is_multiple_of(3),
            score: Some(score),
            duration: Some(f64::from(n)),
            ..learner_fact(n)
        };
        let (mut a, mut b) = (Aggregate::default(), Aggregate::default());
        for n in 0..10 {
            a.add(&fact(n, f64::from(n) / 10.0));
        }
        for n in 5..20 {
            b.add(&fact(n, -0.5));
        }
        let a = Aggregate::decode(&a.encode()).unwrap();
        let counts = Aggregate::decode_parts(&a.encode(), Parts::Counts).unwrap();
        assert_eq!((counts.statements, counts.success_true, counts.score_count), (10, 5, 10));
        assert_eq!(counts.scores.count(), 0, "counts only");
        let learners = Aggregate::decode_parts(&a.encode(), Parts::Learners).unwrap();
        assert_eq!((learners.learners.count(), learners.durations.count(), learners.pairs.count()), (10, 10, 0));
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(merged.statements, 25);
        assert_eq!(merged.learners.count(), 20, "learners 5..9 count once");
        assert_eq!(merged.completed.count(), 7, "0, 3, …, 18");
        assert_eq!(merged.success_true, 5 + 7);
        let median = merged.scores.quantile(0.5).unwrap().unwrap();
        assert!((median - -0.5).abs() <= 0.005, "{median}");
    }
}
