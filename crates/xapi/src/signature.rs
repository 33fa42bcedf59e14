//! Signed statements (xAPI Data 2.6): the JWS carried in a signature attachment.

use base64::Engine as _;
use serde_json::Value;

use crate::{statements_equivalent, ValidationError};

/// `usageType` of the attachment that carries a statement's signature.
pub const SIGNATURE_USAGE_TYPE: &str = "http://adlnet.gov/expapi/attachments/signature";

/// JWS algorithms a statement signature may use.
const ALGORITHMS: [&str; 3] = ["RS256", "RS384", "RS512"];

/// Checks a signature attachment's body against its statement: a JWS in
/// compact serialisation, signed with RS256/RS384/RS512, whose payload is the
/// statement as it was before the signature was attached.
///
/// This checks the form and the payload; checking the RSA signature itself
/// needs the signer's key, which the statement does not carry unless the JWS
/// header has an `x5c` chain.
pub fn check_statement_signature(statement: &Value, jws: &[u8]) -> Result<(), ValidationError> {
    let fail = |message: &str| ValidationError::new("attachments", format!("signature: {message}"));
    let text = std::str::from_utf8(jws).map_err(|_| fail("the JWS is not text"))?.trim();
    let parts: Vec<&str> = text.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(fail("the JWS must have three dot-separated parts"));
    };
    let decode = |part: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('='));
    let header: Value = decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| fail("the JWS header is not base64url JSON"))?;
    let algorithm = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !ALGORITHMS.contains(&algorithm) {
        return Err(fail(&format!("the JWS algorithm must be RS256, RS384 or RS512, not {algorithm:?}")));
    }
    if decode(signature).map_or(true, |bytes| bytes.is_empty()) {
        return Err(fail("the JWS signature part is empty or not base64url"));
    }
    let payload: Value = decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| fail("the JWS payload is not a JSON statement"))?;
    if !payload.is_object() {
        return Err(fail("the JWS payload is not a JSON statement"));
    }
    let mut signed = payload;
    let mut received = statement.clone();
    for value in [&mut signed, &mut received] {
        if let Some(map) = value.as_object_mut() {
            map.remove("attachments");
        }
    }
    if signed.get("id").is_none() {
        if let Some(map) = received.as_object_mut() {
            map.remove("id");
        }
    }
    if !statements_equivalent(&signed, &received) {
        return Err(fail("the JWS payload differs from the statement"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jws(header: &Value, payload: &str) -> Vec<u8> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        format!("{}.{}.{}", b64(header.to_string().as_bytes()), b64(payload.as_bytes()), b64(b"sig")).into_bytes()
    }

    fn statement() -> Value {
        json!({"actor": {"mbox": "mailto:a@example.com"}, "verb": {"id": "http://example.com/v"},
               "object": {"id": "http://example.com/a"}})
    }

    #[test]
    fn accepts_a_matching_payload_with_an_rs_algorithm() {
        let mut with_attachment = statement();
        with_attachment["attachments"] = json!([{"usageType": SIGNATURE_USAGE_TYPE}]);
        for alg in ALGORITHMS {
            let body = jws(&json!({"alg": alg}), &statement().to_string());
            assert_eq!(check_statement_signature(&with_attachment, &body), Ok(()));
        }
    }

    #[test]
    fn rejects_other_algorithms_payloads_and_garbage() {
        let good = statement().to_string();
        let cases = [
            ("hs256", jws(&json!({"alg": "HS256"}), &good)),
            ("no alg", jws(&json!({}), &good)),
            (
                "other payload",
                jws(&json!({"alg": "RS256"}), &json!({"actor": {"mbox": "mailto:b@example.com"}}).to_string()),
            ),
            ("broken json", jws(&json!({"alg": "RS256"}), &good.replacen('"', "'", 1))),
            ("two parts", b"abc.def".to_vec()),
            ("binary", vec![0xff, 0xfe]),
        ];
        for (name, body) in cases {
            assert!(check_statement_signature(&statement(), &body).is_err(), "{name} accepted");
        }
    }
}
