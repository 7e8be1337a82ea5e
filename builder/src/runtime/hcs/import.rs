//! Image layer tar → the folder vmcompute imports (research windows-layers.md §1.3).
//!
//! - A **base** layer (no parents) is written straight into its layer folder (`Files/…`,
//!   `UtilityVM/Files/…`) through [`BaseFiles`], as hcsshim's `baseLayerWriter` does: each
//!   entry is created with its basic info, then its backup stream — security descriptor, EAs,
//!   reparse data (symlinks and junctions), data, alternate streams — is restored into it
//!   (`BackupWrite` on Windows); directories get their times again at the end. Then
//!   `ProcessBaseImage` (and `ProcessUtilityImage` when `UtilityVM/Files` is present) make it
//!   a layer.
//! - A **non-base** layer is staged for `ImportLayer` in hcsshim's legacy format
//!   (internal/wclayer/legacy.go `legacyLayerWriter`): each `Files\…` file becomes a 4-byte
//!   little-endian `FileAttributes` prefix followed by a Win32 backup stream ([`super::backup`])
//!   written in go-winio's order — the security descriptor (`MSWINDOWS.rawsd`), the EAs
//!   (`MSWINDOWS.xattr.*`), reparse data for symlinks and junctions (`MSWINDOWS.mountpoint=1`),
//!   the data, then the alternate data streams (the `<file>:<stream>` entries that follow
//!   their file). Each directory (also `Files` and `Hives`) gets a `<dir>.$wcidirs$` file in
//!   that format, a directory symlink or junction too (plus its empty directory, as hcsshim
//!   leaves it); staged files get the entry's modification and access times (creation time
//!   too on Windows); `Hives\…` are plain files; deleted paths (`.wh.` entries) are not
//!   staged: as hcsshim does, [`remove_tombstoned`] deletes them from the layer folder after
//!   `ImportLayer`.
//!
//! A non-base layer's `UtilityVM/…` entries are not staged either: they are written into its
//! layer folder over a clone of the nearest parent's utility VM ([`UtilityVmTarget`]).
//!
//! Hard links of non-base layers are not staged: as hcsshim does (`AddLink` → `PendingLinks`),
//! they come back in [`Staged::pending_links`] and [`link_pending`] makes them in the layer
//! folder after `ImportLayer`, to a target of this layer or of the nearest parent holding it.
//!
//! Not carried: EA flags (a tar has no place for them) and the SDDL-only `MSWINDOWS.sd` record
//! of very old layers (converting SDDL needs Windows; such entries inherit the folder's ACL).

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;

use super::backup::{self, BackupWriter, ExtendedAttribute};
use super::base_files::{self, BaseFiles, BasicInfo, StreamSink};
use crate::layer::reader::{read_layer, LayerEntry, LayerEntryKind};
use crate::layer::{attributes, LayerError};

/// The PAX record prefix of an extended attribute (go-winio backuptar `hdrEaPrefix`).
const EA_PREFIX: &str = "MSWINDOWS.xattr.";

/// Why a layer tar could not be staged.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("layer {layer}: {what}: {source}")]
    Io {
        layer: String,
        what: String,
        source: io::Error,
    },
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    Entry {
        layer: String,
        entry: String,
        reason: String,
    },
}

/// What staging found (the runtime needs to know whether to run `ProcessUtilityImage`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Staged {
    pub has_utility_vm: bool,
    /// Paths the layer deletes (`Files/dir/name`, from `.wh.` entries): not handed to
    /// `ImportLayer`; [`remove_tombstoned`] deletes them from the layer folder after it.
    pub tombstones: Vec<String>,
    /// Hard links to make after `ImportLayer` (non-base layers).
    pub pending_links: Vec<PendingLink>,
    /// `sha256:<hex>` of the uncompressed tar, to check against the image's diff_id.
    pub diff_id: String,
    /// The [`MUTATED_UTILITY_VM_FILES`] this layer carries (tar names), for
    /// [`save_mutated_files`].
    pub mutated_files: Vec<String>,
}

/// A hard link of a non-base layer, made once the layer folder exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLink {
    /// The link, relative to the layer folder (`Files/…`).
    pub path: PathBuf,
    /// Its target, relative to the layer folder that holds it.
    pub target: PathBuf,
    /// The target is a file of this same layer (else: of the nearest parent that has it).
    pub in_this_layer: bool,
}

/// The utility VM files `ProcessUtilityImage` rewrites, and where hcsshim keeps their
/// imported bytes in the layer folder (`mutatedFiles`, pkg/ociwclayer/import.go).
pub const MUTATED_UTILITY_VM_FILES: [(&str, &str); 4] = [
    ("UtilityVM/Files/EFI/Microsoft/Boot/BCD", "bcd.bak"),
    ("UtilityVM/Files/EFI/Microsoft/Boot/BCD.LOG", "bcd.log.bak"),
    (
        "UtilityVM/Files/EFI/Microsoft/Boot/BCD.LOG1",
        "bcd.log1.bak",
    ),
    (
        "UtilityVM/Files/EFI/Microsoft/Boot/BCD.LOG2",
        "bcd.log2.bak",
    ),
];

/// Copies the boot configuration files an imported layer carries (`carried`, tar names: see
/// [`Staged::mutated_files`]) to `bcd*.bak` in the layer folder before `ProcessUtilityImage`
/// changes them, as hcsshim's `writeBackupStreamFromTarAndSaveMutatedFiles` saves them while
/// importing: the layer's own bytes stay available. A clone's files are not the layer's.
pub fn save_mutated_files(layer: &Path, carried: &[String]) -> io::Result<()> {
    for (file, backup) in MUTATED_UTILITY_VM_FILES {
        if !carried.iter().any(|c| c == file) {
            continue;
        }
        let source = file
            .split('/')
            .fold(layer.to_path_buf(), |p, part| p.join(part));
        match fs::copy(&source, layer.join(backup)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && !source.exists() => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("saving {} as {backup}: {e}", source.display()),
                ))
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Deletes a layer's tombstoned paths (`Files/dir/name`) from its imported `layer` folder, as
/// hcsshim's `legacyLayerWriterWrapper.Close` does after `ImportLayer` (internal/wclayer/
/// importlayer.go): one entry each, a file or an empty directory; one that is not there is
/// already deleted.
pub fn remove_tombstoned(layer: &Path, tombstones: &[String]) -> io::Result<()> {
    for name in tombstones {
        let path = name
            .split('/')
            .fold(layer.to_path_buf(), |p, part| p.join(part));
        let removed = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => fs::remove_dir(&path),
            Ok(_) => fs::remove_file(&path),
            Err(e) => Err(e),
        };
        match removed {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("deleting tombstoned {}: {e}", path.display()),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Makes `links` in the imported `layer` folder; `parents` nearest first.
pub fn link_pending(layer: &Path, parents: &[PathBuf], links: &[PendingLink]) -> io::Result<()> {
    for link in links {
        let root = if link.in_this_layer {
            Some(layer)
        } else {
            parents
                .iter()
                .map(PathBuf::as_path)
                .find(|parent| fs::symlink_metadata(parent.join(&link.target)).is_ok())
        };
        let Some(root) = root else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "hard link {} → {}: the target is in no parent layer",
                    link.path.display(),
                    link.target.display()
                ),
            ));
        };
        let (source, path) = (root.join(&link.target), layer.join(&link.path));
        // Overwrites whatever ImportLayer left at the link's path (hcsshim replaces it too).
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::hard_link(&source, &path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("hard link {} → {}: {e}", path.display(), source.display()),
            )
        })?;
    }
    Ok(())
}

/// How a layer reaches its folder.
#[derive(Clone, Copy)]
pub enum Layout<'a> {
    /// A base layer, written in place through these files.
    Base(&'a dyn BaseFiles),
    /// A non-base layer, staged in the legacy format for `ImportLayer`; its `UtilityVM/…`
    /// entries go to the target (without one they are refused).
    Legacy(Option<UtilityVmTarget<'a>>),
}

/// Where a non-base layer's utility VM goes: straight into its layer folder, over a clone of
/// the nearest parent's (`UtilityVM/Files` hard-linked; directories, reparse points and the
/// `BCD*` files `ProcessUtilityImage` rewrites copied with their metadata), as hcsshim's
/// `legacyLayerWriter.initUtilityVM` does — a utility VM is one folder, never layered.
#[derive(Clone, Copy)]
pub struct UtilityVmTarget<'a> {
    /// The folder of the layer being imported.
    pub layer: &'a Path,
    /// The nearest parent's layer folder.
    pub parent: &'a Path,
    /// Writes entries with their metadata (`BackupWrite` on Windows).
    pub files: &'a dyn BaseFiles,
}

/// Clones `target.parent`'s `UtilityVM/Files` into `target.layer` (see [`UtilityVmTarget`]).
fn clone_parent_utility_vm(target: &UtilityVmTarget) -> io::Result<()> {
    let source = target.parent.join("UtilityVM").join("Files");
    match fs::symlink_metadata(&source) {
        Ok(meta) if meta.is_dir() => {}
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "the layer changes a utility VM, but its parent layer {} has none to clone \
                     (no UtilityVM/Files directory)",
                    target.parent.display()
                ),
            ))
        }
    }
    fs::create_dir_all(target.layer.join("UtilityVM"))?;
    let mutated: Vec<PathBuf> = MUTATED_UTILITY_VM_FILES
        .iter()
        .map(|(file, _)| Path::new(file).to_path_buf())
        .collect();
    // Directories in walk order, to give them their times again once filled.
    let mut directories = Vec::new();
    let mut pending = vec![PathBuf::from("UtilityVM/Files")];
    while let Some(rel) = pending.pop() {
        let (from, to) = (target.parent.join(&rel), target.layer.join(&rel));
        let meta = fs::symlink_metadata(&from)?;
        let is_link = meta.file_type().is_symlink();
        if meta.is_dir() && !is_link {
            target.files.copy_entry(&from, &to, true)?;
            directories.push(rel.clone());
            let mut children: Vec<_> = fs::read_dir(&from)?
                .map(|e| e.map(|e| rel.join(e.file_name())))
                .collect::<io::Result<_>>()?;
            children.sort();
            pending.extend(children.into_iter().rev());
        } else if is_link || mutated.contains(&rel) {
            target.files.copy_entry(&from, &to, false)?;
        } else {
            fs::hard_link(&from, &to)?;
        }
    }
    for rel in directories.iter().rev() {
        target
            .files
            .copy_directory_times(&target.parent.join(rel), &target.layer.join(rel))?;
    }
    Ok(())
}

/// Stages `blob` (compressed or not) into `dest` in `layout`.
pub fn stage_layer(blob: &Path, dest: &Path, layout: Layout) -> Result<Staged, ImportError> {
    let layer = blob.display().to_string();
    let file = fs::File::open(blob).map_err(|source| ImportError::Io {
        layer: layer.clone(),
        what: "open".into(),
        source,
    })?;
    stage_tar(file, dest, layout, &layer)
}

/// Stages a layer tar stream (compressed or not: silo's layer reader sniffs it).
pub fn stage_tar<R: Read>(
    tar_stream: R,
    dest: &Path,
    layout: Layout,
    layer: &str,
) -> Result<Staged, ImportError> {
    let (base_files, utility_vm) = match layout {
        Layout::Base(files) => (Some(files), None),
        Layout::Legacy(utility_vm) => (None, utility_vm),
    };
    let mut stager = Stager {
        dest,
        base_files,
        utility_vm,
        utility_vm_cloned: false,
        layer,
        staged: Staged::default(),
        open: None,
        added: Default::default(),
        directories: Vec::new(),
    };
    fs::create_dir_all(dest).map_err(|e| stager.io_err(dest, e))?;
    // The reader's visitor can only fail with a LayerError: the real error waits here.
    let mut failure = None;
    let read = read_layer(tar_stream, |entry, data| {
        stager.entry(entry, data).map_err(|e| {
            failure = Some(e);
            LayerError::Refused(Vec::new())
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let summary = read.map_err(|e| ImportError::Entry {
        layer: layer.into(),
        entry: String::new(),
        reason: e.to_string(),
    })?;
    stager.staged.diff_id = summary.diff_id.to_string();
    stager.close_open()?;
    // A legacy staging folder gets no tombstones.txt: hcsshim's legacyLayerWriter removes it
    // from the import folder (`Close`) and deletes the tombstoned paths itself once
    // `ImportLayer` is done.
    if let Some(files) = base_files.or(utility_vm.map(|u| u.files)) {
        // Children first, so setting a child's times cannot move its parent's again.
        for (dir, info) in stager.directories.iter().rev() {
            files
                .restore_directory_times(dir, info)
                .map_err(|e| stager.io_err(dir, e))?;
        }
    }
    Ok(stager.staged)
}

/// The entry being written, kept open for the alternate streams that follow it.
struct OpenBackup {
    /// The tar path of its entry (`Files/a/b`).
    entry: String,
    file: PathBuf,
    sink: Box<dyn StreamSink>,
}

/// A file staged in the legacy format: the attributes prefix is written, the backup stream
/// follows.
struct LegacyFile {
    writer: BackupWriter<BufWriter<fs::File>>,
    /// The entry's times, set when the file is complete (hcsshim sets them on the staged file,
    /// and on `<dir>.$wcidirs$` for a directory).
    times: fs::FileTimes,
}

impl StreamSink for LegacyFile {
    fn stream(&mut self, id: u32, name: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        self.writer.stream_from(id, name, size, data)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        let file = self
            .writer
            .into_inner()
            .into_inner()
            .map_err(|e| e.into_error())?;
        file.set_times(self.times)
    }
}

struct Stager<'a> {
    dest: &'a Path,
    /// `Some` for a base layer.
    base_files: Option<&'a dyn BaseFiles>,
    /// Where a non-base layer's utility VM goes, and whether the parent's is cloned yet.
    utility_vm: Option<UtilityVmTarget<'a>>,
    utility_vm_cloned: bool,
    layer: &'a str,
    staged: Staged,
    open: Option<OpenBackup>,
    /// Paths this layer added so far (a hard link's target may be one of them).
    added: std::collections::BTreeSet<String>,
    /// The directories written in place (a base layer's, a non-base layer's utility VM's), in
    /// creation order, with the times they get at the end.
    directories: Vec<(PathBuf, BasicInfo)>,
}

impl Stager<'_> {
    fn entry_err(&self, entry: &str, reason: impl Into<String>) -> ImportError {
        ImportError::Entry {
            layer: self.layer.into(),
            entry: entry.into(),
            reason: reason.into(),
        }
    }

    fn io_err(&self, what: &Path, source: io::Error) -> ImportError {
        ImportError::Io {
            layer: self.layer.into(),
            what: what.display().to_string(),
            source,
        }
    }

    fn close_open(&mut self) -> Result<(), ImportError> {
        if let Some(open) = self.open.take() {
            open.sink.finish().map_err(|e| self.io_err(&open.file, e))?;
        }
        Ok(())
    }

    fn entry(&mut self, entry: &LayerEntry, data: &mut dyn Read) -> Result<(), ImportError> {
        let name = entry.path.as_str();
        if !matches!(entry.kind, LayerEntryKind::HardLink) {
            self.added.insert(name.to_string());
        }
        let rel = safe_relative(name).ok_or_else(|| {
            self.entry_err(
                name,
                "absolute path or `..` component (refused: it would escape)",
            )
        })?;
        let base = self.base_files.is_some();
        let in_utility_vm = name == "UtilityVM" || name.starts_with("UtilityVM/");
        if in_utility_vm && !base {
            return self.utility_vm_entry(entry, &rel, data);
        }
        let target = self.dest.join(&rel);
        let in_files = name.starts_with("Files/") || name.starts_with("UtilityVM/Files/");
        if name.starts_with("UtilityVM/Files") {
            self.staged.has_utility_vm = true;
        }
        if MUTATED_UTILITY_VM_FILES.iter().any(|(f, _)| *f == name) {
            self.staged.mutated_files.push(name.to_string());
        }
        // A base layer keeps every entry's metadata; the legacy format has it for `Files\…`.
        let with_metadata = base || in_files;
        if let LayerEntryKind::AltStream { file, stream } = &entry.kind {
            if with_metadata {
                let Some(open) = self.open.as_mut().filter(|o| o.entry == *file) else {
                    return Err(self.entry_err(
                        name,
                        "an alternate data stream must directly follow its file or directory",
                    ));
                };
                let result = open.sink.stream(
                    backup::BACKUP_ALTERNATE_DATA,
                    &backup::alternate_data_name(stream),
                    entry.size,
                    data,
                );
                let path = open.file.clone();
                return result.map_err(|e| self.io_err(&path, e));
            }
            // A legacy plain file `x:stream` is that stream of `x` on NTFS.
            return self.plain_file(&target, data);
        }
        self.close_open()?;
        match &entry.kind {
            LayerEntryKind::Whiteout { .. } | LayerEntryKind::OpaqueWhiteout { .. } => {
                self.tombstone(name)
            }
            LayerEntryKind::Directory => {
                if with_metadata || name == "Files" || name == "Hives" {
                    let attrs = entry.attributes.unwrap_or(0) | attributes::DIRECTORY;
                    return self.begin(entry, &target, attrs, None);
                }
                fs::create_dir_all(&target).map_err(|e| self.io_err(&target, e))
            }
            LayerEntryKind::File | LayerEntryKind::HiveDelta(_) => {
                if !with_metadata {
                    return self.plain_file(&target, data);
                }
                let attrs = entry.attributes.unwrap_or(attributes::ARCHIVE);
                self.begin(entry, &target, attrs, None)?;
                let open = self.open.as_mut().expect("just opened");
                let result = open.sink.stream(backup::BACKUP_DATA, "", entry.size, data);
                result.map_err(|e| self.io_err(&target, e))
            }
            LayerEntryKind::Symlink | LayerEntryKind::Junction => {
                if !with_metadata {
                    return Err(self.entry_err(
                        name,
                        "symbolic links and junctions are only imported under Files/ or in \
                         a base layer",
                    ));
                }
                self.begin_link(entry, &target)
            }
            LayerEntryKind::HardLink => {
                let link = entry.link_target.as_deref().unwrap_or_default();
                if !(link.starts_with("Files/") || link.starts_with("UtilityVM/Files/")) {
                    return Err(
                        self.entry_err(name, "invalid hard link in layer (target outside Files/)")
                    );
                }
                let relative = safe_relative(link)
                    .ok_or_else(|| self.entry_err(name, "hard-link target escapes the layer"))?;
                if !base {
                    let path = safe_relative(name)
                        .ok_or_else(|| self.entry_err(name, "the link escapes the layer"))?;
                    let in_this_layer = self.added.contains(link);
                    self.added.insert(name.to_string());
                    self.staged.pending_links.push(PendingLink {
                        path,
                        target: relative,
                        in_this_layer,
                    });
                    return Ok(());
                }
                fs::hard_link(self.dest.join(relative), &target)
                    .map_err(|e| self.io_err(&target, e))
            }
            LayerEntryKind::AltStream { .. } => unreachable!("handled above"),
            LayerEntryKind::Other(flag) => Err(self.entry_err(
                name,
                format!(
                    "tar entry type {:?} (devices, FIFOs, …) cannot be imported",
                    char::from(*flag)
                ),
            )),
        }
    }

    /// Opens a symlink or junction entry at `target` with its reparse data.
    fn begin_link(&mut self, entry: &LayerEntry, target: &Path) -> Result<(), ImportError> {
        let name = entry.path.as_str();
        let junction = entry.kind == LayerEntryKind::Junction;
        let link = entry.link_target.as_deref().unwrap_or_default();
        if link.is_empty() {
            return Err(self.entry_err(name, "a symlink without a target"));
        }
        // go-winio applies FromSlash to the link name.
        let reparse = backup::encode_reparse_point(&link.replace('/', "\\"), junction)
            .map_err(|e| self.entry_err(name, e.to_string()))?;
        let mut attrs = entry.attributes.unwrap_or(0) | attributes::REPARSE_POINT;
        if junction {
            attrs |= attributes::DIRECTORY;
        }
        self.begin(entry, target, attrs, Some(reparse))
    }

    /// A non-base layer's `UtilityVM…` entry, as hcsshim's `legacyLayerWriter` handles it:
    /// written in place in the layer folder over the parent's cloned utility VM (a file
    /// replaces the clone's hard link, a directory of another kind replaces what is there; a
    /// whiteout deletes from the clone, which must have the path); hard links are made after
    /// the import, like the layer's others.
    fn utility_vm_entry(
        &mut self,
        entry: &LayerEntry,
        rel: &Path,
        data: &mut dyn Read,
    ) -> Result<(), ImportError> {
        let name = entry.path.as_str();
        let Some(target) = self.utility_vm else {
            return Err(self.entry_err(
                name,
                "a utility VM in a non-base layer needs its parent layer's utility VM (none given)",
            ));
        };
        if !self.utility_vm_cloned {
            self.close_open()?;
            clone_parent_utility_vm(&target)
                .map_err(|e| self.io_err(&target.layer.join("UtilityVM"), e))?;
            self.utility_vm_cloned = true;
        }
        if name == "UtilityVM" {
            return Ok(());
        }
        if !(name == "UtilityVM/Files" || name.starts_with("UtilityVM/Files/")) {
            return Err(self.entry_err(name, "invalid UtilityVM layer (only UtilityVM/Files/…)"));
        }
        self.staged.has_utility_vm = true;
        let path = target.layer.join(rel);
        match &entry.kind {
            LayerEntryKind::AltStream { .. } => {
                let Some(open) = self.open.as_mut().filter(|o| {
                    matches!(&entry.kind, LayerEntryKind::AltStream { file, .. } if o.entry == *file)
                }) else {
                    return Err(self.entry_err(
                        name,
                        "an alternate data stream must directly follow its file or directory",
                    ));
                };
                let LayerEntryKind::AltStream { stream, .. } = &entry.kind else {
                    unreachable!("matched above")
                };
                let result = open.sink.stream(
                    backup::BACKUP_ALTERNATE_DATA,
                    &backup::alternate_data_name(stream),
                    entry.size,
                    data,
                );
                let file = open.file.clone();
                return result.map_err(|e| self.io_err(&file, e));
            }
            LayerEntryKind::Whiteout { .. } | LayerEntryKind::OpaqueWhiteout { .. } => {
                self.close_open()?;
                let (parent, file) = name.rsplit_once('/').unwrap_or(("", name));
                let deleted = target
                    .layer
                    .join(parent)
                    .join(file.strip_prefix(".wh.").unwrap_or(file));
                let meta = fs::symlink_metadata(&deleted).map_err(|e| self.io_err(&deleted, e))?;
                let removed = if meta.is_dir() {
                    fs::remove_dir_all(&deleted)
                } else {
                    fs::remove_file(&deleted)
                };
                return removed.map_err(|e| self.io_err(&deleted, e));
            }
            LayerEntryKind::HardLink => {
                self.close_open()?;
                let link = entry.link_target.as_deref().unwrap_or_default();
                let relative = safe_relative(link)
                    .filter(|_| link.starts_with("UtilityVM/Files/"))
                    .ok_or_else(|| {
                        self.entry_err(name, "a utility VM hard link must target UtilityVM/Files/")
                    })?;
                // The clone is in the layer folder already: the target is this layer's.
                self.staged.pending_links.push(PendingLink {
                    path: rel.to_path_buf(),
                    target: relative,
                    in_this_layer: true,
                });
                return Ok(());
            }
            _ => {}
        }
        self.close_open()?;
        if MUTATED_UTILITY_VM_FILES.iter().any(|(f, _)| *f == name) {
            self.staged.mutated_files.push(name.to_string());
        }
        // Whatever the clone has at the path goes, unless it is a directory staying one.
        let directory_stays = entry.kind == LayerEntryKind::Directory
            && fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && !m.is_symlink());
        if !directory_stays {
            let removed = match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() && !m.is_symlink() => fs::remove_dir_all(&path),
                Ok(_) => fs::remove_file(&path),
                Err(_) => Ok(()),
            };
            removed.map_err(|e| self.io_err(&path, e))?;
        }
        self.create_parent(&path)?;
        match &entry.kind {
            LayerEntryKind::Directory => {
                let attrs = entry.attributes.unwrap_or(0) | attributes::DIRECTORY;
                self.begin(entry, &path, attrs, None)
            }
            LayerEntryKind::File => {
                let attrs = entry.attributes.unwrap_or(attributes::ARCHIVE);
                self.begin(entry, &path, attrs, None)?;
                let open = self.open.as_mut().expect("just opened");
                let result = open.sink.stream(backup::BACKUP_DATA, "", entry.size, data);
                result.map_err(|e| self.io_err(&path, e))
            }
            LayerEntryKind::Symlink | LayerEntryKind::Junction => self.begin_link(entry, &path),
            other => Err(self.entry_err(name, format!("{other:?} cannot be part of a utility VM"))),
        }
    }

    fn create_parent(&self, target: &Path) -> Result<(), ImportError> {
        match target.parent() {
            Some(parent) => fs::create_dir_all(parent).map_err(|e| self.io_err(parent, e)),
            None => Ok(()),
        }
    }

    fn plain_file(&self, target: &Path, data: &mut dyn Read) -> Result<(), ImportError> {
        self.create_parent(target)?;
        let mut out = fs::File::create(target).map_err(|e| self.io_err(target, e))?;
        io::copy(data, &mut out).map_err(|e| self.io_err(target, e))?;
        Ok(())
    }

    /// `.wh.<name>` → the deleted path `Files/dir/name`, for [`remove_tombstoned`]
    /// (`.wh..wh..opq` becomes a deletion of `.wh..opq`, as in hcsshim, which has no opaque
    /// directories).
    fn tombstone(&mut self, name: &str) -> Result<(), ImportError> {
        if self.base_files.is_some() {
            return Err(self.entry_err(name, "a base layer cannot have tombstones"));
        }
        if !name.starts_with("Files/") {
            return Err(self.entry_err(name, "invalid tombstone (only under Files/)"));
        }
        let (parent, file) = name.rsplit_once('/').unwrap_or(("", name));
        let deleted = file.strip_prefix(".wh.").unwrap_or(file);
        self.staged.tombstones.push(format!("{parent}/{deleted}"));
        Ok(())
    }

    /// Opens `target` for its backup streams and writes the metadata ones (security
    /// descriptor, EAs, `reparse`); it stays open for data and alternate streams. A base layer
    /// creates `target` itself through its [`BaseFiles`]; the legacy format writes the
    /// attributes and the streams to `target` (a file) or `<target>.$wcidirs$` (a directory).
    fn begin(
        &mut self,
        entry: &LayerEntry,
        target: &Path,
        attrs: u32,
        reparse: Option<Vec<u8>>,
    ) -> Result<(), ImportError> {
        let name = entry.path.as_str();
        if entry.security_descriptor.is_none() && entry.pax.contains_key("MSWINDOWS.rawsd") {
            return Err(self.entry_err(name, "MSWINDOWS.rawsd is not valid base64"));
        }
        let mut eas = Vec::new();
        for (key, value) in &entry.pax {
            let Some(ea) = key.strip_prefix(EA_PREFIX) else {
                continue;
            };
            let value = base64::engine::general_purpose::STANDARD
                .decode(value.trim_ascii())
                .map_err(|_| self.entry_err(name, format!("{key} is not valid base64")))?;
            eas.push(ExtendedAttribute {
                name: ea.to_string(),
                value,
                flags: 0,
            });
        }
        let eas = backup::encode_extended_attributes(&eas)
            .map_err(|reason| self.entry_err(name, reason))?;
        let directory = attrs & attributes::DIRECTORY != 0;
        let info = basic_info(entry, attrs);
        let in_place = if entry.path.starts_with("UtilityVM") && self.base_files.is_none() {
            self.utility_vm.map(|u| u.files)
        } else {
            self.base_files
        };
        let (file, mut sink): (PathBuf, Box<dyn StreamSink>) = match in_place {
            Some(files) => {
                self.create_parent(target)?;
                let sink = files
                    .create(target, directory, &info)
                    .map_err(|e| self.io_err(target, e))?;
                if directory {
                    self.directories.push((target.to_path_buf(), info));
                }
                (target.to_path_buf(), sink)
            }
            None => {
                let file = if directory {
                    // A directory symlink or junction keeps its empty directory, as in hcsshim.
                    fs::create_dir_all(target).map_err(|e| self.io_err(target, e))?;
                    with_suffix(target, ".$wcidirs$")
                } else {
                    self.create_parent(target)?;
                    target.to_path_buf()
                };
                let io_err = |e| self.io_err(&file, e);
                let mut out = BufWriter::new(fs::File::create(&file).map_err(io_err)?);
                out.write_all(&attrs.to_le_bytes()).map_err(io_err)?;
                let sink = LegacyFile {
                    writer: BackupWriter::new(out),
                    times: base_files::file_times(&info),
                };
                (file, Box::new(sink))
            }
        };
        let sd = entry.security_descriptor.as_deref().unwrap_or_default();
        let metadata = [
            (backup::BACKUP_SECURITY_DATA, sd),
            (backup::BACKUP_EA_DATA, &eas[..]),
            (
                backup::BACKUP_REPARSE_DATA,
                reparse.as_deref().unwrap_or_default(),
            ),
        ];
        for (id, body) in metadata.into_iter().filter(|(_, body)| !body.is_empty()) {
            sink.stream(id, "", body.len() as u64, &mut &body[..])
                .map_err(|e| self.io_err(&file, e))?;
        }
        self.open = Some(OpenBackup {
            entry: name.to_string(),
            file,
            sink,
        });
        Ok(())
    }
}

/// The basic info go-winio's `FileInfoFromHeader` gives an entry: last write = mtime, last
/// access = atime (else mtime), creation = `LIBARCHIVE.creationtime` (else mtime).
fn basic_info(entry: &LayerEntry, attributes: u32) -> BasicInfo {
    BasicInfo {
        creation: entry.creation_time.unwrap_or(entry.mtime),
        last_access: entry.atime.unwrap_or(entry.mtime),
        last_write: entry.mtime,
        attributes,
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `name` as a relative path with only normal components, or `None`.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    let ok = path.components().all(|c| matches!(c, Component::Normal(_)));
    (ok && !name.is_empty()).then(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Timestamp;
    use std::time::SystemTime;

    fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = tar::Header::new_ustar();
            match data {
                Some(bytes) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(bytes.len() as u64);
                    header.set_mode(0o644);
                    builder.append_data(&mut header, path, *bytes).unwrap();
                }
                None => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    header.set_mode(0o755);
                    builder.append_data(&mut header, path, &[][..]).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn non_base_layer_is_staged_in_the_legacy_import_format() {
        let tar = tar_of(&[
            ("Hives", None),
            ("Files", None),
            ("Files/app", None),
            ("Files/app/a.txt", Some(b"abc")),
            ("Files/app/.wh.old", Some(b"")),
            ("Hives/System_Delta", Some(b"regf-delta")),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let staged = stage_tar(&tar[..], dir.path(), Layout::Legacy(None), "test").unwrap();
        assert_eq!(staged.tombstones, ["Files/app/old"]);
        let file = fs::read(dir.path().join("Files/app/a.txt")).unwrap();
        let mut want = attributes::ARCHIVE.to_le_bytes().to_vec();
        want.extend(1u32.to_le_bytes());
        want.extend(0u32.to_le_bytes());
        want.extend(3u64.to_le_bytes());
        want.extend(0u32.to_le_bytes());
        want.extend(b"abc");
        assert_eq!(file, want);
        let dirmeta = fs::read(dir.path().join("Files/app.$wcidirs$")).unwrap();
        assert_eq!(dirmeta, attributes::DIRECTORY.to_le_bytes());
        assert_eq!(
            fs::read(dir.path().join("Hives/System_Delta")).unwrap(),
            b"regf-delta"
        );
        // hcsshim hands ImportLayer no tombstones.txt (legacyLayerWriter.Close removes it);
        // the deletions are made in the layer folder afterwards.
        assert!(!dir.path().join("tombstones.txt").exists());
    }

    /// issue #19 item 8, after hcsshim's pkg/ociwclayer/import.go `mutatedFiles`: the
    /// utility VM's BCD files are kept as `bcd.bak`, `bcd.log.bak`, … before
    /// `ProcessUtilityImage` rewrites them.
    #[test]
    fn the_utility_vm_boot_configuration_is_saved_before_processing() {
        let layer = tempfile::tempdir().unwrap();
        let boot = layer.path().join("UtilityVM/Files/EFI/Microsoft/Boot");
        fs::create_dir_all(&boot).unwrap();
        fs::write(boot.join("BCD"), b"bcd bytes").unwrap();
        fs::write(boot.join("BCD.LOG1"), b"log1").unwrap();
        fs::write(boot.join("BCD.LOG2"), b"a clone's, not the layer's").unwrap();
        let carried = [
            "UtilityVM/Files/EFI/Microsoft/Boot/BCD".to_string(),
            "UtilityVM/Files/EFI/Microsoft/Boot/BCD.LOG1".to_string(),
        ];
        save_mutated_files(layer.path(), &carried).unwrap();
        assert_eq!(
            fs::read(layer.path().join("bcd.bak")).unwrap(),
            b"bcd bytes"
        );
        assert_eq!(
            fs::read(layer.path().join("bcd.log1.bak")).unwrap(),
            b"log1"
        );
        assert!(!layer.path().join("bcd.log.bak").exists());
        assert!(!layer.path().join("bcd.log2.bak").exists());
        // A layer without a utility VM: nothing to save.
        let plain = tempfile::tempdir().unwrap();
        save_mutated_files(plain.path(), &[]).unwrap();
        assert_eq!(fs::read_dir(plain.path()).unwrap().count(), 0);
    }

    /// issue #19 item 4, after hcsshim's internal/wclayer/legacy.go (`initUtilityVM`,
    /// `cloneTree`, `Add`, `Remove`, `AddLink`): a non-base layer that changes the utility VM
    /// gets the nearest parent's whole `UtilityVM/Files` in its own folder — files
    /// hard-linked, directories and the `BCD*` files copied — and its entries written over it
    /// in place: a changed file replaces its hard link (the parent's file stays as it was), a
    /// whiteout deletes from the clone, a hard link is made after the import. Without a parent
    /// utility VM the layer is refused, naming why.
    #[cfg(unix)]
    #[test]
    fn a_utility_vm_in_a_non_base_layer_is_written_over_a_clone_of_the_parents() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let parent = dir.path().join("parent");
        let boot = parent.join("UtilityVM/Files/EFI/Microsoft/Boot");
        fs::create_dir_all(&boot).unwrap();
        fs::create_dir_all(parent.join("UtilityVM/Files/Windows/System32")).unwrap();
        fs::write(boot.join("BCD"), b"parent bcd").unwrap();
        for (name, body) in [
            ("kernel.dll", "k"),
            ("driver.sys", "old"),
            ("gone.dll", "g"),
        ] {
            fs::write(
                parent.join("UtilityVM/Files/Windows/System32").join(name),
                body,
            )
            .unwrap();
        }
        let tar = tar_of(&[
            ("Files", None),
            ("Files/app.txt", Some(b"app")),
            ("UtilityVM", None),
            ("UtilityVM/Files", None),
            ("UtilityVM/Files/Windows/System32/driver.sys", Some(b"new")),
            ("UtilityVM/Files/Windows/System32/.wh.gone.dll", Some(b"")),
            ("UtilityVM/Files/Windows/System32/added.dll", Some(b"added")),
        ]);
        let (layer, staging) = (dir.path().join("layer"), dir.path().join("staging"));
        let files = base_files::PlainBaseFiles;
        let target = UtilityVmTarget {
            layer: &layer,
            parent: &parent,
            files: &files,
        };
        let staged = stage_tar(&tar[..], &staging, Layout::Legacy(Some(target)), "l").unwrap();
        assert!(staged.has_utility_vm, "ProcessUtilityImage must run");
        assert!(staged.mutated_files.is_empty(), "the BCD is the clone's");
        let sys =
            |root: &Path, name: &str| root.join("UtilityVM/Files/Windows/System32").join(name);
        // Unchanged files are the parent's, hard-linked; the BCD is a copy.
        assert_eq!(
            fs::metadata(sys(&layer, "kernel.dll")).unwrap().ino(),
            fs::metadata(sys(&parent, "kernel.dll")).unwrap().ino()
        );
        let bcd = "UtilityVM/Files/EFI/Microsoft/Boot/BCD";
        assert_eq!(fs::read(layer.join(bcd)).unwrap(), b"parent bcd");
        assert_ne!(
            fs::metadata(layer.join(bcd)).unwrap().ino(),
            fs::metadata(parent.join(bcd)).unwrap().ino(),
            "ProcessUtilityImage rewrites the BCD: never through a link into the parent"
        );
        // The layer's own changes, written in place; the parent is untouched.
        assert_eq!(fs::read(sys(&layer, "driver.sys")).unwrap(), b"new");
        assert_eq!(fs::read(sys(&parent, "driver.sys")).unwrap(), b"old");
        assert_eq!(fs::read(sys(&layer, "added.dll")).unwrap(), b"added");
        assert!(!sys(&layer, "gone.dll").exists());
        assert!(sys(&parent, "gone.dll").exists());
        // Files/… still goes to the staging folder for ImportLayer, and nothing of the utility
        // VM does.
        assert!(staging.join("Files/app.txt").is_file());
        assert!(!staging.join("UtilityVM").exists());

        // No utility VM below: refused with the reason.
        let bare = dir.path().join("bare");
        fs::create_dir_all(&bare).unwrap();
        let target = UtilityVmTarget {
            layer: &dir.path().join("layer2"),
            parent: &bare,
            files: &files,
        };
        let err = stage_tar(
            &tar[..],
            &dir.path().join("staging2"),
            Layout::Legacy(Some(target)),
            "l",
        )
        .unwrap_err();
        assert!(err.to_string().contains("has none to clone"), "{err}");
        let err = stage_tar(
            &tar[..],
            &dir.path().join("staging3"),
            Layout::Legacy(None),
            "l",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("needs its parent layer's utility VM"),
            "{err}"
        );
    }

    /// issue #19 item 3, after hcsshim's legacyLayerWriterWrapper.Close: the tombstoned paths
    /// are deleted from the imported layer folder; one already gone is fine.
    #[test]
    fn tombstoned_paths_are_deleted_from_the_layer_folder_after_import() {
        let layer = tempfile::tempdir().unwrap();
        fs::create_dir_all(layer.path().join("Files/app/empty")).unwrap();
        fs::write(layer.path().join("Files/app/old"), b"x").unwrap();
        fs::write(layer.path().join("Files/app/kept"), b"y").unwrap();
        let tombstones =
            ["Files/app/old", "Files/app/empty", "Files/app/never-there"].map(String::from);
        remove_tombstoned(layer.path(), &tombstones).unwrap();
        assert!(!layer.path().join("Files/app/old").exists());
        assert!(!layer.path().join("Files/app/empty").exists());
        assert!(layer.path().join("Files/app/kept").exists());
    }

    #[test]
    fn base_layers_off_ntfs_keep_data_and_times_and_refuse_tombstones_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_of(&[
            ("Files", None),
            ("Files/Windows", None),
            ("Files/Windows/x.dll", Some(b"MZ")),
            ("UtilityVM/Files", None),
        ]);
        let plain = Layout::Base(&base_files::PlainBaseFiles);
        let staged = stage_tar(&tar[..], dir.path(), plain, "base").unwrap();
        assert!(staged.has_utility_vm);
        let dll = dir.path().join("Files/Windows/x.dll");
        assert_eq!(fs::read(&dll).unwrap(), b"MZ");
        // tar_of's entries have mtime 0: set on the file after its data, and on directories
        // after their children.
        for path in [dll, dir.path().join("Files/Windows")] {
            let modified = fs::metadata(&path).unwrap().modified().unwrap();
            assert_eq!(modified, SystemTime::UNIX_EPOCH, "{}", path.display());
        }
        assert!(!dir.path().join("tombstones.txt").exists());
        assert!(!dir.path().join("Files.$wcidirs$").exists());

        let tar = tar_of(&[("Files", None), ("Files/.wh.x", Some(b""))]);
        let err = stage_tar(&tar[..], &dir.path().join("b"), plain, "base").unwrap_err();
        assert!(
            err.to_string()
                .contains("base layer cannot have tombstones"),
            "{err}"
        );
        // hcsshim creates base files with FILE_CREATE: a path twice is an error, not a merge.
        let tar = tar_of(&[
            ("Files", None),
            ("Files/a", Some(b"1")),
            ("Files/a", Some(b"2")),
        ]);
        let err = stage_tar(&tar[..], &dir.path().join("d"), plain, "base").unwrap_err();
        assert!(err.to_string().contains("Files/a"), "{err}");
        let tar = tar_of(&[("Hives/.wh.System_Delta", Some(b""))]);
        let err =
            stage_tar(&tar[..], &dir.path().join("c"), Layout::Legacy(None), "l").unwrap_err();
        assert!(err.to_string().contains("invalid tombstone"), "{err}");
    }

    /// What [`BaseFiles`] was asked to do, in order.
    #[derive(Debug, Clone, PartialEq)]
    enum BaseCall {
        Create {
            path: String,
            directory: bool,
            info: BasicInfo,
        },
        Stream {
            id: u32,
            name: String,
            body: Vec<u8>,
        },
        Finish,
        RestoreTimes(String),
    }

    /// Records the calls (paths relative to `root`) and creates the entries on disk, as NTFS
    /// would, so parents and hard-link targets exist.
    struct RecordingBaseFiles {
        root: PathBuf,
        calls: std::sync::Arc<std::sync::Mutex<Vec<BaseCall>>>,
    }

    impl RecordingBaseFiles {
        fn relative(&self, path: &Path) -> String {
            let relative = path.strip_prefix(&self.root).unwrap();
            relative.to_string_lossy().replace('\\', "/")
        }
    }

    struct RecordingSink(std::sync::Arc<std::sync::Mutex<Vec<BaseCall>>>);

    impl StreamSink for RecordingSink {
        fn stream(
            &mut self,
            id: u32,
            name: &str,
            size: u64,
            data: &mut dyn Read,
        ) -> io::Result<()> {
            let mut body = Vec::new();
            data.take(size).read_to_end(&mut body)?;
            let name = name.to_string();
            self.0
                .lock()
                .unwrap()
                .push(BaseCall::Stream { id, name, body });
            Ok(())
        }
        fn finish(self: Box<Self>) -> io::Result<()> {
            self.0.lock().unwrap().push(BaseCall::Finish);
            Ok(())
        }
    }

    impl BaseFiles for RecordingBaseFiles {
        fn create(
            &self,
            path: &Path,
            directory: bool,
            info: &BasicInfo,
        ) -> io::Result<Box<dyn StreamSink>> {
            if directory {
                fs::create_dir_all(path)?;
            } else {
                fs::File::create_new(path)?;
            }
            self.calls.lock().unwrap().push(BaseCall::Create {
                path: self.relative(path),
                directory,
                info: *info,
            });
            Ok(Box::new(RecordingSink(self.calls.clone())))
        }
        fn restore_directory_times(&self, path: &Path, _: &BasicInfo) -> io::Result<()> {
            let path = self.relative(path);
            self.calls
                .lock()
                .unwrap()
                .push(BaseCall::RestoreTimes(path));
            Ok(())
        }
        fn copy_entry(&self, from: &Path, to: &Path, directory: bool) -> io::Result<()> {
            base_files::PlainBaseFiles.copy_entry(from, to, directory)
        }
        fn copy_directory_times(&self, from: &Path, to: &Path) -> io::Result<()> {
            base_files::PlainBaseFiles.copy_directory_times(from, to)
        }
    }

    #[test]
    fn base_layer_entries_are_created_then_get_their_streams_like_hcsshims_base_writer() {
        let (tar, sd, mtime) = windows_metadata_tar();
        let dir = tempfile::tempdir().unwrap();
        let files = RecordingBaseFiles {
            root: dir.path().to_path_buf(),
            calls: Default::default(),
        };
        stage_tar(&tar[..], dir.path(), Layout::Base(&files), "base").unwrap();
        let calls = files.calls.lock().unwrap().clone();
        // Each entry's calls, from its Create to its Finish.
        let entry = |path: &str| -> Vec<BaseCall> {
            let start = calls
                .iter()
                .position(|c| matches!(c, BaseCall::Create { path: p, .. } if p == path))
                .unwrap_or_else(|| panic!("{path} was never created: {calls:?}"));
            let len = calls[start..]
                .iter()
                .position(|c| *c == BaseCall::Finish)
                .unwrap();
            calls[start..=start + len].to_vec()
        };

        // The file: basic info first (attributes and tar times), then SD, EA, data, ADS.
        let file = entry("Files/a.txt");
        let BaseCall::Create {
            directory, info, ..
        } = &file[0]
        else {
            unreachable!()
        };
        assert!(!directory);
        assert_eq!(info.attributes, attributes::ARCHIVE | attributes::HIDDEN);
        assert_eq!(
            (info.last_write, info.last_access, info.creation),
            (mtime, mtime, mtime)
        );
        let streams: Vec<(u32, &str, &[u8])> = file[1..file.len() - 1]
            .iter()
            .map(|c| match c {
                BaseCall::Stream { id, name, body } => (*id, name.as_str(), body.as_slice()),
                other => panic!("not a stream: {other:?}"),
            })
            .collect();
        assert_eq!(streams.len(), 4, "{streams:?}");
        assert_eq!(streams[0], (backup::BACKUP_SECURITY_DATA, "", &sd[..]));
        assert_eq!(streams[1].0, backup::BACKUP_EA_DATA);
        let eas = backup::decode_extended_attributes(streams[1].2).unwrap();
        assert_eq!(
            (eas[0].name.as_str(), &eas[0].value[..]),
            ("NOTE", &b"v"[..])
        );
        assert_eq!(streams[2], (backup::BACKUP_DATA, "", &b"abc"[..]));
        assert_eq!(
            streams[3],
            (backup::BACKUP_ALTERNATE_DATA, ":s:$DATA", &b"xy"[..])
        );

        // The junction is a directory whose reparse data makes it one; the symlink a file.
        for (path, directory, target, mount_point) in [
            ("Files/j", true, r"C:\Users", true),
            ("Files/l", false, r"..\x", false),
        ] {
            let calls = entry(path);
            assert!(
                matches!(&calls[0], BaseCall::Create { directory: d, info, .. }
                    if *d == directory && info.attributes & attributes::REPARSE_POINT != 0),
                "{calls:?}"
            );
            let reparse = calls
                .iter()
                .find_map(|c| match c {
                    BaseCall::Stream { id, body, .. } if *id == backup::BACKUP_REPARSE_DATA => {
                        Some(body)
                    }
                    _ => None,
                })
                .unwrap();
            let point = backup::decode_reparse_point(reparse).unwrap();
            assert_eq!(
                (point.target.as_str(), point.mount_point),
                (target, mount_point)
            );
            assert!(!calls
                .iter()
                .any(|c| matches!(c, BaseCall::Stream { id, .. } if *id == backup::BACKUP_DATA)));
        }

        // Directory times come last, children before parents; no legacy-format files.
        let restored: Vec<&str> = calls
            .iter()
            .filter_map(|c| match c {
                BaseCall::RestoreTimes(path) => Some(path.as_str()),
                _ => None,
            })
            .collect();
        let first_restore = calls
            .iter()
            .position(|c| matches!(c, BaseCall::RestoreTimes(_)))
            .unwrap();
        assert_eq!(first_restore, calls.len() - restored.len());
        assert!(
            restored.contains(&"Files") && restored.contains(&"Files/j"),
            "{restored:?}"
        );
        let at = |p: &str| restored.iter().position(|r| *r == p).unwrap();
        assert!(at("Files/j") < at("Files"));
        assert!(!dir.path().join("Files.$wcidirs$").exists());
        assert!(!dir.path().join("tombstones.txt").exists());
    }

    /// Every stream of a staged file: (attributes, [(id, name, body)]).
    fn streams_of(path: &Path) -> (u32, Vec<(u32, String, Vec<u8>)>) {
        let bytes = fs::read(path).unwrap();
        let attrs = u32::from_le_bytes(bytes[..4].try_into().unwrap());
        let mut reader = backup::BackupReader::new(io::Cursor::new(&bytes[4..])).unwrap();
        let mut out = Vec::new();
        while let Some(h) = reader.next_stream().unwrap() {
            let body = reader.read_body(1 << 20).unwrap();
            out.push((h.id, h.name, body));
        }
        (attrs, out)
    }

    /// A layer with Windows metadata: `a.txt` (security descriptor, an EA, hidden, an
    /// alternate stream `s`), junction `j` → `C:\\Users`, file symlink `l` → `..\\x`.
    fn windows_metadata_tar() -> (Vec<u8>, Vec<u8>, Timestamp) {
        use crate::layer::{
            write_layer, AltStream, ChangeSet, Entry, EntryKind, FileMeta, FileSource,
            LayerCompression, WriteOptions,
        };
        let sd = b"\x01\x00\x04\x80sd-bytes".to_vec();
        let mtime = Timestamp {
            secs: 1_600_000_000,
            nanos: 123_456_789,
        };
        let mut meta = FileMeta {
            attributes: Some(attributes::ARCHIVE | attributes::HIDDEN),
            security_descriptor: Some(sd.clone()),
            modification_time: Some(mtime),
            ..FileMeta::default()
        };
        meta.extended_attributes
            .insert("NOTE".into(), b"v".to_vec());
        let changes = ChangeSet {
            entries: vec![
                Entry {
                    path: "a.txt".into(),
                    kind: EntryKind::File {
                        source: FileSource::Bytes(b"abc".to_vec()),
                        size: 3,
                    },
                    meta,
                    streams: vec![AltStream {
                        name: "s".into(),
                        source: FileSource::Bytes(b"xy".to_vec()),
                    }],
                },
                Entry {
                    path: "j".into(),
                    kind: EntryKind::Junction {
                        target: r"C:\Users".into(),
                    },
                    meta: FileMeta::default(),
                    streams: vec![],
                },
                Entry {
                    path: "l".into(),
                    kind: EntryKind::Symlink {
                        target: r"..\x".into(),
                        directory: false,
                    },
                    meta: FileMeta::default(),
                    streams: vec![],
                },
            ],
            ..ChangeSet::default()
        };
        let options = WriteOptions {
            compression: LayerCompression::None,
            ..WriteOptions::default()
        };
        let (tar, _) = write_layer(&changes, &options, Vec::new()).unwrap();
        (tar, sd, mtime)
    }

    #[test]
    fn metadata_reparse_points_and_streams_are_staged_in_go_winio_order() {
        let (tar, sd, _) = windows_metadata_tar();
        let dir = tempfile::tempdir().unwrap();
        stage_tar(&tar[..], dir.path(), Layout::Legacy(None), "test").unwrap();

        let (attrs, streams) = streams_of(&dir.path().join("Files/a.txt"));
        assert_eq!(attrs, attributes::ARCHIVE | attributes::HIDDEN);
        let ids: Vec<u32> = streams.iter().map(|s| s.0).collect();
        assert_eq!(
            ids,
            [
                backup::BACKUP_SECURITY_DATA,
                backup::BACKUP_EA_DATA,
                backup::BACKUP_DATA,
                backup::BACKUP_ALTERNATE_DATA
            ]
        );
        assert_eq!(streams[0].2, sd);
        let eas = backup::decode_extended_attributes(&streams[1].2).unwrap();
        assert_eq!(
            (eas[0].name.as_str(), eas[0].value.as_slice()),
            ("NOTE", &b"v"[..])
        );
        assert_eq!(streams[2].2, b"abc");
        assert_eq!(
            (streams[3].1.as_str(), streams[3].2.as_slice()),
            (":s:$DATA", &b"xy"[..])
        );
        assert!(
            !dir.path().join("Files/a.txt:s").exists(),
            "no separate ADS file"
        );

        // A junction: an empty directory and its metadata with the reparse buffer.
        assert!(dir.path().join("Files/j").is_dir());
        let (attrs, streams) = streams_of(&dir.path().join("Files/j.$wcidirs$"));
        assert_eq!(attrs, attributes::DIRECTORY | attributes::REPARSE_POINT);
        let reparse = streams
            .iter()
            .find(|s| s.0 == backup::BACKUP_REPARSE_DATA)
            .unwrap();
        let point = backup::decode_reparse_point(&reparse.2).unwrap();
        assert!(point.mount_point);
        assert_eq!(point.target, r"C:\Users");
        assert!(!streams.iter().any(|s| s.0 == backup::BACKUP_DATA));
        // A file symlink: a file with reparse data and no data stream.
        let (attrs, streams) = streams_of(&dir.path().join("Files/l"));
        assert_eq!(attrs, attributes::REPARSE_POINT);
        let ids: Vec<u32> = streams.iter().map(|s| s.0).collect();
        assert_eq!(
            ids,
            [backup::BACKUP_SECURITY_DATA, backup::BACKUP_REPARSE_DATA]
        );
        let point = backup::decode_reparse_point(&streams[1].2).unwrap();
        assert_eq!((point.target.as_str(), point.relative), (r"..\x", true));
        // The roots get their metadata file too, as hcsshim writes them.
        assert!(dir.path().join("Files.$wcidirs$").is_file());
        assert!(dir.path().join("Hives.$wcidirs$").is_file());
    }

    #[test]
    fn unsupported_entries_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        // An alternate stream that does not follow its file.
        let tar = tar_of(&[
            ("Files", None),
            ("Files/a", Some(b"1")),
            ("Files/b", Some(b"2")),
            ("Files/a:s", Some(b"3")),
        ]);
        let err =
            stage_tar(&tar[..], &dir.path().join("a"), Layout::Legacy(None), "l").unwrap_err();
        assert!(
            err.to_string().contains("Files/a:s") && err.to_string().contains("directly follow"),
            "{err}"
        );
        // A security descriptor that is not base64.
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_pax_extensions([("MSWINDOWS.rawsd", &b"%%%"[..])])
            .unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_size(0);
        builder
            .append_data(&mut header, "Files/x", &[][..])
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let err =
            stage_tar(&tar[..], &dir.path().join("c"), Layout::Legacy(None), "l").unwrap_err();
        assert!(err.to_string().contains("MSWINDOWS.rawsd"), "{err}");
    }

    #[test]
    fn hard_links_wait_for_the_layer_folder_and_find_their_target() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in [("Files", None), ("Files/a", Some(&b"this layer"[..]))] {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(match data {
                Some(_) => tar::EntryType::Regular,
                None => tar::EntryType::Directory,
            });
            header.set_size(data.map_or(0, |d| d.len() as u64));
            builder
                .append_data(&mut header, name, data.unwrap_or(&[]))
                .unwrap();
        }
        for (link, target) in [("Files/b", "Files/a"), ("Files/c", "Files/base.txt")] {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Link);
            header.set_size(0);
            builder.append_link(&mut header, link, target).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let staging = dir.path().join("staging");
        let staged = stage_tar(&tar[..], &staging, Layout::Legacy(None), "l").unwrap();
        assert_eq!(
            staged.pending_links,
            [
                PendingLink {
                    path: "Files/b".into(),
                    target: "Files/a".into(),
                    in_this_layer: true,
                },
                PendingLink {
                    path: "Files/c".into(),
                    target: "Files/base.txt".into(),
                    in_this_layer: false,
                },
            ]
        );
        assert!(!staging.join("Files/b").exists(), "links are not staged");

        // After "ImportLayer": the layer folder has its own file; a parent has the other.
        let layer = dir.path().join("layer");
        let (near, base) = (dir.path().join("near"), dir.path().join("base"));
        for folder in [&layer, &near, &base] {
            fs::create_dir_all(folder.join("Files")).unwrap();
        }
        fs::write(layer.join("Files/a"), b"this layer").unwrap();
        fs::write(base.join("Files/base.txt"), b"from the base").unwrap();
        let parents = [near.clone(), base.clone()];
        link_pending(&layer, &parents, &staged.pending_links).unwrap();
        assert_eq!(fs::read(layer.join("Files/b")).unwrap(), b"this layer");
        assert_eq!(fs::read(layer.join("Files/c")).unwrap(), b"from the base");
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ino = |p: &Path| fs::metadata(p).unwrap().ino();
            assert_eq!(
                ino(&layer.join("Files/c")),
                ino(&base.join("Files/base.txt"))
            );
        }
        // A target no parent has is an error naming the link.
        let err = link_pending(&layer, &[near], &staged.pending_links[1..]).unwrap_err();
        assert!(err.to_string().contains("Files/c"), "{err}");
    }
}
