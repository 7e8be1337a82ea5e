//! `silo registry REF [KEY] [--layer N]`: the merged registry of an image (base hives ⊕ every
//! layer's delta), or one layer's deltas as stored (tombstones and layer semantics marked), as
//! `reg query /s`-like text or JSON. KEY uses reg.exe names (`HKLM\SOFTWARE\…`, `HKU\.DEFAULT`).

use std::io::Write;
use std::process::ExitCode;

use super::layers::{open_image, print_json, Format, InspectOpts};
use super::Globals;
use crate::hive::render;
use crate::hive::Key;
use crate::inspect::{self, registry};
use crate::store::registry_source::RegistryRefs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image: a name in the store (else the registry's), `docker://REF`, `oci:DIR[:tag]` or
    /// `docker-archive:FILE[:ref]`.
    pub reference: String,
    /// A key in reg.exe form (`HKLM\SOFTWARE\Microsoft`); all hives when omitted.
    pub key: Option<String>,
    /// Show one layer's hive deltas (0 = base layer) instead of the merged registry.
    #[arg(long)]
    pub layer: Option<usize>,
    #[command(flatten)]
    pub opts: InspectOpts,
}

pub fn run(globals: &Globals, args: Args) -> anyhow::Result<ExitCode> {
    let store = args.opts.open_store(globals)?;
    let image = open_image(&store, &RegistryRefs::default(), &args.reference)?;
    // One key of the merged registry: read only that key's path in each hive file, which is
    // what keeps a lookup on a real 15 MB SYSTEM hive fast.
    if let (None, Some(name)) = (args.layer, &args.key) {
        let (key, path) = registry::merged_key(&store, &image, name)?;
        return print_keys(&args, &[(&key, path)]);
    }
    let (hives, scope) = match args.layer {
        Some(index) => (
            registry::layer_deltas(&store, &image, index)?,
            "layer's hive deltas",
        ),
        None => (
            inspect::merged_registry(&store, &image)?,
            "image's registry",
        ),
    };
    let shown: Vec<(&Key, String)> = match &args.key {
        Some(name) => vec![registry::find_key(&hives, name, scope)?],
        None => hives
            .iter()
            .map(|(hive, key)| (key, registry::hive_root_name(*hive).to_string()))
            .collect(),
    };
    if let (Some(index), None, true) = (args.layer, &args.key, shown.is_empty()) {
        eprintln!("layer {index} carries no hive deltas");
    }
    print_keys(&args, &shown)
}

fn print_keys(args: &Args, shown: &[(&Key, String)]) -> anyhow::Result<ExitCode> {
    match args.opts.format {
        Format::Json => {
            let keys: Vec<serde_json::Value> = shown
                .iter()
                .map(|(key, path)| {
                    let mut json = render::to_json(key);
                    json["path"] = serde_json::Value::String(path.clone());
                    json
                })
                .collect();
            print_json(&serde_json::json!({
                "image": args.reference,
                "layer": args.layer,
                "keys": keys,
            }))?;
        }
        Format::Text => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for (key, path) in shown {
                render::write_reg_text(key, path, &mut out)?;
            }
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
