//! What changed from image A to image B: files added, removed and changed (by kind, size,
//! attributes, owner, modification time, link target) in the merged views, and registry keys
//! and values added, removed and changed in the merged registries.

use crate::build::sources::base::BaseImage;
use crate::hive::render::data_text;
use crate::hive::tree::Value;
use crate::hive::{Key, LayerSemantics};
use crate::layer::changeset::HiveName;
use crate::store::Store;

use super::files::merged_files_with;
use super::registry::{image_hives_with, HiveBytes};
use super::{hive_root_name, InspectError, LayerReads};

/// One changed file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileChange {
    pub path: String,
    pub changed: Vec<&'static str>,
}

/// One added, removed or changed value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValueChange {
    pub key: String,
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The differences between two images.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImageDiff {
    pub files_added: Vec<String>,
    pub files_removed: Vec<String>,
    pub files_changed: Vec<FileChange>,
    pub keys_added: Vec<String>,
    pub keys_removed: Vec<String>,
    pub values_added: Vec<ValueChange>,
    pub values_removed: Vec<ValueChange>,
    pub values_changed: Vec<ValueChange>,
}

impl ImageDiff {
    pub fn is_empty(&self) -> bool {
        self.files_added.is_empty()
            && self.files_removed.is_empty()
            && self.files_changed.is_empty()
            && self.keys_added.is_empty()
            && self.keys_removed.is_empty()
            && self.values_added.is_empty()
            && self.values_removed.is_empty()
            && self.values_changed.is_empty()
    }
}

/// Compares the merged files and registries of `a` and `b`.
pub fn diff_images(store: &Store, a: &BaseImage, b: &BaseImage) -> Result<ImageDiff, InspectError> {
    let mut out = ImageDiff::default();
    // One pass per distinct layer serves both images' files and registries.
    let mut reads = LayerReads::new(store, true);
    let files_a = merged_files_with(&mut reads, a)?;
    let files_b = merged_files_with(&mut reads, b)?;
    for (key, before) in &files_a {
        match files_b.get(key) {
            None => out.files_removed.push(before.path.clone()),
            Some(after) => {
                let changed = after.changes_from(before);
                if !changed.is_empty() {
                    out.files_changed.push(FileChange {
                        path: after.path.clone(),
                        changed,
                    });
                }
            }
        }
    }
    for (key, after) in &files_b {
        if !files_a.contains_key(key) {
            out.files_added.push(after.path.clone());
        }
    }
    let (hives_a, hives_b) = (
        image_hives_with(&mut reads, a)?,
        image_hives_with(&mut reads, b)?,
    );
    for hive in HiveName::ALL {
        let empty = HiveBytes::default();
        let (ha, hb) = (
            hives_a.get(&hive).unwrap_or(&empty),
            hives_b.get(&hive).unwrap_or(&empty),
        );
        let (sa, sb) = (ha.sources(), hb.sources());
        let root = hive_root_name(hive);
        if sa == sb {
            continue; // the same files: nothing differs
        }
        // B built on A (or A on B): only keys the extra deltas touch can differ, so both views
        // are read only along those keys.
        let (older, newer, shared, swapped) = if sb.starts_with(&sa) {
            (ha, hb, sa.len(), false)
        } else if sa.starts_with(&sb) {
            (hb, ha, sb.len(), true)
        } else {
            (ha, hb, 0, false)
        };
        let (ka, kb) = if shared > 0 {
            let extra = newer.deltas_after(shared)?;
            let mut roots = Vec::new();
            for d in &extra {
                touched_roots(d, "", &mut roots);
            }
            let paths: Vec<&str> = roots.iter().map(String::as_str).collect();
            let old_view = older.project(hive, &paths)?;
            let new_view = newer.project(hive, &paths)?;
            if swapped {
                (new_view, old_view)
            } else {
                (old_view, new_view)
            }
        } else {
            (ha.project(hive, &[""])?, hb.project(hive, &[""])?)
        };
        match (ka, kb) {
            (Some(ka), Some(kb)) => diff_keys(&ka, &kb, root, &mut out),
            (Some(_), None) => out.keys_removed.push(root.to_string()),
            (None, Some(_)) => out.keys_added.push(root.to_string()),
            (None, None) => {}
        }
    }
    Ok(out)
}

/// The paths under which a delta can change anything: its nodes that carry values, a class,
/// non-merge layer semantics, or no subkeys (a new or re-stated key), not looking below them.
fn touched_roots(delta: &Key, path: &str, out: &mut Vec<String>) {
    let own = delta.values().next().is_some()
        || delta.layer != LayerSemantics::Merge
        || (!delta.inherit_class && delta.class.is_some())
        || delta.subkeys().next().is_none();
    if own {
        out.push(path.to_string());
        return;
    }
    for sub in delta.subkeys() {
        let child = if path.is_empty() {
            sub.name.clone()
        } else {
            format!("{path}\\{}", sub.name)
        };
        touched_roots(sub, &child, out);
    }
}

fn value_text(value: &Value) -> String {
    format!(
        "{} {}",
        crate::hive::render::type_name(value.kind).unwrap_or("REG_UNKNOWN"),
        data_text(value)
    )
}

fn diff_keys(a: &Key, b: &Key, path: &str, out: &mut ImageDiff) {
    let change = |v: &Value, before: Option<&Value>, after: Option<&Value>| ValueChange {
        key: path.to_string(),
        name: v.name.clone(),
        before: before.map(value_text),
        after: after.map(value_text),
    };
    for va in a.values() {
        match b.value(&va.name) {
            None => out.values_removed.push(change(va, Some(va), None)),
            Some(vb) if vb.kind != va.kind || vb.data != va.data => {
                out.values_changed.push(change(va, Some(va), Some(vb)))
            }
            Some(_) => {}
        }
    }
    for vb in b.values() {
        if a.value(&vb.name).is_none() {
            out.values_added.push(change(vb, None, Some(vb)));
        }
    }
    for ka in a.subkeys() {
        let child = format!("{path}\\{}", ka.name);
        match b.subkey(&ka.name) {
            None => out.keys_removed.push(child),
            Some(kb) => diff_keys(ka, kb, &child, out),
        }
    }
    for kb in b.subkeys() {
        if a.subkey(&kb.name).is_none() {
            out.keys_added.push(format!("{path}\\{}", kb.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_differences_are_reported_by_path() {
        let mut a = Key::new_root("SOFTWARE");
        a.create_path("Old").set_value(Value::dword("Gone", 1));
        a.create_path("Same").set_value(Value::string("V", "one"));
        let mut b = Key::new_root("SOFTWARE");
        b.create_path("Same").set_value(Value::string("V", "two"));
        b.create_path("New\\Deep");
        let mut out = ImageDiff::default();
        diff_keys(&a, &b, "HKLM\\SOFTWARE", &mut out);
        assert_eq!(out.keys_removed, ["HKLM\\SOFTWARE\\Old"]);
        assert_eq!(out.keys_added, ["HKLM\\SOFTWARE\\New"]);
        assert_eq!(out.values_changed.len(), 1);
        assert_eq!(out.values_changed[0].after.as_deref(), Some("REG_SZ two"));
        assert!(
            out.values_removed.is_empty(),
            "values of a removed key are in the key"
        );
    }
}
