//! A webhook receiver on 127.0.0.1 for the test run: it checks each request's signature
//! the way a customer's endpoint would and writes one JSON line per request to a file
//! that end-to-end tests read. A bad signature gets 401.

use crate::local::local_http::{self, LocalRequest, LocalServer, Reply};
use crate::{CliError, Result};
use hyper::StatusCode;
use services::notify::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::io::AsyncWriteExt;

/// How far a timestamp may be from now, in seconds.
const TOLERANCE: i64 = 300;
const MAX_BODY: usize = 1024 * 1024;

pub struct WebhookReceiver {
    pub url: String,
    pub log: PathBuf,
    /// The secret signatures are checked with; set once the stack's secret is known.
    secret: Arc<RwLock<Vec<u8>>>,
    _server: LocalServer,
}

impl WebhookReceiver {
    /// Checks signatures with `secret` from now on (the stack generates it at deploy).
    pub fn set_secret(&self, secret: &str) {
        *self.secret.write().unwrap_or_else(std::sync::PoisonError::into_inner) = secret.as_bytes().to_vec();
    }
}

/// Listens on 127.0.0.1; until [`WebhookReceiver::set_secret`], every signature is refused.
pub async fn start(log: &Path) -> Result<WebhookReceiver> {
    std::fs::write(log, "").map_err(|e| CliError::io(log, e))?;
    let secret = Arc::new(RwLock::new(Vec::new()));
    let (log_path, shared_secret) = (Arc::new(log.to_path_buf()), secret.clone());
    let server = local_http::serve(0, MAX_BODY, move |request: LocalRequest| {
        let (log_path, secret) = (log_path.clone(), shared_secret.clone());
        async move {
            match receive(&request, &log_path, &secret).await {
                Ok(status) => Reply::empty(status),
                Err(error) => {
                    eprintln!("webhook receiver: {error}");
                    Reply::empty(StatusCode::INTERNAL_SERVER_ERROR)
                }
            }
        }
    })
    .await
    .map_err(|e| CliError::Failed(format!("webhook receiver: {e}")))?;
    let url = format!("http://127.0.0.1:{}/webhooks", server.address.port());
    Ok(WebhookReceiver { url, log: log.to_path_buf(), secret, _server: server })
}

/// Checks the signature, writes the request's line, and says how to answer.
async fn receive(request: &LocalRequest, log: &Path, secret: &RwLock<Vec<u8>>) -> std::io::Result<StatusCode> {
    let now = chrono::Utc::now().timestamp();
    let secret = secret.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let checked = if secret.is_empty() {
        Err("no secret yet".to_string())
    } else {
        let (timestamp, signature) = (request.header(TIMESTAMP_HEADER), request.header(SIGNATURE_HEADER));
        verify(&secret, timestamp, signature, &request.body, now, TOLERANCE).map_err(|e| e.to_string())
    };
    let entry = serde_json::json!({
        "deliveryId": request.header(services::notify::webhook::IDEMPOTENCY_HEADER),
        "signatureValid": checked.is_ok(),
        "reason": checked.as_ref().err(),
        "body": serde_json::from_slice::<serde_json::Value>(&request.body).unwrap_or(serde_json::Value::Null),
    });
    let mut file = tokio::fs::OpenOptions::new().append(true).open(log).await?;
    file.write_all(format!("{entry}\n").as_bytes()).await?;
    Ok(if checked.is_ok() { StatusCode::OK } else { StatusCode::UNAUTHORIZED })
}
