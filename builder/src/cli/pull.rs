//! `silo pull REF [--output DEST]`: resolve the reference on its registry (choosing a platform
//! from an index with the Windows `os.version` rules), then fetch manifest, config and layers — in
//! parallel, resumable, digest-verified — into the store (the default; named by the full
//! reference, or `--output NAME`), an OCI layout (`oci:DIR[:tag]`), or a `docker load`-able
//! `docker-archive:FILE[:name]` assembled from the store. `pull` always reads the registry: a bare
//! REF is a registry reference here, which is how a stored name is refreshed.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use registry_client::Reference;

use super::access::{registry_access, PlatformOpts, RegistryOpts};
use super::copy::{name_in_layout, write_archive};
use super::Globals;
use crate::store::local_image::{descriptor_of, LocalImage};
use crate::store::oci_layout::OciLayout;
use crate::store::{ImageLocation, LockMode, RegistryLocation, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image reference (`[docker://]registry/repo[:tag][@digest]`).
    pub reference: String,
    /// Where to write: a store name, `oci:DIR[:tag]` or `docker-archive:FILE[:name]` (default:
    /// the store, named by the full reference).
    #[arg(long, short = 'o', value_name = "DEST")]
    pub output: Option<String>,
    #[command(flatten)]
    pub platform: PlatformOpts,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let reference = match ImageLocation::parse(&args.reference)? {
        ImageLocation::Store(text) | ImageLocation::Registry(text) => Reference::parse(&text)?,
        _ => bail!("silo pull reads a registry (REF or docker://REF); use `silo copy` from oci:/docker-archive:"),
    };
    let source = RegistryLocation {
        reference: reference.clone(),
        bare: None,
    };
    let dest = match args.output.as_deref().map(ImageLocation::parse).transpose()? {
        None => ImageLocation::Store(reference.to_string()),
        Some(ImageLocation::Dir { path }) => bail!(
            "silo pull does not write dir: images; use `silo copy docker://{reference} dir:{}`",
            path.display()
        ),
        Some(ImageLocation::Registry(_)) => bail!("--output must be local (a store name, oci:DIR or docker-archive:FILE); use `silo copy` to copy between registries"),
        Some(dest) => dest,
    };
    let want = args.platform.request()?;
    let progress = args.registry.progress();
    let client = args
        .registry
        .client(&[reference.registry()], progress.clone())?;
    let rt = registry_access(client.clone())?;
    // Read from a registries.conf mirror when one serves it; stored under the name asked for.
    let from = rt
        .block_on(client.pull_source(&reference))
        .with_context(|| source.context())?;
    let resolved = rt
        .block_on(client.resolve(&from, &want))
        .with_context(|| source.context())?;
    if resolved.selection.is_none() && args.platform.platform.is_some() {
        let (config_ref, _) = registry_client::manifest::blobs_of(&resolved.manifest.image()?);
        let config = rt
            .block_on(client.fetch_small(&from, &config_ref, 4 << 20))
            .with_context(|| source.context())?;
        args.platform.check_single_image(&want, &config)?;
    }
    if let Some(c) = resolved
        .selection
        .as_ref()
        .and_then(|s| s.chosen.and_then(|i| s.verdicts.get(i)))
    {
        let plat = c
            .platform
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        progress.println(&format!(
            "{reference}: chose {plat} ({}): {}",
            c.digest, c.reason
        ));
    }
    match dest {
        ImageLocation::Oci { dir, tag } => {
            let mut layout = OciLayout::create(&dir)?;
            let blobs = Arc::new(registry_client::blobdir::BlobDir::new(dir.join("blobs")));
            rt.block_on(client.pull_resolved(&resolved, blobs))?;
            let tag = tag.unwrap_or_else(|| reference.manifest_ref().to_string());
            name_in_layout(
                &mut layout,
                &resolved.manifest,
                &tag,
                resolved.chosen_platform.as_ref(),
            )?;
            progress.println(&format!(
                "pulled {reference} into {} as {tag:?}",
                dir.display()
            ));
        }
        ImageLocation::Store(name) => {
            let store = Store::open_default(globals.root.as_deref(), LockMode::Shared)?;
            rt.block_on(client.pull_resolved(&resolved, Arc::new(store.pull_blobs())))?;
            store.set_ref(&name, &descriptor_of(&resolved.manifest)?)?;
            progress.println(&format!(
                "pulled {reference} into the store {} as {name}",
                store.root().display()
            ));
        }
        // A docker-archive is assembled from blobs pulled into the store (a cache).
        ImageLocation::DockerArchive {
            path,
            reference: name,
        } => {
            let store = Store::open_default(globals.root.as_deref(), LockMode::Shared)?;
            rt.block_on(client.pull_resolved(&resolved, Arc::new(store.pull_blobs())))?;
            let stored = reference.to_string();
            store.set_ref(&stored, &descriptor_of(&resolved.manifest)?)?;
            let name = name.unwrap_or_else(|| familiar(&reference));
            let local = LocalImage::open(Arc::new(store), Some(stored), reference.to_string())?;
            write_archive(&local, &want, &path, Some(&name), &progress)?;
            progress.println(&format!(
                "wrote {reference} to {} as {name}",
                path.display()
            ));
        }
        ImageLocation::Registry(_) | ImageLocation::Dir { .. } => unreachable!("refused above"),
    }
    println!("{}", resolved.manifest.digest);
    Ok(ExitCode::SUCCESS)
}

/// The name `docker load` shows: `repo:tag` for Docker Hub images, the full name otherwise.
fn familiar(r: &registry_client::Reference) -> String {
    let tag = r.tag().unwrap_or("latest");
    let name = if r.registry() == registry_client::reference::DOCKER_HUB {
        r.repository()
            .strip_prefix("library/")
            .unwrap_or(r.repository())
            .to_string()
    } else {
        r.name()
    };
    format!("{name}:{tag}")
}
