//! `COPY --from`: which of an image's (or stage's) layers a copy needs. Layers are listed
//! top-down and the walk stops once every requested path is settled — found as a file or link
//! (the topmost version is the one that counts), or deleted by a whiteout of itself or an
//! ancestor. Unpacking only the layers from there up gives the same answer for those paths as
//! flattening the whole image, without reading (or fetching) the lower layers' blobs.
//!
//! Whatever cannot be settled that way needs every layer: wildcards (any layer could hold a
//! match), the root, a directory (its contents merge across layers), and paths under something
//! that is not a directory in some layer (a link the flattened view would have to follow). The
//! walk gives up as soon as it meets one of these, and never lists the bottom layer (usually
//! the big base): reaching it means every layer is needed anyway. So a copy that needs every
//! layer reads at most the layers above the bottom one twice (listing, then unpacking).
//! Paths compare case-insensitively, as on NTFS.

use crate::layer::reader::{LayerEntry, LayerEntryKind};

use crate::build::sources::context::{clean_source, has_wildcard};

/// The index of the lowest layer a copy of `sources` needs (0 = every layer). `list(i)` gives
/// the entries of layer `i` (0 = bottom) and is only called for the layers walked, top-down.
pub fn lowest_needed_layer<E>(
    sources: &[String],
    layer_count: usize,
    mut list: impl FnMut(usize) -> Result<Vec<LayerEntry>, E>,
) -> Result<usize, E> {
    let mut wanted = Vec::with_capacity(sources.len());
    for source in sources {
        // `--parents` pivots (`a/./b`) name the same path as `a/b`.
        let clean = clean_source(&source.replace("/./", "/"));
        if clean.is_empty() || clean == "." || has_wildcard(&clean) {
            return Ok(0);
        }
        wanted.push(fold(&clean));
    }
    if wanted.is_empty() {
        return Ok(0);
    }
    let mut settled = vec![false; wanted.len()];
    // Layer 0 is never listed: if the walk gets there, it is needed whatever it holds.
    for layer in (1..layer_count).rev() {
        let entries = list(layer)?;
        for entry in &entries {
            let Some(path) = entry_path(entry) else {
                continue;
            };
            let path = fold(path);
            for (i, want) in wanted.iter().enumerate() {
                if settled[i] {
                    continue;
                }
                let deletes = matches!(
                    entry.kind,
                    LayerEntryKind::Whiteout { .. } | LayerEntryKind::OpaqueWhiteout { .. }
                );
                let directory = entry.kind == LayerEntryKind::Directory;
                match relation(&path, want) {
                    Relation::Unrelated => {}
                    // A directory's contents merge with the lower layers': flatten everything.
                    Relation::Same if directory => return Ok(0),
                    Relation::Same => settled[i] = true,
                    Relation::Ancestor if deletes => settled[i] = true,
                    Relation::Ancestor if directory => {}
                    // The path would go through a file or link: flatten everything.
                    Relation::Ancestor => return Ok(0),
                }
            }
        }
        if settled.iter().all(|s| *s) {
            return Ok(layer);
        }
    }
    Ok(0)
}

/// The container path an entry is about (the deleted path of a whiteout), if any.
fn entry_path(entry: &LayerEntry) -> Option<&str> {
    match &entry.kind {
        LayerEntryKind::Whiteout { deleted } => Some(deleted),
        LayerEntryKind::OpaqueWhiteout { directory } => Some(directory),
        LayerEntryKind::AltStream { .. } | LayerEntryKind::HiveDelta(_) => None,
        // Windows layers keep files under `Files/`; Linux-style layers have no prefix.
        _ => Some(entry.windows_path().unwrap_or(&entry.path)),
    }
}

/// The comparison key of a `/` path: as NTFS compares names.
fn fold(path: &str) -> String {
    crate::layer::ntfs_fold(path.trim_matches('/'))
}

enum Relation {
    Same,
    /// The entry is a parent directory (at any depth) of the wanted path.
    Ancestor,
    Unrelated,
}

fn relation(entry: &str, want: &str) -> Relation {
    if entry == want {
        Relation::Same
    } else if want.len() > entry.len()
        && want.starts_with(entry)
        && want.as_bytes()[entry.len()] == b'/'
    {
        Relation::Ancestor
    } else {
        Relation::Unrelated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::changeset::Timestamp;

    fn entry(path: &str, kind: LayerEntryKind) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind,
            type_flag: b'0',
            size: 0,
            mode: 0,
            attributes: None,
            security_descriptor: None,
            owner: None,
            mtime: Timestamp { secs: 0, nanos: 0 },
            atime: None,
            creation_time: None,
            link_target: None,
            pax: Default::default(),
            offset: 0,
        }
    }

    fn file(path: &str) -> LayerEntry {
        entry(&format!("Files/{path}"), LayerEntryKind::File)
    }

    fn dir(path: &str) -> LayerEntry {
        entry(&format!("Files/{path}"), LayerEntryKind::Directory)
    }

    fn whiteout(path: &str) -> LayerEntry {
        entry(
            "Files/.wh.x",
            LayerEntryKind::Whiteout {
                deleted: path.into(),
            },
        )
    }

    /// Runs the walk over `layers` (bottom first); returns the answer and the layers listed.
    fn walk(sources: &[&str], layers: &[Vec<LayerEntry>]) -> (usize, Vec<usize>) {
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        let mut listed = Vec::new();
        let lowest = lowest_needed_layer::<()>(&sources, layers.len(), |i| {
            listed.push(i);
            Ok(layers[i].clone())
        })
        .unwrap();
        (lowest, listed)
    }

    #[test]
    fn a_file_in_the_top_layer_needs_only_that_layer() {
        let layers = vec![
            vec![dir("data"), file("data/a.txt")],
            vec![dir("data"), file("data/b.txt")],
            vec![file("Data/Top.txt")],
        ];
        assert_eq!(walk(&["/data/top.txt"], &layers), (2, vec![2]));
        // Not settled above the bottom layer: every layer; the bottom one is not listed.
        assert_eq!(walk(&["data/b.txt", "top.txt"], &layers), (0, vec![2, 1]));
        assert_eq!(
            walk(&["data/b.txt", "C:\\data\\top.txt"], &layers),
            (1, vec![2, 1])
        );
    }

    #[test]
    fn whiteouts_settle_a_path_and_its_children() {
        let layers = vec![
            vec![dir("data"), file("data/sub/a.txt")],
            vec![whiteout("data/sub")],
            vec![file("other")],
        ];
        assert_eq!(walk(&["data/sub/a.txt"], &layers).0, 1);
        assert_eq!(walk(&["data/sub"], &layers).0, 1);
    }

    #[test]
    fn directories_wildcards_and_links_need_everything() {
        let layers = vec![
            vec![dir("data"), file("data/a")],
            vec![dir("data")],
            vec![file("x")],
        ];
        assert_eq!(walk(&["data"], &layers), (0, vec![2, 1]));
        assert_eq!(walk(&["data/*"], &layers), (0, vec![]));
        assert_eq!(walk(&["."], &layers), (0, vec![]));
        let linked = vec![
            vec![dir("real"), file("real/a")],
            vec![entry("Files/data", LayerEntryKind::Symlink)],
            vec![file("x")],
        ];
        assert_eq!(walk(&["data/a"], &linked), (0, vec![2, 1]));
    }

    // Names match as NTFS compares them (upper-casing): `ſ` is `s` and `ς` is `σ` there, though
    // lower-casing keeps them apart; `ß` (upper case `SS`, two characters) is only itself.
    #[test]
    fn names_match_as_ntfs_compares_them() {
        let layers = vec![
            vec![dir("data")],
            vec![file("data/Straße.txt"), file("data/ΛΟΓΟΣ.txt")],
            vec![file("x")],
        ];
        assert_eq!(walk(&["data/ſtraße.txt", "data/λογος.txt"], &layers).0, 1);
        assert_eq!(walk(&["data/strasse.txt"], &layers).0, 0);
    }
}
