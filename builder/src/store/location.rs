//! Where an image lives locally (`oci:DIR[:tag]`, `docker-archive:FILE[:ref]`, `dir:PATH` or a
//! name in the store) and opening one: resolve the name, pick the Windows manifest of an index, read the
//! manifest and config. This is the API the inspection verbs and `copy` build on; registry refs
//! are the registry client's business.

use std::path::PathBuf;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use registry_client::platform::{self, PlatformRequest, Selection};

use super::blobio::ImageSource;
use super::dir_image::DirImage;
use super::docker_archive::{DockerArchive, DockerArchiveWriter};
use super::oci_layout::OciLayout;
use super::{ImageSink, LockMode, Store, StoreError};
use crate::oci::{self, Flavor, Manifest};
use registry_client::Reference;

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

/// An image location as users type it, for every verb (build bases, pull, push, copy, inspect,
/// layers, ls, diff, registry). The one rule for bare names is [`ImageLocation::locate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageLocation {
    /// A bare name (`app`, `app:1`, `host:5000/team/app:1`). As a source: the store's image when
    /// the store holds that name, else the registry's (see [`ImageLocation::locate`]). As the
    /// destination of `pull`, `build -t` and `base create -t`: a store ref.
    Store(String),
    /// `docker://REF`: the registry, even when the store holds the name.
    Registry(String),
    /// `oci:DIR[:tag]` (the path ends at the first `:` after a Windows drive letter, as in
    /// skopeo; see [`split_path_suffix`]) or `oci:DIR@sha256:…` (then `tag` is `@sha256:…`:
    /// the entry with that manifest digest).
    Oci { dir: PathBuf, tag: Option<String> },
    /// `docker-archive:FILE[:ref]`.
    DockerArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `dir:PATH`: skopeo's directory of one image (see [`super::dir_image`]); the whole rest is
    /// the path (a `dir:` image has no name).
    Dir { path: PathBuf },
}

impl std::fmt::Display for ImageLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let suffix = |n: &Option<String>| match n {
            Some(n) if n.starts_with('@') => n.clone(),
            Some(n) => format!(":{n}"),
            None => String::new(),
        };
        match self {
            ImageLocation::Store(name) => f.write_str(name),
            ImageLocation::Registry(text) => write!(f, "docker://{text}"),
            ImageLocation::Oci { dir, tag } => write!(f, "oci:{}{}", dir.display(), suffix(tag)),
            ImageLocation::DockerArchive { path, reference } => {
                write!(f, "docker-archive:{}{}", path.display(), suffix(reference))
            }
            ImageLocation::Dir { path } => write!(f, "dir:{}", path.display()),
        }
    }
}

/// Where a source location's image is, once the bare-name rule has been applied.
pub enum Located {
    /// In the content store, under this ref (as the store spells it).
    Store(String),
    /// In a registry.
    Registry(RegistryLocation),
    /// In an OCI layout or a docker-archive, under this name.
    Local {
        source: Box<dyn ImageSource + Send + Sync>,
        name: Option<String>,
    },
}

/// A registry image a location names, and how the location got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryLocation {
    pub reference: Reference,
    /// The bare name the user typed when the store did not hold it (`None` for `docker://`).
    pub bare: Option<String>,
}

impl RegistryLocation {
    /// What a failed lookup on the registry was, saying how the location got there: "NAME is
    /// not in the store; looked up REF on the registry" for a bare name, "REF" otherwise.
    pub fn context(&self) -> String {
        match &self.bare {
            Some(name) => format!(
                "{name:?} is not in the store; looked up {} on the registry",
                self.reference
            ),
            None => self.reference.to_string(),
        }
    }

    /// `error` of a lookup on the registry (with its causes), after [`RegistryLocation::context`].
    pub fn failure(&self, error: &(dyn std::error::Error + 'static)) -> String {
        format!(
            "{}: {}",
            self.context(),
            crate::error_text::with_causes(error)
        )
    }
}

/// A registry reference, or an error saying which text it was.
fn parse_reference(text: &str, typed: &str) -> Result<Reference> {
    Reference::parse(text).map_err(|e| StoreError::invalid(typed, e.to_string()))
}

impl ImageLocation {
    /// Parses `docker://REF`, `oci:…`, `docker-archive:…`, `dir:…`; anything else is a bare
    /// name.
    pub fn parse(text: &str) -> Result<ImageLocation> {
        fn split(rest: &str) -> (PathBuf, Option<String>) {
            let (path, name) = split_path_suffix(rest);
            let name = name.filter(|n| !n.is_empty()).map(String::from);
            (PathBuf::from(path), name)
        }
        if let Some(rest) = text.strip_prefix("docker://") {
            if rest.is_empty() {
                return Err(StoreError::invalid(
                    text,
                    "docker:// needs a reference: docker://HOST/REPO[:TAG]",
                ));
            }
            Ok(ImageLocation::Registry(rest.to_string()))
        } else if let Some(rest) = text.strip_prefix("oci:") {
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
        } else if let Some(rest) = text.strip_prefix("dir:") {
            if rest.is_empty() {
                return Err(StoreError::invalid(
                    text,
                    "dir: needs a directory: dir:PATH",
                ));
            }
            Ok(ImageLocation::Dir {
                path: PathBuf::from(rest),
            })
        } else if text.is_empty() {
            Err(StoreError::invalid("image", "empty image reference"))
        } else if let Some((scheme, _)) = text.split_once("://") {
            Err(StoreError::invalid(
                text,
                format!(
                    "unknown transport {scheme}:// (use docker://, oci:, docker-archive: or dir:)"
                ),
            ))
        } else {
            Ok(ImageLocation::Store(text.to_string()))
        }
    }

    /// Whether [`ImageLocation::locate`] needs the store (a bare name does).
    pub fn needs_store(&self) -> bool {
        matches!(self, ImageLocation::Store(_))
    }

    /// The bare-name rule, the one every verb reading an image goes through: `docker://REF` is
    /// the registry; `oci:`/`docker-archive:`/`dir:` are opened; a bare name is the store's image when
    /// the store holds that name ([`Store::find_ref`]: `app`, `app:latest` and
    /// `docker.io/library/app:latest` are one name), else the registry's. `store` is needed
    /// only for bare names ([`ImageLocation::needs_store`]).
    pub fn locate(&self, store: Option<&Store>) -> Result<Located> {
        match self {
            ImageLocation::Store(name) => {
                let store = store.ok_or_else(|| {
                    StoreError::invalid(
                        name.as_str(),
                        "a bare name is looked up in the store first, and no store was opened",
                    )
                })?;
                if let Some((stored, _)) = store.find_ref(name)? {
                    return Ok(Located::Store(stored));
                }
                let reference = Reference::parse(name).map_err(|e| {
                    StoreError::invalid(
                        format!("image {name:?}"),
                        format!("not in the store (see `silo store refs`), and not a registry reference: {e}"),
                    )
                })?;
                Ok(Located::Registry(RegistryLocation {
                    reference,
                    bare: Some(name.clone()),
                }))
            }
            ImageLocation::Registry(text) => Ok(Located::Registry(RegistryLocation {
                reference: parse_reference(text, &format!("docker://{text}"))?,
                bare: None,
            })),
            ImageLocation::Oci { .. }
            | ImageLocation::DockerArchive { .. }
            | ImageLocation::Dir { .. } => {
                let (source, name) = self.open_local(Flavor::Docker)?;
                Ok(Located::Local { source, name })
            }
        }
    }

    /// Opens an `oci:`, `docker-archive:` or `dir:` location for reading; a docker-archive's manifest
    /// (it has none; one is made) is of `archive_flavor`.
    pub fn open_local(
        &self,
        archive_flavor: Flavor,
    ) -> Result<(Box<dyn ImageSource + Send + Sync>, Option<String>)> {
        match self {
            ImageLocation::Oci { dir, tag } => Ok((Box::new(OciLayout::open(dir)?), tag.clone())),
            ImageLocation::DockerArchive { path, reference } => Ok((
                Box::new(DockerArchive::open_as(path, archive_flavor)?),
                reference.clone(),
            )),
            ImageLocation::Dir { path } => Ok((Box::new(DirImage::open(path)?), None)),
            other => Err(StoreError::invalid(
                other.to_string(),
                "not a local location (oci:DIR, docker-archive:FILE or dir:PATH)",
            )),
        }
    }

    /// Opens the location for reading without the bare-name rule: a bare name is a store ref
    /// (`store_root` is `--root`).
    pub fn open_source(
        &self,
        store_root: Option<&std::path::Path>,
    ) -> Result<(Box<dyn ImageSource>, Option<String>)> {
        Ok(match self {
            ImageLocation::Store(name) => (
                Box::new(Store::open_default(store_root, LockMode::Shared)?),
                Some(name.clone()),
            ),
            other => {
                let (source, name) = other.open_local(Flavor::Docker)?;
                (source, name)
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
            ImageLocation::Dir { path } => (Box::new(DirImage::create(path)?), None),
            ImageLocation::Registry(text) => {
                return Err(StoreError::invalid(
                    format!("docker://{text}"),
                    "a registry is not a local destination (push it with `silo push`)",
                ))
            }
        })
    }

    /// Opens the image: see [`OpenedImage`].
    pub fn open_image(&self, store_root: Option<&std::path::Path>) -> Result<OpenedImage> {
        let (source, name) = self.open_source(store_root)?;
        OpenedImage::open(source, name.as_deref())
    }
}

/// Reads the image manifest `top` leads to, each document verified against its digest: `top`
/// itself, or — through an index, and indexes nested in it down to
/// [`registry_client::manifest::MAX_INDEX_DEPTH`] levels — the entry `pick` chooses (given the
/// index's bytes, the parsed index and its digest). Returns the manifest's descriptor, the
/// manifest and its bytes. Errors of the source become `E` through `store_err`. Build bases and
/// [`OpenedImage`] read images through this one walk.
pub fn read_image_manifest<E>(
    source: &dyn ImageSource,
    top: Descriptor,
    store_err: impl Fn(StoreError) -> E,
    mut pick: impl FnMut(&[u8], &ImageIndex, &str) -> Result<Descriptor, E>,
) -> Result<(Descriptor, ImageManifest, Vec<u8>), E> {
    let mut descriptor = top;
    let mut bytes = source.read_blob(descriptor.digest()).map_err(&store_err)?;
    for _ in 0..=registry_client::manifest::MAX_INDEX_DEPTH {
        let digest = descriptor.digest().to_string();
        match oci::parse_manifest(&bytes, &digest)
            .map_err(|e| store_err(StoreError::invalid("manifest", e.to_string())))?
        {
            Manifest::Image(m) => return Ok((descriptor, *m, bytes)),
            Manifest::Index(index) => {
                descriptor = pick(&bytes, &index, &digest)?;
                bytes = source.read_blob(descriptor.digest()).map_err(&store_err)?;
            }
        }
    }
    Err(store_err(StoreError::invalid(
        format!("index {}", descriptor.digest()),
        format!(
            "nested more than {} levels below the image's root; refusing",
            registry_client::manifest::MAX_INDEX_DEPTH
        ),
    )))
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
    /// Resolves `name` in `source`; for an index, picks the windows/amd64 entry with the highest
    /// `os.version` ([`select_index_entry`]); reads manifest and config, verifying their digests.
    pub fn open(source: Box<dyn ImageSource>, name: Option<&str>) -> Result<OpenedImage> {
        let top = source.resolve(name)?;
        let (descriptor, manifest, bytes) =
            read_image_manifest(source.as_ref(), top.clone(), |e| e, pick_windows_entry)?;
        let config_bytes = source.read_blob(manifest.config().digest())?;
        let config = oci::parse_config(&config_bytes, manifest.config().digest().as_ref())
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
            .map(|(desc, diff_id)| Ok((desc.clone(), oci::parse_sha256(diff_id)?)))
            .collect()
    }
}

/// The entry of an index (its bytes and parsed form) that the one platform selector
/// ([`registry_client::platform::select_entries`]: highest `os.version` among the entries
/// matching `want`) chooses, with the verdict on every entry.
pub fn select_index_entry(
    index_bytes: &[u8],
    index: &ImageIndex,
    want: &PlatformRequest,
) -> Result<(Option<Descriptor>, Selection)> {
    let entries =
        platform::entries(index_bytes).map_err(|e| StoreError::invalid("index", e.to_string()))?;
    let selection = platform::select_entries(&entries, want);
    let chosen = selection
        .chosen
        .and_then(|i| index.manifests().get(i).cloned());
    Ok((chosen, selection))
}

/// The windows/amd64 entry of an index with the highest `os.version` ([`select_index_entry`]).
fn pick_windows_entry(index_bytes: &[u8], index: &ImageIndex, digest: &str) -> Result<Descriptor> {
    let (chosen, selection) =
        select_index_entry(index_bytes, index, &PlatformRequest::windows_amd64())?;
    chosen.ok_or_else(|| {
        StoreError::invalid(
            format!("index {digest}"),
            format!("no windows/amd64 entry:\n{}", selection.explain()),
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
            ImageLocation::parse("docker://127.0.0.1:5000/a/b:1").unwrap(),
            ImageLocation::Registry("127.0.0.1:5000/a/b:1".into())
        );
        assert!(ImageLocation::parse("docker://").is_err());
        // dir: takes the whole rest as its path (skopeo's dir: has no name).
        assert_eq!(
            ImageLocation::parse("dir:/tmp/x:v1").unwrap(),
            ImageLocation::Dir {
                path: "/tmp/x:v1".into()
            }
        );
        assert!(ImageLocation::parse("dir:").is_err());
        let err = ImageLocation::parse("ftp://x/y").unwrap_err().to_string();
        assert!(err.contains("unknown transport ftp://"), "{err}");
        assert_eq!(
            ImageLocation::parse("oci:/tmp/x@sha256:ab12").unwrap(),
            ImageLocation::Oci {
                dir: "/tmp/x".into(),
                tag: Some("@sha256:ab12".into())
            }
        );
    }

    /// The bare-name rule: a name the store holds (in any spelling of the same reference) is
    /// the store's; another is the registry's, and its errors say the store was looked in.
    #[test]
    fn bare_names_are_the_stores_when_it_holds_them_else_the_registrys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), LockMode::Shared).unwrap();
        let digest = store.put_blob_bytes(b"{}").unwrap();
        let desc = Descriptor::new(oci_spec::image::MediaType::ImageManifest, 2, digest);
        store
            .set_ref("docker.io/library/pulled:latest", &desc)
            .unwrap();
        store.set_ref("built:1", &desc).unwrap();
        let locate = |text: &str| ImageLocation::parse(text).unwrap().locate(Some(&store));
        for (typed, stored) in [
            ("pulled", "docker.io/library/pulled:latest"),
            ("pulled:latest", "docker.io/library/pulled:latest"),
            ("built:1", "built:1"),
            ("docker.io/library/built:1", "built:1"),
        ] {
            match locate(typed).unwrap() {
                Located::Store(name) => assert_eq!(name, stored, "{typed}"),
                _ => panic!("{typed} should be the store's"),
            }
        }
        let Located::Registry(remote) = locate("127.0.0.1:5000/absent:1").unwrap() else {
            panic!("an absent name is the registry's")
        };
        assert_eq!(remote.bare.as_deref(), Some("127.0.0.1:5000/absent:1"));
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let message = remote.failure(&refused);
        assert!(
            message.contains("is not in the store; looked up 127.0.0.1:5000/absent:1 on the registry: connection refused"),
            "{message}"
        );
        let Located::Registry(remote) = locate("docker://built:1").unwrap() else {
            panic!("docker:// is the registry even when the store holds the name")
        };
        assert_eq!(remote.reference.to_string(), "docker.io/library/built:1");
        assert!(remote.bare.is_none());
        // A bare name needs the store to be looked up in.
        assert!(ImageLocation::parse("built:1")
            .unwrap()
            .locate(None)
            .is_err());
    }
}
