//! A live view of a stack, served by the CLI on 127.0.0.1: the page (`/`) asks for the
//! figures (`/api/figures`, JSON from [`crate::ops::figures`]) every two seconds and draws the
//! event flow per minute per event type, queue and DLQ depths, and the latest failed
//! events with their reasons. No JavaScript dependency: one HTML file in `cli/assets`.

use crate::local::local_http::{self, LocalRequest, LocalServer, Reply};
use crate::stacks::stack::StackInfo;
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use hyper::StatusCode;
use std::sync::Arc;

const PAGE: &str = include_str!("../../assets/dashboard.html");
/// Minutes of event flow shown.
const WINDOW_MINUTES: u32 = 15;
/// A read that takes longer is answered 503 (a busy emulator can stall a call for minutes;
/// the page then shows why and asks again, instead of waiting on a request that hangs).
const FIGURES_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);
/// One read of the stack serves every page that asks within this long (pages ask every 2 s).
const FIGURES_FRESH_FOR: std::time::Duration = std::time::Duration::from_millis(1_500);

/// What the pages share: the stack, and the last figures read with when.
struct Shared {
    clients: Clients,
    stack: StackInfo,
    last: tokio::sync::Mutex<Option<(std::time::Instant, Answer)>>,
}

type Answer = (StatusCode, &'static str, String);

pub struct Dashboard {
    pub url: String,
    server: LocalServer,
}

impl Dashboard {
    /// Serves until the process ends.
    pub async fn wait(self) {
        self.server.wait().await;
    }
}

/// Starts serving on 127.0.0.1:`port` (0: any free port): only GETs, with no body.
pub async fn start(clients: Clients, stack: StackInfo, port: u16) -> Result<Dashboard> {
    let shared = Arc::new(Shared { clients, stack, last: tokio::sync::Mutex::new(None) });
    let server = local_http::serve(port, 0, move |request: LocalRequest| {
        let shared = shared.clone();
        async move {
            let (status, content_type, body) = answer(&request.method, &request.path, &shared).await;
            Reply::new(status, content_type, body)
        }
    })
    .await
    .map_err(|e| CliError::Failed(format!("dashboard: cannot listen on 127.0.0.1:{port}: {e}")))?;
    Ok(Dashboard { url: format!("http://{}/", server.address), server })
}

async fn answer(method: &str, path: &str, shared: &Shared) -> Answer {
    match (method, path) {
        ("GET", "/") => (StatusCode::OK, "text/html; charset=utf-8", PAGE.to_string()),
        ("GET", "/api/figures") => shared_figures(shared).await,
        _ => (StatusCode::NOT_FOUND, "text/plain", format!("no such page: {path}")),
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
    let read = tokio::time::timeout(FIGURES_WITHIN, crate::ops::figures::collect(clients, stack, WINDOW_MINUTES));
    let Ok(collected) = read.await else {
        let error = format!("the stack did not answer within {} s", FIGURES_WITHIN.as_secs());
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            serde_json::json!({ "error": error }).to_string(),
        );
    };
    match collected {
        Ok(figures) => {
            let mut json = serde_json::to_value(&figures).unwrap_or_default();
            json["stack"] = serde_json::json!(stack.name);
            (StatusCode::OK, "application/json", json.to_string())
        }
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            serde_json::json!({ "error": error.to_string() }).to_string(),
        ),
    }
}
