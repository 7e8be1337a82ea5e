//! `silo copy SRC DEST` between every pair of image locations. SRC follows the image-location
//! rule (`store::location`): `docker://REF` is the registry, a bare name the store's image when
//! the store holds it, else the registry's; `oci:DIR[:tag]`, `docker-archive:FILE[:ref]`. DEST
//! is a registry (a bare name or `docker://REF`), `oci:` or `docker-archive:`.
//! - registry → registry streams blobs without touching disk (and mounts within one registry);
//! - registry → `oci:` pulls (a whole index, nested indexes included, unless `--platform`);
//! - local (store, `oci:`, `docker-archive:`) → registry pushes;
//! - local → `oci:` copies blobs verified (hard links between directories where possible), keeps
//!   the index entry's platform and names the result;
//! - anything → `docker-archive:` writes one platform's image (`--platform`, default the newest
//!   windows/amd64 entry), because the `docker save` format has no index.
//!
//! `silo push` is this with a registry destination.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use registry_client::blobdir::BlobDir;
use registry_client::{PlatformRequest, RawManifest, Reference};
use serde_json::Value;

use super::access::registry_access;
use super::progress::CliProgress;
use super::push::TransferOpts;
use super::Globals;
use crate::oci::Flavor;
use crate::store::blobio::PushBlobs;
use crate::store::docker_archive::DockerArchiveWriter;
use crate::store::local_image::{
    copy_image, descriptor_of, open_source_image, single, LocalImage, SourceImage,
};
use crate::store::oci_layout::OciLayout;
use crate::store::registry_source::RegistryAccess;
use crate::store::{ImageLocation, ImageSink, RegistryLocation};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source: a name in the store (else the registry), `docker://REF`, `oci:DIR[:tag]` or
    /// `docker-archive:FILE[:ref]`.
    pub source: String,
    /// Destination: a registry reference, `oci:DIR[:tag]` or `docker-archive:FILE[:ref]`.
    pub destination: String,
    /// Copy only this platform's manifest (os/arch[:os.version]) instead of a whole index.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub transfer: TransferOpts,
}

pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let dest = ImageLocation::parse(&args.destination)?;
    let digest = transfer(
        globals,
        &args.source,
        &dest,
        args.platform.as_deref(),
        &args.transfer,
    )?;
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

/// Copies the image `source` names to `dest`; returns the digest written (the root manifest's).
pub(super) fn transfer(
    globals: &Globals,
    source: &str,
    dest: &ImageLocation,
    platform: Option<&str>,
    transfer: &TransferOpts,
) -> Result<String> {
    let registry = &transfer.registry;
    let platform = platform.map(PlatformRequest::parse).transpose()?;
    // An OCI layout takes OCI manifests only: a docker-archive's (made-up) manifest is made so.
    let archive_flavor = match dest {
        ImageLocation::Oci { .. } => Flavor::Oci,
        _ => Flavor::Docker,
    };
    let src = open_source_image(
        &ImageLocation::parse(source)?,
        globals.root.as_deref(),
        archive_flavor,
    )?;
    let progress = registry.progress();
    let opts = transfer.options();
    let digest = match (src, dest) {
        (SourceImage::Registry(s), ImageLocation::Store(d) | ImageLocation::Registry(d)) => {
            let d = Reference::parse(d)?;
            let client =
                registry.client(&[s.reference.registry(), d.registry()], progress.clone())?;
            let rt = registry_access(client)?;
            let report = rt
                .block_on(rt.client.copy(&s.reference, &d, platform.as_ref(), &opts))
                .with_context(|| s.context())?;
            print_report(&progress, &d.to_string(), &report);
            report.digest
        }
        (SourceImage::Local(local), ImageLocation::Store(d) | ImageLocation::Registry(d)) => {
            let d = Reference::parse(d)?;
            let image = match &platform {
                Some(want) => single(local.select(want)?.manifest),
                None => local.tree.clone(),
            };
            let client = registry.client(&[d.registry()], progress.clone())?;
            let blobs = Arc::new(PushBlobs(local.source.clone()));
            let rt = registry_access(client)?;
            let report = rt.block_on(rt.client.push(&d, &image, blobs, &opts))?;
            print_report(&progress, &d.to_string(), &report);
            report.digest
        }
        (SourceImage::Registry(s), ImageLocation::Oci { dir, tag }) => {
            let client = registry.client(&[s.reference.registry()], progress.clone())?;
            let tag = tag
                .clone()
                .unwrap_or_else(|| s.reference.manifest_ref().to_string());
            let pulled =
                pull_to_layout(&*registry_access(client)?, &s, platform.as_ref(), dir, &tag)?;
            pulled.digest
        }
        (SourceImage::Registry(s), ImageLocation::DockerArchive { path, reference }) => {
            let client = registry.client(&[s.reference.registry()], progress.clone())?;
            let want = platform.unwrap_or_else(PlatformRequest::windows_amd64);
            // The archive is written from files: stage the pulled image as a layout beside it.
            let staging = staging_dir(path)?;
            let layout = staging.path().join("layout");
            pull_to_layout(
                &*registry_access(client)?,
                &s,
                Some(&want),
                &layout,
                "image",
            )?;
            let local = LocalImage::open(
                Arc::new(OciLayout::open(&layout)?),
                Some("image".into()),
                s.reference.to_string(),
            )?;
            let name = reference.clone().unwrap_or_else(|| s.reference.to_string());
            write_archive(&local, &want, path, Some(&name), &progress)?
        }
        (SourceImage::Local(local), ImageLocation::Oci { dir, tag }) => {
            let (image, platform_json) = match &platform {
                Some(want) => {
                    let chosen = local.select(want)?;
                    (single(chosen.manifest), chosen.platform_json)
                }
                None => (local.tree.clone(), None),
            };
            let tag = tag
                .clone()
                .or_else(|| local.name.clone())
                .unwrap_or_else(|| "latest".into());
            let mut layout = OciLayout::create(dir)?;
            let copied = copy_image(
                local.source.as_ref(),
                &image,
                &mut layout,
                Some(&tag),
                &local.what,
            )?;
            note_left_out(&progress, &copied.foreign_left_out);
            if let Some(platform) = &platform_json {
                layout.set_platform(&tag, platform)?;
            }
            layout.finish()?;
            image.root.digest
        }
        (SourceImage::Local(local), ImageLocation::DockerArchive { path, reference }) => {
            let want = platform.unwrap_or_else(PlatformRequest::windows_amd64);
            let name = reference.clone().or_else(|| local.name.clone());
            write_archive(&local, &want, path, name.as_deref(), &progress)?
        }
    };
    Ok(digest)
}

/// Pulls `s` into the OCI layout `dir` (one platform with `want`, else every manifest of an
/// index) and names it `tag` there, keeping the chosen index entry's platform. Returns the
/// manifest named.
pub(super) fn pull_to_layout(
    access: &RegistryAccess,
    s: &RegistryLocation,
    want: Option<&PlatformRequest>,
    dir: &Path,
    tag: &str,
) -> Result<RawManifest> {
    let mut layout = OciLayout::create(dir)?;
    let blobs = Arc::new(BlobDir::new(dir.join("blobs")));

    let (manifest, platform) = match want {
        Some(want) => {
            let resolved = access
                .block_on(access.client.resolve(&s.reference, want))
                .with_context(|| s.context())?;
            access
                .block_on(access.client.pull_resolved(&resolved, blobs))
                .with_context(|| s.context())?;
            (resolved.manifest, resolved.chosen_platform)
        }
        None => (
            access
                .block_on(access.client.pull_all(&s.reference, blobs))
                .with_context(|| s.context())?,
            None,
        ),
    };
    name_in_layout(&mut layout, &manifest, tag, platform.as_ref())?;
    Ok(manifest)
}

/// Names a manifest already in `layout`'s blobs `tag` in its index.json.
pub(super) fn name_in_layout(
    layout: &mut OciLayout,
    manifest: &RawManifest,
    tag: &str,
    platform: Option<&Value>,
) -> Result<()> {
    layout.put_manifest(&descriptor_of(manifest)?, &manifest.bytes, Some(tag))?;
    if let Some(platform) = platform {
        layout.set_platform(tag, platform)?;
    }
    layout.finish()?;
    Ok(())
}

/// Writes `want`'s manifest of `local` to a `docker load`-able archive at `path`, named `name`;
/// returns the manifest's digest.
pub(super) fn write_archive(
    local: &LocalImage,
    want: &PlatformRequest,
    path: &Path,
    name: Option<&str>,
    progress: &CliProgress,
) -> Result<String> {
    let chosen = local.select(want)?;
    let mut archive = DockerArchiveWriter::create(path)?;
    let image = single(chosen.manifest);
    let copied = copy_image(
        local.source.as_ref(),
        &image,
        &mut archive,
        name,
        &local.what,
    )
    .with_context(|| format!("writing docker-archive {}", path.display()))?;
    note_left_out(progress, &copied.foreign_left_out);
    archive.finish()?;
    Ok(image.root.digest)
}

fn note_left_out(progress: &CliProgress, digests: &[String]) {
    use registry_client::Progress as _;
    for d in digests {
        progress.note(&format!(
            "{d}: foreign layer not in the source; left out (the manifest keeps its urls)"
        ));
    }
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

/// Summary lines after a push or copy.
pub fn print_report(progress: &CliProgress, dest: &str, r: &registry_client::PushReport) {
    for (old, new) in &r.rewritten {
        progress.println(&format!("rewrote manifest {old} -> {new} (foreign layers made distributable; the digest changed)"));
    }
    progress.println(&format!(
        "pushed {dest}@{}: {} uploaded, {} mounted, {} already present, {} foreign skipped",
        r.digest, r.uploaded, r.mounted, r.present, r.skipped_foreign
    ));
}
