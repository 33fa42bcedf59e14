//! The JSONPath of xAPI Profiles (structure §8.1): Goessner's syntax
//! without filters or scripts, plus `|` joining whole paths. Each part is
//! rewritten into RFC 9535 syntax (a missing leading `$`, dot names an RFC
//! 9535 name cannot hold such as `en-US`) and compiled by `serde_json_path`.

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::ProfileError;

/// A compiled `location` or `selector`.
#[derive(Clone, Debug)]
pub struct ProfilePath {
    source: String,
    parts: Vec<JsonPath>,
}

impl ProfilePath {
    /// Compiles a path as a profile writes it; `what` names it in errors
    /// (for example `template …, rule 2, location`).
    pub fn compile(source: &str, what: &str) -> Result<Self, ProfileError> {
        let invalid = |reason: String| ProfileError::Invalid(format!("{what} {source:?}: {reason}"));
        let mut parts = Vec::new();
        for part in split_top_level(source, '|') {
            let part = part.trim();
            if part.is_empty() {
                return Err(invalid("an empty path around '|'".to_owned()));
            }
            if part.contains("?(") || part.contains("[(") {
                return Err(invalid("filter and script expressions are not allowed in profiles".to_owned()));
            }
            let rewritten = to_rfc9535(part);
            let path = JsonPath::parse(&rewritten).map_err(|error| invalid(error.to_string()))?;
            parts.push(path);
        }
        Ok(Self { source: source.to_owned(), parts })
    }

    /// The path as the profile wrote it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The values it finds in `value`: each part's nodes, in order, flattened.
    pub fn values<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        self.parts.iter().flat_map(|part| part.query(value).all()).collect()
    }
}

/// Splits `text` at `separator` outside quotes and brackets.
fn split_top_level(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None::<char>, 0);
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, c) if c == separator && depth == 0 => {
                parts.push(&text[start..at]);
                start = at + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Rewrites one Goessner path into RFC 9535: `$.` in front when missing,
/// and `.name` as `['name']` when an RFC 9535 dot name cannot hold it.
fn to_rfc9535(path: &str) -> String {
    let body = match path.strip_prefix('$') {
        Some(rest) => rest.to_owned(),
        None if path.starts_with('[') => path.to_owned(),
        None => format!(".{path}"),
    };
    let mut out = String::from("$");
    let mut rest = body.as_str();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("..") {
            out.push_str("..");
            rest = after;
            let (name, tail) = take_name(rest);
            out.push_str(&dot_name(name, false));
            rest = tail;
        } else if let Some(after) = rest.strip_prefix('.') {
            let (name, tail) = take_name(after);
            out.push_str(&dot_name(name, true));
            rest = tail;
        } else if rest.starts_with('[') {
            let end = bracket_end(rest);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else {
            // Not a segment: left for the parser to refuse.
            out.push_str(rest);
            break;
        }
    }
    out
}

/// A dot name up to the next `.` or `[`.
fn take_name(text: &str) -> (&str, &str) {
    let end = text.find(['.', '[']).unwrap_or(text.len());
    text.split_at(end)
}

/// A name after `.` (or `..`) in RFC 9535 syntax.
fn dot_name(name: &str, with_dot: bool) -> String {
    let shorthand = name == "*"
        || name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_' || !c.is_ascii())
            && name.chars().all(|c| c.is_alphanumeric() || c == '_' || !c.is_ascii());
    if shorthand {
        if with_dot {
            format!(".{name}")
        } else {
            name.to_owned()
        }
    } else {
        let quoted = name.replace('\\', "\\\\").replace('\'', "\\'");
        format!("['{quoted}']")
    }
}

/// Where a bracket that starts `text` ends (after its `]`).
fn bracket_end(text: &str) -> usize {
    let mut quote = None;
    let mut chars = text.char_indices().skip(1);
    while let Some((at, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ']') => return at + 1,
            _ => {}
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn values(path: &str, value: &Value) -> Vec<Value> {
        ProfilePath::compile(path, "test").unwrap().values(value).into_iter().cloned().collect()
    }

    #[test]
    fn profile_paths_read_as_goessner_wrote_them() {
        let statement = json!({
            "verb": {"id": "v", "display": {"en-US": "did"}},
            "context": {"contextActivities": {"parent": [{"id": "p1"}, {"id": "p2"}]}},
            "result": {"extensions": {"http://ex.com/e": 3}},
        });
        assert_eq!(values("$.verb.id", &statement), [json!("v")]);
        assert_eq!(values("verb.id", &statement), [json!("v")], "no leading $ (SCORM)");
        assert_eq!(values("$.verb.display.en-US", &statement), [json!("did")], "a dash in a dot name");
        assert_eq!(values("$.context.contextActivities.parent[*].id", &statement), [json!("p1"), json!("p2")]);
        assert_eq!(values("$.result.extensions['http://ex.com/e']", &statement), [json!(3)]);
        assert_eq!(
            values("$.verb.id | $.context.contextActivities.parent[0].id", &statement),
            [json!("v"), json!("p1")]
        );
        assert_eq!(values("$.result.extensions['a|b']", &statement), Vec::<Value>::new(), "| inside quotes");
        assert_eq!(values("$.context.contextActivities.parent", &statement).len(), 1, "an array is one value");
        assert!(values("$.missing.deeper", &statement).is_empty());
    }

    #[test]
    fn filters_scripts_and_nonsense_are_refused_with_the_reason() {
        for bad in ["$.a[?(@.b)]", "$.a[(@.length-1)]", "$.a |", "$.[", "$$"] {
            let error = ProfilePath::compile(bad, "rule 1 location").unwrap_err().to_string();
            assert!(error.contains("rule 1 location"), "{bad}: {error}");
        }
    }
}
