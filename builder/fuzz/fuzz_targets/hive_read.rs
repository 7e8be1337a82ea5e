//! Fuzzes the regf reader with arbitrary bytes: it must never panic or allocate without bound,
//! and whatever it accepts must write out and read back to a byte-identical second write.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silo::hive::reader::{check_lh_hashes, scan_cells};
use silo::hive::{read_hive, read_hive_with, write_hive, ReadOptions, WriteOptions};

fuzz_target!(|data: &[u8]| {
    let _ = scan_cells(data);
    let _ = check_lh_hashes(data);
    let Ok(parsed) = read_hive_with(data, ReadOptions { allow_dirty: true }) else {
        return;
    };
    let options = if parsed.base.is_layered() || parsed.root.uses_layers() {
        WriteOptions::differencing("fuzz")
    } else {
        WriteOptions::default()
    };
    // The writer may refuse a tree (e.g. a tombstone key with values); it must not panic.
    let Ok(first) = write_hive(&parsed.root, &options) else {
        return;
    };
    let again = read_hive(&first).expect("our own output reads back");
    let second = write_hive(&again.root, &options).expect("a re-read tree writes again");
    assert!(first == second, "writing is not idempotent");
});
