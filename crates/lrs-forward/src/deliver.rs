//! One delivery of a batch of statements to a target, and what its answer
//! means: delivered, worth retrying, or refused for good.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use lrs_core::forwarders::ForwardTarget;
use serde_json::{json, Value};
use sha2::Sha256;

/// How long one delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The header carrying a webhook delivery's signature.
pub const SIGNATURE_HEADER: &str = "X-LRS-Signature";

/// The header naming a delivery, the same on each retry of it.
pub const DELIVERY_HEADER: &str = "X-LRS-Delivery";

/// What became of a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The target took every statement.
    Delivered,
    /// The target or the way to it failed for now: try again later.
    Retry(String),
    /// The target refused the statements for good (400, 409, 413, …).
    Refused(String),
}

/// Sends batches to targets.
#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
}

impl Default for Deliverer {
    fn default() -> Self {
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .user_agent(concat!("lrs-forward/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client builds");
        Self { client }
    }
}

/// The statement as another LRS takes it: without what that LRS sets
/// itself (`stored`, `authority`, `version`), the same on every resend so
/// that the target's comparison by id keeps its write idempotent.
pub fn for_lrs(statement: &Value) -> Value {
    let mut statement = statement.clone();
    if let Some(object) = statement.as_object_mut() {
        for field in ["stored", "authority", "version"] {
            object.remove(field);
        }
    }
    statement
}

/// An attachment body sent with the statements that carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    /// Its SHA-256, lowercase hex (the statements' `sha2`).
    pub sha2: String,
    /// Its content type.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// The attachments that travel with `statements` (those without a
/// `fileUrl`), each body once: its hash and content type.
pub fn carried_attachments(statements: &[Value]) -> Vec<(String, String)> {
    let mut carried: Vec<(String, String)> = Vec::new();
    let attachments = statements.iter().filter_map(|s| s["attachments"].as_array()).flatten();
    for attachment in attachments.filter(|a| a.get("fileUrl").is_none()) {
        let (Some(sha2), Some(content_type)) = (attachment["sha2"].as_str(), attachment["contentType"].as_str()) else {
            continue;
        };
        if !carried.iter().any(|(known, _)| known == sha2) {
            carried.push((sha2.to_owned(), content_type.to_owned()));
        }
    }
    carried
}

/// A multipart/mixed body as xAPI takes statements with attachments: the
/// statements as JSON, then each body with its hash.
fn multipart(boundary: &str, statements: &[Value], bodies: &[Body]) -> Vec<u8> {
    let mut out = format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n").into_bytes();
    out.extend_from_slice(&serde_json::to_vec(statements).expect("statements serialise"));
    for body in bodies {
        out.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Type: {}\r\nContent-Transfer-Encoding: binary\r\nX-Experience-API-Hash: {}\r\n\r\n",
                body.content_type, body.sha2
            )
            .as_bytes(),
        );
        out.extend_from_slice(&body.bytes);
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The signature of a webhook body sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Deliverer {
    /// Sends `statements` (as stored) of forwarder `name` to `target`, with
    /// the attachment `bodies` they carry (an LRS target only); `delivery`
    /// names the batch (the same on each retry).
    pub async fn deliver(
        &self,
        target: &ForwardTarget,
        name: &str,
        delivery: &str,
        statements: &[Value],
        bodies: &[Body],
    ) -> Outcome {
        let request = match target {
            ForwardTarget::Lrs { endpoint, key, secret, version } => {
                let url = format!("{}/statements", endpoint.trim_end_matches('/'));
                let body: Vec<Value> = statements.iter().map(for_lrs).collect();
                let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"));
                let request = self
                    .client
                    .post(url)
                    .header("Authorization", format!("Basic {basic}"))
                    .header("X-Experience-API-Version", version.as_str());
                if bodies.is_empty() {
                    request.json(&body)
                } else {
                    let boundary = format!("lrs-forward-{delivery}");
                    request
                        .header("Content-Type", format!("multipart/mixed; boundary={boundary}"))
                        .body(multipart(&boundary, &body, bodies))
                }
            }
            ForwardTarget::Webhook { url, secret } => {
                let body = json!({"forwarder": name, "delivery": delivery, "statements": statements});
                let body = serde_json::to_vec(&body).expect("statements serialise");
                let now = chrono::Utc::now().timestamp();
                self.client
                    .post(url)
                    .header("Content-Type", "application/json")
                    .header(SIGNATURE_HEADER, signature(secret, now, &body))
                    .header(DELIVERY_HEADER, delivery)
                    .body(body)
            }
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Outcome::Retry(format!("{}: {}", target.address(), describe(&error))),
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Delivered;
        }
        let text = response.text().await.unwrap_or_default();
        let said: String = text.chars().take(300).collect();
        let message = format!("{} answered {}: {}", target.address(), status.as_u16(), said.trim());
        match status.as_u16() {
            // The target is busy, down, or refuses the credential: the
            // operator or time can mend that; nothing is dropped meanwhile.
            401 | 403 | 404 | 408 | 425 | 429 => Outcome::Retry(message),
            code if code >= 500 => Outcome::Retry(message),
            _ => Outcome::Refused(message),
        }
    }
}

/// A transport error in words, without the URL's credentials (there are
/// none in it) and without the chain's noise.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "cannot connect".into()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            text = format!("{text}: {inner}");
            source = inner.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_lrs_gets_the_statement_without_what_it_sets_itself() {
        let stored =
            json!({"id": "x", "actor": {}, "stored": "2026-01-01T00:00:00Z", "authority": {}, "version": "1.0.0"});
        assert_eq!(for_lrs(&stored), json!({"id": "x", "actor": {}}));
    }

    #[test]
    fn each_body_without_a_file_url_travels_once() {
        let attachment = |sha2: &str, url: Option<&str>| {
            let mut a =
                json!({"sha2": sha2, "contentType": "text/plain", "usageType": "u", "display": {}, "length": 1});
            if let Some(url) = url {
                a["fileUrl"] = json!(url);
            }
            a
        };
        let statements = [
            json!({"attachments": [attachment("aa", None), attachment("bb", Some("http://x/y"))]}),
            json!({"attachments": [attachment("aa", None), attachment("cc", None)]}),
            json!({}),
        ];
        let carried = carried_attachments(&statements);
        assert_eq!(carried, [("aa".to_owned(), "text/plain".to_owned()), ("cc".to_owned(), "text/plain".to_owned())]);
        let body = Body { sha2: "aa".into(), content_type: "text/plain".into(), bytes: b"hello".to_vec() };
        let text = String::from_utf8(multipart("B", &statements[..1], &[body])).unwrap();
        assert!(text.starts_with("--B\r\nContent-Type: application/json\r\n\r\n[{"), "{text}");
        assert!(text.ends_with("X-Experience-API-Hash: aa\r\n\r\nhello\r\n--B--\r\n"), "{text}");
    }

    #[test]
    fn the_signature_is_an_hmac_of_the_time_and_the_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = signature("Jefe", 0, b"what do ya want for nothing?");
        assert_eq!(mac, "t=0,v1=".to_owned() + &sign_plain("Jefe", b"0.what do ya want for nothing?"));
        assert_eq!(
            sign_plain("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn sign_plain(key: &str, data: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }
}
