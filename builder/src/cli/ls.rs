//! `silo ls REF [--layer N] [PATH]`: files with size, attributes, owner SID and times; the
//! merged view of the image by default, one layer's raw entries (whiteouts too) with `--layer`.

use std::process::ExitCode;

use super::layers::{open_image, print_json, Format, InspectOpts};
use super::Globals;
use crate::inspect::{self, files};
use crate::store::registry_source::RegistryRefs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image: a name in the store (else the registry's), `docker://REF`, `oci:DIR[:tag]` or
    /// `docker-archive:FILE[:ref]`.
    pub reference: String,
    /// Only this path and what is under it (`C:\app`, `app/x`, case-insensitive).
    pub path: Option<String>,
    /// Show one layer's raw entries (0 = base layer) instead of the merged view.
    #[arg(long)]
    pub layer: Option<usize>,
    #[command(flatten)]
    pub opts: InspectOpts,
}

pub fn run(globals: &Globals, args: Args) -> anyhow::Result<ExitCode> {
    let store = args.opts.open_store(globals)?;
    let image = open_image(&store, &RegistryRefs::default(), &args.reference)?;
    let all = match args.layer {
        Some(index) => files::layer_files(&store, &image, index)?,
        None => inspect::merged_files(&store, &image)?
            .into_values()
            .collect(),
    };
    let shown = files::filter_path(all, args.path.as_deref());
    if args.opts.format == Format::Json {
        print_json(&shown)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for f in &shown {
        let owner = f.owner.as_deref().unwrap_or("-");
        let link = match &f.link_target {
            Some(t) => format!(" -> {t}"),
            None => String::new(),
        };
        let kind = if f.kind == "file" || f.kind == "dir" {
            String::new()
        } else {
            format!("  [{}]", f.kind)
        };
        out.push_str(&format!(
            "{} {:>12}  {:<13} {}  L{}  {}{link}{kind}\n",
            f.attribute_letters(),
            f.size,
            owner,
            f.modified,
            f.layer,
            f.path
        ));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
