//! `silo pull REF [--output oci:DIR[:tag]]`: resolve the reference (choosing a platform from an
//! index with the Windows `os.version` rules), then fetch manifest, config and layers — in
//! parallel, resumable, digest-verified — into an OCI layout (default: the silo store's layout).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};

use super::transport::{
    chosen_platform, default_store, runtime, OciLayout, PlatformOpts, RegistryOpts, Transport,
};
use super::Globals;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image reference (`[docker://]registry/repo[:tag][@digest]`).
    pub reference: String,
    /// Where to write: `oci:DIR[:tag]` (default: the store's OCI layout under --root).
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
    let (dir, tag) = match args.output.as_deref().map(Transport::parse).transpose()? {
        None => (
            default_store(globals.root.as_deref()),
            reference.to_string(),
        ),
        Some(Transport::Oci { dir, tag }) => (
            dir,
            tag.unwrap_or_else(|| reference.manifest_ref().to_string()),
        ),
        Some(Transport::DockerArchive { .. }) => {
            bail!("pull --output docker-archive: is not supported yet; pull to oci:DIR (docker-archive is planned in the store)")
        }
        Some(Transport::Registry(_)) => {
            bail!("--output must be local (oci:DIR); use `silo copy` to copy between registries")
        }
    };
    let want = args.platform.request()?;
    let progress = args.registry.progress();
    let client = args
        .registry
        .client(&[reference.registry()], progress.clone())?;
    let layout = OciLayout::new(&dir);
    layout.init()?;
    let rt = runtime()?;
    let resolved = rt.block_on(client.resolve(&reference, &want))?;
    if let Some(sel) = &resolved.selection {
        let chosen = sel.chosen.and_then(|i| sel.verdicts.get(i));
        if let Some(c) = chosen {
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
    }
    rt.block_on(client.pull_resolved(&resolved, Arc::new(layout.blobs())))?;
    layout.tag(&tag, &resolved.manifest, chosen_platform(&resolved))?;
    println!("{}", resolved.manifest.digest);
    progress.println(&format!(
        "pulled {reference} into {} as {tag:?}",
        dir.display()
    ));
    Ok(ExitCode::SUCCESS)
}
