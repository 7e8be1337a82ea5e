//! The Windows image fixture: a Docker manifest list like Microsoft's multi-build images, made by
//! the harness (not by silo) so it is an independent reference.
//!
//! | entry | os.version        | os.features | layers                                     |
//! |-------|-------------------|-------------|--------------------------------------------|
//! | 0     | 10.0.17763.5820   | –           | base, app                                  |
//! | 1     | 10.0.20348.1850   | win32k      | base, app                                  |
//! | 2     | 10.0.20348.2461   | win32k      | **foreign** base (served by a FileServer), app |
//! | 3     | 10.0.26100.1742   | win32k      | base, app                                  |
//!
//! Entry 2 is what a 20348 host must get (same build, highest UBR). Its base layer has media type
//! `application/vnd.docker.image.rootfs.foreign.diff.tar.gzip` and `urls` pointing at the local
//! file server; the registry never receives that blob, so a client has to fetch it from the URL.
//! Layers are small gzip'd tars shaped like Windows layers (`Files/…`, `Hives/…`) of random bytes.

use crate::fileserver::FileServer;
use crate::image::{self, random_layer, Blob, Image, Pusher};
use crate::registry::Registry;

/// One platform entry of the list.
#[derive(Debug, Clone)]
pub struct WindowsEntry {
    pub os_version: String,
    pub os_features: Vec<String>,
    pub image: Image,
}

impl WindowsEntry {
    /// The build number (third component of `os.version`).
    pub fn build(&self) -> u32 {
        self.os_version.split('.').nth(2).unwrap().parse().unwrap()
    }
}

/// The whole fixture.
#[derive(Debug, Clone)]
pub struct WindowsFixture {
    pub list: Blob,
    pub entries: Vec<WindowsEntry>,
    /// The foreign layer (also inside `entries[2].image.layers[0]`).
    pub foreign: Blob,
    /// The file-server path the foreign layer is published at.
    pub foreign_path: String,
}

/// (os.version, has win32k, foreign base layer?)
const ENTRIES: [(&str, bool, bool); 4] = [
    ("10.0.17763.5820", false, false),
    ("10.0.20348.1850", true, false),
    ("10.0.20348.2461", true, true),
    ("10.0.26100.1742", true, false),
];

impl WindowsFixture {
    /// Index of the entry a 10.0.20348 host must select.
    pub const LTSC2022_LATEST: usize = 2;

    /// Builds the fixture and publishes its foreign layer on `files`.
    pub fn build(files: &FileServer) -> WindowsFixture {
        let mut foreign = None;
        let mut foreign_path = String::new();
        let entries: Vec<WindowsEntry> = ENTRIES
            .iter()
            .enumerate()
            .map(|(i, (os_version, win32k, has_foreign))| {
                let seed = 7000 + i as u64 * 10;
                let base_type = if *has_foreign {
                    image::DOCKER_FOREIGN_LAYER
                } else {
                    image::DOCKER_LAYER
                };
                let mut base = random_layer(
                    base_type,
                    seed,
                    &[
                        ("Files/Windows/System32/kernel32.dll", 48 * 1024),
                        ("Hives/Software_Delta", 8 * 1024),
                        ("Hives/System_Delta", 8 * 1024),
                    ],
                );
                if *has_foreign {
                    foreign_path = format!("/windows/{}.tar.gz", &base.blob.digest[7..19]);
                    base.blob.urls = vec![files.url(&foreign_path)];
                    files.publish(&foreign_path, base.blob.bytes.clone());
                    foreign = Some(base.blob.clone());
                }
                let app = random_layer(
                    image::DOCKER_LAYER,
                    seed + 1,
                    &[
                        ("Files/app/app.exe", 24 * 1024),
                        ("Hives/Software_Delta", 4 * 1024),
                    ],
                );
                let features: Vec<String> = if *win32k {
                    vec!["win32k".to_string()]
                } else {
                    vec![]
                };
                let mut config = serde_json::json!({
                    "architecture": "amd64",
                    "os": "windows",
                    "os.version": os_version,
                    "config": {"Cmd": ["cmd", "/S", "/C", "app.exe"]},
                });
                if !features.is_empty() {
                    config["os.features"] = serde_json::json!(features);
                }
                WindowsEntry {
                    os_version: os_version.to_string(),
                    os_features: features,
                    image: Image::assemble(config, vec![base, app], true),
                }
            })
            .collect();
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                let mut platform = serde_json::json!({
                    "architecture": "amd64",
                    "os": "windows",
                    "os.version": e.os_version,
                });
                if !e.os_features.is_empty() {
                    platform["os.features"] = serde_json::json!(e.os_features);
                }
                let mut d = e.image.manifest.descriptor();
                d["platform"] = platform;
                d
            })
            .collect();
        let list = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": image::DOCKER_MANIFEST_LIST,
            "manifests": manifests,
        });
        WindowsFixture {
            list: Blob::new(
                image::DOCKER_MANIFEST_LIST,
                serde_json::to_vec_pretty(&list).unwrap(),
            ),
            entries,
            foreign: foreign.expect("one entry has a foreign layer"),
            foreign_path,
        }
    }

    /// Pushes every entry (without the foreign blob) and the list, tagged `tag`, to `repo` on a
    /// plain-HTTP `registry` that accepts foreign `urls`.
    pub fn push(&self, registry: &Registry, repo: &str, tag: &str) {
        let pusher = Pusher::new(registry);
        for entry in &self.entries {
            pusher.push_image(repo, &entry.image, None);
        }
        pusher.push_manifest(repo, tag, &self.list);
    }

    /// The entry with `os.version` starting with `prefix` (e.g. `10.0.20348.2461`).
    pub fn entry(&self, prefix: &str) -> &WindowsEntry {
        self.entries
            .iter()
            .find(|e| e.os_version.starts_with(prefix))
            .unwrap_or_else(|| panic!("no fixture entry with os.version {prefix}"))
    }
}
