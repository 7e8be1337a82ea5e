//! A source image opened by its location ([`open_source_image`]): a registry image stays a
//! reference (the registry client reads it), a local one — a store ref, an `oci:` layout, a
//! docker-archive — becomes a [`LocalImage`]: its root manifest and every manifest below an
//! index, read once and verified, in the registry client's form ([`ImageToPush`]) so that push,
//! copy and inspect treat local and registry images alike. Also: choosing one platform of a
//! local image (the registry client's selector), and copying it into any [`ImageSink`]
//! ([`copy_image`]); a push streams its blobs through [`super::blobio::PushBlobs`].

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use futures::future::BoxFuture;
use oci_spec::image::Descriptor;
use registry_client::manifest::{blobs_of, BlobRef, RawManifest};
use registry_client::platform::{self, Selection};
use registry_client::walk::{walk, Follow, ManifestReader};
use registry_client::{ImageToPush, PlatformRequest};
use serde_json::Value;

use super::location::{ImageLocation, Located, RegistryLocation};
use super::{ImageSink, ImageSource, LockMode, Store, StoreError};
use crate::oci::{parse_sha256, Flavor};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A source image after the bare-name rule.
pub enum SourceImage {
    /// A registry image (`docker://REF`, or a bare name the store does not hold).
    Registry(RegistryLocation),
    /// A store, `oci:` or docker-archive image.
    Local(LocalImage),
}

/// Opens the image `location` names for reading, by the bare-name rule
/// ([`ImageLocation::locate`]); the store (`store_root`, `--root`) is opened only for a bare
/// name. A docker-archive's synthesized manifest is of `archive_flavor`.
pub fn open_source_image(
    location: &ImageLocation,
    store_root: Option<&Path>,
    archive_flavor: Flavor,
) -> Result<SourceImage> {
    let store = if location.needs_store() {
        Some(Store::open_default(store_root, LockMode::Shared)?)
    } else {
        None
    };
    let (source, name): (Box<dyn ImageSource + Send + Sync>, Option<String>) = match location {
        ImageLocation::Oci { .. }
        | ImageLocation::DockerArchive { .. }
        | ImageLocation::Dir { .. } => location.open_local(archive_flavor)?,
        _ => match location.locate(store.as_ref())? {
            Located::Registry(remote) => return Ok(SourceImage::Registry(remote)),
            Located::Store(name) => (Box::new(store.expect("a bare name opened it")), Some(name)),
            Located::Local { source, name } => (source, name),
        },
    };
    let image = LocalImage::open(Arc::from(source), name, location.to_string())?;
    Ok(SourceImage::Local(image))
}

/// A local image: where its blobs are, its manifests, and how it was named.
pub struct LocalImage {
    pub source: Arc<dyn ImageSource + Send + Sync>,
    pub tree: ImageToPush,
    /// Its name inside the source (store ref, layout tag, archive RepoTag).
    pub name: Option<String>,
    /// The location as the user gave it, for messages.
    pub what: String,
}

impl LocalImage {
    /// Resolves `name` in `source` and reads the manifest tree below it.
    pub fn open(
        source: Arc<dyn ImageSource + Send + Sync>,
        name: Option<String>,
        what: String,
    ) -> Result<LocalImage> {
        let top = source.resolve(name.as_deref())?;
        let tree = manifest_tree(source.as_ref(), &top, &what)?;
        Ok(LocalImage {
            source,
            tree,
            name,
            what,
        })
    }

    /// One image manifest for `want`: the root when it is one, else the index entry the
    /// registry client's selector picks ([`select_platform`]).
    pub fn select(&self, want: &PlatformRequest) -> Result<Chosen> {
        select_platform(&self.tree, want, &self.what)
    }
}

fn client_error(what: &str, e: registry_client::Error) -> StoreError {
    StoreError::invalid(what, e.to_string())
}

/// The manifests of a local image source (the store, an OCI layout, a docker-archive) as the
/// registry client's [`ManifestReader`], so local trees are walked by the same walk as registry
/// ones. Reads are synchronous: the futures are ready when made.
struct LocalManifests<'a> {
    source: &'a dyn ImageSource,
    what: &'a str,
}

impl ManifestReader for LocalManifests<'_> {
    type Error = StoreError;

    fn read_manifest<'a>(
        &'a self,
        digest: &'a str,
        media_type: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RawManifest>> {
        let read = parse_sha256(digest)
            .map_err(StoreError::from)
            .and_then(|d| self.source.read_blob(&d))
            .and_then(|bytes| {
                RawManifest::from_bytes(digest, bytes, media_type)
                    .map_err(|e| client_error(self.what, e))
            });
        Box::pin(std::future::ready(read))
    }

    fn location(&self) -> String {
        self.what.to_string()
    }

    fn error(&self, e: registry_client::Error) -> StoreError {
        client_error(self.what, e)
    }
}

/// The manifest `top` names and, for an index, every manifest below it (nested indexes
/// included, down to [`registry_client::manifest::MAX_INDEX_DEPTH`] levels), each read once and verified.
pub fn manifest_tree(
    source: &dyn ImageSource,
    top: &Descriptor,
    what: &str,
) -> Result<ImageToPush> {
    let reader = LocalManifests { source, what };
    let root = futures::executor::block_on(
        reader.read_manifest(top.digest().as_ref(), Some(top.media_type().as_ref())),
    )?;
    let children = futures::executor::block_on(walk(&reader, &root, Follow::All))?;
    Ok(ImageToPush { root, children })
}

/// One platform's manifest of an image.
pub struct Chosen {
    pub manifest: RawManifest,
    /// The index entry's `platform` object as the index has it (keeps `os.version`).
    pub platform_json: Option<Value>,
    /// The verdict on every entry (`None` when the image is a single manifest).
    pub selection: Option<Selection>,
}

/// The image manifest of `image` for `want`: the root itself when it is one, else the entry
/// [`registry_client::platform::select_entries`] chooses among the leaves of the index (nested
/// indexes flattened) — the same selector and os.version policy as pulls and build bases.
pub fn select_platform(image: &ImageToPush, want: &PlatformRequest, what: &str) -> Result<Chosen> {
    if !image.root.is_index() {
        return Ok(Chosen {
            manifest: image.root.clone(),
            platform_json: None,
            selection: None,
        });
    }
    let nested = |d: &str| image.children.get(d).filter(|m| m.is_index());
    let leaves =
        platform::leaf_entries(&image.root, what, &nested).map_err(|e| client_error(what, e))?;
    let flat: Vec<_> = leaves
        .iter()
        .map(|l| (l.digest.clone(), l.platform.clone()))
        .collect();
    let selection = platform::select_entries(&flat, want);
    let Some(i) = selection.chosen else {
        return Err(StoreError::invalid(
            what,
            format!("no manifest fits {want}:\n{}", selection.explain()),
        ));
    };
    let leaf = &leaves[i];
    let manifest = image
        .children
        .get(&leaf.digest)
        .ok_or_else(|| StoreError::invalid(what, format!("manifest {} is missing", leaf.digest)))?;
    Ok(Chosen {
        manifest: manifest.clone(),
        platform_json: leaf.platform_json.clone(),
        selection: Some(selection),
    })
}

/// An image of one manifest (a chosen platform).
pub fn single(root: RawManifest) -> ImageToPush {
    ImageToPush {
        root,
        children: HashMap::new(),
    }
}

/// Every distinct config and layer blob of `image`'s image manifests.
fn blobs_of_tree(image: &ImageToPush, what: &str) -> Result<Vec<BlobRef>> {
    let mut blobs: Vec<BlobRef> = Vec::new();
    let manifests = std::iter::once(&image.root).chain(image.children.values());
    for m in manifests.filter(|m| !m.is_index()) {
        let (config, layers) = blobs_of(&m.image().map_err(|e| client_error(what, e))?);
        for b in std::iter::once(config).chain(layers) {
            if !blobs.iter().any(|x| x.digest == b.digest) {
                blobs.push(b);
            }
        }
    }
    Ok(blobs)
}

/// What [`copy_image`] did.
#[derive(Debug, Default)]
pub struct Copied {
    /// Blobs written.
    pub copied: usize,
    /// Blobs the destination already had.
    pub present: usize,
    /// Foreign layers the source does not hold, left out (their manifests keep the urls).
    pub foreign_left_out: Vec<String>,
}

/// Copies `image` (blobs first, then manifests, inner ones before the root) from `source` into
/// `sink`, naming the root `name`. Blob files are hard-linked where both sides are directories on one
/// filesystem (after their digest is checked); every blob is verified on the way in. Call
/// [`ImageSink::finish`] afterwards.
pub fn copy_image(
    source: &dyn ImageSource,
    image: &ImageToPush,
    sink: &mut dyn ImageSink,
    name: Option<&str>,
    what: &str,
) -> Result<Copied> {
    let mut report = Copied::default();
    for blob in blobs_of_tree(image, what)? {
        let digest = &blob.digest;
        if sink.has_blob(digest)? {
            report.present += 1;
            continue;
        }
        if blob.is_foreign() && !source.has_blob(digest)? {
            report.foreign_left_out.push(blob.digest.to_string());
            continue;
        }
        match source.blob_file(digest)? {
            Some(path) => sink.put_blob_file(digest, blob.size, &path)?,
            None => {
                let mut reader: Box<dyn Read + Send + '_> = source.open_blob(digest)?;
                sink.put_blob(digest, blob.size, &mut reader)?;
            }
        }
        report.copied += 1;
    }
    for m in image.children.values() {
        sink.put_blob(
            &parse_sha256(&m.digest)?,
            m.bytes.len() as u64,
            &mut &m.bytes[..],
        )?;
    }
    let root = descriptor_of(&image.root)?;
    sink.put_manifest(&root, &image.root.bytes, name)?;
    Ok(report)
}

/// The descriptor of a manifest the registry client holds.
pub fn descriptor_of(m: &RawManifest) -> Result<Descriptor> {
    Ok(Descriptor::new(
        oci_spec::image::MediaType::from(m.media_type.as_str()),
        m.bytes.len() as u64,
        parse_sha256(&m.digest)?,
    ))
}
