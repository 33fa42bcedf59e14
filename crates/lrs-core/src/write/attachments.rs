//! Attachment bodies sent beside statements (multipart/mixed): the rules that
//! tie each body to a statement's attachment metadata.

use std::collections::HashSet;

use serde_json::Value;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// One attachment body of a multipart request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentPart {
    /// The part's `X-Experience-API-Hash` header (hex SHA-2 of the body).
    pub sha2: String,
    /// The part's `Content-Type`.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

impl AttachmentPart {
    /// Lowercase hex of the hash the part claims.
    pub fn key(&self) -> String {
        self.sha2.to_ascii_lowercase()
    }
}

/// Hex SHA-2 of `body` with the width of `claimed` (SHA-256, -384 or -512).
fn digest_like(claimed: &str, body: &[u8]) -> Option<String> {
    let bytes: Vec<u8> = match claimed.len() {
        64 => Sha256::digest(body).to_vec(),
        96 => Sha384::digest(body).to_vec(),
        128 => Sha512::digest(body).to_vec(),
        _ => return None,
    };
    Some(hex::encode(bytes))
}

/// Checks the bodies against the statements' attachment metadata: each body's
/// hash is right and belongs to an attachment, every attachment without a
/// `fileUrl` has its body, and every signature attachment signs its statement.
pub fn check_attachment_parts(statements: &[Value], parts: &[AttachmentPart]) -> Result<(), String> {
    let mut sent = HashSet::with_capacity(parts.len());
    for part in parts {
        let key = part.key();
        match digest_like(&key, &part.body) {
            Some(actual) if actual == key => {}
            Some(_) => {
                return Err(format!(
                    "the attachment part with X-Experience-API-Hash {key} has content with another hash"
                ))
            }
            None => return Err(format!("X-Experience-API-Hash {key:?} is not a hex SHA-256, SHA-384 or SHA-512")),
        }
        sent.insert(key);
    }
    let mut referenced = HashSet::new();
    for (index, statement) in statements.iter().enumerate() {
        let Some(attachments) = statement.get("attachments").and_then(Value::as_array) else { continue };
        for (position, attachment) in attachments.iter().enumerate() {
            let sha2 = attachment.get("sha2").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
            let has_url = attachment.get("fileUrl").is_some();
            let at = format!("statement [{index}]: attachments[{position}]");
            if !sent.contains(&sha2) && !has_url {
                return Err(format!("{at}: no multipart section carries sha2 {sha2}, and it has no fileUrl"));
            }
            let usage = attachment.get("usageType").and_then(Value::as_str);
            if usage == Some(xapi::SIGNATURE_USAGE_TYPE) {
                let content_type = attachment.get("contentType").and_then(Value::as_str).unwrap_or("");
                if content_type != "application/octet-stream" {
                    return Err(format!("{at}.contentType: a signature must be application/octet-stream"));
                }
                let part = parts
                    .iter()
                    .find(|part| part.key() == sha2)
                    .ok_or_else(|| format!("{at}: the signature has no multipart section"))?;
                xapi::check_statement_signature(statement, &part.body)
                    .map_err(|e| format!("statement [{index}]: {e}"))?;
            }
            referenced.insert(sha2);
        }
    }
    if let Some(orphan) = sent.iter().find(|sha2| !referenced.contains(*sha2)) {
        return Err(format!(
            "the multipart section with X-Experience-API-Hash {orphan} is not an attachment of any statement"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn part(body: &[u8]) -> AttachmentPart {
        let sha2 = hex::encode(Sha256::digest(body));
        AttachmentPart { sha2, content_type: "text/plain".into(), body: body.to_vec() }
    }

    fn statement_with(sha2: &str, file_url: bool) -> Value {
        let mut attachment = json!({"usageType": "http://example.com/u", "display": {"en": "x"},
            "contentType": "text/plain", "length": 5, "sha2": sha2});
        if file_url {
            attachment["fileUrl"] = json!("http://example.com/f");
        }
        json!({"attachments": [attachment]})
    }

    #[test]
    fn a_body_for_each_attachment_passes() {
        let p = part(b"hello");
        assert_eq!(check_attachment_parts(&[statement_with(&p.sha2, false)], std::slice::from_ref(&p)), Ok(()));
        assert_eq!(check_attachment_parts(&[statement_with(&p.sha2, true)], &[]), Ok(()));
    }

    #[test]
    fn missing_extra_and_wrong_bodies_fail() {
        let p = part(b"hello");
        assert!(check_attachment_parts(&[statement_with(&p.sha2, false)], &[]).unwrap_err().contains("no multipart"));
        assert!(check_attachment_parts(&[json!({})], std::slice::from_ref(&p))
            .unwrap_err()
            .contains("not an attachment"));
        let mut wrong = p.clone();
        wrong.body = b"other".to_vec();
        assert!(check_attachment_parts(&[statement_with(&p.sha2, false)], &[wrong])
            .unwrap_err()
            .contains("another hash"));
    }
}
