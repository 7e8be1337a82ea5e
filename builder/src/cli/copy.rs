//! `silo copy SRC DEST` between transports: registry → registry streams blobs without touching disk
//! (and mounts them when both are on one registry); registry → `oci:DIR` pulls; `oci:DIR` →
//! registry and `docker-archive:FILE` → registry push. An index is copied whole unless `--platform` picks one entry.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};
use registry_client::PlatformRequest;

use super::push::{open_local, print_report, ForeignOpts};
use super::transport::{chosen_platform, runtime, OciLayout, RegistryOpts, Transport};
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
    match (src, dest) {
        (Transport::Registry(s), Transport::Registry(d)) => {
            let client = args.registry.client(&[s.registry(), d.registry()], progress.clone())?;
            let report = rt.block_on(client.copy(&s, &d, platform.as_ref(), &opts))?;
            print_report(&progress, &d.to_string(), &report);
            println!("{}", report.digest);
        }
        (Transport::Registry(s), Transport::Oci { dir, tag }) => {
            let want = platform.unwrap_or_else(PlatformRequest::windows_amd64);
            let client = args.registry.client(&[s.registry()], progress.clone())?;
            let layout = OciLayout::new(dir);
            layout.init()?;
            let resolved = rt.block_on(client.resolve(&s, &want))?;
            rt.block_on(client.pull_resolved(&resolved, Arc::new(layout.blobs())))?;
            let tag = tag.unwrap_or_else(|| s.manifest_ref().to_string());
            layout.tag(&tag, &resolved.manifest, chosen_platform(&resolved))?;
            println!("{}", resolved.manifest.digest);
        }
        (local @ (Transport::Oci { .. } | Transport::DockerArchive { .. }), Transport::Registry(d)) => {
            let (image, source) = open_local(local)?;
            let client = args.registry.client(&[d.registry()], progress.clone())?;
            let report = rt.block_on(client.push(&d, &image, source, &opts))?;
            print_report(&progress, &d.to_string(), &report);
            println!("{}", report.digest);
        }
        (s, d) => bail!("copying {s:?} to {d:?} is not supported yet (supported: registry↔registry, registry→oci:, oci:/docker-archive:→registry)"),
    }
    Ok(ExitCode::SUCCESS)
}
