//! Web cmdlets through `Host::http_get` (GET only): Invoke-WebRequest (-OutFile, or a response
//! object with StatusCode/Content/Headers), Invoke-RestMethod (JSON → objects, text → string),
//! and the downloads of `System.Net.WebClient`.
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use std::path::Path;

use super::Bound;
use crate::convert::to_string;
use crate::errors::ErrorRecord;
use crate::host::HttpResponse;
use crate::interp::{Interp, Out, Res};
use crate::value::{Hashtable, ObjKind, Object, Value};

/// The User-Agent Windows PowerShell 5.1 sends.
pub const USER_AGENT: &str =
    "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.17763.1";

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Server Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// .NET's WebException message for an HTTP error status.
fn status_error(status: u16) -> String {
    format!(
        "The remote server returned an error: ({status}) {}.",
        reason(status)
    )
}

/// GET into memory.
pub fn download_bytes(
    interp: &mut Interp,
    url: &str,
    headers: &[(String, String)],
) -> Result<(Vec<u8>, HttpResponse), String> {
    check_url(url)?;
    let mut body = Vec::new();
    let resp = interp
        .host
        .http_get(url, headers, &mut body)
        .map_err(|e| e.0)?;
    if resp.status >= 400 {
        return Err(status_error(resp.status));
    }
    Ok((body, resp))
}

fn check_url(url: &str) -> Result<(), String> {
    let l = url.to_ascii_lowercase();
    if l.starts_with("http://") || l.starts_with("https://") {
        Ok(())
    } else if l.starts_with("ftp://") || l.starts_with("file://") {
        Err(format!(
            "the URI scheme of {url} is not supported by this engine (http and https are)"
        ))
    } else {
        Err(format!(
            "Invalid URI: The format of the URI could not be determined. ({url})"
        ))
    }
}

/// GET into a file (written next to its destination, renamed into place when complete; on an
/// error no file is left, as with .NET's WebClient the old content is gone too).
pub fn download_to_unix(
    interp: &mut Interp,
    url: &str,
    headers: &[(String, String)],
    dest: &Path,
    display: &str,
) -> Result<HttpResponse, String> {
    check_url(url)?;
    let dir = dest
        .parent()
        .ok_or_else(|| format!("Could not find a part of the path '{display}'."))?;
    if !dir.is_dir() {
        return Err(format!("Could not find a part of the path '{display}'."));
    }
    if dest.is_dir() {
        return Err(format!("Access to the path '{display}' is denied."));
    }
    let tmp = dir.join(format!(".silo-download-{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp).map_err(|e| format!("{display}: {e}"))?;
    let r = interp.host.http_get(url, headers, &mut file);
    drop(file);
    match r {
        Ok(resp) if resp.status < 400 => {
            std::fs::rename(&tmp, dest).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("{display}: {e}")
            })?;
            Ok(resp)
        }
        Ok(resp) => {
            let _ = std::fs::remove_file(&tmp);
            let _ = std::fs::remove_file(dest);
            Err(status_error(resp.status))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            let _ = std::fs::remove_file(dest);
            Err(e.0)
        }
    }
}

/// `WebClient.DownloadFile(url, path)`: a relative path is relative to the process directory
/// (.NET's), not to PowerShell's location.
pub fn download_to_file(
    interp: &mut Interp,
    url: &str,
    headers: &[(String, String)],
    path: &str,
) -> Result<(), String> {
    let base = interp.process_cwd.clone();
    let w = match crate::winfs::resolve(&base, path) {
        Ok(crate::winfs::Target::File(w)) => w,
        Ok(_) => return Err(format!("The given path's format is not supported: {path}")),
        Err(e) => return Err(e.0),
    };
    let drive = interp.host.drive_c().to_path_buf();
    let display = w.canonical(&drive).display();
    let mut headers = headers.to_vec();
    let _ = &mut headers;
    download_to_unix(interp, url, &headers, &w.unix(&drive), &display).map(|_| ())
}

fn header_list(b: &Bound) -> Result<Vec<(String, String)>, ErrorRecord> {
    let mut out = Vec::new();
    match b.get("Headers") {
        None | Some(Value::Null) => {}
        Some(Value::Hashtable(h)) => {
            for (k, v) in &h.borrow().entries {
                out.push((to_string(k), to_string(v)));
            }
        }
        Some(_) => return Err(b.invalid("Cannot bind parameter 'Headers': a hashtable is needed.")),
    }
    let ua = b.str("UserAgent").unwrap_or_else(|| USER_AGENT.to_string());
    if !out
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("User-Agent"))
    {
        out.push(("User-Agent".into(), ua));
    }
    Ok(out)
}

fn response_value(body: &[u8], resp: &HttpResponse) -> Value {
    let mut headers = Hashtable::new(false);
    for (k, v) in &resp.headers {
        headers.set(Value::str(k), Value::str(v));
    }
    let ctype = resp
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let is_text = ctype.starts_with("text/")
        || ctype.contains("json")
        || ctype.contains("xml")
        || ctype.contains("javascript")
        || ctype.is_empty();
    let content = if is_text {
        Value::string(super::content::decode_text(body))
    } else {
        Value::bytes(body)
    };
    let raw = format!(
        "HTTP/1.1 {} {}\r\n{}\r\n\r\n{}",
        resp.status,
        reason(resp.status),
        resp.headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("\r\n"),
        if is_text {
            super::content::decode_text(body)
        } else {
            String::new()
        }
    );
    Value::object(
        Object::new(
            ObjKind::WebResponse,
            "Microsoft.PowerShell.Commands.WebResponseObject",
        )
        .with("StatusCode", Value::Int(resp.status as i32))
        .with("StatusDescription", Value::str(reason(resp.status)))
        .with("Content", content)
        .with("RawContent", Value::string(raw))
        .with("RawContentLength", Value::Long(body.len() as i64))
        .with("Headers", Value::hashtable(headers)),
    )
}

/// Invoke-WebRequest / Invoke-RestMethod.
pub fn invoke_web_request(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    if let Some(m) = b.str("Method") {
        if !m.eq_ignore_ascii_case("get") {
            return Err(b.unsupported(&format!("-Method {m} (only GET)")).into());
        }
    }
    if b.switch("UseDefaultCredentials") {
        return Err(b.unsupported("-UseDefaultCredentials").into());
    }
    let url = b.str("Uri").ok_or_else(|| {
        b.invalid(
            "Cannot process command because of one or more missing mandatory parameters: Uri.",
        )
    })?;
    let url = match b.get("Uri") {
        Some(Value::Object(o)) if o.borrow().kind == ObjKind::Uri => {
            o.borrow().get("AbsoluteUri").map(to_string).unwrap_or(url)
        }
        _ => url,
    };
    let headers = header_list(b)?;
    let fail = |msg: String| -> crate::errors::Flow {
        let mut e = b.error(
            msg,
            "System.Net.WebException",
            "InvalidOperation",
            "WebCmdletWebResponseException",
        );
        e.target = Some(url.clone());
        e.into()
    };
    if let Some(file) = b.str("OutFile") {
        let (unix, display) = super::content::file_for_write(interp, &file)?;
        let resp = download_to_unix(interp, &url, &headers, &unix, &display).map_err(fail)?;
        if b.switch("PassThru") {
            let body = std::fs::read(&unix).unwrap_or_default();
            interp.emit(out, response_value(&body, &resp));
        }
        return Ok(());
    }
    let (body, resp) = download_bytes(interp, &url, &headers).map_err(fail)?;
    if b.cmdlet == "Invoke-RestMethod" {
        let text = super::content::decode_text(&body);
        let ctype = resp
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        let trimmed = text.trim_start();
        if ctype.contains("json") || trimmed.starts_with('{') || trimmed.starts_with('[') {
            let v = super::misc::parse_json(&text).map_err(|e| {
                b.error(
                    e,
                    "System.ArgumentException",
                    "InvalidArgument",
                    "System.ArgumentException",
                )
            })?;
            for item in match v {
                Value::Array(_) => v.into_items(),
                other => vec![other],
            } {
                interp.emit(out, item);
            }
        } else if ctype.contains("xml")
            || trimmed.starts_with('<') && !ctype.starts_with("text/plain")
        {
            return Err(b
                .unsupported("an XML response (Invoke-RestMethod returns an XmlDocument)")
                .into());
        } else {
            interp.emit(out, Value::string(text));
        }
        return Ok(());
    }
    interp.emit(out, response_value(&body, &resp));
    Ok(())
}
