//! Order-preserving encoding of key tuples.
//!
//! Every query-table key is a byte string made of typed parts. Comparing the
//! encoded bytes lexicographically gives the same order as comparing the
//! tuples part by part, so an ordered store (the embedded B-tree, or a
//! ScyllaDB `blob` clustering column) walks rows in tuple order.

/// Builds an encoded key from parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyBuilder(Vec<u8>);

impl KeyBuilder {
    /// An empty key.
    pub fn new() -> Self {
        Self(Vec::with_capacity(48))
    }

    /// Appends a string part (0x00 escaped as 0x00 0xFF, terminated by 0x00 0x01).
    pub fn str(mut self, s: &str) -> Self {
        // The runs between zero bytes are copied whole, not a byte at a time,
        // and found with memchr (SIMD), not a byte at a time either.
        let mut rest = s.as_bytes();
        self.0.reserve(rest.len() + 2);
        while let Some(zero) = memchr::memchr(0, rest) {
            self.0.extend_from_slice(&rest[..=zero]);
            self.0.push(0xFF);
            rest = &rest[zero + 1..];
        }
        self.0.extend_from_slice(rest);
        self.0.extend_from_slice(&[0, 1]);
        self
    }

    /// Appends a big-endian u64 part.
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian u32 part.
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends raw fixed-width bytes (for example a UUID).
    pub fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }

    /// The encoded key.
    pub fn build(self) -> Vec<u8> {
        self.0
    }

    /// The key so far, followed by a big-endian u32 part, in a vector of
    /// exactly that size (a clone then `u32` would grow the clone).
    pub fn with_u32(&self, v: u32) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.0.len() + 4);
        key.extend_from_slice(&self.0);
        key.extend_from_slice(&v.to_be_bytes());
        key
    }
}

/// Decodes a key made only of string parts back into them; `None` when it
/// holds other parts.
pub fn decode_strings(mut bytes: &[u8]) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    while !bytes.is_empty() {
        let (part, rest) = decode_string(bytes)?;
        parts.push(part);
        bytes = rest;
    }
    Some(parts)
}

/// Decodes the string part a key starts with; returns it and the rest of the key.
pub fn decode_string(mut bytes: &[u8]) -> Option<(String, &[u8])> {
    let mut part = Vec::new();
    loop {
        match bytes {
            [0, 1, rest @ ..] => return Some((String::from_utf8(part).ok()?, rest)),
            [0, 0xFF, rest @ ..] => {
                part.push(0);
                bytes = rest;
            }
            [b, rest @ ..] => {
                part.push(*b);
                bytes = rest;
            }
            [] => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_parts_sort_like_tuples() {
        let a = KeyBuilder::new().str("ab").u64(9).build();
        let b = KeyBuilder::new().str("ab\0").u64(1).build();
        let c = KeyBuilder::new().str("abc").u64(0).build();
        assert!(a < b && b < c);
        assert_ne!(KeyBuilder::new().str("a").str("bc").build(), KeyBuilder::new().str("ab").str("c").build());
    }

    #[test]
    fn string_keys_decode_back() {
        let key = KeyBuilder::new().str("a\0b").str("").str("c").build();
        assert_eq!(decode_strings(&key), Some(vec!["a\0b".to_owned(), String::new(), "c".to_owned()]));
        assert_eq!(decode_strings(&[1, 2]), None);
        let mixed = KeyBuilder::new().str("a").u32(7).build();
        assert_eq!(decode_string(&mixed), Some(("a".to_owned(), &7u32.to_be_bytes()[..])));
    }

    #[test]
    fn every_zero_byte_of_a_string_is_escaped() {
        let key = KeyBuilder::new().str("\0a\0\0").str("b").build();
        assert_eq!(key, [0, 0xFF, b'a', 0, 0xFF, 0, 0xFF, 0, 1, b'b', 0, 1]);
    }

    #[test]
    fn a_key_ended_with_a_u32_is_the_key_built_with_it() {
        let prefix = KeyBuilder::new().str("tenant").str("http://example.com/verbs/v1");
        let key = prefix.with_u32(0x0102_0304);
        assert_eq!(key, prefix.clone().u32(0x0102_0304).build());
        assert_eq!(key.capacity(), key.len());
    }

    #[test]
    fn integers_sort_numerically() {
        assert!(KeyBuilder::new().u64(255).build() < KeyBuilder::new().u64(256).build());
        assert!(KeyBuilder::new().u32(1).build() < KeyBuilder::new().u32(1 << 20).build());
    }
}
