//! ISO 8601 / RFC 3339 timestamps.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

use crate::ValidationError;

/// How strictly a timestamp string is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strictness {
    /// Statement property: a time zone is required and the "unknown offset" `-00:00` is rejected.
    Statement,
    /// Query parameters: a missing zone means UTC, `-00:00` is accepted.
    Lenient,
}

/// A parsed timestamp with the number of fraction digits it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParsedTimestamp {
    /// The instant.
    pub(crate) instant: DateTime<FixedOffset>,
    /// How many digits followed the decimal point of the seconds (0 when none).
    pub(crate) fraction_digits: usize,
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        if self.i + n > self.b.len() {
            return None;
        }
        let mut v = 0u32;
        for k in 0..n {
            let c = self.b[self.i + k];
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        self.i += n;
        Some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
}

/// Parses `YYYY-MM-DDThh:mm:ss[.f+](Z|±hh[:mm]|±hhmm)`.
pub(crate) fn parse(s: &str, strictness: Strictness) -> Result<ParsedTimestamp, String> {
    const FORMAT: &str = "must be an ISO 8601 timestamp such as \"2024-05-04T17:00:00.000Z\"";
    let mut c = Cursor { b: s.as_bytes(), i: 0 };
    let date = (|| {
        let y = c.digits(4)?;
        c.eat(b'-').then_some(())?;
        let m = c.digits(2)?;
        c.eat(b'-').then_some(())?;
        let d = c.digits(2)?;
        Some((y, m, d))
    })();
    let Some((y, m, d)) = date else {
        return Err(FORMAT.into());
    };
    let date = NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(|| format!("{s:?} is not a valid calendar date"))?;
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return Err(FORMAT.into());
    }
    let time = (|| {
        let h = c.digits(2)?;
        c.eat(b':').then_some(())?;
        let mi = c.digits(2)?;
        c.eat(b':').then_some(())?;
        let se = c.digits(2)?;
        Some((h, mi, se))
    })();
    let Some((h, mi, se)) = time else {
        return Err(FORMAT.into());
    };
    let mut nanos = 0u32;
    let mut fraction_digits = 0usize;
    if c.eat(b'.') || c.eat(b',') {
        let start = c.i;
        while matches!(c.peek(), Some(b'0'..=b'9')) {
            if fraction_digits < 9 {
                nanos = nanos * 10 + u32::from(c.b[c.i] - b'0');
            }
            fraction_digits += 1;
            c.i += 1;
        }
        if c.i == start {
            return Err("the seconds fraction must have at least one digit".into());
        }
        for _ in fraction_digits.min(9)..9 {
            nanos *= 10;
        }
    }
    let time = NaiveTime::from_hms_nano_opt(h, mi, se, nanos)
        .filter(|_| se < 60)
        .ok_or_else(|| format!("{s:?} is not a valid time of day"))?;
    let offset_secs: i32 = match c.peek() {
        None => match strictness {
            Strictness::Statement => return Err("must include a time zone offset (\"Z\" or \"+hh:mm\")".into()),
            Strictness::Lenient => 0,
        },
        Some(b'Z') | Some(b'z') => {
            c.i += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.i += 1;
            let oh = c.digits(2).ok_or_else(|| FORMAT.to_string())?;
            let om = if c.eat(b':') {
                c.digits(2).ok_or_else(|| FORMAT.to_string())?
            } else if c.peek().is_some() {
                c.digits(2).ok_or_else(|| FORMAT.to_string())?
            } else {
                0
            };
            if oh > 23 || om > 59 {
                return Err("the time zone offset is out of range".into());
            }
            let secs = (oh * 3600 + om * 60) as i32;
            if sign == b'-' && secs == 0 && strictness == Strictness::Statement {
                return Err(
                    "a negative zero time zone offset (\"-00:00\") is not allowed; use \"Z\" or \"+00:00\"".into()
                );
            }
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        Some(_) => return Err(FORMAT.into()),
    };
    if c.i != c.b.len() {
        return Err(FORMAT.into());
    }
    let offset = FixedOffset::east_opt(offset_secs).ok_or_else(|| FORMAT.to_string())?;
    let instant = offset.from_local_datetime(&date.and_time(time)).single().ok_or_else(|| FORMAT.to_string())?;
    Ok(ParsedTimestamp { instant, fraction_digits })
}

/// Parses a timestamp query parameter (`since`, `until`): RFC 3339 / ISO 8601 extended format;
/// a missing zone is taken as UTC.
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, ValidationError> {
    parse(s.trim(), Strictness::Lenient)
        .map(|p| p.instant.with_timezone(&Utc))
        .map_err(|m| ValidationError::new("", format!("invalid timestamp {s:?}: {m}")))
}

/// Formats an instant as RFC 3339 in UTC with microsecond precision, e.g. `2024-05-04T17:00:00.123456Z`.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    // Not `format("%Y-%m-%dT%H:%M:%S%.6fZ")`: that parses its pattern on
    // every call (3,700 instructions, on the projector's path for every
    // statement); the same text.
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Re-writes a statement timestamp in UTC keeping the number of fraction digits it had (at most 9).
pub(crate) fn to_utc_preserving_precision(s: &str) -> Option<String> {
    let p = parse(s, Strictness::Lenient).ok()?;
    let utc = p.instant.with_timezone(&Utc);
    let mut out = utc.format("%Y-%m-%dT%H:%M:%S").to_string();
    if p.fraction_digits > 0 {
        let digits = p.fraction_digits.min(9);
        let nanos = format!("{:09}", utc.timestamp_subsec_nanos());
        out.push('.');
        out.push_str(&nanos[..digits]);
    }
    out.push('Z');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_timestamps() {
        let good = [
            "2008-09-15T15:53:00.601Z",
            "2008-09-15T15:53:00Z",
            "2008-09-15T15:53:00.601+00:00",
            "2008-09-15T15:53:00.601+05:30",
            "2008-09-15T15:53:00.601-05:00",
            "2008-09-15T15:53:00.601-0500",
            "2008-09-15T15:53:00.601+01",
            "2008-09-15T15:53:00.123456789123Z",
            "2024-02-29T00:00:00Z",
        ];
        for s in good {
            assert!(parse(s, Strictness::Statement).is_ok(), "{s}");
        }
        let bad = [
            "should fail",
            "01/011/2015",
            "2008-09-15T15:53:00.601-00",
            "2008-09-15T15:53:00.601-0000",
            "2008-09-15T15:53:00.601-00:00",
            "2008-09-15T15:53:00.601",
            "2008-09-15",
            "2008-13-15T15:53:00Z",
            "2023-02-29T15:53:00Z",
            "2008-09-15T25:53:00Z",
            "2008-09-15T15:53:00.Z",
            "2008-09-15T15:53:00Zjunk",
            "2008-09-15T15:53:00+24:00",
            "",
            "２００８-09-15T15:53:00Z",
        ];
        for s in bad {
            assert!(parse(s, Strictness::Statement).is_err(), "{s}");
        }
    }

    #[test]
    fn lenient_and_format() {
        let t = parse_timestamp("2023-05-04T12:00:00-05:00").unwrap();
        assert_eq!(format_timestamp(t), "2023-05-04T17:00:00.000000Z");
        // The text of the strftime pattern it replaced, from 1900 to 3000.
        let mut micros: i64 = -2_208_988_800_000_000;
        while micros < 32_503_680_000_000_000 {
            let t = DateTime::from_timestamp_micros(micros).unwrap();
            assert_eq!(format_timestamp(t), t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
            micros += 7_777_777_777_777;
        }
        assert!(parse_timestamp("2023-05-04T12:00:00").is_ok());
        assert!(parse_timestamp("2023-05-04T12:00:00-00:00").is_ok());
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn utc_preserving_precision() {
        assert_eq!(to_utc_preserving_precision("2023-05-04T12:00:00.12-05:00").unwrap(), "2023-05-04T17:00:00.12Z");
        assert_eq!(to_utc_preserving_precision("2023-05-04T23:30:00+01:00").unwrap(), "2023-05-04T22:30:00Z");
    }
}
