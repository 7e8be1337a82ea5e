//! Cross-checks our hive writer and reader against independent implementations: hivex
//! (`hivexregedit --export/--merge`, `hivexsh`), libregf (`regfinfo`, `regfexport`),
//! `reglookup` and python-registry (in the test venv). Each reader must see exactly the keys,
//! values (types and bytes) and classes we wrote. Tools that research §6.3 shows cannot read
//! tombstone values (hivex) are skipped for the differencing hive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use silo::hive::tree::{value_type as t, KeyFlags, SYMLINK_VALUE_NAME};
use silo::hive::{layers, read_hive, write_hive, Key, Value, WriteOptions};
use silo_tests::tools::venv_python;

/// path (relative to the root, `\`-separated) → value name → (type, bytes)
type Flat = BTreeMap<String, BTreeMap<String, (u32, Vec<u8>)>>;

fn flatten(key: &Key) -> Flat {
    fn walk(key: &Key, path: &str, out: &mut Flat) {
        let values = key
            .values()
            .map(|v| (v.name.clone(), (v.kind, v.data.clone())))
            .collect();
        out.insert(path.to_string(), values);
        for child in key.subkeys() {
            let p = if path.is_empty() {
                child.name.clone()
            } else {
                format!("{path}\\{}", child.name)
            };
            walk(child, &p, out);
        }
    }
    let mut out = Flat::new();
    walk(key, "", &mut out);
    out
}

/// The first few differences between two flattened trees, for readable failures.
fn flat_diff<V: PartialEq + std::fmt::Debug>(
    a: &BTreeMap<String, BTreeMap<String, V>>,
    b: &BTreeMap<String, BTreeMap<String, V>>,
) -> String {
    let mut out = Vec::new();
    for (path, va) in a {
        match b.get(path) {
            None => out.push(format!("only left: key {path:?}")),
            Some(vb) if va != vb => {
                for (name, x) in va {
                    match vb.get(name) {
                        Some(y) if y == x => {}
                        Some(y) => out.push(
                            format!("{path:?} value {name:?}: {x:?} vs {y:?}")
                                .chars()
                                .take(300)
                                .collect(),
                        ),
                        None => out.push(format!("{path:?} value {name:?} only left")),
                    }
                }
                for name in vb.keys().filter(|n| !va.contains_key(*n)) {
                    out.push(format!("{path:?} value {name:?} only right"));
                }
            }
            _ => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        out.push(format!("only right: key {path:?}"));
    }
    out.truncate(12);
    out.join("\n")
}

macro_rules! assert_same {
    ($a:expr, $b:expr, $($what:tt)+) => {{
        let (a, b) = (&$a, &$b);
        assert!(a == b, "{}:\n{}", format!($($what)+), flat_diff(a, b));
    }};
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(seed as u32 % 31) as u8
                ^ seed
        })
        .collect()
}

/// The generated corpus: sizes around every storage boundary, 600 subkeys (ri), Unicode and
/// Latin-1 names, every value type, classes and a symlink key.
fn corpus() -> Key {
    let mut root = Key::new_root("ROOT");
    root.last_write = 132_223_104_000_000_000;
    let sizes = root.create_path("Sizes");
    for (i, len) in [0usize, 1, 4, 5, 16344, 16345, 32688, 32689, 100 * 1024]
        .into_iter()
        .enumerate()
    {
        sizes.set_value(Value::new(
            format!("v{len}"),
            t::REG_BINARY,
            data(len, i as u8 + 1),
        ));
    }
    let many = root.create_path("Many");
    for i in 0..600 {
        many.create_path(&format!("Key{i:03}"))
            .set_value(Value::dword("n", i));
    }
    let names = root.create_path("Names");
    for name in [
        "straße",
        "ß",
        "\u{FF41}wide",
        "deseret\u{10438}",
        "\u{1F600}emoji",
        "äöü",
        "weird™",
        "Привет",
    ] {
        names.create_path(name).set_value(Value::string(name, name));
    }
    let types = root.create_path("Types");
    for kind in (0u32..=11).chain([0x10_0000, 0xFFFF_0007]) {
        let bytes = match kind {
            t::REG_SZ | t::REG_EXPAND_SZ => silo::hive::tree::utf16z("text"),
            t::REG_MULTI_SZ => {
                let mut v = silo::hive::tree::utf16z("a");
                v.extend(silo::hive::tree::utf16z("b"));
                v.extend([0, 0]);
                v
            }
            t::REG_DWORD | t::REG_DWORD_BIG_ENDIAN => vec![1, 2, 3, 4],
            t::REG_QWORD => vec![1, 2, 3, 4, 5, 6, 7, 8],
            _ => data(12, kind as u8),
        };
        types.set_value(Value::new(format!("type{kind:x}"), kind, bytes));
    }
    types.set_value(Value::new(
        "",
        t::REG_SZ,
        silo::hive::tree::utf16z("default"),
    ));
    root.create_path(r"Classes\WithClass")
        .set_class_text("MyClass");
    root.create_path(r"Classes\Other")
        .set_class_text("Ünïcode class");
    let link = root.create_path("Link");
    link.flags.set(KeyFlags::SYM_LINK, true);
    link.set_value(Value::new(
        SYMLINK_VALUE_NAME,
        t::REG_LINK,
        r"\REGISTRY\MACHINE\SOFTWARE\Classes"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>(),
    ));
    root
}

fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(found, "{tool} is missing: run scripts/install-test-deps");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, name: &str, root: &Key, options: &WriteOptions) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, write_hive(root, options).unwrap()).unwrap();
    path
}

const PY_WALK: &str = r#"
import json, sys
from Registry import Registry
reg = Registry.Registry(sys.argv[1])
out = {}
def walk(key, path):
    vals = {}
    for v in key.values():
        vk = v._vkrecord
        # value_type() masks the type to 12 bits; the raw vk field is the full u32.
        kind = vk.unpack_dword(0xC)
        # raw_data() reads inline REG_DWORD_BIG_ENDIAN data as a cell offset (its bug).
        data = None if kind == 5 else v.raw_data().hex()
        vals[vk.name() if vk.has_name() else ""] = [kind, data]
    out[path] = vals
    for sub in key.subkeys():
        walk(sub, sub.name() if path == "" else path + "\\" + sub.name())
walk(reg.root(), "")
json.dump(out, sys.stdout)
"#;

/// Stands for data python-registry cannot return correctly (see `PY_WALK`).
const UNCHECKED: &[u8] = b"<unchecked>";

/// `flat` with the data python-registry cannot read replaced by [`UNCHECKED`].
fn as_python_registry_sees(flat: &Flat) -> Flat {
    let mut flat = flat.clone();
    for values in flat.values_mut() {
        for (kind, data) in values.values_mut() {
            if *kind == t::REG_DWORD_BIG_ENDIAN {
                *data = UNCHECKED.to_vec();
            }
        }
    }
    flat
}

fn python_registry(file: &Path) -> Flat {
    let out = run(Command::new(venv_python()).arg("-c").arg(PY_WALK).arg(file));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    json.as_object()
        .unwrap()
        .iter()
        .map(|(path, values)| {
            let values = values
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, tv)| {
                    let kind = tv[0].as_u64().unwrap() as u32;
                    let data = tv[1].as_str().map(|h| hex::decode(h).unwrap());
                    (
                        name.clone(),
                        (kind, data.unwrap_or_else(|| UNCHECKED.to_vec())),
                    )
                })
                .collect();
            (path.clone(), values)
        })
        .collect()
}

/// Parses `hivexregedit --export` output (`.reg` text with `hex(N):` data).
fn parse_reg_export(text: &str) -> Flat {
    let mut flat = Flat::new();
    let mut current: Option<String> = None;
    let mut logical = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        pending.push_str(line.trim_start());
        if pending.ends_with('\\') && !pending.starts_with('[') {
            pending.pop();
            continue;
        }
        logical.push(std::mem::take(&mut pending));
    }
    for line in logical {
        if let Some(key) = line.strip_prefix("[\\").and_then(|l| l.strip_suffix(']')) {
            flat.insert(key.to_string(), BTreeMap::new());
            current = Some(key.to_string());
            continue;
        }
        if line.is_empty() || line.starts_with("Windows Registry") {
            continue;
        }
        let (name, rest) = if let Some(rest) = line.strip_prefix("@=") {
            (String::new(), rest)
        } else {
            let body = line
                .strip_prefix('"')
                .expect("value line starts with a quote");
            let mut name = String::new();
            let mut chars = body.char_indices();
            let mut end = 0;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => name.push(chars.next().unwrap().1),
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => name.push(c),
                }
            }
            (name, body[end..].strip_prefix('=').unwrap())
        };
        let (kind, bytes) = if let Some(d) = rest.strip_prefix("dword:") {
            (
                t::REG_DWORD,
                u32::from_str_radix(d, 16).unwrap().to_le_bytes().to_vec(),
            )
        } else {
            let (kind, hexes) = if let Some(h) = rest.strip_prefix("hex:") {
                (t::REG_BINARY, h)
            } else {
                let inner = rest.strip_prefix("hex(").expect("hex(N): data");
                let (n, h) = inner.split_once("):").unwrap();
                (u32::from_str_radix(n, 16).unwrap(), h)
            };
            let bytes = hexes
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect();
            (kind, bytes)
        };
        flat.get_mut(current.as_ref().unwrap())
            .unwrap()
            .insert(name, (kind, bytes));
    }
    flat
}

fn hivex_export(file: &Path) -> Flat {
    // PERL_UNICODE=SO: print every name as UTF-8 (hivexregedit otherwise prints Latin-1 names
    // as raw Latin-1 bytes and others as UTF-8).
    parse_reg_export(&run(Command::new("hivexregedit")
        .env("PERL_UNICODE", "SO")
        .arg("--export")
        .arg(file)
        .arg("\\")))
}

/// `regfexport`: key paths and, per value, its name and data size.
fn regfexport(file: &Path, root_name: &str) -> BTreeMap<String, BTreeMap<String, usize>> {
    let out = run(Command::new("regfexport").arg(file));
    let mut map = BTreeMap::<String, BTreeMap<String, usize>>::new();
    let mut current = String::new();
    let mut value = None;
    for line in out.lines() {
        if let Some(path) = line.strip_prefix("Key path: ") {
            current = path
                .strip_prefix(root_name)
                .unwrap()
                .trim_start_matches('\\')
                .to_string();
            map.entry(current.clone()).or_default();
        } else if let Some(v) = line.strip_prefix("Value: ") {
            let (_, name) = v.split_once(' ').unwrap_or((v, ""));
            // regfexport names the default value "(default)".
            value = Some(if name == "(default)" { "" } else { name }.to_string());
        } else if let Some(size) = line.strip_prefix("Data size: ") {
            let name = value.take().expect("Data size follows Value");
            map.get_mut(&current)
                .unwrap()
                .insert(name, size.trim().parse().unwrap());
        }
    }
    map
}

fn assert_regfinfo_clean(file: &Path) {
    let out = run(Command::new("regfinfo").arg(file));
    assert!(
        !out.to_lowercase().contains("corrupted"),
        "regfinfo reports corruption in {}:\n{out}",
        file.display()
    );
}

/// reglookup CSV rows: path → (type, class, owner SID) (key rows have 9 fields, values 8).
fn reglookup(file: &Path) -> BTreeMap<String, (String, String, String)> {
    let out = run(Command::new("reglookup").arg("-s").arg(file));
    out.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields.len() >= 8).then(|| {
                let field = |i: usize| fields.get(i).copied().unwrap_or("").to_string();
                (field(0), (field(1), field(8), field(4)))
            })
        })
        .collect()
}

fn size_map(flat: &Flat) -> BTreeMap<String, BTreeMap<String, usize>> {
    flat.iter()
        .map(|(p, vals)| {
            (
                p.clone(),
                vals.iter()
                    .map(|(n, (_, d))| (n.clone(), d.len()))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn independent_readers_see_what_we_wrote() {
    for tool in [
        "hivexregedit",
        "hivexsh",
        "regfinfo",
        "regfexport",
        "reglookup",
    ] {
        require(tool);
    }
    let dir = scratch("readers");
    let tree = corpus();
    let expected = flatten(&tree);
    let file = write(
        dir.as_path(),
        "corpus.hive",
        &tree,
        &WriteOptions::default(),
    );
    let empty = write(
        dir.as_path(),
        "empty.hive",
        &Key::new("ROOT"),
        &WriteOptions::default(),
    );

    // Our own reader first.
    let mut resolved = tree.clone();
    resolved.fill_security(&WriteOptions::default().default_security);
    assert!(read_hive(&std::fs::read(&file).unwrap()).unwrap().root == resolved);

    for (path, tree_flat) in [(&file, &expected), (&empty, &flatten(&Key::new("ROOT")))] {
        assert_same!(
            python_registry(path),
            as_python_registry_sees(tree_flat),
            "python-registry on {}",
            path.display()
        );
        assert_same!(
            hivex_export(path),
            *tree_flat,
            "hivexregedit --export on {}",
            path.display()
        );
        assert_same!(
            regfexport(path, "ROOT"),
            size_map(tree_flat),
            "regfexport on {}",
            path.display()
        );
        assert_regfinfo_clean(path);
    }

    // reglookup: every ASCII key with its class, every ASCII value with its type.
    let rows = reglookup(&file);
    let type_names: BTreeMap<u32, &str> = [
        (0, "NONE"),
        (1, "SZ"),
        (2, "EXPAND_SZ"),
        (3, "BINARY"),
        (4, "DWORD"),
        (5, "DWORD_BE"),
        (6, "LINK"),
        (7, "MULTI_SZ"),
        (11, "QWORD"),
    ]
    .into_iter()
    .collect();
    let mut checked = 0;
    for (path, values) in &expected {
        if !path.is_ascii() {
            continue;
        }
        let key_path = format!("/{}", path.replace('\\', "/"));
        let (kind, class, owner) = rows
            .get(&key_path)
            .unwrap_or_else(|| panic!("reglookup misses key {key_path}"));
        assert_eq!(kind, "KEY");
        assert_eq!(
            owner, "S-1-5-32-544",
            "owner in the security descriptor of {key_path}"
        );
        let expected_class = tree.find(path).unwrap().class_text().unwrap_or_default();
        if expected_class.is_ascii() {
            assert_eq!(class, &expected_class, "class of {key_path}");
        }
        for (name, (vtype, _)) in values {
            if !name.is_ascii() || name.is_empty() {
                continue;
            }
            let value_path = format!("{}/{name}", key_path.trim_end_matches('/'));
            let (kind, _, _) = rows
                .get(&value_path)
                .unwrap_or_else(|| panic!("reglookup misses value {value_path}"));
            if let Some(tn) = type_names.get(vtype) {
                assert_eq!(kind, tn, "type of {value_path}");
            }
            checked += 1;
        }
    }
    assert!(checked > 600, "reglookup compared only {checked} values");

    // hivexsh: the 600-subkey key (an ri over lh leaves) lists every child.
    let script = write_script(&dir, "cd \\Many\nls\n");
    let listing = run(Command::new("hivexsh").arg("-f").arg(&script).arg(&file));
    assert_eq!(
        listing.lines().filter(|l| l.starts_with("Key")).count(),
        600
    );
}

/// A fresh scratch directory under the target dir, kept after the run for inspection.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("hive_crosscheck")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_script(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("script.hivexsh");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn differencing_hive_reads_in_tombstone_capable_readers() {
    require("regfinfo");
    require("reglookup");
    let dir = scratch("delta");
    let mut base = corpus();
    base.fill_security(&WriteOptions::default().default_security);
    let mut target = base.clone();
    target.remove_subkey("Link");
    target.find_mut("Types").unwrap().remove_value("type3");
    target
        .find_mut("Types")
        .unwrap()
        .set_value(Value::dword("added", 7));
    target
        .create_path(r"New\Deep")
        .set_value(Value::dword("x", 1));
    target.fill_security(&WriteOptions::default().default_security);
    let delta = layers::diff(&base, &target);
    let file = write(
        dir.as_path(),
        "Software_Delta",
        &delta,
        &WriteOptions::differencing(r"Hives\Software_Delta"),
    );

    let back = read_hive(&std::fs::read(&file).unwrap()).unwrap();
    assert!(back.base.is_layered() && back.base.minor == 6);
    let mut resolved = delta.clone();
    resolved.fill_security(&WriteOptions::default().default_security);
    assert!(back.root == resolved);
    assert_eq!(layers::merge(&base, &[&back.root]), Some(target));

    // python-registry sees tombstones as empty REG_NONE values.
    let expected = flatten(&delta);
    assert_same!(
        python_registry(&file),
        as_python_registry_sees(&expected),
        "python-registry on the delta"
    );
    let rows = reglookup(&file);
    assert!(
        rows.contains_key("/Link"),
        "reglookup lists the tombstone key"
    );
    assert!(
        rows.contains_key("/Types/type3"),
        "reglookup lists the tombstone value"
    );
    // libregf flags tombstone values as corrupted but still reads the hive.
    run(Command::new("regfinfo").arg(&file));
    assert_eq!(regfexport(&file, "ROOT").len(), expected.len());
}

/// Writes `key`'s subtree as `.reg` text for `hivexregedit --merge` (parents before children).
fn to_reg_file(key: &Key, path: &str, out: &mut String) {
    out.push_str(&format!("[HKEY_LOCAL_MACHINE\\SOFTWARE{path}]\n"));
    for v in key.values() {
        let name = if v.name.is_empty() {
            "@".to_string()
        } else {
            format!("\"{}\"", v.name.replace('\\', "\\\\").replace('"', "\\\""))
        };
        let hex: Vec<String> = v.data.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!("{name}=hex({:x}):{}\n", v.kind, hex.join(",")));
    }
    out.push('\n');
    for child in key.subkeys() {
        to_reg_file(child, &format!("{path}\\{}", child.name), out);
    }
}

#[test]
fn round_trip_through_hivex() {
    if silo_tests::corpus("fixtures/hives").is_none() {
        return;
    }
    let dir = scratch("hivex");
    require("hivexregedit");
    // hivex keeps no classes or link flags; everything else of the corpus goes through.
    let mut tree = corpus();
    tree.remove_subkey("Classes");
    tree.remove_subkey("Link");
    let mut reg = String::from("Windows Registry Editor Version 5.00\n\n");
    for child in tree.subkeys() {
        to_reg_file(child, &format!("\\{}", child.name), &mut reg);
    }
    let reg_file = dir.as_path().join("in.reg");
    std::fs::write(&reg_file, reg).unwrap();
    let hive = dir.as_path().join("hivex.hive");
    std::fs::copy(
        silo_tests::shared_dir().join("fixtures/hives/hivex__minimal"),
        &hive,
    )
    .unwrap();
    std::fs::set_permissions(&hive, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    run(Command::new("hivexregedit")
        .arg("--merge")
        .arg("--prefix")
        .arg("HKEY_LOCAL_MACHINE\\SOFTWARE")
        .arg(&hive)
        .arg(&reg_file));
    let parsed = read_hive(&std::fs::read(&hive).unwrap()).unwrap();
    assert_eq!(parsed.root.name, "$$$PROTO.HIV");
    assert_same!(
        flatten(&parsed.root),
        flatten(&tree),
        "hivex-written hive read by silo"
    );

    // And the other way: our file, exported by hivex, is the same tree.
    let ours = write(
        dir.as_path(),
        "ours.hive",
        &parsed.root,
        &WriteOptions::default(),
    );
    assert_same!(
        hivex_export(&ours),
        flatten(&tree),
        "our re-write exported by hivex"
    );
}
