//! The Wine system layer as a content-addressed artifact: a zstd tar that a build cache
//! (`--cache-to`) carries, so that a fresh state dir (a CI runner) unpacks it in about a second
//! instead of running `wineboot -i` for about 20 (docs/wine.md, "The system layer from a build
//! cache").
//!
//! Of the ~726 MB a prefix holds, 724 MB are Wine's own PE and NLS files that `wineboot` copied
//! unchanged into `System32`/`SysWOW64`. The artifact names those (directory, file name, size)
//! instead of carrying them, and the import hard-links them from this host's Wine install (copies
//! them when it is on another file system); the rest
//! (registry, profile, a few generated files, the case links) travels in the tar: ~175 KB.
//!
//! **Key.** An artifact is used only where its key equals this host's: the artifact format, the
//! system layer's `LAYOUT_VERSION`, Wine's version string and a fingerprint of Wine's file
//! directories (every file's name, size and mtime, which a distribution package fixes). So the
//! copied files are the files the artifact was made with.
//!
//! **Untrusted bytes.** The blob comes from a registry: it is refused unless its sha256 is the
//! digest the cache names, and unpacked into a temp dir under the project's safe-unpack rules:
//! entries only under `prefix/`, no absolute or `..` paths, only directories, regular files and
//! relative symlinks whose target stays inside the prefix (leading `..` only, never past the
//! prefix), nothing written through a symlink, no entry twice, bounded sizes; files named from
//! Wine's install only from the fixed list of Wine directories below, by a plain file name.
//! Anything else refuses the whole artifact naming the entry, and the temp dir goes.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::preflight::WineInstall;
use super::system_layer::{self, SystemLayer, SystemLayerError, LAYOUT_VERSION};

/// The artifact's media type (a registry cache lists it among its manifest's layers).
pub const MEDIA_TYPE: &str = "application/vnd.silo.wine.system.v1.tar+zstd";
/// What the manifest's `format` says.
const FORMAT: &str = "silo-wine-system";
/// Bumped whenever the artifact changes shape; it is part of the key.
const FORMAT_VERSION: u32 = 1;
/// The tar's first entry: the [`Manifest`].
const MANIFEST_NAME: &str = "silo-wine-system.json";
/// Everything in the tar lives under this directory (the layer's `prefix/`).
const PREFIX: &str = "prefix";
/// Largest manifest read into memory.
const MANIFEST_LIMIT: u64 = 16 << 20;
/// Most bytes the tar's own files may unpack to (a prefix's are ~15 MB; a hostile blob must not
/// fill the disk).
const UNPACKED_LIMIT: u64 = 1 << 30;
/// Most entries (tar entries plus files copied from Wine's install); a prefix has ~900.
const ENTRY_LIMIT: usize = 100_000;
/// zstd level: the artifact is made once per export, read on every fresh import.
const ZSTD_LEVEL: i32 = 9;

/// Where Wine keeps the files `wineboot` copies into a prefix (Debian's multiarch layout, then
/// the plain and lib64 ones). A prefix file identical to one of these is carried by name, and an
/// artifact may name files only from these directories.
const WINE_FILE_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows",
    "/usr/lib/x86_64-linux-gnu/wine/i386-windows",
    "/usr/lib/i386-linux-gnu/wine/i386-windows",
    "/usr/lib/wine/x86_64-windows",
    "/usr/lib/wine/i386-windows",
    "/usr/lib64/wine/x86_64-windows",
    "/usr/share/wine/nls",
    "/usr/share/wine/fonts",
];

/// The tar's first entry.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    /// [`key`] of the Wine install and silo layout that made it.
    key: String,
    wine_version: String,
    /// Files of the prefix that are copies of Wine's own files, restored by copying them.
    from_wine: Vec<WineFile>,
}

/// A prefix file that is a copy of one of Wine's files.
#[derive(Debug, Serialize, Deserialize)]
struct WineFile {
    /// Where it goes, relative to the prefix (`drive_c/Windows/System32/kernel32.dll`).
    path: String,
    /// One of [`WINE_FILE_DIRS`].
    dir: String,
    /// A plain file name in `dir`.
    name: String,
    size: u64,
    mode: u32,
}

/// The artifact key of this Wine install: equal keys mean interchangeable system layers.
pub fn key(wine: &WineInstall) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    part(FORMAT.as_bytes());
    part(&FORMAT_VERSION.to_le_bytes());
    part(&LAYOUT_VERSION.to_le_bytes());
    part(wine.version.as_bytes());
    for dir in wine_dirs() {
        part(dir.as_bytes());
        for (name, meta) in dir_files(Path::new(dir))? {
            part(name.as_bytes());
            part(&meta.len().to_le_bytes());
            part(&meta.mtime().to_le_bytes());
        }
    }
    Ok(format!(
        "wine-system:sha256:{}",
        hex::encode(hasher.finalize())
    ))
}

/// The [`WINE_FILE_DIRS`] this host has.
fn wine_dirs() -> impl Iterator<Item = &'static str> {
    WINE_FILE_DIRS
        .iter()
        .copied()
        .filter(|d| Path::new(d).is_dir())
}

/// The regular files directly in `dir`, by name.
fn dir_files(dir: &Path) -> std::io::Result<BTreeMap<String, std::fs::Metadata>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if let (true, Some(name)) = (meta.is_file(), entry.file_name().to_str()) {
            files.insert(name.to_string(), meta);
        }
    }
    Ok(files)
}

// ---- pack ------------------------------------------------------------------------------------

/// One entry of the prefix, in walk order (parents first, names sorted).
enum Item {
    Dir(PathBuf, std::fs::Metadata),
    File(PathBuf, std::fs::Metadata),
    Link(PathBuf, PathBuf),
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<Item>) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(root.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let rel = rel.join(name);
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_symlink() {
            out.push(Item::Link(rel, std::fs::read_link(&path)?));
        } else if meta.is_dir() {
            out.push(Item::Dir(rel.clone(), meta));
            walk(root, &rel, out)?;
        } else if meta.is_file() {
            out.push(Item::File(rel, meta));
        }
        // Sockets, fifos, devices: a prefix has none worth carrying.
    }
    Ok(())
}

/// Whether two files have the same bytes.
fn same_bytes(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Writes `layer` as an artifact to `out`. Absolute symlinks are left out: the only ones a
/// shaped prefix has are Wine's serial-port devices (`dosdevices/com1 → /dev/ttyS0`), host
/// links that Wine's mount manager makes again at start and that a silo's prefix does not use.
pub fn pack(layer: &SystemLayer, wine: &WineInstall, out: &mut dyn Write) -> std::io::Result<()> {
    let mut wine_files: BTreeMap<String, Vec<(&str, u64)>> = BTreeMap::new();
    for dir in wine_dirs() {
        for (name, meta) in dir_files(Path::new(dir))? {
            wine_files.entry(name).or_default().push((dir, meta.len()));
        }
    }
    let mut items = Vec::new();
    walk(&layer.prefix, Path::new(""), &mut items)?;
    let mut from_wine = Vec::new();
    let mut carried = Vec::new();
    for item in items {
        if let Item::File(rel, meta) = &item {
            let name = rel.file_name().and_then(OsStr::to_str).unwrap_or("");
            let mut found = None;
            for (dir, size) in wine_files.get(name).into_iter().flatten() {
                if *size == meta.len()
                    && same_bytes(&layer.prefix.join(rel), &Path::new(dir).join(name))?
                {
                    found = Some(*dir);
                    break;
                }
            }
            if let (Some(dir), Some(path)) = (found, rel.to_str()) {
                from_wine.push(WineFile {
                    path: path.to_string(),
                    dir: dir.to_string(),
                    name: name.to_string(),
                    size: meta.len(),
                    mode: meta.mode() & 0o777,
                });
                continue;
            }
        }
        if matches!(&item, Item::Link(_, target) if target.is_absolute()) {
            continue;
        }
        carried.push(item);
    }
    let manifest = Manifest {
        format: FORMAT.to_string(),
        version: FORMAT_VERSION,
        key: key(wine)?,
        wine_version: wine.version.clone(),
        from_wine,
    };
    let manifest = serde_json::to_vec(&manifest).expect("a manifest serializes");
    let mut tar = tar::Builder::new(zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?);
    let header = |kind: tar::EntryType, mode: u32, size: u64, mtime: i64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(mtime.max(0) as u64);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    let mut h = header(tar::EntryType::Regular, 0o644, manifest.len() as u64, 0);
    tar.append_data(&mut h, MANIFEST_NAME, manifest.as_slice())?;
    let mut h = header(tar::EntryType::Directory, 0o755, 0, 0);
    tar.append_data(&mut h, PREFIX, std::io::empty())?;
    for item in carried {
        match item {
            Item::Dir(rel, meta) => {
                let mut h = header(
                    tar::EntryType::Directory,
                    meta.mode() & 0o777,
                    0,
                    meta.mtime(),
                );
                tar.append_data(&mut h, Path::new(PREFIX).join(rel), std::io::empty())?;
            }
            Item::File(rel, meta) => {
                let file = std::fs::File::open(layer.prefix.join(&rel))?;
                let mut h = header(
                    tar::EntryType::Regular,
                    meta.mode() & 0o777,
                    meta.len(),
                    meta.mtime(),
                );
                tar.append_data(&mut h, Path::new(PREFIX).join(rel), file.take(meta.len()))?;
            }
            Item::Link(rel, target) => {
                let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0);
                tar.append_link(&mut h, Path::new(PREFIX).join(rel), target)?;
            }
        }
    }
    tar.into_inner()?.finish()?.flush()
}

// ---- install ---------------------------------------------------------------------------------

/// Makes this Wine's system layer in `state_dir` from the artifact `blob`, which must hash to
/// `digest` (`sha256:<hex>`). Nothing is made when the layer is already there; a refused artifact
/// leaves nothing behind.
pub fn install(
    state_dir: &Path,
    wine: &WineInstall,
    blob: &Path,
    digest: &str,
) -> Result<SystemLayer, SystemLayerError> {
    let refused = |message: String| {
        SystemLayerError::Artifact(format!(
            "the Wine system layer artifact {digest} is refused: {message}"
        ))
    };
    let actual =
        file_digest(blob).map_err(|e| refused(format!("reading {}: {e}", blob.display())))?;
    if actual != digest {
        return Err(refused(format!(
            "digest mismatch: its bytes hash to {actual}, the cache names {digest}"
        )));
    }
    let want = key(wine).map_err(|e| refused(format!("reading Wine's install: {e}")))?;
    system_layer::make_with(state_dir, wine, &format!("cache {digest}"), |prefix| {
        unpack(blob, &want, prefix).map_err(refused)
    })
}

fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Unpacks the artifact into `prefix` (which must not exist yet) under the rules in the module
/// doc. `Err` names the refused entry or what failed.
fn unpack(blob: &Path, want_key: &str, prefix: &Path) -> Result<(), String> {
    let file = std::fs::File::open(blob).map_err(|e| format!("{}: {e}", blob.display()))?;
    let decoder = zstd::stream::read::Decoder::new(file).map_err(|e| format!("zstd: {e}"))?;
    let mut archive = tar::Archive::new(decoder);
    let mut entries = archive.entries().map_err(|e| format!("tar: {e}"))?;
    let mut first = entries
        .next()
        .ok_or("the tar is empty")?
        .map_err(|e| format!("tar: {e}"))?;
    if first.path_bytes().as_ref() != MANIFEST_NAME.as_bytes() || first.size() > MANIFEST_LIMIT {
        return Err(format!("its first entry is not {MANIFEST_NAME}"));
    }
    let mut text = Vec::new();
    first
        .read_to_end(&mut text)
        .map_err(|e| format!("{MANIFEST_NAME}: {e}"))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| format!("{MANIFEST_NAME}: {e}"))?;
    if manifest.format != FORMAT || manifest.version != FORMAT_VERSION {
        return Err(format!(
            "it is {:?} version {}, this silo reads {FORMAT:?} version {FORMAT_VERSION}",
            manifest.format, manifest.version
        ));
    }
    if manifest.key != want_key {
        return Err(format!(
            "it was made for another Wine install or silo layout (Wine {:?}; key {}, this host's \
             {want_key})",
            manifest.wine_version, manifest.key
        ));
    }
    std::fs::create_dir(prefix).map_err(|e| format!("{}: {e}", prefix.display()))?;
    let mut written = 0u64;
    let mut count = 0usize;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("tar: {e}"))?;
        count += 1;
        if count > ENTRY_LIMIT {
            return Err(format!("more than {ENTRY_LIMIT} entries"));
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |why: &str| format!("entry {shown:?}: {why}");
        let path = Path::new(OsStr::from_bytes(&raw));
        let rel = match path.strip_prefix(PREFIX) {
            Ok(rel) => rel,
            Err(_) => return Err(refuse("outside prefix/")),
        };
        if rel.as_os_str().is_empty() {
            continue; // the prefix itself
        }
        let target = safe_target(prefix, rel).map_err(|why| refuse(&why))?;
        let mode = entry.header().mode().map_err(|e| refuse(&e.to_string()))? & 0o777;
        let mtime = entry.header().mtime().unwrap_or(0);
        match entry.header().entry_type() {
            tar::EntryType::Directory => match std::fs::symlink_metadata(&target) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(refuse("a directory where another entry is")),
                Err(_) => {
                    std::fs::create_dir(&target).map_err(|e| refuse(&e.to_string()))?;
                    set_mode(&target, mode.max(0o700)).map_err(|e| refuse(&e.to_string()))?;
                }
            },
            tar::EntryType::Regular => {
                written = written.saturating_add(entry.size());
                if written > UNPACKED_LIMIT {
                    return Err(refuse(&format!("the files exceed {UNPACKED_LIMIT} bytes")));
                }
                let mut out = create_new(&target).map_err(|e| refuse(&e.to_string()))?;
                std::io::copy(&mut entry, &mut out).map_err(|e| refuse(&e.to_string()))?;
                let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
                out.set_modified(when).map_err(|e| refuse(&e.to_string()))?;
                set_mode(&target, mode).map_err(|e| refuse(&e.to_string()))?;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse("a symlink without a target"))?
                    .into_owned();
                let link = PathBuf::from(OsStr::from_bytes(&link));
                check_link(rel, &link).map_err(|why| refuse(&why))?;
                std::os::unix::fs::symlink(&link, &target).map_err(|e| refuse(&e.to_string()))?;
            }
            other => return Err(refuse(&format!("entry type {other:?} is not allowed"))),
        }
    }
    let dirs: Vec<&str> = wine_dirs().collect();
    for file in &manifest.from_wine {
        count += 1;
        if count > ENTRY_LIMIT {
            return Err(format!("more than {ENTRY_LIMIT} entries"));
        }
        let refuse = |why: &str| format!("Wine file {:?}: {why}", file.path);
        if !dirs.contains(&file.dir.as_str()) {
            return Err(refuse(&format!(
                "{:?} is not one of this host's Wine directories",
                file.dir
            )));
        }
        let mut name = Path::new(&file.name).components();
        if !matches!(
            (name.next(), name.next()),
            (Some(Component::Normal(_)), None)
        ) {
            return Err(refuse(&format!("{:?} is not a plain file name", file.name)));
        }
        let source = Path::new(&file.dir).join(&file.name);
        let meta = std::fs::metadata(&source)
            .map_err(|e| refuse(&format!("{}: {e}", source.display())))?;
        if !meta.is_file() || meta.len() != file.size {
            return Err(refuse(&format!(
                "this host's {} is not the {}-byte file the artifact was made with",
                source.display(),
                file.size
            )));
        }
        let target = safe_target(prefix, Path::new(&file.path)).map_err(|why| refuse(&why))?;
        // A hard link costs nothing, and the layer is an overlay lower dir that nothing writes
        // (overlayfs copies a file up before a step changes it). Across file systems, or when
        // the mode differs (a chmod would change Wine's own file), a copy.
        let linked = meta.mode() & 0o777 == file.mode & 0o777
            && std::fs::hard_link(&source, &target).is_ok();
        if !linked {
            let mut out = create_new(&target).map_err(|e| refuse(&e.to_string()))?;
            let mut input = std::fs::File::open(&source).map_err(|e| refuse(&e.to_string()))?;
            std::io::copy(&mut input, &mut out).map_err(|e| refuse(&e.to_string()))?;
            set_mode(&target, file.mode & 0o777).map_err(|e| refuse(&e.to_string()))?;
        }
    }
    if !prefix.join("system.reg").is_file() || !prefix.join("drive_c").is_dir() {
        return Err("it holds no Wine prefix (system.reg and drive_c/ are missing)".into());
    }
    Ok(())
}

/// `prefix/rel` for writing: `rel` made of plain names only, every directory above it a real
/// directory (made when missing, never a symlink), so nothing is written outside `prefix`.
fn safe_target(prefix: &Path, rel: &Path) -> Result<PathBuf, String> {
    let mut names = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => names.push(n),
            _ => return Err("not a plain relative path (absolute, `.` or `..`)".into()),
        }
    }
    let Some((last, parents)) = names.split_last() else {
        return Err("an empty path".into());
    };
    let mut dir = prefix.to_path_buf();
    for name in parents {
        dir.push(name);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_symlink() => {
                return Err(format!(
                    "{} is a symlink; nothing is written through one",
                    dir.display()
                ))
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("{} is not a directory", dir.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?
            }
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
    }
    Ok(dir.join(last))
}

/// A symlink at `rel` may point to `..` steps (at most as many as `rel` has parents) followed by
/// plain names: so it resolves inside the prefix, whatever the links it passes through (each of
/// which obeys the same rule).
fn check_link(rel: &Path, link: &Path) -> Result<(), String> {
    let depth = rel.components().count().saturating_sub(1);
    let mut ups = 0;
    let mut names = 0;
    for c in link.components() {
        match c {
            Component::ParentDir if names == 0 => ups += 1,
            Component::Normal(_) => names += 1,
            _ => {
                return Err(format!(
                    "symlink target {link:?} is not a plain relative path"
                ))
            }
        }
    }
    if ups > depth || names == 0 {
        return Err(format!("symlink target {link:?} leaves the prefix"));
    }
    Ok(())
}

fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar entry written with raw name bytes (tar's own setters refuse the hostile names these
    /// tests need).
    fn raw_entry<W: Write>(
        tar: &mut tar::Builder<W>,
        name: &str,
        kind: tar::EntryType,
        data: &[u8],
        link: &str,
    ) {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        tar.append(&h, data).unwrap();
    }

    /// An artifact blob: the manifest (with `key` and `from_wine`), then `entries`
    /// (name, type, data, link target).
    fn artifact(
        dir: &Path,
        key: &str,
        from_wine: Vec<WineFile>,
        entries: &[(&str, tar::EntryType, &[u8], &str)],
    ) -> PathBuf {
        let manifest = serde_json::to_vec(&Manifest {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            key: key.into(),
            wine_version: "test".into(),
            from_wine,
        })
        .unwrap();
        let path = dir.join("artifact.tar.zst");
        let file = std::fs::File::create(&path).unwrap();
        let mut tar = tar::Builder::new(zstd::stream::write::Encoder::new(file, 1).unwrap());
        raw_entry(
            &mut tar,
            MANIFEST_NAME,
            tar::EntryType::Regular,
            &manifest,
            "",
        );
        for (name, kind, data, link) in entries {
            raw_entry(&mut tar, name, *kind, data, link);
        }
        tar.into_inner().unwrap().finish().unwrap();
        path
    }

    const DIR: tar::EntryType = tar::EntryType::Directory;
    const FILE: tar::EntryType = tar::EntryType::Regular;
    const LINK: tar::EntryType = tar::EntryType::Symlink;

    /// A minimal good prefix.
    const GOOD: &[(&str, tar::EntryType, &[u8], &str)] = &[
        ("prefix/", DIR, b"", ""),
        ("prefix/system.reg", FILE, b"WINE REGISTRY Version 2\n", ""),
        ("prefix/drive_c/", DIR, b"", ""),
        ("prefix/drive_c/Windows/", DIR, b"", ""),
        ("prefix/drive_c/windows", LINK, b"", "Windows"),
    ];

    /// Unpacks `entries` after [`GOOD`]; the error, if refused.
    fn unpack_with(
        from_wine: Vec<WineFile>,
        entries: &[(&str, tar::EntryType, &[u8], &str)],
    ) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<_> = GOOD.iter().chain(entries).copied().collect();
        let blob = artifact(dir.path(), "k", from_wine, &all);
        unpack(&blob, "k", &dir.path().join("out"))
    }

    #[test]
    fn hostile_artifacts_are_refused_naming_the_entry() {
        assert_eq!(unpack_with(Vec::new(), &[]), Ok(()));
        let refused = |entries: &[(&str, tar::EntryType, &[u8], &str)], want: &str| {
            let e = unpack_with(Vec::new(), entries).unwrap_err();
            assert!(e.contains(want), "{e}");
        };
        refused(
            &[("prefix/../escape", FILE, b"x", "")],
            "\"prefix/../escape\"",
        );
        refused(&[("other/x", FILE, b"x", "")], "outside prefix/");
        refused(
            &[("prefix/etc", LINK, b"", "/etc")],
            "not a plain relative path",
        );
        refused(&[("prefix/up", LINK, b"", "../..")], "leaves the prefix");
        refused(
            &[
                ("prefix/win", LINK, b"", "drive_c"),
                ("prefix/win/x", FILE, b"x", ""),
            ],
            "nothing is written through one",
        );
        refused(&[("prefix/system.reg", FILE, b"again", "")], "File exists");
        refused(
            &[("prefix/h", tar::EntryType::Link, b"", "system.reg")],
            "not allowed",
        );
        refused(
            &[("prefix/dev", tar::EntryType::Char, b"", "")],
            "not allowed",
        );
        // Files named from Wine's install only from its directories, by plain names.
        let wine_file = |dir: &str, name: &str| WineFile {
            path: "drive_c/Windows/x".into(),
            dir: dir.into(),
            name: name.into(),
            size: 1,
            mode: 0o644,
        };
        let e = unpack_with(vec![wine_file("/etc", "passwd")], &[]).unwrap_err();
        assert!(e.contains("not one of this host's Wine directories"), "{e}");
        if let Some(dir) = wine_dirs().next() {
            let e = unpack_with(vec![wine_file(dir, "../../../etc/passwd")], &[]).unwrap_err();
            assert!(e.contains("not a plain file name"), "{e}");
        }
        // Another key, and a tar without the manifest first.
        let dir = tempfile::tempdir().unwrap();
        let blob = artifact(dir.path(), "other", Vec::new(), GOOD);
        let e = unpack(&blob, "k", &dir.path().join("out")).unwrap_err();
        assert!(e.contains("made for another Wine install"), "{e}");
    }

    #[test]
    fn a_packed_prefix_installs_and_a_forged_blob_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let wine = WineInstall {
            loader: "/nonexistent/wine64".into(),
            wineboot: "/nonexistent/wineboot".into(),
            server: "/nonexistent/wineserver".into(),
            version: "wine-test".into(),
        };
        // A prefix as `wineboot` leaves it, with one of Wine's own files when this host has one.
        let prefix = dir.path().join("made/prefix");
        let system32 = prefix.join("drive_c/Windows/System32");
        std::fs::create_dir_all(&system32).unwrap();
        std::fs::create_dir_all(prefix.join("dosdevices")).unwrap();
        std::fs::write(prefix.join("system.reg"), "WINE REGISTRY Version 2\n").unwrap();
        std::fs::write(system32.join("silo.txt"), "mine").unwrap();
        std::os::unix::fs::symlink("Windows", prefix.join("drive_c/windows")).unwrap();
        std::os::unix::fs::symlink("../drive_c", prefix.join("dosdevices/c:")).unwrap();
        std::os::unix::fs::symlink("/dev/ttyS0", prefix.join("dosdevices/com1")).unwrap();
        let wine_file = wine_dirs()
            .flat_map(|d| {
                dir_files(Path::new(d))
                    .unwrap()
                    .into_keys()
                    .map(move |n| (d, n))
            })
            .next();
        if let Some((d, name)) = &wine_file {
            std::fs::copy(Path::new(d).join(name), system32.join(name)).unwrap();
        }
        let mut packed = Vec::new();
        pack(&SystemLayer { prefix }, &wine, &mut packed).unwrap();
        let blob = dir.path().join("blob");
        std::fs::write(&blob, &packed).unwrap();
        let digest = file_digest(&blob).unwrap();

        // A forged blob (bytes that do not hash to the digest named) is refused up front.
        let state = dir.path().join("state");
        let forged = dir.path().join("forged");
        let mut bytes = packed.clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&forged, bytes).unwrap();
        let e = install(&state, &wine, &forged, &digest)
            .unwrap_err()
            .to_string();
        assert!(e.contains("digest mismatch"), "{e}");
        assert!(system_layer::existing(&state, &wine).is_none());

        let layer = install(&state, &wine, &blob, &digest).unwrap();
        let root = layer.prefix.parent().unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join(system_layer::ORIGIN)).unwrap(),
            format!("cache {digest}")
        );
        let system32 = layer.prefix.join("drive_c/Windows/System32");
        assert_eq!(
            std::fs::read_to_string(system32.join("silo.txt")).unwrap(),
            "mine"
        );
        assert_eq!(
            std::fs::read_link(layer.prefix.join("dosdevices/c:")).unwrap(),
            Path::new("../drive_c")
        );
        assert!(std::fs::symlink_metadata(layer.prefix.join("dosdevices/com1")).is_err());
        if let Some((d, name)) = &wine_file {
            assert!(same_bytes(&system32.join(name), &Path::new(d).join(name)).unwrap());
            // Carried by name, not in the tar.
            let decoder = zstd::stream::read::Decoder::new(packed.as_slice()).unwrap();
            let mut tar = tar::Archive::new(decoder);
            let carried: Vec<String> = tar
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect();
            assert!(carried.contains(&"prefix/drive_c/Windows/System32/silo.txt".to_string()));
            assert!(
                !carried.iter().any(|p| p.ends_with(&format!("/{name}"))),
                "{carried:?}"
            );
        }
        // A hostile artifact with the right key and digest is refused by the unpack, and its
        // half-made dir removed.
        let state2 = dir.path().join("state2");
        let hostile: Vec<_> = GOOD
            .iter()
            .copied()
            .chain([("prefix/../x", FILE, &b"x"[..], "")])
            .collect();
        let blob = artifact(dir.path(), &key(&wine).unwrap(), Vec::new(), &hostile);
        let digest = file_digest(&blob).unwrap();
        let e = install(&state2, &wine, &blob, &digest)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is refused") && e.contains("prefix/../x"), "{e}");
        let left: Vec<_> = std::fs::read_dir(state2.join("wine/system"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != ".lock")
            .collect();
        assert!(left.is_empty(), "{left:?}");
        // Nothing half-made is left beside the layer.
        let names: Vec<_> = std::fs::read_dir(root.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn links_must_stay_inside_the_prefix() {
        let ok = |rel: &str, link: &str| check_link(Path::new(rel), Path::new(link));
        assert!(ok("drive_c/windows", "Windows").is_ok());
        assert!(ok("dosdevices/c:", "../drive_c").is_ok());
        assert!(ok("dosdevices/c:", "../../etc").is_err());
        assert!(ok("a", "/dev/ttyS0").is_err());
        assert!(ok("a/b", "c/../../..").is_err(), "`..` after a name");
        assert!(ok("a/b", "..").is_err(), "a link to a parent has no name");
    }

    #[test]
    fn targets_are_plain_paths_below_real_directories() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("p");
        std::fs::create_dir(&prefix).unwrap();
        std::os::unix::fs::symlink(dir.path(), prefix.join("out")).unwrap();
        assert!(safe_target(&prefix, Path::new("a/b/c")).is_ok());
        assert!(prefix.join("a/b").is_dir());
        for bad in ["../x", "/etc/x", "out/x", ""] {
            assert!(safe_target(&prefix, Path::new(bad)).is_err(), "{bad}");
        }
    }
}
