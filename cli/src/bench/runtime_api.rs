//! A local Lambda Runtime API (the three routes a `bootstrap` uses), to time a function
//! process from spawn to its first response, then warm invocations, without an emulator.

use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
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
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).await?;
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
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
