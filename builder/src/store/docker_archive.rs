//! docker-archive files (`docker-archive:FILE[:ref]`, what `docker save` writes and `docker load`
//! reads): a tar with `manifest.json` (`[{Config, RepoTags, Layers}]`), `repositories` and the
//! blobs. Written in the layout Docker 25+ uses (`blobs/sha256/<hex>`), read in that one and the
//! legacy one (`<id>/layer.tar`, `<hex>.json`). Layers stay as they are in the store (gzip
//! included): `docker load` decompresses what it finds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest};
use serde::{Deserialize, Serialize};

use super::blobio::{BlobSink, BlobSource, ImageSink, ImageSource, METADATA_LIMIT};
use super::read_bounded;
use super::StoreError;
use crate::oci::digest::{digest_of_bytes, sha256_hex, HashingReader};
use crate::oci::{self, Compression, Flavor, Manifest};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One image in `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveImage {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    pub layers: Vec<String>,
}

/// A docker-archive opened for reading. Blobs are read in place (seek to the member's offset).
pub struct DockerArchive {
    path: PathBuf,
    /// The kind of manifest synthesized for each image.
    flavor: Flavor,
    images: Vec<ArchiveImage>,
    /// Member path → (data offset, size).
    members: HashMap<String, (u64, u64)>,
    /// Digest → member path, for configs and layers.
    by_digest: HashMap<Digest, String>,
    /// Synthesized manifests (a docker-archive has none): digest → (descriptor, bytes), in the
    /// order of manifest.json, with their repo tags.
    manifests: Vec<(Descriptor, Vec<u8>, Vec<String>)>,
}

fn archive_err(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::invalid(format!("docker-archive {}", path.display()), message)
}

impl DockerArchive {
    /// Indexes the archive: member offsets, manifest.json, and one synthesized Docker v2s2
    /// manifest per image. Layers not named by digest are hashed once here.
    pub fn open(path: impl Into<PathBuf>) -> Result<DockerArchive> {
        DockerArchive::open_as(path, Flavor::Docker)
    }

    /// [`DockerArchive::open`] with manifests of `flavor`: OCI ones for an OCI layout, whose
    /// readers (skopeo's `oci:` among them) take only OCI manifests from index.json. Config and
    /// layer bytes are the same either way; only the (never published) manifest differs.
    pub fn open_as(path: impl Into<PathBuf>, flavor: Flavor) -> Result<DockerArchive> {
        let path = path.into();
        let file = File::open(&path).map_err(|e| StoreError::io(path.display().to_string(), e))?;
        let mut archive = tar::Archive::new(io::BufReader::new(file));
        let mut members = HashMap::new();
        let entries = archive
            .entries()
            .map_err(|e| StoreError::io(path.display().to_string(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(path.display().to_string(), e))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry
                .path()
                .map_err(|e| StoreError::io(path.display().to_string(), e))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            members.insert(name, (entry.raw_file_position(), entry.size()));
        }
        let mut this = DockerArchive {
            path,
            flavor,
            images: Vec::new(),
            members,
            by_digest: HashMap::new(),
            manifests: Vec::new(),
        };
        let manifest_json = this.read_member_bounded("manifest.json")?;
        this.images = serde_json::from_slice(&manifest_json)
            .map_err(|e| archive_err(&this.path, format!("manifest.json: {e}")))?;
        if this.images.is_empty() {
            return Err(archive_err(&this.path, "manifest.json lists no images"));
        }
        for image in this.images.clone() {
            this.synthesize_manifest(&image)?;
        }
        Ok(this)
    }

    fn member(&self, name: &str) -> Result<(u64, u64)> {
        self.members.get(name).copied().ok_or_else(|| {
            archive_err(
                &self.path,
                format!("manifest.json names {name:?}, which is missing"),
            )
        })
    }

    fn open_member(&self, name: &str) -> Result<io::Take<File>> {
        let (offset, size) = self.member(name)?;
        let mut file = File::open(&self.path)
            .map_err(|e| StoreError::io(self.path.display().to_string(), e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| StoreError::io(self.path.display().to_string(), e))?;
        Ok(file.take(size))
    }

    fn read_member_bounded(&self, name: &str) -> Result<Vec<u8>> {
        let mut reader = self.open_member(name)?;
        read_bounded(
            &mut reader,
            METADATA_LIMIT,
            &format!("{}:{name}", self.path.display()),
        )
    }

    /// The digest of a member: from its `blobs/sha256/<hex>` name, else by hashing it.
    fn member_digest(&self, name: &str) -> Result<Digest> {
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            if let Ok(digest) = oci::parse_sha256(&format!("sha256:{hex}")) {
                return Ok(digest);
            }
        }
        let mut reader = HashingReader::new(self.open_member(name)?);
        io::copy(&mut reader, &mut io::sink())
            .map_err(|e| StoreError::io(format!("{}:{name}", self.path.display()), e))?;
        Ok(reader.finish().0)
    }

    fn synthesize_manifest(&mut self, image: &ArchiveImage) -> Result<()> {
        let config_bytes = self.read_member_bounded(&image.config)?;
        let config_digest = digest_of_bytes(&config_bytes);
        self.by_digest
            .insert(config_digest.clone(), image.config.clone());
        let config_desc = Descriptor::new(
            self.flavor.config_media_type(),
            config_bytes.len() as u64,
            config_digest,
        );
        let mut layers = Vec::new();
        for layer in &image.layers {
            let (_, size) = self.member(layer)?;
            let mut head = [0u8; 4];
            let n = self
                .open_member(layer)?
                .read(&mut head)
                .map_err(|e| StoreError::io(self.path.display().to_string(), e))?;
            let compression = Compression::sniff(&head[..n]);
            let digest = self.member_digest(layer)?;
            self.by_digest.insert(digest.clone(), layer.clone());
            layers.push(Descriptor::new(
                self.flavor.layer_media_type(compression),
                size,
                digest,
            ));
        }
        let manifest = oci::build_manifest(&config_desc, &layers, self.flavor)
            .map_err(|e| archive_err(&self.path, e.to_string()))?;
        let tags = image.repo_tags.clone().unwrap_or_default();
        self.manifests
            .push((manifest.descriptor, manifest.bytes, tags));
        Ok(())
    }

    /// The images in manifest.json.
    pub fn images(&self) -> &[ArchiveImage] {
        &self.images
    }
}

impl BlobSource for DockerArchive {
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>> {
        if let Some((_, bytes, _)) = self.manifests.iter().find(|m| m.0.digest() == digest) {
            return Ok(Box::new(io::Cursor::new(bytes.clone())));
        }
        match self.by_digest.get(digest) {
            Some(name) => Ok(Box::new(self.open_member(name)?)),
            None => Err(StoreError::BlobNotFound(format!(
                "{digest} (in docker-archive {})",
                self.path.display()
            ))),
        }
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool> {
        Ok(self.by_digest.contains_key(digest)
            || self.manifests.iter().any(|m| m.0.digest() == digest))
    }
}

impl ImageSource for DockerArchive {
    fn resolve(&self, name: Option<&str>) -> Result<Descriptor> {
        let found: Vec<&(Descriptor, Vec<u8>, Vec<String>)> = match name {
            Some(name) => self
                .manifests
                .iter()
                .filter(|m| m.2.iter().any(|t| super::same_image_name(t, name)))
                .collect(),
            None => self.manifests.iter().collect(),
        };
        match found.as_slice() {
            [one] => Ok(one.0.clone()),
            [] => Err(StoreError::RefNotFound(format!(
                "docker-archive:{}:{}",
                self.path.display(),
                name.unwrap_or("")
            ))),
            many => Err(archive_err(
                &self.path,
                format!(
                    "{} images; name one of: {}",
                    many.len(),
                    many.iter()
                        .flat_map(|m| m.2.iter().cloned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
}

/// `name` → `name:latest` when it has no tag (what Docker records in RepoTags).
fn normalize_tag(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || name.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// Writes a docker-archive: blobs stream into a temp file beside the target; `finish` adds
/// manifest.json and repositories and renames it into place (a failed write leaves no archive).
pub struct DockerArchiveWriter {
    target: PathBuf,
    builder: Option<tar::Builder<BufWriter<tempfile::NamedTempFile>>>,
    written: HashSet<Digest>,
    images: Vec<ArchiveImage>,
}

impl DockerArchiveWriter {
    pub fn create(target: impl Into<PathBuf>) -> Result<DockerArchiveWriter> {
        let target = target.into();
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".silo-archive-")
            .tempfile_in(&dir)
            .map_err(|e| StoreError::io(dir.display().to_string(), e))?;
        let mut builder = tar::Builder::new(BufWriter::with_capacity(256 * 1024, temp));
        builder.mode(tar::HeaderMode::Deterministic);
        Ok(DockerArchiveWriter {
            target,
            builder: Some(builder),
            written: HashSet::new(),
            images: Vec::new(),
        })
    }

    fn builder(&mut self) -> Result<&mut tar::Builder<BufWriter<tempfile::NamedTempFile>>> {
        self.builder
            .as_mut()
            .ok_or_else(|| StoreError::invalid("docker-archive", "already finished"))
    }

    fn append(&mut self, name: &str, size: u64, data: &mut dyn Read) -> Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        self.builder()?
            .append_data(&mut header, name, data)
            .map_err(|e| StoreError::io(format!("writing {name} to the archive"), e))
    }
}

fn blob_member(digest: &Digest) -> Result<String> {
    Ok(format!("blobs/sha256/{}", sha256_hex(digest)?))
}

impl BlobSink for DockerArchiveWriter {
    fn has_blob(&self, digest: &Digest) -> Result<bool> {
        Ok(self.written.contains(digest))
    }

    fn put_blob(&mut self, digest: &Digest, size: u64, data: &mut dyn Read) -> Result<()> {
        if self.written.contains(digest) {
            return Ok(());
        }
        let name = blob_member(digest)?;
        let mut reader = HashingReader::new(data.take(size));
        self.append(&name, size, &mut reader)?;
        let (actual, read) = reader.finish();
        if read != size {
            self.builder = None; // the archive is unusable now; finish will refuse
            return Err(StoreError::SizeMismatch {
                what: format!("blob {digest}"),
                expected: size,
                actual: read,
            });
        }
        if &actual != digest {
            self.builder = None;
            return Err(StoreError::DigestMismatch {
                what: "blob written to docker-archive".into(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        self.written.insert(digest.clone());
        Ok(())
    }
}

impl ImageSink for DockerArchiveWriter {
    fn put_manifest(
        &mut self,
        descriptor: &Descriptor,
        bytes: &[u8],
        name: Option<&str>,
    ) -> Result<()> {
        let manifest =
            match oci::parse_manifest(bytes, descriptor.digest().as_ref())
                .map_err(|e| StoreError::invalid("docker-archive", e.to_string()))?
            {
                Manifest::Image(m) => m,
                Manifest::Index(_) => return Err(StoreError::invalid(
                    "docker-archive",
                    "a docker-archive holds single-platform images; pick one manifest of the index",
                )),
            };
        let mut members = Vec::new();
        for desc in std::iter::once(manifest.config()).chain(manifest.layers().iter()) {
            if !self.written.contains(desc.digest()) {
                return Err(StoreError::invalid(
                    "docker-archive",
                    format!("blob {} must be written before its manifest", desc.digest()),
                ));
            }
            members.push(blob_member(desc.digest())?);
        }
        let config = members.remove(0);
        self.images.push(ArchiveImage {
            config,
            repo_tags: name.map(|n| vec![normalize_tag(n)]),
            layers: members,
        });
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let manifest_json = serde_json::to_vec(&self.images).expect("serializable");
        self.append(
            "manifest.json",
            manifest_json.len() as u64,
            &mut &manifest_json[..],
        )?;
        // `repositories`: repo → tag → top layer id (the legacy format's way to name images).
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for image in &self.images {
            let top = image
                .layers
                .last()
                .and_then(|l| l.rsplit('/').next())
                .unwrap_or("")
                .to_string();
            for tag in image.repo_tags.iter().flatten() {
                if let Some((repo, tag)) = tag.rsplit_once(':') {
                    repositories
                        .entry(repo.to_string())
                        .or_default()
                        .insert(tag.to_string(), top.clone());
                }
            }
        }
        let repositories = serde_json::to_vec(&repositories).expect("serializable");
        self.append(
            "repositories",
            repositories.len() as u64,
            &mut &repositories[..],
        )?;
        let builder = self
            .builder
            .take()
            .ok_or_else(|| StoreError::invalid("docker-archive", "already finished"))?;
        let buffered = builder
            .into_inner()
            .map_err(|e| StoreError::io("finishing the archive", e))?;
        let temp = buffered
            .into_inner()
            .map_err(|e| StoreError::io("finishing the archive", e.into_error()))?;
        temp.as_file()
            .sync_all()
            .map_err(|e| StoreError::io("fsync of the archive", e))?;
        temp.persist(&self.target)
            .map_err(|e| StoreError::io(self.target.display().to_string(), e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalized() {
        assert_eq!(normalize_tag("a/b"), "a/b:latest");
        assert_eq!(normalize_tag("a/b:1"), "a/b:1");
        assert_eq!(normalize_tag("host:5000/a"), "host:5000/a:latest");
    }
}
