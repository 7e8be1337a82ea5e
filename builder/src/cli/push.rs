//! `silo push SRC DEST`: upload an image to a registry — blobs in parallel (HEAD → skip, mount,
//! streaming upload), then manifests, then the tag. SRC is any image location (a store name,
//! `oci:DIR[:tag]`, `docker-archive:FILE[:name]`, `docker://REF`; a bare name is the store's
//! image when the store holds it, else the registry's — see `store::location`); DEST is a
//! registry reference. Foreign layers: skipped by default (the manifest keeps their urls),
//! `--include-nondistributable` uploads them, `--strip-foreign-urls` uploads them and rewrites the
//! manifests to distributable layers (the manifest digest changes; it is printed).

use std::process::ExitCode;

use anyhow::{bail, Result};
use registry_client::{ForeignPolicy, PushOptions};

use super::access::RegistryOpts;
use super::Globals;
use crate::store::ImageLocation;

/// The flags push and copy share: the foreign-layer policy and how to reach registries.
#[derive(Debug, Clone, clap::Args)]
pub struct TransferOpts {
    /// Upload foreign (non-distributable) layers as they are.
    #[arg(long, conflicts_with = "strip_foreign_urls")]
    pub include_nondistributable: bool,
    /// Upload foreign layers and rewrite them to distributable layers without urls (for
    /// air-gapped mirrors; changes the manifest digest).
    #[arg(long)]
    pub strip_foreign_urls: bool,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

impl TransferOpts {
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
    /// Source: a name in the store (else the registry), `oci:DIR[:tag]`,
    /// `docker-archive:FILE[:name]`, `dir:PATH` or `docker://REF`.
    pub source: String,
    /// Destination registry reference.
    pub destination: String,
    #[command(flatten)]
    pub transfer: TransferOpts,
}

pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let dest = ImageLocation::parse(&args.destination)?;
    if !matches!(dest, ImageLocation::Store(_) | ImageLocation::Registry(_)) {
        bail!(
            "the push destination must be a registry reference (HOST/REPO:TAG or docker://REF); \
             use `silo copy` for oci:/docker-archive:/dir: destinations"
        );
    }
    let digest = super::copy::transfer(
        globals,
        &args.source,
        &dest,
        None,
        &super::access::SideCredsOpts::default(),
        &args.transfer,
    )?;
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}
