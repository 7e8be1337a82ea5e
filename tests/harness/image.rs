//! Building test images without silo: random layers (gzip'd tars), configs and manifests as raw
//! bytes with their digests, an OCI image layout writer (what skopeo pushes from), and a pusher
//! that uploads blobs and manifests with plain distribution API calls (POST + PUT, Basic auth when
//! the registry has users). Fixtures made this way are independent of the code under test.

use std::path::Path;

use base64::Engine as _;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use crate::http;
use crate::registry::Registry;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A blob with its descriptor facts.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
    /// Foreign-layer download locations (empty for distributable blobs).
    pub urls: Vec<String>,
}

impl Blob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_string(),
            digest: sha256_digest(&bytes),
            bytes,
            urls: Vec::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The JSON descriptor (`mediaType`, `size`, `digest`, and `urls` if any).
    pub fn descriptor(&self) -> serde_json::Value {
        let mut d = serde_json::json!({
            "mediaType": self.media_type,
            "size": self.size(),
            "digest": self.digest,
        });
        if !self.urls.is_empty() {
            d["urls"] = serde_json::json!(self.urls);
        }
        d
    }
}

/// A layer: the gzip'd tar (the blob) and the digest of the uncompressed tar (the diff_id).
#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Blob,
    pub diff_id: String,
}

/// A gzip'd tar layer holding `files` (path, size) of random bytes from `seed` (deterministic).
pub fn random_layer(media_type: &str, seed: u64, files: &[(&str, usize)]) -> Layer {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut builder = tar::Builder::new(Vec::new());
    for (path, size) in files {
        let mut data = vec![0u8; *size];
        rng.fill(&mut data[..]);
        let mut header = tar::Header::new_gnu();
        header.set_size(*size as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path, &data[..])
            .expect("append to an in-memory tar");
    }
    let tar = builder.into_inner().expect("finish in-memory tar");
    let diff_id = sha256_digest(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let blob = Blob::new(media_type, gz.finish().unwrap());
    Layer { blob, diff_id }
}

/// A single-platform image: manifest, config and layers as raw bytes.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Blob,
    pub config: Blob,
    pub layers: Vec<Layer>,
}

impl Image {
    /// Assembles an image from `config` JSON (its `rootfs.diff_ids` are filled in here) and
    /// `layers`, as a Docker v2s2 manifest (`docker = true`) or an OCI manifest.
    pub fn assemble(mut config: serde_json::Value, layers: Vec<Layer>, docker: bool) -> Image {
        config["rootfs"] = serde_json::json!({
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
        });
        let (manifest_type, config_type) = if docker {
            (DOCKER_MANIFEST, DOCKER_CONFIG)
        } else {
            (OCI_MANIFEST, OCI_CONFIG)
        };
        let config = Blob::new(config_type, serde_json::to_vec(&config).unwrap());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": config.descriptor(),
            "layers": layers.iter().map(|l| l.blob.descriptor()).collect::<Vec<_>>(),
        });
        let manifest = Blob::new(manifest_type, serde_json::to_vec_pretty(&manifest).unwrap());
        Image {
            manifest,
            config,
            layers,
        }
    }

    /// A small linux/amd64 OCI image of random gzip layers of the given sizes (seeded).
    pub fn random_linux(seed: u64, layer_sizes: &[usize]) -> Image {
        let layers = layer_sizes
            .iter()
            .enumerate()
            .map(|(i, size)| {
                random_layer(
                    OCI_LAYER,
                    seed * 1000 + i as u64,
                    &[(&format!("data/{i}.bin"), *size)],
                )
            })
            .collect();
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
        });
        Image::assemble(config, layers, false)
    }

    /// A linux/amd64 OCI image with one uncompressed layer of `size` random bytes (seeded). The
    /// bytes are not a real tar — nothing extracts them — which makes big blobs cheap to build.
    pub fn random_raw(seed: u64, size: usize) -> Image {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut bytes = vec![0u8; size];
        rng.fill(&mut bytes[..]);
        let blob = Blob::new(OCI_LAYER_TAR, bytes);
        let layer = Layer {
            diff_id: blob.digest.clone(), // uncompressed: diff_id == digest
            blob,
        };
        let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {}});
        Image::assemble(config, vec![layer], false)
    }

    /// Blobs the registry must hold for this image (config and every layer without `urls`).
    pub fn distributable_blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(
            self.layers
                .iter()
                .map(|l| &l.blob)
                .filter(|b| b.urls.is_empty()),
        )
    }

    /// Writes this image as an OCI image layout at `dir`, tagged `tag` (what `skopeo copy
    /// oci:DIR:TAG` reads). Layers with `urls` are written too.
    pub fn write_oci_layout(&self, dir: &Path, tag: &str) {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        for blob in [&self.manifest, &self.config]
            .into_iter()
            .chain(self.layers.iter().map(|l| &l.blob))
        {
            let hex = blob.digest.strip_prefix("sha256:").unwrap();
            std::fs::write(blobs.join(hex), &blob.bytes).unwrap();
        }
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let mut entry = self.manifest.descriptor();
        entry["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [entry]});
        std::fs::write(
            dir.join("index.json"),
            serde_json::to_vec_pretty(&index).unwrap(),
        )
        .unwrap();
    }
}

/// Pushes with plain distribution API calls to a plain-HTTP registry, anonymous or Basic.
/// (Token and TLS registries get fixtures by `skopeo copy` from a no-auth one; see
/// [`crate::skopeo`].)
#[derive(Debug, Clone)]
pub struct Pusher {
    addr: std::net::SocketAddr,
    authorization: Option<String>,
}

impl Pusher {
    /// A pusher for `registry`; panics for TLS or token registries, which it cannot speak to.
    pub fn new(registry: &Registry) -> Pusher {
        let options = registry.options();
        assert!(
            !options.tls && !matches!(options.auth, crate::registry::Auth::Token(_)),
            "Pusher speaks plain HTTP with Basic auth only; copy fixtures to TLS/token registries with skopeo"
        );
        Pusher {
            addr: registry.addr(),
            authorization: registry.creds().map(|(u, p)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                )
            }),
        }
    }

    fn headers<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut h = extra.to_vec();
        if let Some(a) = &self.authorization {
            h.push(("Authorization", a.as_str()));
        }
        h
    }

    /// Uploads `blob` to `repo` (monolithic: POST, then PUT with the body and digest).
    pub fn push_blob(&self, repo: &str, blob: &Blob) {
        let start = http::call(
            self.addr,
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &self.headers(&[]),
            &[],
        )
        .expect("POST blob upload");
        assert_eq!(
            start.status(),
            202,
            "POST upload to {repo}: {}",
            start.text()
        );
        let location = start
            .header("location")
            .expect("upload Location")
            .to_string();
        // distribution answers with an absolute URL; keep its path and query.
        let path = match location.split_once("://") {
            Some((_, rest)) => rest[rest.find('/').unwrap_or(rest.len())..].to_string(),
            None => location,
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let target = format!("{path}{sep}digest={}", http::percent_encode(&blob.digest));
        let done = http::call(
            self.addr,
            "PUT",
            &target,
            &self.headers(&[("Content-Type", "application/octet-stream")]),
            &blob.bytes,
        )
        .expect("PUT blob");
        assert_eq!(
            done.status(),
            201,
            "PUT blob {}: {}",
            blob.digest,
            done.text()
        );
    }

    /// Uploads a manifest (or index) `blob` under `reference` (tag or digest).
    pub fn push_manifest(&self, repo: &str, reference: &str, blob: &Blob) {
        let done = self.try_push_manifest(repo, reference, blob);
        assert_eq!(
            done.status(),
            201,
            "PUT manifest {repo}:{reference}: {}",
            done.text()
        );
        assert_eq!(
            done.header("docker-content-digest"),
            Some(blob.digest.as_str())
        );
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with `blob`, returning the response whatever it is.
    pub fn try_push_manifest(&self, repo: &str, reference: &str, blob: &Blob) -> http::Response {
        http::call(
            self.addr,
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &self.headers(&[("Content-Type", blob.media_type.as_str())]),
            &blob.bytes,
        )
        .expect("PUT manifest")
    }

    /// Uploads every distributable blob of `image` and its manifest (by digest, and by `tag` if
    /// given).
    pub fn push_image(&self, repo: &str, image: &Image, tag: Option<&str>) {
        for blob in image.distributable_blobs() {
            self.push_blob(repo, blob);
        }
        self.push_manifest(repo, &image.manifest.digest, &image.manifest);
        if let Some(tag) = tag {
            self.push_manifest(repo, tag, &image.manifest);
        }
    }
}
