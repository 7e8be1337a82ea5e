//! A small driver of the layer codec for `scripts/bench-layer` (not part of the `silo` CLI):
//! `layer_tool create DIR OUT [LEVEL]` writes DIR as a gzip Windows layer;
//! `layer_tool unpack LAYER DIR` unpacks a layer's `Files/` into DIR.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::ExitCode;

use silo::layer::{self, LayerCompression, Timestamp, UnpackFilter, WriteOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("create") if args.len() >= 4 => create(&args[2], &args[3], args.get(4)),
        Some("unpack") if args.len() == 4 => unpack(&args[2], &args[3]),
        _ => Err("usage: layer_tool create DIR OUT [LEVEL] | layer_tool unpack LAYER DIR".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn create(dir: &str, out: &str, level: Option<&String>) -> Result<(), Box<dyn std::error::Error>> {
    let level = level.map(|l| l.parse()).transpose()?.unwrap_or(6);
    let changes = layer::scan::scan_directory(Path::new(dir))?;
    let options = WriteOptions {
        compression: LayerCompression::Gzip(level),
        ..WriteOptions::from_env(Timestamp::default())
    };
    let file = BufWriter::with_capacity(1 << 20, File::create(out)?);
    let (_, digests) = layer::write_layer(&changes, &options, file)?;
    println!("{}\t{}\t{}", digests.digest, digests.diff_id, digests.size);
    Ok(())
}

fn unpack(layer_path: &str, dir: &str) -> Result<(), Box<dyn std::error::Error>> {
    let report = layer::unpack_strict(
        File::open(layer_path)?,
        Path::new(dir),
        UnpackFilter::WindowsFiles,
    )?;
    println!(
        "{}\t{} entries\t{} bytes",
        report.diff_id, report.written, report.bytes
    );
    Ok(())
}
