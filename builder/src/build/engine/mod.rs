//! The build engine: runs the stages a target needs, step by step, for each requested platform.
//!
//! The Dockerfile frontend (`crate::dockerfile::stages`) parses the stages, expands each
//! instruction, keeps the image config and says what each command needs done
//! ([`Step`](crate::dockerfile::stages::Step)): nothing more for metadata, a RUN, a COPY/ADD or a WORKDIR directory. This engine
//! does those steps. A stage starts from its base — an image, read lazily (manifest and config
//! only), or an earlier stage. COPY/ADD/WORKDIR build a [`ChangeSet`](crate::layer::ChangeSet) directly, RUN gets one from
//! the [`Runtime`]; the layer codec turns it into a blob in the store. Before a layer step runs,
//! its cache key (parent chain, expanded instruction, input digests) is looked up; a hit reuses
//! the recorded layer. Nothing is written to the store but complete, verified blobs and records;
//! refs are set only after the whole build succeeded (see `output`).
//!
//! This module owns the request, the result, [`BuildError`] and the engine's state; the work is
//! split by role: `stage` walks the stages and their commands, `layer_step` looks a layer step
//! up in the cache or makes it (and WORKDIR), `copy_step` does COPY/ADD (URLs included),
//! `run_step` does RUN (mounts, sandbox, output), `stage_files` gives the files of stages and
//! images, `finish` turns a stage into an image and the images into an index. What the steps
//! rest on: [`cache`] (per-step cache keys and records in the store), [`config`] (the full image
//! config, docker's superset of OCI's, kept from the base) with [`frontend_config`] bridging it to
//! the frontend's view, [`copy`] (BuildKit's copy rules), [`run_mounts`] (`RUN --mount`) and
//! [`runtimes`] (`--runtime` selection).

pub mod cache;
pub mod config;
pub mod copy;
pub mod frontend_config;
pub mod run_mounts;
pub mod runtimes;

mod copy_step;
mod finish;
mod layer_step;
mod run_step;
mod stage;
mod stage_files;

use finish::make_index;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use oci_spec::image::Descriptor;

use crate::build::engine::config::ImageConfig;
use crate::build::engine::copy::CopyError;
use crate::build::export::remote_cache::{RemoteCache, UsedRecord};
use crate::build::progress::Progress;
use crate::build::sources::base::{BaseError, ImageLayer, TargetPlatform};
use crate::build::sources::named_context::NamedContexts;
use crate::build::sources::url_source::UrlError;
use crate::dockerfile::dockerignore::{self, PatternMatcher};
use crate::dockerfile::shell::HostMode;
use crate::dockerfile::stages::{
    parse_stages, BaseConfig, BuildOptions, BuildPlan, FrontendError, Platform,
};
use crate::dockerfile::winpath::PathMode;
use crate::layer::owner::UnknownAccount;
use crate::layer::LayerError;
use crate::oci::{Flavor, ImageError};
use crate::runtime::{NetworkMode, Runtime, RuntimeError};
use crate::store::registry_source::RegistryRefs;
use crate::store::{Store, StoreError};

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile.
    pub dockerfile: PathBuf,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// One entry per platform; at least one.
    pub platforms: Vec<TargetPlatform>,
    pub no_cache: bool,
    /// `--pull`: FROM and COPY --from images by bare name come from their registry, never the
    /// store.
    pub pull: bool,
    /// `--build-context NAME=VALUE`: what names in FROM / COPY --from stand for.
    pub contexts: NamedContexts,
    /// `--label`: added to the final image's labels.
    pub labels: BTreeMap<String, String>,
    pub path_mode: PathMode,
    /// `--network` for RUN steps that do not set their own.
    pub network: NetworkMode,
    /// `--timeout` for each RUN step.
    pub run_timeout: Option<std::time::Duration>,
    /// `--secret`: what `RUN --mount=type=secret` steps may read, by id.
    pub secrets: run_mounts::Secrets,
    /// `--cache-to type=inline`: each image's config carries the cache records of its layers.
    pub inline_cache: bool,
}

/// One built image (one platform).
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub config: ImageConfig,
    pub config_descriptor: Descriptor,
    pub config_bytes: Vec<u8>,
    /// The manifest's descriptor (its platform is in `config`: os.version, os.features).
    pub manifest_descriptor: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub layers: Vec<ImageLayer>,
    pub flavor: Flavor,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub images: Vec<BuiltImage>,
    /// The index over `images` when several platforms were built.
    pub index: Option<(Descriptor, Vec<u8>)>,
    /// Every cache record the build used or created, in step order (for `--cache-to`).
    pub cache_records: Vec<UsedRecord>,
}

impl BuildResult {
    /// The descriptor and bytes an output names: the index, or the only manifest.
    pub fn top(&self) -> (&Descriptor, &[u8]) {
        match &self.index {
            Some((d, b)) => (d, b),
            None => (
                &self.images[0].manifest_descriptor,
                &self.images[0].manifest_bytes,
            ),
        }
    }

    /// What `--iidfile` and `--quiet` report: the config digest (docker's image ID) of a
    /// single-platform build, the index digest of a multi-platform one.
    pub fn image_id(&self) -> String {
        match &self.index {
            Some((d, _)) => d.digest().to_string(),
            None => self.images[0].config_descriptor.digest().to_string(),
        }
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile itself is wrong (parse, flags, stage graph).
    #[error("{file}:{line}: {message}")]
    Dockerfile {
        file: String,
        line: usize,
        message: String,
    },
    /// A step failed: where, what was written, and the failure (kept as the source).
    #[error("{file}:{line}: {text}: {cause}")]
    Step {
        file: String,
        line: usize,
        text: String,
        #[source]
        cause: Box<BuildError>,
    },
    /// A RUN step's process exited with a non-zero code: the full 32-bit Windows exit code,
    /// shown unsigned (`0xC0000005` as 3221225477, as Windows and BuildKit show it).
    #[error(
        "{file}:{line}: {text}: process \"{command}\" did not complete successfully: exit code: {}",
        *.code as u32
    )]
    RunFailed {
        file: String,
        line: usize,
        text: String,
        command: String,
        code: i32,
    },
    /// The build cannot do what was asked; the reason says what (an unsupported source or
    /// mount, a bad flag or argument value, a missing input, a server answer it cannot use).
    #[error("{0}")]
    Refused(String),
    /// The Dockerfile's frontend failed at no particular line (e.g. an unknown `--target`).
    #[error(transparent)]
    Frontend(#[from] FrontendError),
    /// A host file or directory could not be read or written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A base image, or an image named by `--from`, could not be resolved (boxed: the error
    /// is large and rare).
    #[error(transparent)]
    Base(Box<BaseError>),
    /// A COPY/ADD could not be planned from its sources.
    #[error(transparent)]
    Copy(#[from] CopyError),
    /// An ADD URL could not be fetched, or its `--checksum` is wrong.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// `--chown` names no account silo knows.
    #[error(transparent)]
    Account(#[from] UnknownAccount),
    /// The image's manifest could not be made.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A layer could not be opened, read, unpacked or written; `what` says which and how.
    #[error("{what}: {source}")]
    Layer {
        what: String,
        #[source]
        source: Box<LayerError>,
    },
    /// The runtime could not prepare the step's sandbox or run its process (its own chain of
    /// causes shown).
    #[error("{0:#}")]
    Runtime(#[from] RuntimeError),
    /// The runtime could not commit what the step changed.
    #[error("committing the step's changes: {0:#}")]
    Commit(#[source] RuntimeError),
    /// Another part of the build failed on `what`.
    #[error("{what}: {source}")]
    Failed {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl From<BaseError> for BuildError {
    fn from(e: BaseError) -> Self {
        BuildError::Base(Box::new(e))
    }
}

impl BuildError {
    /// An I/O failure on `what` (a path or an action).
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BuildError::Io {
            what: what.into(),
            source,
        }
    }

    /// A failure of another part on `what`.
    pub(crate) fn failed(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        BuildError::Failed {
            what: what.into(),
            source: source.into(),
        }
    }

    /// A layer failure on `what` (e.g. `reading layer sha256:…`).
    pub(crate) fn layer(what: impl Into<String>, source: LayerError) -> Self {
        BuildError::Layer {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// The exit code of a failed RUN, to pass on as silo's own.
    pub fn run_exit_code(&self) -> Option<i32> {
        match self {
            BuildError::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Builds the request. `store` holds layers, cache records and the results; registry bases are
/// read through a default registry client.
pub fn build(
    store: &Store,
    runtime: &dyn Runtime,
    progress: &mut Progress,
    request: &BuildRequest,
) -> Result<BuildResult, BuildError> {
    build_with_cache(
        store,
        runtime,
        progress,
        request,
        None,
        &RegistryRefs::default(),
    )
}

/// [`build`] that also looks steps up in the records imported from `--cache-from`, and reads
/// registry bases through `registries` (the command's registry access).
pub fn build_with_cache(
    store: &Store,
    runtime: &dyn Runtime,
    progress: &mut Progress,
    request: &BuildRequest,
    remote: Option<&RemoteCache>,
    registries: &RegistryRefs,
) -> Result<BuildResult, BuildError> {
    let bytes = std::fs::read(&request.dockerfile).map_err(|e| {
        BuildError::io(
            format!("reading Dockerfile {}", request.dockerfile.display()),
            e,
        )
    })?;
    let file = request
        .dockerfile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let parsed = crate::dockerfile::parse(&bytes)
        .map_err(|e| BuildError::failed(request.dockerfile.display().to_string(), e))?;
    for warning in &parsed.warnings {
        progress.warn(&format!("{file}:{}: {}", warning.line, warning.short));
    }
    if !request.context.is_dir() {
        return Err(BuildError::Refused(format!(
            "build context {} is not a directory",
            request.context.display()
        )));
    }
    let ignore = dockerignore::load_for_build(&request.dockerfile, &request.context)
        .map_err(|e| BuildError::failed(".dockerignore", e))?;
    let epoch = source_date_epoch(request)?;
    let scratch = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(store.root().join("tmp"))
        .map_err(|e| BuildError::io("creating a scratch directory", e))?;

    let mut images = Vec::new();
    let mut cache_records = Vec::new();
    for (n, platform) in request.platforms.iter().enumerate() {
        let mut target_platform = Platform::windows_amd64();
        target_platform.os_version = platform.os_version.clone().unwrap_or_default();
        let options = BuildOptions {
            build_args: request.build_args.clone(),
            target_platform,
            build_platform: Platform::host(),
            host: HostMode::Linux,
            path_mode: request.path_mode,
            target: request.target.clone(),
        };
        let plan = parse_stages(&parsed.ast, parsed.escape_token, &options)
            .map_err(|e| frontend_error(&file, e))?;
        let first = n == 0;
        if first {
            for w in &plan.warnings {
                progress.warn(&format!("{file}:{}: {} ({})", w.line, w.message, w.rule));
            }
            let unused = plan.unused_build_args();
            if !unused.is_empty() {
                progress.warn(&format!(
                    "one or more build-args {unused:?} were not consumed"
                ));
            }
        }
        let mut engine = Engine {
            store,
            runtime,
            progress: &mut *progress,
            request,
            plan: &plan,
            file: file.clone(),
            ignore: &ignore,
            epoch,
            now: epoch.unwrap_or_else(now_secs),
            platform,
            scratch: scratch.path().to_path_buf(),
            multi_platform: request.platforms.len() > 1,
            show_warnings: first,
            remote,
            registries,
            used: Vec::new(),
        };
        images.push(engine.build_plan()?);
        cache_records.append(&mut engine.used);
    }
    let index = if images.len() > 1 {
        Some(make_index(store, &images)?)
    } else {
        None
    };
    Ok(BuildResult {
        images,
        index,
        cache_records,
    })
}

fn frontend_error(file: &str, e: FrontendError) -> BuildError {
    match e.location {
        Some(location) => BuildError::Dockerfile {
            file: file.to_string(),
            line: location.start_line,
            message: e.message,
        },
        None => BuildError::Frontend(e),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `SOURCE_DATE_EPOCH` from `--build-arg` (BuildKit's way), else the environment (buildx
/// passes it on that way).
fn source_date_epoch(request: &BuildRequest) -> Result<Option<i64>, BuildError> {
    let value = request
        .build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .filter(|v| !v.trim().is_empty());
    match value {
        None => Ok(None),
        Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            BuildError::Refused(format!(
                "SOURCE_DATE_EPOCH={v:?}: expected a number of seconds since 1970"
            ))
        }),
    }
}

/// The filesystem side of a stage: what the frontend's config does not hold.
#[derive(Clone)]
struct StageState {
    /// The full image config (the base's, with every field kept), updated from the frontend's
    /// view after each command.
    config: ImageConfig,
    layers: Vec<ImageLayer>,
    flavor: Flavor,
    /// How many history entries came from the base image (their times are kept as they were).
    base_history: usize,
    /// The stage's files, unpacked when a later `COPY --from` needs them.
    files: Rc<RefCell<Option<Rc<tempfile::TempDir>>>>,
    /// Creation time of the layer the current step added (for its history entry).
    step_layer_time: Option<i64>,
    /// The newest creation time of the layers this build added: the image's `created`.
    newest_layer_time: Option<i64>,
}

/// A finished stage: its filesystem state and what a stage built on it inherits.
struct BuiltStage {
    state: StageState,
    inherit: BaseConfig,
}

/// How a layer step ended, for progress.
enum LayerOutcome {
    Cached(u64),
    Built(u64),
}

struct Engine<'a> {
    store: &'a Store,
    runtime: &'a dyn Runtime,
    progress: &'a mut Progress,
    request: &'a BuildRequest,
    plan: &'a BuildPlan,
    file: String,
    ignore: &'a PatternMatcher,
    epoch: Option<i64>,
    now: i64,
    platform: &'a TargetPlatform,
    scratch: PathBuf,
    multi_platform: bool,
    /// Lint warnings are shown for the first platform only (they are the same for all).
    show_warnings: bool,
    /// Records imported from `--cache-from`, looked up after the store's.
    remote: Option<&'a RemoteCache>,
    /// How registry bases are reached.
    registries: &'a RegistryRefs,
    /// The cache records this platform's build used or created.
    used: Vec<UsedRecord>,
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::path::Path;

    use super::*;
    use crate::build::progress::ProgressMode;
    use crate::runtime::none::NoneRuntime;
    use crate::store::LockMode;

    fn request(context: &Path, dockerfile: &Path) -> BuildRequest {
        BuildRequest {
            context: context.to_path_buf(),
            dockerfile: dockerfile.to_path_buf(),
            build_args: BTreeMap::new(),
            target: None,
            platforms: vec![TargetPlatform {
                os_version: None,
                host: None,
            }],
            no_cache: true,
            pull: false,
            contexts: Default::default(),
            labels: BTreeMap::new(),
            path_mode: Default::default(),
            network: NetworkMode::None,
            run_timeout: None,
            secrets: Default::default(),
            inline_cache: false,
        }
    }

    /// The cause of a failure located at a step, after checking the line, the message and that
    /// `source()` leads to the cause.
    fn at_step<'e>(err: &'e BuildError, want_line: usize, want_text: &str) -> &'e BuildError {
        let BuildError::Step { line, cause, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(*line, want_line, "{err}");
        assert!(err.to_string().starts_with(want_text), "{err}");
        let source = err.source().expect("the step's cause as its source");
        assert_eq!(source.to_string(), cause.to_string());
        cause
    }

    // A failure keeps what caused it as its source (an I/O error, the runtime's error) and its
    // message still says all of it, located at the step when there is one.
    #[test]
    fn failures_keep_their_source_and_their_text() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store"), LockMode::Shared).unwrap();
        let context = dir.path().join("context");
        std::fs::create_dir_all(&context).unwrap();
        let dockerfile = context.join("Dockerfile");
        let mut progress = Progress::new(ProgressMode::Quiet);
        let mut fails = |text: Option<&str>| {
            if let Some(text) = text {
                std::fs::write(&dockerfile, text).unwrap();
            }
            let request = request(&context, &dockerfile);
            build(&store, &NoneRuntime::new(), &mut progress, &request).unwrap_err()
        };
        let err = fails(None);
        assert!(
            matches!(&err, BuildError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("reading Dockerfile "), "{err}");

        let err = fails(Some("FROM nothing-here\n"));
        let cause = at_step(&err, 1, "Dockerfile:1: FROM nothing-here: ");
        assert!(matches!(cause, BuildError::Base(_)), "{cause:?}");

        // A base made by silo's base writer, so the RUN reaches the runtime.
        let spec = crate::image::base::BaseSpec {
            os_version: "10.0.20348.1".into(),
            os_features: Vec::new(),
            architecture: oci_spec::image::Arch::Amd64,
            compression: crate::layer::LayerCompression::Gzip(1),
            flavor: Flavor::Oci,
        };
        let mut sink = Store::open(dir.path().join("store"), LockMode::Shared).unwrap();
        crate::image::base::create_base_image(&mut sink, Some("base"), &spec).unwrap();
        let err = fails(Some("FROM base\nRUN echo hi\n"));
        let cause = at_step(&err, 2, "Dockerfile:2: RUN echo hi: RUN needs a runtime");
        assert!(
            matches!(cause, BuildError::Runtime(RuntimeError::NoRuntime(_))),
            "{cause:?}"
        );
        assert!(cause.source().is_some(), "the runtime's error under it");
    }

    // A runtime's own chain of causes (anyhow contexts) stays in the message, as before the
    // errors were typed, and is the source chain underneath.
    #[test]
    fn runtime_chains_stay_in_the_message() {
        let failed = || {
            RuntimeError::Failed(
                anyhow::anyhow!("permission denied").context("mounting the layers"),
            )
        };
        assert_eq!(failed().to_string(), "mounting the layers");
        assert_eq!(
            format!("{:#}", failed()),
            "mounting the layers: permission denied"
        );
        let commit = BuildError::Commit(failed());
        assert_eq!(
            commit.to_string(),
            "committing the step's changes: mounting the layers: permission denied"
        );
        let runtime = commit.source().expect("the runtime's error");
        assert_eq!(runtime.to_string(), "mounting the layers");
        assert_eq!(runtime.source().unwrap().to_string(), "permission denied");
        assert_eq!(
            BuildError::Runtime(failed()).to_string(),
            "mounting the layers: permission denied"
        );
    }
}
