//! A local Lambda Runtime API (the three routes a `bootstrap` uses), to time a function
//! process from spawn to its first response, then warm invocations, without an emulator.

use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
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
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Serves `events` in order, one per `next` request; then keeps `next` waiting.
    pub async fn start(events: Vec<String>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let state = Arc::new(Mutex::new(State { events, timeline: Timeline::default() }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, shared).await;
                });
            }
        });
        Ok(Self { address, state, task })
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

/// One keep-alive connection: requests in sequence.
async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    // Small request/response pairs on a keep-alive connection: without this, delayed ACKs
    // add tens of milliseconds to every invocation.
    stream.set_nodelay(true)?;
    let port = stream.local_addr()?.port();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let refuse = |reason: String| std::io::Error::new(std::io::ErrorKind::InvalidData, reason);
    loop {
        let mut request_line = String::new();
        if crate::local_http::bounded_line(&mut reader, &mut request_line).await? == 0 {
            return Ok(());
        }
        let (mut length, mut host) = (0usize, None);
        for _ in 0..=crate::local_http::MAX_HEADERS {
            let mut header = String::new();
            crate::local_http::bounded_line(&mut reader, &mut header).await?;
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "host" => host = Some(value.trim().to_string()),
                    _ => {}
                }
            }
        }
        // Only this machine's bootstraps (no DNS rebinding), and at most Lambda's 6 MB payload.
        crate::local_http::check_host(host.as_deref(), port).map_err(|refused| refuse(refused.reason))?;
        if length > MAX_PAYLOAD {
            return Err(refuse(format!("a body of {length} bytes; at most {MAX_PAYLOAD}")));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
        if path.ends_with("/invocation/next") {
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
            let id = uuid::Uuid::new_v4();
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: {id}\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\nlambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:000000000000:function:bench\r\n\
                 content-length: {}\r\n\r\n",
                event.len()
            );
            write.write_all(format!("{head}{event}").as_bytes()).await?;
        } else {
            {
                let mut guard = state.lock().await;
                if path.ends_with("/response") {
                    guard.timeline.answered.push(Instant::now());
                } else {
                    guard.timeline.errors += 1;
                }
            }
            write.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").await?;
        }
    }
}

/// Lambda's largest invocation payload or response.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

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

        let rebound = http.get(format!("{base}/next")).header("host", "attacker.example").send().await;
        assert!(rebound.is_err(), "a request for another host gets no answer");
    }
}
