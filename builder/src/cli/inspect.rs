//! `silo inspect REF [--raw] [--config] [--format json]`: show an image in a registry — the root
//! manifest (`--raw` prints its exact bytes), the platform chosen from an index with the reason
//! every other entry was not, the layers (foreign ones with their urls) and the config.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use registry_client::manifest::blobs_of;
use serde_json::{json, Value};

use super::transport::{runtime, PlatformOpts, RegistryOpts, Transport};
use super::Globals;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image reference.
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

pub fn run(_globals: &Globals, args: Args) -> Result<ExitCode> {
    let Transport::Registry(reference) = Transport::parse(&args.reference)? else {
        bail!("silo inspect takes a registry reference");
    };
    let progress = args.registry.progress();
    let client = args.registry.client(&[reference.registry()], progress)?;
    let rt = runtime()?;
    let mut out = std::io::stdout().lock();
    if args.raw {
        let root = rt.block_on(client.get_manifest(&reference))?;
        out.write_all(&root.bytes)?;
        return Ok(ExitCode::SUCCESS);
    }
    let want = args.platform.request()?;
    let resolved = rt.block_on(client.resolve(&reference, &want))?;
    let image = resolved.manifest.image()?;
    let (config_ref, layers) = blobs_of(&image);
    let config = rt.block_on(client.fetch_small(&reference, &config_ref, 16 << 20))?;
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
        "name": reference.to_string(),
        "digest": resolved.root.digest,
        "mediaType": resolved.root.media_type,
        "manifest": { "digest": resolved.manifest.digest, "mediaType": resolved.manifest.media_type },
        "platform": {
            "os": cfg["os"], "architecture": cfg["architecture"],
            "os.version": cfg["os.version"], "os.features": cfg["os.features"],
        },
        "request": want.to_string(),
        "selection": resolved.selection,
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
    writeln!(out, "Name:        {reference}")?;
    writeln!(
        out,
        "Digest:      {} ({})",
        resolved.root.digest, resolved.root.media_type
    )?;
    if let Some(sel) = &resolved.selection {
        writeln!(
            out,
            "Platform:    {} (request {want})",
            resolved.manifest.digest
        )?;
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
