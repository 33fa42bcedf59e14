//! Formats of individual values: IRI, UUID, timestamp, duration, language tag, language map, extensions.

use serde_json::Value;

use super::{as_object, as_str, err, keyed, type_name, Ctx, VResult};
use crate::timestamp::{self, Strictness};

/// True if `s` is an absolute IRI (RFC 3987, as `oxiri` parses it: a
/// scheme, then a hierarchical part, query and fragment of the characters
/// and percent-encodings IRIs allow) with something after the scheme: a
/// bare `http:` identifies nothing.
pub fn is_iri(s: &str) -> bool {
    is_plain_http_iri(s) || s.split_once(':').is_some_and(|(_, rest)| !rest.is_empty()) && oxiri::Iri::parse(s).is_ok()
}

/// True for the IRIs most statements carry, checked in one pass over their
/// bytes: `http://` or `https://`, a host of letters, digits, dots and
/// hyphens with an optional port, then a path, query and fragment of
/// characters every part of an IRI allows (no percent-encoding, no
/// non-ASCII). Every IRI it accepts, `oxiri` accepts (a property test
/// checks it); the others go to `oxiri`.
fn is_plain_http_iri(s: &str) -> bool {
    let rest = match s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")) {
        Some(rest) => rest.as_bytes(),
        None => return false,
    };
    let host_end = rest.iter().position(|&b| matches!(b, b'/' | b'?' | b'#' | b':')).unwrap_or(rest.len());
    let (host, mut rest) = rest.split_at(host_end);
    if host.is_empty() || !host.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
        return false;
    }
    if let Some(after) = rest.strip_prefix(b":") {
        let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
        rest = &after[digits..];
    }
    if !matches!(rest.first(), None | Some(b'/' | b'?' | b'#')) {
        return false;
    }
    // path, query and fragment: unreserved, sub-delims, ':', '@', '/' and
    // '?' (the first starts the query), and one '#' (the fragment)
    let mut fragment = false;
    rest.iter().all(|&b| match b {
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => true,
        b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => true,
        b':' | b'@' | b'/' | b'?' => true,
        b'#' => !std::mem::replace(&mut fragment, true),
        _ => false,
    })
}

/// Checks that the value is a string holding an absolute IRI.
pub(crate) fn check_iri(v: &Value, path: &str) -> VResult {
    let s = as_str(v, path)?;
    if is_iri(s) {
        Ok(())
    } else {
        err(path, format!("must be an absolute IRI with a scheme (e.g. \"http://example.com/x\"), not {s:?}"))
    }
}

/// Checks that the value is a string holding an IRL (a resolvable IRI, e.g. http(s)).
pub(crate) fn check_irl(v: &Value, path: &str) -> VResult {
    let s = as_str(v, path)?;
    if is_iri(s) {
        Ok(())
    } else {
        err(path, format!("must be an absolute IRL with a scheme (e.g. \"http://example.com/x\"), not {s:?}"))
    }
}

/// True for a UUID in 8-4-4-4-12 hexadecimal form (either case, any variant).
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Parses a UUID in 8-4-4-4-12 form.
pub(crate) fn parse_uuid(s: &str) -> Option<uuid::Uuid> {
    if is_uuid(s) {
        uuid::Uuid::parse_str(s).ok()
    } else {
        None
    }
}

/// Checks that the value is a UUID string.
pub(crate) fn check_uuid(v: &Value, path: &str) -> VResult {
    let s = as_str(v, path)?;
    if is_uuid(s) {
        Ok(())
    } else {
        err(path, format!("must be a UUID (8-4-4-4-12 hexadecimal digits), not {s:?}"))
    }
}

/// Checks that the value is a timestamp string with a time zone.
pub(crate) fn check_timestamp(v: &Value, path: &str, _ctx: Ctx) -> VResult {
    let s = as_str(v, path)?;
    match timestamp::parse(s, Strictness::Statement) {
        Ok(_) => Ok(()),
        Err(m) => err(path, format!("{m} (got {s:?})")),
    }
}

/// True for an ISO 8601 duration in the `PnYnMnWnDTnHnMnS` form (4.4.3.2).
pub(crate) fn is_duration(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return false;
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    let mut fraction_seen = false;
    let Some(date_components) = scan_duration_part(date, b"YMWD", &mut fraction_seen) else {
        return false;
    };
    // ISO 8601 4.4.3.2: weeks (PnW) stand alone; they do not combine with other components.
    let has_weeks = date.contains('W');
    if has_weeks && (date_components > 1 || time.is_some()) {
        return false;
    }
    let time_components = match time {
        Some(t) => match scan_duration_part(t, b"HMS", &mut fraction_seen) {
            Some(0) | None => return false,
            Some(n) => n,
        },
        None => 0,
    };
    date_components + time_components > 0
}

/// Seconds in an ISO 8601 duration that [`is_duration`] accepts, counting a
/// year as 365 days and a month as 30 (xAPI gives no calendar to a
/// duration); `None` for anything else.
pub fn duration_seconds(s: &str) -> Option<f64> {
    if !is_duration(s) {
        return None;
    }
    let (date, time) = match s[1..].split_once('T') {
        Some((date, time)) => (date, time),
        None => (&s[1..], ""),
    };
    const DAY: f64 = 86_400.0;
    let mut seconds = 0.0;
    for (part, units) in [
        (date, [(b'Y', 365.0 * DAY), (b'M', 30.0 * DAY), (b'W', 7.0 * DAY), (b'D', DAY)]),
        (time, [(b'H', 3600.0), (b'M', 60.0), (b'S', 1.0), (0, 0.0)]),
    ] {
        let mut number = String::new();
        for c in part.bytes() {
            if c.is_ascii_digit() || c == b'.' || c == b',' {
                number.push(if c == b',' { '.' } else { c as char });
                continue;
            }
            let factor = units.iter().find(|(designator, _)| *designator == c)?.1;
            seconds += number.parse::<f64>().ok()? * factor;
            number.clear();
        }
    }
    Some(seconds)
}

/// Scans `n<designator>` components in designator order; returns how many there were.
fn scan_duration_part(part: &str, designators: &[u8], fraction_seen: &mut bool) -> Option<usize> {
    let b = part.as_bytes();
    let mut i = 0;
    let mut next_designator = 0;
    let mut components = 0;
    while i < b.len() {
        if *fraction_seen {
            return None; // a fraction is only allowed on the last component
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        if i < b.len() && (b[i] == b'.' || b[i] == b',') {
            i += 1;
            let fs = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == fs {
                return None;
            }
            *fraction_seen = true;
        }
        let d = *b.get(i)?;
        let p = designators[next_designator..].iter().position(|x| *x == d)?;
        next_designator += p + 1;
        i += 1;
        components += 1;
    }
    Some(components)
}

/// Checks that the value is an ISO 8601 duration string.
pub(crate) fn check_duration(v: &Value, path: &str) -> VResult {
    let s = as_str(v, path)?;
    if is_duration(s) {
        Ok(())
    } else {
        err(path, format!("must be an ISO 8601 duration such as \"PT1H30M\" or \"P1DT0.5S\", not {s:?}"))
    }
}

/// True for a well-formed RFC 5646 language tag.
pub(crate) fn is_language_tag(s: &str) -> bool {
    language_tags::LanguageTag::parse(s).is_ok()
}

/// Checks that the value is an RFC 5646 language tag string.
pub(crate) fn check_language_tag(v: &Value, path: &str) -> VResult {
    let s = as_str(v, path)?;
    if is_language_tag(s) {
        Ok(())
    } else {
        err(path, format!("{s:?} is not a valid RFC 5646 language tag"))
    }
}

/// Checks a language map: an object whose keys are language tags and whose values are strings.
pub(crate) fn check_language_map(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "a language map")?;
    for (k, val) in map {
        if !is_language_tag(k) {
            return err(path, format!("key {k:?} is not a valid RFC 5646 language tag"));
        }
        if !val.is_string() {
            return err(keyed(path, k), format!("must be a string, not {}", type_name(val)));
        }
    }
    Ok(())
}

/// Checks an extensions object: keys are IRIs, values are free-form (null allowed).
pub(crate) fn check_extensions(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "an extensions map")?;
    for k in map.keys() {
        if !is_iri(k) {
            return err(path, format!("key {k:?} must be an absolute IRI"));
        }
    }
    Ok(())
}

/// Checks a boolean.
pub(crate) fn check_bool(v: &Value, path: &str) -> VResult {
    match v {
        Value::Bool(_) => Ok(()),
        other => err(path, format!("must be a boolean, not {}", type_name(other))),
    }
}

/// The value as a number.
pub(crate) fn as_number(v: &Value, path: &str) -> VResult<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| crate::ValidationError::new(path, "must be a finite number")),
        other => err(path, format!("must be a number, not {}", type_name(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iris() {
        for s in [
            "http://example.com",
            "https://example.com/a%20b?x=1#f",
            "urn:uuid:6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
            "mailto:a@b.c",
            "http://例え.テスト/パス",
            "tag:example.com,2024:x",
        ] {
            assert!(is_iri(s), "{s}");
        }
        for s in [
            "",
            "example.com",
            "ab=c://should.fail.com",
            "1http://x",
            "http:",
            "should fail",
            "http://exa mple.com",
            "http://x/%zz",
            "http://x/<a>",
            ":foo",
            "http://example.com:80a/",
            "http://[::1/x",
        ] {
            assert!(!is_iri(s), "{s}");
        }
    }

    #[test]
    fn the_one_pass_check_takes_common_iris_and_leaves_the_rest_to_oxiri() {
        for s in [
            "http://example.com",
            "https://example.com/xapi/verbs/completed",
            "http://adlnet.gov/expapi/activities/course",
            "https://lms.example.com:8443/course/42/module-3?id=7&x=y#part",
            "http://x.example/a:b@c/!$&'()*+,;=~_.-/?q?r#f?/",
        ] {
            assert!(is_plain_http_iri(s), "{s}");
            assert!(oxiri::Iri::parse(s).is_ok(), "{s}");
        }
        // Left to oxiri: percent-encodings, non-ASCII, other schemes, IP literals.
        for s in ["https://example.com/a%20b", "http://例え.テスト/パス", "urn:x:y", "http://[::1]/x", "http://x#a#b"]
        {
            assert!(!is_plain_http_iri(s), "{s}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        /// Whatever the one-pass check accepts, oxiri accepts too; and for
        /// strings built of IRI-like parts the two agree on most of them.
        #[test]
        fn the_one_pass_check_accepts_nothing_oxiri_refuses(
            scheme in "(https?|HTTP|ftp|)(://|:/|:)?",
            host in "[a-zA-Z0-9.\\-_~%\\[\\]:@]{0,12}",
            rest in "[a-zA-Z0-9/?#:@!$&'()*+,;=~_.\\-%<> \"{}|^`\\\\é]{0,24}",
        ) {
            let s = format!("{scheme}{host}{rest}");
            if is_plain_http_iri(&s) {
                proptest::prop_assert!(oxiri::Iri::parse(s.as_str()).is_ok(), "{s:?}");
                proptest::prop_assert!(is_iri(&s));
            }
        }
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("6690e6c9-3ef0-4ed3-8b37-7f3964730bee"));
        assert!(is_uuid("AA97B177-9383-4934-8543-0F91A7A02836"));
        assert!(is_uuid("00000000-0000-0000-0000-000000000000"));
        assert!(!is_uuid("AA97B177-9383-4934-8543-0F91A7A028368"));
        assert!(!is_uuid("MA97B177-9383-4934-8543-0F91A7A02836"));
        assert!(!is_uuid("aa97b1779383493485430f91a7a02836"));
        assert!(!is_uuid("{aa97b177-9383-4934-8543-0f91a7a02836}"));
        assert!(parse_uuid("AA97B177-9383-4934-8543-0F91A7A02836").is_some());
    }

    #[test]
    fn durations_in_seconds() {
        assert_eq!(duration_seconds("PT1H30M"), Some(5400.0));
        assert_eq!(duration_seconds("P1DT0.5S"), Some(86_400.5));
        assert_eq!(duration_seconds("PT2,5S"), Some(2.5));
        assert_eq!(duration_seconds("P2W"), Some(14.0 * 86_400.0));
        assert_eq!(duration_seconds("P1Y1M"), Some(395.0 * 86_400.0));
        assert_eq!(duration_seconds("1H"), None);
        assert_eq!(duration_seconds("PT"), None);
    }

    #[test]
    fn durations() {
        for s in [
            "PT1H0M0S",
            "P1D",
            "PT0.5S",
            "P3Y6M4DT12H30M5S",
            "P4W",
            "PT4H35M59.14S",
            "PT16559.14S",
            "P3Y1M29DT4H35M59.14S",
            "P3Y",
            "PT1H0M0.1S",
            "P1DT12H36M0.12567S",
            "PT0,5S",
            "P0D",
        ] {
            assert!(is_duration(s), "{s}");
        }
        for s in [
            "1H",
            "P",
            "PT",
            "PA1H0M0S",
            "should fail",
            "P1H",
            "PT1D",
            "P1M1Y",
            "PT1.5H2M",
            "P0003-06-04T12:30:05",
            "P1DT",
            "P.5D",
            "P1.D",
            "pt1h",
            "PT1S2S",
            "P4W1D",
            "P1WT1H",
            "",
        ] {
            assert!(!is_duration(s), "{s}");
        }
    }

    #[test]
    fn language_tags() {
        for s in ["en", "en-US", "de-DE", "zh-Hant", "sr-Latn-RS", "cmn", "tlh", "es-419", "ase"] {
            assert!(is_language_tag(s), "{s}");
        }
        for s in ["a12345", "a12345678", "something", "", "en_US", "-en"] {
            assert!(!is_language_tag(s), "{s}");
        }
    }
}
