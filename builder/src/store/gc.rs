//! Store maintenance: `verify` (re-hash every blob, check refs and the unpacked-layer cache) and
//! `prune` (mark everything reachable from refs and cache records, sweep the rest).

use std::collections::HashSet;
use std::fs;
use std::io;

use oci_spec::image::Digest;

use super::blobio::BlobSource;
use super::{read_dir_sorted, Store, StoreError};
use crate::oci::digest::HashingReader;
use crate::oci::{self, Manifest};
use crate::oci::{parse_sha256, sha256_hex};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong, naming the file or ref.
    pub message: String,
    /// Whether `--remove` removed it.
    pub removed: bool,
}

/// The result of [`verify`].
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub blobs_checked: u64,
    pub bytes_checked: u64,
    pub problems: Vec<Problem>,
}

/// Re-hashes every blob; reports (and with `remove`, deletes) blobs whose bytes do not match
/// their name, stray files, refs to missing blobs, and incomplete unpacked layers.
/// Leftover temp files of killed writers are not problems (prune removes them).
pub fn verify(store: &Store, remove: bool) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let blobs_dir = store.root().join("blobs/sha256");
    for entry in read_dir_sorted(&blobs_dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let Ok(digest) = parse_sha256(&format!("sha256:{name}")) else {
            report.problems.push(Problem {
                message: format!("{}: not a blob name", path.display()),
                removed: remove && remove_path(&path),
            });
            continue;
        };
        let file =
            fs::File::open(&path).map_err(|e| StoreError::io(path.display().to_string(), e))?;
        let mut reader = HashingReader::new(io::BufReader::with_capacity(1 << 20, file));
        io::copy(&mut reader, &mut io::sink())
            .map_err(|e| StoreError::io(path.display().to_string(), e))?;
        let (actual, size) = reader.finish();
        report.blobs_checked += 1;
        report.bytes_checked += size;
        if actual != digest {
            report.problems.push(Problem {
                message: format!("blob {digest} is corrupt: its bytes hash to {actual}"),
                removed: remove && remove_path(&path),
            });
        }
    }
    for (name, target) in store.list_refs()? {
        if !BlobSource::has_blob(store, target.digest())? {
            report.problems.push(Problem {
                message: format!("ref {name:?} points to missing blob {}", target.digest()),
                removed: remove && store.remove_ref(&name)?,
            });
        }
    }
    for entry in read_dir_sorted(&store.root().join("layers"))? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // an unpack in progress (or a killed one; prune removes it)
        }
        if !entry.path().join(".complete").exists() {
            report.problems.push(Problem {
                message: format!("unpacked layer {name} is incomplete"),
                removed: remove && remove_path(&entry.path()),
            });
        }
    }
    Ok(report)
}

fn remove_path(path: &std::path::Path) -> bool {
    let result = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    result.is_ok()
}

/// The result of [`prune`].
#[derive(Debug, Default)]
pub struct PruneReport {
    pub blobs_removed: u64,
    pub bytes_removed: u64,
    pub layers_removed: u64,
    pub temp_removed: u64,
    pub kept: u64,
}

/// Everything reachable from refs and cache records: blob digests and the diff_ids of kept images.
#[derive(Debug, Default)]
pub struct Marks {
    pub blobs: HashSet<Digest>,
    pub diff_ids: HashSet<Digest>,
}

/// Marks from every ref (manifests → configs, layers; indexes → manifests) and every cache record.
pub fn mark(store: &Store) -> Result<Marks> {
    let mut marks = Marks::default();
    let mut pending: Vec<Digest> = store
        .list_refs()?
        .into_iter()
        .map(|(_, d)| d.digest().clone())
        .collect();
    for record in store.list_records()? {
        // Record blobs may be layers (keep as they are) or manifests (walk them too).
        pending.extend(record.blobs);
    }
    while let Some(digest) = pending.pop() {
        if !marks.blobs.insert(digest.clone()) || !BlobSource::has_blob(store, &digest)? {
            continue;
        }
        let size = fs::metadata(store.blob_path(&digest)?)
            .map(|m| m.len())
            .unwrap_or(u64::MAX);
        if size > super::METADATA_LIMIT {
            continue; // a layer, not a document
        }
        let Ok(bytes) = store.read_blob(&digest) else {
            continue;
        };
        match oci::parse_manifest(&bytes, digest.as_ref()) {
            Ok(Manifest::Index(index)) => {
                pending.extend(index.manifests().iter().map(|d| d.digest().clone()));
            }
            Ok(Manifest::Image(manifest)) => {
                pending.push(manifest.config().digest().clone());
                pending.extend(manifest.layers().iter().map(|d| d.digest().clone()));
                if let Ok(config_bytes) = store.read_blob(manifest.config().digest()) {
                    if let Ok(config) =
                        oci::parse_config(&config_bytes, manifest.config().digest().as_ref())
                    {
                        for diff_id in config.rootfs().diff_ids() {
                            if let Ok(d) = parse_sha256(diff_id) {
                                marks.diff_ids.insert(d);
                            }
                        }
                    }
                }
            }
            Err(_) => {} // a config or small layer: nothing to follow
        }
    }
    Ok(marks)
}

/// Removes every blob and unpacked layer not reachable from refs or cache records, and leftover
/// temp files. The store must be open with [`super::LockMode::Exclusive`] so no concurrent writer
/// is between writing a blob and naming it.
pub fn prune(store: &Store, dry_run: bool) -> Result<PruneReport> {
    let marks = mark(store)?;
    let mut report = PruneReport::default();
    for entry in read_dir_sorted(&store.root().join("blobs/sha256"))? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let keep = parse_sha256(&format!("sha256:{name}"))
            .map(|d| marks.blobs.contains(&d))
            .unwrap_or(false);
        if keep {
            report.kept += 1;
            continue;
        }
        report.blobs_removed += 1;
        report.bytes_removed += entry.metadata().map(|m| m.len()).unwrap_or(0);
        if !dry_run {
            fs::remove_file(entry.path())
                .map_err(|e| StoreError::io(entry.path().display().to_string(), e))?;
        }
    }
    for entry in read_dir_sorted(&store.root().join("layers"))? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let keep = parse_sha256(&format!("sha256:{name}"))
            .map(|d| marks.diff_ids.contains(&d))
            .unwrap_or(false);
        if !keep {
            report.layers_removed += 1;
            if !dry_run {
                fs::remove_dir_all(entry.path())
                    .map_err(|e| StoreError::io(entry.path().display().to_string(), e))?;
            }
        }
    }
    for entry in read_dir_sorted(&store.root().join("tmp"))? {
        report.temp_removed += 1;
        if !dry_run {
            remove_path(&entry.path());
        }
    }
    for leftover in wine_leftovers(store.root())? {
        report.temp_removed += 1;
        if !dry_run {
            remove_path(&leftover);
        }
    }
    Ok(report)
}

/// What the Wine runtime leaves behind when a silo is killed or fails (see
/// `runtime/wine/mod.rs`): half-made unpacked layers and tools layers
/// (`wine/layers/.<hex>.<pid>.tmp`, `wine/tools/.<hash>.<pid>.tmp` — a finished one is renamed
/// to its name without the dot), and sandboxes (`wine/sandboxes/*`, `wine/committed/*`, which
/// live only while their build does). Under the exclusive lock no build is running, so all of
/// it is left-over, including what older silo versions left.
fn wine_leftovers(root: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for (sub, all) in [
        ("wine/layers", false),
        ("wine/tools", false),
        ("wine/sandboxes", true),
        ("wine/committed", true),
    ] {
        let dir = root.join(sub);
        if !dir.is_dir() {
            continue;
        }
        for entry in read_dir_sorted(&dir)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if all || (name.starts_with('.') && name.ends_with(".tmp")) {
                out.push(entry.path());
            }
        }
    }
    Ok(out)
}

/// The hex of a digest, for messages.
pub fn short(digest: &Digest) -> String {
    sha256_hex(digest)
        .map(|h| h[..12].to_string())
        .unwrap_or_else(|_| digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{build_manifest, Blob, Flavor};
    use crate::store::LockMode;
    use oci_spec::image::MediaType;

    #[test]
    fn prune_keeps_what_refs_and_records_reach() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), LockMode::Exclusive).unwrap();
        let layer = store.put_blob_bytes(b"layer bytes").unwrap();
        let config = Blob::new(
            MediaType::ImageConfig,
            br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec(),
        );
        store.put_blob_bytes(&config.bytes).unwrap();
        let layer_desc =
            oci_spec::image::Descriptor::new(MediaType::ImageLayerGzip, 11, layer.clone());
        let manifest = build_manifest(&config.descriptor, &[layer_desc], Flavor::Oci).unwrap();
        store.put_blob_bytes(&manifest.bytes).unwrap();
        store.set_ref("img", &manifest.descriptor).unwrap();
        let cached = store.put_blob_bytes(b"cached layer").unwrap();
        store
            .put_record("k", std::slice::from_ref(&cached), &serde_json::Value::Null)
            .unwrap();
        let garbage = store.put_blob_bytes(b"garbage").unwrap();

        let report = prune(&store, false).unwrap();
        assert_eq!(report.blobs_removed, 1);
        assert!(!BlobSource::has_blob(&store, &garbage).unwrap());
        for kept in [
            &layer,
            config.descriptor.digest(),
            manifest.descriptor.digest(),
            &cached,
        ] {
            assert!(BlobSource::has_blob(&store, kept).unwrap(), "{kept} kept");
        }
    }

    #[test]
    fn prune_removes_what_a_failed_wine_unpack_left() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), LockMode::Exclusive).unwrap();
        let layers = dir.path().join("wine/layers");
        let half = layers.join(format!(".{}.4242.tmp", "ab".repeat(32)));
        let done = layers.join("ab".repeat(32));
        fs::create_dir_all(half.join("Files/Windows")).unwrap();
        fs::create_dir_all(&done).unwrap();
        fs::write(done.join(".complete"), "x").unwrap();
        let sandbox = dir.path().join("wine/sandboxes/4242-0-0");
        fs::create_dir_all(sandbox.join("upper")).unwrap();
        let report = prune(&store, true).unwrap();
        assert_eq!(report.temp_removed, 2);
        assert!(half.exists(), "dry run");
        prune(&store, false).unwrap();
        assert!(!half.exists() && !sandbox.exists());
        assert!(done.join(".complete").exists(), "a complete layer stays");
    }

    #[test]
    fn verify_finds_and_removes_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), LockMode::Exclusive).unwrap();
        let digest = store.put_blob_bytes(b"good").unwrap();
        assert!(verify(&store, false).unwrap().problems.is_empty());
        fs::write(store.blob_path(&digest).unwrap(), b"bad!").unwrap();
        let report = verify(&store, true).unwrap();
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].removed);
        assert!(verify(&store, false).unwrap().problems.is_empty());
    }
}
