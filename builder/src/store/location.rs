//! Where an image lives locally (`oci:DIR[:tag]`, `docker-archive:FILE[:ref]` or a name in the
//! store) and opening one: resolve the name, pick the Windows manifest of an index, read the
//! manifest and config. This is the API the inspection verbs and `copy` build on; registry refs
//! are the registry client's business.

use std::path::PathBuf;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest, Os};

use super::blobio::ImageSource;
use super::docker_archive::{DockerArchive, DockerArchiveWriter};
use super::oci_layout::OciLayout;
use super::{ImageSink, LockMode, Store, StoreError};
use crate::image::{self, Manifest};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Splits `PATH[:SUFFIX]` (the part after `oci:` or `docker-archive:`) at the first `:` that
/// ends the path. On Windows a drive letter's colon (`C:\dir`, `C:/dir`) belongs to the path,
/// as containers/image's `splitPathAndImageWindows` has it; elsewhere the first `:` ends it.
pub fn split_path_suffix(rest: &str) -> (&str, Option<&str>) {
    split_path_suffix_for(rest, cfg!(windows))
}

fn split_path_suffix_for(rest: &str, windows: bool) -> (&str, Option<&str>) {
    let b = rest.as_bytes();
    let drive = windows
        && b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && matches!(b[2], b'\\' | b'/');
    let skip = if drive { 2 } else { 0 };
    match rest[skip..].find(':') {
        Some(at) => (&rest[..skip + at], Some(&rest[skip + at + 1..])),
        None => (rest, None),
    }
}

/// A local image location as users type it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageLocation {
    /// A ref in the content store.
    Store(String),
    /// `oci:DIR[:tag]` (the path ends at the first `:` after a Windows drive letter, as in
    /// skopeo; see [`split_path_suffix`]) or `oci:DIR@sha256:…` (then `tag` is `@sha256:…`:
    /// the entry with that manifest digest).
    Oci { dir: PathBuf, tag: Option<String> },
    /// `docker-archive:FILE[:ref]`.
    DockerArchive {
        path: PathBuf,
        reference: Option<String>,
    },
}

impl ImageLocation {
    /// Parses `oci:…`, `docker-archive:…`; anything else is a store ref.
    pub fn parse(text: &str) -> Result<ImageLocation> {
        fn split(rest: &str) -> (PathBuf, Option<String>) {
            let (path, name) = split_path_suffix(rest);
            let name = name.filter(|n| !n.is_empty()).map(String::from);
            (PathBuf::from(path), name)
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            // `oci:DIR@sha256:…` selects by manifest digest (kept as the name `@sha256:…`).
            let (dir, tag) = match rest.rsplit_once("@sha256:") {
                Some((dir, hex)) => (PathBuf::from(dir), Some(format!("@sha256:{hex}"))),
                None => split(rest),
            };
            if dir.as_os_str().is_empty() {
                return Err(StoreError::invalid(
                    text,
                    "oci: needs a directory: oci:DIR[:tag]",
                ));
            }
            Ok(ImageLocation::Oci { dir, tag })
        } else if let Some(rest) = text.strip_prefix("docker-archive:") {
            let (path, reference) = split(rest);
            if path.as_os_str().is_empty() {
                return Err(StoreError::invalid(
                    text,
                    "docker-archive: needs a file: docker-archive:FILE[:ref]",
                ));
            }
            Ok(ImageLocation::DockerArchive { path, reference })
        } else if text.is_empty() {
            Err(StoreError::invalid("image", "empty image reference"))
        } else {
            Ok(ImageLocation::Store(text.to_string()))
        }
    }

    /// Opens the location for reading. `store_root` is `--root` (store refs only).
    pub fn open_source(
        &self,
        store_root: Option<&std::path::Path>,
    ) -> Result<(Box<dyn ImageSource>, Option<String>)> {
        Ok(match self {
            ImageLocation::Store(name) => (
                Box::new(Store::open_default(store_root, LockMode::Shared)?),
                Some(name.clone()),
            ),
            ImageLocation::Oci { dir, tag } => (Box::new(OciLayout::open(dir)?), tag.clone()),
            ImageLocation::DockerArchive { path, reference } => {
                (Box::new(DockerArchive::open(path)?), reference.clone())
            }
        })
    }

    /// Opens the location for writing; the name to record images under comes with it.
    pub fn open_sink(
        &self,
        store_root: Option<&std::path::Path>,
    ) -> Result<(Box<dyn ImageSink>, Option<String>)> {
        Ok(match self {
            ImageLocation::Store(name) => (
                Box::new(Store::open_default(store_root, LockMode::Shared)?),
                Some(name.clone()),
            ),
            ImageLocation::Oci { dir, tag } => (Box::new(OciLayout::create(dir)?), tag.clone()),
            ImageLocation::DockerArchive { path, reference } => (
                Box::new(DockerArchiveWriter::create(path)?),
                reference.clone(),
            ),
        })
    }

    /// Opens the image: see [`OpenedImage`].
    pub fn open_image(&self, store_root: Option<&std::path::Path>) -> Result<OpenedImage> {
        let (source, name) = self.open_source(store_root)?;
        OpenedImage::open(source, name.as_deref())
    }
}

/// An image opened from a local location: its manifest, config and the source of its blobs
/// (layers are read on demand through [`OpenedImage::source`]).
pub struct OpenedImage {
    pub source: Box<dyn ImageSource>,
    /// The descriptor the name resolved to (an index when the image is multi-platform).
    pub top: Descriptor,
    /// The image manifest's descriptor (== `top` for single-platform images).
    pub manifest_descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub manifest_bytes: Vec<u8>,
    pub config: ImageConfiguration,
    pub config_bytes: Vec<u8>,
}

impl OpenedImage {
    /// Resolves `name` in `source`; for an index, picks the Windows entry (the only entry when
    /// there is just one); reads manifest and config, verifying their digests.
    pub fn open(source: Box<dyn ImageSource>, name: Option<&str>) -> Result<OpenedImage> {
        let top = source.resolve(name)?;
        let mut descriptor = top.clone();
        let mut bytes = source.read_blob(descriptor.digest())?;
        let manifest = loop {
            match image::parse_manifest(&bytes, descriptor.digest().as_ref())
                .map_err(|e| StoreError::invalid("manifest", e.to_string()))?
            {
                Manifest::Image(m) => break *m,
                Manifest::Index(index) => {
                    descriptor =
                        pick_windows_entry(index.manifests(), descriptor.digest().as_ref())?;
                    bytes = source.read_blob(descriptor.digest())?;
                }
            }
        };
        let config_bytes = source.read_blob(manifest.config().digest())?;
        let config = image::parse_config(&config_bytes, manifest.config().digest().as_ref())
            .map_err(|e| StoreError::invalid("config", e.to_string()))?;
        Ok(OpenedImage {
            source,
            top,
            manifest_descriptor: descriptor,
            manifest,
            manifest_bytes: bytes,
            config,
            config_bytes,
        })
    }

    /// The layers with their diff_ids, in order (base first).
    pub fn layers(&self) -> Result<Vec<(Descriptor, oci_spec::image::Digest)>> {
        let diff_ids = self.config.rootfs().diff_ids();
        if diff_ids.len() != self.manifest.layers().len() {
            return Err(StoreError::invalid(
                format!("image {}", self.manifest_descriptor.digest()),
                format!(
                    "manifest has {} layers but the config lists {} diff_ids",
                    self.manifest.layers().len(),
                    diff_ids.len()
                ),
            ));
        }
        self.manifest
            .layers()
            .iter()
            .zip(diff_ids)
            .map(|(desc, diff_id)| Ok((desc.clone(), super::parse_sha256(diff_id)?)))
            .collect()
    }
}

/// The Windows entry of an index; with several, the first one (platform choice by os.version is
/// the caller's refinement).
fn pick_windows_entry(entries: &[Descriptor], index: &str) -> Result<Descriptor> {
    if let [only] = entries {
        return Ok(only.clone());
    }
    entries
        .iter()
        .find(|d| {
            d.platform()
                .as_ref()
                .map(|p| p.os() == &Os::Windows)
                .unwrap_or(false)
        })
        .cloned()
        .ok_or_else(|| {
            StoreError::invalid(
                format!("index {index}"),
                "no windows entry among its manifests",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// silo.exe took `oci:Z:\dir:tag` for the directory `Z` (found running it under Wine,
    /// tests/windows_exe.rs): on Windows a drive letter's colon is part of the path, as in
    /// containers/image's `splitPathAndImageWindows`.
    #[test]
    fn a_windows_drive_letter_is_part_of_the_path() {
        let windows = |s| split_path_suffix_for(s, true);
        assert_eq!(windows(r"C:\img\layout:v1"), (r"C:\img\layout", Some("v1")));
        assert_eq!(windows("C:/img/layout"), ("C:/img/layout", None));
        assert_eq!(windows("layout:v1"), ("layout", Some("v1")));
        // A one-letter relative directory with a tag is still that.
        assert_eq!(windows("d:v1"), ("d", Some("v1")));
        let linux = |s| split_path_suffix_for(s, false);
        assert_eq!(linux(r"C:\img:v1"), ("C", Some(r"\img:v1")));
        assert_eq!(linux("/srv/layout:v1"), ("/srv/layout", Some("v1")));
    }

    #[test]
    fn parse_locations() {
        assert_eq!(
            ImageLocation::parse("oci:/tmp/x:v1").unwrap(),
            ImageLocation::Oci {
                dir: "/tmp/x".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            ImageLocation::parse("docker-archive:a.tar:repo/x:tag").unwrap(),
            ImageLocation::DockerArchive {
                path: "a.tar".into(),
                reference: Some("repo/x:tag".into())
            }
        );
        assert_eq!(
            ImageLocation::parse("example.com/a:b").unwrap(),
            ImageLocation::Store("example.com/a:b".into())
        );
        assert!(ImageLocation::parse("oci:").is_err());
        assert_eq!(
            ImageLocation::parse("oci:/tmp/x@sha256:ab12").unwrap(),
            ImageLocation::Oci {
                dir: "/tmp/x".into(),
                tag: Some("@sha256:ab12".into())
            }
        );
    }
}
