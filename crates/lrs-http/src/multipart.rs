//! multipart/mixed bodies (xAPI Communication 1.5.2): parsing requests that
//! carry attachments, and building responses that return them.

/// One part of a multipart body.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Part {
    /// Header names (lowercase) and values, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// The part's body.
    pub(crate) body: Vec<u8>,
}

impl Part {
    /// The value of a header, by case-insensitive name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The `boundary` parameter of a multipart Content-Type.
pub(crate) fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    memchr::memmem::find(haystack.get(from..)?, needle).map(|i| i + from)
}

/// Splits a multipart body into its parts.
pub(crate) fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let dash_boundary = format!("--{boundary}").into_bytes();
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    let mut position = if body.starts_with(&dash_boundary) {
        0
    } else {
        find(body, &delimiter, 0).ok_or("the body has no multipart boundary line")? + 2
    };
    let mut parts = Vec::new();
    loop {
        let after = position + dash_boundary.len();
        if body[after..].starts_with(b"--") {
            return Ok(parts);
        }
        let line_end = find(body, b"\r\n", after).ok_or("a boundary line does not end with CRLF")?;
        if !body[after..line_end].iter().all(|b| *b == b' ' || *b == b'\t') {
            return Err("a boundary line has trailing characters".into());
        }
        let start = line_end + 2;
        let next = find(body, &delimiter, start).ok_or("the multipart body has no closing boundary")?;
        parts.push(parse_part(&body[start..next])?);
        position = next + 2;
    }
}

fn parse_part(bytes: &[u8]) -> Result<Part, String> {
    let (head, body) = if bytes.starts_with(b"\r\n") {
        (&bytes[..0], &bytes[2..])
    } else {
        let end = find(bytes, b"\r\n\r\n", 0).ok_or("a multipart section has no blank line after its headers")?;
        (&bytes[..end], &bytes[end + 4..])
    };
    let head = std::str::from_utf8(head).map_err(|_| "multipart section headers are not text")?;
    let mut headers = Vec::new();
    for line in head.split("\r\n").filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(|| format!("malformed multipart header {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(Part { headers, body: body.to_vec() })
}

/// Builds a multipart body from parts.
pub(crate) fn build(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for (name, value) in &part.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&part.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_builds() {
        let parts = vec![
            Part { headers: vec![("content-type".into(), "application/json".into())], body: b"{}".to_vec() },
            Part { headers: vec![("x-experience-api-hash".into(), "ab".into())], body: b"\r\nbin\r\n".to_vec() },
        ];
        assert_eq!(parse(&build("b0undary", &parts), "b0undary").unwrap(), parts);
    }

    #[test]
    fn parses_a_preamble_and_headers_without_spaces() {
        let body = b"\r\n--xyz\r\nContent-Type:application/json\r\n\r\n[1]\r\n--xyz--";
        let parts = parse(body, "xyz").unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].header("Content-Type"), Some("application/json"));
        assert_eq!(parts[0].body, b"[1]");
    }

    #[test]
    fn rejects_bodies_without_boundaries() {
        assert!(parse(b"{}", "xyz").is_err());
        assert!(parse(b"--xyz\r\n\r\nunterminated", "xyz").is_err());
        assert_eq!(boundary_of("multipart/mixed; boundary=\"a b\""), Some("a b".into()));
        assert_eq!(boundary_of("multipart/mixed"), None);
    }
}
