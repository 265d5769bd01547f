//! Reading one HTTP/1.1 request on the CLI's local servers (the dashboard, the test run's
//! webhook receiver): bounded in size and time, and only for this machine's names.
//!
//! The Host check is what stops DNS rebinding: a page on another site whose name the
//! attacker re-points at 127.0.0.1 still sends its own name as Host, and is refused.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

/// Limits of one request.
pub const MAX_LINE: usize = 8 * 1024;
pub const MAX_HEADERS: usize = 64;
pub const READ_SECONDS: u64 = 10;

pub struct LocalRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl LocalRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why a request was refused, with the status to answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub status: &'static str,
    pub reason: String,
}

fn refused(status: &'static str, reason: impl Into<String>) -> Refused {
    Refused { status, reason: reason.into() }
}

/// Reads a request whose Host names this machine on `port`, with a body of at most `max_body` bytes.
pub async fn read_request<R: AsyncRead + Unpin>(
    stream: R,
    port: u16,
    max_body: usize,
) -> Result<LocalRequest, Refused> {
    let timeout = std::time::Duration::from_secs(READ_SECONDS);
    match tokio::time::timeout(timeout, read(stream, port, max_body)).await {
        Ok(result) => result,
        Err(_) => Err(refused("408 Request Timeout", "the request took too long")),
    }
}

async fn read<R: AsyncRead + Unpin>(stream: R, port: u16, max_body: usize) -> Result<LocalRequest, Refused> {
    let mut reader = BufReader::new(stream);
    let request_line = read_line(&mut reader).await?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader).await?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(refused("431 Request Header Fields Too Large", format!("more than {MAX_HEADERS} headers")));
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let request = LocalRequest { method, path, headers, body: Vec::new() };
    check_host(request.header("host"), port)?;
    let length: usize = match request.header("content-length") {
        None => 0,
        Some(text) => text.parse().map_err(|_| refused("400 Bad Request", "content-length is not a number"))?,
    };
    if length > max_body {
        return Err(refused("413 Content Too Large", format!("the body is over {max_body} bytes")));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.map_err(|e| refused("400 Bad Request", format!("the body ended early: {e}")))?;
    Ok(LocalRequest { body, ..request })
}

/// One line without its line ending, at most MAX_LINE bytes.
async fn read_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Result<String, Refused> {
    let mut line = String::new();
    bounded_line(reader, &mut line).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData if e.to_string().contains("over") => {
            refused("431 Request Header Fields Too Large", e.to_string())
        }
        _ => refused("400 Bad Request", e.to_string()),
    })?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Appends one line (line ending included) of at most MAX_LINE bytes to `line`; returns
/// the bytes read (0 at the end of the stream).
pub async fn bounded_line<R: AsyncBufRead + Unpin>(reader: &mut R, line: &mut String) -> std::io::Result<usize> {
    let read = (&mut *reader).take(MAX_LINE as u64 + 1).read_line(line).await?;
    if read > MAX_LINE {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a line over {MAX_LINE} bytes")));
    }
    Ok(read)
}

/// Only 127.0.0.1, localhost or [::1], on our port.
pub fn check_host(host: Option<&str>, port: u16) -> Result<(), Refused> {
    let host = host.ok_or_else(|| refused("400 Bad Request", "no Host header"))?;
    let allowed = ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| host == format!("{name}:{port}"));
    if allowed { Ok(()) } else { Err(refused("421 Misdirected Request", format!("Host {host} is not this machine"))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_text(text: &str) -> Result<LocalRequest, Refused> {
        read_request(text.as_bytes(), 8080, 100).await
    }

    #[tokio::test]
    async fn it_reads_a_request_for_this_machine() {
        let request =
            read_text("POST /hook HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 2\r\n\r\n{}").await.unwrap();
        assert_eq!(
            (request.method.as_str(), request.path.as_str(), request.body.as_slice()),
            ("POST", "/hook", &b"{}"[..])
        );
    }

    #[tokio::test]
    async fn it_refuses_another_host_as_a_rebinding_page_sends_it() {
        let refused = read_text("GET / HTTP/1.1\r\nHost: attacker.example:8080\r\n\r\n").await.err().unwrap();
        assert_eq!(refused.status, "421 Misdirected Request");
        assert!(read_text("GET / HTTP/1.1\r\n\r\n").await.is_err(), "no Host");
    }

    #[tokio::test]
    async fn it_refuses_endless_lines_too_many_headers_and_big_bodies() {
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_LINE + 10));
        assert_eq!(read_text(&long).await.err().unwrap().status, "431 Request Header Fields Too Large");
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: 1\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(read_text(&many).await.err().unwrap().status, "431 Request Header Fields Too Large");
        let big = "POST / HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 101\r\n\r\n";
        assert_eq!(read_text(big).await.err().unwrap().status, "413 Content Too Large");
    }
}
