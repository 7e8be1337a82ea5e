//! `silo copy SRC DEST` between every pair of transports (`docker://`/bare reference, `oci:DIR[:tag]`,
//! `docker-archive:FILE[:ref]`):
//! - registry → registry streams blobs without touching disk (and mounts within one registry);
//! - registry → `oci:` pulls (a whole index, nested indexes included, unless `--platform`);
//! - `oci:`/`docker-archive:` → registry push;
//! - local → local copies blobs verified (hard links between layouts where possible), keeps the
//!   index entry's platform and names the result;
//! - anything → `docker-archive:` writes one platform's image (`--platform`, default the newest
//!   windows/amd64 entry), because the `docker save` format has no index.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use registry_client::blobdir::BlobDir;
use registry_client::manifest::{blobs_of, BlobRef, RawManifest};
use registry_client::{BlobSink, BlobSource, ImageToPush, PlatformRequest};
use sha2::Digest as _;

use super::push::{open_local, print_report, ForeignOpts};
use super::transport::{
    chosen_platform, runtime, select_local, write_docker_archive, ArchiveSource, CliProgress,
    OciLayout, RegistryOpts, Transport,
};
use super::Globals;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub source: String,
    pub destination: String,
    /// Copy only this platform's manifest (os/arch[:os.version]) instead of a whole index.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub foreign: ForeignOpts,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

pub fn run(_globals: &Globals, args: Args) -> Result<ExitCode> {
    let src = Transport::parse(&args.source)?;
    let dest = Transport::parse(&args.destination)?;
    let platform = args
        .platform
        .as_deref()
        .map(PlatformRequest::parse)
        .transpose()?;
    let progress = args.registry.progress();
    let opts = args.foreign.options();
    let rt = runtime()?;
    let digest = match (src, dest) {
        (Transport::Registry(s), Transport::Registry(d)) => {
            let client = args
                .registry
                .client(&[s.registry(), d.registry()], progress.clone())?;
            let report = rt.block_on(client.copy(&s, &d, platform.as_ref(), &opts))?;
            print_report(&progress, &d.to_string(), &report);
            report.digest
        }
        (Transport::Registry(s), Transport::Oci { dir, tag }) => {
            let client = args.registry.client(&[s.registry()], progress.clone())?;
            let layout = OciLayout::new(dir);
            layout.init()?;
            let tag = tag.unwrap_or_else(|| s.manifest_ref().to_string());
            let sink = Arc::new(layout.blobs());
            // One platform with --platform, else the whole index (as registry→registry does).
            let (manifest, platform_json) = match &platform {
                Some(want) => {
                    let resolved = rt.block_on(client.resolve(&s, want))?;
                    rt.block_on(client.pull_resolved(&resolved, sink))?;
                    let p = chosen_platform(&resolved);
                    (resolved.manifest, p)
                }
                None => (rt.block_on(client.pull_all(&s, sink))?, None),
            };
            layout.tag(&tag, &manifest, platform_json)?;
            manifest.digest
        }
        (Transport::Registry(s), Transport::DockerArchive { file, reference }) => {
            let client = args.registry.client(&[s.registry()], progress.clone())?;
            let want = platform.unwrap_or_else(PlatformRequest::windows_amd64);
            let resolved = rt.block_on(client.resolve(&s, &want))?;
            // The archive is assembled from files; stage the blobs beside it.
            let staging = staging_dir(&file)?;
            let blobs = BlobDir::new(staging.path().join("blobs"));
            rt.block_on(client.pull_resolved(&resolved, Arc::new(blobs.clone())))?;
            let name = reference.unwrap_or_else(|| s.to_string());
            write_docker_archive(&file, &blobs, &resolved.manifest, Some(&name))?;
            resolved.manifest.digest
        }
        (
            local @ (Transport::Oci { .. } | Transport::DockerArchive { .. }),
            Transport::Registry(d),
        ) => {
            let (image, source) = open_local(local)?;
            let client = args.registry.client(&[d.registry()], progress.clone())?;
            let report = rt.block_on(client.push(&d, &image, source, &opts))?;
            print_report(&progress, &d.to_string(), &report);
            report.digest
        }
        (src, Transport::Oci { dir, tag }) => {
            let local = LocalImage::open(&src)?;
            let layout = OciLayout::new(dir);
            layout.init()?;
            let (mut image, platform_json) = match &platform {
                Some(want) => {
                    let (m, p) = select_local(&local.image, want, &local.name)?;
                    (single(m), p)
                }
                None => (local.image.clone(), None),
            };
            if local.synthesized {
                image = single(as_oci_manifest(&image.root)?);
            }
            let dest = layout.blobs();
            rt.block_on(copy_blobs(&image, &local.blobs, &dest, &progress))?;
            let tag = tag
                .or_else(|| local.tag.clone())
                .unwrap_or_else(|| "latest".into());
            layout.tag(&tag, &image.root, platform_json)?;
            image.root.digest
        }
        (src, Transport::DockerArchive { file, reference }) => {
            let local = LocalImage::open(&src)?;
            let want = platform.unwrap_or_else(PlatformRequest::windows_amd64);
            let (manifest, _) = select_local(&local.image, &want, &local.name)?;
            let name = reference.or_else(|| local.tag.clone());
            match &local.blobs {
                // A layout's blob files go into the archive as they are.
                LocalBlobs::Dir(dir) => {
                    let image = single(manifest.clone());
                    rt.block_on(verify_present(&image, dir))?;
                    write_docker_archive(&file, dir, &manifest, name.as_deref())?;
                }
                LocalBlobs::Stream(_) => {
                    let staging = staging_dir(&file)?;
                    let blobs = BlobDir::new(staging.path().join("blobs"));
                    let image = single(manifest.clone());
                    rt.block_on(copy_blobs(&image, &local.blobs, &blobs, &progress))?;
                    write_docker_archive(&file, &blobs, &manifest, name.as_deref())?;
                }
            }
            manifest.digest
        }
    };
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

/// An image with one manifest.
fn single(root: RawManifest) -> ImageToPush {
    ImageToPush {
        root,
        children: Default::default(),
    }
}

/// The OCI form of a Docker v2s2 manifest silo made for a docker-archive: same config and layer
/// bytes, OCI media types — OCI layout readers (skopeo's `oci:` among them) only take OCI
/// manifests from `index.json`. The manifest digest is new (it was never published).
fn as_oci_manifest(m: &RawManifest) -> Result<RawManifest> {
    use registry_client::manifest::{DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_MANIFEST};
    if m.media_type != DOCKER_MANIFEST {
        return Ok(m.clone());
    }
    let mut doc: serde_json::Value = serde_json::from_slice(&m.bytes)?;
    doc["mediaType"] = OCI_MANIFEST.into();
    doc["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    for l in doc["layers"].as_array_mut().into_iter().flatten() {
        let oci = if l["mediaType"] == DOCKER_LAYER_GZIP {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        } else {
            "application/vnd.oci.image.layer.v1.tar"
        };
        l["mediaType"] = oci.into();
    }
    let bytes = serde_json::to_vec_pretty(&doc)?;
    Ok(RawManifest::from_bytes(&m.digest, bytes, None)?)
}

/// A temporary directory beside `file` (same filesystem, cleaned up on drop).
fn staging_dir(file: &Path) -> Result<tempfile::TempDir> {
    let parent = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix(".silo-copy-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a staging directory in {}", parent.display()))
}

/// Where a local image's blobs are.
enum LocalBlobs {
    /// An OCI layout's `blobs/` (files that can be hard-linked).
    Dir(BlobDir),
    /// Blobs streamed out of a docker-archive.
    Stream(Arc<dyn BlobSource>),
}

/// A local source image.
struct LocalImage {
    image: ImageToPush,
    blobs: LocalBlobs,
    /// Its tag/name in the source, the default name at the destination.
    tag: Option<String>,
    /// For messages.
    name: String,
    /// The manifest was made by silo (a docker-archive has none), so its form is ours to choose.
    synthesized: bool,
}

impl LocalImage {
    fn open(t: &Transport) -> Result<LocalImage> {
        match t {
            Transport::Oci { dir, tag } => {
                let layout = OciLayout::new(dir);
                Ok(LocalImage {
                    image: layout.image(tag.as_deref())?,
                    blobs: LocalBlobs::Dir(layout.blobs()),
                    tag: tag.clone(),
                    name: format!("oci:{}", dir.display()),
                    synthesized: false,
                })
            }
            Transport::DockerArchive { file, reference } => {
                let (image, source) = ArchiveSource::open(file, reference.as_deref())?;
                Ok(LocalImage {
                    image,
                    blobs: LocalBlobs::Stream(Arc::new(source)),
                    tag: reference.clone(),
                    name: format!("docker-archive:{}", file.display()),
                    synthesized: true,
                })
            }
            Transport::Registry(r) => bail!("{r} is a registry reference, not a local image"),
        }
    }
}

/// Every manifest of `image` (root and all below it) and the distinct blobs they reference.
fn contents(image: &ImageToPush) -> Result<(Vec<&RawManifest>, Vec<BlobRef>)> {
    let manifests: Vec<&RawManifest> = std::iter::once(&image.root)
        .chain(image.children.values())
        .collect();
    let mut blobs: Vec<BlobRef> = Vec::new();
    for m in manifests.iter().filter(|m| !m.is_index()) {
        let (config, layers) = blobs_of(&m.image()?);
        for b in std::iter::once(config).chain(layers) {
            if !blobs.iter().any(|x| x.digest == b.digest) {
                blobs.push(b);
            }
        }
    }
    Ok((manifests, blobs))
}

/// Check that a layout holds every blob of `image` with the right content.
async fn verify_present(image: &ImageToPush, dir: &BlobDir) -> Result<()> {
    let (_, blobs) = contents(image)?;
    for b in &blobs {
        let path = dir.path(&b.digest)?;
        let actual = hash_file(&path)
            .with_context(|| format!("blob {} ({}) of the source", b.digest, path.display()))?;
        if actual != b.digest {
            bail!(
                "{}: content does not match its digest {} (got {actual}); the source layout is corrupt",
                path.display(),
                b.digest
            );
        }
    }
    Ok(())
}

/// Copy the manifests and blobs of `image` into `dest`, each verified against its digest before
/// it becomes visible. Layout blobs are hard-linked when both are on one filesystem (after the
/// source file's digest is checked), else copied. A foreign layer the source does not hold is left
/// out with a note (its manifest keeps the urls, as in layouts written by skopeo).
async fn copy_blobs(
    image: &ImageToPush,
    from: &LocalBlobs,
    dest: &BlobDir,
    progress: &CliProgress,
) -> Result<()> {
    use registry_client::Progress as _;
    let (manifests, blobs) = contents(image)?;
    for b in &blobs {
        if dest.contains(&b.digest)? {
            progress.blob_finished(&b.digest, registry_client::BlobOutcome::Present);
            continue;
        }
        match from {
            LocalBlobs::Dir(src) => {
                let path = src.path(&b.digest)?;
                if !path.is_file() && b.is_foreign() {
                    progress.note(&format!(
                        "{}: foreign layer not in the source; left out (the manifest keeps its urls)",
                        b.digest
                    ));
                    continue;
                }
                let actual = hash_file(&path)
                    .with_context(|| format!("blob {} ({})", b.digest, path.display()))?;
                if actual != b.digest {
                    bail!(
                        "{}: content does not match its digest {} (got {actual}); nothing was copied — the source layout is corrupt",
                        path.display(),
                        b.digest
                    );
                }
                link_or_copy(&path, &dest.path(&b.digest)?)
                    .with_context(|| format!("copying blob {}", b.digest))?;
            }
            LocalBlobs::Stream(src) => {
                let stream = src.open(b, 0).await?;
                write_verified(b, stream, dest).await?;
            }
        }
        progress.blob_finished(&b.digest, registry_client::BlobOutcome::Downloaded);
    }
    // Manifests after their blobs; inner manifests before the root.
    for m in manifests.iter().rev() {
        let blob = BlobRef {
            digest: m.digest.clone(),
            size: m.bytes.len() as u64,
            media_type: m.media_type.clone(),
            urls: vec![],
        };
        m.verify(&m.digest)?;
        dest.put_verified(&blob, &m.bytes)
            .with_context(|| format!("storing manifest {}", m.digest))?;
    }
    Ok(())
}

/// Stream a blob into `dest`'s partial file, hashing; commit only when the digest matches.
async fn write_verified(
    b: &BlobRef,
    mut stream: registry_client::transfer::BlobStream,
    dest: &BlobDir,
) -> Result<()> {
    let part = dest.begin(b)?;
    part.truncate(0)?;
    let mut hasher = sha2::Sha256::new();
    let mut offset = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("reading blob {}", b.digest))?;
        hasher.update(&chunk);
        part.write_at(offset, &chunk)?;
        offset += chunk.len() as u64;
    }
    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
    if actual != b.digest {
        part.discard()?;
        bail!(
            "blob {}: content does not match its digest (got {actual}); nothing was stored",
            b.digest
        );
    }
    part.commit()?;
    Ok(())
}

/// `sha256:<hex>` of a file, streamed.
fn hash_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Hard-link `from` to `to` (through a temporary name, so `to` appears whole), or copy it when
/// linking is not possible (another filesystem).
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    let dir = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = to.with_extension("linking");
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(from, &tmp).is_err() {
        std::fs::copy(from, &tmp)?;
    }
    std::fs::rename(&tmp, to)
}
