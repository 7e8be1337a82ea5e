//! `silo copy SRC DEST` between every pair of image locations. SRC follows the image-location
//! rule (`store::location`): `docker://REF` is the registry, a bare name the store's image when
//! the store holds it, else the registry's; `oci:DIR[:tag]`, `docker-archive:FILE[:ref]`,
//! `dir:PATH`. DEST is a registry (a bare name or `docker://REF`), `oci:`, `docker-archive:` or
//! `dir:`.
//! - registry → registry streams blobs without touching disk (and mounts within one registry);
//! - registry → `oci:` pulls (a whole index, nested indexes included, unless `--platform`);
//! - registry → `docker-archive:`/`dir:` pulls into a staging layout beside the destination,
//!   then writes it as a local source;
//! - local (store, `oci:`, `docker-archive:`, `dir:`) → registry pushes;
//! - local → `oci:`/`dir:` copies blobs verified (hard links between directories where
//!   possible); `oci:` keeps the index entry's platform and names the result;
//! - anything → `docker-archive:` writes one platform's image (`--platform`, default the newest
//!   windows/amd64 entry), because the `docker save` format has no index.
//!
//! Registry sources are read from registries.conf's mirrors when they serve them, destinations
//! are written to the registry's own location (`Client::pull_source`/`push_target`). With
//! `--platform`, a single-platform source of another platform is refused, as `pull` refuses it.
//!
//! `silo push` is this with a registry destination.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use registry_client::blobdir::BlobDir;
use registry_client::{PlatformRequest, RawManifest, Reference};
use serde_json::Value;

use super::access::{check_single_platform, registry_access, SideCredsOpts};
use super::progress::CliProgress;
use super::push::TransferOpts;
use super::Globals;
use crate::oci::Flavor;
use crate::store::blobio::PushBlobs;
use crate::store::dir_image::DirImage;
use crate::store::docker_archive::DockerArchiveWriter;
use crate::store::local_image::{
    copy_image, descriptor_of, open_source_image, single, LocalImage, SourceImage,
};
use crate::store::oci_layout::OciLayout;
use crate::store::registry_source::RegistryAccess;
use crate::store::{ImageLocation, ImageSink, RegistryLocation};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source: a name in the store (else the registry), `docker://REF`, `oci:DIR[:tag]`,
    /// `docker-archive:FILE[:ref]` or `dir:PATH`.
    pub source: String,
    /// Destination: a registry reference, `oci:DIR[:tag]`, `docker-archive:FILE[:ref]` or
    /// `dir:PATH`.
    pub destination: String,
    /// Copy only this platform's manifest (os/arch[:os.version]) instead of a whole index; a
    /// single-platform source of another platform is refused.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub sides: SideCredsOpts,
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
        &args.sides,
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
    sides: &SideCredsOpts,
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
    let dest_ref = match dest {
        ImageLocation::Store(d) | ImageLocation::Registry(d) => Some(Reference::parse(d)?),
        _ => None,
    };
    let src_ref = match &src {
        SourceImage::Registry(s) => Some(&s.reference),
        SourceImage::Local(_) => None,
    };
    // Per-side credentials for a side that is not a registry would do nothing: say so.
    if src_ref.is_none() && (sides.src_creds.is_some() || sides.src_no_creds) {
        anyhow::bail!("--src-creds/--src-no-creds: the source {source} is not a registry image");
    }
    if dest_ref.is_none() && (sides.dest_creds.is_some() || sides.dest_no_creds) {
        anyhow::bail!("--dest-creds/--dest-no-creds: the destination {dest} is not a registry");
    }
    let progress = registry.progress();
    let client = || registry.client_for_copy(src_ref, dest_ref.as_ref(), sides, progress.clone());
    let opts = transfer.options();
    let digest = match (&src, dest_ref.clone()) {
        (SourceImage::Registry(s), Some(d)) => {
            let rt = registry_access(client()?)?;
            let s = pull_source(&rt, s, platform.as_ref())?;
            let d = rt.client.push_target(&d)?;
            let report = rt
                .block_on(rt.client.copy(&s.reference, &d, platform.as_ref(), &opts))
                .with_context(|| s.context())?;
            print_report(&progress, &d.to_string(), &report);
            report.digest
        }
        (SourceImage::Local(local), Some(d)) => {
            let image = match &platform {
                Some(want) => single(select_checked(local, want)?.manifest),
                None => local.tree.clone(),
            };
            let rt = registry_access(client()?)?;
            let d = rt.client.push_target(&d)?;
            let blobs = Arc::new(PushBlobs(local.source.clone()));
            let report = rt.block_on(rt.client.push(&d, &image, blobs, &opts))?;
            print_report(&progress, &d.to_string(), &report);
            report.digest
        }
        (SourceImage::Registry(s), None) => {
            let rt = registry_access(client()?)?;
            let s = pull_source(&rt, s, platform.as_ref())?;
            match dest {
                ImageLocation::Oci { dir, tag } => {
                    let tag = tag
                        .clone()
                        .unwrap_or_else(|| s.reference.manifest_ref().to_string());
                    pull_to_layout(&rt, &s, platform.as_ref(), dir, &tag)?.digest
                }
                ImageLocation::DockerArchive { path, .. } | ImageLocation::Dir { path } => {
                    // These are written from files: stage the pulled image as a layout beside
                    // the destination (one platform for an archive, which has no index).
                    let want = match dest {
                        ImageLocation::DockerArchive { .. } => Some(
                            platform
                                .clone()
                                .unwrap_or_else(PlatformRequest::windows_amd64),
                        ),
                        _ => platform.clone(),
                    };
                    let staging = staging_dir(path)?;
                    let layout = staging.path().join("layout");
                    pull_to_layout(&rt, &s, want.as_ref(), &layout, "image")?;
                    let local = LocalImage::open(
                        Arc::new(OciLayout::open(&layout)?),
                        Some("image".into()),
                        s.reference.to_string(),
                    )?;
                    let name = s.reference.to_string();
                    write_local(&local, dest, platform.as_ref(), Some(&name), &progress)?
                }
                _ => unreachable!("registry destinations are matched above"),
            }
        }
        (SourceImage::Local(local), None) => {
            let name = local.name.clone();
            write_local(local, dest, platform.as_ref(), name.as_deref(), &progress)?
        }
    };
    Ok(digest)
}

/// Where a copy reads the registry image `s` from (a registries.conf mirror or the registry
/// itself), with `--platform` checked against a single-platform image.
fn pull_source(
    rt: &RegistryAccess,
    s: &RegistryLocation,
    platform: Option<&PlatformRequest>,
) -> Result<RegistryLocation> {
    let picked = RegistryLocation {
        reference: rt
            .block_on(rt.client.pull_source(&s.reference))
            .with_context(|| s.context())?,
        bare: s.bare.clone(),
    };
    if let Some(want) = platform {
        let root = rt
            .block_on(rt.client.get_manifest(&picked.reference))
            .with_context(|| picked.context())?;
        if !root.is_index() {
            let (config_ref, _) = registry_client::manifest::blobs_of(&root.image()?);
            let config = rt
                .block_on(
                    rt.client
                        .fetch_small(&picked.reference, &config_ref, 4 << 20),
                )
                .with_context(|| picked.context())?;
            check_single_platform(want, &config)?;
        }
    }
    Ok(picked)
}

/// `want`'s manifest of a local image; a single-platform image must be of that platform.
fn select_checked(
    local: &LocalImage,
    want: &PlatformRequest,
) -> Result<crate::store::local_image::Chosen> {
    let chosen = local.select(want)?;
    if chosen.selection.is_none() {
        let (config_ref, _) = registry_client::manifest::blobs_of(&chosen.manifest.image()?);
        let config = local.source.read_blob(&config_ref.digest)?;
        check_single_platform(want, &config)?;
    }
    Ok(chosen)
}

/// Writes the local image `local` to the local destination `dest` (`oci:`, `docker-archive:`,
/// `dir:`): the whole image, or `platform`'s manifest (always one for an archive). `name` is
/// what the destination calls it unless it names it itself. Returns the digest written.
fn write_local(
    local: &LocalImage,
    dest: &ImageLocation,
    platform: Option<&PlatformRequest>,
    name: Option<&str>,
    progress: &CliProgress,
) -> Result<String> {
    let chosen = platform
        .map(|want| select_checked(local, want))
        .transpose()?;
    let (image, platform_json) = match chosen {
        Some(chosen) => (single(chosen.manifest), chosen.platform_json),
        None => (local.tree.clone(), None),
    };
    match dest {
        ImageLocation::Oci { dir, tag } => {
            let tag = tag
                .clone()
                .or_else(|| name.map(String::from))
                .unwrap_or_else(|| "latest".into());
            let mut layout = OciLayout::create(dir)?;
            let copied = copy_image(
                local.source.as_ref(),
                &image,
                &mut layout,
                Some(&tag),
                &local.what,
            )?;
            note_left_out(progress, &copied.foreign_left_out);
            if let Some(platform) = &platform_json {
                layout.set_platform(&tag, platform)?;
            }
            layout.finish()?;
            Ok(image.root.digest)
        }
        ImageLocation::Dir { path } => {
            let mut dir = DirImage::create(path)?;
            let copied = copy_image(local.source.as_ref(), &image, &mut dir, None, &local.what)
                .with_context(|| format!("writing dir:{}", path.display()))?;
            note_left_out(progress, &copied.foreign_left_out);
            dir.finish()?;
            Ok(image.root.digest)
        }
        ImageLocation::DockerArchive { path, reference } => {
            let want = platform
                .cloned()
                .unwrap_or_else(PlatformRequest::windows_amd64);
            let name = reference.as_deref().or(name);
            write_archive(local, &want, path, name, progress)
        }
        ImageLocation::Store(_) | ImageLocation::Registry(_) => {
            unreachable!("registry destinations are pushed, not written locally")
        }
    }
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
    // `want` may be the default (an archive holds one platform): an explicit --platform was
    // checked against a single image by the caller (`write_local`, `pull`).
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
