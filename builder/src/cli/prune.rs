//! `silo prune`: remove store content that no ref and no build-cache record reaches (blobs,
//! unpacked layers, temp files of killed writers). Waits for other silo processes to finish.

use std::process::ExitCode;

use crate::store::{gc, LockMode, Store};

use super::Globals;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only report what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(globals: &Globals, args: Args) -> anyhow::Result<ExitCode> {
    let store = Store::open_default(globals.root.as_deref(), LockMode::Exclusive)?;
    let report = gc::prune(&store, args.dry_run)?;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    println!(
        "{verb} {} blobs ({} bytes), {} unpacked layers, {} temp files; kept {} blobs",
        report.blobs_removed,
        report.bytes_removed,
        report.layers_removed,
        report.temp_removed,
        report.kept
    );
    Ok(ExitCode::SUCCESS)
}
