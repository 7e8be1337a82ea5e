//! `RUN --mount` (BuildKit's `dockerfile2llb` mount semantics), the parts that do not need the
//! engine: where a mount goes in the step (`target`), the secret a mount names and where its
//! value comes from (`--secret`), the persistent directories of cache mounts with their
//! `sharing` rule, and copying a source tree into a step-private directory with a digest of
//! what was copied (a bind mount's part of the step's cache key).
//!
//! The engine resolves each mount to a [`StepMount`](crate::runtime::StepMount) — a host path
//! the runtime mounts — and keeps whatever backs it (temporary directories, a cache lock)
//! alive until the step has run.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::build::sources::context::{hash_file, ContextError, NodeKind, SourceTree};
use crate::dockerfile::instructions::{Mount, MountType};

/// BuildKit refuses secrets larger than this (500 KiB).
pub const MAX_SECRET_BYTES: u64 = 500 * 1024;

/// Where a `--secret` value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

/// Parses `--secret id=ID[,src=PATH|,env=VAR][,type=file|env]` (docker buildx's syntax). Without
/// `src` or `env`, an environment variable named like the id is used, as buildx does.
pub fn parse_secret_flag(value: &str) -> Result<(String, SecretSource), String> {
    let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
    for field in value.split(',') {
        let (key, val) = field
            .split_once('=')
            .ok_or_else(|| format!("--secret {value:?}: {field:?} is not KEY=VALUE"))?;
        match key.trim().to_lowercase().as_str() {
            "id" => id = Some(val.to_string()),
            "src" | "source" => src = Some(val.to_string()),
            "env" => env = Some(val.to_string()),
            "type" => kind = Some(val.to_lowercase()),
            other => {
                return Err(format!(
                    "--secret {value:?}: unknown key {other:?} (id, src, env, type)"
                ))
            }
        }
    }
    let id = id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("--secret {value:?}: id=… is required"))?;
    let source = match (kind.as_deref(), src, env) {
        (Some("env"), src, env) => SecretSource::Env(env.or(src).unwrap_or_else(|| id.clone())),
        (Some("file") | None, Some(src), None) => SecretSource::File(PathBuf::from(src)),
        (None, None, Some(env)) => SecretSource::Env(env),
        (None, None, None) => SecretSource::Env(id.clone()),
        (Some("file"), None, _) => {
            return Err(format!("--secret {value:?}: type=file needs src=PATH"))
        }
        (Some(other), ..) if other != "file" => {
            return Err(format!("--secret {value:?}: type must be file or env"))
        }
        _ => {
            return Err(format!(
                "--secret {value:?}: give src=PATH or env=VAR, not both"
            ))
        }
    };
    Ok((id, source))
}

/// Reads a secret's value (bounded).
pub fn read_secret(id: &str, source: &SecretSource) -> Result<Vec<u8>, String> {
    let value = match source {
        SecretSource::File(path) => {
            let meta = fs::metadata(path)
                .map_err(|e| format!("secret {id:?}: reading {}: {e}", path.display()))?;
            if meta.len() > MAX_SECRET_BYTES {
                return Err(format!(
                    "secret {id:?}: {} is {} bytes; secrets are limited to {MAX_SECRET_BYTES}",
                    path.display(),
                    meta.len()
                ));
            }
            fs::read(path).map_err(|e| format!("secret {id:?}: reading {}: {e}", path.display()))?
        }
        SecretSource::Env(var) => std::env::var_os(var)
            .ok_or_else(|| {
                format!(
                    "secret {id:?}: environment variable {var} is not set (give --secret \
                     id={id},src=PATH for a file)"
                )
            })?
            .into_encoded_bytes(),
    };
    if value.len() as u64 > MAX_SECRET_BYTES {
        return Err(format!(
            "secret {id:?} is larger than {MAX_SECRET_BYTES} bytes"
        ));
    }
    Ok(value)
}

/// The secret a `type=secret` mount names: `source`, else `id`, else the target's file name
/// (BuildKit's `dispatchSecret`).
pub fn secret_id(mount: &Mount) -> String {
    if !mount.source.is_empty() {
        return mount.source.clone();
    }
    if !mount.cache_id.is_empty() {
        return mount.cache_id.clone();
    }
    base_name(&mount.target)
}

fn base_name(path: &str) -> String {
    path.trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The mount's target as an absolute Windows path on C:. A relative target is relative to the
/// step's working directory; a secret without one goes to `C:\run\secrets\<id>` (BuildKit's
/// `/run/secrets/<id>` on C:).
pub fn mount_target(mount: &Mount, working_dir: &str) -> Result<String, String> {
    let target = match (mount.kind, mount.target.is_empty()) {
        (MountType::Secret, true) => format!("/run/secrets/{}", base_name(&secret_id(mount))),
        (_, true) => {
            return Err(format!(
                "RUN --mount=type={}: target=… is required",
                mount.kind.as_str()
            ))
        }
        _ => mount.target.clone(),
    };
    let slashed = target.replace('\\', "/");
    let rest = without_drive(&slashed);
    if rest.len() != slashed.len() && !slashed[..1].eq_ignore_ascii_case("c") {
        return Err(format!(
            "RUN --mount target {target:?}: only drive C: exists in a Windows container"
        ));
    }
    let relative_to = match rest.starts_with('/') {
        true => String::new(),
        false => without_drive(working_dir).replace('\\', "/"),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in relative_to.split('/').chain(rest.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(format!(
            "RUN --mount target {target:?}: cannot mount over C:\\"
        ));
    }
    Ok(format!("C:\\{}", parts.join("\\")))
}

fn without_drive(path: &str) -> &str {
    match path.as_bytes() {
        [_, b':', ..] => &path[2..],
        _ => path,
    }
}

/// How a tree is put into a step-private directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    /// Hard links where the file systems allow (the mount is read-only, so the originals are
    /// safe), copies elsewhere.
    LinkOrCopy,
    /// Copies: the step may write, and its writes are thrown away with the directory.
    Copy,
}

/// Copies what `tree` holds at `rel` (a directory's contents, or one file) to `dest` and
/// returns a digest of the paths, kinds, link targets and contents (not times). With
/// `dest: None` only the digest is computed.
pub fn copy_tree(
    tree: &SourceTree<'_>,
    rel: &str,
    dest: Option<&Path>,
    mode: CopyMode,
) -> Result<String, ContextError> {
    let io_err = |what: &Path| {
        let what = what.display().to_string();
        move |source| ContextError::Io { what, source }
    };
    let mut hasher = Sha256::new();
    let top = tree.resolve(if rel.is_empty() { "/" } else { rel })?;
    let top = top
        .into_iter()
        .next()
        .expect("resolve returns a node or an error");
    let nodes = match top.kind {
        NodeKind::Directory => tree.walk(&top.rel)?,
        _ => Vec::new(),
    };
    let place = |node_rel: &str| -> Option<PathBuf> {
        let inner = node_rel
            .strip_prefix(&top.rel)
            .unwrap_or(node_rel)
            .trim_start_matches('/');
        dest.map(|d| {
            if inner.is_empty() {
                d.to_path_buf()
            } else {
                d.join(inner)
            }
        })
    };
    if let (NodeKind::File { .. }, Some(d)) = (&top.kind, dest) {
        // One file: `dest` is the file itself.
        let digest = hash_file(&top.host_path)?;
        hasher.update(format!("file {digest}\n"));
        copy_file(&top.host_path, d, mode).map_err(io_err(d))?;
        return Ok(format!("sha256:{}", hex::encode(hasher.finalize())));
    }
    if let Some(d) = dest {
        fs::create_dir_all(d).map_err(io_err(d))?;
    }
    for node in std::iter::once(&top).chain(&nodes) {
        let inner = node.rel.strip_prefix(&top.rel).unwrap_or(&node.rel);
        match &node.kind {
            NodeKind::Directory => {
                hasher.update(format!("dir {inner}\n"));
                if let Some(path) = place(&node.rel) {
                    fs::create_dir_all(&path).map_err(io_err(&path))?;
                }
            }
            NodeKind::File { size } => {
                let digest = hash_file(&node.host_path)?;
                hasher.update(format!("file {inner} {size} {digest}\n"));
                if let Some(path) = place(&node.rel) {
                    copy_file(&node.host_path, &path, mode).map_err(io_err(&path))?;
                }
            }
            NodeKind::Symlink { target } => {
                hasher.update(format!("link {inner} {target}\n"));
                if let Some(path) = place(&node.rel) {
                    symlink(target, &path).map_err(io_err(&path))?;
                }
            }
        }
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

#[cfg(unix)]
fn symlink(target: &str, path: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, path)
}

#[cfg(windows)]
fn symlink(target: &str, path: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_file(target, path)
}

fn copy_file(from: &Path, to: &Path, mode: CopyMode) -> io::Result<()> {
    if mode == CopyMode::LinkOrCopy && fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to).map(drop)
}

/// The persistent directories of `type=cache` mounts, one per id, under the store.
pub struct CacheMounts {
    root: PathBuf,
}

/// A cache mount in use: its directory, and the lock or temporary directory behind it.
pub struct CacheLease {
    pub path: PathBuf,
    /// Whether the directory was made for this step (a `from=` seeds only a new one).
    pub created: bool,
    _lock: Option<fs::File>,
    _private: Option<tempfile::TempDir>,
}

impl CacheMounts {
    pub fn new(root: PathBuf) -> CacheMounts {
        CacheMounts { root }
    }

    /// The cache mount `id` under `sharing` (`shared` when empty): `shared` steps use it
    /// together; `locked` waits until no other step holds it; `private` gets a fresh empty
    /// directory (in `scratch`) while another step holds it.
    pub fn acquire(&self, id: &str, sharing: &str, scratch: &Path) -> io::Result<CacheLease> {
        let name = hex::encode(Sha256::digest(id.as_bytes()));
        let path = self.root.join(&name);
        fs::create_dir_all(&self.root)?;
        let lock = || {
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(self.root.join(format!("{name}.lock")))
        };
        let (lock, private) = match sharing {
            "locked" => {
                let file = lock()?;
                file.lock()?;
                (Some(file), None)
            }
            "private" => {
                let file = lock()?;
                match file.try_lock() {
                    Ok(()) => (Some(file), None),
                    Err(fs::TryLockError::WouldBlock) => {
                        let dir = tempfile::Builder::new()
                            .prefix("cache-")
                            .tempdir_in(scratch)?;
                        (None, Some(dir))
                    }
                    Err(fs::TryLockError::Error(e)) => return Err(e),
                }
            }
            _ => (None, None),
        };
        if let Some(dir) = private {
            return Ok(CacheLease {
                path: dir.path().to_path_buf(),
                created: true,
                _lock: None,
                _private: Some(dir),
            });
        }
        let created = match fs::create_dir(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(e),
        };
        Ok(CacheLease {
            path,
            created,
            _lock: lock,
            _private: None,
        })
    }
}

/// The part of a RUN step's cache key its mounts make: kind, target, what the mount reads
/// from (`source_key`: a content digest for a bind mount; the id for a cache mount; the id,
/// never the value, for a secret) and whether it is read-only.
pub fn key_line(mount: &Mount, target: &str, source_key: &str) -> String {
    format!(
        "mount type={} target={target} ro={} source={source_key}",
        mount.kind.as_str(),
        mount.read_only
    )
}

/// Secrets given on the command line, by id.
pub type Secrets = BTreeMap<String, SecretSource>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::sources::context::NoFilter;
    use crate::dockerfile::instructions::parse_mount;

    fn mount(spec: &str) -> Mount {
        let mut as_written = |word: &str| Ok(word.to_string());
        parse_mount(spec, Some(&mut as_written)).unwrap()
    }

    #[test]
    fn targets_are_absolute_windows_paths_on_c() {
        let at = |spec: &str, wd: &str| mount_target(&mount(spec), wd);
        assert_eq!(
            at("type=cache,target=/cache", "C:\\app").unwrap(),
            "C:\\cache"
        );
        assert_eq!(
            at("type=cache,target=C:\\x\\y", "C:\\").unwrap(),
            "C:\\x\\y"
        );
        assert_eq!(at("type=cache,target=c:/x/../y", "C:\\").unwrap(), "C:\\y");
        assert_eq!(
            at("type=bind,target=src", "C:\\app").unwrap(),
            "C:\\app\\src"
        );
        assert_eq!(
            at("type=secret,id=tok", "C:\\").unwrap(),
            "C:\\run\\secrets\\tok"
        );
        assert_eq!(
            at("type=secret,source=tok,target=C:\\t.txt", "C:\\").unwrap(),
            "C:\\t.txt"
        );
        for bad in [
            "type=cache,target=D:\\x",
            "type=cache,target=/",
            "type=cache,target=C:\\..",
        ] {
            assert!(at(bad, "C:\\").is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_ids_and_flags_follow_buildkit_and_buildx() {
        assert_eq!(secret_id(&mount("type=secret,id=a")), "a");
        assert_eq!(secret_id(&mount("type=secret,source=b,target=/x")), "b");
        assert_eq!(secret_id(&mount("type=secret,target=/run/c")), "c");
        assert_eq!(
            parse_secret_flag("id=a,src=/f").unwrap(),
            ("a".into(), SecretSource::File("/f".into()))
        );
        assert_eq!(
            parse_secret_flag("id=a,env=TOKEN").unwrap(),
            ("a".into(), SecretSource::Env("TOKEN".into()))
        );
        assert_eq!(
            parse_secret_flag("id=GIT_TOKEN").unwrap(),
            ("GIT_TOKEN".into(), SecretSource::Env("GIT_TOKEN".into()))
        );
        for bad in [
            "src=/f",
            "id=a,src=/f,env=B",
            "id=a,type=ssh",
            "id=a,nope=1",
            "id=a,x",
        ] {
            assert!(parse_secret_flag(bad).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        fs::write(&big, vec![b'x'; MAX_SECRET_BYTES as usize + 1]).unwrap();
        let err = read_secret("big", &SecretSource::File(big)).unwrap_err();
        assert!(err.contains("limited"), "{err}");
        let err = read_secret("e", &SecretSource::Env("SILO_TEST_NO_SUCH_VAR".into())).unwrap_err();
        assert!(err.contains("SILO_TEST_NO_SUCH_VAR"), "{err}");
    }

    #[test]
    fn a_copied_tree_has_a_digest_of_its_contents_not_its_times() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("ctx");
        fs::create_dir_all(src.join("app/sub")).unwrap();
        fs::write(src.join("app/a.txt"), b"one").unwrap();
        fs::write(src.join("app/sub/b.txt"), b"two").unwrap();
        fs::write(src.join("other.txt"), b"not mounted").unwrap();
        let tree = SourceTree::new(&src, "ctx", &NoFilter);
        let out = dir.path().join("out");
        let first = copy_tree(&tree, "app", Some(&out), CopyMode::Copy).unwrap();
        assert_eq!(fs::read(out.join("a.txt")).unwrap(), b"one");
        assert_eq!(fs::read(out.join("sub/b.txt")).unwrap(), b"two");
        assert!(!out.join("other.txt").exists());
        // Same content, new times: same digest; new content: another.
        let again = copy_tree(&tree, "/app/", None, CopyMode::Copy).unwrap();
        assert_eq!(first, again);
        fs::write(src.join("app/sub/b.txt"), b"TWO").unwrap();
        assert_ne!(
            first,
            copy_tree(&tree, "app", None, CopyMode::Copy).unwrap()
        );
        // One file mounted as a file.
        let file = dir.path().join("one");
        copy_tree(&tree, "app/a.txt", Some(&file), CopyMode::LinkOrCopy).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"one");
        assert!(copy_tree(&tree, "missing", None, CopyMode::Copy).is_err());
        // The whole tree (`source` left out).
        let all = dir.path().join("all");
        copy_tree(&tree, "", Some(&all), CopyMode::LinkOrCopy).unwrap();
        assert_eq!(fs::read(all.join("other.txt")).unwrap(), b"not mounted");
    }

    proptest::proptest! {
        /// Dockerfile and command-line text never panics these, and a target that is accepted
        /// is always an absolute path below C:\ without `.` or `..` parts.
        #[test]
        fn arbitrary_targets_and_secret_flags_never_panic(
            target in "\\PC{0,40}",
            working_dir in "\\PC{0,20}",
            flag in "\\PC{0,60}",
        ) {
            let mut m = mount("type=cache,target=/x");
            m.target = target;
            if let Ok(path) = mount_target(&m, &working_dir) {
                let rest = path.strip_prefix("C:\\").expect("absolute on C:");
                proptest::prop_assert!(!rest.is_empty());
                proptest::prop_assert!(rest.split('\\').all(|p| !p.is_empty() && p != "." && p != ".."));
            }
            let _ = parse_secret_flag(&flag);
        }
    }

    #[test]
    fn cache_mounts_persist_by_id_and_honour_sharing() {
        let dir = tempfile::tempdir().unwrap();
        let caches = CacheMounts::new(dir.path().join("caches"));
        let scratch = dir.path();
        let first = caches.acquire("go", "", scratch).unwrap();
        assert!(first.created);
        fs::write(first.path.join("kept"), b"1").unwrap();
        let again = caches.acquire("go", "shared", scratch).unwrap();
        assert!(!again.created && again.path.join("kept").exists());
        assert_ne!(caches.acquire("npm", "", scratch).unwrap().path, first.path);
        // private: the holder gets the cache, a second step a fresh directory.
        let held = caches.acquire("go", "private", scratch).unwrap();
        assert_eq!(held.path, first.path);
        let other = caches.acquire("go", "private", scratch).unwrap();
        assert_ne!(other.path, first.path);
        assert!(other.created && fs::read_dir(&other.path).unwrap().next().is_none());
        drop((held, other));
        // locked: a second acquirer waits until the first is gone.
        let locked = caches.acquire("go", "locked", scratch).unwrap();
        let root = dir.path().join("caches");
        let scratch = scratch.to_path_buf();
        let waiter = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let lease = CacheMounts::new(root)
                .acquire("go", "locked", &scratch)
                .unwrap();
            (started.elapsed(), lease.path)
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(locked);
        let (waited, path) = waiter.join().unwrap();
        assert!(
            waited >= std::time::Duration::from_millis(250),
            "{waited:?}"
        );
        assert_eq!(path, first.path);
    }
}
