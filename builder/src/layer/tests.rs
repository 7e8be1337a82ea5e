//! Tests of the codec as a whole: golden header bytes per entry kind, writer → reader round trip,
//! the hcsshim rules over what the writer emits, determinism, and hostile tars against unpack.

use std::collections::BTreeMap;
use std::io::Write;

use super::check::check_windows_layer;
use super::tarfmt::{self, HeaderSpec, TypeFlag};
use super::*;

pub(crate) fn t(secs: i64, nanos: u32) -> Timestamp {
    Timestamp { secs, nanos }
}

fn file(path: &str, bytes: &[u8]) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::File {
            source: FileSource::Bytes(bytes.to_vec()),
            size: bytes.len() as u64,
        },
        meta: FileMeta::default(),
        streams: vec![],
    }
}

fn entry(path: &str, kind: EntryKind) -> Entry {
    Entry {
        path: path.into(),
        kind,
        meta: FileMeta::default(),
        streams: vec![],
    }
}

/// A change set with one of every kind of entry.
pub(crate) fn sample_changes() -> ChangeSet {
    let mut with_stream = file("app/data.txt", b"hello");
    with_stream.streams.push(AltStream {
        name: "Zone.Identifier".into(),
        source: FileSource::Bytes(b"[ZoneTransfer]".to_vec()),
    });
    with_stream.meta.creation_time = Some(t(1_600_000_000, 5));
    with_stream.meta.modification_time = Some(t(1_600_000_100, 500_000_000));
    let mut hive_deltas = BTreeMap::new();
    hive_deltas.insert(HiveName::Software, b"regf-delta".to_vec());
    ChangeSet {
        entries: vec![
            with_stream,
            entry("app/bin", EntryKind::Directory),
            entry(
                "app/bin/tool.exe",
                EntryKind::HardLink {
                    target: "app/data.txt".into(),
                },
            ),
            entry(
                "app/link",
                EntryKind::Symlink {
                    target: "..\\Windows".into(),
                    directory: true,
                },
            ),
            entry(
                "app/junction",
                EntryKind::Junction {
                    target: "C:\\ProgramData".into(),
                },
            ),
            file(&format!("deep/{}/long-name.txt", "x".repeat(120)), b"long"),
        ],
        deletions: vec!["Windows/old.dll".into()],
        hive_deltas,
    }
}

fn options() -> WriteOptions {
    WriteOptions {
        default_time: t(1_700_000_000, 0),
        threads: 2,
        ..WriteOptions::default()
    }
}

fn write_plain(changes: &ChangeSet) -> Vec<u8> {
    let options = WriteOptions {
        compression: LayerCompression::None,
        ..options()
    };
    write_layer(changes, &options, Vec::new()).unwrap().0
}

#[test]
fn entries_come_out_in_import_order_and_pass_the_hcsshim_rules() {
    let tar = write_plain(&sample_changes());
    let (entries, summary) = list_layer(&tar[..]).unwrap();
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let long = format!("Files/deep/{}/long-name.txt", "x".repeat(120));
    assert_eq!(
        paths,
        [
            "Hives",
            "Files",
            "Files/app",
            "Files/app/bin",
            "Files/app/data.txt",
            "Files/app/data.txt:Zone.Identifier",
            "Files/app/junction",
            "Files/app/link",
            "Files/deep",
            &format!("Files/deep/{}", "x".repeat(120)),
            &long,
            "Files/Windows",
            "Files/Windows/.wh.old.dll",
            "Files/app/bin/tool.exe",
            "Hives/Software_Delta",
        ]
    );
    assert_eq!(check_windows_layer(&entries, false), vec![]);
    assert_eq!(summary.diff_id, crate::oci::digest_of_bytes(&tar));
    let by_path = |p: &str| entries.iter().find(|e| e.path == p).unwrap();
    let data = by_path("Files/app/data.txt");
    assert_eq!(data.attributes, Some(attributes::ARCHIVE));
    assert_eq!(data.creation_time, Some(t(1_600_000_000, 5)));
    assert_eq!(data.mtime, t(1_600_000_100, 500_000_000));
    assert_eq!(data.owner.as_ref().unwrap().to_string(), "S-1-5-32-544");
    assert_eq!(
        by_path("Files/app/data.txt:Zone.Identifier").kind,
        LayerEntryKind::AltStream {
            file: "Files/app/data.txt".into(),
            stream: "Zone.Identifier".into()
        }
    );
    let link = by_path("Files/app/bin/tool.exe");
    assert_eq!(link.kind, LayerEntryKind::HardLink);
    assert_eq!(link.link_target.as_deref(), Some("Files/app/data.txt"));
    let junction = by_path("Files/app/junction");
    assert_eq!(junction.kind, LayerEntryKind::Junction);
    assert_eq!(junction.link_target.as_deref(), Some("C:\\ProgramData"));
    assert_eq!(
        junction.attributes,
        Some(attributes::DIRECTORY | attributes::REPARSE_POINT)
    );
    assert_eq!(by_path("Files/app/link").kind, LayerEntryKind::Symlink);
    assert_eq!(
        by_path("Files/Windows/.wh.old.dll").kind,
        LayerEntryKind::Whiteout {
            deleted: "Windows/old.dll".into()
        }
    );
    assert_eq!(
        by_path("Hives/Software_Delta").kind,
        LayerEntryKind::HiveDelta(HiveName::Software)
    );
    assert_eq!(by_path(&long).size, 4);
}

#[test]
fn chown_sets_the_owner_sid() {
    let changes = ChangeSet {
        entries: vec![file("a.txt", b"x")],
        ..ChangeSet::default()
    };
    let options = WriteOptions {
        compression: LayerCompression::None,
        owner: Some(sd::Sid::container_user()),
        ..options()
    };
    let tar = write_layer(&changes, &options, Vec::new()).unwrap().0;
    let (entries, _) = list_layer(&tar[..]).unwrap();
    let owner = entries
        .iter()
        .find(|e| e.path == "Files/a.txt")
        .unwrap()
        .owner
        .clone();
    assert_eq!(owner.unwrap().to_string(), "S-1-5-93-2-2");
}

#[test]
fn same_changes_same_bytes_whatever_the_threads() {
    let mut changes = sample_changes();
    // Big enough for several parallel blocks.
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    changes.entries.push(file("big.bin", &big));
    let one = write_layer(
        &changes,
        &WriteOptions {
            threads: 1,
            ..options()
        },
        Vec::new(),
    )
    .unwrap();
    let four = write_layer(
        &changes,
        &WriteOptions {
            threads: 4,
            ..options()
        },
        Vec::new(),
    )
    .unwrap();
    assert_eq!(one.1, four.1);
    assert_eq!(one.0, four.0);
    assert_eq!(one.1.digest, crate::oci::digest_of_bytes(&one.0));
    // The reader sees the same tar through the gzip.
    let (_, summary) = list_layer(&one.0[..]).unwrap();
    assert_eq!(summary.diff_id, one.1.diff_id);
}

#[test]
fn zstd_layers_read_back() {
    let changes = sample_changes();
    let options = WriteOptions {
        compression: LayerCompression::Zstd(3),
        ..options()
    };
    let (blob, digests) = write_layer(&changes, &options, Vec::new()).unwrap();
    let (entries, summary) = list_layer(&blob[..]).unwrap();
    assert_eq!(summary.diff_id, digests.diff_id);
    assert_eq!(entries.len(), 15);
}

#[test]
fn bad_change_sets_are_refused_with_the_path() {
    let cases = [
        (vec![file("a/../b", b"")], "'.' and '..'"),
        (vec![file("/abs", b"")], "leading"),
        (vec![file("a:b", b"")], "':'"),
        (vec![file("A.txt", b""), file("a.TXT", b"")], "twice"),
        (
            vec![file("f", b""), file("f/child", b"")],
            "not a directory",
        ),
    ];
    for (entries, message) in cases {
        let changes = ChangeSet {
            entries,
            ..ChangeSet::default()
        };
        let err = write_layer(&changes, &options(), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains(message), "{err} should mention {message}");
    }
    let mut lying = file("f", b"abc");
    lying.kind = EntryKind::File {
        source: FileSource::Bytes(b"abc".to_vec()),
        size: 4,
    };
    let changes = ChangeSet {
        entries: vec![lying],
        ..ChangeSet::default()
    };
    assert!(matches!(
        write_layer(&changes, &options(), Vec::new()),
        Err(LayerError::SizeChanged { .. })
    ));
}

#[test]
fn deleted_then_recreated_paths_are_entries_not_whiteouts() {
    let changes = ChangeSet {
        entries: vec![file("dir/new.txt", b"n")],
        deletions: vec!["dir".into(), "gone.txt".into()],
        ..ChangeSet::default()
    };
    let (entries, _) = list_layer(&write_plain(&changes)[..]).unwrap();
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "Hives",
            "Files",
            "Files/.wh.gone.txt",
            "Files/dir",
            "Files/dir/new.txt"
        ]
    );
}

/// Golden bytes: the exact header block of each entry kind, fields checked one by one against
/// the ustar layout (and the whole block against a fixed checksum).
#[test]
fn golden_header_bytes() {
    let tar = write_plain(&sample_changes());
    let block = |offset: u64| -> &[u8] { &tar[offset as usize..offset as usize + 512] };
    let (entries, _) = list_layer(&tar[..]).unwrap();
    let field = |h: &[u8], a: usize, b: usize| {
        String::from_utf8_lossy(&h[a..b])
            .trim_end_matches('\0')
            .to_string()
    };
    // Each Windows entry: a PAX header ("x", name PaxHeaders.0/<base>) then the ustar header.
    let golden: [(&str, &str, &str, &str, &str); 6] = [
        // path, type flag, mode, size, link name
        ("Files", "5", "0040755", "00000000000", ""),
        ("Files/app/data.txt", "0", "0100644", "00000000005", ""),
        (
            "Files/app/bin/tool.exe",
            "1",
            "0100644",
            "00000000000",
            "Files/app/data.txt",
        ),
        (
            "Files/app/link",
            "2",
            "0120777",
            "00000000000",
            "..\\Windows",
        ),
        (
            "Files/app/junction",
            "2",
            "0120777",
            "00000000000",
            "C:\\ProgramData",
        ),
        (
            "Files/Windows/.wh.old.dll",
            "0",
            "0100644",
            "00000000000",
            "",
        ),
    ];
    for (path, flag, mode, size, link) in golden {
        let e = entries.iter().find(|e| e.path == path).unwrap();
        let mut h = block(e.offset);
        if e.path != "Files/Windows/.wh.old.dll" {
            assert_eq!(h[156], b'x', "{path}: PAX header first");
            let base = path.rsplit('/').next().unwrap();
            assert_eq!(field(h, 0, 100), format!("PaxHeaders.0/{base}"));
            let pax_size = usize::from_str_radix(&field(h, 124, 135), 8).unwrap();
            let next = e.offset as usize + 512 + pax_size.div_ceil(512) * 512;
            h = &tar[next..next + 512];
        } else {
            assert_eq!(h[156], b'0', "whiteouts carry no PAX records");
        }
        assert_eq!(field(h, 0, 100), path);
        assert_eq!(field(h, 100, 107), mode, "{path} mode");
        assert_eq!(field(h, 108, 115), "0000000", "{path} uid");
        assert_eq!(field(h, 116, 123), "0000000", "{path} gid");
        assert_eq!(field(h, 124, 135), size, "{path} size");
        assert_eq!(h[156], flag.as_bytes()[0], "{path} type");
        assert_eq!(field(h, 157, 257), link, "{path} link");
        assert_eq!(&h[257..265], b"ustar\x0000", "{path} magic");
        let stored = u32::from_str_radix(&field(h, 148, 154), 8).unwrap();
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        assert_eq!(stored, sum, "{path} checksum");
        assert_eq!(&h[154..156], b"\0 ");
    }
    // One header pinned completely, byte for byte.
    let spec = HeaderSpec {
        name: "Files/a",
        type_flag: TypeFlag::Regular,
        mode: 0o100644,
        size: 5,
        mtime: t(1_700_000_000, 0),
        link_name: "",
    };
    let header = tarfmt::ustar_header(&spec);
    let mut expected = vec![0u8; 512];
    expected[..7].copy_from_slice(b"Files/a");
    expected[100..108].copy_from_slice(b"0100644\0");
    expected[108..116].copy_from_slice(b"0000000\0");
    expected[116..124].copy_from_slice(b"0000000\0");
    expected[124..136].copy_from_slice(b"00000000005\0");
    expected[136..148].copy_from_slice(b"14524770400\0");
    // Checksum computed independently (python3: sum of the block with the field as spaces).
    expected[148..156].copy_from_slice(b"010450\0 ");
    expected[156] = b'0';
    expected[257..265].copy_from_slice(b"ustar\x0000");
    expected[329..337].copy_from_slice(b"0000000\0");
    expected[337..345].copy_from_slice(b"0000000\0");
    assert_eq!(header.to_vec(), expected);
}

/// PAX records of a file entry, in order, with the exact values.
#[test]
fn golden_pax_records() {
    let tar = write_plain(&sample_changes());
    let (entries, _) = list_layer(&tar[..]).unwrap();
    let e = entries
        .iter()
        .find(|e| e.path == "Files/app/data.txt")
        .unwrap();
    let start = e.offset as usize + 512;
    let header = &tar[e.offset as usize..e.offset as usize + 512];
    let body_len =
        usize::from_str_radix(String::from_utf8_lossy(&header[124..135]).as_ref(), 8).unwrap();
    let body = String::from_utf8(tar[start..start + body_len].to_vec()).unwrap();
    let sd = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        sd::SecurityDescriptor::default_file(None).to_bytes(),
    );
    let mut records = Vec::new();
    for line in body.split_inclusive('\n') {
        let (len, record) = line.split_once(' ').unwrap();
        assert_eq!(
            len.parse::<usize>().unwrap(),
            line.len(),
            "length prefix of {line:?}"
        );
        let (key, value) = record.trim_end_matches('\n').split_once('=').unwrap();
        records.push((key.to_string(), value.to_string()));
    }
    let expected: Vec<(String, String)> = [
        ("LIBARCHIVE.creationtime", "1600000000.000000005"),
        ("MSWINDOWS.fileattr", "32"),
        ("MSWINDOWS.rawsd", sd.as_str()),
        ("atime", "1600000100.5"),
        ("ctime", "1600000100.5"),
        ("mtime", "1600000100.5"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(records, expected);
}

// ---- hostile tars against unpack --------------------------------------------------------------

fn raw_tar(entries: &[(&str, TypeFlag, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, flag, link, data) in entries {
        tarfmt::write_headers(
            &mut out,
            &HeaderSpec {
                name,
                type_flag: *flag,
                mode: 0o644,
                size: data.len() as u64,
                mtime: t(0, 0),
                link_name: link,
            },
            vec![],
        )
        .unwrap();
        out.write_all(data).unwrap();
        out.write_all(&vec![0u8; tarfmt::padding(data.len() as u64)])
            .unwrap();
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn device_tar() -> Vec<u8> {
    let mut tar = raw_tar(&[("Files/dev", TypeFlag::Regular, "", b"")]);
    // Turn the regular file into a character device and fix the checksum.
    tar[156] = b'3';
    tar[148..156].copy_from_slice(b"        ");
    let sum: u32 = tar[..512].iter().map(|&b| u32::from(b)).sum();
    tar[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    tar
}

#[test]
fn hostile_tars_are_refused_and_nothing_lands_outside() {
    let cases: Vec<(&str, Vec<u8>, UnpackFilter)> = vec![
        (
            "dotdot",
            raw_tar(&[("Files/../../outside.txt", TypeFlag::Regular, "", b"pwned")]),
            UnpackFilter::WindowsFiles,
        ),
        (
            "absolute",
            raw_tar(&[("/tmp/outside.txt", TypeFlag::Regular, "", b"pwned")]),
            UnpackFilter::All,
        ),
        (
            "symlink parent",
            raw_tar(&[
                ("Files", TypeFlag::Directory, "", b""),
                ("Files/esc", TypeFlag::Symlink, "C:\\..\\..", b""),
                ("Files/link", TypeFlag::Symlink, "..\\..\\..", b""),
            ]),
            UnpackFilter::WindowsFiles,
        ),
        (
            "linux symlink then write through it",
            raw_tar(&[
                ("esc", TypeFlag::Symlink, "/", b""),
                ("esc/outside.txt", TypeFlag::Regular, "", b"pwned"),
                ("rel", TypeFlag::Symlink, "../../..", b""),
            ]),
            UnpackFilter::All,
        ),
        (
            "hard link out",
            raw_tar(&[
                (
                    "Files/hl",
                    TypeFlag::HardLink,
                    "Files/../../../etc/passwd",
                    b"",
                ),
                ("Files/hl2", TypeFlag::HardLink, "Hives/System_Delta", b""),
            ]),
            UnpackFilter::WindowsFiles,
        ),
        (
            "hard link absolute",
            raw_tar(&[("hl", TypeFlag::HardLink, "/etc/passwd", b"")]),
            UnpackFilter::All,
        ),
        ("device", device_tar(), UnpackFilter::WindowsFiles),
    ];
    for (name, tar, filter) in cases {
        let sandbox = tempfile::tempdir().unwrap();
        let target = sandbox.path().join("a/b/target");
        std::fs::create_dir_all(&target).unwrap();
        let report = unpack(std::io::Cursor::new(tar), &target, filter).unwrap();
        assert!(!report.refusals.is_empty(), "{name}: nothing refused");
        for refusal in &report.refusals {
            assert!(!refusal.reason.is_empty(), "{name}: {refusal}");
        }
        // Nothing outside the target: the sandbox holds only a/b/target.
        let mut outside = Vec::new();
        for entry in walk(sandbox.path()) {
            if !entry.starts_with(&target)
                && entry != sandbox.path().join("a")
                && entry != sandbox.path().join("a/b")
            {
                outside.push(entry);
            }
        }
        assert!(outside.is_empty(), "{name}: wrote {outside:?}");
        assert!(!std::path::Path::new("/tmp/outside.txt").exists());
        // What was written inside is never a symlink that points outside.
        for entry in walk(&target) {
            if let Ok(link) = std::fs::read_link(&entry) {
                assert!(
                    !link.to_string_lossy().contains("../../.."),
                    "{name}: kept {link:?}"
                );
            }
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            out.push(path.clone());
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(walk(&path));
            }
        }
    }
    out
}

#[test]
fn unpack_writes_files_links_and_reports_skips() {
    let sandbox = tempfile::tempdir().unwrap();
    let mut options = options();
    options.compression = LayerCompression::Gzip(6);
    let (blob, digests) = write_layer(&sample_changes(), &options, Vec::new()).unwrap();
    let report = unpack(
        std::io::Cursor::new(blob),
        sandbox.path(),
        UnpackFilter::WindowsFiles,
    )
    .unwrap();
    assert_eq!(report.refusals, vec![], "nothing refused");
    assert_eq!(report.diff_id, digests.diff_id);
    let root = sandbox.path();
    assert_eq!(std::fs::read(root.join("app/data.txt")).unwrap(), b"hello");
    assert_eq!(
        std::fs::read(root.join("app/bin/tool.exe")).unwrap(),
        b"hello"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let links = std::fs::metadata(root.join("app/bin/tool.exe"))
            .unwrap()
            .nlink();
        assert_eq!(links, 2, "a hard link, not a copy");
    }
    assert_eq!(
        std::fs::read_link(root.join("app/link")).unwrap(),
        std::path::PathBuf::from("../Windows")
    );
    assert_eq!(
        std::fs::read_link(root.join("app/junction")).unwrap(),
        std::path::PathBuf::from("../ProgramData")
    );
    assert_eq!(report.whiteouts, vec!["Windows/old.dll".to_string()]);
    assert_eq!(
        report.skipped, 4,
        "Hives, Files, the stream and the hive delta"
    );
}

// ---- robustness: damaged tars give errors, never panics or runaway allocation ------------------

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn damaged_layers_never_panic(
        flips in proptest::collection::vec((0usize..20_000, proptest::prelude::any::<u8>()), 1..8),
        cut in 0usize..20_000,
    ) {
        let mut tar = write_plain(&sample_changes());
        for (at, byte) in flips {
            let at = at % tar.len();
            tar[at] = byte;
        }
        tar.truncate(cut.max(1).min(tar.len()));
        let _ = list_layer(&tar[..]);
        let sandbox = tempfile::tempdir().unwrap();
        let target = sandbox.path().join("t");
        let _ = unpack(std::io::Cursor::new(tar), &target, UnpackFilter::All);
        // Whatever happened, nothing was written beside the target.
        let names: Vec<_> = std::fs::read_dir(sandbox.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        proptest::prop_assert!(names.iter().all(|n| n == "t"), "{:?}", names);
    }
}

#[test]
fn huge_extension_header_is_refused_without_allocating_it() {
    // A PAX header claiming 4 GiB: refused by size, before any allocation.
    let mut tar = tarfmt::ustar_header(&HeaderSpec {
        name: "x",
        type_flag: TypeFlag::PaxExtended,
        mode: 0o644,
        size: 4 << 30,
        mtime: t(0, 0),
        link_name: "",
    })
    .to_vec();
    tar.extend_from_slice(&[0u8; 1024]);
    let err = list_layer(&tar[..]).unwrap_err().to_string();
    assert!(
        err.contains("extension header") && err.contains("offset 0"),
        "{err}"
    );
}

#[test]
fn a_range_of_a_host_file_is_streamed_and_a_short_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("backup-stream");
    std::fs::write(&host, b"HEADERpayload-bytesTRAILER").unwrap();
    let range = |offset: u64, len: u64| ChangeSet {
        entries: vec![entry(
            "f",
            EntryKind::File {
                source: FileSource::Range {
                    path: host.clone(),
                    offset,
                    len,
                },
                size: len,
            },
        )],
        ..ChangeSet::default()
    };
    let options = WriteOptions {
        compression: LayerCompression::None,
        ..WriteOptions::default()
    };
    let (tar, _) = write_layer(&range(6, 13), &options, Vec::new()).unwrap();
    let mut body = Vec::new();
    read_layer(&tar[..], |e, data| {
        if e.path == "Files/f" {
            data.read_to_end(&mut body).unwrap();
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(body, b"payload-bytes");
    let err = write_layer(&range(20, 10), &options, Vec::new()).unwrap_err();
    assert!(
        matches!(
            err,
            LayerError::SizeChanged {
                expected: 10,
                actual: 6,
                ..
            }
        ),
        "{err}"
    );
}

// silo's one case fold is NTFS's: per-character simple upper-casing.
#[test]
fn names_fold_as_ntfs_upcases_them() {
    assert_eq!(ntfs_fold("Straße/ſub/λόγος"), "STRAßE/SUB/ΛΌΓΟΣ");
    assert!(
        ntfs_eq("λόγοσ", "ΛΌΓΟς") && ntfs_eq("ſ", "S") && ntfs_eq("$recycle.bin", "$Recycle.Bin")
    );
    assert!(!ntfs_eq("straße", "STRASSE") && !ntfs_eq("a", "ab"));
    assert_eq!(
        HiveName::from_delta_file_name("software_delta"),
        Some(HiveName::Software)
    );
}
