//! COPY and ADD: sources from the context, a stage or an image, heredoc contents, and ADD's
//! URLs (downloaded with their ETag recorded, `--checksum` checked).

use std::collections::BTreeMap;

use super::{BuildError, BuiltStage, Engine, LayerOutcome, StageState};
use crate::build::engine::cache;
use crate::build::engine::copy::{plan_copy, CopyRequest};
use crate::build::sources::context::{BothFilters, NoFilter, PathFilter, SourceTree};
use crate::build::sources::named_context::NamedContext;
use crate::build::sources::url_source;
use crate::build::sources::url_source::{is_url, Checksum, Downloaded};
use crate::dockerfile::dockerignore::PatternMatcher;
use crate::dockerfile::instructions::Command;
use crate::dockerfile::stages::{CopySource, CopyStep};
use crate::layer::owner::resolve_chown;

impl Engine<'_> {
    /// COPY and ADD.
    pub(super) fn copy(
        &mut self,
        state: &mut StageState,
        cmd: &Command,
        copy: &CopyStep,
        built: &BTreeMap<usize, BuiltStage>,
    ) -> Result<LayerOutcome, BuildError> {
        let refused = BuildError::Refused;
        if !copy.chmod.is_empty() && self.show_warnings {
            self.progress.warn(&format!(
                "{}:{}: --chmod is ignored for Windows images (Windows files have ACLs, not modes)",
                self.file, cmd.location.start_line
            ));
        }
        if copy.keep_git_dir {
            return Err(refused(
                "--keep-git-dir: git sources are not supported by silo".into(),
            ));
        }
        for source in &copy.sources {
            if source.starts_with("git@") || source.ends_with(".git") {
                return Err(refused(format!(
                    "{source}: git sources are not supported by silo"
                )));
            }
        }
        let (urls, paths): (Vec<String>, Vec<String>) =
            copy.sources.iter().cloned().partition(|s| is_url(s));
        let checksum = url_checksum(copy, &urls)?;
        // A step whose only source is one URL is cached on the URL and its content digest. That
        // digest is known before any transfer when `--checksum` gives it, or when the server
        // answers 304 to the ETag recorded with it: then a cached step downloads nothing
        // (BuildKit's behaviour). Otherwise the URL is downloaded now.
        let single_url = urls.len() == 1 && copy.sources.len() == 1 && copy.contents.is_empty();
        let mut downloads = Vec::new();
        let mut prefetched = None;
        let known = match checksum {
            Some(checksum) if single_url => Some(checksum),
            None if single_url => {
                let (digest, download) = self.fetch_with_etag(&urls[0])?;
                prefetched = download;
                Some(digest)
            }
            checksum => {
                downloads = self.download_urls(&urls, checksum.as_ref())?;
                None
            }
        };
        // Classic-mode destinations come as `\app\x\`; the copy planner takes `/app/x/`.
        let dest = format!("/{}", copy.dest.replace('\\', "/").trim_start_matches('/'));
        let owner = match copy.chown.as_str() {
            "" => None,
            chown => Some(resolve_chown(chown)?),
        };
        let exclude =
            PatternMatcher::new(&copy.exclude).map_err(|e| BuildError::failed("--exclude", e))?;
        let unpack = copy.is_add && copy.unpack != Some(false);
        let request = CopyRequest {
            sources: paths,
            downloads: downloads.iter().map(|(d, _)| d.clone()).collect(),
            heredocs: copy
                .contents
                .iter()
                .map(|c| (c.path.clone(), c.data.clone().into_bytes()))
                .collect(),
            dest: dest.clone(),
            parents: copy.parents,
            owner: owner.clone(),
            unpack_archives: unpack,
            epoch: self.epoch,
        };
        // Where the sources come from: the context, an earlier stage or an image. Stage and
        // image files stay unpacked (in the stage's state) for the rest of the build.
        // `_files` keeps an unpacked stage or image alive until the layer is written.
        let (root, display, from_key, use_ignore, _files) = match &copy.from {
            CopySource::Context => (
                self.request.context.clone(),
                format!("the build context {}", self.request.context.display()),
                "context".to_string(),
                true,
                None,
            ),
            CopySource::Stage(i) => {
                let source = built.get(i).ok_or_else(|| {
                    refused(format!(
                        "cannot copy from stage {i}, it needs to be defined before the current stage"
                    ))
                })?;
                let files = self.files_for_copy(&source.state, &request.sources)?;
                let name = &self.plan.stages[*i].name;
                let what = if name.is_empty() {
                    i.to_string()
                } else {
                    name.clone()
                };
                let root = files.path().to_path_buf();
                (
                    root,
                    format!("stage {what}"),
                    format!("stage {i}"),
                    false,
                    Some(files),
                )
            }
            // A directory named by --build-context: read like the build context, without its
            // .dockerignore (BuildKit applies the main context's only to the main context).
            CopySource::Image(reference)
                if matches!(
                    self.request.contexts.get(reference),
                    Some(NamedContext::Dir(_))
                ) =>
            {
                let Some(NamedContext::Dir(dir)) = self.request.contexts.get(reference) else {
                    unreachable!("matched above")
                };
                (
                    dir.clone(),
                    format!("the build context {reference} ({})", dir.display()),
                    format!("context {reference}"),
                    false,
                    None,
                )
            }
            CopySource::Image(reference) => {
                let (source, manifest_digest) = self.image_state(reference)?;
                let files = self.files_for_copy(&source, &request.sources)?;
                let root = files.path().to_path_buf();
                let key = format!("image {manifest_digest}");
                (root, format!("image {reference}"), key, false, Some(files))
            }
        };
        let no_filter = NoFilter;
        let context_filter: &dyn PathFilter = if use_ignore { self.ignore } else { &no_filter };
        let filter = BothFilters(context_filter, &exclude);
        let tree = SourceTree::new(root, display, &filter);
        let add_scratch = self.scratch.join("add");
        let key = format!(
            "{} {:?} urls={urls:?} heredocs={} -> {dest} parents={} unpack={unpack} \
             owner={owner:?} exclude={:?} link={} {from_key}",
            if copy.is_add { "ADD" } else { "COPY" },
            request.sources,
            request.heredocs.len(),
            request.parents,
            copy.exclude,
            copy.link,
        );
        // `--link` (BuildKit): the layer is reused whatever the earlier layers are. A silo
        // COPY layer never depends on its parent's content, so only the cache key changes.
        let parent = if copy.link {
            "link".to_string()
        } else {
            let diff_ids: Vec<_> = state.layers.iter().map(|l| l.diff_id.clone()).collect();
            cache::chain_id(&diff_ids)
        };
        if let Some(known) = known {
            let inputs = format!("url {urls:?} checksum {known}");
            return self.layer_step_on(state, &parent, &key, &inputs, owner, |engine| {
                let mut request = request;
                let fetched = match prefetched {
                    Some(download) => vec![download],
                    None => engine.download_urls(&urls, Some(&known))?,
                };
                for (downloaded, dir) in fetched {
                    request.downloads.push(downloaded);
                    // The file must outlive this closure (the layer is written from it); it
                    // goes with the build's scratch directory.
                    let _ = dir.keep();
                }
                let plan = plan_copy(&tree, &request, &add_scratch)?;
                Ok(plan.changes)
            });
        }
        let plan = plan_copy(&tree, &request, &add_scratch)?;
        let changes = plan.changes;
        let scratch_dirs = plan.scratch;
        let outcome =
            self.layer_step_on(state, &parent, &key, &plan.input_digest, owner, move |_| {
                Ok(changes)
            });
        drop(scratch_dirs);
        drop(downloads);
        outcome
    }

    /// The content digest behind `url`: downloaded now (and its ETag recorded in the store),
    /// or, when the server answers 304 to the recorded ETag, the digest recorded with it (and
    /// nothing downloaded).
    fn fetch_with_etag(&self, url: &str) -> Result<(Checksum, Option<UrlDownload>), BuildError> {
        let record_key = format!("add-url-etag {url}");
        let recorded = self.store.get_record(&record_key)?.and_then(|r| {
            let etag = r.data.get("etag")?.as_str()?.to_string();
            let digest = Checksum::parse(r.data.get("digest")?.as_str()?).ok()?;
            Some((etag, digest))
        });
        let dir = self.url_scratch_dir()?;
        let fetched = url_source::fetch_if_changed(
            url,
            None,
            dir.path(),
            url_source::MAX_DOWNLOAD_BYTES,
            recorded.as_ref().map(|(etag, _)| etag.as_str()),
        )?;
        match (fetched, recorded) {
            (url_source::Fetched::NotModified, Some((_, digest))) => Ok((digest, None)),
            (url_source::Fetched::NotModified, None) => Err(BuildError::Refused(format!(
                "ADD {url}: the server answered 304 Not Modified to a plain GET"
            ))),
            (url_source::Fetched::Downloaded(downloaded), _) => {
                let digest = Checksum::parse(&downloaded.digest)?;
                if let Some(etag) = &downloaded.etag {
                    let data = serde_json::json!({"etag": etag, "digest": downloaded.digest});
                    self.store.put_record(&record_key, &[], &data)?;
                }
                Ok((digest, Some((downloaded, dir))))
            }
        }
    }

    /// A fresh directory for one download, under the build's scratch directory.
    fn url_scratch_dir(&self) -> Result<tempfile::TempDir, BuildError> {
        let scratch = self.scratch.join("add");
        std::fs::create_dir_all(&scratch)
            .map_err(|e| BuildError::io(format!("creating {}", scratch.display()), e))?;
        tempfile::Builder::new()
            .prefix("url-")
            .tempdir_in(&scratch)
            .map_err(|e| BuildError::io("creating a scratch directory", e))
    }

    /// ADD's URL sources, each downloaded into its own scratch directory (kept alive with the
    /// returned file until the layer is written). (The frontend already refuses URLs in COPY.)
    fn download_urls(
        &self,
        urls: &[String],
        checksum: Option<&Checksum>,
    ) -> Result<Vec<UrlDownload>, BuildError> {
        let mut out = Vec::with_capacity(urls.len());
        for url in urls {
            let dir = self.url_scratch_dir()?;
            let downloaded =
                url_source::download(url, checksum, dir.path(), url_source::MAX_DOWNLOAD_BYTES)?;
            out.push((downloaded, dir));
        }
        Ok(out)
    }
}
/// A file ADD downloaded, and the scratch directory that holds it.
type UrlDownload = (Downloaded, tempfile::TempDir);

/// `--checksum`, which needs exactly one source, an http(s) URL (as in BuildKit).
fn url_checksum(copy: &CopyStep, urls: &[String]) -> Result<Option<Checksum>, BuildError> {
    match copy.checksum.as_str() {
        "" => Ok(None),
        text if copy.sources.len() != 1 || urls.len() != 1 => Err(BuildError::Refused(format!(
            "--checksum={text} needs exactly one source, an http(s) URL"
        ))),
        text => Ok(Some(Checksum::parse(text)?)),
    }
}
