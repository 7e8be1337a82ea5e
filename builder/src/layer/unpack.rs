//! Safe unpacking of a layer into a directory (the runtimes' view of `C:\`, or a Linux rootfs).
//!
//! Nothing is ever written outside the target: paths with `..` or a leading `/` are refused,
//! every parent directory is checked with `lstat` (a symlink where a directory should be is an
//! escape attempt and refused), files are created with `O_NOFOLLOW`, symlink targets that would
//! resolve outside the target are refused, hard links must point at a regular file already
//! unpacked, and device nodes/FIFOs are refused. Each refusal is reported; the rest of the layer
//! is still unpacked. Decompression and hashing run on a second thread.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use oci_spec::image::Digest;

use super::reader::{self, LayerEntry, LayerEntryKind};
use super::LayerError;
use crate::oci::digest::HashingReader;

/// Which entries to unpack and how to name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpackFilter {
    /// A Windows layer: only `Files/…`, with the prefix stripped (what Wine's `C:\` needs);
    /// hives, `UtilityVM/` and alternate data streams are skipped and counted.
    WindowsFiles,
    /// Every entry under its own name (Linux layers, or raw inspection of a Windows one).
    All,
}

/// Options of [`unpack_with`].
#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    pub filter: UnpackFilter,
    /// Remove what whiteouts name (when flattening several layers into one directory);
    /// otherwise they are only listed in the report.
    pub apply_whiteouts: bool,
}

/// An entry unpack would not write, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// What unpack did.
#[derive(Debug, Clone)]
pub struct UnpackReport {
    pub diff_id: Digest,
    pub uncompressed_size: u64,
    pub written: u64,
    pub bytes: u64,
    /// Entries outside what the filter unpacks (hives, streams…).
    pub skipped: u64,
    pub whiteouts: Vec<String>,
    pub refusals: Vec<Refusal>,
}

/// Unpacks the `Files/` tree of a Windows layer blob into `target`.
pub fn unpack<R: Read + Send + 'static>(
    blob: R,
    target: &Path,
    filter: UnpackFilter,
) -> Result<UnpackReport, LayerError> {
    unpack_with(
        blob,
        target,
        UnpackOptions {
            filter,
            apply_whiteouts: false,
        },
    )
}

/// Chunks of decompressed tar sent from the decompression thread.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
    recycle: mpsc::SyncSender<Vec<u8>>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let old = std::mem::replace(&mut self.current, chunk);
                    let _ = self.recycle.try_send(old);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Unpacks a layer blob into `target` (created if missing).
pub fn unpack_with<R: Read + Send + 'static>(
    blob: R,
    target: &Path,
    options: UnpackOptions,
) -> Result<UnpackReport, LayerError> {
    fs::create_dir_all(target).map_err(|e| LayerError::io(target.display().to_string(), e))?;
    const CHUNK: usize = 1024 * 1024;
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    let (recycle_tx, recycle_rx) = mpsc::sync_channel::<Vec<u8>>(8);
    // Decompression on its own thread; the tar is hashed here on the consuming side.
    let decompressor = thread::spawn(move || {
        let mut source = match reader::decompressed(blob) {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Err(io::Error::other(e.to_string())));
                return;
            }
        };
        loop {
            let mut chunk = recycle_rx.try_recv().unwrap_or_default();
            chunk.resize(CHUNK, 0);
            let mut filled = 0;
            let result = loop {
                match source.read(&mut chunk[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == CHUNK {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            chunk.truncate(filled);
            let done = filled < CHUNK;
            match result {
                Ok(()) if filled > 0 => {
                    if tx.send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                Ok(()) => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
            if done {
                return;
            }
        }
    });
    let stream = HashingReader::new(ChannelReader {
        rx,
        current: Vec::new(),
        pos: 0,
        recycle: recycle_tx,
    });
    let mut unpacker = Unpacker {
        root: target.to_path_buf(),
        known_dirs: std::collections::HashSet::new(),
        options,
        buffer: vec![0u8; 256 * 1024],
        report_written: 0,
        report_bytes: 0,
        skipped: 0,
        whiteouts: Vec::new(),
        refusals: Vec::new(),
    };
    let summary = reader::read_tar(stream, |entry, data| unpacker.entry(entry, data));
    let _ = decompressor.join();
    let summary = summary?;
    Ok(UnpackReport {
        diff_id: summary.diff_id,
        uncompressed_size: summary.uncompressed_size,
        written: unpacker.report_written,
        bytes: unpacker.report_bytes,
        skipped: unpacker.skipped,
        whiteouts: unpacker.whiteouts,
        refusals: unpacker.refusals,
    })
}

struct Unpacker {
    root: PathBuf,
    /// Directories this unpack created or checked (real directories, not symlinks): their
    /// `lstat` is not repeated. Only this process writes the target, and an entry that replaces
    /// a directory drops it and everything below it from the set.
    known_dirs: std::collections::HashSet<PathBuf>,
    options: UnpackOptions,
    buffer: Vec<u8>,
    report_written: u64,
    report_bytes: u64,
    skipped: u64,
    whiteouts: Vec<String>,
    refusals: Vec<Refusal>,
}

/// Splits a tar path into safe components, or says why it is unsafe.
fn components(path: &str) -> Result<Vec<&str>, String> {
    if path.starts_with('/') {
        return Err("absolute path".into());
    }
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("path contains '..'".into()),
            c if c.contains('\0') => return Err("NUL in name".into()),
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return Err("empty path".into());
    }
    Ok(out)
}

impl Unpacker {
    fn refuse(&mut self, path: &str, reason: impl Into<String>) {
        let refusal = Refusal {
            path: path.to_string(),
            reason: reason.into(),
        };
        tracing::warn!("unpack refused {refusal}");
        self.refusals.push(refusal);
    }

    /// The path below the root an entry maps to (`None` if filtered out).
    fn mapped<'e>(&mut self, entry: &'e LayerEntry) -> Option<&'e str> {
        match self.options.filter {
            UnpackFilter::All => Some(entry.path.as_str()),
            UnpackFilter::WindowsFiles => match entry.windows_path() {
                Some(p) if !matches!(entry.kind, LayerEntryKind::AltStream { .. }) => Some(p),
                _ => {
                    self.skipped += 1;
                    None
                }
            },
        }
    }

    /// Makes sure every parent of `parts` is a real directory inside the root (creating missing
    /// ones), never following a symlink. Returns the parent directory path.
    fn parent_dir(&mut self, parts: &[&str]) -> Result<PathBuf, String> {
        let mut dir = self.root.clone();
        for part in &parts[..parts.len() - 1] {
            dir.push(part);
            if self.known_dirs.contains(&dir) {
                continue;
            }
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(format!(
                        "parent {} is a symlink (escape through a symlink)",
                        dir.strip_prefix(&self.root).unwrap_or(&dir).display()
                    ))
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(format!(
                        "parent {} is not a directory",
                        dir.strip_prefix(&self.root).unwrap_or(&dir).display()
                    ))
                }
                Err(_) => {
                    fs::create_dir(&dir).map_err(|e| format!("creating parent: {e}"))?;
                }
            }
            self.known_dirs.insert(dir.clone());
        }
        Ok(dir)
    }

    /// Forgets `path` and everything below it as known directories (it is being replaced).
    fn forget(&mut self, path: &Path) {
        if self.known_dirs.remove(path) {
            self.known_dirs.retain(|d| !d.starts_with(path));
        }
    }

    /// Removes whatever is at `path` (not following symlinks) so a new entry can take its place.
    fn clear(path: &Path, keep_dir: bool) -> io::Result<()> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() && !m.file_type().is_symlink() => {
                if keep_dir {
                    Ok(())
                } else {
                    fs::remove_dir_all(path)
                }
            }
            Ok(_) => fs::remove_file(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn entry(&mut self, entry: &LayerEntry, data: &mut dyn Read) -> Result<(), LayerError> {
        let Some(path) = self.mapped(entry) else {
            return Ok(());
        };
        if entry.kind == LayerEntryKind::Directory
            && path.split('/').all(|c| c.is_empty() || c == ".")
        {
            return Ok(()); // the root itself (`./` in tars made with `tar -C dir .`)
        }
        let parts = match components(path) {
            Ok(p) => p,
            Err(reason) => {
                self.refuse(&entry.path, reason);
                return Ok(());
            }
        };
        // Whiteouts: listed, and applied on request.
        match &entry.kind {
            LayerEntryKind::Whiteout { deleted } => {
                let name = &parts[parts.len() - 1][4..];
                if matches!(name, "" | "." | "..") {
                    self.refuse(
                        &entry.path,
                        "a whiteout must name the entry it deletes (`.wh.`, `.wh..` and `.wh...` \
                         name none)",
                    );
                    return Ok(());
                }
                self.whiteouts.push(deleted.clone());
                if self.options.apply_whiteouts {
                    let mut victim = parts.clone();
                    let last = victim.len() - 1;
                    victim[last] = &victim[last][4..]; // strip ".wh."
                    match self.parent_dir(&victim) {
                        Ok(dir) => {
                            let victim = dir.join(victim[last]);
                            self.forget(&victim);
                            let _ = Self::clear(&victim, false);
                        }
                        Err(reason) => self.refuse(&entry.path, reason),
                    }
                }
                return Ok(());
            }
            LayerEntryKind::OpaqueWhiteout { directory } => {
                self.whiteouts.push(format!("{directory}/*"));
                if self.options.apply_whiteouts {
                    match self.parent_dir(&parts) {
                        Ok(dir) => {
                            if let Ok(children) = fs::read_dir(&dir) {
                                for child in children.flatten() {
                                    self.forget(&child.path());
                                    let _ = Self::clear(&child.path(), false);
                                }
                            }
                        }
                        Err(reason) => self.refuse(&entry.path, reason),
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        let dir = match self.parent_dir(&parts) {
            Ok(dir) => dir,
            Err(reason) => {
                self.refuse(&entry.path, reason);
                return Ok(());
            }
        };
        let dest = dir.join(parts[parts.len() - 1]);
        let windows = self.options.filter == UnpackFilter::WindowsFiles;
        if !matches!(entry.kind, LayerEntryKind::Directory) {
            self.forget(&dest);
        }
        let result: Result<(), String> = match &entry.kind {
            LayerEntryKind::Directory if self.known_dirs.contains(&dest) => Ok(()),
            LayerEntryKind::Directory => Self::clear(&dest, true)
                .and_then(|_| match fs::create_dir(&dest) {
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                    other => other,
                })
                .and_then(|_| {
                    let mode = if windows {
                        0o755
                    } else {
                        (entry.mode & 0o777) | 0o700
                    };
                    host_fs::set_dir_mode(&dest, mode)
                })
                .map(|_| {
                    self.known_dirs.insert(dest.clone());
                })
                .map_err(|e| e.to_string()),
            LayerEntryKind::File
            | LayerEntryKind::HiveDelta(_)
            | LayerEntryKind::AltStream { .. } => self.write_file(entry, &dest, data),
            LayerEntryKind::Symlink | LayerEntryKind::Junction => {
                let raw = entry.link_target.clone().unwrap_or_default();
                match symlink_target(&raw, &parts, windows) {
                    Ok(target) => Self::clear(&dest, false)
                        .and_then(|_| host_fs::symlink(Path::new(&target), &dest))
                        .map_err(|e| e.to_string()),
                    Err(reason) => Err(reason),
                }
            }
            LayerEntryKind::HardLink => self.hard_link(entry, &dest),
            LayerEntryKind::Other(flag) => Err(match flag {
                b'3' => "character device".to_string(),
                b'4' => "block device".to_string(),
                b'6' => "FIFO".to_string(),
                b'S' => "sparse file (unsupported)".to_string(),
                other => format!("unsupported entry type {:?}", *other as char),
            }),
            LayerEntryKind::Whiteout { .. } | LayerEntryKind::OpaqueWhiteout { .. } => Ok(()),
        };
        match result {
            Ok(()) => self.report_written += 1,
            Err(reason) => self.refuse(&entry.path, reason),
        }
        Ok(())
    }

    fn write_file(
        &mut self,
        entry: &LayerEntry,
        dest: &Path,
        data: &mut dyn Read,
    ) -> Result<(), String> {
        Self::clear(dest, false).map_err(|e| e.to_string())?;
        let mode = if self.options.filter == UnpackFilter::WindowsFiles {
            0o644
        } else {
            entry.mode & 0o777
        };
        let mut file =
            host_fs::create_new_no_follow(dest, mode).map_err(|e| format!("creating: {e}"))?;
        loop {
            let n = data
                .read(&mut self.buffer)
                .map_err(|e| format!("reading: {e}"))?;
            if n == 0 {
                break;
            }
            file.write_all(&self.buffer[..n])
                .map_err(|e| format!("writing: {e}"))?;
            self.report_bytes += n as u64;
        }
        if entry.mtime.secs > 0 {
            let time = std::time::UNIX_EPOCH
                + std::time::Duration::new(entry.mtime.secs as u64, entry.mtime.nanos);
            let _ = file.set_modified(time);
        }
        Ok(())
    }

    fn hard_link(&self, entry: &LayerEntry, dest: &Path) -> Result<(), String> {
        let raw = entry.link_target.as_deref().unwrap_or("");
        let inside = match self.options.filter {
            UnpackFilter::WindowsFiles => raw
                .strip_prefix("Files/")
                .ok_or_else(|| format!("hard link target {raw:?} is not under Files/"))?,
            UnpackFilter::All => raw,
        };
        let parts = components(inside).map_err(|r| format!("hard link target {raw:?}: {r}"))?;
        let mut target = self.root.clone();
        for (i, part) in parts.iter().enumerate() {
            target.push(part);
            let meta = fs::symlink_metadata(&target)
                .map_err(|_| format!("hard link target {raw:?} does not exist in the layer"))?;
            if meta.file_type().is_symlink() {
                return Err(format!(
                    "hard link target {raw:?} goes through a symlink (escape through a link)"
                ));
            }
            if i + 1 < parts.len() && !meta.is_dir() {
                return Err(format!(
                    "hard link target {raw:?}: a parent is not a directory"
                ));
            }
            if i + 1 == parts.len() && !meta.is_file() {
                return Err(format!("hard link target {raw:?} is not a regular file"));
            }
        }
        Self::clear(dest, false).map_err(|e| e.to_string())?;
        fs::hard_link(&target, dest).map_err(|e| format!("linking: {e}"))
    }
}

/// The Linux symlink target for a layer's link name, refused if it would resolve outside the
/// root. Windows targets (`C:\x`, `\x`, `..\x`, `\??\C:\x`) become relative paths; UNC and
/// other-drive targets are refused.
fn symlink_target(raw: &str, link_parts: &[&str], windows: bool) -> Result<String, String> {
    let depth = link_parts.len() - 1; // directories between the root and the link
    let (absolute, rest) = if windows {
        let t = raw.replace('\\', "/");
        let t = t
            .strip_prefix("/??/")
            .or_else(|| t.strip_prefix("//?/"))
            .map(str::to_string)
            .unwrap_or(t);
        if t.starts_with("//") {
            return Err(format!("symlink target {raw:?} is a network path"));
        }
        let bytes = t.as_bytes();
        if bytes.len() >= 2 && bytes[1] == b':' {
            if !bytes[0].eq_ignore_ascii_case(&b'c') {
                return Err(format!("symlink target {raw:?} is on another drive"));
            }
            (true, t[2..].trim_start_matches('/').to_string())
        } else if let Some(r) = t.strip_prefix('/') {
            (true, r.to_string())
        } else {
            (false, t)
        }
    } else if let Some(r) = raw.strip_prefix('/') {
        // A Linux absolute target means "from the image's root": resolves inside by definition.
        let _ = r;
        return check_inside(raw, &[], r).map(|_| raw.to_string());
    } else {
        (false, raw.to_string())
    };
    let base: Vec<&str> = if absolute {
        Vec::new()
    } else {
        link_parts[..depth].to_vec()
    };
    check_inside(raw, &base, &rest)?;
    if absolute {
        let mut out = "../".repeat(depth);
        out.push_str(&rest);
        if out.is_empty() {
            out.push('.');
        }
        Ok(out)
    } else {
        Ok(rest)
    }
}

/// Resolves `rest` lexically from `base`; refuses if `..` climbs above the root.
fn check_inside(raw: &str, base: &[&str], rest: &str) -> Result<(), String> {
    let mut stack: Vec<&str> = base.to_vec();
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if stack.pop().is_none() {
                    return Err(format!(
                        "symlink target {raw:?} points outside the layer root"
                    ));
                }
            }
            c => stack.push(c),
        }
    }
    Ok(())
}

/// Unpacks into `target` and fails if anything was refused (what the runtimes want: a partial
/// root would be a silently broken container).
pub fn unpack_strict<R: Read + Send + 'static>(
    blob: R,
    target: &Path,
    filter: UnpackFilter,
) -> Result<UnpackReport, LayerError> {
    let report = unpack(blob, target, filter)?;
    if !report.refusals.is_empty() {
        return Err(LayerError::Refused(
            report.refusals.iter().map(|r| r.to_string()).collect(),
        ));
    }
    Ok(report)
}

/// Opens a file for [`unpack`] (a convenience for callers holding a path).
pub fn open_blob(path: &Path) -> Result<File, LayerError> {
    File::open(path).map_err(|e| LayerError::io(path.display().to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_symlink_targets_become_relative() {
        let parts = ["Program Files", "app", "link"];
        assert_eq!(
            symlink_target("C:\\Windows\\x", &parts, true).unwrap(),
            "../../Windows/x"
        );
        assert_eq!(
            symlink_target("..\\other", &parts, true).unwrap(),
            "../other"
        );
        assert_eq!(
            symlink_target("\\??\\C:\\data", &["j"], true).unwrap(),
            "data"
        );
        assert!(symlink_target("..\\..\\..\\etc", &parts, true).is_err());
        assert!(symlink_target("D:\\x", &parts, true).is_err());
        assert!(symlink_target("\\\\server\\share", &parts, true).is_err());
        assert!(symlink_target("../../x", &["a", "l"], false).is_err());
        assert_eq!(
            symlink_target("/usr/bin", &["a", "l"], false).unwrap(),
            "/usr/bin"
        );
    }

    #[test]
    fn components_refuse_escapes() {
        assert!(components("/etc/passwd").is_err());
        assert!(components("a/../../b").is_err());
        assert_eq!(components("./a//b/").unwrap(), ["a", "b"]);
    }
}

/// What unpacking needs from the host filesystem that differs between Unix and Windows.
mod host_fs {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::path::Path;

    /// Creates `path`, which must not exist; never follows a symlink planted at its name.
    #[cfg(unix)]
    pub fn create_new_no_follow(path: &Path, mode: u32) -> io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    }
    /// Creates `path`, which must not exist (`CREATE_NEW` also fails on a link at the name).
    #[cfg(not(unix))]
    pub fn create_new_no_follow(path: &Path, _mode: u32) -> io::Result<File> {
        OpenOptions::new().write(true).create_new(true).open(path)
    }

    #[cfg(unix)]
    pub fn set_dir_mode(path: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    /// Windows has no mode bits: a directory takes its parent's inheritable ACL.
    #[cfg(not(unix))]
    pub fn set_dir_mode(_path: &Path, _mode: u32) -> io::Result<()> {
        Ok(())
    }

    #[cfg(unix)]
    pub fn symlink(target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }
    #[cfg(windows)]
    pub fn symlink(target: &Path, link: &Path) -> io::Result<()> {
        std::os::windows::fs::symlink_file(target, link)
    }
}
