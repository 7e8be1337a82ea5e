//! The per-step build cache. A step's key is the sha256 of (the parent layer chain, the expanded
//! instruction with everything that changes its result, the digest of its inputs); its record,
//! kept in the store, names the layer the step produced. Records survive restarts and keep their
//! layer alive through `silo prune`.

use oci_spec::image::{Descriptor, Digest};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::store::{Store, StoreError};

/// Bumped whenever what a key covers changes, so old records are never misread.
const KEY_VERSION: &str = "silo-build-cache/1";

/// What a cached step produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    /// When the layer was made (Unix seconds). A cache hit dates its history entry, and so the
    /// image, by this time rather than the rebuild's, so an unchanged rebuild makes the same
    /// config and digest (as BuildKit does). Records written before it existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
}

/// The chain id of a layer list: one digest standing for every diff_id in order.
pub fn chain_id(diff_ids: &[Digest]) -> String {
    let mut hasher = Sha256::new();
    for id in diff_ids {
        hasher.update(id.to_string().as_bytes());
        hasher.update(b"\n");
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// A step's cache key.
pub fn step_key(parent_chain: &str, instruction: &str, inputs: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [KEY_VERSION, parent_chain, instruction, inputs] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    format!("step:sha256:{}", hex::encode(hasher.finalize()))
}

/// The layer cached under `key`, if its record exists and its blob is still in the store.
pub fn lookup(store: &Store, key: &str) -> Result<Option<CachedLayer>, StoreError> {
    let Some(record) = store.get_record(key)? else {
        return Ok(None);
    };
    let Ok(layer) = serde_json::from_value::<CachedLayer>(record.data) else {
        return Ok(None); // a record of another shape: treat as a miss and overwrite it
    };
    if !store.has_blob(layer.descriptor.digest())? {
        return Ok(None);
    }
    Ok(Some(layer))
}

/// Remembers that the step `key` produced `layer` (whose blob is already in the store).
pub fn remember(store: &Store, key: &str, layer: &CachedLayer) -> Result<(), StoreError> {
    let data = serde_json::to_value(layer).expect("a descriptor always serializes");
    store.put_record(key, std::slice::from_ref(layer.descriptor.digest()), &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_their_parts() {
        assert_ne!(step_key("a", "bc", ""), step_key("ab", "c", ""));
        assert_eq!(step_key("a", "b", "c"), step_key("a", "b", "c"));
        assert_ne!(
            chain_id(&[]),
            chain_id(&[Digest::try_from(format!("sha256:{}", "0".repeat(64))).unwrap()])
        );
    }
}
