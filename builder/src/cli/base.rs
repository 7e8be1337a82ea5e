//! `silo base create`: make a minimal Windows base image (valid hives, directory skeleton,
//! Windows config) into the store, an OCI layout or a docker-archive.

use std::process::ExitCode;

use anyhow::Context as _;
use oci_spec::image::Arch;

use crate::image::base::{create_base_image, BaseSpec};
use crate::layer::LayerCompression;
use crate::oci::Flavor;
use crate::store::ImageLocation;

use super::Globals;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a minimal Windows base image.
    Create(CreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Name of the image (a store ref, or the tag inside --output).
    #[arg(short = 't', long = "tag", value_parser = super::build::image_name)]
    pub tag: String,
    /// Windows version the image claims, `10.0.<build>.<UBR>` (e.g. 10.0.20348.1 for ltsc2022).
    #[arg(long)]
    pub os_version: String,
    /// `os.features` entries (e.g. win32k for Server Core-like images); repeat or comma-separate.
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Where to write: `oci:DIR[:tag]` or `docker-archive:FILE[:ref]` (default: the store).
    #[arg(long)]
    pub output: Option<String>,
    /// gzip level of the layer (0–9).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub compression_level: u32,
    /// Architecture of the image.
    #[arg(long, default_value = "amd64")]
    pub architecture: String,
}

pub fn run(globals: &Globals, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create(args) => create(globals, args),
    }
}

fn create(globals: &Globals, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let location = match &args.output {
        Some(output) => ImageLocation::parse(output)?,
        None => ImageLocation::Store(args.tag.clone()),
    };
    let flavor = match location {
        ImageLocation::DockerArchive { .. } => Flavor::Docker,
        _ => Flavor::Oci,
    };
    let (mut sink, own_name) = location
        .open_sink(globals.root.as_deref())
        .with_context(|| format!("opening {}", args.output.as_deref().unwrap_or("the store")))?;
    let name = own_name.unwrap_or_else(|| args.tag.clone());
    let spec = BaseSpec {
        os_version: args.os_version,
        os_features: args
            .features
            .into_iter()
            .filter(|f| !f.is_empty())
            .collect(),
        architecture: Arch::from(args.architecture.as_str()),
        compression: LayerCompression::Gzip(args.compression_level),
        flavor,
    };
    let image = create_base_image(sink.as_mut(), Some(&name), &spec)?;
    println!("{name}\t{}", image.manifest.digest());
    eprintln!(
        "layer {} ({} bytes, diff_id {})",
        image.layer.digest(),
        image.layer.size(),
        image.layer_digests.diff_id
    );
    Ok(ExitCode::SUCCESS)
}
