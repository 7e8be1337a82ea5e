//! `--push` / `--output type=registry`: uploads a build result to the registry of every `-t` tag
//! through the registry client. Base layers never travel through this machine: a layer of a
//! registry base is found present (same repository), mounted from the base's repository (same
//! registry), and only streamed registry-to-registry when the destination is another registry;
//! foreign layers keep their urls and are not uploaded.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use oci_spec::image::Digest;
use registry_client::blobdir::BlobDir;
use registry_client::transfer::BlobStream;
use registry_client::{
    BlobRef, BlobSource, ForeignPolicy, ImageToPush, PushOptions, RawManifest, Reference,
};

use crate::build::engine::BuildResult;
use crate::build::sources::base::BlobHome;
use crate::store::registry_source::RegistryAccess;
use crate::store::{Store, StoreError};

/// One tag pushed.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub reference: String,
    pub digest: String,
    pub uploaded: usize,
    pub mounted: usize,
    pub present: usize,
    pub skipped_foreign: usize,
}

/// Where the push reads each blob from.
struct BuildBlobs {
    /// Configs and manifests the build made (small; they may not be in the store).
    memory: HashMap<Digest, Bytes>,
    /// Layers of registry bases: the registry they live in.
    remote: HashMap<Digest, Reference>,
    /// Everything else: the content store.
    store: BlobDir,
    access: Arc<RegistryAccess>,
}

impl BlobSource for BuildBlobs {
    fn open(
        &self,
        blob: &BlobRef,
        offset: u64,
    ) -> BoxFuture<'_, registry_client::Result<BlobStream>> {
        if let Some(bytes) = self.memory.get(&blob.digest) {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let rest = bytes.slice(start..);
            return Box::pin(async move {
                let stream: BlobStream = Box::pin(futures::stream::once(async move { Ok(rest) }));
                Ok(stream)
            });
        }
        if let Some(origin) = self.remote.get(&blob.digest) {
            let client = self.access.client.clone();
            let origin = origin.clone();
            let blob = blob.clone();
            return Box::pin(async move { client.open_blob(&origin, &blob, offset).await });
        }
        self.store.open(blob, offset)
    }
}

fn raw(
    what: &str,
    digest: &str,
    bytes: &[u8],
    media_type: &str,
) -> Result<RawManifest, StoreError> {
    RawManifest::from_bytes(digest, bytes.to_vec(), Some(media_type))
        .map_err(|e| StoreError::invalid(what, e.to_string()))
}

/// Pushes `result` to every tag. Layers that live only in an OCI layout or a docker-archive are
/// copied into the store first (they are local; the upload streams from there). The upload runs
/// on the command's registry `access`.
pub fn push(
    store: &Store,
    result: &BuildResult,
    tags: &[String],
    access: &Arc<RegistryAccess>,
) -> Result<Vec<Pushed>, StoreError> {
    let mut memory = HashMap::new();
    let mut remote = HashMap::new();
    let mut children = HashMap::new();
    for image in &result.images {
        memory.insert(
            image.config_descriptor.digest().clone(),
            Bytes::from(image.config_bytes.clone()),
        );
        for layer in &image.layers {
            match &layer.home {
                BlobHome::Store => {}
                BlobHome::Source(_) => {
                    layer.home.ensure_in_store(store, &layer.descriptor)?;
                }
                BlobHome::Registry(base) => {
                    remote.insert(layer.descriptor.digest().clone(), base.reference().clone());
                }
            }
        }
        let m = &image.manifest_descriptor;
        let manifest = raw(
            "built manifest",
            m.digest().as_ref(),
            &image.manifest_bytes,
            m.media_type().as_ref(),
        )?;
        memory.insert(
            m.digest().clone(),
            Bytes::from(image.manifest_bytes.clone()),
        );
        children.insert(manifest.digest.clone(), manifest);
    }
    let (top, top_bytes) = result.top();
    let root = raw(
        "built image",
        top.digest().as_ref(),
        top_bytes,
        top.media_type().as_ref(),
    )?;
    if !root.is_index() {
        children.clear();
    }
    let image = ImageToPush { root, children };
    let source = Arc::new(BuildBlobs {
        memory,
        remote: remote.clone(),
        store: store.pull_blobs(),
        access: access.clone(),
    });
    let mut pushed = Vec::new();
    for tag in tags {
        let dest = Reference::parse(tag.strip_prefix("docker://").unwrap_or(tag))
            .and_then(|r| access.client.push_target(&r)) // registries.conf's location
            .map_err(|e| StoreError::invalid(format!("push destination {tag}"), e.to_string()))?;
        // Mount candidates: the base repositories on the destination's registry.
        let mut mount_from: Vec<String> = remote
            .values()
            .filter(|r| r.registry() == dest.registry())
            .map(|r| r.repository().to_string())
            .collect();
        mount_from.sort();
        mount_from.dedup();
        let options = PushOptions {
            foreign: ForeignPolicy::Skip,
            mount_from,
        };
        let report = access
            .block_on(access.client.push(&dest, &image, source.clone(), &options))
            .map_err(|e| StoreError::invalid(format!("pushing {tag}"), e.to_string()))?;
        pushed.push(Pushed {
            reference: tag.clone(),
            digest: report.digest,
            uploaded: report.uploaded,
            mounted: report.mounted,
            present: report.present,
            skipped_foreign: report.skipped_foreign,
        });
    }
    Ok(pushed)
}
