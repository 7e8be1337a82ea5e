//! COPY and ADD: resolve sources in a [`SourceTree`] (the build context, a stage or an image),
//! map them onto the destination with BuildKit's rules, and describe the result as a
//! [`ChangeSet`] plus a digest of everything that went in (the step's cache input).
//!
//! Rules (BuildKit `dockerfile2llb` + fsutil copy):
//! - a directory source copies its *contents* into the destination;
//! - the destination is a directory when it ends with `/`, when there are several sources or
//!   when a wildcard matched several paths; otherwise a single file is copied *to* it;
//! - `--parents` keeps each source's path below the context root, or below a `/./` pivot;
//! - heredoc sources (`COPY <<EOF /dest`) become files named after the heredoc;
//! - ADD unpacks local tar archives (plain, gzip, zstd) into the destination directory;
//! - ADD of a URL copies the downloaded file ([`crate::build::sources::url_source`]) as it is, named after the
//!   URL path when the destination is a directory.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::build::sources::context::{
    hash_file, ContextError, NoFilter, Node, NodeKind, SourceTree,
};
use crate::build::sources::url_source::Downloaded;
use crate::layer::changeset::Timestamp;
use crate::layer::sd::Sid;
use crate::layer::{ChangeSet, Entry, EntryKind, FileMeta, FileSource};

/// Everything one COPY/ADD needs, already expanded.
#[derive(Debug, Clone, Default)]
pub struct CopyRequest {
    /// Source patterns as written (after variable expansion).
    pub sources: Vec<String>,
    /// Inline files: (name, content).
    pub heredocs: Vec<(String, Vec<u8>)>,
    /// Files ADD downloaded from URLs (never unpacked).
    pub downloads: Vec<Downloaded>,
    /// The destination in BuildKit's normalized form: absolute, `/`-separated, no drive, with a
    /// trailing `/` when the Dockerfile had one (`/app/`, `/app/x.txt`).
    pub dest: String,
    pub parents: bool,
    /// `--chown` resolved to a SID (the layer codec writes it as each entry's owner; here it
    /// only enters the input digest).
    pub owner: Option<Sid>,
    /// ADD: unpack local archives.
    pub unpack_archives: bool,
    /// `SOURCE_DATE_EPOCH`: every copied entry gets this time instead of its host mtime.
    pub epoch: Option<i64>,
}

/// The result: the changes and the digest of their inputs.
pub struct CopyPlan {
    pub changes: ChangeSet,
    /// `sha256:` over every target path, kind, link target and content digest, and the owner.
    pub input_digest: String,
    /// Directories unpacked archives live in until the layer is written.
    pub scratch: Vec<tempfile::TempDir>,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(
        "when using COPY with more than one source file, the destination must be a directory \
         and end with a / (got \"{0}\")"
    )]
    DestNotDirectory(String),
    #[error("unpacking archive {path}: {message}")]
    Archive { path: String, message: String },
}

/// Plans a COPY/ADD from `tree`. `scratch_root` is where ADD unpacks archives.
pub fn plan_copy(
    tree: &SourceTree<'_>,
    request: &CopyRequest,
    scratch_root: &Path,
) -> Result<CopyPlan, CopyError> {
    let mut resolved: Vec<(String, Vec<Node>)> = Vec::new();
    for source in &request.sources {
        resolved.push((source.clone(), tree.resolve(source)?));
    }
    let inline = request.heredocs.len() + request.downloads.len();
    let source_count = request.sources.len() + inline;
    let matched: usize = resolved.iter().map(|(_, nodes)| nodes.len()).sum::<usize>() + inline;
    let dest_is_dir = request.dest.ends_with('/') || matched > 1;
    if source_count > 1 && !request.dest.ends_with('/') {
        return Err(CopyError::DestNotDirectory(request.dest.clone()));
    }
    let dest = request.dest.trim_end_matches('/');

    let mut planner = Planner::new(request)?;
    for (source, nodes) in &resolved {
        for node in nodes {
            let base = if request.parents {
                join(dest, &parents_path(source, &node.rel))
            } else if dest_is_dir || node.kind == NodeKind::Directory {
                match node.kind {
                    NodeKind::Directory => dest.to_string(),
                    _ => join(dest, basename(&node.rel)),
                }
            } else {
                dest.to_string()
            };
            match &node.kind {
                NodeKind::Directory => {
                    planner.add_node(node, &base)?;
                    for child in tree.walk(&node.rel)? {
                        let rel = child.rel[node.rel.len()..].trim_start_matches('/');
                        planner.add_node(&child, &join(&base, rel))?;
                    }
                }
                NodeKind::File { .. }
                    if request.unpack_archives && is_archive(&node.host_path)? =>
                {
                    // An archive's contents go into the destination directory.
                    let dir = dest.to_string();
                    let unpacked = unpack_archive(&node.host_path, scratch_root)?;
                    let inner = SourceTree::new(unpacked.path(), node.rel.clone(), &NoFilter);
                    planner.hash_text(&format!("archive {} -> {dir}", node.rel));
                    planner.add_directory(&dir, None)?;
                    for child in inner.walk("")? {
                        planner.add_node(&child, &join(&dir, &child.rel))?;
                    }
                    planner.scratch.push(unpacked);
                }
                _ => planner.add_node(node, &base)?,
            }
        }
    }
    for (name, content) in &request.heredocs {
        let target = if dest_is_dir {
            join(dest, name)
        } else {
            dest.to_string()
        };
        planner.add_bytes(&target, content.clone())?;
    }
    for download in &request.downloads {
        let target = if dest_is_dir {
            join(dest, &download.name)
        } else {
            dest.to_string()
        };
        let dir = download.path.parent().unwrap_or(Path::new("/"));
        let tree = SourceTree::new(dir, format!("the download of {}", download.url), &NoFilter);
        for node in tree.resolve(&download.name)? {
            planner.hash_text(&format!("url {}", download.url));
            planner.add_node(&node, &target)?;
        }
    }
    Ok(planner.finish())
}

/// The path a `--parents` source keeps: what follows a `/./` pivot, else the whole path.
fn parents_path(source: &str, matched_rel: &str) -> String {
    match source.split_once("/./") {
        Some((pivot, _)) => {
            let pivot = crate::build::sources::context::clean_source(pivot);
            matched_rel
                .strip_prefix(&pivot)
                .map(|rest| rest.trim_start_matches('/').to_string())
                .unwrap_or_else(|| matched_rel.to_string())
        }
        None => matched_rel.to_string(),
    }
}

fn basename(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

fn join(dir: &str, name: &str) -> String {
    if name.is_empty() {
        dir.to_string()
    } else if dir.is_empty() || dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Builds the change set and hashes the inputs as entries are added.
struct Planner<'r> {
    request: &'r CopyRequest,
    changes: ChangeSet,
    hasher: Sha256,
    scratch: Vec<tempfile::TempDir>,
}

impl<'r> Planner<'r> {
    fn new(request: &'r CopyRequest) -> Result<Self, CopyError> {
        let mut hasher = Sha256::new();
        if let Some(sid) = &request.owner {
            hasher.update(format!("owner {sid:?}\n"));
        }
        Ok(Planner {
            request,
            changes: ChangeSet::default(),
            hasher,
            scratch: Vec::new(),
        })
    }

    fn hash_text(&mut self, text: &str) {
        self.hasher.update(text.as_bytes());
        self.hasher.update(b"\n");
    }

    fn meta(&self, mtime: (i64, u32)) -> FileMeta {
        let time = match self.request.epoch {
            Some(epoch) => Timestamp {
                secs: epoch,
                nanos: 0,
            },
            None => Timestamp {
                secs: mtime.0,
                nanos: mtime.1,
            },
        };
        FileMeta {
            creation_time: Some(time),
            modification_time: Some(time),
            access_time: Some(time),
            ..FileMeta::default()
        }
    }

    fn push(&mut self, target: &str, kind: EntryKind, meta: FileMeta) {
        let path = target.trim_start_matches('/').to_string();
        if path.is_empty() {
            return; // C:\ itself is never an entry
        }
        // A later source for the same target wins, as a later copy overwrites an earlier one.
        self.changes.entries.retain(|e| e.path != path);
        self.changes.entries.push(Entry {
            path,
            kind,
            meta,
            streams: Vec::new(),
        });
    }

    fn add_directory(&mut self, target: &str, mtime: Option<(i64, u32)>) -> Result<(), CopyError> {
        self.hash_text(&format!("dir {target}"));
        let meta = self.meta(mtime.unwrap_or((0, 0)));
        self.push(target, EntryKind::Directory, meta);
        Ok(())
    }

    fn add_node(&mut self, node: &Node, target: &str) -> Result<(), CopyError> {
        match &node.kind {
            NodeKind::Directory => self.add_directory(target, Some(node.mtime)),
            NodeKind::File { size } => {
                let digest = hash_file(&node.host_path)?;
                self.hash_text(&format!("file {target} {size} {digest}"));
                let meta = self.meta(node.mtime);
                self.push(
                    target,
                    EntryKind::File {
                        source: FileSource::Path(node.host_path.clone()),
                        size: *size,
                    },
                    meta,
                );
                Ok(())
            }
            NodeKind::Symlink { target: link } => {
                let windows_target = link.replace('/', "\\");
                self.hash_text(&format!("symlink {target} {windows_target}"));
                let meta = self.meta(node.mtime);
                self.push(
                    target,
                    EntryKind::Symlink {
                        target: windows_target,
                        directory: false,
                    },
                    meta,
                );
                Ok(())
            }
        }
    }

    fn add_bytes(&mut self, target: &str, content: Vec<u8>) -> Result<(), CopyError> {
        let digest = hex::encode(Sha256::digest(&content));
        self.hash_text(&format!("file {target} {} {digest}", content.len()));
        let meta = self.meta((self.request.epoch.unwrap_or(0), 0));
        let size = content.len() as u64;
        self.push(
            target,
            EntryKind::File {
                source: FileSource::Bytes(content),
                size,
            },
            meta,
        );
        Ok(())
    }

    fn finish(self) -> CopyPlan {
        CopyPlan {
            changes: self.changes,
            input_digest: format!("sha256:{}", hex::encode(self.hasher.finalize())),
            scratch: self.scratch,
        }
    }
}

/// Whether a file is an archive ADD unpacks: a tar, possibly gzip- or zstd-compressed.
fn is_archive(path: &Path) -> Result<bool, CopyError> {
    let mut head = [0u8; 512];
    let n = read_head(path, &mut head)?;
    let head = &head[..n];
    if head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok(true);
    }
    Ok(head.len() >= 262 && &head[257..262] == b"ustar")
}

fn read_head(path: &Path, buf: &mut [u8]) -> Result<usize, CopyError> {
    let mut file = fs::File::open(path).map_err(|e| archive_err(path, e))?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(archive_err(path, e)),
        }
    }
    Ok(filled)
}

fn archive_err(path: &Path, e: impl std::fmt::Display) -> CopyError {
    CopyError::Archive {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Unpacks an archive into a fresh directory under `scratch_root`, refusing entries that would
/// land outside it (the `tar` crate's `unpack_in` checks `..` and absolute paths) and skipping
/// device nodes.
fn unpack_archive(path: &Path, scratch_root: &Path) -> Result<tempfile::TempDir, CopyError> {
    fs::create_dir_all(scratch_root).map_err(|e| archive_err(scratch_root, e))?;
    let dir = tempfile::Builder::new()
        .prefix("add-")
        .tempdir_in(scratch_root)
        .map_err(|e| archive_err(scratch_root, e))?;
    let mut head = [0u8; 4];
    let n = read_head(path, &mut head)?;
    let file = fs::File::open(path).map_err(|e| archive_err(path, e))?;
    let reader: Box<dyn Read> = if head[..n].starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| archive_err(path, e))?)
    } else {
        Box::new(file)
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(false);
    for entry in archive.entries().map_err(|e| archive_err(path, e))? {
        let mut entry = entry.map_err(|e| archive_err(path, e))?;
        let kind = entry.header().entry_type();
        if kind.is_block_special() || kind.is_character_special() || kind.is_fifo() {
            continue;
        }
        let unpacked = entry
            .unpack_in(dir.path())
            .map_err(|e| archive_err(path, e))?;
        if !unpacked {
            let name = entry
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            return Err(archive_err(
                path,
                format!("entry {name:?} would be written outside the destination"),
            ));
        }
    }
    Ok(dir)
}

/// Convenience for callers holding a path rather than a tree: the context root as a tree.
pub fn context_tree<'a>(
    root: PathBuf,
    filter: &'a dyn crate::build::sources::context::PathFilter,
) -> SourceTree<'a> {
    let display = format!("the build context {}", root.display());
    SourceTree::new(root, display, filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("app/bin")).unwrap();
        fs::write(root.join("app/a.txt"), "a").unwrap();
        fs::write(root.join("app/bin/x.dll"), "x").unwrap();
        fs::write(root.join("one.txt"), "1").unwrap();
        dir
    }

    fn paths(plan: &CopyPlan) -> Vec<String> {
        let mut p: Vec<String> = plan
            .changes
            .entries
            .iter()
            .map(|e| e.path.clone())
            .collect();
        p.sort();
        p
    }

    fn run(request: CopyRequest) -> Result<CopyPlan, CopyError> {
        let dir = ctx();
        let tree = context_tree(dir.path().to_path_buf(), &NoFilter);
        let scratch = tempfile::tempdir().unwrap();
        plan_copy(&tree, &request, scratch.path())
    }

    fn req(sources: &[&str], dest: &str) -> CopyRequest {
        CopyRequest {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            dest: dest.into(),
            ..Default::default()
        }
    }

    #[test]
    fn file_to_file_and_file_into_directory() {
        assert_eq!(
            paths(&run(req(&["one.txt"], "/x/renamed.txt")).unwrap()),
            ["x/renamed.txt"]
        );
        assert_eq!(
            paths(&run(req(&["one.txt"], "/x/")).unwrap()),
            ["x/one.txt"]
        );
    }

    #[test]
    fn directory_copies_its_contents() {
        assert_eq!(
            paths(&run(req(&["app"], "/dst")).unwrap()),
            ["dst", "dst/a.txt", "dst/bin", "dst/bin/x.dll"]
        );
    }

    #[test]
    fn parents_keep_the_source_path() {
        let mut r = req(&["app/bin/x.dll"], "/d/");
        r.parents = true;
        assert_eq!(paths(&run(r).unwrap()), ["d/app/bin/x.dll"]);
        let mut r = req(&["app/./bin/x.dll"], "/d/");
        r.parents = true;
        assert_eq!(paths(&run(r).unwrap()), ["d/bin/x.dll"]);
    }

    #[test]
    fn several_sources_need_a_directory_destination() {
        let err = run(req(&["one.txt", "app/a.txt"], "/x")).err().unwrap();
        assert!(err.to_string().contains("must be a directory"), "{err}");
        assert_eq!(
            paths(&run(req(&["one.txt", "app/a.txt"], "/x/")).unwrap()),
            ["x/a.txt", "x/one.txt"]
        );
    }

    #[test]
    fn wildcard_matching_several_files_copies_into_the_directory() {
        assert_eq!(
            paths(&run(req(&["*.txt", "app/*.txt"], "/w/")).unwrap()),
            ["w/a.txt", "w/one.txt"]
        );
    }

    #[test]
    fn input_digest_follows_content_and_owner_not_mtime() {
        let dir = ctx();
        let tree = context_tree(dir.path().to_path_buf(), &NoFilter);
        let scratch = tempfile::tempdir().unwrap();
        let first = plan_copy(&tree, &req(&["app"], "/d"), scratch.path()).unwrap();
        let again = plan_copy(&tree, &req(&["app"], "/d"), scratch.path()).unwrap();
        assert_eq!(first.input_digest, again.input_digest);
        fs::write(dir.path().join("app/a.txt"), "changed").unwrap();
        let changed = plan_copy(&tree, &req(&["app"], "/d"), scratch.path()).unwrap();
        assert_ne!(first.input_digest, changed.input_digest);
        let mut owned = req(&["app"], "/d");
        owned.owner = Some(Sid::container_user());
        let owned = plan_copy(&tree, &owned, scratch.path()).unwrap();
        assert_ne!(changed.input_digest, owned.input_digest);
    }

    #[test]
    fn heredoc_becomes_a_file() {
        let mut r = req(&[], "/etc/");
        r.heredocs.push(("hello.txt".into(), b"hi\n".to_vec()));
        let plan = run(r).unwrap();
        assert_eq!(paths(&plan), ["etc/hello.txt"]);
        assert!(matches!(
            &plan.changes.entries[0].kind,
            EntryKind::File { source: FileSource::Bytes(b), size: 3 } if b == b"hi\n"
        ));
    }

    #[test]
    fn add_unpacks_a_gzip_tar() {
        let dir = ctx();
        let archive = dir.path().join("bundle.tar.gz");
        let file = fs::File::create(&archive).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "lib/core.dll", &b"dll!!"[..])
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        let tree = context_tree(dir.path().to_path_buf(), &NoFilter);
        let scratch = tempfile::tempdir().unwrap();
        let mut r = req(&["bundle.tar.gz"], "/opt/");
        r.unpack_archives = true;
        let plan = plan_copy(&tree, &r, scratch.path()).unwrap();
        assert_eq!(paths(&plan), ["opt", "opt/lib", "opt/lib/core.dll"]);
        // COPY never unpacks.
        let plan = plan_copy(&tree, &req(&["bundle.tar.gz"], "/opt/"), scratch.path()).unwrap();
        assert_eq!(paths(&plan), ["opt/bundle.tar.gz"]);
    }
}
