//! Layer steps: the cache lookup by key, the change set made on a miss, the layer written and
//! added to the stage; WORKDIR's directory layer.

use std::cell::RefCell;
use std::rc::Rc;

use super::run_step::container_path;
use super::{BuildError, Engine, LayerOutcome, StageState};
use crate::build::engine::cache::{self, CachedLayer};
use crate::build::export::remote_cache::UsedRecord;
use crate::build::sources::base::{BlobHome, ImageLayer};
use crate::layer::changeset::Timestamp;
use crate::layer::owner::resolve_chown;
use crate::layer::sd::Sid;
use crate::layer::writer::{LayerCompression, WriteOptions};
use crate::layer::{ChangeSet, Entry, EntryKind, FileMeta};
use crate::store::StoreError;

impl Engine<'_> {
    /// WORKDIR: a layer with the directory entry (owned by USER when it names an account).
    pub(super) fn make_dir(
        &mut self,
        state: &mut StageState,
        workdir: &str,
        user: &str,
    ) -> Result<LayerOutcome, BuildError> {
        let path = container_path(workdir);
        let time = self.layer_time();
        let mut changes = ChangeSet::default();
        changes.entries.push(Entry {
            path: path.clone(),
            kind: EntryKind::Directory,
            meta: FileMeta {
                creation_time: Some(time),
                modification_time: Some(time),
                access_time: Some(time),
                ..FileMeta::default()
            },
            streams: Vec::new(),
        });
        let owner = (!user.is_empty())
            .then(|| resolve_chown(user).ok())
            .flatten();
        let key = format!("WORKDIR /{path} owner={owner:?}");
        self.layer_step(state, &key, "", owner, |_| Ok(changes))
    }

    /// Looks the step up in the cache; on a miss makes its change set with `make` and writes
    /// the layer. Either way the stage gets the layer.
    pub(super) fn layer_step(
        &mut self,
        state: &mut StageState,
        instruction: &str,
        inputs: &str,
        owner: Option<Sid>,
        make: impl FnOnce(&mut Self) -> Result<ChangeSet, BuildError>,
    ) -> Result<LayerOutcome, BuildError> {
        let diff_ids: Vec<_> = state.layers.iter().map(|l| l.diff_id.clone()).collect();
        let parent = cache::chain_id(&diff_ids);
        self.layer_step_on(state, &parent, instruction, inputs, owner, make)
    }

    /// [`Self::layer_step`] with the parent part of the cache key given: the parent's chain ID,
    /// or a fixed word for a `COPY --link` layer, which does not depend on what it sits on.
    pub(super) fn layer_step_on(
        &mut self,
        state: &mut StageState,
        parent: &str,
        instruction: &str,
        inputs: &str,
        owner: Option<Sid>,
        make: impl FnOnce(&mut Self) -> Result<ChangeSet, BuildError>,
    ) -> Result<LayerOutcome, BuildError> {
        let key = cache::step_key(
            parent,
            &format!("{instruction}\nflavor={:?}", state.flavor),
            inputs,
        );
        if !self.request.no_cache {
            let hit = match cache::lookup(self.store, &key)? {
                Some(hit) => Some((hit, BlobHome::Store)),
                None => self.remote.and_then(|r| r.lookup(&key)),
            };
            if let Some((hit, home)) = hit {
                let size = hit.descriptor.size();
                self.add_layer(state, &key, hit, home);
                return Ok(LayerOutcome::Cached(size));
            }
        }
        let changes = make(self)?;
        let options = WriteOptions {
            compression: LayerCompression::Gzip(6),
            threads: 0,
            default_time: self.layer_time(),
            clamp_time: self.epoch.map(|secs| Timestamp { secs, nanos: 0 }),
            owner,
            // Every layer a build makes sits on a base.
            base_layer: false,
        };
        let stored = self
            .store
            .write_layer(&changes, &options, state.flavor)
            .map_err(|e| match e {
                StoreError::Layer(e) => BuildError::layer("writing the layer", *e),
                e => BuildError::Store(e),
            })?;
        let layer = CachedLayer {
            descriptor: stored.descriptor,
            diff_id: stored.digests.diff_id,
            created: Some(self.now),
        };
        cache::remember(self.store, &key, &layer)?;
        let size = layer.descriptor.size();
        self.add_layer(state, &key, layer, BlobHome::Store);
        Ok(LayerOutcome::Built(size))
    }

    fn add_layer(&mut self, state: &mut StageState, key: &str, layer: CachedLayer, home: BlobHome) {
        state.config.push_layer(layer.diff_id.as_ref());
        let made = layer.created.unwrap_or(self.now);
        state.step_layer_time = Some(made);
        state.newest_layer_time = Some(state.newest_layer_time.map_or(made, |t| t.max(made)));
        self.used.push(UsedRecord {
            key: key.to_string(),
            layer: layer.clone(),
            home: home.clone(),
        });
        state.layers.push(ImageLayer {
            descriptor: layer.descriptor,
            diff_id: layer.diff_id,
            home,
        });
        state.files = Rc::new(RefCell::new(None));
    }
}
