//! A live view of a stack, served by the CLI on 127.0.0.1: the page (`/`) asks for the
//! figures (`/api/figures`, JSON from [`crate::figures`]) every two seconds and draws the
//! event flow per minute per event type, queue and DLQ depths, and the latest failed
//! events with their reasons. No JavaScript dependency: one HTML file in `cli/assets`.

use crate::stack::StackInfo;
use crate::target::Clients;
use crate::{CliError, Result};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const PAGE: &str = include_str!("../assets/dashboard.html");
/// Minutes of event flow shown.
const WINDOW_MINUTES: u32 = 15;
/// One read of the stack serves every page that asks within this long (pages ask every 2 s).
const FIGURES_FRESH_FOR: std::time::Duration = std::time::Duration::from_millis(1_500);

/// What the pages share: the stack, and the last figures read with when.
struct Shared {
    clients: Clients,
    stack: StackInfo,
    last: tokio::sync::Mutex<Option<(std::time::Instant, Answer)>>,
}

type Answer = (&'static str, &'static str, String);

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
    let shared = std::sync::Arc::new(Shared { clients, stack, last: tokio::sync::Mutex::new(None) });
    let port = address.port();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let shared = shared.clone();
            tokio::spawn(async move {
                let _ = serve(stream, port, &shared).await;
            });
        }
    });
    Ok(Dashboard { url: format!("http://{address}/"), task })
}

async fn serve(mut stream: TcpStream, port: u16, shared: &Shared) -> std::io::Result<()> {
    // Only GETs from this machine's own names (no DNS rebinding), bounded in size and time.
    let (status, content_type, body) = match crate::local_http::read_request(&mut stream, port, 0).await {
        Ok(request) => answer(&request.method, &request.path, shared).await,
        Err(refused) => (refused.status, "text/plain", refused.reason),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

async fn answer(method: &str, path: &str, shared: &Shared) -> Answer {
    match (method, path) {
        ("GET", "/") => ("200 OK", "text/html; charset=utf-8", PAGE.to_string()),
        ("GET", "/api/figures") => shared_figures(shared).await,
        _ => ("404 Not Found", "text/plain", format!("no such page: {path}")),
    }
}

/// The figures read at most once per [`FIGURES_FRESH_FOR`]: pages asking meanwhile wait
/// for that read and share it, so ten open pages cost the stack what one does.
async fn shared_figures(shared: &Shared) -> Answer {
    let mut last = shared.last.lock().await;
    if let Some((_, answer)) = last.as_ref().filter(|(at, _)| at.elapsed() < FIGURES_FRESH_FOR) {
        return answer.clone();
    }
    let answer = figures(&shared.clients, &shared.stack).await;
    *last = Some((std::time::Instant::now(), answer.clone()));
    answer
}

async fn figures(clients: &Clients, stack: &StackInfo) -> Answer {
    match crate::figures::collect(clients, stack, WINDOW_MINUTES).await {
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
    }
}
