//! `mklink` under real Wine, end to end (issue #16): `silo build --runtime wine` of a Dockerfile
//! that makes file and `/D` symbolic links, `/J` junctions (absolute and relative targets) and a
//! `/H` hard link. Asserted:
//! - the link layer's entries, read by silo's codec and by Python's tarfile: tar symlinks with the
//!   Windows target (go-winio's form), `MSWINDOWS.mountpoint=1` for junctions, the directory
//!   attribute for `/D` and junctions, a tar hard link for `/H`; and the reparse buffer Windows'
//!   import makes of each (tag, substitute and print names, relative flag);
//! - the step itself and the next step (its layer unpacked as an overlay lower) follow each link;
//! - a `for /f … in ('command') do mklink …` loop (the busybox image's form) makes one link per
//!   output line, echoing each body as cmd does;
//! - `silo ls` shows them with their kind and target;
//! - Windows' output ("symbolic link created for …") and errors: an existing link path exits 1
//!   with "Cannot create a file when that file already exists.", ContainerUser may make a
//!   junction but no symbolic link.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use silo::layer::{list_layer, LayerEntry, LayerEntryKind};
use silo::runtime::hcs::backup::encode_reparse_point;
use silo_tests::tools::{require_tool, run_ok};
use silo_tests::{silo_in as run, silo_ok_in as ok};

fn create_base(root: &Path) {
    ok(
        root,
        &[
            "base",
            "create",
            "-t",
            "silo.local/base:ltsc2022",
            "--os-version",
            "10.0.20348.1",
        ],
    );
}

/// `silo build --runtime wine` of a one-file Dockerfile into an OCI layout.
fn build(root: &Path, dir: &Path, dockerfile: &str) -> (Output, PathBuf) {
    let ctx = dir.join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let layout = dir.join("out");
    let dest = format!("type=oci,tar=false,dest={}", layout.display());
    let args = [
        "build",
        "--runtime",
        "wine",
        "--progress",
        "plain",
        "-t",
        "links:test",
        "-o",
        &dest,
        ctx.to_str().unwrap(),
    ];
    (run(root, &args), layout)
}

fn layout_layers(layout: &Path) -> Vec<PathBuf> {
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    };
    let read = |path: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
    };
    let index = read(layout.join("index.json"));
    let manifest = read(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(l["digest"].as_str().unwrap()))
        .collect()
}

/// (type, link name, `MSWINDOWS.mountpoint`) of a layer entry, read by Python's tarfile.
fn python_entry(blob: &Path, name: &str) -> (String, String, String) {
    let script = r#"
import sys, tarfile
with tarfile.open(sys.argv[1], "r:*") as t:
    m = t.getmember(sys.argv[2])
    kind = "symlink" if m.issym() else "hardlink" if m.islnk() else "file" if m.isfile() else "dir"
    print(kind); print(m.linkname); print(m.pax_headers.get("MSWINDOWS.mountpoint", ""))
"#;
    let out = run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(blob)
            .arg(name),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines().map(str::to_string);
    let mut next = || lines.next().unwrap_or_default();
    (next(), next(), next())
}

/// A reparse buffer's tag, substitute name, print name and flags (symlinks only), read by
/// offsets as `REPARSE_DATA_BUFFER` lays them out.
fn reparse_fields(buffer: &[u8]) -> (u32, String, String, Option<u32>) {
    let u16_at = |i: usize| u16::from_le_bytes([buffer[i], buffer[i + 1]]) as usize;
    let tag = u32::from_le_bytes(buffer[0..4].try_into().unwrap());
    let symlink = tag == 0xA000_000C;
    let path_buffer = if symlink { 20 } else { 16 };
    let name = |offset: usize, len: usize| {
        let units: Vec<u16> = buffer[path_buffer + offset..path_buffer + offset + len]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).unwrap()
    };
    let flags = symlink.then(|| u32::from_le_bytes(buffer[16..20].try_into().unwrap()));
    (
        tag,
        name(u16_at(8), u16_at(10)),
        name(u16_at(12), u16_at(14)),
        flags,
    )
}

const SYMLINK: u32 = 0xA000_000C;
const MOUNT_POINT: u32 = 0xA000_0003;
const DIRECTORY: u32 = 0x10;
const REPARSE_POINT: u32 = 0x400;

/// The base's user is ContainerUser (as nanoserver's): symbolic links need the administrator.
const DOCKERFILE: &str = r#"FROM silo.local/base:ltsc2022
USER ContainerAdministrator
RUN mkdir C:\data\sub && echo from-sub> C:\data\sub\f.txt && echo from-file> C:\data\file.txt
RUN mklink /D C:\dlink C:\data && mklink C:\flink C:\data\file.txt && mklink /J C:\junc C:\data\sub && cd /d C:\data && mklink /D reld sub && mklink relf file.txt && mklink /J relj sub && mklink /H C:\hard.txt C:\data\file.txt && type C:\junc\f.txt && pushd C:\data\sub && mklink /D up .. && popd && mklink /D popped C:\data
RUN echo ar> C:\data\names.txt && echo  ls>> C:\data\names.txt && FOR /f "tokens=*" %i IN ('type C:\data\names.txt') DO mklink C:\data\%i.exe C:\data\file.txt
RUN type C:\data\ls.exe && type C:\dlink\sub\f.txt && type C:\flink && type C:\data\reld\f.txt && type C:\data\relf && type C:\data\relj\f.txt && type C:\hard.txt && dir /b C:\junc
"#;

#[test]
fn mklink_makes_the_links_windows_records_and_later_steps_follow_them() {
    require_tool("wine");
    require_tool("python3");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    create_base(&root);
    let (out, layout) = build(&root, dir.path(), DOCKERFILE);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    for said in [
        r"symbolic link created for C:\dlink <<===>> C:\data",
        r"symbolic link created for C:\flink <<===>> C:\data\file.txt",
        r"Junction created for C:\junc <<===>> C:\data\sub",
        r"symbolic link created for reld <<===>> sub",
        r"symbolic link created for relf <<===>> file.txt",
        r"Junction created for relj <<===>> sub",
        r"Hardlink created for C:\hard.txt <<===>> C:\data\file.txt",
    ] {
        assert!(log.contains(said), "{said}:\n{log}");
    }
    // The link step followed its junction under Wine; the next step (the links unpacked from
    // the layer as an overlay lower) follows every link.
    let said = |line: &str| log.lines().filter(|l| l.trim_end() == line).count();
    assert_eq!(said("#3 from-sub"), 1, "{log}");
    assert_eq!(said("#5 from-sub"), 3, "{log}");
    assert_eq!(said("#5 from-file"), 4, "{log}");
    assert_eq!(
        said("#5 f.txt"),
        1,
        "`dir` lists the junction's target: {log}"
    );

    let layers = layout_layers(&layout);
    assert_eq!(layers.len(), 5, "base + four RUN layers");
    let (entries, _) = list_layer(fs::File::open(&layers[2]).unwrap()).unwrap();
    let entry = |path: &str| -> &LayerEntry {
        entries
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("{path} not in the layer"))
    };
    // (path, kind, link name, directory, reparse tag, substitute name, relative)
    for (path, kind, target, directory, tag, substitute, relative) in [
        (
            "Files/dlink",
            LayerEntryKind::Symlink,
            r"C:\data",
            true,
            SYMLINK,
            r"\??\C:\data",
            false,
        ),
        (
            "Files/flink",
            LayerEntryKind::Symlink,
            r"C:\data\file.txt",
            false,
            SYMLINK,
            r"\??\C:\data\file.txt",
            false,
        ),
        (
            "Files/junc",
            LayerEntryKind::Junction,
            r"C:\data\sub",
            true,
            MOUNT_POINT,
            r"\??\C:\data\sub",
            false,
        ),
        (
            "Files/data/reld",
            LayerEntryKind::Symlink,
            "sub",
            true,
            SYMLINK,
            "sub",
            true,
        ),
        (
            "Files/data/relf",
            LayerEntryKind::Symlink,
            "file.txt",
            false,
            SYMLINK,
            "file.txt",
            true,
        ),
        // Made after `pushd C:\data\sub`, and after `popd` back in `C:\data`.
        (
            "Files/data/sub/up",
            LayerEntryKind::Symlink,
            "..",
            true,
            SYMLINK,
            "..",
            true,
        ),
        (
            "Files/data/popped",
            LayerEntryKind::Symlink,
            r"C:\data",
            true,
            SYMLINK,
            r"\??\C:\data",
            false,
        ),
        (
            "Files/data/relj",
            LayerEntryKind::Junction,
            r"C:\data\sub",
            true,
            MOUNT_POINT,
            r"\??\C:\data\sub",
            false,
        ),
    ] {
        let e = entry(path);
        assert_eq!(e.kind, kind, "{path}");
        assert_eq!(e.link_target.as_deref(), Some(target), "{path}");
        let attributes = e.attributes.unwrap();
        assert_eq!(attributes & REPARSE_POINT, REPARSE_POINT, "{path}");
        assert_eq!(attributes & DIRECTORY != 0, directory, "{path}");
        assert!(e.owner.is_some(), "{path} has a descriptor");
        // The independent reader sees the same tar entry.
        let junction = kind == LayerEntryKind::Junction;
        assert_eq!(
            python_entry(&layers[2], path),
            (
                "symlink".to_string(),
                target.to_string(),
                if junction { "1" } else { "" }.to_string()
            ),
            "{path}"
        );
        // What Windows' import (go-winio's EncodeReparsePoint) makes of it.
        let buffer = encode_reparse_point(target, junction).unwrap();
        let (t, sub, print, flags) = reparse_fields(&buffer);
        assert_eq!((t, sub.as_str(), print.as_str()), (tag, substitute, target));
        if !junction {
            assert_eq!(flags, Some(u32::from(relative)), "{path}");
        }
    }
    let hard = entry("Files/hard.txt");
    assert_eq!(hard.kind, LayerEntryKind::HardLink);
    assert_eq!(hard.link_target.as_deref(), Some("Files/data/file.txt"));
    assert_eq!(entry("Files/data/file.txt").kind, LayerEntryKind::File);
    assert_eq!(
        python_entry(&layers[2], "Files/hard.txt").0,
        "hardlink".to_string()
    );

    // The `for /f` loop echoed each body as cmd does, and made one link per output line.
    for name in ["ar", "ls"] {
        let body = format!(r"mklink C:\data\{name}.exe C:\data\file.txt");
        assert_eq!(said(&format!(r"#4 C:\>{body}")), 1, "{log}");
        let made =
            format!(r"#4 symbolic link created for C:\data\{name}.exe <<===>> C:\data\file.txt");
        assert_eq!(said(&made), 1, "{log}");
    }
    let (looped, _) = list_layer(fs::File::open(&layers[3]).unwrap()).unwrap();
    for name in ["ar", "ls"] {
        let e = looped
            .iter()
            .find(|e| e.path == format!("Files/data/{name}.exe"))
            .unwrap_or_else(|| panic!("{name}.exe not in the loop's layer"));
        assert_eq!(e.kind, LayerEntryKind::Symlink);
        assert_eq!(e.link_target.as_deref(), Some(r"C:\data\file.txt"));
    }

    // `silo ls` shows the links with their kind and target.
    let oci = format!("oci:{}:test", layout.display());
    let ls = ok(&root, &["ls", &oci, "--format", "json"]);
    let files: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let find = |path: &str| {
        files
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == path)
            .unwrap_or_else(|| panic!("{path} not in silo ls"))
            .clone()
    };
    for (path, kind, target) in [
        ("dlink", "symlink", r"C:\data"),
        ("flink", "symlink", r"C:\data\file.txt"),
        ("junc", "junction", r"C:\data\sub"),
        (r"data\reld", "symlink", "sub"),
        (r"data\relj", "junction", r"C:\data\sub"),
        ("hard.txt", "hardlink", "Files/data/file.txt"),
    ] {
        let f = find(path);
        assert_eq!(
            (f["kind"].as_str(), f["link_target"].as_str()),
            (Some(kind), Some(target)),
            "{f}"
        );
    }
}

#[test]
fn mklink_fails_like_windows_and_symbolic_links_need_an_administrator() {
    require_tool("wine");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    create_base(&root);
    // The base's user is ContainerUser.
    let dockerfile = r#"FROM silo.local/base:ltsc2022
RUN mklink /J C:\j C:\Windows && mklink C:\s C:\Windows || echo no-symlink-privilege
USER ContainerAdministrator
RUN mklink /D C:\j C:\Windows
"#;
    let (out, _) = build(&root, dir.path(), dockerfile);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{log}");
    for said in [
        r"Junction created for C:\j <<===>> C:\Windows",
        "You do not have sufficient privilege to perform this operation.",
        "no-symlink-privilege",
        "Cannot create a file when that file already exists.",
        "did not complete successfully: exit code: 1",
    ] {
        assert!(log.contains(said), "{said}:\n{log}");
    }
    assert_eq!(out.status.code(), Some(1), "{log}");
}

#[test]
fn a_mklink_silo_cannot_take_meets_wines_stub_and_fails_the_step() {
    require_tool("wine");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    create_base(&root);
    // In a batch file the up-front scan cannot see mklink: Wine's cmd runs it, and its
    // CreateSymbolicLinkW stub's fixme line fails the step (it would exit 0 with no link).
    let dockerfile = r#"FROM silo.local/base:ltsc2022
USER ContainerAdministrator
RUN echo mklink /D C:\l C:\Windows> C:\links.cmd && C:\links.cmd
"#;
    let (out, _) = build(&root, dir.path(), dockerfile);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("Wine only stubs") && log.contains("wine fixme: file:CreateSymbolicLinkW"),
        "{log}"
    );
}
