//! Content cmdlets with Windows PowerShell 5.1's encodings: Get-Content (BOM detection, else
//! the ANSI code page), Set-Content/Add-Content (default ANSI, `-Encoding UTF8` with a BOM,
//! `Unicode` UTF-16LE with a BOM, values as CRLF-terminated lines), Clear-Content, Out-File and
//! the `>`/`>>` redirections (UTF-16LE "Unicode" by default).
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use super::{input_objects, path_args, Bound};
use crate::convert::to_string;
use crate::errors::ErrorRecord;
use crate::interp::{Interp, Out, Res};
use crate::value::Value;
use crate::winfs::{self, Target};

/// Decodes text as .NET's StreamReader does by default: BOM detection, else UTF-8.
pub fn decode_text(b: &[u8]) -> String {
    match bom(b) {
        Some((enc, n)) => crate::dotnet::decode(enc, &b[n..]),
        None => String::from_utf8_lossy(b).into_owned(),
    }
}

/// Decodes text as Get-Content does in 5.1: BOM detection, else the ANSI code page.
pub fn decode_ansi(b: &[u8]) -> String {
    match bom(b) {
        Some((enc, n)) => crate::dotnet::decode(enc, &b[n..]),
        None => crate::dotnet::decode("default", b),
    }
}

fn bom(b: &[u8]) -> Option<(&'static str, usize)> {
    if b.starts_with(&[0xEF, 0xBB, 0xBF]) {
        Some(("utf8", 3))
    } else if b.starts_with(&[0xFF, 0xFE, 0, 0]) {
        Some(("utf32", 4))
    } else if b.starts_with(&[0xFF, 0xFE]) {
        Some(("unicode", 2))
    } else if b.starts_with(&[0xFE, 0xFF]) {
        Some(("bigendianunicode", 2))
    } else {
        None
    }
}

/// Lines as Get-Content returns them (CRLF, LF or CR; no empty last line for a final newline).
pub fn split_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(std::mem::take(&mut cur));
            }
            '\n' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The canonical name of an `-Encoding` argument (FileSystemCmdletProviderEncoding in 5.1).
pub fn encoding_arg(b: &Bound, v: Option<&Value>, default: &str) -> Result<String, ErrorRecord> {
    let Some(v) = v else {
        return Ok(default.to_string());
    };
    if let Some(n) = crate::dotnet::encoding_name(v) {
        return Ok(n);
    }
    let s = to_string(v).to_ascii_lowercase();
    Ok(match s.as_str() {
        "unicode" | "string" | "unknown" => "unicode",
        "bigendianunicode" => "bigendianunicode",
        "utf8" => "utf8",
        "utf32" => "utf32",
        "ascii" => "ascii",
        "default" => "default",
        "oem" => "oem",
        "byte" => "byte",
        "utf7" => return Err(b.unsupported("-Encoding UTF7")),
        other => {
            return Err(b.invalid(format!(
                "Cannot bind parameter 'Encoding'. Cannot convert value \"{other}\" to type \"Microsoft.PowerShell.Commands.FileSystemCmdletProviderEncoding\". Error: \"Unable to match the identifier name {other} to a valid enumerator name. Specify one of the following enumerator names and try again: Unknown, String, Unicode, Byte, BigEndianUnicode, UTF8, UTF7, UTF32, Ascii, Default, Oem, BigEndianUTF32\""
            )))
        }
    }
    .to_string())
}

fn preamble(enc: &str) -> &'static [u8] {
    match enc {
        "utf8" => &[0xEF, 0xBB, 0xBF],
        "unicode" => &[0xFF, 0xFE],
        "bigendianunicode" => &[0xFE, 0xFF],
        "utf32" => &[0xFF, 0xFE, 0, 0],
        _ => &[],
    }
}

/// Resolves a file-system path for writing: the Unix path and the Windows display path.
pub fn file_for_write(
    interp: &Interp,
    path: &str,
) -> Result<(std::path::PathBuf, String), ErrorRecord> {
    match winfs::resolve(&interp.cwd, path) {
        Ok(Target::File(w)) => {
            let w = w.canonical(interp.host.drive_c());
            Ok((w.unix(interp.host.drive_c()), w.display()))
        }
        Ok(_) => Err(ErrorRecord::runtime(format!(
            "{path} is not a file-system path"
        ))),
        Err(e) => Err(ErrorRecord::new(
            e.0,
            "System.Management.Automation.DriveNotFoundException",
            "ObjectNotFound",
            "DriveNotFound",
        )),
    }
}

/// Writes text (with `\n` line ends, converted to CRLF) in an encoding, appending or not,
/// adding the encoding's BOM at the start of a new file.
pub fn write_text_file(
    interp: &mut Interp,
    path: &str,
    text: &str,
    encoding: &str,
    append: bool,
) -> Res<()> {
    let (unix, display) = file_for_write(interp, path)?;
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    write_encoded(&unix, &display, &crlf, encoding, append)
}

fn write_encoded(
    unix: &std::path::Path,
    display: &str,
    text: &str,
    encoding: &str,
    append: bool,
) -> Res<()> {
    let exists = unix.exists();
    let mut data = Vec::new();
    if !(append && exists) {
        data.extend_from_slice(preamble(encoding));
    }
    data.extend(crate::dotnet::encode(encoding, text));
    let r = if append && exists {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(unix)
            .and_then(|mut f| f.write_all(&data))
    } else {
        std::fs::write(unix, &data)
    };
    r.map_err(|e| {
        let parent_missing = unix.parent().is_some_and(|p| !p.exists());
        if parent_missing {
            ErrorRecord::new(
                format!("Could not find a part of the path '{display}'."),
                "System.IO.DirectoryNotFoundException",
                "ObjectNotFound",
                "System.IO.DirectoryNotFoundException",
            )
            .into()
        } else {
            ErrorRecord::new(
                format!("{display}: {e}"),
                "System.IO.IOException",
                "WriteError",
                "System.IO.IOException",
            )
            .into()
        }
    })
}

/// Get-Content: lines (or -Raw text) of each path.
pub fn get_content(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    if b.has("Delimiter") || b.has("ReadCount") {
        return Err(b.unsupported("-Delimiter / -ReadCount").into());
    }
    let drive = interp.host.drive_c().to_path_buf();
    for (path, wild) in path_args(b) {
        let target = match winfs::resolve(&interp.cwd, &path) {
            Ok(t) => t,
            Err(e) => {
                interp.write_error(b.error(
                    e.0,
                    "System.Management.Automation.DriveNotFoundException",
                    "ObjectNotFound",
                    "DriveNotFound",
                ))?;
                continue;
            }
        };
        let files = match target {
            Target::File(w) if wild && crate::ops::has_wildcards(&path) => {
                winfs::expand_wildcards(&drive, &w)
            }
            Target::File(w) => vec![w],
            Target::Env(Some(name)) => {
                match interp.env_get(&name) {
                    Some(v) => interp.emit(out, Value::string(v)),
                    None => interp.write_error(
                        ErrorRecord::not_found(&format!("Env:\\{name}"), "GetContent").at(b.span),
                    )?,
                }
                continue;
            }
            _ => {
                interp.write_error(b.error(
                    format!("Get-Content cannot read {path}"),
                    "System.NotSupportedException",
                    "InvalidOperation",
                    "GetContentReaderUnsupportedOperation",
                ))?;
                continue;
            }
        };
        if files.is_empty() {
            interp.write_error(ErrorRecord::not_found(&path, "GetContent").at(b.span))?;
            continue;
        }
        for w in files {
            let unix = w.unix(&drive);
            if unix.is_dir() {
                interp.write_error(b.error(
                    format!("Access to the path '{}' is denied.", w.display()),
                    "System.UnauthorizedAccessException",
                    "PermissionDenied",
                    "GetContentReaderUnauthorizedAccessError",
                ))?;
                continue;
            }
            let bytes = match std::fs::read(&unix) {
                Ok(x) => x,
                Err(_) => {
                    interp.write_error(
                        ErrorRecord::not_found(&w.display(), "GetContent").at(b.span),
                    )?;
                    continue;
                }
            };
            let enc = encoding_arg(b, b.get("Encoding"), "")?;
            if enc == "byte" {
                for x in bytes {
                    interp.emit(out, Value::Byte(x));
                }
                continue;
            }
            let text = if enc.is_empty() {
                decode_ansi(&bytes)
            } else {
                let skip = if bytes.starts_with(preamble(&enc)) {
                    preamble(&enc).len()
                } else {
                    0
                };
                crate::dotnet::decode(&enc, &bytes[skip..])
            };
            if b.switch("Raw") {
                if !text.is_empty() {
                    interp.emit(out, Value::string(text));
                }
                continue;
            }
            let mut lines = split_lines(&text);
            if let Some(n) = b.int("TotalCount")? {
                if n >= 0 {
                    lines.truncate(n as usize);
                }
            }
            if let Some(n) = b.int("Tail")? {
                let n = n.max(0) as usize;
                let skip = lines.len().saturating_sub(n);
                lines.drain(..skip);
            }
            for l in lines {
                interp.emit(out, Value::string(l));
            }
        }
    }
    Ok(())
}

/// Set-Content / Add-Content.
pub fn set_content(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let add = b.cmdlet == "Add-Content";
    let values: Vec<Value> = match b.get("Value") {
        Some(v) => v.clone().into_items(),
        None => b.input.clone().unwrap_or_default(),
    };
    let nonewline = b.switch("NoNewline");
    let paths = if b.has("Path") || b.has("LiteralPath") {
        path_args(b)
    } else {
        return Err(b
            .invalid(
                "Cannot process command because of one or more missing mandatory parameters: Path.",
            )
            .into());
    };
    let drive = interp.host.drive_c().to_path_buf();
    for (path, wild) in paths {
        let targets: Vec<(std::path::PathBuf, String)> = match winfs::resolve(&interp.cwd, &path) {
            Ok(Target::File(w)) if wild && crate::ops::has_wildcards(&path) => {
                let found = winfs::expand_wildcards(&drive, &w);
                if found.is_empty() {
                    interp.write_error(
                        ErrorRecord::not_found(
                            &path,
                            if add { "AddContent" } else { "SetContent" },
                        )
                        .at(b.span),
                    )?;
                    continue;
                }
                found
                    .into_iter()
                    .map(|w| (w.unix(&drive), w.display()))
                    .collect()
            }
            Ok(Target::File(_)) => vec![file_for_write(interp, &path)?],
            Ok(Target::Env(Some(name))) => {
                let text = values.iter().map(to_string).collect::<Vec<_>>().join("");
                let new = if add {
                    format!("{}{}", interp.env_get(&name).unwrap_or_default(), text)
                } else {
                    text
                };
                interp.env_set(&name, Some(new));
                continue;
            }
            Ok(_) => return Err(b.unsupported(&format!("writing content to {path}")).into()),
            Err(e) => {
                interp.write_error(b.error(
                    e.0,
                    "System.Management.Automation.DriveNotFoundException",
                    "ObjectNotFound",
                    "DriveNotFound",
                ))?;
                continue;
            }
        };
        for (unix, display) in targets {
            if unix.is_dir() {
                interp.write_error(b.error(
                    format!("Access to the path '{display}' is denied."),
                    "System.UnauthorizedAccessException",
                    "PermissionDenied",
                    "SetContentWriterUnauthorizedAccessError",
                ))?;
                continue;
            }
            let existing_enc = if add && unix.exists() {
                std::fs::read(&unix)
                    .ok()
                    .and_then(|bytes| bom(&bytes).map(|(e, _)| e.to_string()))
            } else {
                None
            };
            let enc = encoding_arg(
                b,
                b.get("Encoding"),
                existing_enc.as_deref().unwrap_or("default"),
            )?;
            if enc == "byte" {
                let bytes: Vec<u8> = values
                    .iter()
                    .map(|v| crate::convert::to_i64(v).unwrap_or(0) as u8)
                    .collect();
                let r = if add {
                    use std::io::Write;
                    std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&unix)
                        .and_then(|mut f| f.write_all(&bytes))
                } else {
                    std::fs::write(&unix, &bytes)
                };
                r.map_err(|e| ErrorRecord::runtime(format!("{display}: {e}")))?;
                continue;
            }
            let mut text = String::new();
            for v in &values {
                text.push_str(&to_string(v));
                if !nonewline {
                    text.push_str("\r\n");
                }
            }
            if let Err(f) = write_encoded(&unix, &display, &text, &enc, add) {
                match f {
                    crate::errors::Flow::Error(rec) => interp.write_error(*rec)?,
                    other => return Err(other),
                }
                continue;
            }
            if b.switch("PassThru") {
                for v in &values {
                    interp.emit(out, v.clone());
                }
            }
        }
    }
    Ok(())
}

/// Clear-Content: empties files (keeping them).
pub fn clear_content(interp: &mut Interp, b: &Bound) -> Res<()> {
    let drive = interp.host.drive_c().to_path_buf();
    for (path, _) in path_args(b) {
        match winfs::resolve(&interp.cwd, &path) {
            Ok(Target::File(w)) => {
                let unix = w.unix(&drive);
                if !unix.is_file() {
                    interp.write_error(ErrorRecord::not_found(&path, "ClearContent").at(b.span))?;
                    continue;
                }
                std::fs::write(&unix, b"")
                    .map_err(|e| ErrorRecord::runtime(format!("{path}: {e}")))?;
            }
            _ => return Err(b.unsupported(&format!("clearing {path}")).into()),
        }
    }
    Ok(())
}

/// Out-File: formatted input to a file (default Unicode in 5.1).
pub fn out_file(interp: &mut Interp, b: &Bound) -> Res<()> {
    let path = b
        .str("FilePath")
        .or_else(|| b.str("LiteralPath"))
        .ok_or_else(|| b.invalid("Out-File needs -FilePath"))?;
    let enc = encoding_arg(b, b.get("Encoding"), "unicode")?;
    let (unix, display) = file_for_write(interp, &path)?;
    if b.switch("NoClobber") && unix.exists() && !b.switch("Append") {
        return Err(b
            .error(
                format!("The file '{display}' already exists."),
                "System.IO.IOException",
                "ResourceExists",
                "NoClobber",
            )
            .into());
    }
    let items = input_objects(b);
    let mut text = crate::format::format_values(&items);
    if b.switch("NoNewline") {
        text = text.lines().collect::<Vec<_>>().join("");
    }
    write_encoded(
        &unix,
        &display,
        &text.replace("\r\n", "\n").replace('\n', "\r\n"),
        &enc,
        b.switch("Append"),
    )
}
