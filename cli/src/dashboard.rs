//! A live view of a stack, served by the CLI on 127.0.0.1: the page (`/`) asks for the
//! figures (`/api/figures`, JSON from [`crate::figures`]) every two seconds and draws the
//! event flow per minute per event type, queue and DLQ depths, and the latest failed
//! events with their reasons. No JavaScript dependency: one HTML file in `cli/assets`.

use crate::stack::StackInfo;
use crate::target::Clients;
use crate::{CliError, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const PAGE: &str = include_str!("../assets/dashboard.html");
/// Minutes of event flow shown.
const WINDOW_MINUTES: u32 = 15;

pub struct Dashboard {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Dashboard {
    /// Serves until the process ends.
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Starts serving on 127.0.0.1:`port` (0: any free port).
pub async fn start(clients: Clients, stack: StackInfo, port: u16) -> Result<Dashboard> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| CliError::Failed(format!("dashboard: cannot listen on 127.0.0.1:{port}: {e}")))?;
    let address = listener.local_addr().map_err(|e| CliError::Failed(e.to_string()))?;
    let shared = std::sync::Arc::new((clients, stack));
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let shared = shared.clone();
            tokio::spawn(async move {
                let _ = serve(stream, &shared.0, &shared.1).await;
            });
        }
    });
    Ok(Dashboard { url: format!("http://{address}/"), task })
}

async fn serve(stream: TcpStream, clients: &Clients, stack: &StackInfo) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut request_line = String::new();
    lines.read_line(&mut request_line).await?;
    // The headers are not needed; read them so the client sees a clean close.
    let mut header = String::new();
    while lines.read_line(&mut header).await? > 2 {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let (status, content_type, body) = match (method, path) {
        ("GET", "/") => ("200 OK", "text/html; charset=utf-8", PAGE.to_string()),
        ("GET", "/api/figures") => match crate::figures::collect(clients, stack, WINDOW_MINUTES).await {
            Ok(figures) => {
                let mut json = serde_json::to_value(&figures).unwrap_or_default();
                json["stack"] = serde_json::json!(stack.name);
                ("200 OK", "application/json", json.to_string())
            }
            Err(error) => (
                "503 Service Unavailable",
                "application/json",
                serde_json::json!({ "error": error.to_string() }).to_string(),
            ),
        },
        _ => ("404 Not Found", "text/plain", format!("no such page: {path}")),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    write.write_all(head.as_bytes()).await?;
    write.write_all(body.as_bytes()).await?;
    write.shutdown().await
}
