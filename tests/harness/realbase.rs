//! A realistic Windows base image for tests: the real Windows 10 1709 SYSTEM hive from the
//! shared corpus (`fixtures/hives/regipy__SYSTEM_WIN_10_1709.xz`, 15 MB, hundreds of services
//! and drivers, real hardware and time-zone values), as shipped (dirty: primary sequence 4317,
//! secondary 4316) or cleaned, in a base layer shaped like a real servercore base layer
//! (research `windows-layers.md` §1): `Files/` and `UtilityVM/Files/` trees with an explicit
//! entry for every directory before its children, the five hives in
//! `Files/Windows/System32/config/` with the `.LOG1`/`.LOG2` files Windows keeps beside them,
//! PAX `MSWINDOWS.fileattr` and `LIBARCHIVE.creationtime` records, a `UtilityVM` boot BCD.
//!
//! The corpus is third-party test data that must not enter the repository, so it is read from
//! `../shared` at run time. When it is absent a test skips with a message — unless `CI=true`,
//! where a missing corpus is a failure (CI always has it).
//!
//! The other hives (SOFTWARE, SAM, SECURITY, DEFAULT) are the caller's (the tests use silo's
//! minimal ones): the corpus has no real SOFTWARE hive (too large for the upstream snapshot)
//! and no NTUSER-style hive to stand in for DEFAULT.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::image::{sha256_digest, Blob, Image, Layer, OCI_LAYER_TAR};

/// The real SYSTEM hive's corpus file.
pub fn system_hive_path() -> PathBuf {
    crate::shared_dir().join("fixtures/hives/regipy__SYSTEM_WIN_10_1709.xz")
}

/// The real SYSTEM hive as shipped (dirty), decompressed; `None` (with a message on stderr)
/// when the corpus is absent outside CI.
pub fn real_system_hive(test: &str) -> Option<Vec<u8>> {
    let path = system_hive_path();
    if !path.is_file() {
        let msg = format!(
            "{test}: the shared hive corpus is missing ({}); set SILO_SHARED to ../shared",
            path.display()
        );
        crate::skip(test, &msg);
        return None;
    }
    let out = Command::new("xz")
        .arg("-dc")
        .arg(&path)
        .output()
        .expect("run xz (Debian package xz-utils)");
    assert!(out.status.success(), "xz -dc {}: {:?}", path.display(), out);
    Some(out.stdout)
}

/// `hive` with its secondary sequence number set to the primary one and the base-block
/// checksum recomputed: what Windows leaves after a completed flush.
pub fn clean_hive(hive: &[u8]) -> Vec<u8> {
    let mut out = hive.to_vec();
    let seq1: [u8; 4] = out[4..8].try_into().unwrap();
    out[8..12].copy_from_slice(&seq1);
    let sum = out[..508].chunks_exact(4).fold(0u32, |acc, w| {
        acc ^ u32::from_le_bytes(w.try_into().unwrap())
    });
    let sum = match sum {
        0xFFFF_FFFF => 0xFFFF_FFFE,
        0 => 1,
        s => s,
    };
    out[508..512].copy_from_slice(&sum.to_le_bytes());
    out
}

/// Whether the hive's sequence numbers differ (Windows did not finish writing it back).
pub fn is_dirty(hive: &[u8]) -> bool {
    hive[4..8] != hive[8..12]
}

/// What goes into `Files/Windows/System32/config/`: (file name, bytes), hives and their logs.
pub type ConfigFiles = Vec<(String, Vec<u8>)>;

/// A base layer tar shaped like servercore's, with `config` in `Files/Windows/System32/config/`.
/// Returns the uncompressed tar (its sha256 is the diff_id).
pub fn servercore_layer_tar(config: &ConfigFiles) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let dirs = [
        "Files",
        "Files/Program Files",
        "Files/Program Files/Common Files",
        "Files/ProgramData",
        "Files/ProgramData/Microsoft",
        "Files/Users",
        "Files/Users/Public",
        "Files/Windows",
        "Files/Windows/System32",
        "Files/Windows/System32/config",
        "Files/Windows/System32/config/RegBack",
        "Files/Windows/System32/config/systemprofile",
        "Files/Windows/System32/drivers",
        "Files/Windows/System32/drivers/etc",
        "Files/Windows/Temp",
        "UtilityVM",
        "UtilityVM/Files",
        "UtilityVM/Files/EFI",
        "UtilityVM/Files/EFI/Microsoft",
        "UtilityVM/Files/EFI/Microsoft/Boot",
    ];
    for d in dirs {
        append(&mut b, d, None);
        if d == "Files/Windows/System32/config" {
            for (name, bytes) in config {
                append(&mut b, &format!("{d}/{name}"), Some(bytes));
            }
        }
    }
    append(
        &mut b,
        "Files/Windows/System32/drivers/etc/hosts",
        Some(b"# Copyright (c) 1993-2009 Microsoft Corp.\r\n127.0.0.1 localhost\r\n"),
    );
    append(
        &mut b,
        "Files/License.txt",
        Some(b"Stand-in for the licence text of a real base layer.\r\n"),
    );
    // The utility VM's boot configuration is a regf hive too; its content is not used off
    // Windows, so the smallest valid hive stands in for it.
    let bcd = config
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("SAM"))
        .map(|(_, b)| b.clone())
        .unwrap_or_default();
    append(&mut b, "UtilityVM/Files/EFI/Microsoft/Boot/BCD", Some(&bcd));
    b.into_inner().expect("finish the base layer tar")
}

/// One tar entry as a Windows export writes it: PAX `MSWINDOWS.fileattr` (16 directory, 32
/// archive) and `LIBARCHIVE.creationtime`, type bits only in the mode.
fn append(b: &mut tar::Builder<Vec<u8>>, path: &str, data: Option<&[u8]>) {
    let attr = if data.is_some() { "32" } else { "16" };
    b.append_pax_extensions([
        ("MSWINDOWS.fileattr", attr.as_bytes()),
        ("LIBARCHIVE.creationtime", b"1700000000".as_slice()),
    ])
    .expect("pax record");
    let mut h = tar::Header::new_ustar();
    h.set_mtime(1_700_000_000);
    match data {
        Some(bytes) => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o100000);
            h.set_size(bytes.len() as u64);
            b.append_data(&mut h, path, bytes).expect("tar entry");
        }
        None => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o40000);
            h.set_size(0);
            b.append_data(&mut h, path, std::io::empty())
                .expect("tar entry");
        }
    }
}

/// Writes the layer tar to `dir/<name>.tar`; returns (path, diff_id).
pub fn write_layer_file(dir: &Path, name: &str, tar: &[u8]) -> (PathBuf, String) {
    let path = dir.join(format!("{name}.tar"));
    std::fs::write(&path, tar).expect("write the layer tar");
    (path, sha256_digest(tar))
}

/// A windows/amd64 OCI image (os.version 10.0.16299.15, the hive's Windows 10 1709) of the
/// uncompressed layer tars `layers` (base first), written as an OCI layout at `dir` tagged `tag`.
pub fn write_oci_image(dir: &Path, tag: &str, layers: Vec<Vec<u8>>) {
    let layers = layers
        .into_iter()
        .map(|tar| {
            let blob = Blob::new(OCI_LAYER_TAR, tar);
            Layer {
                diff_id: blob.digest.clone(),
                blob,
            }
        })
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.16299.15",
        "config": {"Cmd": ["c:\\windows\\system32\\cmd.exe"]},
    });
    Image::assemble(config, layers, false).write_oci_layout(dir, tag);
}

/// A non-base layer tar holding only `Hives/<name>` = `delta` (e.g. `System_Delta`).
pub fn delta_layer_tar(name: &str, delta: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "Files", None);
    append(&mut b, "Hives", None);
    append(&mut b, &format!("Hives/{name}"), Some(delta));
    b.into_inner().expect("finish the delta layer tar")
}
