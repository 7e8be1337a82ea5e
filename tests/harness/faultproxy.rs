//! A fault-injecting HTTP proxy in front of a plain-HTTP registry. Clients talk to the proxy as if
//! it were the registry (distribution builds upload `Location`s from the `Host` header, so pushes
//! keep going through it). Every exchange is forced to `Connection: close`, which keeps relaying
//! transparent: the proxy only parses request and response heads, and relays bodies until EOF.
//!
//! Faults are rules `(method, path substring) → Fault`, each firing a given number of times, and
//! can be added or cleared while a test runs. Every relayed request is recorded with the number of
//! response-body bytes that reached the client, so a test can assert exactly how much was
//! re-downloaded after a cut.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http::{read_head, write_response, Server};

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Relay the response head and the first `n` body bytes, then close the connection.
    CutAfter(u64),
    /// Answer with this status without contacting the registry (JSON error body in the
    /// distribution format; `retry_after` seconds become a `Retry-After` header).
    Status { code: u16, retry_after: Option<u32> },
    /// Relay the head and `after` body bytes, then send nothing for `pause` (and close).
    Stall { after: u64, pause: Duration },
    /// Flip one bit of the response body byte at `offset` (digest mismatch, same length).
    FlipByte { offset: u64 },
    /// Replace the response `Content-Type`.
    ContentType(String),
    /// Replace a successful response's body with a truncated JSON document (same content type,
    /// corrected length): a malformed manifest.
    MalformedJson,
    /// Answer `307 Temporary Redirect` to this URL without contacting the registry (a registry
    /// that sends blob downloads to a CDN host).
    Redirect(String),
    /// Hold the request this long before relaying it (a slow registry): makes transfers overlap
    /// long enough for a test to count how many run at once.
    Delay(Duration),
}

/// A rule: requests whose method equals `method` (any, if empty) and whose path contains
/// `path_contains` get `fault`, `times` times.
#[derive(Debug, Clone)]
struct Rule {
    method: String,
    path_contains: String,
    fault: Fault,
    remaining: usize,
}

/// One request that went through the proxy.
#[derive(Debug, Clone)]
pub struct Relayed {
    pub method: String,
    /// Request target (path and query).
    pub target: String,
    /// The request's `Range` header, if any (a resume asks `bytes=N-`).
    pub range: Option<String>,
    /// Status the client saw (0 if it saw none).
    pub status: u16,
    /// Response-body bytes that reached the client.
    pub body_bytes: u64,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// When the request head arrived.
    pub started: Instant,
}

#[derive(Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Relayed>>,
    stopping: AtomicBool,
}

/// A running proxy (stopped on drop).
pub struct FaultProxy {
    state: Arc<State>,
    server: Server,
    upstream: SocketAddr,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr())
            .field("upstream", &self.upstream)
            .finish()
    }
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (ephemeral port) in front of `upstream` (plain HTTP).
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let state = Arc::new(State::default());
        let shared = state.clone();
        let server = Server::start("fault-proxy", move |conn| {
            if let Err(e) = relay(&shared, upstream, conn) {
                eprintln!("fault-proxy: {e}");
            }
        });
        FaultProxy {
            state,
            server,
            upstream,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `127.0.0.1:PORT`, to put in image references instead of the registry's.
    pub fn host(&self) -> String {
        self.addr().to_string()
    }

    /// `127.0.0.1:PORT/<repo_and_tag>`.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.addr())
    }

    /// Adds a rule: `method` (`""` for any) and path substring select requests; `fault` is
    /// applied to the next `times` of them.
    pub fn inject(&self, method: &str, path_contains: &str, fault: Fault, times: usize) {
        self.state.rules.lock().unwrap().push(Rule {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            fault,
            remaining: times,
        });
    }

    /// Drops every rule (requests are relayed untouched from now on).
    pub fn clear(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    /// How many firings are left over all rules (0 once every injected fault happened).
    pub fn pending_faults(&self) -> usize {
        self.state
            .rules
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.remaining)
            .sum()
    }

    /// Every exchange so far, in the order they started (counters of running ones are current).
    pub fn requests(&self) -> Vec<Relayed> {
        self.state.log.lock().unwrap().clone()
    }

    /// The most exchanges whose target contains `path_contains` that started within one
    /// `window`. With a [`Fault::Delay`] much longer than the window, this is how many the client
    /// runs at once: the next one can only start when one of those has ended. (Comparing start
    /// and end times instead would count a client that starts its next request while the proxy
    /// is still closing the last one.)
    pub fn max_started_within(&self, path_contains: &str, window: Duration) -> usize {
        let mut starts: Vec<Instant> = self
            .requests()
            .iter()
            .filter(|r| r.target.contains(path_contains))
            .map(|r| r.started)
            .collect();
        starts.sort();
        (0..starts.len())
            .map(|i| {
                starts[i..]
                    .iter()
                    .take_while(|t| t.duration_since(starts[i]) < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Response-body bytes relayed for requests whose target contains `path_contains`.
    pub fn body_bytes_for(&self, path_contains: &str) -> u64 {
        self.requests()
            .iter()
            .filter(|r| r.target.contains(path_contains))
            .map(|r| r.body_bytes)
            .sum()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Ends stalls early; the server's own drop stops the accept loop.
        self.state.stopping.store(true, Ordering::SeqCst);
    }
}

impl State {
    /// Appends `record` to the log and returns its index for [`State::update`].
    fn open_record(&self, record: Relayed) -> usize {
        let mut log = self.log.lock().unwrap();
        log.push(record);
        log.len() - 1
    }

    fn update(&self, index: usize, change: impl FnOnce(&mut Relayed)) {
        change(&mut self.log.lock().unwrap()[index]);
    }

    fn take_fault(&self, method: &str, target: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules.iter_mut().find(|r| {
            r.remaining > 0
                && (r.method.is_empty() || r.method == method)
                && target.contains(&r.path_contains)
        })?;
        rule.remaining -= 1;
        Some(rule.fault.clone())
    }
}

fn relay(state: &State, upstream: SocketAddr, client: TcpStream) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(120)))?;
    let client_out = client.try_clone()?;
    let mut client_in = BufReader::new(client);
    let Some(request) = read_head(&mut client_in)? else {
        return Ok(());
    };
    let method = request.method().to_string();
    let target = request.target().to_string();
    let fault = state.take_fault(&method, &target);
    // The record is in the log from the start and kept current *before* each write, so a client
    // that has received bytes always finds them counted (no race with the relay thread).
    let record = state.open_record(Relayed {
        method: method.clone(),
        target: target.clone(),
        range: request.header("range").map(str::to_string),
        status: 0,
        body_bytes: 0,
        fault: fault.clone(),
        started: Instant::now(),
    });
    relay_request(
        state, upstream, client_in, client_out, request, fault, record,
    )
}

fn relay_request(
    state: &State,
    upstream: SocketAddr,
    mut client_in: BufReader<TcpStream>,
    mut client_out: TcpStream,
    mut request: crate::http::Head,
    fault: Option<Fault>,
    record: usize,
) -> std::io::Result<()> {
    if let Some(Fault::Delay(pause)) = &fault {
        std::thread::sleep(*pause);
    }

    if let Some(Fault::Status { code, retry_after }) = &fault {
        let body = serde_json::json!({"errors": [{
            "code": if *code == 429 { "TOOMANYREQUESTS" } else { "UNKNOWN" },
            "message": format!("fault injected by the test proxy: HTTP {code}"),
        }]})
        .to_string();
        let retry = retry_after.map(|s| s.to_string());
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(r) = &retry {
            headers.push(("Retry-After", r.as_str()));
        }
        state.update(record, |r| {
            r.status = *code;
            r.body_bytes = body.len() as u64;
        });
        let _ = write_response(&mut client_out, *code, &headers, body.as_bytes());
        let _ = client_out.shutdown(Shutdown::Both);
        return Ok(());
    }

    if let Some(Fault::Redirect(location)) = &fault {
        state.update(record, |r| r.status = 307);
        let _ = write_response(
            &mut client_out,
            307,
            &[("Location", location.as_str())],
            b"",
        );
        let _ = client_out.shutdown(Shutdown::Both);
        return Ok(());
    }

    let upstream_conn = TcpStream::connect_timeout(&upstream, Duration::from_secs(10))?;
    upstream_conn.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut upstream_out = upstream_conn.try_clone()?;
    request.set_header("Connection", "close");
    upstream_out.write_all(&request.to_bytes())?;
    // The request body (if any) streams client → registry on its own thread, framed by whatever
    // the client sent; the registry reads exactly its body and then answers and closes.
    let body_pump = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut upstream_out);
    });

    let mut upstream_in = BufReader::new(upstream_conn);
    let result = relay_response(
        state,
        &mut upstream_in,
        &mut client_out,
        fault.as_ref(),
        record,
    );
    let _ = client_out.shutdown(Shutdown::Both);
    let _ = upstream_in.get_ref().shutdown(Shutdown::Both);
    let _ = body_pump.join();
    result
}

fn relay_response(
    state: &State,
    upstream_in: &mut BufReader<TcpStream>,
    client_out: &mut TcpStream,
    fault: Option<&Fault>,
    record: usize,
) -> std::io::Result<()> {
    let Some(mut response) = read_head(upstream_in)? else {
        return Ok(()); // registry closed without answering: the client sees the same
    };
    let status = response.status();
    state.update(record, |r| r.status = status);
    response.set_header("Connection", "close");
    if let Some(Fault::ContentType(ct)) = fault {
        response.set_header("Content-Type", ct);
    }
    if let (Some(Fault::MalformedJson), 200) = (fault, status) {
        let mut original = Vec::new();
        upstream_in
            .take(16 * 1024 * 1024)
            .read_to_end(&mut original)?;
        // Cut the document in the middle: never valid JSON.
        let cut = &original[..original.len() / 2];
        response.set_header("Content-Length", &cut.len().to_string());
        state.update(record, |r| r.body_bytes = cut.len() as u64);
        client_out.write_all(&response.to_bytes())?;
        client_out.write_all(cut)?;
        return Ok(());
    }
    client_out.write_all(&response.to_bytes())?;

    let limit = match fault {
        Some(Fault::CutAfter(n)) => Some(*n),
        Some(Fault::Stall { after, .. }) => Some(*after),
        _ => None,
    };
    let flip_at = match fault {
        Some(Fault::FlipByte { offset }) => Some(*offset),
        _ => None,
    };
    let mut relayed = 0u64;
    loop {
        let chunk = upstream_in.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let mut chunk = chunk.to_vec();
        let n = chunk.len() as u64;
        upstream_in.consume(chunk.len());
        if let Some(at) = flip_at {
            if (relayed..relayed + n).contains(&at) {
                chunk[(at - relayed) as usize] ^= 0x01;
            }
        }
        let allowed = limit.map_or(n, |l| n.min(l.saturating_sub(relayed)));
        relayed += allowed;
        state.update(record, |r| r.body_bytes = relayed);
        client_out.write_all(&chunk[..allowed as usize])?;
        if allowed < n {
            break;
        }
    }
    client_out.flush()?;
    if let Some(Fault::Stall { pause, .. }) = fault {
        let until = Instant::now() + *pause;
        while Instant::now() < until && !state.stopping.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}
