//! Transaction-log recovery (`hive::log`) on the real Windows 10 SYSTEM hive as shipped (dirty:
//! primary sequence 4317, secondary 4316), cross-checked against an independent replayer,
//! regipy's `apply_transaction_logs`: a change is split over two new-format log entries, one in
//! `SYSTEM.LOG1` and one in `SYSTEM.LOG2`; silo's replay and regipy's must produce the same hive
//! bins byte for byte, and regipy must read the change from its own result. Also the paths that
//! do not replay: no logs, stale logs, a corrupted entry — read as the primary, with a warning.

use std::path::Path;
use std::process::Command;

use silo::hive::log::{changed_pages, new_format_log};
use silo::hive::{read_hive, read_hive_recovering, write_hive, Key, Recovery, Value, WriteOptions};
use silo_tests::realbase::{clean_hive, is_dirty, real_system_hive};

/// The real hive's tree with `FromLog\Step1` and `FromLog\Step2` under `ControlSet001\Control`,
/// written step by step: (hive after step 1, hive after step 2).
fn two_steps(dirty: &[u8]) -> (Vec<u8>, Vec<u8>, Key) {
    let mut tree = read_hive(&clean_hive(dirty)).unwrap().root;
    let key = "ControlSet001\\Control\\FromLog";
    tree.create_path(key).set_value(Value::dword("Step1", 1));
    let step1 = write_hive(&tree, &WriteOptions::default()).unwrap();
    tree.create_path(key)
        .set_value(Value::string("Step2", "second entry"));
    let step2 = write_hive(&tree, &WriteOptions::default()).unwrap();
    (step1, step2, tree)
}

fn hbins_size(hive: &[u8]) -> u32 {
    u32::from_le_bytes(hive[40..44].try_into().unwrap())
}

#[test]
fn dirty_real_hive_replays_like_regipy() {
    let Some(dirty) = real_system_hive("dirty_real_hive_replays_like_regipy") else {
        return;
    };
    assert!(is_dirty(&dirty), "the corpus hive is dirty as shipped");
    let seq = u32::from_le_bytes(dirty[4..8].try_into().unwrap());
    let (step1, step2, _) = two_steps(&dirty);
    let want = read_hive(&step2).unwrap().root;
    let log1 = new_format_log(
        &dirty,
        &[(seq, hbins_size(&step1), changed_pages(&dirty, &step1))],
    );
    let log2 = new_format_log(
        &dirty,
        &[(seq + 1, hbins_size(&step2), changed_pages(&step1, &step2))],
    );

    let recovered = silo::hive::log::recover(&dirty, &[&log1, &log2]).unwrap();
    assert_eq!(
        recovered.recovery,
        Recovery::Replayed {
            entries: 2,
            pages: changed_pages(&dirty, &step1).len() + changed_pages(&step1, &step2).len(),
            sequence: seq + 1
        }
    );
    let ours = read_hive(&recovered.bytes).expect("the replayed hive is clean");
    // (Trees are compared with assert!: a 15 MB tree's Debug output is useless.)
    assert!(
        ours.root == want,
        "replay gives the hive the logs were made from"
    );

    let t = tempfile::tempdir().unwrap();
    let (hive, l1, l2, out) = (
        t.path().join("SYSTEM"),
        t.path().join("SYSTEM.LOG1"),
        t.path().join("SYSTEM.LOG2"),
        t.path().join("SYSTEM.restored"),
    );
    std::fs::write(&hive, &dirty).unwrap();
    std::fs::write(&l1, &log1).unwrap();
    std::fs::write(&l2, &log2).unwrap();
    let theirs = regipy_replay(&hive, &l1, &l2, &out);
    assert_eq!(
        theirs.values, "Step1=1;Step2=second entry",
        "regipy reads the change"
    );
    // regipy keeps the file's old length (it only writes pages); the bins are what counts.
    let restored = std::fs::read(&out).unwrap();
    let end = recovered.bytes.len();
    assert!(restored.len() >= end, "regipy's result is shorter");
    assert_eq!(
        &restored[40..44],
        &recovered.bytes[40..44],
        "hive bins size"
    );
    assert!(
        restored[4096..end] == recovered.bytes[4096..],
        "silo's and regipy's replays differ in the hive bins"
    );
    assert_eq!(theirs.pages, recovered_pages(&recovered.recovery));
}

fn recovered_pages(r: &Recovery) -> usize {
    match r {
        Recovery::Replayed { pages, .. } => *pages,
        other => panic!("not replayed: {other:?}"),
    }
}

struct RegipyResult {
    pages: usize,
    values: String,
}

/// regipy replays LOG1 and then LOG2 (its "secondary" log is applied first) and reads the
/// `FromLog` key from its own result.
fn regipy_replay(hive: &Path, log1: &Path, log2: &Path, out: &Path) -> RegipyResult {
    let script = r#"
import sys
from regipy.recovery import apply_transaction_logs
from regipy.registry import RegistryHive
hive, log1, log2, out = sys.argv[1:5]
_, pages = apply_transaction_logs(hive, log2, secondary_log_path=log1, restored_hive_path=out)
key = RegistryHive(out).get_key("\\ControlSet001\\Control\\FromLog")
values = ";".join(f"{v.name}={v.value}" for v in sorted(key.iter_values(), key=lambda v: v.name))
print(pages)
print(values)
"#;
    let o = Command::new(silo_tests::tools::venv_python())
        .arg("-c")
        .arg(script)
        .args([hive, log1, log2, out])
        .output()
        .expect("run the venv's python");
    assert!(
        o.status.success(),
        "regipy failed (is it in the venv? scripts/install-test-deps): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut lines = text.lines();
    RegipyResult {
        pages: lines
            .next()
            .unwrap_or("")
            .trim()
            .parse()
            .expect("page count"),
        values: lines.next().unwrap_or("").trim().to_string(),
    }
}

#[test]
fn dirty_real_hive_without_usable_logs_is_read_as_is_with_a_warning() {
    let Some(dirty) = real_system_hive("dirty_real_hive_without_usable_logs") else {
        return;
    };
    let seq = u32::from_le_bytes(dirty[4..8].try_into().unwrap());
    let (step1, _, _) = two_steps(&dirty);
    let pages = changed_pages(&dirty, &step1);
    let stale = new_format_log(&dirty, &[(seq - 1, hbins_size(&step1), pages.clone())]);
    let mut corrupt = new_format_log(&dirty, &[(seq, hbins_size(&step1), pages)]);
    let n = corrupt.len();
    corrupt[n - 1] ^= 0xFF;
    let as_shipped = read_hive_recovering(&clean_hive(&dirty), &[])
        .unwrap()
        .0
        .root;
    for (logs, why) in [
        (vec![], "has no .LOG1/.LOG2"),
        (vec![&stale[..]], "no log entry has a sequence number"),
        (vec![&corrupt[..]], "hash-1 does not match"),
    ] {
        let (parsed, recovery) = read_hive_recovering(&dirty, &logs).unwrap();
        let warning = recovery.warning("SYSTEM").expect("a warning");
        assert!(warning.contains(why), "{warning}");
        assert!(parsed.root == as_shipped, "the primary file as it is");
        assert!(parsed
            .root
            .find("ControlSet001\\Control\\FromLog")
            .is_none());
    }
}
