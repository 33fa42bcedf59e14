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
/// When the JWS header carries an `x5c` certificate chain, the signature must
/// verify with the first certificate's RSA key. Without `x5c` the statement
/// carries no key to check against, so the form and the payload are what can
/// be checked.
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
    if let Some(chain) = header.get("x5c") {
        let signing_input = &text[..text.rfind('.').expect("three parts")];
        verify_with_certificate(chain, algorithm, signing_input, signature).map_err(|message| fail(&message))?;
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

/// Verifies an RS256/384/512 signature with the RSA key of the first `x5c` certificate.
fn verify_with_certificate(chain: &Value, algorithm: &str, signing_input: &str, signature: &str) -> Result<(), String> {
    use x509_cert::der::Decode;
    let first = chain
        .as_array()
        .and_then(|certificates| certificates.first())
        .and_then(Value::as_str)
        .ok_or("x5c must be an array of base64 certificates")?;
    let der = base64::engine::general_purpose::STANDARD.decode(first).map_err(|_| "x5c[0] is not base64")?;
    let certificate = x509_cert::Certificate::from_der(&der).map_err(|_| "x5c[0] is not an X.509 certificate")?;
    let key = certificate.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    let algorithm = match algorithm {
        "RS256" => jsonwebtoken::Algorithm::RS256,
        "RS384" => jsonwebtoken::Algorithm::RS384,
        _ => jsonwebtoken::Algorithm::RS512,
    };
    let key = jsonwebtoken::DecodingKey::from_rsa_der(key);
    match jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), &key, algorithm) {
        Ok(true) => Ok(()),
        Ok(false) => Err("the JWS signature does not verify with the x5c certificate".into()),
        Err(error) => Err(format!("the JWS signature cannot be checked with the x5c certificate: {error}")),
    }
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

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../tests/fixtures/signed_statement.json")).unwrap()
    }

    #[test]
    fn a_signature_verifies_with_its_x5c_certificate() {
        let fixture = fixture();
        for alg in ["rs256", "rs512"] {
            let jws = fixture[alg].as_str().unwrap().as_bytes();
            assert_eq!(check_statement_signature(&fixture["statement"], jws), Ok(()), "{alg}");
        }
    }

    #[test]
    fn a_tampered_signature_fails_its_x5c_certificate() {
        let fixture = fixture();
        let error = check_statement_signature(&fixture["statement"], fixture["tampered"].as_str().unwrap().as_bytes());
        assert!(error.unwrap_err().message().contains("does not verify"));
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
