//! A lean HTTP/1.1 load client: one keep-alive connection per request in
//! flight, each request written from bytes prepared before the run, each
//! answer read just far enough to know its status and length.
//!
//! The load generator shares the 2 cores with the server it measures, so every
//! microsecond it spends is one the server does not get. A general client
//! (reqwest over hyper: header maps, pools, body streams) spends several times
//! what this one does per request, as `wrk` and `oha` avoid for the same
//! reason. It speaks only what the benchmarks need: requests with a
//! `Content-Length` body and answers framed by `Content-Length`.

use std::net::SocketAddr;

use anyhow::{bail, Context as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// One request's bytes, head and body, ready to write.
pub fn request(method: &str, path: &str, host: SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\n", body.len()).into_bytes();
    for (name, value) in headers {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    bytes
}

/// A keep-alive connection that sends one request at a time.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// What came back: the status and the body.
pub struct Answer<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

impl Connection {
    pub async fn open(address: SocketAddr) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(address).await.with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream, buffer: Vec::with_capacity(4096) })
    }

    /// Writes `request` and reads its whole answer.
    pub async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<Answer<'_>> {
        self.stream.write_all(request).await?;
        self.buffer.clear();
        let (head_len, status, body_len) = loop {
            if let Some(parsed) = parse_head(&self.buffer)? {
                break parsed;
            }
            if self.read_more().await? == 0 {
                bail!("the server closed the connection before answering");
            }
        };
        while self.buffer.len() < head_len + body_len {
            if self.read_more().await? == 0 {
                bail!("the server closed the connection in the middle of an answer");
            }
        }
        Ok(Answer { status, body: &self.buffer[head_len..head_len + body_len] })
    }

    async fn read_more(&mut self) -> std::io::Result<usize> {
        if self.buffer.capacity() - self.buffer.len() < 1024 {
            self.buffer.reserve(4096);
        }
        self.stream.read_buf(&mut self.buffer).await
    }
}

/// The head's length, the status and the body's length, once the whole head is in `bytes`.
fn parse_head(bytes: &[u8]) -> anyhow::Result<Option<(usize, u16, usize)>> {
    let Some(end) = bytes.windows(4).position(|window| window == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&bytes[..end]).context("the answer's head is not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
    let mut body_len = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        if name.eq_ignore_ascii_case("content-length") {
            body_len = Some(value.trim().parse().context("content-length is not a number")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("chunked answers are not supported by this load client");
        }
    }
    Ok(Some((end + 4, status, body_len.unwrap_or(0))))
}

#[cfg(test)]
mod tests {
    use super::parse_head;

    #[test]
    fn a_head_is_read_only_once_complete() {
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n").unwrap().is_none());
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_head(answer).unwrap(), Some((answer.len() - 2, 200, 2)));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
    }
}
