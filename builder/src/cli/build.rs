//! `silo build`: build a Windows image from a Dockerfile, with buildx's habits (`-t`, `-f`,
//! `--build-arg`, `--target`, `--platform`, `--output`, `--progress`, `--iidfile`, `--label`,
//! `--pull`, `--build-context`, `--check`/`--call`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _};

use super::access::AccessOpts;
use super::build_check::{self, Call};
use super::Globals;
use crate::build::engine::runtimes::{self, IsolationFlag, RuntimeChoice};
use crate::build::engine::{self, BuildRequest, BuildResult};
use crate::build::export::cache_spec::{self, CacheLocation, CacheSpec, Direction};
use crate::build::export::output::{self, Output};
use crate::build::export::remote_cache::{self, RemoteCache};
use crate::build::progress::{human_size, Progress, ProgressMode};
use crate::build::sources::base::TargetPlatform;
use crate::build::sources::named_context::NamedContexts;
use crate::dockerfile::shell::HostMode;
use crate::dockerfile::stages::{BuildOptions, Platform};
use crate::dockerfile::winpath::PathMode;
use crate::inspect::tree;
use crate::runtime::NetworkMode;
use crate::store::registry_source::RegistryRefs;
use crate::store::{LockMode, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The build context directory.
    #[arg(default_value = ".")]
    pub context: PathBuf,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Name the image in the store (repeatable); the first also names it in outputs. A name as
    /// docker takes it: `[HOST[:PORT]/]PATH[:TAG]`, lowercase path, no digest.
    #[arg(short = 't', long = "tag", value_parser = image_name)]
    pub tags: Vec<String>,
    /// Set a build-time variable: KEY=VALUE, or KEY to take it from the environment.
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Build this stage and the stages it needs.
    #[arg(long)]
    pub target: Option<String>,
    /// windows/amd64[:OSVERSION]; several (comma-separated or repeated) build a multi-platform
    /// image against the base's matching entries.
    #[arg(long = "platform", value_delimiter = ',')]
    pub platforms: Vec<String>,
    /// What runs RUN steps: auto, wine (Linux), hcs (Windows) or none.
    #[arg(long, default_value = "auto")]
    pub runtime: RuntimeChoice,
    /// HCS isolation: default (process on Windows Server, Hyper-V on client Windows or when
    /// the base image's build needs it), process or hyperv.
    #[arg(long, default_value = "default")]
    pub isolation: IsolationFlag,
    /// Where the image goes besides the store (repeatable): type=oci,dest=FILE (an OCI layout
    /// tarball; dest=- for standard output) | type=oci,tar=false,dest=DIR (a layout directory) |
    /// type=docker,dest=FILE (docker load) | type=registry[,name=REF] (push) |
    /// type=local,dest=DIR (the image's C:\ as files: layers merged, whiteouts applied; the
    /// registry as merged hive files in Windows\System32\config; an existing DIR is written
    /// into, as buildx does) | type=tar,dest=FILE (the same tree as one tar; dest=- for standard
    /// output). `-o DIR` is type=local,dest=DIR and `-o -` type=tar to standard output. Other
    /// keys: push=true|false, compression=gzip, oci-mediatypes=true.
    #[arg(short = 'o', long = "output")]
    pub outputs: Vec<String>,
    /// Shorthand for --output type=registry.
    #[arg(long)]
    pub push: bool,
    /// Do not use the build cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Pull every FROM and COPY --from image named by a bare name from its registry (a fresh
    /// manifest) even when the store holds that name, as buildx's --pull; a name only the store
    /// has then fails. oci: and docker-archive: names are read as always.
    #[arg(long)]
    pub pull: bool,
    /// A named context (repeatable): NAME=docker-image://IMAGE (a store name, docker://REF,
    /// oci:DIR[:tag], docker-archive:FILE[:ref]) | NAME=oci-layout://DIR[:TAG|@sha256:DIGEST] |
    /// NAME=DIR (files for COPY --from=NAME). FROM NAME and COPY --from=NAME then use it instead
    /// of the image NAME names; a NAME that is a stage of the Dockerfile replaces that stage.
    /// URLs (https://, git) are refused.
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// Run the Dockerfile's build checks instead of building (shorthand for --call=check):
    /// lint rules, stage and argument resolution, the context's COPY sources. Prints buildx's
    /// `WARNING: Rule - URL` report and exits 1 when anything is found, 0 when clean.
    #[arg(long)]
    pub check: bool,
    /// What to do: build (the default) or check (see --check). buildx's outline and targets are
    /// refused.
    #[arg(long, value_name = "build|check")]
    pub call: Option<String>,
    /// Export the build cache (repeatable): type=registry,ref=REF[,mode=min|max]
    /// [,registry.insecure=true][,ignore-error=true] | type=local,dest=DIR[,tag=TAG]
    /// [,mode=min|max][,ignore-error=true] (an OCI layout; tag default latest) | type=inline
    /// (in the image config; min mode only).
    #[arg(long = "cache-to", value_name = "SPEC")]
    pub cache_to: Vec<String>,
    /// Import build cache (repeatable): type=registry,ref=REF[,registry.insecure=true] (a cache
    /// manifest, or an image built with --cache-to type=inline), or just REF |
    /// type=local,src=DIR[,tag=TAG|digest=sha256:...]. A missing cache (registry ref, local DIR
    /// or tag) is a warning; a local cache that is there but corrupt is an error.
    #[arg(long = "cache-from", value_name = "SPEC")]
    pub cache_from: Vec<String>,
    /// auto, tty, plain, quiet (none) or rawjson (BuildKit's JSON status stream, one
    /// SolveStatus per line on stderr); BUILDKIT_PROGRESS sets it as for docker buildx.
    #[arg(long, default_value = "auto", env = "BUILDKIT_PROGRESS")]
    pub progress: ProgressMode,
    /// Print only the image ID.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID (config digest; index digest for multi-platform builds) to this file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Write the build's result to this file as JSON, with buildx's keys:
    /// `containerimage.digest` (the manifest, or the index of a multi-platform build),
    /// `containerimage.descriptor`, `containerimage.config.digest` (single platform) and
    /// `image.name` (the -t names, comma-separated).
    #[arg(long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// buildx's `--load` (into a Docker daemon) is refused: silo has no daemon. The image is in
    /// silo's store (`-t NAME`); `-o type=docker,dest=FILE` writes what `docker load` reads.
    #[arg(long)]
    pub load: bool,
    /// Add a label to the image: KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// A secret for `RUN --mount=type=secret`: id=ID,src=PATH or id=ID,env=VAR (repeatable).
    #[arg(long = "secret", value_name = "id=ID,src=PATH|env=VAR")]
    pub secrets: Vec<String>,
    /// Network for RUN steps: default (Wine: the host's; HCS: `nat`), none, host, or on
    /// Windows the name of an HNS network.
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Stop a RUN step after this long (e.g. 10m, 90s).
    #[arg(long)]
    pub timeout: Option<String>,
    /// Windows path conventions: buildkit (WorkingDir `\app`, the default) or classic (`C:\app`,
    /// like the classic docker builder).
    #[arg(long, default_value = "buildkit")]
    pub path_mode: String,
    /// Credentials and TLS for registry bases and `--push`.
    #[command(flatten)]
    pub registry: AccessOpts,
}

/// `-o type=local|tar`: the image's merged `C:\` ([`crate::inspect::tree`]), with a note on
/// stderr saying what became of the registry and what a Linux tree cannot hold.
fn write_tree_output(
    store: &Store,
    result: &BuildResult,
    dest: &std::path::Path,
    tar: bool,
) -> anyhow::Result<()> {
    if result.index.is_some() {
        bail!(
            "a filesystem output holds one platform's files; build a single --platform for \
             type=local or type=tar"
        );
    }
    let image = &result.images[0];
    let report = match tar {
        false => tree::write_local(store, image, dest)?,
        true => tree::write_tar(store, image, dest)?,
    };
    // Said every time: a reader of the tree must know the registry is there as merged hive
    // files, and what was left out.
    let registry = if report.hives.is_empty() {
        "no layer changed it, the base layer's hive files are as they were".to_string()
    } else {
        format!(
            "{} merged with every layer's delta and written to Windows\\System32\\config",
            report.hives.join(", ")
        )
    };
    let place = match dest.as_os_str() == "-" {
        true => "standard output".to_string(),
        false => dest.display().to_string(),
    };
    eprintln!(
        "note: {place}: the image's files as C:\\ holds them; registry: {registry}; {} layer \
         entries are not files of C:\\ (Hives/ deltas, alternate data streams, UtilityVM/), and \
         NTFS security descriptors and attributes are not kept",
        report.skipped
    );
    Ok(())
}

fn key_value(text: &str, what: &str) -> anyhow::Result<(String, String)> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("{what} {text:?}: expected KEY=VALUE"),
    }
}

pub fn run(globals: &Globals, args: Args) -> anyhow::Result<ExitCode> {
    if args.load {
        anyhow::bail!(
            "--load: silo has no Docker daemon to load into; the image is in silo's store (name \
             it with -t), and -o type=docker,dest=FILE writes a tar for `docker load -i FILE`"
        );
    }
    let mode = if args.quiet {
        ProgressMode::Quiet
    } else {
        args.progress
    };
    let mut build_args = BTreeMap::new();
    for arg in &args.build_args {
        match arg.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            // `--build-arg KEY` takes the value from the environment, as docker does.
            None => match std::env::var(arg) {
                Ok(v) => build_args.insert(arg.clone(), v),
                Err(_) => None,
            },
        };
    }
    let labels = args
        .labels
        .iter()
        .map(|l| key_value(l, "--label"))
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
    let mut platforms = if args.platforms.is_empty() {
        vec![TargetPlatform::default()]
    } else {
        args.platforms
            .iter()
            .map(|p| TargetPlatform::parse(p.trim()).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let mut outputs = args
        .outputs
        .iter()
        .map(|o| Output::parse(o).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let to_stdout = |o: &Output| match o {
        Output::Oci { dest, tar: true } | Output::Tar { dest } => dest.as_os_str() == "-",
        _ => false,
    };
    if outputs.iter().filter(|o| to_stdout(o)).count() > 1 {
        bail!("--output: only one output can go to standard output (dest=- or -o -)");
    }
    let pushes = |o: &Output| matches!(o, Output::Registry { .. });
    if args.push && !outputs.iter().any(pushes) {
        outputs.push(Output::Registry { name: None });
    }
    if outputs
        .iter()
        .any(|o| matches!(o, Output::Registry { name: None }))
        && args.tags.is_empty()
    {
        bail!("pushing needs a name: add -t REGISTRY/REPO:TAG");
    }
    let call = Call::parse(args.call.as_deref(), args.check)?;
    let contexts = NamedContexts::parse(&args.build_contexts).map_err(anyhow::Error::msg)?;
    let network = parse_network(&args.network)?;
    let mut secrets = crate::build::engine::run_mounts::Secrets::new();
    for flag in &args.secrets {
        let (id, source) = crate::build::engine::run_mounts::parse_secret_flag(flag)
            .map_err(|e| anyhow::anyhow!(e))?;
        secrets.insert(id, source);
    }
    let path_mode = match args.path_mode.as_str() {
        "buildkit" => PathMode::BuildKit,
        "classic" => PathMode::Classic,
        other => bail!("--path-mode {other}: expected buildkit or classic"),
    };
    let run_timeout = match &args.timeout {
        None => None,
        Some(t) => Some(parse_timeout(t)?),
    };
    let cache_to = parse_cache_specs(&args.cache_to, Direction::Export)?;
    let cache_from = parse_cache_specs(&args.cache_from, Direction::Import)?;
    let context = args.context.clone();
    if !context.is_dir() {
        bail!(
            "build context {} is not a directory (give the directory that holds your files)",
            context.display()
        );
    }
    let dockerfile = args
        .file
        .clone()
        .unwrap_or_else(|| context.join("Dockerfile"));
    if !dockerfile.is_file() {
        bail!(
            "Dockerfile {} not found (pass -f FILE or put a Dockerfile in the context)",
            dockerfile.display()
        );
    }
    if call == Call::Check {
        let mut target_platform = Platform::windows_amd64();
        target_platform.os_version = platforms[0].os_version.clone().unwrap_or_default();
        let options = BuildOptions {
            build_args,
            target_platform,
            build_platform: Platform::host(),
            host: HostMode::Linux,
            path_mode,
            target: args.target.clone(),
        };
        return build_check::run(&dockerfile, &context, &options);
    }
    let store = Store::open_default(globals.root.as_deref(), LockMode::Shared)
        .context("opening the content store")?;
    let runtime = runtimes::select(args.runtime, args.isolation.0, store.root())?;
    // Without an explicit os.version, a Windows host builds on the base entry it can run, as
    // Docker on that host would pull it; a named os.version is taken as asked.
    for platform in platforms.iter_mut().filter(|p| p.os_version.is_none()) {
        platform.host = runtime.host_target();
    }
    // Blob transfers (lazy base layers, the push) draw like `silo pull/push` do.
    // Transfers have no rawjson stream of their own: in that mode they are not shown.
    let transfers = match mode {
        ProgressMode::RawJson => ProgressMode::Quiet,
        other => other,
    };
    let registry_access = args.registry.use_for_registry_refs(transfers)?;

    let request = BuildRequest {
        context,
        dockerfile,
        build_args,
        target: args.target.clone(),
        platforms,
        no_cache: args.no_cache,
        pull: args.pull,
        contexts,
        labels,
        path_mode,
        network,
        secrets,
        run_timeout,
        inline_cache: cache_to.iter().any(|s| s.location == CacheLocation::Inline),
    };
    let mut progress = Progress::new(mode);
    let remote = if cache_from.is_empty() && cache_to.is_empty() {
        None
    } else {
        let access = args.registry.clone();
        let clients: remote_cache::ClientFactory = Box::new(move |insecure| {
            let mut access = access.clone();
            if insecure {
                access.tls_verify = false;
            }
            access
                .client(Arc::new(registry_client::NoProgress))
                .map_err(|e| format!("{e:#}"))
        });
        Some(RemoteCache::import(
            &cache_from,
            &store,
            &progress,
            clients,
            registry_access.clone(),
        )?)
    };
    // Before the first step: the runtime's setup (the Wine system layer) from the cache, so a
    // fresh state dir need not make it.
    if let (Some(remote), Some(setup)) = (&remote, runtime.setup_artifact()) {
        remote.install_setup(setup, &store, &progress);
    }
    let built = engine::build_with_cache(
        &store,
        runtime.as_ref(),
        &mut progress,
        &request,
        remote.as_ref(),
        &RegistryRefs::given(registry_access.clone()),
    );
    let result = match built {
        Ok(result) => result,
        Err(e) => {
            let code = e.run_exit_code();
            eprintln!("error: {e}");
            // A failed RUN passes its exit code on (clamped to what a process can return).
            return Ok(ExitCode::from(
                code.map(|c| c.clamp(1, 255) as u8).unwrap_or(1),
            ));
        }
    };
    let mut pushed = Vec::new();
    for output in &outputs {
        match output {
            Output::Local { dest } | Output::Tar { dest } => {
                write_tree_output(&store, &result, dest, matches!(output, Output::Tar { .. }))
                    .with_context(|| format!("writing output {output:?}"))?
            }
            _ => pushed.extend(
                output::write_output(&store, &result, output, &args.tags, &registry_access)
                    .with_context(|| format!("writing output {output:?}"))?,
            ),
        }
    }
    if let Some(remote) = &remote {
        for spec in &cache_to {
            match remote.export(spec, &store, &result, runtime.setup_artifact()) {
                Ok(report) => {
                    progress.note(&format!("exported cache to {}: {report}", spec.location))
                }
                Err(e) if spec.ignore_error => {
                    progress.warn(&format!("failed to export cache to {}: {e}", spec.location))
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("exporting the build cache to {}", spec.location)))
                }
            }
        }
        // A store tag needs every layer in the store; remote hits are fetched now.
        if args.tags.is_empty() {
            remote.remember_fetched(&store, &result.cache_records)?;
        } else {
            remote.materialize(&store, &result)?;
        }
    }
    output::tag_in_store(&store, &result, &args.tags).context("tagging the image in the store")?;
    if let Some(path) = &args.iidfile {
        std::fs::write(path, result.image_id())
            .with_context(|| format!("writing --iidfile {}", path.display()))?;
    }
    if let Some(path) = &args.metadata_file {
        let (top, _) = result.top();
        let mut meta = serde_json::json!({
            "containerimage.digest": top.digest().to_string(),
            "containerimage.descriptor": top,
        });
        if result.index.is_none() {
            meta["containerimage.config.digest"] = result.image_id().into();
        }
        if !args.tags.is_empty() {
            meta["image.name"] = args.tags.join(",").into();
        }
        let text = serde_json::to_string_pretty(&meta)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("writing --metadata-file {}", path.display()))?;
    }
    progress.summary();
    // In rawjson mode stderr carries only the JSON stream (the digests are in --metadata-file).
    let human = !matches!(mode, ProgressMode::Quiet | ProgressMode::RawJson);
    for p in &pushed {
        if human {
            eprintln!(
                "pushed {}@{}: {} uploaded, {} mounted, {} already present, {} foreign skipped",
                p.reference, p.digest, p.uploaded, p.mounted, p.present, p.skipped_foreign
            );
        }
    }
    // `-o type=oci,dest=-` and `-o -` own standard output: the tar must not gain a line.
    let stdout_taken = outputs.iter().any(to_stdout);
    if mode == ProgressMode::Quiet && stdout_taken {
        eprintln!("{}", result.image_id());
    } else if mode == ProgressMode::Quiet {
        println!("{}", result.image_id());
    } else if human {
        let (top, _) = result.top();
        let size: u64 = result
            .images
            .iter()
            .flat_map(|i| i.layers.iter().map(|l| l.descriptor.size()))
            .sum();
        // The manifest digest is what a registry and `docker pull NAME@…` know; the image ID
        // (config digest) is what --iidfile and `docker images` show: name both, as buildx does.
        let what = match &result.index {
            Some(_) => format!("index {} (also the image ID", top.digest()),
            None => format!("manifest {} (image ID {}", top.digest(), result.image_id()),
        };
        eprintln!(
            "built {what}; {} platform{}, {} of layers){}",
            result.images.len(),
            if result.images.len() == 1 { "" } else { "s" },
            human_size(size),
            if args.tags.is_empty() {
                String::new()
            } else {
                format!(", tagged {}", args.tags.join(", "))
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_cache_specs(texts: &[String], direction: Direction) -> anyhow::Result<Vec<CacheSpec>> {
    texts
        .iter()
        .map(|t| cache_spec::parse_spec(t, direction).map_err(anyhow::Error::new))
        .collect()
}

fn parse_timeout(text: &str) -> anyhow::Result<std::time::Duration> {
    let (number, scale) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (
            &text[..i],
            match &text[i..] {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                other => bail!("--timeout {text}: unknown unit {other:?} (use s, m or h)"),
            },
        ),
        None => (text, 1),
    };
    let n: u64 = number
        .parse()
        .with_context(|| format!("--timeout {text}: expected e.g. 90s, 10m or 1h"))?;
    Ok(std::time::Duration::from_secs(n * scale))
}

/// `--network`: `default`/`host`, `none`, or a network's name (HNS names are free text; only
/// the HCS runtime has named networks, the Wine runtime refuses them).
fn parse_network(value: &str) -> anyhow::Result<NetworkMode> {
    Ok(match value {
        "default" | "host" => NetworkMode::Host,
        "none" => NetworkMode::None,
        name if !name.trim().is_empty()
            && name.len() <= 256
            && !name.contains(char::is_control) =>
        {
            NetworkMode::Named(name.to_string())
        }
        other => bail!(
            "--network {other:?}: expected default, host, none or a network's name (at most 256 \
             printable characters)"
        ),
    })
}

/// A `-t`/`--tag` value: an image reference with at most a tag, as `docker build -t` takes it
/// ("invalid reference format" otherwise); kept as typed (the store names images as typed).
pub(super) fn image_name(text: &str) -> Result<String, String> {
    if text.contains('@') {
        return Err(format!(
            "{text:?}: a tag cannot hold a digest (NAME[:TAG], as docker build -t)"
        ));
    }
    registry_client::Reference::parse(text)
        .map(|_| text.to_string())
        .map_err(|e| format!("invalid reference format: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_values_are_docker_builds() {
        assert_eq!(parse_network("default").unwrap(), NetworkMode::Host);
        assert_eq!(parse_network("host").unwrap(), NetworkMode::Host);
        assert_eq!(parse_network("none").unwrap(), NetworkMode::None);
        assert_eq!(
            parse_network("Default Switch").unwrap(),
            NetworkMode::Named("Default Switch".into())
        );
        for bad in ["", "  ", "a\nb", &"n".repeat(257)] {
            let err = parse_network(bad).unwrap_err().to_string();
            assert!(err.contains("expected default, host, none"), "{err}");
        }
    }
}
