//! RUN: the `--mount`s planned and made real, the process run in a fresh sandbox on the stage's
//! layers, its output streamed into progress and its changes committed as a change set.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use super::{BuildError, BuiltStage, Engine, LayerOutcome, StageState};
use crate::build::engine::cache;
use crate::build::engine::run_mounts;
use crate::build::progress::Progress;
use crate::build::sources::base::ImageLayer;
use crate::build::sources::context::{NoFilter, PathFilter, SourceTree};
use crate::dockerfile::instructions::{self, Command, MountType};
use crate::dockerfile::stages::{resolve_source, CopySource, RunStep};
use crate::layer::ChangeSet;
use crate::runtime::{LayerRef, NetworkMode, OutputSink, ProcessSpec, SandboxSpec, StepMount};

/// What a RUN step's sandbox is made on.
struct SandboxTarget<'a> {
    layers: &'a [ImageLayer],
    network: NetworkMode,
    /// The stage's `os.version` (the base image's).
    os_version: String,
    mounts: Vec<StepMount>,
}

/// Where a bind mount (or a cache mount's `from=`) reads.
enum MountTree<'b> {
    Context,
    Stage(&'b StageState),
    Image(Box<StageState>),
}

/// A `RUN --mount` resolved when the step is planned; made real only when the step runs.
struct PlannedMount<'b> {
    mount: instructions::Mount,
    /// `C:\…`.
    target: String,
    tree: Option<(MountTree<'b>, String)>,
    /// A secret's value (`None`: an optional secret that was not given).
    secret: Option<Vec<u8>>,
}

/// What keeps a mount's host path alive (and a cache mount's lock held) while its step runs.
#[expect(dead_code, reason = "each variant is held for its Drop")]
enum MountBacking {
    Dir(tempfile::TempDir),
    Stage(Rc<tempfile::TempDir>),
    Cache(run_mounts::CacheLease),
}

impl Engine<'_> {
    /// RUN.
    pub(super) fn run(
        &mut self,
        state: &mut StageState,
        cmd: &Command,
        run: &RunStep,
        step_number: usize,
        built: &BTreeMap<usize, BuiltStage>,
    ) -> Result<LayerOutcome, BuildError> {
        let network = match run.network {
            instructions::NetworkMode::Default => self.request.network.clone(),
            instructions::NetworkMode::None => NetworkMode::None,
            instructions::NetworkMode::Host => NetworkMode::Host,
        };
        let mut env = BTreeMap::new();
        for entry in &run.env {
            let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
            env.insert(k.to_string(), v.to_string());
        }
        let working_dir = windows_working_dir(&run.working_dir);
        let (mounts, mount_keys) = self.plan_mounts(&run.mounts, &working_dir, built)?;
        let key = format!(
            "RUN {:?}\nenv={env:?}\nworkdir={working_dir}\nuser={}\nnetwork={network:?}{}",
            run.args,
            run.user,
            mount_keys
                .iter()
                .map(|line| format!("\n{line}"))
                .collect::<String>()
        );
        let process = ProcessSpec {
            args: run.args.clone(),
            command_line: Some(run.command_line.clone()),
            env,
            working_dir,
            user: run.user.clone(),
            timeout: self.request.run_timeout,
        };
        let failure = RunFailure {
            file: self.file.clone(),
            line: cmd.location.start_line,
            text: cmd.original.trim().to_string(),
        };
        // Only the layers' descriptors are cloned here; their bytes are fetched on a cache miss.
        let layers = state.layers.clone();
        let os_version = state.config.os_version.clone().unwrap_or_default();
        self.layer_step(state, &key, "", None, move |engine| {
            // What backs the mounts lives until the step has run.
            let mut backing = Vec::new();
            let mut step_mounts = Vec::new();
            for mount in &mounts {
                if let Some(step_mount) = engine.materialize_mount(mount, &mut backing)? {
                    step_mounts.push(step_mount);
                }
            }
            let spec = SandboxTarget {
                layers: &layers,
                network,
                os_version,
                mounts: step_mounts,
            };
            engine.run_in_sandbox(spec, &process, step_number, failure)
        })
    }

    /// Resolves a RUN step's `--mount`s: what each needs, and its line of the cache key
    /// (a bind mount's content digest, a cache mount's id, a secret's id — never its value).
    fn plan_mounts<'b>(
        &self,
        mounts: &[instructions::Mount],
        working_dir: &str,
        built: &'b BTreeMap<usize, BuiltStage>,
    ) -> Result<(Vec<PlannedMount<'b>>, Vec<String>), BuildError> {
        let refused = BuildError::Refused;
        let names: BTreeMap<String, usize> = self
            .plan
            .stages
            .iter()
            .filter(|stage| !stage.name.is_empty())
            .map(|stage| (stage.name.to_lowercase(), stage.index))
            .collect();
        let (mut planned, mut keys) = (Vec::new(), Vec::new());
        for mount in mounts {
            let what = format!("RUN --mount=type={}", mount.kind.as_str());
            if mount.kind == MountType::Ssh {
                return Err(refused(format!(
                    "{what}: silo cannot forward an SSH agent into a Windows step; pass keys or \
                     tokens with --secret and RUN --mount=type=secret"
                )));
            }
            let target = run_mounts::mount_target(mount, working_dir).map_err(refused)?;
            let mut secret = None;
            let mut tree = None;
            let source_key = match mount.kind {
                MountType::Ssh | MountType::Tmpfs => String::new(),
                MountType::Secret => {
                    let id = run_mounts::secret_id(mount);
                    match self.request.secrets.get(&id) {
                        Some(source) => {
                            secret = Some(run_mounts::read_secret(&id, source).map_err(refused)?)
                        }
                        None if mount.required => {
                            return Err(refused(format!(
                                "{what}: secret {id:?} is required: pass --secret id={id},src=PATH \
                                 (or env=VAR)"
                            )))
                        }
                        None => {} // optional and not given: no mount (BuildKit's behaviour)
                    }
                    format!("secret {id} given={}", secret.is_some())
                }
                MountType::Cache | MountType::Bind => {
                    let id = match mount.cache_id.as_str() {
                        "" => target.clone(),
                        id => id.to_string(),
                    };
                    let seeded = mount.kind == MountType::Bind || !mount.from.is_empty();
                    let mut key = match mount.kind {
                        MountType::Cache => format!("cache {id} sharing={}", mount.sharing),
                        _ => String::new(),
                    };
                    if seeded {
                        let from = resolve_source(&mount.from, &names, self.plan.stages.len())
                            .map_err(|e| refused(format!("{what}: from={}: {e}", mount.from)))?;
                        let source = match from {
                            CopySource::Context => MountTree::Context,
                            CopySource::Stage(i) => MountTree::Stage(
                                &built
                                    .get(&i)
                                    .ok_or_else(|| {
                                        refused(format!(
                                            "{what}: from={}: the stage is not built yet",
                                            mount.from
                                        ))
                                    })?
                                    .state,
                            ),
                            CopySource::Image(reference) => {
                                MountTree::Image(Box::new(self.image_state(&reference)?.0))
                            }
                        };
                        let rel = container_path(&mount.source);
                        key.push_str(&self.mount_tree_key(&source, &rel)?);
                        tree = Some((source, rel));
                    }
                    key
                }
            };
            keys.push(run_mounts::key_line(mount, &target, &source_key));
            planned.push(PlannedMount {
                mount: mount.clone(),
                target,
                tree,
                secret,
            });
        }
        Ok((planned, keys))
    }

    /// What a mount's source tree contributes to the cache key: the content digest of the
    /// context's files (after `.dockerignore`), or the layers a stage or image is made of.
    fn mount_tree_key(&self, tree: &MountTree<'_>, rel: &str) -> Result<String, BuildError> {
        let layers = match tree {
            MountTree::Context => {
                let source =
                    SourceTree::new(&self.request.context, "the build context", self.ignore);
                let digest = run_mounts::copy_tree(&source, rel, None, run_mounts::CopyMode::Copy)
                    .map_err(|e| BuildError::failed("RUN --mount source", e))?;
                return Ok(format!("context:{rel} {digest}"));
            }
            MountTree::Stage(state) => &state.layers,
            MountTree::Image(state) => &state.layers,
        };
        let diff_ids: Vec<_> = layers.iter().map(|l| l.diff_id.clone()).collect();
        Ok(format!("layers:{rel} {}", cache::chain_id(&diff_ids)))
    }

    /// Makes a planned mount real for one step: a private copy of a bind source, a cache
    /// directory (seeded from `from=` when new), an empty tmpfs directory or a secret's file.
    /// `None`: an optional secret that was not given.
    fn materialize_mount(
        &self,
        planned: &PlannedMount<'_>,
        backing: &mut Vec<MountBacking>,
    ) -> Result<Option<StepMount>, BuildError> {
        let what = format!("RUN --mount target {}", planned.target);
        let io = |e: std::io::Error| BuildError::io(&what, e);
        let scratch = self.scratch.join("mounts");
        std::fs::create_dir_all(&scratch).map_err(io)?;
        let private_dir = || {
            tempfile::Builder::new()
                .prefix("mount-")
                .tempdir_in(&scratch)
                .map_err(io)
        };
        let mount = &planned.mount;
        let source = match mount.kind {
            MountType::Secret => {
                let Some(value) = &planned.secret else {
                    return Ok(None);
                };
                let dir = private_dir()?;
                let file = dir.path().join("secret");
                std::fs::write(&file, value).map_err(io)?;
                backing.push(MountBacking::Dir(dir));
                file
            }
            MountType::Tmpfs => {
                let dir = private_dir()?;
                let path = dir.path().to_path_buf();
                backing.push(MountBacking::Dir(dir));
                path
            }
            MountType::Cache => {
                let id = match mount.cache_id.as_str() {
                    "" => planned.target.as_str(),
                    id => id,
                };
                let caches = run_mounts::CacheMounts::new(self.store.root().join("cache-mounts"));
                let lease = caches
                    .acquire(id, &mount.sharing, &scratch)
                    .map_err(|e| BuildError::io(format!("{what}: cache {id:?}"), e))?;
                if let (true, Some((tree, rel))) = (lease.created, &planned.tree) {
                    self.copy_mount_tree(
                        tree,
                        rel,
                        &lease.path,
                        run_mounts::CopyMode::Copy,
                        backing,
                    )?;
                }
                let path = lease.path.clone();
                backing.push(MountBacking::Cache(lease));
                path
            }
            MountType::Bind => {
                let (tree, rel) = planned.tree.as_ref().expect("bind mounts have a tree");
                let dir = private_dir()?;
                let dest = dir.path().join("m");
                let mode = match mount.read_only {
                    true => run_mounts::CopyMode::LinkOrCopy,
                    false => run_mounts::CopyMode::Copy,
                };
                self.copy_mount_tree(tree, rel, &dest, mode, backing)?;
                backing.push(MountBacking::Dir(dir));
                dest
            }
            MountType::Ssh => unreachable!("refused when planned"),
        };
        Ok(Some(StepMount {
            source,
            target: planned.target.clone(),
            read_only: mount.read_only,
        }))
    }

    /// Copies `rel` of a mount's source tree to `dest`.
    fn copy_mount_tree(
        &self,
        tree: &MountTree<'_>,
        rel: &str,
        dest: &std::path::Path,
        mode: run_mounts::CopyMode,
        backing: &mut Vec<MountBacking>,
    ) -> Result<(), BuildError> {
        let no_filter = NoFilter;
        let (root, filter): (PathBuf, &dyn PathFilter) = match tree {
            MountTree::Context => (self.request.context.clone(), self.ignore),
            MountTree::Stage(state) => {
                let files = self.stage_files(state)?;
                let root = files.path().to_path_buf();
                backing.push(MountBacking::Stage(files));
                (root, &no_filter)
            }
            MountTree::Image(state) => {
                let files = self.stage_files(state)?;
                let root = files.path().to_path_buf();
                backing.push(MountBacking::Stage(files));
                (root, &no_filter)
            }
        };
        let source = SourceTree::new(root, "the mount's source", filter);
        run_mounts::copy_tree(&source, rel, Some(dest), mode)
            .map(drop)
            .map_err(|e| BuildError::failed(format!("RUN --mount source {rel:?}"), e))
    }
    /// Runs one RUN step's process in a fresh sandbox on `target`'s layers and commits what it
    /// changed.
    fn run_in_sandbox(
        &mut self,
        target: SandboxTarget<'_>,
        process: &ProcessSpec,
        step: usize,
        failure: RunFailure,
    ) -> Result<ChangeSet, BuildError> {
        let mut layer_refs = Vec::with_capacity(target.layers.len());
        for layer in target.layers {
            let blob_path = layer
                .home
                .ensure_in_store(self.store, &layer.descriptor)
                .map_err(|e| {
                    BuildError::failed(format!("fetching layer {}", layer.descriptor.digest()), e)
                })?;
            layer_refs.push(LayerRef {
                diff_id: layer.diff_id.to_string(),
                blob_path,
            });
        }
        let spec = SandboxSpec {
            layers: layer_refs,
            network: target.network,
            os_version: target.os_version,
            mounts: target.mounts,
        };
        let mut sandbox = self.runtime.prepare(&spec)?;
        let mut output = StepOutput {
            progress: self.progress,
            step,
            pending: Vec::new(),
        };
        // A step the runtime refuses or cannot run is reported at its Dockerfile line.
        let status = sandbox
            .run(process, &mut output)
            .map_err(|e| BuildError::Step {
                file: failure.file.clone(),
                line: failure.line,
                text: failure.text.clone(),
                cause: Box::new(BuildError::Runtime(e)),
            });
        output.flush();
        let status = status?;
        if status.code != 0 {
            // Dropping the sandbox releases it; nothing of the step is committed.
            drop(sandbox);
            return Err(BuildError::RunFailed {
                file: failure.file,
                line: failure.line,
                text: failure.text,
                command: process.command_line.clone().unwrap_or_default(),
                code: status.code,
            });
        }
        // The runtime keeps what the change set's files point into until it is dropped (after
        // the build), so the layer can be written from them.
        sandbox.commit().map_err(BuildError::Commit)
    }
}
/// Where a RUN step is, for its failure message.
struct RunFailure {
    file: String,
    line: usize,
    text: String,
}
/// The path of a config WorkingDir relative to `C:\` with `/` separators (`\app` → `app`,
/// `C:\app` → `app`).
pub(super) fn container_path(workdir: &str) -> String {
    let no_drive = match workdir.as_bytes() {
        [d, b':', ..] if d.is_ascii_alphabetic() => &workdir[2..],
        _ => workdir,
    };
    no_drive.replace('\\', "/").trim_matches('/').to_string()
}

/// The working directory a Windows process gets (`C:\app`).
fn windows_working_dir(workdir: &str) -> String {
    let path = container_path(workdir);
    if path.is_empty() {
        "C:\\".to_string()
    } else {
        format!("C:\\{}", path.replace('/', "\\"))
    }
}

/// Streams a step's output into progress, one prefixed line at a time.
struct StepOutput<'p> {
    progress: &'p Progress,
    step: usize,
    pending: Vec<u8>,
}

impl StepOutput<'_> {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line);
            self.progress
                .output(self.step, text.trim_end_matches(['\r', '\n']));
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.progress.output(self.step, text.trim_end_matches('\r'));
            self.pending.clear();
        }
    }
}

impl OutputSink for StepOutput<'_> {
    fn stdout(&mut self, bytes: &[u8]) {
        self.push(bytes);
    }
    fn stderr(&mut self, bytes: &[u8]) {
        self.push(bytes);
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_dirs_and_container_paths() {
        assert_eq!(container_path("\\app\\bin"), "app/bin");
        assert_eq!(container_path("C:\\app"), "app");
        assert_eq!(container_path("\\"), "");
        assert_eq!(windows_working_dir("\\app"), "C:\\app");
        assert_eq!(windows_working_dir(""), "C:\\");
    }
}
