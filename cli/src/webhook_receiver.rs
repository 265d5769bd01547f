//! A webhook receiver on 127.0.0.1 for the test run: it checks each request's signature
//! the way a customer's endpoint would and writes one JSON line per request to a file
//! that end-to-end tests read. A bad signature gets 401.

use crate::{CliError, Result};
use shared::notify::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How far a timestamp may be from now, in seconds.
const TOLERANCE: i64 = 300;
const MAX_BODY: usize = 1024 * 1024;

pub struct WebhookReceiver {
    pub url: String,
    pub log: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(log: &Path, secret: String) -> Result<WebhookReceiver> {
    let listener =
        TcpListener::bind("127.0.0.1:0").await.map_err(|e| CliError::Failed(format!("webhook receiver: {e}")))?;
    let port = listener.local_addr().map_err(|e| CliError::Failed(e.to_string()))?.port();
    std::fs::write(log, "").map_err(|e| CliError::io(log, e))?;
    let (log_path, secret) = (log.to_path_buf(), secret.into_bytes());
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (log_path, secret) = (log_path.clone(), secret.clone());
            tokio::spawn(async move {
                if let Err(error) = serve(stream, &log_path, &secret).await {
                    eprintln!("webhook receiver: {error}");
                }
            });
        }
    });
    Ok(WebhookReceiver { url: format!("http://127.0.0.1:{port}/webhooks"), log: log.to_path_buf(), task })
}

async fn serve(stream: tokio::net::TcpStream, log: &Path, secret: &[u8]) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0).min(MAX_BODY);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    let now = chrono::Utc::now().timestamp();
    let checked = verify(secret, header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), &body, now, TOLERANCE);
    let entry = serde_json::json!({
        "signatureValid": checked.is_ok(),
        "reason": checked.as_ref().err().map(ToString::to_string),
        "body": serde_json::from_slice::<serde_json::Value>(&body).unwrap_or(serde_json::Value::Null),
    });
    let mut file = tokio::fs::OpenOptions::new().append(true).open(log).await?;
    file.write_all(format!("{entry}\n").as_bytes()).await?;
    let status = if checked.is_ok() { "200 OK" } else { "401 Unauthorized" };
    reader
        .into_inner()
        .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes())
        .await
}
