//! The CLI's local HTTP servers (the dashboard, the test run's webhook receiver, the
//! benchmark's Lambda Runtime API), on hyper's HTTP/1.1 server: bounded in size and time,
//! listening on 127.0.0.1 and answering only requests for this machine's names.
//!
//! The Host check is what stops DNS rebinding: a page on another site whose name the
//! attacker re-points at 127.0.0.1 still sends its own name as Host, and is refused.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Limits of one request.
pub const MAX_HEADERS: usize = 64;
/// How long a request's head, then its body, may take to arrive.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A request whose Host named this machine and whose body arrived whole.
pub struct LocalRequest {
    pub method: String,
    pub path: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl LocalRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An answer: status, content type, extra headers and body.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Reply {
    pub fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self { status, content_type, headers: Vec::new(), body: body.into() }
    }

    pub fn empty(status: StatusCode) -> Self {
        Self::new(status, "text/plain", Bytes::new())
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// A running server; dropping it stops accepting.
pub struct LocalServer {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl LocalServer {
    /// Serves until the process ends.
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on 127.0.0.1:`port` (0: any free port) and answers each request with `handler`,
/// bodies of at most `max_body` bytes; keep-alive connections are served in sequence.
pub async fn serve<H, F>(port: u16, max_body: usize, handler: H) -> std::io::Result<LocalServer>
where
    H: Fn(LocalRequest) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    let handler = Arc::new(handler);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // Small request/response pairs on keep-alive connections: without this, delayed
            // ACKs add tens of milliseconds to each (the Runtime API's invocations).
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let handler = handler.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(answer(request, address.port(), max_body, &*handler).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(READ_TIMEOUT)
                    .max_headers(MAX_HEADERS)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(LocalServer { address, task })
}

async fn answer<H, F>(request: Request<Incoming>, port: u16, max_body: usize, handler: &H) -> Response<Full<Bytes>>
where
    H: Fn(LocalRequest) -> F,
    F: Future<Output = Reply>,
{
    let reply = match read(request, port, max_body).await {
        Ok(request) => handler(request).await,
        Err(refused) => refused,
    };
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(reply.content_type));
    headers.insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    for (name, value) in reply.headers {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// The request, once its Host is checked and its body read within the limits.
async fn read(request: Request<Incoming>, port: u16, max_body: usize) -> Result<LocalRequest, Reply> {
    let refused = |status: StatusCode, reason: String| Reply::new(status, "text/plain", reason);
    let host = request.headers().get(hyper::header::HOST).and_then(|h| h.to_str().ok());
    check_host(host, port).map_err(|reason| refused(StatusCode::MISDIRECTED_REQUEST, reason))?;
    let (parts, body) = request.into_parts();
    let body = match tokio::time::timeout(READ_TIMEOUT, Limited::new(body, max_body).collect()).await {
        Err(_) => return Err(refused(StatusCode::REQUEST_TIMEOUT, "the body took too long".into())),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(refused(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over {max_body} bytes")));
        }
        Ok(Err(e)) => return Err(refused(StatusCode::BAD_REQUEST, format!("the body: {e}"))),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    Ok(LocalRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        headers: parts.headers,
        body,
    })
}

/// Only 127.0.0.1, localhost or [::1], on our port; the reason otherwise.
pub fn check_host(host: Option<&str>, port: u16) -> Result<(), String> {
    let host = host.ok_or_else(|| "no Host header".to_string())?;
    let allowed = ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| host == format!("{name}:{port}"));
    if allowed { Ok(()) } else { Err(format!("Host {host} is not this machine")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> LocalServer {
        serve(0, 100, |request: LocalRequest| async move {
            let text = format!("{} {} {}", request.method, request.path, String::from_utf8_lossy(&request.body));
            Reply::new(StatusCode::OK, "text/plain", text)
        })
        .await
        .unwrap()
    }

    /// Sends raw bytes and returns the status line of the answer.
    async fn status_of(server: &LocalServer, raw: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(server.address).await.unwrap();
        stream.write_all(raw.as_bytes()).await.unwrap();
        let mut answer = vec![0; 512];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await.unwrap().unwrap();
        String::from_utf8_lossy(&answer[..read]).lines().next().unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn it_answers_a_request_for_this_machine() {
        let server = echo_server().await;
        let url = format!("http://127.0.0.1:{}/hook", server.address.port());
        let answer = reqwest::Client::new().post(url).body("{}").send().await.unwrap();
        assert_eq!(answer.headers()["cache-control"], "no-store");
        assert_eq!(answer.text().await.unwrap(), "POST /hook {}");
    }

    #[tokio::test]
    async fn it_refuses_another_host_as_a_rebinding_page_sends_it() {
        let server = echo_server().await;
        let rebound = status_of(&server, "GET / HTTP/1.1\r\nHost: attacker.example:8080\r\n\r\n").await;
        assert_eq!(rebound, "HTTP/1.1 421 Misdirected Request");
        assert_eq!(status_of(&server, "GET / HTTP/1.1\r\n\r\n").await, "HTTP/1.1 421 Misdirected Request", "no Host");
    }

    #[tokio::test]
    async fn it_refuses_too_many_headers_and_big_bodies() {
        let server = echo_server().await;
        let host = format!("Host: 127.0.0.1:{}\r\n", server.address.port());
        let many = format!("GET / HTTP/1.1\r\n{host}{}\r\n", "X-A: 1\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(status_of(&server, &many).await, "HTTP/1.1 431 Request Header Fields Too Large");
        let big = format!("POST / HTTP/1.1\r\n{host}Content-Length: 101\r\n\r\n{}", "a".repeat(101));
        assert_eq!(status_of(&server, &big).await, "HTTP/1.1 413 Payload Too Large");
    }
}
