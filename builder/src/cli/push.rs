//! `silo push SRC DEST`: upload an image from a local OCI layout (`oci:DIR[:tag]`, or a name in the
//! store's layout) or a `docker save` archive (`docker-archive:FILE[:name]`) to a registry: blobs in parallel (HEAD → skip, mount, streaming upload), then
//! manifests, then the tag. Foreign layers: skipped by default (the manifest keeps their urls),
//! `--include-nondistributable` uploads them, `--strip-foreign-urls` uploads them and rewrites the
//! manifests to distributable layers (the manifest digest changes; it is printed).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};
use registry_client::{BlobSource, ForeignPolicy, ImageToPush, PushOptions};

use super::transport::{runtime, ArchiveSource, OciLayout, RegistryOpts, StoreImages, Transport};
use super::Globals;

/// Foreign-layer flags shared by push and copy.
#[derive(Debug, Clone, clap::Args)]
pub struct ForeignOpts {
    /// Upload foreign (non-distributable) layers as they are.
    #[arg(long, conflicts_with = "strip_foreign_urls")]
    pub include_nondistributable: bool,
    /// Upload foreign layers and rewrite them to distributable layers without urls (for
    /// air-gapped mirrors; changes the manifest digest).
    #[arg(long)]
    pub strip_foreign_urls: bool,
}

impl ForeignOpts {
    pub fn options(&self) -> PushOptions {
        PushOptions {
            foreign: if self.strip_foreign_urls {
                ForeignPolicy::Strip
            } else if self.include_nondistributable {
                ForeignPolicy::Include
            } else {
                ForeignPolicy::Skip
            },
            mount_from: Vec::new(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source: `oci:DIR[:tag]`, `docker-archive:FILE[:name]`, or a name stored by `silo pull`.
    pub source: String,
    /// Destination registry reference.
    pub destination: String,
    #[command(flatten)]
    pub foreign: ForeignOpts,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let Transport::Registry(dest) = Transport::parse(&args.destination)? else {
        bail!(
            "the push destination must be a registry reference; use `silo copy` for local formats"
        );
    };
    let (image, source) = match Transport::parse(&args.source)? {
        // A bare name is an image `silo pull` stored.
        Transport::Registry(r) => {
            let store = StoreImages::open(globals.root.as_deref())?;
            let image = store.image(&r.to_string())?;
            (image, Arc::new(store.blobs.clone()) as Arc<dyn BlobSource>)
        }
        local => open_local(local)?,
    };
    let progress = args.registry.progress();
    let client = args.registry.client(&[dest.registry()], progress.clone())?;
    let opts = args.foreign.options();
    let report = runtime()?.block_on(client.push(&dest, &image, source, &opts))?;
    print_report(&progress, &dest.to_string(), &report);
    println!("{}", report.digest);
    Ok(ExitCode::SUCCESS)
}

/// An image and its blob source from a local transport (`oci:` or `docker-archive:`).
pub fn open_local(t: Transport) -> Result<(ImageToPush, Arc<dyn BlobSource>)> {
    match t {
        Transport::Oci { dir, tag } => {
            let layout = OciLayout::new(dir);
            Ok((layout.image(tag.as_deref())?, Arc::new(layout.blobs())))
        }
        Transport::DockerArchive { file, reference } => {
            let (image, source) = ArchiveSource::open(&file, reference.as_deref())?;
            Ok((image, Arc::new(source)))
        }
        Transport::Registry(r) => bail!("{r} is a registry reference, not a local image"),
    }
}

/// Summary lines after a push or copy.
pub fn print_report(
    progress: &super::transport::CliProgress,
    dest: &str,
    r: &registry_client::PushReport,
) {
    for (old, new) in &r.rewritten {
        progress.println(&format!("rewrote manifest {old} -> {new} (foreign layers made distributable; the digest changed)"));
    }
    progress.println(&format!(
        "pushed {dest}@{}: {} uploaded, {} mounted, {} already present, {} foreign skipped",
        r.digest, r.uploaded, r.mounted, r.present, r.skipped_foreign
    ));
}
