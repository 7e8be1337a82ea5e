//! skopeo's `dir:PATH` directories (containers/image's directory transport), read and written:
//! `manifest.json` (the image's manifest or index, byte for byte), `version` ("Directory
//! Transport Version: 1.1"), every config and layer blob as a file named by its sha256 hex
//! digest, and each manifest below an index as `<hex>.manifest.json`. One image per directory,
//! no name: writing replaces what an earlier write left there, and refuses a non-empty directory
//! that is not such an image (as containers/image does, so a mistyped path never loses data).
//! Signatures are neither written nor read.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest, MediaType};

use super::blobio::{BlobSink, BlobSource, ImageSink, ImageSource, METADATA_LIMIT};
use super::{read_bounded, write_file_atomically, StoreError};
use crate::oci::digest::{digest_of_bytes, sha256_hex};

/// The `version` file containers/image writes and expects.
pub const VERSION: &str = "Directory Transport Version: 1.1\n";
/// Versions whose layout is this one (1.0 had no per-instance manifests, which reads the same).
const READABLE_VERSIONS: [&str; 2] = [VERSION, "Directory Transport Version: 1.0\n"];

const MANIFEST: &str = "manifest.json";

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A `dir:` image directory.
pub struct DirImage {
    dir: PathBuf,
    /// Manifests below an index written so far: renamed to `<hex>.manifest.json` on finish.
    child_manifests: Vec<Digest>,
}

impl DirImage {
    /// Opens a directory skopeo (or silo) wrote, for reading.
    pub fn open(dir: impl Into<PathBuf>) -> Result<DirImage> {
        let dir = dir.into();
        match fs::read_to_string(dir.join("version")) {
            Ok(v) if READABLE_VERSIONS.contains(&v.as_str()) => {}
            Ok(v) => {
                return Err(StoreError::invalid(
                    format!("dir:{}", dir.display()),
                    format!(
                        "version file says {:?}; silo reads {VERSION:?}",
                        v.trim_end()
                    ),
                ))
            }
            // containers/image reads a directory without one; so does silo.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(dir.join("version").display().to_string(), e)),
        }
        if !dir.join(MANIFEST).is_file() {
            return Err(StoreError::invalid(
                format!("dir:{}", dir.display()),
                "not an image directory: it has no manifest.json",
            ));
        }
        Ok(DirImage {
            dir,
            child_manifests: Vec::new(),
        })
    }

    /// Makes `dir` an empty image directory for writing: creates it, or empties one an earlier
    /// `dir:` write left (its `version` file says so); any other non-empty directory is refused.
    pub fn create(dir: impl Into<PathBuf>) -> Result<DirImage> {
        let dir = dir.into();
        let shown = format!("dir:{}", dir.display());
        match fs::read_dir(&dir) {
            Ok(entries) => {
                let entries: Vec<_> = entries
                    .collect::<io::Result<_>>()
                    .map_err(|e| StoreError::io(shown.clone(), e))?;
                if !entries.is_empty() {
                    let version = fs::read_to_string(dir.join("version")).unwrap_or_default();
                    if version != VERSION {
                        return Err(StoreError::invalid(
                            shown,
                            format!(
                                "the directory is not empty and not an image directory (no \
                                 version file saying {:?}); refusing to overwrite it",
                                VERSION.trim_end()
                            ),
                        ));
                    }
                    for e in entries {
                        let path = e.path();
                        let removed = if path.is_dir() {
                            fs::remove_dir_all(&path)
                        } else {
                            fs::remove_file(&path)
                        };
                        removed.map_err(|e| StoreError::io(path.display().to_string(), e))?;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&dir).map_err(|e| StoreError::io(shown.clone(), e))?
            }
            Err(e) => return Err(StoreError::io(shown, e)),
        }
        write_file_atomically(&dir.join("version"), VERSION.as_bytes())?;
        Ok(DirImage {
            dir,
            child_manifests: Vec::new(),
        })
    }

    /// The file of a blob: `manifest.json` for the top manifest, `<hex>.manifest.json` for a
    /// manifest below an index, `<hex>` for the rest (and for manifests older tools wrote so).
    fn existing_blob_path(&self, digest: &Digest) -> Result<Option<PathBuf>> {
        let hex = sha256_hex(digest)?;
        for name in [hex.to_string(), format!("{hex}.manifest.json")] {
            let path = self.dir.join(name);
            if path.is_file() {
                return Ok(Some(path));
            }
        }
        if &self.top_manifest()?.0 == digest {
            return Ok(Some(self.dir.join(MANIFEST)));
        }
        Ok(None)
    }

    /// `manifest.json`'s digest and bytes.
    fn top_manifest(&self) -> Result<(Digest, Vec<u8>)> {
        let path = self.dir.join(MANIFEST);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((digest_of_bytes(b""), Vec::new()))
            }
            Err(e) => return Err(StoreError::io(path.display().to_string(), e)),
        };
        let bytes = read_bounded(&mut file, METADATA_LIMIT, &path.display().to_string())?;
        Ok((digest_of_bytes(&bytes), bytes))
    }
}

impl BlobSource for DirImage {
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>> {
        match self.existing_blob_path(digest)? {
            Some(path) => {
                Ok(Box::new(File::open(&path).map_err(|e| {
                    StoreError::io(path.display().to_string(), e)
                })?))
            }
            None => Err(StoreError::BlobNotFound(format!(
                "{digest} (in dir:{})",
                self.dir.display()
            ))),
        }
    }

    fn blob_file(&self, digest: &Digest) -> Result<Option<PathBuf>> {
        self.existing_blob_path(digest)
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool> {
        Ok(self.existing_blob_path(digest)?.is_some())
    }
}

impl ImageSource for DirImage {
    /// The image of `manifest.json`; a `dir:` image has no name.
    fn resolve(&self, name: Option<&str>) -> Result<Descriptor> {
        if let Some(name) = name {
            return Err(StoreError::invalid(
                format!("dir:{}", self.dir.display()),
                format!("a dir: image has no names (asked for {name:?})"),
            ));
        }
        let (digest, bytes) = self.top_manifest()?;
        Ok(Descriptor::new(
            manifest_media_type(&bytes, &self.dir)?,
            bytes.len() as u64,
            digest,
        ))
    }
}

/// The media type of `manifest.json`: its `mediaType`, else (OCI documents may leave it out)
/// an index when it lists `manifests`, an image manifest otherwise.
fn manifest_media_type(bytes: &[u8], dir: &Path) -> Result<MediaType> {
    let what = || dir.join(MANIFEST).display().to_string();
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| StoreError::invalid(what(), e.to_string()))?;
    if doc.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1) {
        return Err(StoreError::invalid(
            what(),
            "a Docker schema 1 manifest; silo reads schema 2 and OCI images only",
        ));
    }
    Ok(match doc.get("mediaType").and_then(|m| m.as_str()) {
        Some(m) => MediaType::from(m),
        None if doc.get("manifests").is_some() => MediaType::ImageIndex,
        None => MediaType::ImageManifest,
    })
}

impl BlobSink for DirImage {
    fn has_blob(&self, digest: &Digest) -> Result<bool> {
        Ok(self.dir.join(sha256_hex(digest)?).is_file())
    }

    fn put_blob(&mut self, digest: &Digest, size: u64, data: &mut dyn Read) -> Result<()> {
        let target = self.dir.join(sha256_hex(digest)?);
        let what = format!("blob written to dir:{}", self.dir.display());
        super::oci_layout::write_blob_file(&target, digest, size, data, &what)
    }

    fn put_blob_file(&mut self, digest: &Digest, size: u64, path: &Path) -> Result<()> {
        let target = self.dir.join(sha256_hex(digest)?);
        if target.exists() {
            return Ok(());
        }
        super::blobio::link_verified(path, &target, digest, size)
    }
}

impl ImageSink for DirImage {
    /// The root manifest becomes `manifest.json`. The manifests below an index arrive as blobs
    /// before it; they are noted here and given their `.manifest.json` names on finish.
    fn put_manifest(
        &mut self,
        descriptor: &Descriptor,
        bytes: &[u8],
        name: Option<&str>,
    ) -> Result<()> {
        let _ = name; // one image per directory: the destination has no name to record
        let actual = digest_of_bytes(bytes);
        if &actual != descriptor.digest() {
            return Err(StoreError::DigestMismatch {
                what: format!("manifest for dir:{}", self.dir.display()),
                expected: descriptor.digest().to_string(),
                actual: actual.to_string(),
            });
        }
        if let crate::oci::Manifest::Index(index) =
            crate::oci::parse_manifest(bytes, descriptor.digest().as_ref())
                .map_err(|e| StoreError::invalid("manifest", e.to_string()))?
        {
            self.child_manifests
                .extend(index.manifests().iter().map(|d| d.digest().clone()));
        }
        write_file_atomically(&self.dir.join(MANIFEST), bytes)
    }

    /// Names the manifests below an index (nested ones included) `<hex>.manifest.json`.
    fn finish(&mut self) -> Result<()> {
        while let Some(digest) = self.child_manifests.pop() {
            let hex = sha256_hex(&digest)?;
            let from = self.dir.join(hex);
            let to = self.dir.join(format!("{hex}.manifest.json"));
            if !from.is_file() {
                continue; // named already, or an entry the copy left out (one platform)
            }
            let bytes =
                fs::read(&from).map_err(|e| StoreError::io(from.display().to_string(), e))?;
            if let Ok(crate::oci::Manifest::Index(index)) =
                crate::oci::parse_manifest(&bytes, digest.as_ref())
            {
                self.child_manifests
                    .extend(index.manifests().iter().map(|d| d.digest().clone()));
            }
            fs::rename(&from, &to).map_err(|e| StoreError::io(to.display().to_string(), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_then_reading_an_image() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("img");
        let layer = b"layer bytes";
        let layer_digest = digest_of_bytes(layer);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{layer_digest}","size":{}}},"layers":[]}}"#,
            layer.len()
        );
        let descriptor = Descriptor::new(
            MediaType::ImageManifest,
            manifest.len() as u64,
            digest_of_bytes(manifest.as_bytes()),
        );
        let mut sink = DirImage::create(&dir).unwrap();
        sink.put_blob(&layer_digest, layer.len() as u64, &mut &layer[..])
            .unwrap();
        sink.put_manifest(&descriptor, manifest.as_bytes(), Some("ignored"))
            .unwrap();
        sink.finish().unwrap();
        assert_eq!(fs::read_to_string(dir.join("version")).unwrap(), VERSION);
        assert_eq!(
            fs::read(dir.join(sha256_hex(&layer_digest).unwrap())).unwrap(),
            layer
        );

        let source = DirImage::open(&dir).unwrap();
        assert_eq!(source.resolve(None).unwrap(), descriptor);
        assert_eq!(
            source.read_blob(descriptor.digest()).unwrap(),
            manifest.as_bytes()
        );
        assert!(source.resolve(Some("tag")).is_err());

        // Writing again replaces the image; a directory of other things is refused.
        DirImage::create(&dir).unwrap();
        assert!(!dir.join(MANIFEST).exists());
        let other = tmp.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("notes.txt"), "keep me").unwrap();
        let err = DirImage::create(&other).err().unwrap().to_string();
        assert!(err.contains("refusing to overwrite"), "{err}");
        assert!(other.join("notes.txt").exists());
        let err = DirImage::open(&other).err().unwrap().to_string();
        assert!(err.contains("no manifest.json"), "{err}");
    }

    /// Under an index, manifest.json is the index and each manifest it lists is
    /// `<hex>.manifest.json` (containers/image's per-instance name), read back by digest.
    #[test]
    fn manifests_below_an_index_get_their_instance_names() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("multi");
        let child = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        let child_digest = digest_of_bytes(child);
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{child_digest}","size":{}}}]}}"#,
            child.len()
        );
        let index_descriptor = Descriptor::new(
            MediaType::ImageIndex,
            index.len() as u64,
            digest_of_bytes(index.as_bytes()),
        );
        let mut sink = DirImage::create(&dir).unwrap();
        // As copy_image writes them: the manifests below the root arrive as blobs first.
        sink.put_blob(&child_digest, child.len() as u64, &mut &child[..])
            .unwrap();
        sink.put_manifest(&index_descriptor, index.as_bytes(), None)
            .unwrap();
        sink.finish().unwrap();
        let hex = sha256_hex(&child_digest).unwrap();
        assert!(dir.join(format!("{hex}.manifest.json")).is_file());
        assert!(!dir.join(hex).exists());
        assert_eq!(fs::read(dir.join(MANIFEST)).unwrap(), index.as_bytes());

        let source = DirImage::open(&dir).unwrap();
        assert_eq!(source.resolve(None).unwrap(), index_descriptor);
        assert_eq!(source.read_blob(&child_digest).unwrap(), child);
    }
}
