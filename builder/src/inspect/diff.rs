//! What changed from image A to image B: files added, removed and changed (by kind, size,
//! attributes, owner, modification time, link target) in the merged views, and registry keys
//! and values added, removed and changed in the merged registries.

use crate::build::base::BaseImage;
use crate::hive::render::data_text;
use crate::hive::tree::Value;
use crate::hive::Key;
use crate::layer::changeset::HiveName;
use crate::store::Store;

use super::{hive_root_name, merged_files, merged_registry, InspectError, Registry};

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
    let files_a = merged_files(store, a)?;
    let files_b = merged_files(store, b)?;
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
    diff_registries(
        &merged_registry(store, a)?,
        &merged_registry(store, b)?,
        &mut out,
    );
    Ok(out)
}

fn diff_registries(a: &Registry, b: &Registry, out: &mut ImageDiff) {
    for hive in HiveName::ALL {
        let root = hive_root_name(hive);
        match (a.get(&hive), b.get(&hive)) {
            (Some(ka), Some(kb)) => diff_keys(ka, kb, root, out),
            (Some(_), None) => out.keys_removed.push(root.to_string()),
            (None, Some(_)) => out.keys_added.push(root.to_string()),
            (None, None) => {}
        }
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
