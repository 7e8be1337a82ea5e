//! `silo diff A B`: files added/removed/changed and registry keys/values added/removed/changed
//! from image A to image B (merged views of both).

use std::process::ExitCode;

use super::layers::{open_image, print_json, Format, InspectOpts};
use super::Globals;
use crate::inspect;
use crate::store::registry_source::RegistryRefs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The older image.
    pub a: String,
    /// The newer image.
    pub b: String,
    #[command(flatten)]
    pub opts: InspectOpts,
}

pub fn run(globals: &Globals, args: Args) -> anyhow::Result<ExitCode> {
    let store = args.opts.open_store(globals)?;
    let registries = RegistryRefs::default();
    let a = open_image(&store, &registries, &args.a)?;
    let b = open_image(&store, &registries, &args.b)?;
    let diff = inspect::diff_images(&store, &a, &b)?;
    if args.opts.format == Format::Json {
        print_json(&diff)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for p in &diff.files_added {
        out.push_str(&format!("A file  {p}\n"));
    }
    for p in &diff.files_removed {
        out.push_str(&format!("D file  {p}\n"));
    }
    for c in &diff.files_changed {
        out.push_str(&format!("C file  {}  ({})\n", c.path, c.changed.join(", ")));
    }
    for k in &diff.keys_added {
        out.push_str(&format!("A key   {k}\n"));
    }
    for k in &diff.keys_removed {
        out.push_str(&format!("D key   {k}\n"));
    }
    let name = |n: &str| {
        if n.is_empty() {
            "(Default)".to_string()
        } else {
            n.to_string()
        }
    };
    for v in &diff.values_added {
        let after = v.after.as_deref().unwrap_or_default();
        out.push_str(&format!("A value {}\\{} = {after}\n", v.key, name(&v.name)));
    }
    for v in &diff.values_removed {
        out.push_str(&format!("D value {}\\{}\n", v.key, name(&v.name)));
    }
    for v in &diff.values_changed {
        let before = v.before.as_deref().unwrap_or_default();
        let after = v.after.as_deref().unwrap_or_default();
        out.push_str(&format!(
            "C value {}\\{}: {before} -> {after}\n",
            v.key,
            name(&v.name)
        ));
    }
    if diff.is_empty() {
        out.push_str("no differences\n");
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
