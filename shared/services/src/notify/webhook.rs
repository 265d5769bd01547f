//! Outbound webhooks, signed so the receiver can trust them: the signature is
//! HMAC-SHA256 over `<timestamp>.<body>` with a shared secret, sent as
//! `x-orderflow-signature: sha256=<hex>` with `x-orderflow-timestamp: <unix seconds>`.
//! Receivers refuse a bad signature and a timestamp older than they accept (replays).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
#[cfg(feature = "notifier")]
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "x-orderflow-signature";
/// The same on every attempt to deliver one notification: a receiver that has seen it
/// drops the repeat (the notifier cannot rule one out: the post may succeed and the record
/// of it fail).
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
pub const TIMESTAMP_HEADER: &str = "x-orderflow-timestamp";
/// Attempts per delivery; after them the message goes back to its queue (and its DLQ).
#[cfg(feature = "notifier")]
const ATTEMPTS: u32 = 3;
/// The longest one attempt may take, when the invocation has that long left.
#[cfg(feature = "notifier")]
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// What an invocation keeps for itself after its last post: recording the notification
/// and answering the batch.
#[cfg(feature = "notifier")]
const RESERVE: Duration = Duration::from_secs(2);

/// `sha256=<hex>` of `<timestamp>.<body>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("the timestamp is not a number")]
    BadTimestamp,
    #[error("the timestamp is {0} s away from now; at most {1} s is accepted")]
    Stale(i64, i64),
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a signed request as a receiver would, in constant time.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?;
    let signature = signature.ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
    let timestamp: i64 = timestamp.parse().map_err(|_| SignatureError::BadTimestamp)?;
    // abs_diff: any i64 timestamp, i64::MIN included, compares without overflow.
    if now.abs_diff(timestamp) > tolerance.unsigned_abs() {
        return Err(SignatureError::Stale(now.saturating_sub(timestamp), tolerance));
    }
    let hex_part = signature.strip_prefix("sha256=").ok_or(SignatureError::Mismatch)?;
    let expected = hex::decode(hex_part).map_err(|_| SignatureError::Mismatch)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// Posts signed JSON to one URL, retrying failures a few times with backoff.
#[cfg(feature = "notifier")]
#[derive(Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    url: String,
    secret: Vec<u8>,
}

#[cfg(feature = "notifier")]
impl WebhookSender {
    /// A sender to `url`; an error names why its HTTP client cannot be built (a client
    /// without timeouts is never a fallback). It follows no redirect: a signed body goes
    /// to the configured URL only.
    pub fn new(url: impl Into<String>, secret: impl Into<Vec<u8>>) -> Result<Self, String> {
        // reqwest comes without a crypto provider here: ring's, as the SDK's client uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the webhook's HTTP client cannot be built: {e}"))?;
        Ok(Self { http, url: url.into(), secret: secret.into() })
    }

    /// The receiver's HTTP status on success; the last failure otherwise. `delivery_id`
    /// names the notification (the same on every retry and redelivery). Every attempt
    /// ends by `deadline_ms` (the invocation's, less a reserve): a hung receiver costs this
    /// message its attempt, not the batch its invocation. A redirect is a failure.
    pub async fn post(&self, body: &serde_json::Value, delivery_id: &str, deadline_ms: i64) -> Result<u16, String> {
        let body = body.to_string();
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let left = deadline_ms - toolkit::clock::now().timestamp_millis();
            let left = Duration::from_millis(u64::try_from(left).unwrap_or(0)).saturating_sub(RESERVE);
            if left < Duration::from_millis(500) {
                return Err(match last.is_empty() {
                    true => format!("no time left in this invocation to post to {}", self.url),
                    false => format!("no time left in this invocation to retry: {last}"),
                });
            }
            let timestamp = toolkit::clock::now().timestamp();
            let result = self
                .http
                .post(&self.url)
                .timeout(left.min(ATTEMPT_TIMEOUT))
                .header("content-type", "application/json")
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(IDEMPOTENCY_HEADER, delivery_id)
                .header(SIGNATURE_HEADER, sign(&self.secret, timestamp, body.as_bytes()))
                .body(body.clone())
                .send()
                .await;
            match result {
                Ok(response) if response.status().is_success() => return Ok(response.status().as_u16()),
                Ok(response) => last = format!("{} answered {}", self.url, response.status()),
                Err(e) => last = format!("{}: {}", self.url, toolkit::aws::error_text(&e)),
            }
            tracing::warn!(attempt, reason = %last, "webhook delivery failed");
            if attempt < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_the_same_secret_body_and_time() {
        let signature = sign(b"secret", 1_000, b"{}");
        assert_eq!(verify(b"secret", Some("1000"), Some(&signature), b"{}", 1_010, 300), Ok(()));
    }

    #[test]
    fn a_timestamp_at_either_end_of_the_range_is_stale_not_a_panic() {
        let signature = sign(b"secret", 1_000, b"{}");
        for timestamp in [i64::MIN, i64::MAX] {
            let refused = verify(b"secret", Some(&timestamp.to_string()), Some(&signature), b"{}", 1_000, 300);
            assert!(matches!(refused, Err(SignatureError::Stale(..))), "{timestamp}: {refused:?}");
        }
    }

    #[test]
    fn a_forged_or_stale_signature_is_refused() {
        let signature = sign(b"secret", 1_000, b"{}");
        assert_eq!(verify(b"other", Some("1000"), Some(&signature), b"{}", 1_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(b"secret", Some("1000"), Some(&signature), b"{\"x\":1}", 1_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", Some("1000"), Some(&signature), b"{}", 2_000, 300),
            Err(SignatureError::Stale(1_000, 300))
        );
        assert_eq!(
            verify(b"secret", None, Some(&signature), b"{}", 1_000, 300),
            Err(SignatureError::Missing(TIMESTAMP_HEADER))
        );
    }
}

#[cfg(all(test, feature = "notifier"))]
mod delivery_tests {
    use super::*;
    use std::io::{Read, Write};

    /// A receiver on 127.0.0.1 that reads each request and answers `reply` (or nothing).
    fn receiver(reply: Option<&'static str>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let url = format!("http://{}/hook", listener.local_addr().expect("an address"));
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().take(8).flatten() {
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = stream.read(&mut [0u8; 4096]);
                match reply {
                    Some(reply) => drop(stream.write_all(reply.as_bytes())),
                    None => held.push(stream),
                }
            }
        });
        url
    }

    #[tokio::test]
    async fn a_hung_receiver_costs_the_message_its_attempt_within_the_invocations_deadline() {
        let sender = WebhookSender::new(receiver(None), b"secret".to_vec()).expect("a sender");
        let started = std::time::Instant::now();
        let deadline = toolkit::clock::now().timestamp_millis() + 3_500;
        let failed = sender.post(&serde_json::json!({}), "d-1", deadline).await.expect_err("no answer");
        assert!(started.elapsed() < Duration::from_millis(3_000), "{:?}", started.elapsed());
        assert!(failed.contains("no time left") || failed.contains("127.0.0.1"), "{failed}");
    }

    #[tokio::test]
    async fn a_redirect_is_a_failed_delivery_never_followed() {
        let redirect = "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let sender = WebhookSender::new(receiver(Some(redirect)), b"secret".to_vec()).expect("a sender");
        let deadline = toolkit::clock::now().timestamp_millis() + 20_000;
        let failed = sender.post(&serde_json::json!({}), "d-2", deadline).await.expect_err("not delivered");
        assert!(failed.contains("307"), "{failed}");
    }
}
