//! Tests of the client against small in-process HTTP servers: retries, redirects, OAuth2 and
//! re-auth, ranges.

use reqwest::header::WWW_AUTHENTICATE;

use super::authorize::pick_challenge;
use super::*;

#[test]
fn backoff_grows_and_caps() {
    let b = Duration::from_millis(500);
    assert_eq!(backoff(b, 1), Duration::from_millis(500));
    assert_eq!(backoff(b, 3), Duration::from_secs(2));
    assert_eq!(backoff(b, 50), Duration::from_secs(30));
}

#[test]
fn retryable_statuses() {
    for s in [408, 429, 500, 502, 503, 504] {
        assert!(retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
    }
    for s in [400, 401, 403, 404, 416] {
        assert!(!retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
    }
}

#[test]
fn loopback_hosts() {
    for h in [
        "localhost",
        "localhost:5000",
        "127.0.0.1:5000",
        "127.9.9.9",
        "[::1]:5000",
    ] {
        assert!(is_loopback_host(h), "{h}");
    }
    for h in [
        "registry.example:5000",
        "10.0.0.1",
        "localhost.example.com",
        "[fd00::1]:5000",
    ] {
        assert!(!is_loopback_host(h), "{h}");
    }
}

#[test]
fn prefers_bearer() {
    let mut h = HeaderMap::new();
    h.append(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=x"));
    h.append(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"https://t\""),
    );
    assert_eq!(pick_challenge(&h).unwrap().scheme, "bearer");
}

/// (path, Authorization header) of each request a test server received.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A tiny HTTP/1.1 server: answers each request with `respond(path, head)` — `head` is the
/// request line, the headers and then the body — and records (path, Authorization header) of
/// every request.
fn serve(respond: impl Fn(&str, &str) -> String + Send + 'static) -> (u16, Seen) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut auth = None;
            let mut head = line.clone();
            let mut body_len = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if lower.starts_with("authorization:") {
                    auth = Some(h["authorization:".len()..].trim().to_string());
                }
                if let Some(n) = lower.strip_prefix("content-length:") {
                    body_len = n.trim().parse().unwrap_or(0);
                }
                head.push_str(&h);
            }
            let mut body = vec![0u8; body_len.min(1 << 16)];
            if std::io::Read::read_exact(&mut reader, &mut body).is_ok() {
                head.push_str(&String::from_utf8_lossy(&body));
            }
            log.lock().unwrap().push((path.clone(), auth));
            let mut s = stream;
            let _ = s.write_all(respond(&path, &head).as_bytes());
        }
    });
    (port, seen)
}

#[tokio::test]
async fn redirects_never_carry_authorization_to_another_host() {
    let (cdn, cdn_seen) = serve(|_, _| {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_string()
    });
    let (reg, reg_seen) = serve(move |path, head| {
        let authed = head.to_ascii_lowercase().contains("authorization: basic");
        if !authed {
            return "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string();
        }
        if path == "/v2/" {
            return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string();
        }
        format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://localhost:{cdn}/blob?sig=x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    });
    let registry = format!("127.0.0.1:{reg}");
    let creds = DefaultCredentials::new(CredentialEnv::default()).with_explicit(
        &registry,
        Credential::Basic {
            username: "u".into(),
            password: "SECRET".into(),
        },
    );
    let client = Client::new(
        ClientConfig::default(),
        Arc::new(creds),
        Arc::new(crate::transfer::NoProgress),
    )
    .unwrap();
    let r = Reference::parse(&format!("{registry}/a/b:t")).unwrap();
    let blob = crate::manifest::BlobRef {
        digest: crate::manifest::sha256_digest(b"hello").parse().unwrap(),
        size: 5,
        media_type: "x".into(),
        urls: vec![],
    };
    let body = client.fetch_small(&r, &blob, 100).await.unwrap();
    assert_eq!(body, b"hello");
    let reg_seen = reg_seen.lock().unwrap().clone();
    assert!(
        reg_seen
            .iter()
            .any(|(p, a)| p.contains("/blobs/") && a.is_some()),
        "{reg_seen:?}"
    );
    let cdn_seen = cdn_seen.lock().unwrap().clone();
    assert_eq!(cdn_seen.len(), 1);
    assert_eq!(
        cdn_seen[0].1, None,
        "Authorization leaked to the redirect target"
    );
}

fn reply(status: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A token server that offers only OAuth2 POST (GET answers 405, as some do): the client
/// falls back to `grant_type=password`; a later 401 `insufficient_scope` on a request that
/// carried the token makes it authenticate again once and retry.
#[tokio::test]
async fn oauth2_password_post_and_reauth_on_insufficient_scope() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let issued = Arc::new(AtomicUsize::new(0));
    let count = issued.clone();
    let (tokens, token_seen) = serve(move |_, head| {
        if head.starts_with("GET ") {
            return reply("405 Method Not Allowed", "", "");
        }
        let ok = head.contains("grant_type=password")
            && head.contains("username=u")
            && head.contains("password=SECRET");
        if !ok {
            return reply("401 Unauthorized", "", "{}");
        }
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        reply(
            "200 OK",
            "Content-Type: application/json\r\n",
            &format!("{{\"access_token\":\"tok{n}\",\"expires_in\":300}}"),
        )
    });
    let challenge = format!(
        "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{tokens}/token\",service=\"reg\""
    );
    let refused_once = Arc::new(AtomicUsize::new(0));
    let (reg, reg_seen) = serve(move |path, head| {
        let bearer = head
            .to_ascii_lowercase()
            .contains("authorization: bearer tok");
        if !bearer {
            return reply("401 Unauthorized", &format!("{challenge}\r\n"), "");
        }
        if path.contains("/blobs/") && refused_once.fetch_add(1, Ordering::SeqCst) == 0 {
            return reply(
                "401 Unauthorized",
                &format!(
                    "{challenge},scope=\"repository:a/b:pull\",error=\"insufficient_scope\"\r\n"
                ),
                "",
            );
        }
        if path == "/v2/" {
            return reply("200 OK", "", "");
        }
        reply("200 OK", "", "hello")
    });
    let registry = format!("127.0.0.1:{reg}");
    let creds = DefaultCredentials::new(CredentialEnv::default()).with_explicit(
        &registry,
        Credential::Basic {
            username: "u".into(),
            password: "SECRET".into(),
        },
    );
    let client = Client::new(
        ClientConfig::default(),
        Arc::new(creds),
        Arc::new(crate::transfer::NoProgress),
    )
    .unwrap();
    let r = Reference::parse(&format!("{registry}/a/b:t")).unwrap();
    let blob = crate::manifest::BlobRef {
        digest: crate::manifest::sha256_digest(b"hello").parse().unwrap(),
        size: 5,
        media_type: "x".into(),
        urls: vec![],
    };
    let body = client.fetch_small(&r, &blob, 100).await.unwrap();
    assert_eq!(body, b"hello");
    let seen = token_seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|(p, _)| p.starts_with("/token")),
        "{seen:?}"
    );
    // The blob GET: refused with the first token, retried once with a newly issued one.
    let blob_auths: Vec<String> = reg_seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.contains("/blobs/"))
        .filter_map(|(_, a)| a.clone())
        .collect();
    assert_eq!(blob_auths.len(), 2, "{blob_auths:?}");
    assert_ne!(
        blob_auths[0], blob_auths[1],
        "the retry reused the refused token"
    );
    assert!(issued.load(Ordering::SeqCst) >= 2);
}

/// A server that ignores `Range` (answers 200 with the whole body): a blob big enough for
/// parallel ranges is fetched as one stream instead, and verified.
#[tokio::test]
async fn ranges_fall_back_to_one_stream_when_range_is_ignored() {
    use crate::transfer::BlobSink as _;
    let body = "silo".repeat(75 * 1024); // 300 KiB
    let digest = crate::manifest::sha256_digest(body.as_bytes());
    let served = body.clone();
    let ranged = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let asked = ranged.clone();
    let (reg, seen) = serve(move |path, head| {
        if path == "/v2/" {
            return reply("200 OK", "", "");
        }
        if head.to_ascii_lowercase().contains("\nrange: bytes=") {
            asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        reply("200 OK", "", &served)
    });
    let cfg = ClientConfig {
        range_threshold: 1024,
        range_part: 64 * 1024,
        range_connections: 4,
        ranges_on_loopback: true,
        ..ClientConfig::default()
    };
    let client = Client::new(
        cfg,
        Arc::new(DefaultCredentials::new(CredentialEnv::default())),
        Arc::new(crate::transfer::NoProgress),
    )
    .unwrap();
    let r = Reference::parse(&format!("127.0.0.1:{reg}/a/b:t")).unwrap();
    let digest: oci_spec::image::Digest = digest.parse().unwrap();
    let blob = crate::manifest::BlobRef {
        digest: digest.clone(),
        size: body.len() as u64,
        media_type: "x".into(),
        urls: vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(crate::blobdir::BlobDir::new(dir.path()));
    client.fetch_blob(&r, &blob, sink.clone()).await.unwrap();
    assert!(sink.contains(&digest).unwrap());
    let gets = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.contains("/blobs/"))
        .count();
    assert!(
        gets <= 2,
        "expected a probe and one stream, saw {gets} blob requests"
    );
    assert_eq!(
        ranged.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one range probe, then no ranged parts"
    );
}
