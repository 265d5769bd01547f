//! A local Lambda Runtime API (the three routes a `bootstrap` uses), to time a function
//! process from spawn to its first response, then warm invocations, without an emulator.

use crate::local::local_http::{self, LocalRequest, LocalServer, Reply};
use hyper::StatusCode;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Mutex;

/// What happened to each invocation: when its event was handed out, when it was answered.
#[derive(Debug, Default)]
pub struct Timeline {
    pub handed: Vec<Instant>,
    pub answered: Vec<Instant>,
    pub errors: usize,
}

struct State {
    events: Vec<String>,
    timeline: Timeline,
}

pub struct RuntimeApi {
    pub address: String,
    state: Arc<Mutex<State>>,
    _server: LocalServer,
}

/// Lambda's largest invocation payload or response.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

impl RuntimeApi {
    /// Serves `events` in order, one per `next` request; then keeps `next` waiting.
    pub async fn start(events: Vec<String>) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State { events, timeline: Timeline::default() }));
        let shared = state.clone();
        let server = local_http::serve(0, MAX_PAYLOAD, move |request: LocalRequest| {
            let state = shared.clone();
            async move { answer(&request.path, &state).await }
        })
        .await?;
        Ok(Self { address: server.address.to_string(), state, _server: server })
    }

    /// Waits until `count` invocations were answered (or failed), at most `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: std::time::Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let state = self.state.lock().await;
            if state.timeline.answered.len() + state.timeline.errors >= count {
                return true;
            }
            drop(state);
            tokio::time::sleep(std::time::Duration::from_micros(200)).await;
        }
        false
    }

    pub async fn timeline(&self) -> Timeline {
        std::mem::take(&mut self.state.lock().await.timeline)
    }
}

/// `next` hands out the next event (waiting for one); a response or error is recorded.
async fn answer(path: &str, state: &Mutex<State>) -> Reply {
    if !path.ends_with("/invocation/next") {
        let mut guard = state.lock().await;
        match path.ends_with("/response") {
            true => guard.timeline.answered.push(Instant::now()),
            false => guard.timeline.errors += 1,
        }
        return Reply::empty(StatusCode::ACCEPTED);
    }
    let event = loop {
        let mut guard = state.lock().await;
        if !guard.events.is_empty() {
            let event = guard.events.remove(0);
            guard.timeline.handed.push(Instant::now());
            break event;
        }
        drop(guard);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    Reply::new(StatusCode::OK, "application/json", event)
        .with_header("lambda-runtime-aws-request-id", uuid::Uuid::new_v4().to_string())
        .with_header("lambda-runtime-deadline-ms", deadline.to_string())
        .with_header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_hands_out_an_event_and_takes_its_answer_from_this_machine_only() {
        let api = RuntimeApi::start(vec!["{\"n\":1}".into()]).await.unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://{}/2018-06-01/runtime/invocation", api.address);
        let next = http.get(format!("{base}/next")).send().await.unwrap();
        assert_eq!(next.status(), 200);
        let id = next.headers()["lambda-runtime-aws-request-id"].to_str().unwrap().to_string();
        assert_eq!(next.text().await.unwrap(), "{\"n\":1}");
        let answered = http.post(format!("{base}/{id}/response")).body("{}").send().await.unwrap();
        assert_eq!(answered.status(), 202);
        assert!(api.wait_for(1, std::time::Duration::from_secs(5)).await);

        let rebound = http.get(format!("{base}/next")).header("host", "attacker.example").send().await.unwrap();
        assert_eq!(rebound.status(), 421, "a request for another host is refused");
    }
}
