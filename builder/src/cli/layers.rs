//! `silo layers REF`: per layer its digest, diff_id, media type, size, foreign URLs, entry
//! counts, hive deltas and the history step that made it. Also holds what the inspection verbs
//! (`layers`, `ls`, `registry`, `diff`) share: `--format` and opening the store and an image.

use std::process::ExitCode;

use anyhow::Context;

use super::access::AccessOpts;
use super::Globals;
use crate::build::sources::base::BaseImage;
use crate::inspect;
use crate::store::registry_source::RegistryRefs;
use crate::store::{LockMode, Store};

/// Output format of the inspection verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// JSON on stdout.
    Json,
}

/// The flags every inspection verb takes: the output format and how to reach registries.
#[derive(Debug, clap::Args)]
pub struct InspectOpts {
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub registry: AccessOpts,
}

impl InspectOpts {
    /// Opens the store (shared lock) for inspection, with the credential and TLS flags set for
    /// the registry images the command reads; their fetches draw no progress.
    pub(super) fn open_store(&self, globals: &Globals) -> anyhow::Result<Store> {
        self.registry
            .use_for_registry_refs(super::progress::ProgressMode::Quiet)?;
        Store::open_default(globals.root.as_deref(), LockMode::Shared).context("opening the store")
    }
}

/// Opens `reference`, any image location (the bare-name rule: the store's image when the store
/// holds the name, else the registry's, read through `registries`; `docker://`, `oci:`,
/// `docker-archive:`).
pub(super) fn open_image(
    store: &Store,
    registries: &RegistryRefs,
    reference: &str,
) -> anyhow::Result<BaseImage> {
    inspect::open_image(store, registries, reference)
        .with_context(|| format!("opening image {reference}"))
}

pub(super) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image: a name in the store (else the registry's), `docker://REF`, `oci:DIR[:tag]` or
    /// `docker-archive:FILE[:ref]`.
    pub reference: String,
    /// Download a registry image's layers to count their entries and hive deltas (by default
    /// only the manifest and config are fetched).
    #[arg(long)]
    pub fetch_layers: bool,
    #[command(flatten)]
    pub opts: InspectOpts,
}

pub fn run(globals: &Globals, args: Args) -> anyhow::Result<ExitCode> {
    let store = args.opts.open_store(globals)?;
    let image = open_image(&store, &RegistryRefs::default(), &args.reference)?;
    let layers = inspect::layer_summaries(&store, &image, args.fetch_layers)?;
    if args.opts.format == Format::Json {
        print_json(&serde_json::json!({
            "image": args.reference,
            "manifest_digest": image.manifest_digest.to_string(),
            "layers": layers,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} ({})", args.reference, image.manifest_digest);
    for layer in &layers {
        println!("LAYER {}  {}", layer.index, layer.digest);
        println!("  diff_id:    {}", layer.diff_id);
        println!("  media type: {}", layer.media_type);
        println!("  size:       {}", layer.size);
        if !layer.urls.is_empty() {
            println!("  urls:       {}", layer.urls.join(" "));
        }
        if !layer.content_read {
            println!("  entries:    not read (registry layer; --fetch-layers downloads it)");
            if let Some(created_by) = &layer.created_by {
                println!("  created by: {created_by}");
            }
            continue;
        }
        println!(
            "  entries:    {} files, {} directories, {} whiteouts, {} other",
            layer.files, layer.directories, layer.whiteouts, layer.other_entries
        );
        let hives = if layer.hive_deltas.is_empty() {
            "none".to_string()
        } else {
            layer.hive_deltas.join(", ")
        };
        println!("  hives:      {hives}");
        if let Some(created_by) = &layer.created_by {
            println!("  created by: {created_by}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
