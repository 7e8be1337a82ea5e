//! The file view of an image or a layer: one [`FileInfo`] per path under `C:\`, and the merged
//! view of all layers (each layer's whiteouts delete the path and everything under it in the
//! layers below; later entries replace earlier ones). Windows paths compare case-insensitively.

use std::collections::BTreeMap;

use crate::build::sources::base::BaseImage;
use crate::layer::reader::{LayerEntry, LayerEntryKind};
use crate::store::Store;

use super::{read_layer_content, timestamp_text, InspectError, LayerReads};

/// One file, directory, link or whiteout as `silo ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileInfo {
    /// Path relative to `C:\`, `\`-separated.
    pub path: String,
    pub kind: &'static str,
    pub size: u64,
    /// `FILE_ATTRIBUTE_*` bits when the layer records them.
    pub attributes: Option<u32>,
    pub owner: Option<String>,
    pub modified: String,
    pub created: Option<String>,
    pub link_target: Option<String>,
    /// Index of the layer the entry comes from.
    pub layer: usize,
}

impl FileInfo {
    /// `attrib`-like letters of the attribute bits (`D` directory, `A` archive, `R` read-only,
    /// `H` hidden, `S` system, `L` reparse point).
    pub fn attribute_letters(&self) -> String {
        let bits = self.attributes.unwrap_or(0);
        [
            (0x10, 'D'),
            (0x20, 'A'),
            (0x01, 'R'),
            (0x02, 'H'),
            (0x04, 'S'),
            (0x400, 'L'),
        ]
        .iter()
        .map(|&(bit, c)| if bits & bit != 0 { c } else { '-' })
        .collect()
    }

    /// What differs between two versions of a path, for `silo diff`.
    pub fn changes_from(&self, older: &FileInfo) -> Vec<&'static str> {
        let mut what = Vec::new();
        if self.kind != older.kind {
            what.push("kind");
        }
        if self.size != older.size {
            what.push("size");
        }
        if self.attributes != older.attributes {
            what.push("attributes");
        }
        if self.owner != older.owner {
            what.push("owner");
        }
        if self.modified != older.modified {
            what.push("modified");
        }
        if self.link_target != older.link_target {
            what.push("link_target");
        }
        what
    }
}

/// The entry of a layer as a [`FileInfo`], or `None` for entries outside `Files/` (hives, the
/// `Files` directory itself).
pub fn file_info(entry: &LayerEntry, layer: usize) -> Option<FileInfo> {
    let (path, kind) = match &entry.kind {
        LayerEntryKind::Whiteout { deleted } => (deleted.clone(), "whiteout"),
        LayerEntryKind::OpaqueWhiteout { directory } => (directory.clone(), "opaque-whiteout"),
        other => {
            let path = entry.windows_path()?.to_string();
            let kind = match other {
                LayerEntryKind::Directory => "dir",
                LayerEntryKind::File => "file",
                LayerEntryKind::HardLink => "hardlink",
                LayerEntryKind::Symlink => "symlink",
                LayerEntryKind::Junction => "junction",
                LayerEntryKind::AltStream { .. } => "stream",
                _ => "other",
            };
            (path, kind)
        }
    };
    if path.is_empty() {
        return None;
    }
    Some(FileInfo {
        path: path.trim_start_matches("Files/").replace('/', "\\"),
        kind,
        size: entry.size,
        attributes: entry.attributes,
        owner: entry.owner.as_ref().map(|s| s.to_string()),
        modified: timestamp_text(entry.mtime),
        created: entry.creation_time.map(timestamp_text),
        link_target: entry.link_target.clone(),
        layer,
    })
}

/// Case-insensitive map key of a `\`-separated path, as NTFS compares names (so the view is
/// also in NTFS directory order).
fn fold(path: &str) -> String {
    crate::layer::ntfs_fold(path)
}

/// The raw entries of one layer (whiteouts included).
pub fn layer_files(
    store: &Store,
    image: &BaseImage,
    index: usize,
) -> Result<Vec<FileInfo>, InspectError> {
    let content = read_layer_content(store, image, index, false)?;
    Ok(content
        .entries
        .iter()
        .filter_map(|e| file_info(e, index))
        .collect())
}

/// The merged file view of all layers, keyed by case-folded path, sorted.
pub fn merged_files(
    store: &Store,
    image: &BaseImage,
) -> Result<BTreeMap<String, FileInfo>, InspectError> {
    merged_files_with(&mut LayerReads::new(store, false), image)
}

/// [`merged_files`] through `reads` (layers shared with other views are read once).
pub fn merged_files_with(
    reads: &mut LayerReads,
    image: &BaseImage,
) -> Result<BTreeMap<String, FileInfo>, InspectError> {
    let mut view: BTreeMap<String, FileInfo> = BTreeMap::new();
    for index in 0..image.layers.len() {
        let content = reads.content(image, index)?;
        let files = content
            .entries
            .iter()
            .filter_map(|e| file_info(e, index))
            .collect();
        apply_layer(&mut view, files);
    }
    Ok(view)
}

/// Applies one layer's entries over the view below it.
fn apply_layer(view: &mut BTreeMap<String, FileInfo>, files: Vec<FileInfo>) {
    for info in files {
        let key = fold(&info.path);
        if info.kind.ends_with("whiteout") {
            let under = format!("{key}\\");
            if info.kind == "whiteout" {
                view.remove(&key);
            }
            view.retain(|k, _| !k.starts_with(&under));
        } else {
            view.insert(key, info);
        }
    }
}

/// Keeps the entries at or under `filter` (`C:\`, `/` or `\` forms, case-insensitive).
pub fn filter_path(files: Vec<FileInfo>, filter: Option<&str>) -> Vec<FileInfo> {
    let Some(filter) = filter else {
        return files;
    };
    let norm = filter.replace('/', "\\");
    let norm = norm
        .strip_prefix("C:")
        .or_else(|| norm.strip_prefix("c:"))
        .unwrap_or(&norm);
    let wanted = fold(norm.trim_matches('\\'));
    if wanted.is_empty() {
        return files;
    }
    let under = format!("{wanted}\\");
    files
        .into_iter()
        .filter(|f| {
            let k = fold(&f.path);
            k == wanted || k.starts_with(&under)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(path: &str, kind: &'static str, layer: usize) -> FileInfo {
        FileInfo {
            path: path.into(),
            kind,
            size: 0,
            attributes: None,
            owner: None,
            modified: String::new(),
            created: None,
            link_target: None,
            layer,
        }
    }

    #[test]
    fn whiteouts_delete_the_path_and_its_subtree_case_insensitively() {
        let mut view = BTreeMap::new();
        apply_layer(
            &mut view,
            vec![
                info("App", "dir", 0),
                info("App\\a.txt", "file", 0),
                info("Keep.txt", "file", 0),
            ],
        );
        apply_layer(&mut view, vec![info("app", "whiteout", 1)]);
        let paths: Vec<_> = view.values().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["Keep.txt"]);
        let kept = filter_path(view.into_values().collect(), Some("C:\\KEEP.TXT"));
        assert_eq!(kept.len(), 1);
    }

    // Paths match as NTFS compares names: `ς` and `σ` are one letter there (both upper-case
    // to `Σ`), though lower-casing keeps them apart.
    #[test]
    fn whiteouts_match_names_as_ntfs_does() {
        let mut view = BTreeMap::new();
        apply_layer(
            &mut view,
            vec![info("Λόγος", "dir", 0), info("Λόγος\\a", "file", 0)],
        );
        apply_layer(&mut view, vec![info("λόγοσ", "whiteout", 1)]);
        assert!(view.is_empty(), "{view:?}");
    }
}
