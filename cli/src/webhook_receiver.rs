//! A webhook receiver on 127.0.0.1 for the test run: it checks each request's signature
//! the way a customer's endpoint would and writes one JSON line per request to a file
//! that end-to-end tests read. A bad signature gets 401.

use crate::local_http::read_request;
use crate::{CliError, Result};
use services::notify::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// How far a timestamp may be from now, in seconds.
const TOLERANCE: i64 = 300;
const MAX_BODY: usize = 1024 * 1024;

pub struct WebhookReceiver {
    pub url: String,
    pub log: PathBuf,
    /// The secret signatures are checked with; set once the stack's secret is known.
    secret: Arc<RwLock<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookReceiver {
    /// Checks signatures with `secret` from now on (the stack generates it at deploy).
    pub fn set_secret(&self, secret: &str) {
        *self.secret.write().unwrap_or_else(std::sync::PoisonError::into_inner) = secret.as_bytes().to_vec();
    }
}

/// Listens on 127.0.0.1; until [`WebhookReceiver::set_secret`], every signature is refused.
pub async fn start(log: &Path) -> Result<WebhookReceiver> {
    let listener =
        TcpListener::bind("127.0.0.1:0").await.map_err(|e| CliError::Failed(format!("webhook receiver: {e}")))?;
    let port = listener.local_addr().map_err(|e| CliError::Failed(e.to_string()))?.port();
    std::fs::write(log, "").map_err(|e| CliError::io(log, e))?;
    let secret = Arc::new(RwLock::new(Vec::new()));
    let (log_path, shared_secret) = (log.to_path_buf(), secret.clone());
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (log_path, secret) = (log_path.clone(), shared_secret.clone());
            tokio::spawn(async move {
                if let Err(error) = serve(stream, port, &log_path, &secret).await {
                    eprintln!("webhook receiver: {error}");
                }
            });
        }
    });
    Ok(WebhookReceiver { url: format!("http://127.0.0.1:{port}/webhooks"), log: log.to_path_buf(), secret, task })
}

async fn serve(mut stream: TcpStream, port: u16, log: &Path, secret: &RwLock<Vec<u8>>) -> std::io::Result<()> {
    let request = match read_request(&mut stream, port, MAX_BODY).await {
        Ok(request) => request,
        Err(refused) => {
            let answer = format!("HTTP/1.1 {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", refused.status);
            return stream.write_all(answer.as_bytes()).await;
        }
    };
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
    let status = if checked.is_ok() { "200 OK" } else { "401 Unauthorized" };
    stream.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes()).await
}
