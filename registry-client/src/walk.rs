//! The one walk of a manifest tree: from a root manifest or index, breadth first, down through
//! nested indexes to every manifest below, each read once. Where the manifests come from is the
//! [`ManifestReader`] seam: a registry repository implements it here ([`RegistryManifests`], for
//! pulls and registry copies), the builder's local locations (the store, an OCI layout, a
//! docker-archive) implement it over their blob sources (for copies, pushes and `inspect`), so
//! nesting limits and the order of reads are the same wherever an image lives.
//!
//! The walk is async because a registry answers over the network; a local reader returns ready
//! futures and its caller drives the walk with `futures::executor::block_on` (no runtime needed).

use std::collections::HashMap;

use futures::future::BoxFuture;

use crate::manifest::{too_deep, RawManifest, MAX_INDEX_DEPTH};
use crate::platform::nested_index_digests;
use crate::{Client, Error, Reference};

/// Somewhere manifests and indexes can be read from by digest.
pub trait ManifestReader {
    /// What the reader's errors are (the builder keeps its own error type).
    type Error: Send;

    /// Reads the manifest or index `digest`, verified against it; `media_type` is what the
    /// descriptor naming it says, when it says anything.
    fn read_manifest<'a>(
        &'a self,
        digest: &'a str,
        media_type: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RawManifest, Self::Error>>;

    /// The location's name for messages (a registry reference, `oci:DIR`, …).
    fn location(&self) -> String;

    /// The manifest `digest` of the location, for messages.
    fn at(&self, digest: &str) -> String {
        format!("{}@{digest}", self.location())
    }

    /// A protocol-level error (a malformed index, nesting too deep) in the reader's error type.
    fn error(&self, e: Error) -> Self::Error;
}

/// Which entries of an index the walk follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Every entry: the whole tree (a copy or pull of all platforms).
    All,
    /// Only entries whose descriptor says index (what platform selection needs to see every
    /// leaf entry; the image manifests are read later, just the chosen one).
    Indexes,
}

/// Every manifest below `root` that `follow` asks for, keyed by digest. An index more than
/// [`MAX_INDEX_DEPTH`] levels below the root is refused (a malformed or hostile tree); with
/// [`Follow::Indexes`], an entry whose descriptor says index but whose content is an image
/// manifest is refused too.
pub async fn walk<R: ManifestReader + ?Sized>(
    reader: &R,
    root: &RawManifest,
    follow: Follow,
) -> Result<HashMap<String, RawManifest>, R::Error> {
    let mut found: HashMap<String, RawManifest> = HashMap::new();
    let mut level = vec![root.clone()];
    for depth in 1.. {
        if level.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for index in level.iter().filter(|m| m.is_index()) {
            for (digest, media_type) in entries(index, follow).map_err(|e| reader.error(e))? {
                if found.contains_key(&digest) {
                    continue;
                }
                let m = reader.read_manifest(&digest, media_type.as_deref()).await?;
                if m.is_index() && depth > MAX_INDEX_DEPTH {
                    return Err(reader.error(too_deep(&reader.location(), &digest)));
                }
                if follow == Follow::Indexes && !m.is_index() {
                    return Err(reader.error(Error::Manifest {
                        reference: reader.at(&digest),
                        reason: "its index entry says index, but it is an image manifest".into(),
                    }));
                }
                next.push(m.clone());
                found.insert(digest, m);
            }
        }
        level = next;
    }
    Ok(found)
}

/// The digests (and descriptor media types) of the entries of `index` that `follow` takes.
fn entries(index: &RawManifest, follow: Follow) -> crate::Result<Vec<(String, Option<String>)>> {
    match follow {
        Follow::All => Ok(index
            .index()?
            .manifests()
            .iter()
            .map(|d| (d.digest().to_string(), Some(d.media_type().to_string())))
            .collect()),
        Follow::Indexes => Ok(nested_index_digests(index)?
            .into_iter()
            .map(|d| (d, None))
            .collect()),
    }
}

/// The manifests of one registry repository, read through a client.
pub struct RegistryManifests<'a> {
    pub client: &'a Client,
    pub reference: &'a Reference,
}

impl ManifestReader for RegistryManifests<'_> {
    type Error = Error;

    fn read_manifest<'a>(
        &'a self,
        digest: &'a str,
        _media_type: Option<&'a str>,
    ) -> BoxFuture<'a, crate::Result<RawManifest>> {
        // The registry's Content-Type says what it is; the descriptor's type is not needed.
        Box::pin(self.client.get_manifest_ref(self.reference, digest))
    }

    fn location(&self) -> String {
        self.reference.to_string()
    }

    fn at(&self, digest: &str) -> String {
        format!("{}@{digest}", self.reference.name())
    }

    fn error(&self, e: Error) -> Error {
        e
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::manifest::{OCI_INDEX, OCI_MANIFEST};

    /// Manifests in memory, with a log of what was read.
    #[derive(Default)]
    struct Memory {
        manifests: HashMap<String, RawManifest>,
        reads: Mutex<Vec<String>>,
    }

    impl Memory {
        fn add(&mut self, doc: serde_json::Value) -> RawManifest {
            let m =
                RawManifest::from_bytes("test", serde_json::to_vec(&doc).unwrap(), None).unwrap();
            self.manifests.insert(m.digest.clone(), m.clone());
            m
        }

        fn image(&mut self, n: u8) -> RawManifest {
            let layer = format!("sha256:{}", format!("{n:02x}").repeat(32));
            self.add(json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": layer, "size": 2},
                "layers": [],
            }))
        }

        fn index(&mut self, entries: &[(&RawManifest, &str)]) -> RawManifest {
            let manifests: Vec<_> = entries
                .iter()
                .map(|(m, media_type)| {
                    json!({"mediaType": media_type, "digest": m.digest, "size": m.bytes.len()})
                })
                .collect();
            self.add(json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}))
        }
    }

    impl ManifestReader for Memory {
        type Error = Error;

        fn read_manifest<'a>(
            &'a self,
            digest: &'a str,
            _media_type: Option<&'a str>,
        ) -> BoxFuture<'a, crate::Result<RawManifest>> {
            self.reads.lock().unwrap().push(digest.to_string());
            let found = self
                .manifests
                .get(digest)
                .cloned()
                .ok_or_else(|| Error::Other(format!("{digest} is not here")));
            Box::pin(std::future::ready(found))
        }

        fn location(&self) -> String {
            "memory".into()
        }

        fn error(&self, e: Error) -> Error {
            e
        }
    }

    fn run(
        reader: &Memory,
        root: &RawManifest,
        follow: Follow,
    ) -> crate::Result<HashMap<String, RawManifest>> {
        futures::executor::block_on(walk(reader, root, follow))
    }

    #[test]
    fn every_manifest_is_read_once_and_indexes_only_when_asked() {
        let mut m = Memory::default();
        let a = m.image(1);
        let b = m.image(2);
        let inner = m.index(&[(&a, OCI_MANIFEST), (&b, OCI_MANIFEST)]);
        // `a` is listed twice: in the root and in the nested index.
        let root = m.index(&[(&a, OCI_MANIFEST), (&inner, OCI_INDEX)]);

        let all = run(&m, &root, Follow::All).unwrap();
        let mut got: Vec<_> = all.keys().cloned().collect();
        got.sort();
        let mut want = vec![a.digest.clone(), b.digest.clone(), inner.digest.clone()];
        want.sort();
        assert_eq!(got, want);
        assert_eq!(m.reads.lock().unwrap().len(), 3, "each manifest read once");

        m.reads.lock().unwrap().clear();
        let indexes = run(&m, &root, Follow::Indexes).unwrap();
        assert_eq!(indexes.keys().collect::<Vec<_>>(), [&inner.digest]);
        assert_eq!(
            *m.reads.lock().unwrap(),
            std::slice::from_ref(&inner.digest)
        );
    }

    #[test]
    fn nesting_is_bounded_as_platform_selection_bounds_it() {
        let mut m = Memory::default();
        let image = m.image(3);
        let mut chain = vec![m.index(&[(&image, OCI_MANIFEST)])];
        for _ in 0..5 {
            let outer = m.index(&[(chain.last().unwrap(), OCI_INDEX)]);
            chain.push(outer);
        }
        // An index four levels below the root is walked; five levels is refused.
        for follow in [Follow::All, Follow::Indexes] {
            assert!(run(&m, &chain[4], follow).is_ok(), "{follow:?}");
            let err = run(&m, &chain[5], follow).unwrap_err().to_string();
            assert!(
                err.contains("nested more than 4 levels"),
                "{follow:?}: {err}"
            );
        }
    }

    #[test]
    fn an_entry_that_says_index_must_be_one_and_a_missing_one_fails() {
        let mut m = Memory::default();
        let image = m.image(4);
        let liar = m.index(&[(&image, OCI_INDEX)]);
        let err = run(&m, &liar, Follow::Indexes).unwrap_err().to_string();
        assert!(
            err.contains("says index, but it is an image manifest"),
            "{err}"
        );
        assert!(err.contains(&format!("memory@{}", image.digest)), "{err}");

        let mut other = Memory::default();
        let root = other.index(&[(&image, OCI_MANIFEST)]);
        let err = run(&other, &root, Follow::All).unwrap_err().to_string();
        assert!(err.contains("is not here"), "{err}");
    }
}
