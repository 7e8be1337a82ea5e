//! A local HTTP server for foreign-layer `urls` (the "Microsoft CDN" of the Windows fixture):
//! serves in-memory files by path with GET/HEAD and single `Range: bytes=a-[b]` requests, and
//! records every request with the body bytes it sent, so tests can assert whether (and how much
//! of) a foreign layer was fetched from its URL.

use std::collections::HashMap;
use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

use crate::http::{write_response, Request, Server};

/// One request the file server answered.
#[derive(Debug, Clone)]
pub struct Served {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    /// Whether an `Authorization` header came along (credentials must never leak to foreign URLs).
    pub had_authorization: bool,
    pub status: u16,
    /// Body bytes sent (counted as they are handed to the socket).
    pub body_bytes: u64,
}

#[derive(Default)]
struct State {
    files: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    log: Mutex<Vec<Served>>,
}

/// A running file server (stopped on drop).
pub struct FileServer {
    server: Server,
    state: Arc<State>,
}

impl std::fmt::Debug for FileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileServer")
            .field("addr", &self.addr())
            .finish()
    }
}

impl Default for FileServer {
    fn default() -> Self {
        FileServer::start()
    }
}

impl FileServer {
    pub fn start() -> FileServer {
        let state = Arc::new(State::default());
        let shared = state.clone();
        let server = Server::start("file-server", move |conn| serve(&shared, conn));
        FileServer { server, state }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Publishes `bytes` at `path` (which starts with `/`) and returns its full URL.
    pub fn publish(&self, path: &str, bytes: Vec<u8>) -> String {
        assert!(path.starts_with('/'), "path must start with /: {path}");
        self.state
            .files
            .lock()
            .unwrap()
            .insert(path.to_string(), Arc::new(bytes));
        self.url(path)
    }

    /// Removes a published file (later requests get 404).
    pub fn unpublish(&self, path: &str) {
        self.state.files.lock().unwrap().remove(path);
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<Served> {
        self.state.log.lock().unwrap().clone()
    }

    /// Body bytes sent for `path` over all requests.
    pub fn bytes_served(&self, path: &str) -> u64 {
        self.requests()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.body_bytes)
            .sum()
    }
}

fn serve(state: &State, conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let Ok(Some(req)) = Request::read_from(&mut reader, 0) else {
        return;
    };
    let method = req.head.method().to_string();
    let path = req.path().to_string();
    let range = req.head.header("range").map(str::to_string);
    let file = state.files.lock().unwrap().get(&path).cloned();
    let (status, headers, body): (u16, Vec<(String, String)>, &[u8]) = match &file {
        None => (404, vec![], b"not found\n"),
        Some(bytes) => match range.as_deref().map(|r| parse_range(r, bytes.len() as u64)) {
            None => (200, vec![], &bytes[..]),
            Some(Some((start, end))) => (
                206,
                vec![(
                    "Content-Range".into(),
                    format!("bytes {start}-{end}/{}", bytes.len()),
                )],
                &bytes[start as usize..=end as usize],
            ),
            Some(None) => (
                416,
                vec![("Content-Range".into(), format!("bytes */{}", bytes.len()))],
                b"",
            ),
        },
    };
    let mut all: Vec<(&str, &str)> = vec![
        ("Content-Type", "application/octet-stream"),
        ("Accept-Ranges", "bytes"),
    ];
    all.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let sent = if method == "HEAD" { &[][..] } else { body };
    // Logged before writing, so a client that has the bytes always finds them counted.
    state.log.lock().unwrap().push(Served {
        method: method.clone(),
        path,
        range,
        had_authorization: req.head.header("authorization").is_some(),
        status,
        body_bytes: sent.len() as u64,
    });
    let _ = if method == "HEAD" {
        // HEAD: the Content-Length of the would-be body, no body.
        let mut head = crate::http::Head {
            start_line: format!("HTTP/1.1 {status} {}", crate::http::reason(status)),
            headers: all
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        head.set_header("Content-Length", &body.len().to_string());
        head.set_header("Connection", "close");
        std::io::Write::write_all(&mut writer, &head.to_bytes())
    } else {
        write_response(&mut writer, status, &all, sent)
    };
}

/// `bytes=a-b` / `bytes=a-` → inclusive (start, end) within `len`; `None` if unsatisfiable.
fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = if b.trim().is_empty() {
        len.checked_sub(1)?
    } else {
        b.trim().parse::<u64>().ok()?.min(len.checked_sub(1)?)
    };
    (start <= end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-0", 10), Some((0, 0)));
        assert_eq!(parse_range("bytes=4-", 10), Some((4, 9)));
        assert_eq!(parse_range("bytes=4-100", 10), Some((4, 9)));
        assert_eq!(parse_range("bytes=10-", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
    }
}
