//! The rules hcsshim's layer importer enforces (research windows-layers.md §1.3–1.5), checked
//! over a layer's entries: every layer silo writes passes this in tests, and `silo layers` can
//! run it over layers from elsewhere.

use std::collections::HashSet;

use super::reader::{LayerEntry, LayerEntryKind};
use super::HiveName;

/// One broken rule, with the entry it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub rule: &'static str,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.rule)
    }
}

/// NTFS-style comparison key (names are case-insensitive on import).
fn key(path: &str) -> String {
    super::ntfs_fold(path)
}

/// Checks a Windows layer's entries (in tar order). `base` adds the base-layer rules: no
/// whiteouts, and the five hives in `Files/Windows/System32/config/`.
pub fn check_windows_layer(entries: &[LayerEntry], base: bool) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut v = |path: &str, rule: &'static str| {
        violations.push(Violation {
            path: path.to_string(),
            rule,
        })
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut directories: HashSet<String> = HashSet::new();
    let mut previous_file: Option<String> = None;

    let roots: Vec<&str> = entries.iter().take(2).map(|e| e.path.as_str()).collect();
    let has_roots = entries
        .iter()
        .take(2)
        .all(|e| e.kind == LayerEntryKind::Directory)
        && roots.contains(&"Files")
        && (roots.contains(&"Hives") || base);
    if !has_roots {
        v(
            roots.first().copied().unwrap_or("<empty layer>"),
            "the layer must start with the Hives and Files directory entries",
        );
    }
    for entry in entries {
        let path = entry.path.as_str();
        let k = key(path);
        let top = path.split('/').next().unwrap_or("");
        let in_files = path.starts_with("Files/") || path.starts_with("UtilityVM/Files/");
        match top {
            "Files" | "Hives" => {}
            "UtilityVM"
                if path == "UtilityVM"
                    || path == "UtilityVM/Files"
                    || path.starts_with("UtilityVM/Files/") => {}
            _ => v(
                path,
                "entries must be under Files/, Hives/ or UtilityVM/Files/",
            ),
        }
        if !seen.insert(k.clone()) {
            v(path, "duplicate path (names compare case-insensitively)");
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            if !directories.contains(&key(parent)) {
                v(path, "its parent directory has no earlier entry");
            }
        }
        match &entry.kind {
            LayerEntryKind::Directory => {
                directories.insert(k.clone());
            }
            LayerEntryKind::Junction => {
                directories.insert(k.clone());
            }
            LayerEntryKind::Symlink
                if entry.attributes.unwrap_or(0) & super::attributes::DIRECTORY != 0 =>
            {
                directories.insert(k.clone());
            }
            LayerEntryKind::Whiteout { .. } => {
                if !in_files {
                    v(path, "whiteouts are only valid under Files/ (hcsshim: invalid tombstone)");
                }
                if base {
                    v(path, "a base layer cannot have whiteouts (tombstones)");
                }
            }
            LayerEntryKind::OpaqueWhiteout { .. } => {
                v(path, "opaque whiteouts are not understood by Windows (they delete a file named .wh..opq)")
            }
            LayerEntryKind::HardLink => {
                let target = entry.link_target.as_deref().unwrap_or("");
                if !(target.starts_with("Files/") || target.starts_with("UtilityVM/Files/")) {
                    v(path, "hard link targets must be under Files/ (hcsshim: invalid hard link)");
                }
            }
            LayerEntryKind::AltStream { file, .. } => {
                if previous_file.as_deref().map(key) != Some(key(file)) {
                    v(path, "an alternate data stream must directly follow its file (or another stream of it)");
                }
            }
            LayerEntryKind::Other(_) => v(path, "entry type not importable on Windows"),
            LayerEntryKind::File | LayerEntryKind::HiveDelta(_) | LayerEntryKind::Symlink => {}
        }
        if top == "Hives" && path != "Hives" {
            let name = &path["Hives/".len()..];
            if HiveName::from_delta_file_name(name).is_none()
                || entry.kind == LayerEntryKind::Directory
            {
                v(path, "Hives/ may only hold System_Delta, Software_Delta, Sam_Delta, Security_Delta, DefaultUser_Delta");
            }
        }
        if in_files
            && entry.kind != LayerEntryKind::Directory
            && entry.attributes.is_none()
            && !matches!(
                entry.kind,
                LayerEntryKind::Whiteout { .. } | LayerEntryKind::AltStream { .. }
            )
        {
            v(path, "missing MSWINDOWS.fileattr");
        }
        previous_file = match &entry.kind {
            LayerEntryKind::File => Some(path.to_string()),
            LayerEntryKind::AltStream { file, .. } => Some(file.clone()),
            _ => None,
        };
    }
    if base {
        for hive in HiveName::ALL {
            let path = format!("Files/Windows/System32/config/{}", hive.base_file_name());
            if !seen.contains(&key(&path)) {
                violations.push(Violation {
                    path,
                    rule: "a base layer needs the five registry hives",
                });
            }
        }
    }
    violations
}
