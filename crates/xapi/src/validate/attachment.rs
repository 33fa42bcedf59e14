//! Attachments.

use serde_json::Value;

use super::primitives::{check_iri, check_irl, check_language_map};
use super::{as_array, as_object, as_str, check_properties, err, index, join, required, type_name, VResult};

const ATTACHMENT_PROPERTIES: &[&str] =
    &["usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"];

/// Validates the `attachments` array.
pub(crate) fn validate_attachments(v: &Value, path: &str) -> VResult {
    let arr = as_array(v, path, "an array of Attachments")?;
    for (i, a) in arr.iter().enumerate() {
        validate_attachment(a, &index(path, i))?;
    }
    Ok(())
}

fn validate_attachment(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "an Attachment")?;
    check_properties(map, path, ATTACHMENT_PROPERTIES, "an Attachment")?;
    check_iri(required(map, path, "usageType")?, &join(path, "usageType"))?;
    check_language_map(required(map, path, "display")?, &join(path, "display"))?;
    if let Some(d) = map.get("description") {
        check_language_map(d, &join(path, "description"))?;
    }
    let ct_path = join(path, "contentType");
    let ct = as_str(required(map, path, "contentType")?, &ct_path)?;
    if !is_media_type(ct) {
        return err(ct_path, format!("must be an Internet Media Type such as \"text/plain\", not {ct:?}"));
    }
    let len_path = join(path, "length");
    match required(map, path, "length")? {
        Value::Number(n) if n.as_u64().is_some() => {}
        Value::Number(n) => {
            return err(len_path, format!("must be a non-negative integer, not {n}"));
        }
        other => return err(len_path, format!("must be an integer, not {}", type_name(other))),
    }
    let sha_path = join(path, "sha2");
    let sha = as_str(required(map, path, "sha2")?, &sha_path)?;
    if sha.is_empty() || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return err(sha_path, format!("must be a hexadecimal SHA-2 hash, not {sha:?}"));
    }
    if let Some(u) = map.get("fileUrl") {
        check_irl(u, &join(path, "fileUrl"))?;
    }
    Ok(())
}

/// A loose `type/subtype[; params]` check.
fn is_media_type(s: &str) -> bool {
    let essence = s.split(';').next().unwrap_or("").trim();
    let token =
        |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+*'%`|~".contains(&b));
    match essence.split_once('/') {
        Some((t, st)) => token(t) && token(st),
        None => false,
    }
}
