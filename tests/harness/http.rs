//! A deliberately small HTTP/1.1 codec on `std::net` for the fixture servers (token server, file
//! server, fault proxy) and for pushing fixtures with plain calls. It is not a general HTTP stack:
//! every exchange it makes or answers is `Connection: close`, so message framing never has to be
//! parsed beyond the head and a `Content-Length` body. Independence from the code under test is
//! the point: the fixtures must not share bugs with silo's own HTTP client.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Refuse heads larger than this (a fixture server must not grow without bound on bad input).
const MAX_HEAD: usize = 64 * 1024;

/// The start line and headers of a request or response.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// `GET /v2/ HTTP/1.1` or `HTTP/1.1 200 OK`.
    pub start_line: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces (or adds) a header.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// `Content-Length`, if present and numeric.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    /// Request method (first word of a request line).
    pub fn method(&self) -> &str {
        self.start_line.split(' ').next().unwrap_or("")
    }

    /// Request target (second word of a request line), e.g. `/v2/a/b/blobs/sha256:…`.
    pub fn target(&self) -> &str {
        self.start_line.split(' ').nth(1).unwrap_or("")
    }

    /// Status code of a response line (0 if unparsable).
    pub fn status(&self) -> u16 {
        self.start_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The head as bytes on the wire, blank line included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start_line);
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// Reads one message head from `reader`. `Ok(None)` when the peer closed before sending anything.
pub fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut head = Head::default();
    let mut total = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            if head.start_line.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside an HTTP head",
            ));
        }
        total += n;
        if total > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP head over 64 KiB",
            ));
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if head.start_line.is_empty() {
            if trimmed.is_empty() {
                continue; // tolerate stray CRLF between messages
            }
            head.start_line = trimmed.to_string();
        } else if trimmed.is_empty() {
            return Ok(Some(head));
        } else if let Some((k, v)) = trimmed.split_once(':') {
            head.headers
                .push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// A request received by a fixture server.
#[derive(Debug, Clone)]
pub struct Request {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Request {
    /// Reads a request (head plus a `Content-Length` body of at most `max_body` bytes).
    pub fn read_from(reader: &mut impl BufRead, max_body: u64) -> io::Result<Option<Request>> {
        let Some(head) = read_head(reader)? else {
            return Ok(None);
        };
        let len = head.content_length().unwrap_or(0);
        if len > max_body {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("request body of {len} bytes is over the fixture's {max_body}-byte limit"),
            ));
        }
        let mut body = vec![0; len as usize];
        reader.read_exact(&mut body)?;
        Ok(Some(Request { head, body }))
    }

    /// The path of the target without its query.
    pub fn path(&self) -> &str {
        self.head.target().split('?').next().unwrap_or("")
    }

    /// The decoded query parameters of the target (repeated keys kept in order).
    pub fn query(&self) -> Vec<(String, String)> {
        self.head
            .target()
            .split_once('?')
            .map(|(_, q)| parse_form(q))
            .unwrap_or_default()
    }
}

/// Parses `a=1&b=x%20y` (query strings and `application/x-www-form-urlencoded` bodies).
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters (for query values).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Writes a complete `Connection: close` response.
pub fn write_response(
    stream: &mut impl Write,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = Head {
        start_line: format!("HTTP/1.1 {status} {}", reason(status)),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    head.set_header("Content-Length", &body.len().to_string());
    head.set_header("Connection", "close");
    stream.write_all(&head.to_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// The canonical reason phrase for the status codes the fixtures use.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A response received by [`call`].
#[derive(Debug, Clone)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One plain-HTTP exchange with `addr` (`Connection: close`; body read to EOF or Content-Length).
/// `target` is the origin-form path (`/v2/…?x=y`).
pub fn call(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = Head {
        start_line: format!("{method} {target} HTTP/1.1"),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    head.set_header("Host", &addr.to_string());
    head.set_header("Connection", "close");
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.set_header("Content-Length", &body.len().to_string());
    }
    let mut writer = stream.try_clone()?;
    writer.write_all(&head.to_bytes())?;
    writer.write_all(body)?;
    writer.flush()?;
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{addr} closed without answering"),
        )
    })?;
    let mut body = Vec::new();
    if method != "HEAD" {
        match head.content_length() {
            Some(n) => {
                body.resize(n as usize, 0);
                reader.read_exact(&mut body)?;
            }
            None => {
                reader.read_to_end(&mut body)?;
            }
        }
    }
    Ok(Response { head, body })
}

/// A fixture server on 127.0.0.1: an accept loop on its own thread that hands every connection
/// to `handler` on a fresh thread. Dropping it stops accepting (connections being served finish on
/// their own; handlers must bound their work).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accept_thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Binds an ephemeral port on 127.0.0.1 and starts serving.
    pub fn start<F>(name: &str, handler: F) -> Server
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("{name}: bind 127.0.0.1:0: {e}"));
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handler = std::sync::Arc::new(handler);
        let stop_flag = stop.clone();
        let thread_name = name.to_string();
        let accept_thread = std::thread::Builder::new()
            .name(format!("{name}-accept"))
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop_flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let handler = handler.clone();
                    let _ = std::thread::Builder::new()
                        .name(format!("{thread_name}-conn"))
                        .spawn(move || handler(conn));
                }
            })
            .unwrap();
        Server {
            addr,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the blocking accept() so the loop sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}
