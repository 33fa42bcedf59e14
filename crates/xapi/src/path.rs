//! Reading a member of a statement by its path of member names.

use serde_json::Value;

/// The value at a path of member names (`&["verb", "id"]`): what
/// `Value::pointer("/verb/id")` finds, without unescaping and allocating each
/// segment (the projections read a dozen members of every statement).
pub fn at_path<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, name| value.get(*name))
}

/// The text at a path of member names, when it is a string.
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at_path(value, path).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_path_finds_what_the_pointer_finds() {
        let statement = json!({"verb": {"id": "http://adlnet.gov/expapi/verbs/voided", "display": {"en-US": "voided"}},
            "context": {"contextActivities": {"parent": [{"id": "http://example.com/c"}]}}});
        for (path, pointer) in [
            (&["verb", "id"][..], "/verb/id"),
            (&["verb", "display", "en-US"][..], "/verb/display/en-US"),
            (&["context", "contextActivities", "parent"][..], "/context/contextActivities/parent"),
            (&["context", "platform"][..], "/context/platform"),
            (&["verb", "id", "deeper"][..], "/verb/id/deeper"),
        ] {
            assert_eq!(at_path(&statement, path), statement.pointer(pointer), "{pointer}");
        }
        assert_eq!(str_at(&statement, &["verb", "id"]), Some("http://adlnet.gov/expapi/verbs/voided"));
        assert_eq!(str_at(&statement, &["verb", "display"]), None, "an object is not a text");
        assert_eq!(at_path(&statement, &[]), Some(&statement));
    }
}
