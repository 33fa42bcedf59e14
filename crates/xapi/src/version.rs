//! xAPI versions.

use crate::ValidationError;

/// An xAPI version as carried by the `X-Experience-API-Version` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// xAPI 1.0.0
    V1_0_0,
    /// xAPI 1.0.1
    V1_0_1,
    /// xAPI 1.0.2
    V1_0_2,
    /// xAPI 1.0.3
    V1_0_3,
    /// xAPI 2.0.0 (IEEE 9274.1.1)
    V2_0_0,
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl Version {
    /// Parses an `X-Experience-API-Version` header value: "1.0", "1.0.x" or "2.0", "2.0.x".
    ///
    /// Patch versions of 1.0 above 3 map to [`Version::V1_0_3`] (the spec requires accepting any
    /// "1.0.x"); every "2.0.x" maps to [`Version::V2_0_0`].
    pub fn parse_header(s: &str) -> Result<Version, ValidationError> {
        let s = s.trim();
        let bad = || {
            ValidationError::new(
                "X-Experience-API-Version",
                format!("unsupported xAPI version \"{s}\" (expected \"1.0.x\" or \"2.0.x\")"),
            )
        };
        match s {
            "1.0" | "1.0.0" => return Ok(Version::V1_0_0),
            "1.0.1" => return Ok(Version::V1_0_1),
            "1.0.2" => return Ok(Version::V1_0_2),
            "1.0.3" => return Ok(Version::V1_0_3),
            "2.0" => return Ok(Version::V2_0_0),
            _ => {}
        }
        if let Some(patch) = s.strip_prefix("1.0.") {
            if is_digits(patch) {
                return Ok(Version::V1_0_3);
            }
        }
        if let Some(patch) = s.strip_prefix("2.0.") {
            if is_digits(patch) {
                return Ok(Version::V2_0_0);
            }
        }
        Err(bad())
    }

    /// True for xAPI 2.0.
    pub fn is_v2(self) -> bool {
        matches!(self, Version::V2_0_0)
    }

    /// The full version string, e.g. "1.0.3".
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0_0 => "1.0.0",
            Version::V1_0_1 => "1.0.1",
            Version::V1_0_2 => "1.0.2",
            Version::V1_0_3 => "1.0.3",
            Version::V2_0_0 => "2.0.0",
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values() {
        let cases = [
            ("1.0", Some(Version::V1_0_0)),
            ("1.0.0", Some(Version::V1_0_0)),
            ("1.0.1", Some(Version::V1_0_1)),
            ("1.0.2", Some(Version::V1_0_2)),
            ("1.0.3", Some(Version::V1_0_3)),
            ("1.0.9", Some(Version::V1_0_3)),
            ("2.0", Some(Version::V2_0_0)),
            ("2.0.0", Some(Version::V2_0_0)),
            ("2.0.7", Some(Version::V2_0_0)),
            ("0.95", None),
            ("1.1.0", None),
            ("1.0.", None),
            ("2.0.x", None),
            ("", None),
            ("3.0.0", None),
        ];
        for (s, want) in cases {
            assert_eq!(Version::parse_header(s).ok(), want, "{s}");
        }
        assert!(Version::V2_0_0.is_v2());
        assert!(!Version::V1_0_3.is_v2());
        assert_eq!(Version::V1_0_3.as_str(), "1.0.3");
    }
}
