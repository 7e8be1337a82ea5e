//! The files of stages and images that COPY --from and mounts read: the layers a copy needs,
//! unpacked once per build into scratch directories.

use std::cell::RefCell;
use std::rc::Rc;

use super::{BuildError, Engine, StageState};
use crate::build::sources::base::{resolve_base_with, BaseError, BaseImage, ImageLayer, Lookup};
use crate::build::sources::layer_pick;
use crate::build::sources::named_context::NamedContext;
use crate::layer::{UnpackFilter, UnpackOptions};

impl Engine<'_> {
    /// An image a `FROM`, `COPY --from` or `RUN --mount=from=` names, a bare name looked up as
    /// the build asks (`--pull`: always the registry's).
    pub(super) fn resolve_image(&self, reference: &str) -> Result<BaseImage, BaseError> {
        let lookup = match self.request.pull {
            true => Lookup::Pull,
            false => Lookup::StoreFirst,
        };
        match self.request.contexts.get(reference) {
            None => resolve_base_with(
                self.store,
                self.registries,
                reference,
                self.platform,
                lookup,
            ),
            Some(NamedContext::Image(location)) => {
                resolve_base_with(self.store, self.registries, location, self.platform, lookup)
                    .map_err(|e| BaseError::Invalid {
                        name: reference.into(),
                        message: format!("--build-context {reference}={location}: {e}"),
                    })
            }
            Some(NamedContext::Dir(dir)) => Err(BaseError::Invalid {
                name: reference.into(),
                message: format!(
                    "--build-context {reference} is the directory {}: files for COPY \
                     --from={reference}, not an image (a Windows base needs a base layer with \
                     hives; RUN --mount from a directory context is not supported)",
                    dir.display()
                ),
            }),
        }
    }

    /// An image named by `COPY --from` or `RUN --mount=from=` as a stage state (its files are
    /// unpacked when first needed), with its manifest digest.
    pub(super) fn image_state(&self, reference: &str) -> Result<(StageState, String), BuildError> {
        let base = self.resolve_image(reference)?;
        let state = StageState {
            config: base.config,
            layers: base.layers,
            flavor: base.flavor,
            base_history: 0,
            files: Rc::new(RefCell::new(None)),
            step_layer_time: None,
            newest_layer_time: None,
        };
        Ok((state, base.manifest_digest.to_string()))
    }

    /// The files a `COPY --from` of `sources` needs: only the top layers down to the lowest
    /// one that settles every source ([`layer_pick`]), unpacked for this copy; or, when that is
    /// every layer, the whole stage or image, unpacked once per build and kept.
    pub(super) fn files_for_copy(
        &self,
        source: &StageState,
        sources: &[String],
    ) -> Result<Rc<tempfile::TempDir>, BuildError> {
        if let Some(dir) = source.files.borrow().as_ref() {
            return Ok(dir.clone());
        }
        let lowest =
            layer_pick::lowest_needed_layer::<BuildError>(sources, source.layers.len(), |i| {
                let layer = &source.layers[i];
                let blob = self.open_layer(layer)?;
                let (entries, _) = crate::layer::reader::list_layer(blob).map_err(|e| {
                    BuildError::layer(format!("reading layer {}", layer.descriptor.digest()), e)
                })?;
                Ok(entries)
            })?;
        if lowest == 0 {
            return self.stage_files(source);
        }
        Ok(Rc::new(self.flatten(&source.layers[lowest..])?))
    }

    /// The files of a stage (or image), unpacked once per build into a scratch directory by
    /// flattening its layers with whiteouts applied.
    pub(super) fn stage_files(
        &self,
        source: &StageState,
    ) -> Result<Rc<tempfile::TempDir>, BuildError> {
        if let Some(dir) = source.files.borrow().as_ref() {
            return Ok(dir.clone());
        }
        let dir = Rc::new(self.flatten(&source.layers)?);
        *source.files.borrow_mut() = Some(dir.clone());
        Ok(dir)
    }

    /// A layer's blob, fetched into the store first when it lives elsewhere.
    fn open_layer(&self, layer: &ImageLayer) -> Result<std::fs::File, BuildError> {
        let digest = layer.descriptor.digest();
        let path = layer
            .home
            .ensure_in_store(self.store, &layer.descriptor)
            .map_err(|e| BuildError::failed(format!("fetching layer {digest}"), e))?;
        crate::layer::unpack::open_blob(&path)
            .map_err(|e| BuildError::layer(format!("opening layer {digest}"), e))
    }

    /// Unpacks `layers` (bottom first) into a fresh scratch directory, applying whiteouts.
    fn flatten(&self, layers: &[ImageLayer]) -> Result<tempfile::TempDir, BuildError> {
        let dir = tempfile::Builder::new()
            .prefix("stage-")
            .tempdir_in(&self.scratch)
            .map_err(|e| BuildError::io("creating a scratch directory", e))?;
        for layer in layers {
            let blob = self.open_layer(layer)?;
            crate::layer::unpack::unpack_with(
                blob,
                dir.path(),
                UnpackOptions {
                    filter: UnpackFilter::WindowsFiles,
                    apply_whiteouts: true,
                },
            )
            .map_err(|e| {
                BuildError::layer(format!("unpacking layer {}", layer.descriptor.digest()), e)
            })?;
        }
        Ok(dir)
    }
}
