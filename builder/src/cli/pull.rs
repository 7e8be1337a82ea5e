//! `silo pull REF [--output oci:DIR[:tag]]`: resolve the reference (choosing a platform from an
//! index with the Windows `os.version` rules), then fetch manifest, config and layers — in
//! parallel, resumable, digest-verified — into an OCI layout (default: the silo store's layout),
//! or into a `docker load`-able `docker-archive:FILE[:name]` assembled from the store.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::transport::{
    chosen_platform, runtime, write_docker_archive, OciLayout, PlatformOpts, RegistryOpts,
    StoreImages, Transport,
};
use super::Globals;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image reference (`[docker://]registry/repo[:tag][@digest]`).
    pub reference: String,
    /// Where to write: `oci:DIR[:tag]` or `docker-archive:FILE[:name]` (default: the store's OCI
    /// layout under --root).
    #[arg(long, short = 'o', value_name = "DEST")]
    pub output: Option<String>,
    #[command(flatten)]
    pub platform: PlatformOpts,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let Transport::Registry(reference) = Transport::parse(&args.reference)? else {
        bail!("silo pull takes a registry reference; use `silo copy` between local formats");
    };
    /// Where the blobs go and how the result is named.
    enum Dest {
        Store,
        Oci(OciLayout, String),
        Archive(PathBuf, String),
    }
    let dest = match args.output.as_deref().map(Transport::parse).transpose()? {
        None => Dest::Store,
        Some(Transport::Oci { dir, tag }) => Dest::Oci(
            OciLayout::new(dir),
            tag.unwrap_or_else(|| reference.manifest_ref().to_string()),
        ),
        // A docker-archive is assembled from blobs pulled into the store (a cache).
        Some(Transport::DockerArchive { file, reference: name }) => {
            Dest::Archive(file, name.unwrap_or_else(|| familiar(&reference)))
        }
        Some(Transport::Registry(_)) => bail!("--output must be local (oci:DIR or docker-archive:FILE); use `silo copy` to copy between registries"),
    };
    let want = args.platform.request()?;
    let progress = args.registry.progress();
    let client = args
        .registry
        .client(&[reference.registry()], progress.clone())?;
    let rt = runtime()?;
    let resolved = rt.block_on(client.resolve(&reference, &want))?;
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
        Dest::Oci(layout, tag) => {
            layout.init()?;
            rt.block_on(client.pull_resolved(&resolved, Arc::new(layout.blobs())))?;
            layout.tag(&tag, &resolved.manifest, chosen_platform(&resolved))?;
            progress.println(&format!(
                "pulled {reference} into {} as {tag:?}",
                layout.dir.display()
            ));
        }
        Dest::Store | Dest::Archive(..) => {
            let store = StoreImages::open(globals.root.as_deref())?;
            rt.block_on(client.pull_resolved(&resolved, Arc::new(store.blobs.clone())))?;
            store.name(&reference.to_string(), &resolved.manifest)?;
            if let Dest::Archive(file, name) = dest {
                write_docker_archive(&file, &store.blobs, &resolved.manifest, Some(&name))?;
                progress.println(&format!(
                    "wrote {reference} to {} as {name}",
                    file.display()
                ));
            } else {
                progress.println(&format!(
                    "pulled {reference} into the store {}",
                    store.store.root().display()
                ));
            }
        }
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
