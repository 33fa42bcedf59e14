//! PATCH (lrs): a compact serde form of a sketch.
//!
//! The derived form writes every bin of both stores, and a store that holds
//! any value has at least 128 bins (they grow in chunks of 128), mostly
//! zeros. This form writes a sketch that was never added to as one tag, a
//! store that was never added to as one tag, the default configuration as
//! one tag, and of a store's bins only the stretch from its first bin that
//! is not zero to its last. It reads back to the same sketch, field for
//! field: the bins' length and offset are written, and the zeros around the
//! stretch are put back.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::Config;
use crate::ddsketch::DDSketch;
use crate::store::Store;

/// The most bins a store read back may have: a row that claims more is
/// refused instead of allocated (the default configuration has 2,048).
const MAX_BINS: usize = 1 << 20;

/// A sketch written in the compact form.
pub struct Compact<'a>(pub &'a DDSketch);

/// A sketch read from the compact form.
pub struct CompactSketch(pub DDSketch);

#[derive(Serialize)]
struct SketchRef<'a> {
    config: Option<&'a Config>,
    store: Option<StoreRef<'a>>,
    negative_store: Option<StoreRef<'a>>,
    min: f64,
    max: f64,
    sum: f64,
    zero_count: u64,
}

#[derive(Serialize)]
struct StoreRef<'a> {
    len: u32,
    offset: i32,
    count: u64,
    min_key: i32,
    max_key: i32,
    bin_limit: u64,
    is_collapsed: bool,
    first: u32,
    bins: PackedBins<'a>,
}

#[derive(Deserialize)]
struct SketchRow {
    config: Option<Config>,
    store: Option<StoreRow>,
    negative_store: Option<StoreRow>,
    min: f64,
    max: f64,
    sum: f64,
    zero_count: u64,
}

#[derive(Deserialize)]
struct StoreRow {
    len: u32,
    offset: i32,
    count: u64,
    min_key: i32,
    max_key: i32,
    bin_limit: u64,
    is_collapsed: bool,
    first: u32,
    bins: UnpackedBins,
}

/// Bins written as one byte string of LEB128 varints (one call to the
/// serializer instead of one a bin).
struct PackedBins<'a>(&'a [u64]);

impl Serialize for PackedBins<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::with_capacity(self.0.len() * 2);
        for &bin in self.0 {
            let mut value = bin;
            while value >= 0x80 {
                bytes.push((value as u8) | 0x80);
                value >>= 7;
            }
            bytes.push(value as u8);
        }
        serializer.serialize_bytes(&bytes)
    }
}

/// Bins read from [`PackedBins`].
struct UnpackedBins(Vec<u64>);

impl<'de> Deserialize<'de> for UnpackedBins {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = UnpackedBins;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bins as LEB128 varints")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<UnpackedBins, E> {
                let mut bins = Vec::with_capacity(bytes.len());
                let (mut value, mut shift) = (0u64, 0u32);
                for &byte in bytes {
                    if shift > 63 {
                        return Err(E::custom("a bin of more than 64 bits"));
                    }
                    value |= u64::from(byte & 0x7f) << shift;
                    if byte & 0x80 == 0 {
                        bins.push(value);
                        value = 0;
                        shift = 0;
                    } else {
                        shift += 7;
                    }
                }
                if shift != 0 {
                    return Err(E::custom("a bin cut short"));
                }
                Ok(UnpackedBins(bins))
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

/// Whether a store is as `Store::new(bin_limit)` made it.
fn untouched(store: &Store, bin_limit: usize) -> bool {
    store.bins.is_empty()
        && store.count == 0
        && store.min_key == i32::MAX
        && store.max_key == i32::MIN
        && store.offset == 0
        && store.bin_limit == bin_limit
        && !store.is_collapsed
}

fn store_ref(store: &Store, bin_limit: usize) -> Option<StoreRef<'_>> {
    if untouched(store, bin_limit) {
        return None;
    }
    let first = store.bins.iter().position(|b| *b != 0).unwrap_or(store.bins.len());
    let last = store.bins.iter().rposition(|b| *b != 0).map_or(first, |l| l + 1);
    Some(StoreRef {
        len: store.bins.len() as u32,
        offset: store.offset,
        count: store.count,
        min_key: store.min_key,
        max_key: store.max_key,
        bin_limit: store.bin_limit as u64,
        is_collapsed: store.is_collapsed,
        first: first as u32,
        bins: PackedBins(&store.bins[first..last]),
    })
}

fn store_of(row: Option<StoreRow>, bin_limit: usize) -> Result<Store, &'static str> {
    let Some(row) = row else { return Ok(Store::new(bin_limit)) };
    let len = row.len as usize;
    let first = row.first as usize;
    let UnpackedBins(stretch) = row.bins;
    if len > MAX_BINS || row.bin_limit > MAX_BINS as u64 {
        return Err("a store of more bins than a sketch has");
    }
    if first.checked_add(stretch.len()).map_or(true, |end| end > len) {
        return Err("a store's bins past its length");
    }
    let mut bins = vec![0; len];
    bins[first..first + stretch.len()].copy_from_slice(&stretch);
    Ok(Store {
        bins,
        count: row.count,
        min_key: row.min_key,
        max_key: row.max_key,
        offset: row.offset,
        bin_limit: row.bin_limit as usize,
        is_collapsed: row.is_collapsed,
    })
}

impl Serialize for Compact<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let sketch = self.0;
        let defaults = Config::defaults();
        let config = (sketch.config != defaults).then_some(&sketch.config);
        let bin_limit = sketch.config.max_num_bins as usize;
        SketchRef {
            config,
            store: store_ref(&sketch.store, bin_limit),
            negative_store: store_ref(&sketch.negative_store, bin_limit),
            min: sketch.min,
            max: sketch.max,
            sum: sketch.sum,
            zero_count: sketch.zero_count,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CompactSketch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let row = SketchRow::deserialize(deserializer)?;
        let config = row.config.unwrap_or_default();
        let bin_limit = config.max_num_bins as usize;
        let store = store_of(row.store, bin_limit).map_err(serde::de::Error::custom)?;
        let negative_store = store_of(row.negative_store, bin_limit).map_err(serde::de::Error::custom)?;
        Ok(CompactSketch(DDSketch {
            config,
            store,
            negative_store,
            min: row.min,
            max: row.max,
            sum: row.sum,
            zero_count: row.zero_count,
        }))
    }
}
