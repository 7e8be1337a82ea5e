//! `ADD <http(s) URL>`: downloads one URL into a scratch directory with BuildKit's rules, so
//! the copy planner can treat it as a plain file.
//!
//! - only `http://` and `https://`; redirects are followed (at most 10, reqwest's default);
//! - the file is never unpacked, even when it is an archive (BuildKit: only local archives are);
//! - its name is the last component of the URL path (`__unnamed__` when there is none), used
//!   when the destination is a directory;
//! - its modification time is the response's `Last-Modified` when present (else the download
//!   time, as BuildKit);
//! - `--checksum=sha256:…` (or `sha512:`) is checked against the bytes received, and a mismatch
//!   fails the step naming both digests;
//! - the body is bounded ([`MAX_DOWNLOAD_BYTES`]): a larger `Content-Length` is refused before
//!   reading, a body that grows past it is cut off with an error;
//! - with the `ETag` of an earlier download, the request is conditional (`If-None-Match`) and a
//!   `304 Not Modified` answer means the content is unchanged ([`Fetched::NotModified`]).
//!
//! The download runs on its own thread with a one-thread tokio runtime, so it works whether or
//! not the caller is inside a runtime.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256, Sha512};

use crate::error_text::with_causes;

/// The largest body ADD downloads (16 GiB): far above any real installer, small enough that a
/// hostile server cannot fill the disk unchecked.
pub const MAX_DOWNLOAD_BYTES: u64 = 16 << 30;

/// A file ADD downloaded.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The URL as written.
    pub url: String,
    /// The name the file gets inside a destination directory.
    pub name: String,
    /// Where it is on the host.
    pub path: PathBuf,
    /// `sha256:…` of the bytes (enters the step's cache input).
    pub digest: String,
    /// The response's `ETag`, for a conditional request next time.
    pub etag: Option<String>,
}

/// What a (possibly conditional) download gave.
#[derive(Debug)]
pub enum Fetched {
    Downloaded(Downloaded),
    /// `304 Not Modified` to `If-None-Match`: the content is the one the ETag was recorded with.
    NotModified,
}

#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("ADD {url}: only http:// and https:// URLs can be downloaded")]
    Scheme { url: String },
    #[error("ADD {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("ADD {url}: HTTP {status} (check the URL; the server answered {status})")]
    Status { url: String, status: u16 },
    #[error(
        "ADD {url}: the download is larger than {limit} bytes (Content-Length {length}); \
         put the file into the build context instead"
    )]
    TooLarge {
        url: String,
        length: u64,
        limit: u64,
    },
    #[error("ADD {url}: checksum mismatch: expected {expected}, got {actual}")]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "--checksum={0}: expected sha256:<64 hex digits> or sha512:<128 hex digits> \
         (BuildKit's digest form)"
    )]
    BadChecksum(String),
}

/// Whether a COPY/ADD source is a URL (these never name context paths).
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// A parsed `--checksum` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    algorithm: &'static str,
    hex: String,
}

impl Checksum {
    pub fn parse(text: &str) -> Result<Checksum, UrlError> {
        let bad = || UrlError::BadChecksum(text.to_string());
        let (algorithm, hex) = text.split_once(':').ok_or_else(bad)?;
        let (algorithm, len) = match algorithm {
            "sha256" => ("sha256", 64),
            "sha512" => ("sha512", 128),
            _ => return Err(bad()),
        };
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Checksum {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

/// The file name BuildKit gives a download: the URL path's last component.
pub fn file_name(url: &str) -> String {
    let path = url::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    match path.trim_end_matches('/').rsplit('/').next() {
        Some(name) if !name.is_empty() && name != "." => name.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

/// Downloads `url` into `dir` (which must exist), checking `checksum` when given.
pub fn download(
    url: &str,
    checksum: Option<&Checksum>,
    dir: &Path,
    limit: u64,
) -> Result<Downloaded, UrlError> {
    match fetch_if_changed(url, checksum, dir, limit, None)? {
        Fetched::Downloaded(d) => Ok(d),
        Fetched::NotModified => Err(fetch_err(url, "304 Not Modified to a plain GET".into())),
    }
}

/// [`download`], conditional on the content no longer matching `etag` when one is given.
pub fn fetch_if_changed(
    url: &str,
    checksum: Option<&Checksum>,
    dir: &Path,
    limit: u64,
    etag: Option<&str>,
) -> Result<Fetched, UrlError> {
    if !is_url(url) {
        return Err(UrlError::Scheme { url: url.into() });
    }
    let url_owned = url.to_string();
    let checksum = checksum.cloned();
    let etag = etag.map(str::to_string);
    let dir = dir.to_path_buf();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| fetch_err(&url_owned, format!("starting the downloader: {e}")))?;
                runtime.block_on(fetch(
                    &url_owned,
                    checksum.as_ref(),
                    &dir,
                    limit,
                    etag.as_deref(),
                ))
            })
            .join()
            .unwrap_or_else(|_| Err(fetch_err(url, "the download thread panicked".into())))
    })
}

fn fetch_err(url: &str, message: String) -> UrlError {
    UrlError::Fetch {
        url: url.to_string(),
        message,
    }
}

async fn fetch(
    url: &str,
    checksum: Option<&Checksum>,
    dir: &Path,
    limit: u64,
    etag: Option<&str>,
) -> Result<Fetched, UrlError> {
    let err = |m: String| fetch_err(url, m);
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::limited(10))
        .user_agent(concat!("silo/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| err(format!("{e}")))?;
    let mut request = client.get(url);
    if let Some(etag) = etag {
        request = request.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    let mut response = request.send().await.map_err(|e| err(with_causes(&e)))?;
    let status = response.status();
    if etag.is_some() && status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        return Err(UrlError::Status {
            url: url.into(),
            status: status.as_u16(),
        });
    }
    if let Some(length) = response.content_length() {
        if length > limit {
            return Err(UrlError::TooLarge {
                url: url.into(),
                length,
                limit,
            });
        }
    }
    let response_etag = response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let modified = response
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    let name = file_name(url);
    let path = dir.join(&name);
    let mut file = std::fs::File::create(&path)
        .map_err(|e| err(format!("creating {}: {e}", path.display())))?;
    let mut sha256 = Sha256::new();
    let mut sha512 = matches!(checksum, Some(c) if c.algorithm == "sha512").then(Sha512::new);
    let mut received: u64 = 0;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| err(format!("reading the body: {}", with_causes(&e))))?
    {
        received += chunk.len() as u64;
        if received > limit {
            return Err(UrlError::TooLarge {
                url: url.into(),
                length: received,
                limit,
            });
        }
        sha256.update(&chunk);
        if let Some(h) = sha512.as_mut() {
            h.update(&chunk);
        }
        file.write_all(&chunk)
            .map_err(|e| err(format!("writing {}: {e}", path.display())))?;
    }
    let digest = format!("sha256:{}", hex::encode(sha256.finalize()));
    if let Some(expected) = checksum {
        let actual = match sha512 {
            Some(h) => format!("sha512:{}", hex::encode(h.finalize())),
            None => digest.clone(),
        };
        if actual != expected.to_string() {
            return Err(UrlError::ChecksumMismatch {
                url: url.into(),
                expected: expected.to_string(),
                actual,
            });
        }
    }
    if let Some(time) = modified {
        file.set_modified(time)
            .map_err(|e| err(format!("setting the time of {}: {e}", path.display())))?;
    }
    Ok(Fetched::Downloaded(Downloaded {
        url: url.into(),
        name,
        path,
        digest,
        etag: response_etag,
    }))
}

/// An HTTP date in IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form servers
/// are allowed to send (RFC 9110 §5.6.7); anything else is ignored.
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    let (_, rest) = text.trim().split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let mut hms = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// (year, month, day) → days since 1970-01-01 (Howard Hinnant's days-from-civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_url_path() {
        assert_eq!(file_name("https://example.com/dl/tool.zip?x=1"), "tool.zip");
        assert_eq!(file_name("https://example.com/dl/dir/"), "dir");
        assert_eq!(file_name("https://example.com"), "__unnamed__");
    }

    #[test]
    fn checksums_parse_in_digest_form() {
        let hex = "ab".repeat(32);
        assert_eq!(
            Checksum::parse(&format!("sha256:{hex}"))
                .unwrap()
                .to_string(),
            format!("sha256:{hex}")
        );
        for bad in [
            "sha256:abc",
            "md5:00",
            &hex,
            &format!("sha256:{}", "zz".repeat(32)),
        ] {
            assert!(Checksum::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_dates() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            784_111_777
        );
        assert!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT").is_none());
        assert!(parse_http_date("garbage").is_none());
    }

    #[test]
    fn other_schemes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = download("ftp://x/y", None, dir.path(), 10).unwrap_err();
        assert!(err.to_string().contains("only http://"), "{err}");
    }
}
