//! Tenant identity.

use std::fmt;

/// Identifier of a tenant: 1–64 characters of `a-z`, `0-9`, `-` and `_`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

/// A string that is not a valid tenant id.
#[derive(Debug, thiserror::Error)]
#[error("invalid tenant id {0:?}: use 1-64 characters of a-z, 0-9, '-' and '_'")]
pub struct InvalidTenantId(String);

impl TenantId {
    /// Parses and validates a tenant id.
    pub fn parse(s: &str) -> Result<Self, InvalidTenantId> {
        let valid = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidTenantId(s.to_owned()))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for TenantId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        TenantId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_simple_ids_and_rejects_others() {
        assert!(TenantId::parse("default").is_ok());
        assert!(TenantId::parse("acme-01_x").is_ok());
        for bad in ["", "Acme", "a b", "a/b", &"x".repeat(65)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
