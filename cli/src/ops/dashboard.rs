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

/// What the pages share: the stack, the last good figures read (with when), and the read
/// under way, if any.
struct Shared {
    clients: Clients,
    stack: StackInfo,
    last_good: std::sync::Mutex<Option<(std::time::Instant, Answer)>>,
    reading: tokio::sync::Mutex<Option<tokio::task::JoinHandle<Answer>>>,
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
    let shared = Arc::new(Shared {
        clients,
        stack,
        last_good: std::sync::Mutex::new(None),
        reading: tokio::sync::Mutex::new(None),
    });
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

async fn answer(method: &str, path: &str, shared: &Arc<Shared>) -> Answer {
    match (method, path) {
        ("GET", "/") => (StatusCode::OK, "text/html; charset=utf-8", PAGE.to_string()),
        ("GET", "/api/figures") => shared_figures(shared.clone()).await,
        _ => (StatusCode::NOT_FOUND, "text/plain", format!("no such page: {path}")),
    }
}

/// The figures read at most once per [`FIGURES_FRESH_FOR`]: pages asking meanwhile share
/// one read, so ten open pages cost the stack what one does. Past that, pages get the
/// last good figures (with the time they were read) at once while a new read runs in the
/// background: a read slower than a page waits (a busy emulator, a window full of events)
/// never leaves a page without figures once one read has finished. Before that, a page
/// waits up to [`FIGURES_WITHIN`], then gets a 503 with the reason and asks again.
async fn shared_figures(shared: Arc<Shared>) -> Answer {
    let last_good = || shared.last_good.lock().ok().and_then(|last| last.clone());
    if let Some((at, answer)) = last_good()
        && at.elapsed() < FIGURES_FRESH_FOR
    {
        return answer;
    }
    let mut reading = shared.reading.lock().await;
    if reading.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
        let shared = shared.clone();
        *reading = Some(tokio::spawn(async move {
            let answer = figures(&shared.clients, &shared.stack).await;
            if answer.0 == StatusCode::OK
                && let Ok(mut last) = shared.last_good.lock()
            {
                *last = Some((std::time::Instant::now(), answer.clone()));
            }
            answer
        }));
    }
    if let Some((_, answer)) = last_good() {
        return answer;
    }
    let Some(read) = reading.as_mut() else { return unavailable("no read of the figures is under way") };
    match tokio::time::timeout(FIGURES_WITHIN, read).await {
        Ok(done) => {
            *reading = None;
            done.unwrap_or_else(|failed| unavailable(&format!("reading the figures failed: {failed}")))
        }
        Err(_) => {
            unavailable(&format!("the stack did not answer within {} s; still reading", FIGURES_WITHIN.as_secs()))
        }
    }
}

fn unavailable(error: &str) -> Answer {
    (StatusCode::SERVICE_UNAVAILABLE, "application/json", serde_json::json!({ "error": error }).to_string())
}

/// One read of the figures, bounded only by the SDK's own timeouts.
async fn figures(clients: &Clients, stack: &StackInfo) -> Answer {
    match crate::ops::figures::collect(clients, stack, WINDOW_MINUTES).await {
        Ok(figures) => {
            let mut json = serde_json::to_value(&figures).unwrap_or_default();
            json["stack"] = serde_json::json!(stack.name);
            (StatusCode::OK, "application/json", json.to_string())
        }
        Err(error) => unavailable(&error.to_string()),
    }
}
