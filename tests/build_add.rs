//! `silo build` ADD of URLs (against the harness's real HTTP file server) and `COPY --from` of
//! images that reads only the layers it needs (on OCI layouts whose lower layer blobs are
//! removed, so reading them would fail).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use silo_tests::fileserver::FileServer;
use silo_tests::silo;

/// A state directory with a base image in it.
struct Lab {
    dir: tempfile::TempDir,
}

const BASE: &str = "silo.local/base:ltsc2022";

impl Lab {
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        lab.silo_ok(&["base", "create", "-t", BASE, "--os-version", "10.0.20348.1"]);
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn silo(&self, args: &[&str]) -> Output {
        silo()
            .env("SILO_ROOT", self.path("state"))
            .env_remove("SOURCE_DATE_EPOCH")
            .args(args)
            .output()
            .unwrap()
    }

    fn silo_ok(&self, args: &[&str]) -> Output {
        silo_tests::succeeded(args, self.silo(args))
    }

    /// Writes a context with `dockerfile` (and `files`) and builds it as `tag`.
    fn build(&self, name: &str, dockerfile: &str, files: &[(&str, &[u8])], tag: &str) -> Output {
        let ctx = self.path(name);
        fs::create_dir_all(&ctx).unwrap();
        fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        for (path, bytes) in files {
            fs::write(ctx.join(path), bytes).unwrap();
        }
        let ctx = ctx.display().to_string();
        self.silo(&[
            "build",
            "--progress",
            "plain",
            "--runtime",
            "none",
            "-t",
            tag,
            &ctx,
        ])
    }

    /// `silo ls REF --format json`.
    fn ls(&self, reference: &str) -> Vec<Value> {
        let out = self.silo_ok(&["ls", reference, "--format", "json"]);
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

fn find<'a>(files: &'a [Value], path: &str) -> Option<&'a Value> {
    files
        .iter()
        .find(|f| f["path"].as_str().unwrap().eq_ignore_ascii_case(path))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[test]
fn add_url_lands_in_the_layer_named_after_the_url_and_is_cached_by_checksum_or_content() {
    let lab = Lab::new();
    let server = FileServer::start();
    let body = b"MZ fake installer bytes\n".repeat(100);
    let url = server.publish("/dl/tool.exe", body.clone());
    // A gzip archive from a URL is NOT unpacked (only local archives are).
    let gz = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, b"x").unwrap();
        enc.finish().unwrap()
    };
    let gz_url = server.publish("/dl/bundle.tar.gz", gz.clone());
    let dockerfile = format!(
        "FROM {BASE}\nADD --checksum={} {url} /tools/\nADD {gz_url} /pkgs/renamed.gz\n",
        sha256(&body)
    );
    let out = lab.build("ctx", &dockerfile, &[], "example.com/add:v1");
    assert!(out.status.success(), "{}", stderr(&out));
    let files = lab.ls("example.com/add:v1");
    let tool = find(&files, "tools\\tool.exe").unwrap_or_else(|| panic!("{files:#?}"));
    assert_eq!(tool["size"], body.len());
    let renamed = find(&files, "pkgs\\renamed.gz").unwrap_or_else(|| panic!("{files:#?}"));
    assert_eq!(renamed["size"], gz.len());
    assert_eq!(server.bytes_served("/dl/tool.exe"), body.len() as u64);

    // Unchanged URL content: both steps are cache hits (same image).
    let again = lab.build("ctx", &dockerfile, &[], "example.com/add:v2");
    assert!(again.status.success(), "{}", stderr(&again));
    let log = stderr(&again);
    assert_eq!(log.matches("CACHED").count(), 2, "{log}");
    // The --checksum step's cache input is the checksum: no second download. The other URL is
    // fetched again to learn its content.
    assert_eq!(server.bytes_served("/dl/tool.exe"), body.len() as u64);
    assert_eq!(
        server.bytes_served("/dl/bundle.tar.gz"),
        2 * gz.len() as u64
    );
    // Changed content behind the same URL (no checksum on this one): rebuilt.
    server.publish("/dl/bundle.tar.gz", b"other".to_vec());
    let changed = lab.build("ctx", &dockerfile, &[], "example.com/add:v3");
    assert!(changed.status.success(), "{}", stderr(&changed));
    let log = stderr(&changed);
    assert_eq!(log.matches("CACHED").count(), 1, "{log}");
    let files = lab.ls("example.com/add:v3");
    assert_eq!(find(&files, "pkgs\\renamed.gz").unwrap()["size"], 5);
}

#[test]
fn add_url_errors_name_the_checksums_and_the_status() {
    let lab = Lab::new();
    let server = FileServer::start();
    let url = server.publish("/a.txt", b"actual".to_vec());
    let wrong = sha256(b"expected");
    let out = lab.build(
        "mismatch",
        &format!("FROM {BASE}\nADD --checksum={wrong} {url} /a.txt\n"),
        &[],
        "example.com/bad:v1",
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "checksum mismatch: expected {wrong}, got {}",
            sha256(b"actual")
        )),
        "{err}"
    );
    assert!(err.contains(&url), "{err}");

    let missing = server.url("/missing.zip");
    let out = lab.build(
        "404",
        &format!("FROM {BASE}\nADD {missing} /m.zip\n"),
        &[],
        "example.com/bad:v2",
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("ADD {missing}: HTTP 404")), "{err}");

    let out = lab.build(
        "badsum",
        &format!("FROM {BASE}\nADD --checksum=sha256:xyz {url} /a.txt\n"),
        &[],
        "example.com/bad:v3",
    );
    assert!(stderr(&out).contains("--checksum=sha256:xyz: expected sha256:"));

    let out = lab.build(
        "copyurl",
        &format!("FROM {BASE}\nCOPY {url} /a.txt\n"),
        &[],
        "example.com/bad:v4",
    );
    assert!(
        stderr(&out).contains("source can't be a URL for COPY"),
        "{}",
        stderr(&out)
    );

    // Nothing listens on a port the server no longer holds.
    let dead = {
        let gone = FileServer::start();
        gone.url("/x")
    };
    let out = lab.build(
        "refused",
        &format!("FROM {BASE}\nADD {dead} /x\n"),
        &[],
        "example.com/bad:v5",
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("ADD {dead}: ")),
        "{}",
        stderr(&out)
    );
}

/// Blob path of a digest inside an OCI layout.
fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// The layer digests of the only manifest of an OCI layout.
fn layout_layers(layout: &Path) -> Vec<String> {
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: Value =
        serde_json::from_slice(&fs::read(blob(layout, manifest)).unwrap()).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// Appends a layer that deletes `C:\\<deleted>` (a whiteout) to the image of an OCI layout.
fn append_whiteout_layer(layout: &Path, deleted: &str) {
    let (dir, name) = deleted.rsplit_once('/').unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(0);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append_data(&mut header, format!("Files/{dir}/.wh.{name}"), &b""[..])
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = sha256(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        fs::write(blob(layout, &digest), bytes).unwrap();
        (digest, bytes.len())
    };
    let (layer_digest, layer_size) = put(&gz);

    let index_path = layout.join("index.json");
    let mut index: Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut manifest: Value =
        serde_json::from_slice(&fs::read(blob(layout, &manifest_digest)).unwrap()).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_string();
    let mut config: Value =
        serde_json::from_slice(&fs::read(blob(layout, &config_digest)).unwrap()).unwrap();
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(diff_id.into());
    config["history"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"created_by": format!("test: delete {deleted}")}));
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).unwrap());
    manifest["config"]["digest"] = config_digest.into();
    manifest["config"]["size"] = config_size.into();
    manifest["layers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest,
            "size": layer_size,
        }));
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).unwrap());
    index["manifests"][0]["digest"] = manifest_digest.into();
    index["manifests"][0]["size"] = manifest_size.into();
    fs::write(index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn copy_from_an_image_reads_only_the_layers_it_needs() {
    let lab = Lab::new();
    // The source image is built in a state directory of its own, so the lab's store never
    // holds its layers: a COPY --from must read them from the layout.
    let other = Lab::new();
    let ctx = lab.path("src");
    fs::create_dir_all(&ctx).unwrap();
    for (name, text) in [
        ("lower.txt", "lower"),
        ("gone.txt", "gone"),
        ("over.txt", "old"),
        ("top.txt", "top!"),
        ("over2.txt", "newer"),
    ] {
        fs::write(ctx.join(name), text).unwrap();
    }
    // Layers: base; lower.txt + gone.txt + over.txt; a newer over.txt; gone.txt deleted (a
    // whiteout); top.txt.
    let build_into = |dockerfile: &str, layout: &Path| {
        fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        other.silo_ok(&[
            "build",
            "--runtime",
            "none",
            "-t",
            "example.com/src:v1",
            "-o",
            &format!("type=oci,tar=false,dest={}", layout.display()),
            &ctx.display().to_string(),
        ]);
    };
    let middle = lab.path("middle-layout");
    build_into(
        &format!(
            "FROM {BASE}\nCOPY lower.txt gone.txt over.txt /data/\nCOPY over2.txt /data/over.txt\n"
        ),
        &middle,
    );
    append_whiteout_layer(&middle, "data/gone.txt");
    let src = lab.path("src-layout");
    build_into(
        &format!(
            "FROM oci:{}:v1\nCOPY top.txt /data/top.txt\n",
            middle.display()
        ),
        &src,
    );
    let layers = layout_layers(&src);
    assert_eq!(layers.len(), 5, "{layers:?}");

    // Corrupt every layer below the top one in a copy of the layout: a COPY that only needs the
    // top layer must still succeed.
    let top_only = lab.path("top-only");
    copy_dir(&src, &top_only);
    for digest in &layers[..4] {
        fs::write(blob(&top_only, digest), b"not a layer").unwrap();
    }
    let from = format!("oci:{}:v1", top_only.display());
    let out = lab.build(
        "use-top",
        &format!("FROM {BASE}\nCOPY --from={from} /data/top.txt /got/top.txt\n"),
        &[],
        "example.com/top:v1",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let files = lab.ls("example.com/top:v1");
    assert_eq!(find(&files, "got\\top.txt").unwrap()["size"], 4);

    // A file only in a lower layer needs that layer: reading the corrupted one fails, naming it.
    let out = lab.build(
        "use-lower",
        &format!("FROM {BASE}\nCOPY --from={from} /data/lower.txt /got/\n"),
        &[],
        "example.com/lower:v1",
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&layers[3]), "{}", stderr(&out));

    // Correctness on the intact layout: lower files come through, overwritten files have the
    // newer version, deleted files are gone.
    let from = format!("oci:{}:v1", src.display());
    let out = lab.build(
        "all",
        &format!(
            "FROM {BASE}\nCOPY --from={from} /data/lower.txt /data/over.txt /data/top.txt /got/\n"
        ),
        &[],
        "example.com/all:v1",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let files = lab.ls("example.com/all:v1");
    assert_eq!(find(&files, "got\\lower.txt").unwrap()["size"], 5);
    assert_eq!(find(&files, "got\\over.txt").unwrap()["size"], 5);
    assert_eq!(find(&files, "got\\top.txt").unwrap()["size"], 4);
    let out = lab.build(
        "deleted",
        &format!("FROM {BASE}\nCOPY --from={from} /data/gone.txt /got/\n"),
        &[],
        "example.com/gone:v1",
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("gone.txt\" not found"),
        "{}",
        stderr(&out)
    );
    // A directory source still sees the merged tree of every layer.
    let out = lab.build(
        "dir",
        &format!("FROM {BASE}\nCOPY --from={from} /data /d\n"),
        &[],
        "example.com/dir:v1",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let files = lab.ls("example.com/dir:v1");
    assert!(find(&files, "d\\gone.txt").is_none(), "{files:#?}");
    assert_eq!(find(&files, "d\\over.txt").unwrap()["size"], 5);
    assert_eq!(find(&files, "d\\lower.txt").unwrap()["size"], 5);
    assert_eq!(find(&files, "d\\top.txt").unwrap()["size"], 4);
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn add_url_follows_redirects_and_takes_the_time_from_last_modified() {
    let lab = Lab::new();
    let files = FileServer::start();
    let target = files.publish("/real/data.bin", b"redirected!".to_vec());
    // A second real HTTP server: /moved redirects to the file server, /dated sends a
    // Last-Modified date.
    let server = silo_tests::http::Server::start("redirector", move |conn| {
        let Ok(mut writer) = conn.try_clone() else {
            return;
        };
        let mut reader = std::io::BufReader::new(conn);
        let Ok(Some(req)) = silo_tests::http::Request::read_from(&mut reader, 0) else {
            return;
        };
        let _ = match req.path() {
            "/moved" => {
                silo_tests::http::write_response(&mut writer, 302, &[("Location", &target)], b"")
            }
            "/dated" => silo_tests::http::write_response(
                &mut writer,
                200,
                &[("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")],
                b"old file",
            ),
            _ => silo_tests::http::write_response(&mut writer, 404, &[], b""),
        };
    });
    let base = format!("http://{}", server.addr());
    let out = lab.build(
        "redirect",
        &format!("FROM {BASE}\nADD {base}/moved /r/\nADD {base}/dated /r/\n"),
        &[],
        "example.com/redirect:v1",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = lab.ls("example.com/redirect:v1");
    // The name comes from the URL as written, not the redirect target.
    let moved = find(&listed, "r\\moved").unwrap_or_else(|| panic!("{listed:#?}"));
    assert_eq!(moved["size"], 11);
    assert_eq!(files.bytes_served("/real/data.bin"), 11);
    let dated = find(&listed, "r\\dated").unwrap();
    assert!(
        dated["modified"]
            .as_str()
            .unwrap()
            .starts_with("1994-11-06"),
        "{dated:#?}"
    );
}

#[test]
fn copy_link_layers_stay_cached_when_earlier_layers_change() {
    let lab = Lab::new();
    let dockerfile =
        format!("FROM {BASE}\nCOPY a.txt /a.txt\nCOPY --link b.txt /b.txt\nCOPY c.txt /c.txt\n");
    let files: [(&str, &[u8]); 3] = [("a.txt", b"a1"), ("b.txt", b"b"), ("c.txt", b"c")];
    let first = lab.build("ctx", &dockerfile, &files, "example.com/link:v1");
    assert!(first.status.success(), "{}", stderr(&first));
    let files: [(&str, &[u8]); 3] = [("a.txt", b"a2"), ("b.txt", b"b"), ("c.txt", b"c")];
    let second = lab.build("ctx", &dockerfile, &files, "example.com/link:v2");
    assert!(second.status.success(), "{}", stderr(&second));
    let log = stderr(&second);
    // a.txt changed: its step and the plain COPY after it rebuild; the --link step is reused.
    let cached: Vec<&str> = log.lines().filter(|l| l.contains("CACHED")).collect();
    assert_eq!(cached.len(), 1, "{log}");
    let step = cached[0].split_whitespace().next().unwrap();
    assert!(
        log.lines()
            .any(|l| l.starts_with(&format!("{step} ")) && l.contains("COPY --link b.txt")),
        "{log}"
    );
    let listed = lab.ls("example.com/link:v2");
    assert_eq!(find(&listed, "a.txt").unwrap()["size"], 2);
    assert_eq!(find(&listed, "b.txt").unwrap()["size"], 1);
}

#[test]
fn run_mounts_that_cannot_work_fail_naming_the_mount_and_what_to_do() {
    let lab = Lab::new();
    for (name, run, needles) in [
        // No SSH agent forwarding into a Windows step.
        ("ssh", "--mount=type=ssh", &["type=ssh", "--secret"][..]),
        // A required secret that was not passed names the flag that passes it.
        (
            "secret",
            "--mount=type=secret,id=nuget,required",
            &["--secret id=nuget,src=PATH"][..],
        ),
        // A bind source missing from the context.
        (
            "bind",
            "--mount=type=bind,source=nope,target=/src",
            &["\"nope\" not found"][..],
        ),
        // A target on another drive.
        (
            "drive",
            "--mount=type=cache,target=D:\\cache",
            &["only drive C:"][..],
        ),
    ] {
        let out = lab.build(
            name,
            &format!("FROM {BASE}\nRUN {run} dir\n"),
            &[],
            &format!("example.com/mount:{name}"),
        );
        assert!(!out.status.success(), "{name}");
        let err = stderr(&out);
        for needle in std::iter::once(&"Dockerfile:2").chain(needles) {
            assert!(err.contains(needle), "{name}: {needle} missing: {err}");
        }
    }
}

/// What the ETag server serves at `/etag` and how many full bodies it sent.
#[derive(Default)]
struct Tagged {
    etag: String,
    body: Vec<u8>,
    full_bodies: usize,
    conditional: usize,
}

#[test]
fn add_url_with_an_etag_is_not_downloaded_again_while_unchanged() {
    use std::sync::{Arc, Mutex};
    let lab = Lab::new();
    let state = Arc::new(Mutex::new(Tagged {
        etag: "\"v1\"".into(),
        body: b"version one".to_vec(),
        ..Tagged::default()
    }));
    let shared = state.clone();
    let server = silo_tests::http::Server::start("etag", move |conn| {
        let Ok(mut writer) = conn.try_clone() else {
            return;
        };
        let mut reader = std::io::BufReader::new(conn);
        let Ok(Some(req)) = silo_tests::http::Request::read_from(&mut reader, 0) else {
            return;
        };
        let mut s = shared.lock().unwrap();
        let etag = s.etag.clone();
        if req.head.header("if-none-match").is_some() {
            s.conditional += 1;
        }
        let _ = if req.head.header("if-none-match") == Some(etag.as_str()) {
            silo_tests::http::write_response(&mut writer, 304, &[("ETag", &etag)], b"")
        } else {
            s.full_bodies += 1;
            silo_tests::http::write_response(&mut writer, 200, &[("ETag", &etag)], &s.body)
        };
    });
    let url = format!("http://{}/etag", server.addr());
    let dockerfile = format!("FROM {BASE}\nADD {url} /e/file.txt\n");
    let build = |tag: &str| {
        let out = lab.build("ctx", &dockerfile, &[], tag);
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    build("example.com/etag:v1");
    assert_eq!(state.lock().unwrap().full_bodies, 1);
    // Unchanged: a conditional request, 304, the step is cached, no body sent.
    let log = build("example.com/etag:v2");
    assert_eq!(log.matches("CACHED").count(), 1, "{log}");
    assert_eq!(state.lock().unwrap().full_bodies, 1);
    assert_eq!(state.lock().unwrap().conditional, 1);
    // Changed behind a new ETag: downloaded and rebuilt.
    {
        let mut s = state.lock().unwrap();
        s.etag = "\"v2\"".into();
        s.body = b"version two!".to_vec();
    }
    let log = build("example.com/etag:v3");
    assert_eq!(log.matches("CACHED").count(), 0, "{log}");
    assert_eq!(state.lock().unwrap().full_bodies, 2);
    let listed = lab.ls("example.com/etag:v3");
    assert_eq!(find(&listed, "e\\file.txt").unwrap()["size"], 12);
    // 304 but no cached step for this destination: fetched then, and checked against the
    // digest recorded with the ETag.
    let other = format!("FROM {BASE}\nADD {url} /elsewhere.txt\n");
    let out = lab.build("ctx2", &other, &[], "example.com/etag:v4");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(state.lock().unwrap().full_bodies, 3);
    let listed = lab.ls("example.com/etag:v4");
    assert_eq!(find(&listed, "elsewhere.txt").unwrap()["size"], 12);
}

#[test]
fn copy_from_a_registry_image_fetches_only_the_layers_it_needs() {
    let lab = Lab::new();
    let other = Lab::new();
    let registry = silo_tests::registry::Registry::no_auth();
    let ctx = lab.path("src");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(ctx.join("lower.txt"), vec![b'l'; 200_000]).unwrap();
    fs::write(ctx.join("top.txt"), "top!").unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {BASE}\nCOPY lower.txt /data/\nCOPY top.txt /data/\n"),
    )
    .unwrap();
    let layout = lab.path("src-layout");
    other.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "-t",
        "example.com/src:v1",
        "-o",
        &format!("type=oci,tar=false,dest={}", layout.display()),
        &ctx.display().to_string(),
    ]);
    let layers = layout_layers(&layout);
    assert_eq!(layers.len(), 3, "{layers:?}");
    let reference = registry.reference("src:v1");
    other.silo_ok(&[
        "push",
        "--tls-verify=false",
        &format!("oci:{}:v1", layout.display()),
        &reference,
    ]);
    let ctx = lab.path("use");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {BASE}\nCOPY --from={reference} /data/top.txt /got/\n"),
    )
    .unwrap();
    lab.silo_ok(&[
        "build",
        "--runtime",
        "none",
        "--tls-verify=false",
        "-t",
        "example.com/use:v1",
        &ctx.display().to_string(),
    ]);
    let files = lab.ls("example.com/use:v1");
    assert_eq!(find(&files, "got\\top.txt").unwrap()["size"], 4);
    assert_eq!(registry.blob_gets(&layers[2]), 1, "top layer");
    for lower in &layers[..2] {
        assert_eq!(registry.blob_gets(lower), 0, "{lower} was downloaded");
    }
}
