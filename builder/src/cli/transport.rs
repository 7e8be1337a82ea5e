//! What the registry verbs (pull, push, copy, inspect, login, logout) share: the client flags
//! (credentials, TLS, concurrency, foreign-URL policy), building a `registry_client::Client`,
//! indicatif/plain progress, and the image transports — `docker://REF` or a bare reference (a
//! registry), `oci:DIR[:tag]` (an OCI image layout) and `docker-archive:FILE[:ref]`.
//!
//! The OCI layout code here is the interim local format until the store (builder/src/store/) takes
//! over; it writes blobs through `registry_client::blobdir::BlobDir`, so pulls are resumable and
//! verified before they become visible.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::build::progress::human_size;
use crate::store::location::split_path_suffix;
use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use registry_client::blobdir::BlobDir;
use registry_client::credentials::CredentialEnv;
use registry_client::manifest::{self, RawManifest};
use registry_client::platform::short_digest;
use registry_client::{
    BlobOutcome, Client, ClientConfig, Credential, CredentialSource, DefaultCredentials,
    ImageToPush, Isolation, OsVersion, PlatformRequest, Progress, Reference,
};
use serde_json::{json, Value};

/// Progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, nothing otherwise.
    Auto,
    /// Bars.
    Tty,
    /// One line per blob start/finish and per event (for CI logs).
    Plain,
    /// Nothing but errors.
    None,
}

/// A secret from the command line; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// How to reach and authenticate to registries: the flags every command that talks to a
/// registry takes (the transfer verbs, and `build`/`layers`/`ls`/`registry`/`diff` for registry
/// bases and refs).
#[derive(Debug, Clone, clap::Args)]
pub struct AccessOpts {
    /// Credentials `user:password` for the registry (overrides stored ones).
    #[arg(
        long,
        value_name = "USER:PASS",
        env = "SILO_CREDS",
        hide_env_values = true
    )]
    pub creds: Option<Secret>,
    /// Auth file to read (and for login, write) instead of the default lookup.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Verify TLS certificates; `false` also allows plain HTTP.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    /// Directory with `*.crt` CA certificates to trust (like containers' certs.d).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// A CA certificate (PEM) to trust; may be repeated.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
}

impl AccessOpts {
    /// The credential environment, honouring `--authfile`.
    pub fn credential_env(&self) -> CredentialEnv {
        let mut env = CredentialEnv::from_process();
        env.authfile_flag = self.authfile.clone();
        env
    }

    /// `--creds` as a credential.
    pub fn explicit_credential(&self) -> Result<Option<Credential>> {
        let Some(Secret(c)) = &self.creds else {
            return Ok(None);
        };
        let (u, p) = c.split_once(':').context("--creds must be USER:PASSWORD")?;
        Ok(Some(Credential::Basic {
            username: u.to_string(),
            password: p.to_string(),
        }))
    }

    /// `--ca-cert` files plus the `*.crt` files of `--cert-dir`.
    pub fn ca_certs(&self) -> Result<Vec<PathBuf>> {
        let mut ca = self.ca_cert.clone();
        if let Some(dir) = &self.cert_dir {
            let entries = std::fs::read_dir(dir)
                .with_context(|| format!("reading --cert-dir {}", dir.display()))?;
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "crt") {
                    ca.push(p);
                }
            }
        }
        Ok(ca)
    }

    /// Credentials: `--creds` for `registries`, else the documented file lookup.
    pub fn credentials(&self, registries: &[&str]) -> Result<DefaultCredentials> {
        let mut creds = DefaultCredentials::new(self.credential_env());
        if let Some(c) = self.explicit_credential()? {
            for r in registries {
                creds = creds.with_explicit(r, c.clone());
            }
        }
        Ok(creds)
    }

    /// A client with default transfer settings, for commands whose registries are known only
    /// while they run (`build` bases and pushes, inspection refs): `--creds` applies to every
    /// registry the command reaches.
    pub fn client(&self, progress: Arc<dyn Progress>) -> Result<Arc<Client>> {
        let cfg = ClientConfig {
            tls_verify: self.tls_verify,
            ca_certs: self.ca_certs()?,
            ..ClientConfig::default()
        };
        let creds = EveryRegistry {
            explicit: self.explicit_credential()?,
            stored: DefaultCredentials::new(self.credential_env()),
        };
        Ok(Arc::new(Client::new(cfg, Arc::new(creds), progress)?))
    }
}

impl AccessOpts {
    /// Hands these flags to the lazy registry source (build bases, inspection refs) and the
    /// build's push; `progress` shows their blob transfers.
    pub fn use_for_registry_refs(&self, progress: ProgressMode) -> Result<()> {
        crate::store::registry_source::configure(
            self.client(Arc::new(CliProgress::new(progress)))?,
        )?;
        Ok(())
    }
}

/// `--creds` for whichever registry asks, else the stored credentials.
struct EveryRegistry {
    explicit: Option<Credential>,
    stored: DefaultCredentials,
}

impl CredentialSource for EveryRegistry {
    fn credential(
        &self,
        registry: &str,
        repository: &str,
    ) -> registry_client::Result<Option<Credential>> {
        match &self.explicit {
            Some(c) => Ok(Some(c.clone())),
            None => self.stored.credential(registry, repository),
        }
    }
}

/// Flags every registry verb takes.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryOpts {
    #[command(flatten)]
    pub access: AccessOpts,
    /// Blobs transferred at once.
    #[arg(long, short = 'j', default_value_t = 6, value_name = "N")]
    pub jobs: usize,
    /// Attempts per request before giving up.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub retries: u32,
    /// Seconds without data before a transfer counts as stalled and is resumed.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub stall_timeout: u64,
    /// Connections for one large blob (parallel ranges; default 4, and not for loopback
    /// registries unless given); 1 disables ranged downloads.
    #[arg(long, value_name = "N")]
    pub range_connections: Option<usize>,
    /// Blob size (MiB) from which ranged downloads are used.
    #[arg(long, default_value_t = 128, value_name = "MIB")]
    pub range_threshold_mib: u64,
    /// Allow foreign-layer URLs on private or loopback addresses.
    #[arg(long, env = "SILO_ALLOW_PRIVATE_URLS", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub allow_nondistributable_from_private: bool,
    /// Upload blobs in chunks of this many KiB (for proxies that limit request bodies); by
    /// default one streaming upload per blob, chunks only when the registry refuses it.
    #[arg(long, value_name = "KIB")]
    pub chunk_size_kib: Option<u64>,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

impl RegistryOpts {
    /// A client for `registries` (the ones `--creds` applies to).
    pub fn client(&self, registries: &[&str], progress: Arc<CliProgress>) -> Result<Arc<Client>> {
        let cfg = ClientConfig {
            tls_verify: self.access.tls_verify,
            ca_certs: self.access.ca_certs()?,
            max_attempts: self.retries.max(1),
            stall_timeout: Duration::from_secs(self.stall_timeout.max(1)),
            concurrency: self.jobs.max(1),
            range_connections: self.range_connections.unwrap_or(4).max(1),
            ranges_on_loopback: self.range_connections.is_some(),
            range_threshold: self.range_threshold_mib.max(1) << 20,
            allow_private_urls: self.allow_nondistributable_from_private,
            chunk_size: self.chunk_size_kib.map(|k| k.max(1) << 10),
            ..ClientConfig::default()
        };
        let creds = self.access.credentials(registries)?;
        Ok(Arc::new(Client::new(cfg, Arc::new(creds), progress)?))
    }

    pub fn progress(&self) -> Arc<CliProgress> {
        Arc::new(CliProgress::new(self.progress))
    }
}

/// Platform flags of pull/inspect/copy.
#[derive(Debug, Clone, clap::Args)]
pub struct PlatformOpts {
    /// Platform to select from an index: os/arch[/variant][:os.version].
    #[arg(long, default_value = "windows/amd64", value_name = "PLATFORM")]
    pub platform: String,
    /// Require this os.version prefix (e.g. 10.0.20348 or 10.0.20348.2700).
    #[arg(long, value_name = "VERSION")]
    pub os_version: Option<String>,
    /// Select what runs on this Windows host build (default: this host, on Windows).
    #[arg(long, value_name = "VERSION")]
    pub host_os_version: Option<String>,
    /// Isolation the image will run with (decides build compatibility with the host).
    #[arg(long, value_enum, default_value_t = IsolationArg::Process)]
    pub isolation: IsolationArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IsolationArg {
    Process,
    Hyperv,
}

impl PlatformOpts {
    pub fn request(&self) -> Result<PlatformRequest> {
        let mut req = PlatformRequest::parse(&self.platform)?;
        if let Some(v) = &self.os_version {
            req.os_version = Some(OsVersion::parse(v).with_context(|| {
                format!("--os-version {v:?}: expected major.minor.build[.revision]")
            })?);
        }
        req.host = match &self.host_os_version {
            Some(v) => Some(OsVersion::parse(v).with_context(|| {
                format!("--host-os-version {v:?}: expected major.minor.build[.revision]")
            })?),
            None if req.os == "windows" && req.os_version.is_none() => {
                registry_client::platform::host_os_version()
            }
            None => None,
        };
        req.isolation = match self.isolation {
            IsolationArg::Process => Isolation::Process,
            IsolationArg::Hyperv => Isolation::HyperV,
        };
        Ok(req)
    }
}

/// Where an image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Registry(Reference),
    Oci {
        dir: PathBuf,
        tag: Option<String>,
    },
    DockerArchive {
        file: PathBuf,
        reference: Option<String>,
    },
}

impl Transport {
    pub fn parse(s: &str) -> Result<Transport> {
        if let Some(rest) = s.strip_prefix("oci:") {
            // `oci:DIR@sha256:…` selects by manifest digest (kept as the tag `@sha256:…`).
            let (dir, tag) = match rest.rsplit_once("@sha256:") {
                Some((d, hex)) => (d, Some(format!("@sha256:{hex}"))),
                None => {
                    let (d, t) = split_path_suffix(rest);
                    (d, t.filter(|t| !t.is_empty()).map(String::from))
                }
            };
            if dir.is_empty() {
                bail!("{s:?}: oci: needs a directory (oci:DIR[:tag])");
            }
            return Ok(Transport::Oci {
                dir: dir.into(),
                tag,
            });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (file, r) = split_path_suffix(rest);
            let r = r.filter(|t| !t.is_empty()).map(String::from);
            if file.is_empty() {
                bail!("{s:?}: docker-archive: needs a file (docker-archive:FILE[:ref])");
            }
            return Ok(Transport::DockerArchive {
                file: file.into(),
                reference: r,
            });
        }
        let r = s.strip_prefix("docker://").unwrap_or(s);
        if let Some((scheme, _)) = r.split_once("://") {
            bail!("{s:?}: unknown transport {scheme}:// (use docker://, oci: or docker-archive:)");
        }
        Ok(Transport::Registry(Reference::parse(r)?))
    }
}

/// silo's content store (`--root`, `SILO_ROOT`, else `$XDG_DATA_HOME/silo`) as the default
/// destination of `silo pull` and source of `silo push NAME`: blobs go to `blobs/sha256/` (partials
/// staged in `tmp/pull/`), images are named by store refs (the full reference).
pub struct StoreImages {
    pub store: crate::store::Store,
    pub blobs: BlobDir,
}

impl StoreImages {
    /// Open the store with a shared lock (prune waits for us).
    pub fn open(root: Option<&Path>) -> Result<StoreImages> {
        let store = crate::store::Store::open_default(root, crate::store::LockMode::Shared)?;
        let blobs =
            BlobDir::with_staging(store.root().join("blobs"), store.root().join("tmp/pull"));
        Ok(StoreImages { store, blobs })
    }

    /// Name a manifest already in the store.
    pub fn name(&self, name: &str, m: &RawManifest) -> Result<()> {
        let descriptor = oci_spec::image::DescriptorBuilder::default()
            .media_type(oci_spec::image::MediaType::from(m.media_type.as_str()))
            .digest(m.digest.parse::<oci_spec::image::Digest>()?)
            .size(m.bytes.len() as u64)
            .build()?;
        self.store.set_ref(name, &descriptor)?;
        Ok(())
    }

    /// The image stored under `name`.
    pub fn image(&self, name: &str) -> Result<ImageToPush> {
        let d = self
            .store
            .get_ref(name)
            .with_context(|| format!("no image {name:?} in the store (silo pull it first)"))?;
        let media_type = d.media_type().to_string();
        image_from_blobs(&self.blobs, d.digest().as_ref(), Some(&media_type))
    }
}

/// Read a manifest from a blob directory, verified against its digest.
fn read_manifest(blobs: &BlobDir, digest: &str, media_type: Option<&str>) -> Result<RawManifest> {
    let bytes = blobs
        .read_small(digest, manifest::MAX_MANIFEST_BYTES as u64)
        .with_context(|| format!("reading manifest {digest} from {}", blobs.root().display()))?;
    let raw = RawManifest::from_bytes(digest, bytes, media_type)?;
    raw.verify(digest)?;
    Ok(raw)
}

/// The image rooted at `digest` from a blob directory: for an index, every manifest below it,
/// nested indexes included (down to `manifest::MAX_INDEX_DEPTH` levels).
fn image_from_blobs(
    blobs: &BlobDir,
    digest: &str,
    media_type: Option<&str>,
) -> Result<ImageToPush> {
    let root = read_manifest(blobs, digest, media_type)?;
    let mut children = HashMap::new();
    let mut level = vec![root.clone()];
    let mut depth = 0;
    while !level.is_empty() {
        let mut next = Vec::new();
        for index in level.iter().filter(|m| m.is_index()) {
            for d in index.index()?.manifests() {
                let d = d.digest().to_string();
                if children.contains_key(&d) {
                    continue;
                }
                let m = read_manifest(blobs, &d, None)?;
                if m.is_index() && depth + 1 > manifest::MAX_INDEX_DEPTH {
                    return Err(manifest::too_deep(&blobs.root().display().to_string(), &d).into());
                }
                next.push(m.clone());
                children.insert(d, m);
            }
        }
        level = next;
        depth += 1;
    }
    Ok(ImageToPush { root, children })
}

/// Choose one image manifest of a local image for `want`: the root itself when it is one, else
/// the entry `registry_client::platform` selects, nested indexes flattened as pulls do
/// (`platform::leaf_entries`). Returns the manifest and its entry's `platform` object as the
/// index has it.
pub fn select_local(
    image: &ImageToPush,
    want: &PlatformRequest,
    source: &str,
) -> Result<(RawManifest, Option<Value>)> {
    if !image.root.is_index() {
        return Ok((image.root.clone(), None));
    }
    let nested = |d: &str| image.children.get(d).filter(|m| m.is_index());
    let leaves = registry_client::platform::leaf_entries(&image.root, source, &nested)?;
    let flat: Vec<_> = leaves
        .iter()
        .map(|l| (l.digest.clone(), l.platform.clone()))
        .collect();
    let selection = registry_client::platform::select_entries(&flat, want);
    let Some(i) = selection.chosen else {
        bail!(
            "no manifest in {source} fits {want}:\n{}",
            selection.explain()
        );
    };
    let leaf = &leaves[i];
    let manifest = image
        .children
        .get(&leaf.digest)
        .with_context(|| format!("{source}: manifest {} is missing", leaf.digest))?;
    Ok((manifest.clone(), leaf.platform_json.clone()))
}

/// An OCI image layout directory.
pub struct OciLayout {
    pub dir: PathBuf,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

impl OciLayout {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        OciLayout { dir: dir.into() }
    }

    pub fn blobs(&self) -> BlobDir {
        BlobDir::new(self.dir.join("blobs"))
    }

    fn index(&self) -> Result<Value> {
        let p = self.dir.join("index.json");
        if !p.exists() {
            return Ok(
                json!({"schemaVersion": 2, "mediaType": manifest::OCI_INDEX, "manifests": []}),
            );
        }
        let text = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("{} is not valid JSON", p.display()))
    }

    /// Create the layout files if missing.
    pub fn init(&self) -> Result<()> {
        std::fs::create_dir_all(self.dir.join("blobs"))
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let marker = self.dir.join("oci-layout");
        if !marker.exists() {
            std::fs::write(&marker, "{\"imageLayoutVersion\":\"1.0.0\"}\n")
                .with_context(|| format!("writing {}", marker.display()))?;
        }
        Ok(())
    }

    /// Record `m` (already in blobs/) under `tag`, replacing an entry with the same name.
    pub fn tag(&self, tag: &str, m: &RawManifest, platform: Option<Value>) -> Result<()> {
        let mut index = self.index()?;
        let entries = index["manifests"]
            .as_array_mut()
            .context("index.json has no manifests array")?;
        entries.retain(|e| e["annotations"][REF_NAME].as_str() != Some(tag));
        let mut entry = json!({
            "mediaType": m.media_type,
            "digest": m.digest,
            "size": m.bytes.len(),
            "annotations": { REF_NAME: tag },
        });
        if let Some(p) = platform {
            entry["platform"] = p;
        }
        entries.push(entry);
        let p = self.dir.join("index.json");
        let tmp = self.dir.join(".index.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&index)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &p).with_context(|| format!("writing {}", p.display()))?;
        Ok(())
    }

    /// The image named `tag` (or the only one), with all child manifests of an index.
    pub fn image(&self, tag: Option<&str>) -> Result<ImageToPush> {
        let index = self.index()?;
        let entries = index["manifests"].as_array().cloned().unwrap_or_default();
        let entry = match tag {
            Some(t) if t.starts_with("@sha256:") => entries
                .iter()
                .find(|e| e["digest"].as_str() == Some(&t[1..]))
                .with_context(|| {
                    format!(
                        "{} has no image with digest {}",
                        self.dir.display(),
                        &t[1..]
                    )
                })?,
            Some(t) => entries
                .iter()
                .find(|e| e["annotations"][REF_NAME].as_str() == Some(t))
                .with_context(|| format!("{} has no image tagged {t:?}", self.dir.display()))?,
            None if entries.len() == 1 => &entries[0],
            None => bail!(
                "{} holds {} images; name one as oci:DIR:TAG",
                self.dir.display(),
                entries.len()
            ),
        };
        let digest = entry["digest"]
            .as_str()
            .context("index entry without digest")?;
        image_from_blobs(&self.blobs(), digest, entry["mediaType"].as_str())
    }
}

/// Write a `docker load`-able archive (the `docker save` layout: `manifest.json`, the config as
/// `<hex>.json`, each layer blob as `<hex>/layer.tar`) for an image whose blobs are in `blobs`.
/// Layers are copied as stored (compressed): `docker load` and skopeo decompress them and check
/// the config's diff_ids. Blobs are streamed, never held in memory.
pub fn write_docker_archive(
    file: &Path,
    blobs: &BlobDir,
    image: &RawManifest,
    repo_tag: Option<&str>,
) -> Result<()> {
    let m = image.image()?;
    let (config, layers) = registry_client::manifest::blobs_of(&m);
    let hex = |d: &str| {
        d.split_once(':')
            .map(|(_, h)| h.to_string())
            .unwrap_or_default()
    };
    let config_name = format!("{}.json", hex(&config.digest));
    let layer_names: Vec<String> = layers
        .iter()
        .map(|l| format!("{}/layer.tar", hex(&l.digest)))
        .collect();
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": repo_tag.map(|t| vec![t.to_string()]).unwrap_or_default(),
        "Layers": layer_names,
    }]);
    let tmp = file.with_extension("partial");
    let out = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(out));
    let mut add = |name: &str, path: &Path| -> Result<()> {
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut h = tar::Header::new_gnu();
        h.set_size(f.metadata()?.len());
        h.set_mode(0o644);
        h.set_mtime(0);
        tar.append_data(&mut h, name, f)
            .with_context(|| format!("writing {name} to {}", tmp.display()))?;
        Ok(())
    };
    add(&config_name, &blobs.path(&config.digest)?)?;
    for (l, name) in layers.iter().zip(&layer_names) {
        add(name, &blobs.path(&l.digest)?)?;
    }
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let mut h = tar::Header::new_gnu();
    h.set_size(manifest_bytes.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    tar.append_data(&mut h, "manifest.json", manifest_bytes.as_slice())?;
    let mut w = tar.into_inner()?;
    std::io::Write::flush(&mut w)?;
    std::fs::rename(&tmp, file).with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

/// A `docker save` archive as a push source: blobs are served straight out of the tar (by entry
/// offset), and a Docker v2s2 manifest is made for the image — layers keep their bytes, so a
/// gzip'd layer file becomes a `…tar.gzip` layer and a plain one a `…tar` layer with its diff_id
/// as digest.
pub struct ArchiveSource {
    file: PathBuf,
    /// digest → (offset of the entry's data, size).
    entries: HashMap<String, (u64, u64)>,
}

impl ArchiveSource {
    /// Read the archive's `manifest.json`, hash the config and layers, and build the image.
    /// `name` picks an image by `RepoTags` when the archive holds several.
    pub fn open(file: &Path, name: Option<&str>) -> Result<(ImageToPush, ArchiveSource)> {
        use sha2::Digest as _;
        use std::io::Read;
        let ctx = || format!("reading docker-archive {}", file.display());
        let mut positions: HashMap<String, (u64, u64)> = HashMap::new();
        let mut manifest_json = None;
        {
            let f = std::fs::File::open(file).with_context(ctx)?;
            let mut ar = tar::Archive::new(f);
            for entry in ar.entries().with_context(ctx)? {
                let mut entry = entry.with_context(ctx)?;
                let path = entry
                    .path()
                    .with_context(ctx)?
                    .to_string_lossy()
                    .trim_start_matches("./")
                    .to_string();
                let (pos, size) = (entry.raw_file_position(), entry.size());
                if path == "manifest.json" {
                    if size > 16 << 20 {
                        bail!(
                            "{}: manifest.json is {size} bytes; refusing",
                            file.display()
                        );
                    }
                    let mut text = Vec::new();
                    entry.read_to_end(&mut text).with_context(ctx)?;
                    manifest_json = Some(text);
                }
                positions.insert(path, (pos, size));
            }
        }
        let manifest_json = manifest_json.with_context(|| {
            format!(
                "{}: no manifest.json (not a docker save archive)",
                file.display()
            )
        })?;
        let images: Vec<Value> = serde_json::from_slice(&manifest_json)
            .with_context(|| format!("{}: manifest.json is not a JSON array", file.display()))?;
        let image = match name {
            Some(n) => images
                .iter()
                .find(|i| {
                    i["RepoTags"].as_array().is_some_and(|t| {
                        t.iter()
                            .any(|t| t.as_str().is_some_and(|t| same_name(t, n)))
                    })
                })
                .with_context(|| format!("{}: no image named {n:?}", file.display()))?,
            None if images.len() == 1 => &images[0],
            None => bail!(
                "{}: {} images; name one as docker-archive:FILE:NAME",
                file.display(),
                images.len()
            ),
        };
        let mut source = ArchiveSource {
            file: file.to_path_buf(),
            entries: HashMap::new(),
        };
        // Hash one entry by streaming it; remember where it is under its digest.
        let mut add = |member: &str| -> Result<(String, u64, bool)> {
            let &(pos, size) = positions
                .get(member)
                .with_context(|| format!("{}: {member} is missing", file.display()))?;
            let mut f = std::fs::File::open(file).with_context(ctx)?;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(pos))?;
            let mut r = f.take(size);
            let mut h = sha2::Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut first = [0u8; 2];
            let mut n_total = 0u64;
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                if n_total == 0 && n >= 2 {
                    first.copy_from_slice(&buf[..2]);
                }
                n_total += n as u64;
                h.update(&buf[..n]);
            }
            let digest = format!("sha256:{}", hex::encode(h.finalize()));
            source.entries.insert(digest.clone(), (pos, size));
            Ok((digest, size, first == [0x1f, 0x8b]))
        };
        let config_name = image["Config"]
            .as_str()
            .context("manifest.json entry without Config")?;
        let (config_digest, config_size, _) = add(config_name)?;
        let mut layers = Vec::new();
        for l in image["Layers"]
            .as_array()
            .context("manifest.json entry without Layers")?
        {
            let (digest, size, gzip) =
                add(l.as_str().context("a Layers entry is not a string")?)?;
            let media_type = if gzip {
                manifest::DOCKER_LAYER_GZIP
            } else {
                "application/vnd.docker.image.rootfs.diff.tar"
            };
            layers.push(json!({"mediaType": media_type, "size": size, "digest": digest}));
        }
        let m = json!({
            "schemaVersion": 2,
            "mediaType": manifest::DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config_size, "digest": config_digest},
            "layers": layers,
        });
        let root = RawManifest::from_bytes(
            &file.display().to_string(),
            serde_json::to_vec_pretty(&m)?,
            None,
        )?;
        Ok((
            ImageToPush {
                root,
                children: HashMap::new(),
            },
            source,
        ))
    }
}

/// Whether two image names are the same (`peer/img:v1` is `docker.io/peer/img:v1`).
fn same_name(a: &str, b: &str) -> bool {
    a == b || matches!((Reference::parse(a), Reference::parse(b)), (Ok(x), Ok(y)) if x == y)
}

impl registry_client::BlobSource for ArchiveSource {
    fn open(
        &self,
        blob: &registry_client::BlobRef,
        offset: u64,
    ) -> futures::future::BoxFuture<
        '_,
        registry_client::Result<registry_client::transfer::BlobStream>,
    > {
        let found = self.entries.get(&blob.digest).copied();
        let digest = blob.digest.clone();
        Box::pin(async move {
            use tokio::io::AsyncSeekExt;
            let (pos, size) = found.ok_or_else(|| {
                registry_client::Error::Other(format!("blob {digest} is not in the archive"))
            })?;
            let io = |e| {
                registry_client::Error::io(
                    format!("reading {digest} from {}", self.file.display()),
                    e,
                )
            };
            let mut f = tokio::fs::File::open(&self.file).await.map_err(io)?;
            f.seek(std::io::SeekFrom::Start(pos + offset))
                .await
                .map_err(io)?;
            // Stop at the member's end (the tar continues with other members).
            Ok(registry_client::blobdir::file_stream_limited(
                f,
                size.saturating_sub(offset),
            ))
        })
    }
}

/// indicatif bars (or plain lines) driven by the engines.
pub struct CliProgress {
    mode: ProgressMode,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, (ProgressBar, Instant, u64)>>,
}

impl CliProgress {
    pub fn new(mode: ProgressMode) -> Self {
        let tty = std::io::stderr().is_terminal();
        let mode = match mode {
            ProgressMode::Auto if tty => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::None,
            m => m,
        };
        let multi = MultiProgress::with_draw_target(if mode == ProgressMode::Tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        CliProgress {
            mode,
            multi,
            bars: Mutex::default(),
        }
    }

    /// Print a line to stderr without tearing the bars.
    pub fn println(&self, line: &str) {
        match self.mode {
            ProgressMode::Tty => {
                let _ = self.multi.println(line);
            }
            _ => eprintln!("{line}"),
        }
    }
}

impl Progress for CliProgress {
    fn blob_started(&self, digest: &str, size: u64, already: u64) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        if bars.contains_key(digest) {
            return;
        }
        let bar = self.multi.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(short_digest(digest).to_string());
        bar.set_position(already);
        if self.mode == ProgressMode::Plain {
            let resumed = if already > 0 {
                format!(" (resuming at {})", human_size(already))
            } else {
                String::new()
            };
            eprintln!(
                "{} start {}{resumed}",
                short_digest(digest),
                human_size(size)
            );
        }
        bars.insert(digest.to_string(), (bar, Instant::now(), already));
    }

    fn blob_bytes(&self, digest: &str, bytes: u64) {
        if let Some((bar, _, _)) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            bar.inc(bytes);
        }
    }

    fn blob_rewind(&self, digest: &str, to: u64) {
        if let Some((bar, _, _)) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
        {
            bar.set_position(to);
        }
    }

    fn blob_finished(&self, digest: &str, outcome: BlobOutcome) {
        let entry = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(digest);
        let what = match outcome {
            BlobOutcome::Downloaded => "downloaded",
            BlobOutcome::Present => "already present",
            BlobOutcome::Mounted => "mounted",
            BlobOutcome::Uploaded => "uploaded",
            BlobOutcome::SkippedForeign => "skipped (foreign)",
        };
        let line = match &entry {
            Some((bar, t0, already)) => {
                let secs = t0.elapsed().as_secs_f64().max(1e-3);
                let moved = bar.position().saturating_sub(*already);
                bar.finish_and_clear();
                self.multi.remove(bar);
                format!(
                    "{} {what} {} in {secs:.1}s ({}/s)",
                    short_digest(digest),
                    human_size(bar.length().unwrap_or(0)),
                    human_size((moved as f64 / secs) as u64)
                )
            }
            None => format!("{} {what}", short_digest(digest)),
        };
        match self.mode {
            ProgressMode::Plain => eprintln!("{line}"),
            ProgressMode::Tty => {
                let _ = self.multi.println(line);
            }
            _ => {}
        }
    }

    fn note(&self, message: &str) {
        match self.mode {
            ProgressMode::None => tracing::info!("{message}"),
            _ => self.println(&format!("note: {message}")),
        }
    }
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The platform object of the chosen manifest's index entry (copied verbatim from the index),
/// so `index.json` of a layout keeps `os.version`/`os.features`.
pub fn chosen_platform(resolved: &registry_client::Resolved) -> Option<Value> {
    resolved.chosen_platform.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_flags_hides_creds() {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct T {
            #[command(flatten)]
            o: RegistryOpts,
        }
        let t = T::parse_from(["t", "--creds", "user:hunter2"]);
        assert!(!format!("{t:?}").contains("hunter2"));
        assert_eq!(
            t.o.access.explicit_credential().unwrap(),
            Some(Credential::Basic {
                username: "user".into(),
                password: "hunter2".into()
            })
        );
    }

    #[test]
    fn transports() {
        assert_eq!(
            Transport::parse("oci:/tmp/x:v1").unwrap(),
            Transport::Oci {
                dir: "/tmp/x".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            Transport::parse("oci:dir").unwrap(),
            Transport::Oci {
                dir: "dir".into(),
                tag: None
            }
        );
        assert_eq!(
            Transport::parse("docker-archive:a.tar:test/img:v1").unwrap(),
            Transport::DockerArchive {
                file: "a.tar".into(),
                reference: Some("test/img:v1".into())
            }
        );
        let Transport::Registry(r) = Transport::parse("docker://127.0.0.1:5000/a/b:1").unwrap()
        else {
            panic!()
        };
        assert_eq!(r.to_string(), "127.0.0.1:5000/a/b:1");
        let Transport::Registry(r) = Transport::parse("busybox").unwrap() else {
            panic!()
        };
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert!(Transport::parse("oci:").is_err());
        assert!(Transport::parse("ftp://x/y").is_err());
    }
}
