//! `silo build --cache-to/--cache-from type=local`: the cache a CI job keeps in a folder. A
//! folder written by one state directory makes a fresh one (a new store) hit every step with the
//! same image; changing the last step misses only it; a second export rewrites no layer; tags
//! and digests pick entries; a missing or empty folder is a warning, a corrupt index.json an
//! error naming the file. The folder is checked as an OCI image layout by skopeo when present.

use std::fs;
use std::path::Path;

use serde_json::Value;
use silo_tests::build_lab::{exported_records, layout_layers, Lab};
use silo_tests::tools::require_tool;

/// index.json of a layout.
fn index(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap()
}

fn blob(dir: &Path, digest: &str) -> Value {
    let path = dir
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// The `CACHED` lines of a build's plain progress.
fn cached(text: &str) -> usize {
    text.matches(" CACHED").count()
}

#[test]
fn a_cache_folder_makes_a_fresh_store_run_no_step() {
    let lab = Lab::without_registry();
    let cache = lab.path("ci-cache");
    let to = format!("type=local,dest={},mode=max", cache.display());
    let from = format!("type=local,src={}", cache.display());

    // Build 1 (store A) writes the folder.
    let a = lab.state("a");
    let out_a = lab.path("out-a");
    let dest_a = format!("type=oci,tar=false,dest={}", out_a.display());
    let (text, id_a) = lab.build(&a, &["--cache-to", &to, "-o", &dest_a]);
    assert_eq!(cached(&text), 0, "{text}");
    assert_eq!(exported_records(&text), 3, "{text}");
    assert!(text.contains("blobs: 5 written, 0 already there"), "{text}");

    // The folder is an OCI layout: oci-layout, and index.json naming the cache manifest by the
    // `latest` tag; the manifest lists the built layers (not the base's) and its config is
    // silo's record list.
    assert!(cache.join("oci-layout").is_file());
    let entries = index(&cache)["manifests"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    let manifest = blob(&cache, entries[0]["digest"].as_str().unwrap());
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.silo.build.cache.config.v1+json"
    );
    let (_, image_layers) = layout_layers(&out_a);
    let cache_layers: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        cache_layers,
        image_layers[1..],
        "the built layers, in order"
    );
    let config = blob(&cache, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["records"].as_array().unwrap().len(), 3);
    // An independent reader of OCI layouts (skopeo) finds the same manifest under the tag.
    let out = std::process::Command::new(require_tool("skopeo"))
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:latest", cache.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(raw, manifest);

    // Build 2 in a fresh store B: every step is a hit, and the image is the same one.
    let b = lab.state("b");
    let out_b = lab.path("out-b");
    let dest_b = format!("type=oci,tar=false,dest={}", out_b.display());
    let (text, id_b) = lab.build(&b, &["--cache-from", &from, "-o", &dest_b]);
    assert!(text.contains(": 3 records"), "{text}");
    assert_eq!(cached(&text), 3, "{text}");
    assert_eq!(id_a, id_b);
    assert_eq!(layout_layers(&out_a), layout_layers(&out_b));

    // Exporting again to the same folder writes no blob: every one is there already, and the
    // layer files are the ones build 1 wrote.
    let layer_file = cache
        .join("blobs/sha256")
        .join(image_layers[3].trim_start_matches("sha256:"));
    let before = fs::metadata(&layer_file).unwrap().modified().unwrap();
    let (text, _) = lab.build(&b, &["--cache-from", &from, "--cache-to", &to]);
    assert!(text.contains("blobs: 0 written, 5 already there"), "{text}");
    assert_eq!(
        fs::metadata(&layer_file).unwrap().modified().unwrap(),
        before
    );
    // Nothing half-written is left beside the layout's files.
    let leftovers: Vec<_> = fs::read_dir(&cache)
        .unwrap()
        .chain(fs::read_dir(cache.join("blobs/sha256")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The last layer step changed: in a fresh store C only that step misses.
    let dockerfile = lab.context().join("Dockerfile");
    let text = fs::read_to_string(&dockerfile).unwrap();
    fs::write(
        &dockerfile,
        text.replace("COPY main.txt .", "COPY main.txt ./main2.txt"),
    )
    .unwrap();
    let c = lab.state("c");
    let (text, id_c) = lab.build(&c, &["--cache-from", &from]);
    assert_ne!(id_a, id_c);
    assert!(text.contains("WORKDIR /app\n#2 CACHED"), "{text}");
    assert!(text.contains("COPY conf/ conf/\n#3 CACHED"), "{text}");
    assert!(text.contains("COPY main.txt ./main2.txt\n#4 "), "{text}");
    assert!(!text.contains("#4 CACHED"), "{text}");
    assert_eq!(cached(&text), 2, "{text}");
}

#[test]
fn tags_and_digests_pick_entries_and_other_tags_are_kept() {
    let lab = Lab::without_registry();
    let cache = lab.path("cache");
    let a = lab.state("a");
    let (text, _) = lab.build(
        &a,
        &[
            "--cache-to",
            &format!("type=local,dest={},tag=main", cache.display()),
        ],
    );
    let digest = text
        .lines()
        .find(|l| l.contains("exported cache to"))
        .and_then(|l| l.rsplit_once("(sha256:"))
        .map(|(_, d)| format!("sha256:{}", d.trim_end_matches(')')))
        .unwrap_or_else(|| panic!("no digest in:\n{text}"));
    // Another tag: a build with another file, under `pr`. `main` stays.
    fs::write(lab.context().join("main.txt"), "main v2\n").unwrap();
    lab.build(
        &a,
        &[
            "--cache-to",
            &format!("type=local,dest={},tag=pr", cache.display()),
        ],
    );
    let names: Vec<String> = index(&cache)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["main", "pr"]);

    // v2 of main.txt is built: the `pr` entry hits all three steps, `main` only the first two,
    // and `main` named by its manifest digest the same.
    let from = |key: &str| format!("type=local,src={},{key}", cache.display());
    let (text, _) = lab.build(&lab.state("b"), &["--cache-from", &from("tag=pr")]);
    assert_eq!(cached(&text), 3, "{text}");
    let (text, _) = lab.build(&lab.state("c"), &["--cache-from", &from("tag=main")]);
    assert_eq!(cached(&text), 2, "{text}");
    let (text, _) = lab.build(
        &lab.state("d"),
        &["--cache-from", &from(&format!("digest={digest}"))],
    );
    assert_eq!(cached(&text), 2, "{text}");

    // An absent tag is a warning naming what the folder has; the build goes on.
    let (text, _) = lab.build(&lab.state("e"), &["--cache-from", &from("tag=nope")]);
    assert!(text.contains("no entry tagged \"nope\""), "{text}");
    assert!(text.contains("\"main\", \"pr\""), "{text}");
    assert_eq!(cached(&text), 0, "{text}");
}

#[test]
fn exports_to_one_folder_at_once_keep_every_tag() {
    let lab = Lab::without_registry();
    let cache = lab.path("cache");
    let tags = ["t1", "t2", "t3", "t4"];
    std::thread::scope(|scope| {
        for tag in tags {
            let lab = &lab;
            let to = format!("type=local,dest={},tag={tag}", cache.display());
            // One store each: the builds run fully in parallel, only the folder is shared.
            scope.spawn(move || {
                let args = build_args(lab, &["--cache-to", &to]);
                lab.state(tag)
                    .ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
            });
        }
    });
    let mut names: Vec<String> = index(&cache)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, tags);
}

/// `silo build --runtime none` of the lab's context with `extra` (for builds `Lab::build` cannot
/// run: several at once share its iidfile).
fn build_args(lab: &Lab, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["build", "--runtime", "none", "--build-arg", &lab.base_arg]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(lab.context().display().to_string());
    args
}

#[test]
fn a_missing_folder_warns_and_a_corrupt_one_is_an_error_naming_the_file() {
    let lab = Lab::without_registry();
    let state = lab.state("a");
    let missing = lab.path("no-such-cache");
    let (text, _) = lab.build(
        &state,
        &[
            "--cache-from",
            &format!("type=local,src={}", missing.display()),
        ],
    );
    assert!(text.contains("no local cache to import"), "{text}");
    assert!(text.contains("does not exist"), "{text}");
    assert_eq!(cached(&text), 0, "{text}");
    let empty = lab.path("empty-cache");
    fs::create_dir(&empty).unwrap();
    let (text, _) = lab.build(
        &lab.state("b"),
        &[
            "--cache-from",
            &format!("type=local,src={}", empty.display()),
        ],
    );
    assert!(text.contains("holds no cache (no index.json)"), "{text}");

    // A cache folder whose index.json is cut short: the import fails, naming the file.
    let cache = lab.path("cache");
    lab.build(
        &state,
        &[
            "--cache-to",
            &format!("type=local,dest={}", cache.display()),
        ],
    );
    let index_json = cache.join("index.json");
    let bytes = fs::read(&index_json).unwrap();
    fs::write(&index_json, &bytes[..bytes.len() / 2]).unwrap();
    let ctx = lab.context().display().to_string();
    let from = format!("type=local,src={}", cache.display());
    let err = lab.state("c").fails(&[
        "build",
        "--runtime",
        "none",
        "--build-arg",
        &lab.base_arg,
        "--cache-from",
        &from,
        &ctx,
    ]);
    assert!(err.contains(&index_json.display().to_string()), "{err}");
    // Exporting into it is refused as well rather than dropping what index.json listed.
    let to = format!("type=local,dest={}", cache.display());
    let err = state.fails(&[
        "build",
        "--runtime",
        "none",
        "--build-arg",
        &lab.base_arg,
        "--cache-to",
        &to,
        &ctx,
    ]);
    assert!(err.contains(&index_json.display().to_string()), "{err}");

    // A manifest blob missing from the folder is an error too.
    fs::write(&index_json, &bytes).unwrap();
    let entry = index(&cache)["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    fs::remove_file(
        cache
            .join("blobs/sha256")
            .join(entry.trim_start_matches("sha256:")),
    )
    .unwrap();
    let err = lab.state("d").fails(&[
        "build",
        "--runtime",
        "none",
        "--build-arg",
        &lab.base_arg,
        "--cache-from",
        &from,
        &ctx,
    ]);
    assert!(err.contains(&entry), "{err}");

    // Bad specs are errors before anything runs.
    for (spec, flag, expect) in [
        ("type=local", "--cache-to", "dest=DIR required"),
        (
            "type=local,dest=/x",
            "--cache-from",
            "unknown option \"dest\"",
        ),
        (
            "type=local,src=/x,digest=sha256:00",
            "--cache-from",
            "expected sha256:",
        ),
        (
            "type=local,src=/x,tag=a,digest=sha256:00",
            "--cache-from",
            "not both",
        ),
    ] {
        let err = state.fails(&["build", "--runtime", "none", flag, spec, &ctx]);
        assert!(err.contains(expect), "{flag} {spec}: {err}");
    }
}

/// The brief's CI case with RUN steps (real Wine): a folder written by store A makes a fresh
/// store B run no step, and a changed last RUN in a fresh store C runs only that step — with the
/// Wine system layer installed from the folder rather than made by `wineboot`.
#[test]
fn wine_run_steps_come_from_the_cache_folder_and_a_changed_last_run_runs_alone() {
    require_tool("wine");
    let lab = Lab::without_registry();
    let dockerfile = lab.context().join("Dockerfile");
    fs::write(
        &dockerfile,
        "# escape=`\nARG BASE\nFROM $BASE\nRUN echo one> C:\\one.txt\nRUN echo two> C:\\two.txt\n",
    )
    .unwrap();
    let cache = lab.path("ci-cache");
    let to = format!("type=local,dest={},mode=max", cache.display());
    let from = format!("type=local,src={}", cache.display());
    let wine = |state: &str, extra: &[&str]| lab.build_on(&lab.state(state), "wine", extra);
    let (text, id_a) = wine("a", &["--cache-to", &to]);
    assert_eq!(cached(&text), 0, "{text}");
    assert!(text.contains("2 records, 1 runtime setup"), "{text}");

    let (text, id_b) = wine("b", &["--cache-from", &from]);
    assert_eq!(cached(&text), 2, "{text}");
    assert_eq!(id_a, id_b);

    fs::write(
        &dockerfile,
        fs::read_to_string(&dockerfile)
            .unwrap()
            .replace("echo two>", "echo three>"),
    )
    .unwrap();
    let (text, id_c) = wine("c", &["--cache-from", &from]);
    assert_ne!(id_a, id_c);
    assert!(
        text.contains("RUN echo one> C:\\one.txt\n#2 CACHED"),
        "{text}"
    );
    assert!(!text.contains("#3 CACHED"), "{text}");
    assert_eq!(cached(&text), 1, "{text}");
    assert!(
        text.contains("from cache"),
        "the Wine system layer came from the folder:\n{text}"
    );
}

/// `silo build --help` names every cache type and key silo accepts.
#[test]
fn help_names_every_cache_type_and_key() {
    let out = silo_tests::silo()
        .args(["build", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // Help text wraps lines: compare with the whitespace taken out.
    let help: String = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect();
    for item in [
        "type=registry,ref=REF[,mode=min|max][,registry.insecure=true][,ignore-error=true]",
        "type=local,dest=DIR[,tag=TAG][,mode=min|max][,ignore-error=true]",
        "type=inline",
        "type=local,src=DIR[,tag=TAG|digest=sha256:...]",
    ] {
        assert!(help.contains(item), "{item} not in --help:\n{help}");
    }
}
