//! Expand-Archive (Microsoft.PowerShell.Archive 1.0.1.0 of Windows PowerShell 5.1: .zip only,
//! destination created, existing files need -Force, entries keep their last-write time) and
//! Get-FileHash (SHA256 default, SHA1, SHA384, SHA512, MD5; upper-case hex).
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use super::{path_args, Bound};
use crate::errors::ErrorRecord;
use crate::interp::{Interp, Out, Res};
use crate::value::{ObjKind, Object, Value};
use crate::winfs::{self, Target, WinPath};

/// Seconds since the Unix epoch of a zip entry's DOS time (local time; the silo's zone is UTC).
fn dos_time(t: &zip::DateTime) -> std::time::SystemTime {
    let days = {
        let (y, m, d) = (t.year() as i64, t.month() as i64, t.day() as i64);
        let y2 = if m <= 2 { y - 1 } else { y };
        let era = y2.div_euclid(400);
        let yoe = y2 - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146097 + doe - 719468
    };
    let secs = days * 86400 + t.hour() as i64 * 3600 + t.minute() as i64 * 60 + t.second() as i64;
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64)
}

/// Expand-Archive.
pub fn expand_archive(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let drive = interp.host.drive_c().to_path_buf();
    let force = b.switch("Force");
    for (path, wild) in path_args(b) {
        let Some(res) = super::items::resolve_existing(interp, b, &path, wild)? else {
            continue;
        };
        let super::items::Resolved::Files(files) = res else {
            return Err(b.unsupported("archives outside the file system").into());
        };
        for src in files {
            let name = src.name();
            if !name.to_ascii_lowercase().ends_with(".zip") {
                return Err(b
                    .error(
                        format!("{} is not a supported archive file format. .zip is the only supported archive file format.", src.display()),
                        "System.IO.IOException",
                        "InvalidArgument",
                        "NotSupportedArchiveFileExtension,Expand-Archive",
                    )
                    .into());
            }
            let dest: WinPath = match b.str("DestinationPath") {
                Some(d) => match winfs::resolve(&interp.cwd, &d) {
                    Ok(Target::File(w)) => w.canonical(&drive),
                    Ok(_) => {
                        return Err(b
                            .unsupported("a destination outside the file system")
                            .into())
                    }
                    Err(e) => {
                        return Err(b
                            .error(
                                e.0,
                                "System.Management.Automation.DriveNotFoundException",
                                "ObjectNotFound",
                                "DriveNotFound",
                            )
                            .into())
                    }
                },
                None => {
                    let here = match winfs::resolve(&interp.cwd, ".") {
                        Ok(Target::File(w)) => w,
                        _ => return Err(b
                            .unsupported(
                                "Expand-Archive without -DestinationPath outside the file system",
                            )
                            .into()),
                    };
                    here.join(&name[..name.len() - 4]).canonical(&drive)
                }
            };
            extract(interp, b, &src, &dest, force)?;
            if b.switch("PassThru") {
                let v = super::items::item_value(interp, &dest);
                interp.emit(out, v);
            }
        }
    }
    Ok(())
}

/// Why an extraction failed: the message, an error id, and whether it was an existing file.
pub struct ExtractError {
    pub message: String,
    pub id: &'static str,
    pub exists: bool,
}

fn xerr(message: String, id: &'static str) -> ExtractError {
    ExtractError {
        message,
        id,
        exists: false,
    }
}

/// What to do with an entry whose file already exists.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it (`Expand-Archive -Force`).
    Overwrite,
    /// Leave it and go on; the caller reports it (`Expand-Archive`: a non-terminating error per file).
    Skip,
    /// Stop with an error (`ZipFile.ExtractToDirectory` throws IOException).
    Fail,
}

/// Extracts a zip file into `dest` (created when missing), entries keeping their last-write
/// time; `existing` says what to do with files that exist (skipped ones are listed in
/// `skipped`); entries escaping `dest` are refused.
pub fn unzip(
    drive: &std::path::Path,
    src: &WinPath,
    dest: &WinPath,
    existing: Existing,
    skipped: &mut Vec<String>,
) -> Result<(), ExtractError> {
    let file = std::fs::File::open(src.unix(drive))
        .map_err(|e| xerr(format!("{}: {e}", src.display()), "ArchiveFileOpenError"))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        xerr(
            format!("{} is not a valid zip archive ({e})", src.display()),
            "InvalidArchiveFile",
        )
    })?;
    let dest_unix = dest.unix(drive);
    if dest_unix.is_file() {
        return Err(xerr(
            format!("The destination path '{}' is a file.", dest.display()),
            "DestinationPathIsFile",
        ));
    }
    std::fs::create_dir_all(&dest_unix)
        .map_err(|e| xerr(format!("{}: {e}", dest.display()), "CreateDirectoryError"))?;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| xerr(format!("{}: {e}", src.display()), "InvalidArchiveFile"))?;
        let raw_name = entry.name().replace('/', "\\");
        let outside = || {
            xerr(
                format!(
                    "The archive entry '{raw_name}' would be extracted outside the destination {}.",
                    dest.display()
                ),
                "InvalidArchiveEntryPath",
            )
        };
        let Some(rel) = entry.enclosed_name() else {
            return Err(outside());
        };
        let rel_text = rel.to_string_lossy().replace('/', "\\");
        let target = winfs::normalize(dest.clone(), &rel_text)
            .map_err(|e| xerr(e.0, "InvalidArchiveEntryPath"))?;
        if !target.parts.starts_with(&dest.parts) {
            return Err(outside());
        }
        let tu = target.unix(drive);
        if entry.is_dir() {
            std::fs::create_dir_all(&tu)
                .map_err(|e| xerr(format!("{}: {e}", target.display()), "CreateDirectoryError"))?;
            continue;
        }
        if tu.exists() {
            match existing {
                Existing::Overwrite => {}
                Existing::Skip => {
                    skipped.push(target.display());
                    continue;
                }
                Existing::Fail => {
                    return Err(ExtractError {
                        message: target.display(),
                        id: "FileExists",
                        exists: true,
                    })
                }
            }
        }
        if let Some(p) = tu.parent() {
            std::fs::create_dir_all(p)
                .map_err(|e| xerr(format!("{}: {e}", target.display()), "CreateDirectoryError"))?;
        }
        let mut f = std::fs::File::create(&tu)
            .map_err(|e| xerr(format!("{}: {e}", target.display()), "ExtractError"))?;
        std::io::copy(&mut entry, &mut f)
            .map_err(|e| xerr(format!("{}: {e}", target.display()), "ExtractError"))?;
        if let Some(t) = entry.last_modified() {
            let _ = f.set_modified(dos_time(&t));
        }
    }
    Ok(())
}

fn extract(interp: &mut Interp, b: &Bound, src: &WinPath, dest: &WinPath, force: bool) -> Res<()> {
    let drive = interp.host.drive_c().to_path_buf();
    let mut skipped = Vec::new();
    let mode = if force {
        Existing::Overwrite
    } else {
        Existing::Skip
    };
    unzip(&drive, src, dest, mode, &mut skipped).map_err(|e| {
        b.error(
            e.message,
            "System.IO.IOException",
            "InvalidArgument",
            &format!("{},Expand-Archive", e.id),
        )
    })?;
    // The Archive module writes one non-terminating error per existing file and extracts the rest.
    for file in skipped {
        let rec = ErrorRecord::new(
            format!("Failed to create file '{file}' while expanding the archive file '{}' contents as the file '{file}' already exists. Use the -Force parameter if you want to overwrite the existing directory '{file}' contents when expanding the archive file.", src.display()),
            "System.IO.IOException",
            "InvalidOperation",
            "ExpandArchiveFileExists,ExpandArchiveHelper",
        )
        .with_target(&file)
        .at(b.span);
        interp.write_error(rec)?;
    }
    Ok(())
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn hash_file(algo: &str, path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    macro_rules! run {
        ($h:expr) => {{
            use sha2::Digest;
            let mut h = $h;
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Ok(h.finalize().to_vec())
        }};
    }
    match algo {
        "SHA1" => run!(sha1::Sha1::new()),
        "SHA384" => run!(sha2::Sha384::new()),
        "SHA512" => run!(sha2::Sha512::new()),
        "MD5" => run!(md5::Md5::new()),
        _ => run!(sha2::Sha256::new()),
    }
}

/// Get-FileHash.
pub fn get_file_hash(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let algo = b
        .str("Algorithm")
        .unwrap_or_else(|| "SHA256".into())
        .to_ascii_uppercase();
    match algo.as_str() {
        "SHA1" | "SHA256" | "SHA384" | "SHA512" | "MD5" => {}
        "MACTRIPLEDES" | "RIPEMD160" => return Err(b.unsupported(&format!("-Algorithm {algo}")).into()),
        other => {
            return Err(b
                .invalid(format!("Cannot validate argument on parameter 'Algorithm'. The argument \"{other}\" does not belong to the set \"SHA1,SHA256,SHA384,SHA512,MACTripleDES,MD5,RIPEMD160\" specified by the ValidateSet attribute. Supply an argument that is in the set and then try the command again."))
                .into())
        }
    }
    let drive = interp.host.drive_c().to_path_buf();
    for (path, wild) in path_args(b) {
        let Some(res) = super::items::resolve_existing(interp, b, &path, wild)? else {
            continue;
        };
        let super::items::Resolved::Files(files) = res else {
            return Err(b.unsupported("hashing registry or env: items").into());
        };
        for w in files {
            let unix = w.unix(&drive);
            if unix.is_dir() {
                continue;
            }
            match hash_file(&algo, &unix) {
                Ok(h) => {
                    let o = Object::new(ObjKind::FileHash, "Microsoft.Powershell.Utility.FileHash")
                        .with("Algorithm", Value::string(algo.clone()))
                        .with("Hash", Value::string(hex_upper(&h)))
                        .with("Path", Value::string(w.display()));
                    interp.emit(out, Value::object(o));
                }
                Err(e) => interp.write_error(ErrorRecord::new(
                    format!("{}: {e}", w.display()),
                    "System.IO.IOException",
                    "ReadError",
                    "FileReadError,Get-FileHash",
                ))?,
            }
        }
    }
    Ok(())
}
