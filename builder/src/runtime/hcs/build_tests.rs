//! `silo build` on the HCS runtime through the real build engine, content store and layer
//! codec, with the recording fake for HCS: the stage's base `os.version` reaches the runtime
//! (process isolation, or Hyper-V for an older base), the RUN step's command line reaches
//! `HcsCreateProcess`, and the layer the build commits is what `ExportLayer` wrote — files
//! with their security descriptors, the deletion as a whiteout, the delta hive byte-exact.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use oci_spec::image::{Arch, Descriptor, MediaType};

use super::tests::{image, server_2022, Fake, FAKE_SD};
use super::*;
use crate::build::engine::run_mounts::{SecretSource, Secrets};
use crate::build::engine::{build, BuildError, BuildRequest};
use crate::build::progress::{Progress, ProgressMode};
use crate::build::sources::base::TargetPlatform;
use crate::image::{build_config, ConfigSpec, LayerInfo, WindowsPlatform};
use crate::layer::reader::{read_layer, LayerEntryKind};
use crate::oci::digest_of_bytes;
use crate::oci::{build_manifest, Flavor};
use crate::store::blobio::{BlobSink, ImageSink};
use crate::store::{LockMode, Store};

/// Puts the fixture image's two layer tars into `store` as `name`, with `os_version`.
fn store_fixture(store: &Store, dir: &Path, name: &str, os_version: &str) {
    let mut sink = Store::open(store.root(), LockMode::Shared).unwrap();
    let mut layers = Vec::new();
    for layer in image(dir).layers {
        let bytes = std::fs::read(&layer.blob_path).unwrap();
        let digest = digest_of_bytes(&bytes);
        sink.put_blob(&digest, bytes.len() as u64, &mut &bytes[..])
            .unwrap();
        layers.push(LayerInfo {
            descriptor: Descriptor::new(MediaType::ImageLayer, bytes.len() as u64, digest.clone()),
            diff_id: digest,
            created_by: "fixture".into(),
            comment: None,
        });
    }
    let config = build_config(
        &ConfigSpec {
            platform: WindowsPlatform {
                os_version: os_version.into(),
                os_features: Vec::new(),
                architecture: Arch::Amd64,
            },
            cmd: None,
            entrypoint: None,
            env: Vec::new(),
            user: None,
            working_dir: None,
            created: "2026-01-01T00:00:00Z".into(),
        },
        &layers,
        Flavor::Oci,
    )
    .unwrap();
    let digest = config.descriptor.digest().clone();
    sink.put_blob(&digest, config.descriptor.size(), &mut &config.bytes[..])
        .unwrap();
    let descriptors: Vec<Descriptor> = layers.into_iter().map(|l| l.descriptor).collect();
    let manifest = build_manifest(&config.descriptor, &descriptors, Flavor::Oci).unwrap();
    sink.put_manifest(&manifest.descriptor, &manifest.bytes, Some(name))
        .unwrap();
    sink.finish().unwrap();
}

/// Builds `FROM <base>` + `RUN echo hi` (the step exits with `exit_code`) and returns the
/// fake's calls and the RUN layer's entries (path → kind, data, security descriptor).
fn build_on(
    base_os_version: &str,
    exit_code: i32,
) -> Result<(Calls, BTreeMap<String, LayerFile>), (Calls, BuildError)> {
    build_step(base_os_version, exit_code, "RUN echo hi", Secrets::new()).map(|(c, f, _)| (c, f))
}

/// [`build_on`] with any RUN line and `--secret`s; also returns the documents HCS was given.
fn build_step(
    base_os_version: &str,
    exit_code: i32,
    run: &str,
    secrets: Secrets,
) -> Result<Built, (Calls, BuildError)> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store"), LockMode::Shared).unwrap();
    store_fixture(&store, dir.path(), "fixture:latest", base_os_version);
    let context = dir.path().join("context");
    std::fs::create_dir_all(&context).unwrap();
    let dockerfile = context.join("Dockerfile");
    std::fs::write(&dockerfile, format!("FROM fixture:latest\n{run}\n")).unwrap();

    let fake = Arc::new(Fake {
        exit_code: Some(exit_code),
        ..Fake::default()
    });
    let runtime = HcsRuntime::new(fake.clone(), store.root(), server_2022(), None).unwrap();
    let request = BuildRequest {
        context,
        dockerfile,
        build_args: BTreeMap::new(),
        target: None,
        platforms: vec![TargetPlatform {
            os_version: None,
            host: runtime.host_target(),
        }],
        no_cache: true,
        pull: false,
        contexts: Default::default(),
        labels: BTreeMap::new(),
        path_mode: Default::default(),
        network: NetworkMode::None,
        run_timeout: None,
        secrets,
        inline_cache: false,
    };
    let mut progress = Progress::new(ProgressMode::Quiet);
    let built = match build(&store, &runtime, &mut progress, &request) {
        Ok(built) => built,
        Err(e) => return Err((fake.calls(), e)),
    };
    let image = &built.images[0];
    assert_eq!(image.layers.len(), 3, "two base layers and the RUN step's");
    let top = &image.layers[2];
    let blob = top
        .home
        .ensure_in_store(&store, &top.descriptor)
        .expect("the RUN layer in the store");
    let mut files = BTreeMap::new();
    read_layer(std::fs::File::open(blob).unwrap(), |entry, data| {
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes).unwrap();
        files.insert(
            entry.path.clone(),
            LayerFile {
                kind: entry.kind.clone(),
                data: bytes,
                security_descriptor: entry.security_descriptor.clone(),
            },
        );
        Ok(())
    })
    .unwrap();
    let documents = fake.documents.lock().unwrap().clone();
    Ok((fake.calls(), files, documents))
}

/// The fake's calls, in order.
type Calls = Vec<String>;

/// The JSON documents the fake was given, in order.
type Documents = Vec<String>;

/// What a build that succeeded left: the calls, the RUN layer's files, the documents.
type Built = (Calls, BTreeMap<String, LayerFile>, Documents);

struct LayerFile {
    kind: LayerEntryKind,
    data: Vec<u8>,
    security_descriptor: Option<Vec<u8>>,
}

fn assert_the_export_is_the_layer(files: &BTreeMap<String, LayerFile>) {
    let out = &files["Files/app/out.txt"];
    assert_eq!(out.kind, LayerEntryKind::File);
    assert_eq!(out.data, b"built");
    assert_eq!(out.security_descriptor.as_deref(), Some(FAKE_SD));
    assert!(
        files.contains_key("Files/app/.wh.old"),
        "{:?}",
        files.keys()
    );
    assert_eq!(files["Hives/Software_Delta"].data, b"delta bytes");
}

#[test]
fn a_dockerfile_run_step_commits_the_layer_hcs_exported() {
    let (calls, files) = build_on("10.0.20348.2700", 0).unwrap();
    assert!(calls.contains(&"PrepareLayer".to_string()), "{calls:?}");
    assert!(
        !calls.contains(&"HcsGrantVmAccess".to_string()),
        "process isolation"
    );
    assert_the_export_is_the_layer(&files);
}

#[test]
fn an_older_base_builds_in_a_utility_vm_on_a_newer_server() {
    let (calls, files) = build_on("10.0.17763.6054", 0).unwrap();
    assert!(calls.contains(&"HcsGrantVmAccess".to_string()), "{calls:?}");
    assert!(
        !calls.contains(&"PrepareLayer".to_string()),
        "Hyper-V isolation"
    );
    assert_the_export_is_the_layer(&files);
}

#[test]
fn a_failing_run_step_fails_the_build_with_its_exit_code_and_leaves_nothing() {
    let (calls, error) = build_on("10.0.20348.2700", 3)
        .err()
        .expect("exit code 3 fails");
    assert_eq!(error.run_exit_code(), Some(3), "{error}");
    assert!(error.to_string().contains("RUN echo hi"), "{error}");
    assert!(
        !calls.contains(&"ExportLayer".to_string()),
        "nothing committed"
    );
    assert_eq!(calls.last().map(String::as_str), Some("DestroyLayer"));
}

/// docs/build.md: "a missing optional secret is no mount" — the step runs, and the compute
/// system maps nothing; the same step with `--secret` maps the secret's directory.
#[test]
fn a_missing_optional_secret_mounts_nothing() {
    let run = r"RUN --mount=type=secret,id=token type C:\run\secrets\token";
    let container = |documents: &[String]| -> serde_json::Value {
        let document = documents
            .iter()
            .find(|d| d.contains("\"Container\""))
            .expect("a compute-system document");
        serde_json::from_str(document).unwrap()
    };
    let (_, _, documents) = build_step("10.0.20348.2700", 0, run, Secrets::new()).unwrap();
    let mapped = &container(&documents)["Container"]["MappedDirectories"];
    assert!(
        mapped.is_null() || mapped.as_array().is_some_and(|a| a.is_empty()),
        "{mapped}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token.txt");
    std::fs::write(&file, "s3cret").unwrap();
    let given = Secrets::from([("token".to_string(), SecretSource::File(file))]);
    let (_, _, documents) = build_step("10.0.20348.2700", 0, run, given).unwrap();
    let mapped = &container(&documents)["Container"]["MappedDirectories"];
    assert_eq!(mapped[0]["ContainerPath"], r"C:\run\secrets", "{mapped}");
}
