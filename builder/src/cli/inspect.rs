//! `silo inspect REF [--raw] [--config] [--format json]`: show an image — from the store, a
//! registry (or its registries.conf mirror), `oci:DIR[:tag]`, `docker-archive:FILE[:ref]` or
//! `dir:PATH` (a bare name is the store's image when
//! the store holds it, else the registry's) — the root manifest (`--raw` prints its exact bytes), the platform chosen from an index with the reason
//! every other entry was not, the layers (foreign ones with their urls) and the config.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use registry_client::manifest::blobs_of;
use registry_client::platform::Selection;
use registry_client::RawManifest;
use serde_json::{json, Value};

use super::access::{registry_access, PlatformOpts, RegistryOpts};
use super::Globals;
use crate::oci::Flavor;
use crate::store::local_image::{open_source_image, SourceImage};
use crate::store::{ImageLocation, METADATA_LIMIT};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image: a name in the store (else the registry), `docker://REF`, `oci:DIR[:tag]`,
    /// `docker-archive:FILE[:ref]` or `dir:PATH`.
    pub reference: String,
    /// Print the manifest the reference names, byte for byte.
    #[arg(long, conflicts_with = "config")]
    pub raw: bool,
    /// Print the chosen image's config blob, byte for byte.
    #[arg(long)]
    pub config: bool,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub platform: PlatformOpts,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

/// What is shown of an image, from a registry or a local location alike.
struct Inspected {
    name: String,
    /// What the location names (an index or a manifest).
    root: RawManifest,
    /// The chosen image manifest.
    manifest: RawManifest,
    selection: Option<Selection>,
    config: Vec<u8>,
}

pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let location = ImageLocation::parse(&args.reference)?;
    let want = args.platform.request()?;
    let mut out = std::io::stdout().lock();
    let shown = match open_source_image(&location, globals.root.as_deref(), Flavor::Docker)? {
        SourceImage::Registry(remote) => {
            let progress = args.registry.progress();
            let client = args
                .registry
                .client(&[remote.reference.registry()], progress)?;
            let rt = registry_access(client.clone())?;
            // A registries.conf mirror that serves the image is read instead of the registry.
            let remote = crate::store::RegistryLocation {
                reference: rt
                    .block_on(client.pull_source(&remote.reference))
                    .with_context(|| remote.context())?,
                bare: remote.bare,
            };

            if args.raw {
                let root = rt
                    .block_on(client.get_manifest(&remote.reference))
                    .with_context(|| remote.context())?;
                out.write_all(&root.bytes)?;
                // Without a newline the bytes wait in the buffer; a failed write must show.
                out.flush()?;
                return Ok(ExitCode::SUCCESS);
            }
            let resolved = rt
                .block_on(client.resolve(&remote.reference, &want))
                .with_context(|| remote.context())?;
            let (config_ref, _) = blobs_of(&resolved.manifest.image()?);
            let config = rt
                .block_on(client.fetch_small(&remote.reference, &config_ref, METADATA_LIMIT))
                .with_context(|| remote.context())?;
            Inspected {
                name: remote.reference.to_string(),
                root: resolved.root,
                manifest: resolved.manifest,
                selection: resolved.selection,
                config,
            }
        }
        SourceImage::Local(local) => {
            if args.raw {
                out.write_all(&local.tree.root.bytes)?;
                out.flush()?;
                return Ok(ExitCode::SUCCESS);
            }
            let chosen = local.select(&want)?;
            let (config_ref, _) = blobs_of(&chosen.manifest.image()?);
            let config = local.source.read_blob(&config_ref.digest)?;
            Inspected {
                name: local.name.clone().unwrap_or_else(|| local.what.clone()),
                root: local.tree.root.clone(),
                manifest: chosen.manifest,
                selection: chosen.selection,
                config,
            }
        }
    };
    let Inspected {
        name,
        root,
        manifest,
        selection,
        config,
    } = shown;
    let (config_ref, layers) = blobs_of(&manifest.image()?);
    if selection.is_none() {
        args.platform.check_single_image(&want, &config)?;
    }
    if args.config {
        out.write_all(&config)?;
        return Ok(ExitCode::SUCCESS);
    }
    let cfg: Value = serde_json::from_slice(&config).unwrap_or(Value::Null);
    let layer_json: Vec<Value> = layers
        .iter()
        .map(|l| json!({"digest": l.digest, "size": l.size, "mediaType": l.media_type, "foreign": l.is_foreign(), "urls": l.urls}))
        .collect();
    let summary = json!({
        "name": name,
        "digest": root.digest,
        "mediaType": root.media_type,
        "manifest": { "digest": manifest.digest, "mediaType": manifest.media_type },
        "platform": {
            "os": cfg["os"], "architecture": cfg["architecture"],
            "os.version": cfg["os.version"], "os.features": cfg["os.features"],
        },
        "request": want.to_string(),
        "selection": selection,
        "config": { "digest": config_ref.digest, "size": config_ref.size },
        "layers": layer_json,
        "created": cfg["created"],
        "env": cfg["config"]["Env"],
        "cmd": cfg["config"]["Cmd"],
        "entrypoint": cfg["config"]["Entrypoint"],
    });
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "Name:        {name}")?;
    writeln!(out, "Digest:      {} ({})", root.digest, root.media_type)?;
    if let Some(sel) = &selection {
        writeln!(out, "Platform:    {} (request {want})", manifest.digest)?;
        writeln!(out, "Index entries:")?;
        writeln!(out, "{}", sel.explain())?;
    }
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    writeln!(
        out,
        "OS/Arch:     {}/{}",
        s(&cfg["os"]),
        s(&cfg["architecture"])
    )?;
    writeln!(out, "OS version:  {}", s(&cfg["os.version"]))?;
    if let Some(f) = cfg["os.features"].as_array() {
        let f: Vec<String> = f.iter().map(s).collect();
        writeln!(out, "OS features: {}", f.join(", "))?;
    }
    writeln!(out, "Created:     {}", s(&cfg["created"]))?;
    writeln!(
        out,
        "Config:      {} ({} bytes)",
        config_ref.digest, config_ref.size
    )?;
    writeln!(out, "Layers:")?;
    for l in &layers {
        let foreign = if l.is_foreign() { " foreign" } else { "" };
        writeln!(
            out,
            "  {} {:>12} {}{foreign}",
            l.digest, l.size, l.media_type
        )?;
        for u in &l.urls {
            writeln!(out, "      url: {u}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
