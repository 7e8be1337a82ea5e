//! `silo store`: look after the content store — `verify` re-hashes everything (and with
//! `--remove` deletes what is corrupt), `refs` lists the named images, `rm` removes a name.

use std::process::ExitCode;

use crate::store::{gc, LockMode, Store};

use super::Globals;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Re-hash every blob; report corrupt blobs, dangling refs and incomplete unpacked layers.
    Verify {
        /// Remove what is corrupt or dangling (takes the store lock exclusively).
        #[arg(long)]
        remove: bool,
    },
    /// List the images named in the store.
    Refs,
    /// Remove image names (their content stays until `silo prune`).
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

pub fn run(globals: &Globals, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Verify { remove } => {
            let mode = if remove {
                LockMode::Exclusive
            } else {
                LockMode::Shared
            };
            let store = Store::open_default(globals.root.as_deref(), mode)?;
            let report = gc::verify(&store, remove)?;
            for problem in &report.problems {
                let action = if problem.removed { " (removed)" } else { "" };
                println!("{}{action}", problem.message);
            }
            println!(
                "checked {} blobs ({} bytes) in {}: {} problem(s)",
                report.blobs_checked,
                report.bytes_checked,
                store.root().display(),
                report.problems.len()
            );
            let unresolved = report.problems.iter().any(|p| !p.removed);
            if unresolved {
                eprintln!("hint: `silo store verify --remove` deletes the corrupt entries; pull or build again to restore them");
                Ok(ExitCode::FAILURE)
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
        Command::Refs => {
            let store = Store::open_default(globals.root.as_deref(), LockMode::Shared)?;
            for (name, target) in store.list_refs()? {
                println!("{name}\t{}\t{}", target.digest(), target.media_type());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rm { names } => {
            let store = Store::open_default(globals.root.as_deref(), LockMode::Shared)?;
            let mut missing = false;
            for name in names {
                if !store.remove_ref(&name)? {
                    eprintln!("no image named {name:?}");
                    missing = true;
                }
            }
            Ok(if missing {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
