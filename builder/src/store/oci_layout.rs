//! OCI image layout directories (`oci:DIR[:tag]`): `oci-layout`, `index.json` and
//! `blobs/sha256/<hex>`, read and written. Tags are `org.opencontainers.image.ref.name`
//! annotations on index.json entries, the way skopeo and other tools name images in a layout.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageIndexBuilder, MediaType};

use super::blobio::{BlobSink, BlobSource, ImageSink, ImageSource, METADATA_LIMIT};
use super::read_bounded;
use super::{write_file_atomically, StoreError};
use crate::oci::digest::{canonical_json, sha256_hex, HashingWriter};

/// The annotation that names an index.json entry.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

const LAYOUT_FILE_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An OCI image layout directory, open for reading and (after [`OciLayout::create`]) writing.
pub struct OciLayout {
    dir: PathBuf,
    /// index.json as read (or empty for a new layout) plus what was added since.
    index: ImageIndex,
    /// The entries of `index` as JSON, in the same order: rewriting index.json writes these, so
    /// what oci-spec's types do not carry (a platform's `os.version`/`os.features`, which
    /// oci-spec 0.8 names otherwise) is kept as it was written.
    raw_entries: Vec<serde_json::Value>,
}

impl OciLayout {
    /// Opens an existing layout; fails clearly if `dir` is not one.
    pub fn open(dir: impl Into<PathBuf>) -> Result<OciLayout> {
        let dir = dir.into();
        let marker = dir.join("oci-layout");
        let marker_bytes = fs::read(&marker).map_err(|e| {
            StoreError::io(
                format!(
                    "{} is not an OCI image layout (reading oci-layout)",
                    dir.display()
                ),
                e,
            )
        })?;
        let marker_json: serde_json::Value = serde_json::from_slice(&marker_bytes)
            .map_err(|e| StoreError::invalid(marker.display().to_string(), e.to_string()))?;
        if marker_json
            .get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            != Some("1.0.0")
        {
            return Err(StoreError::invalid(
                marker.display().to_string(),
                "imageLayoutVersion is not \"1.0.0\"",
            ));
        }
        let index_path = dir.join("index.json");
        let mut file = File::open(&index_path)
            .map_err(|e| StoreError::io(index_path.display().to_string(), e))?;
        let bytes = read_bounded(&mut file, METADATA_LIMIT, &index_path.display().to_string())?;
        let bad = |e: serde_json::Error| {
            StoreError::invalid(index_path.display().to_string(), e.to_string())
        };
        let index: ImageIndex = serde_json::from_slice(&bytes).map_err(bad)?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(bad)?;
        let raw_entries = doc["manifests"].as_array().cloned().unwrap_or_default();
        Ok(OciLayout {
            dir,
            index,
            raw_entries,
        })
    }

    /// Opens a layout for writing, creating the directory and its skeleton if needed (an existing
    /// layout keeps its other images).
    pub fn create(dir: impl Into<PathBuf>) -> Result<OciLayout> {
        let dir = dir.into();
        if dir.join("oci-layout").exists() {
            return OciLayout::open(dir);
        }
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(|e| StoreError::io(blobs.display().to_string(), e))?;
        write_file_atomically(&dir.join("oci-layout"), LAYOUT_FILE_CONTENT)?;
        let index = empty_index();
        write_file_atomically(&dir.join("index.json"), &canonical_json(&index))?;
        Ok(OciLayout {
            dir,
            index,
            raw_entries: Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entries of index.json.
    pub fn entries(&self) -> &[Descriptor] {
        self.index.manifests()
    }

    fn blob_path(&self, digest: &Digest) -> Result<PathBuf> {
        Ok(self.dir.join("blobs/sha256").join(sha256_hex(digest)?))
    }
}

fn empty_index() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .build()
        .expect("an empty index is valid")
}

/// The ref name of an index.json entry.
pub fn entry_ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME_ANNOTATION))
        .map(String::as_str)
}

impl BlobSource for OciLayout {
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>> {
        let path = self.blob_path(digest)?;
        match File::open(&path) {
            Ok(file) => Ok(Box::new(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::BlobNotFound(
                format!("{digest} (in {})", self.dir.display()),
            )),
            Err(e) => Err(StoreError::io(path.display().to_string(), e)),
        }
    }

    fn blob_file(&self, digest: &Digest) -> Result<Option<PathBuf>> {
        Ok(super::blobio::existing_file(self.blob_path(digest)?))
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool> {
        Ok(self.blob_path(digest)?.exists())
    }
}

impl BlobSink for OciLayout {
    fn has_blob(&self, digest: &Digest) -> Result<bool> {
        BlobSource::has_blob(self, digest)
    }

    fn put_blob(&mut self, digest: &Digest, size: u64, data: &mut dyn Read) -> Result<()> {
        let target = self.blob_path(digest)?;
        let what = format!("blob written to {}", self.dir.display());
        write_blob_file(&target, digest, size, data, &what)
    }

    fn put_blob_file(&mut self, digest: &Digest, size: u64, path: &Path) -> Result<()> {
        let target = self.blob_path(digest)?;
        if target.exists() {
            return Ok(());
        }
        super::blobio::link_verified(path, &target, digest, size)
    }
}

/// Writes the blob `digest` (of `size` bytes) from `data` to the file `target`, unless it is
/// there: through a temporary file beside it, hashed on the way, fsynced, and renamed into place
/// only when digest and size match. For the directories that keep one file per blob (OCI
/// layouts, `dir:` images).
pub(crate) fn write_blob_file(
    target: &Path,
    digest: &Digest,
    size: u64,
    data: &mut dyn Read,
    what: &str,
) -> Result<()> {
    if target.exists() {
        return Ok(());
    }
    let dir = target.parent().expect("blob dir");
    let temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| StoreError::io(dir.display().to_string(), e))?;
    let mut writer = HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, temp));
    io::copy(data, &mut writer).map_err(|e| StoreError::io(format!("blob {digest}"), e))?;
    let (buffered, actual, written) = writer.finish();
    super::check_received(what, digest, &actual, size, written)?;
    let temp = buffered
        .into_inner()
        .map_err(|e| StoreError::io("writing blob", e.into_error()))?;
    temp.as_file()
        .sync_all()
        .map_err(|e| StoreError::io("fsync of blob", e))?;
    temp.persist(target)
        .map_err(|e| StoreError::io(target.display().to_string(), e.error))?;
    Ok(())
}

impl OciLayout {
    /// Drops the untagged entries of the index (written on [`ImageSink::finish`]): a build
    /// output without a name replaces the previous unnamed output, as buildx's does, instead of
    /// adding an untagged twin beside it.
    pub fn remove_untagged(&mut self) {
        self.retain_entries(|d| entry_ref_name(d).is_some());
    }

    /// Sets the `platform` of the entry named `name` (written on [`ImageSink::finish`]) to the
    /// object an index had for it, as written there (`os.version` included): a manifest chosen
    /// from an index keeps what it was chosen by.
    pub fn set_platform(&mut self, name: &str, platform: &serde_json::Value) -> Result<()> {
        let at = self
            .index
            .manifests()
            .iter()
            .position(|d| entry_ref_name(d) == Some(name))
            .ok_or_else(|| StoreError::RefNotFound(format!("oci:{}:{name}", self.dir.display())))?;
        self.raw_entries[at]["platform"] = platform.clone();
        Ok(())
    }

    /// Keeps the index entries (and their JSON) for which `keep` holds.
    fn retain_entries(&mut self, keep: impl Fn(&Descriptor) -> bool) {
        let (kept, raw): (Vec<Descriptor>, Vec<serde_json::Value>) = self
            .index
            .manifests()
            .iter()
            .cloned()
            .zip(self.raw_entries.drain(..))
            .filter(|(d, _)| keep(d))
            .unzip();
        self.index.set_manifests(kept);
        self.raw_entries = raw;
    }
}

impl ImageSource for OciLayout {
    fn resolve(&self, name: Option<&str>) -> Result<Descriptor> {
        let entries = self.index.manifests();
        let found: Vec<&Descriptor> = match name {
            // `@sha256:…` (from `oci:DIR@sha256:…`) names the entry by manifest digest.
            Some(name) if name.starts_with("@sha256:") => entries
                .iter()
                .filter(|d| d.digest().to_string() == name[1..])
                .collect(),
            Some(name) => entries
                .iter()
                .filter(|d| entry_ref_name(d) == Some(name))
                .collect(),
            None => entries.iter().collect(),
        };
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(StoreError::RefNotFound(format!(
                "oci:{}{}",
                self.dir.display(),
                name.map(|n| if n.starts_with('@') {
                    n.to_string()
                } else {
                    format!(":{n}")
                })
                .unwrap_or_default()
            ))),
            many => {
                let names: Vec<String> = many
                    .iter()
                    .map(|d| entry_ref_name(d).unwrap_or("<untagged>").to_string())
                    .collect();
                Err(StoreError::invalid(
                    format!("oci:{}", self.dir.display()),
                    format!(
                        "{} images match; name one of: {}",
                        many.len(),
                        names.join(", ")
                    ),
                ))
            }
        }
    }
}

impl ImageSink for OciLayout {
    fn put_manifest(
        &mut self,
        descriptor: &Descriptor,
        bytes: &[u8],
        name: Option<&str>,
    ) -> Result<()> {
        self.put_blob(descriptor.digest(), descriptor.size(), &mut &bytes[..])?;
        let mut entry = descriptor.clone();
        let mut annotations: HashMap<String, String> =
            entry.annotations().clone().unwrap_or_default();
        if let Some(name) = name {
            annotations.insert(REF_NAME_ANNOTATION.to_string(), name.to_string());
        }
        entry.set_annotations((!annotations.is_empty()).then_some(annotations));
        // A tag names one image: the new entry replaces the old one of the same name; an
        // untagged entry replaces an identical untagged one.
        self.retain_entries(|d| match name {
            Some(name) => entry_ref_name(d) != Some(name),
            None => !(d.digest() == descriptor.digest() && entry_ref_name(d).is_none()),
        });
        let json = serde_json::to_value(&entry)
            .map_err(|e| StoreError::invalid("index entry", e.to_string()))?;
        let mut manifests = self.index.manifests().clone();
        manifests.push(entry);
        self.index.set_manifests(manifests);
        self.raw_entries.push(json);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let mut doc = serde_json::to_value(&self.index)
            .map_err(|e| StoreError::invalid("index.json", e.to_string()))?;
        doc["manifests"] = serde_json::Value::Array(self.raw_entries.clone());
        write_file_atomically(&self.dir.join("index.json"), &canonical_json(&doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::digest_of_bytes;

    #[test]
    fn write_then_read_a_tagged_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layout");
        let mut layout = OciLayout::create(&path).unwrap();
        let bytes = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        let desc = Descriptor::new(
            MediaType::ImageManifest,
            bytes.len() as u64,
            digest_of_bytes(bytes),
        );
        layout.put_manifest(&desc, bytes, Some("v1")).unwrap();
        layout.put_manifest(&desc, bytes, Some("v2")).unwrap();
        layout.finish().unwrap();

        let reopened = OciLayout::open(&path).unwrap();
        assert_eq!(reopened.entries().len(), 2);
        let found = reopened.resolve(Some("v1")).unwrap();
        assert_eq!(found.digest(), desc.digest());
        assert_eq!(reopened.read_blob(desc.digest()).unwrap(), bytes);
        assert!(reopened.resolve(Some("v3")).is_err());
        assert!(
            reopened.resolve(None).is_err(),
            "two entries: a name is needed"
        );
    }

    #[test]
    fn open_refuses_a_plain_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = OciLayout::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("not an OCI image layout"), "{err}");
    }

    /// Rewriting index.json keeps what oci-spec's types drop (`os.version`, which oci-spec 0.8
    /// names `os_version`), for entries read from an existing layout and for new ones.
    #[test]
    fn rewriting_the_index_keeps_platform_os_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layout");
        let bytes = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        let desc = Descriptor::new(
            MediaType::ImageManifest,
            bytes.len() as u64,
            digest_of_bytes(bytes),
        );
        let platform = serde_json::json!({"os": "windows", "architecture": "amd64", "os.version": "10.0.20348.2700"});
        let mut layout = OciLayout::create(&path).unwrap();
        layout.put_manifest(&desc, bytes, Some("v1")).unwrap();
        layout.set_platform("v1", &platform).unwrap();
        layout.finish().unwrap();
        let mut layout = OciLayout::open(&path).unwrap();
        layout.put_manifest(&desc, bytes, Some("v2")).unwrap();
        layout.finish().unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path.join("index.json")).unwrap()).unwrap();
        let entries = index["manifests"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["platform"]["os.version"], "10.0.20348.2700");
        assert_eq!(entries[0]["annotations"][REF_NAME_ANNOTATION], "v1");
    }
}
