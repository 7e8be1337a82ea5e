//! `mklink` made real in the Wine silo. Wine 8.0's cmd builtin cannot make symbolic links
//! (`CreateSymbolicLinkW` is a stub) or junctions, yet exits 0; so a cmd line with `mklink` as a
//! command of its own runs in silo's engine (see [`super::pwsh::route`]), which makes the link
//! on the overlay's merged `C:` view itself, prints what Windows' mklink prints, and fails with
//! Windows' messages.
//!
//! This module owns:
//! - [`Mklink::parse`]: mklink's arguments (`[/D | /H | /J] Link Target`);
//! - [`Mklink::run`]: the link on the mounted `drive_c` — a Linux symlink for a symbolic link or
//!   junction (so Wine and every later command of the step follow it), `link(2)` for `/H`;
//! - the *link journal*: one JSON line per symbolic link or junction made, written outside
//!   `drive_c`, which [`super::commit`] reads to give the layer the entry Windows would record
//!   (a Linux symlink alone cannot say junction or `/D`, nor the target as Windows stored it).
//!
//! What Windows records (cmd's mklink over `CreateSymbolicLinkW` / a mount-point reparse
//! buffer), and so what the layer carries (go-winio's backuptar writes the reparse target as
//! the tar link name, `MSWINDOWS.mountpoint=1` for a junction):
//! - a symbolic link to a relative target (no drive, no leading `\`) keeps it as typed, with
//!   `SYMLINK_FLAG_RELATIVE`; any other target becomes its full path (`\??\C:\…` substitute
//!   name, `C:\…` in the layer);
//! - `/D` marks the link a directory (`FILE_ATTRIBUTE_DIRECTORY`), a plain mklink a file;
//! - `/J` stores the target's full path (`GetFullPathName`), `\??\C:\…`;
//! - `/H` is a second name of the file; the commit records it as a tar hard link, as Windows'
//!   layer export does for a file with more than one name.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::process::existing_spelling;

/// What kind of link mklink makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkKind {
    /// `mklink Link Target`
    FileSymlink,
    /// `mklink /D`
    DirectorySymlink,
    /// `mklink /J`
    Junction,
    /// `mklink /H`
    HardLink,
}

/// One mklink command, as typed (quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mklink {
    pub kind: LinkKind,
    pub link: String,
    pub target: String,
}

/// cmd's answer to arguments it cannot take.
pub const SYNTAX_ERROR: &str = "The syntax of the command is incorrect.\r\n";
/// `ERROR_ALREADY_EXISTS`.
pub const ALREADY_EXISTS: &str = "Cannot create a file when that file already exists.\r\n";
/// `ERROR_PATH_NOT_FOUND`.
pub const PATH_NOT_FOUND: &str = "The system cannot find the path specified.\r\n";
/// `ERROR_FILE_NOT_FOUND`.
pub const FILE_NOT_FOUND: &str = "The system cannot find the file specified.\r\n";
/// `ERROR_ACCESS_DENIED` (a hard link to a directory).
pub const ACCESS_DENIED: &str = "Access is denied.\r\n";
/// `ERROR_PRIVILEGE_NOT_HELD`: a symbolic link needs SeCreateSymbolicLinkPrivilege, which only
/// administrators hold in a container (no developer mode there).
pub const PRIVILEGE_NOT_HELD: &str =
    "You do not have sufficient privilege to perform this operation.\r\n";

/// Whether one command of a cmd line is mklink (`mklink`, `@mklink`, any case). mklink is a
/// cmd builtin: there is no `mklink.exe` a path could name.
pub fn is_mklink_segment(text: &str) -> bool {
    let (word, _) = super::pwsh::cmdline::program_word(text.trim_start().trim_start_matches('@'));
    word.eq_ignore_ascii_case("mklink")
}

/// Splits mklink's argument text into words the way cmd's builtins read them: whitespace
/// outside quotes separates, quotes are removed; with whether a word was quoted (a quoted
/// `"/php"` is a name, not a switch).
fn words(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !word.is_empty() {
                    out.push((std::mem::take(&mut word), any));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push((word, any));
    }
    out
}

impl Mklink {
    /// Parses a whole mklink command (`mklink /D "C:\a b" C:\t`). `None`: cmd's syntax error
    /// (not two names, an unknown switch, or more than one of `/D`, `/H`, `/J`).
    pub fn parse(command: &str) -> Option<Mklink> {
        let (_, rest) =
            super::pwsh::cmdline::program_word(command.trim_start().trim_start_matches('@'));
        let mut kind = None;
        let mut names = Vec::new();
        for (word, quoted) in words(rest) {
            let switch = match word.to_ascii_lowercase().as_str() {
                _ if quoted => None,
                "/d" => Some(LinkKind::DirectorySymlink),
                "/h" => Some(LinkKind::HardLink),
                "/j" => Some(LinkKind::Junction),
                w if w.starts_with('/') => return None,
                _ => None,
            };
            match switch {
                Some(k) if kind.is_none() || kind == Some(k) => kind = Some(k),
                Some(_) => return None,
                None => names.push(word),
            }
        }
        let [link, target]: [String; 2] = names.try_into().ok()?;
        Some(Mklink {
            kind: kind.unwrap_or(LinkKind::FileSymlink),
            link,
            target,
        })
    }

    /// What Windows' mklink prints when it made the link.
    pub fn created_message(&self) -> String {
        let what = match self.kind {
            LinkKind::FileSymlink | LinkKind::DirectorySymlink => "symbolic link",
            LinkKind::Junction => "Junction",
            LinkKind::HardLink => "Hardlink",
        };
        format!(
            "{what} created for {} <<===>> {}\r\n",
            self.link, self.target
        )
    }

    /// The target as Windows stores it (see the module documentation), from the working
    /// directory `cwd` (`C:\…`); `None` for a hard link (no target is stored).
    fn stored_target(&self, cwd: &str) -> Result<Option<String>, PathProblem> {
        match self.kind {
            LinkKind::HardLink => Ok(None),
            LinkKind::Junction => Ok(Some(full_path(cwd, &self.target)?)),
            LinkKind::FileSymlink | LinkKind::DirectorySymlink => {
                if is_relative(&self.target) {
                    Ok(Some(self.target.clone()))
                } else {
                    Ok(Some(full_path(cwd, &self.target)?))
                }
            }
        }
    }
}

/// A path the silo cannot make a link at or to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    /// A drive other than `C:` (the silo has no other drive).
    OtherDrive,
    /// A `\\server\share` or `\\?\` path.
    Network,
}

/// `RtlPathTypeRelative`: neither a drive nor a leading separator.
fn is_relative(path: &str) -> bool {
    let b = path.as_bytes();
    !(b.first().is_some_and(|c| *c == b'\\' || *c == b'/') || (b.len() >= 2 && b[1] == b':'))
}

/// `GetFullPathName` for the silo's one drive: `C:\`-rooted, `\` separators, `.` and `..`
/// resolved (never above the root), trailing dots and spaces of names dropped.
pub fn full_path(cwd: &str, path: &str) -> Result<String, PathProblem> {
    let p = path.replace('/', "\\");
    if p.starts_with("\\\\") {
        return Err(PathProblem::Network);
    }
    let b = p.as_bytes();
    let joined = if b.len() >= 2 && b[1] == b':' {
        if !b[0].eq_ignore_ascii_case(&b'c') {
            return Err(PathProblem::OtherDrive);
        }
        let rest = &p[2..];
        if rest.starts_with('\\') {
            rest.to_string()
        } else {
            format!("{}\\{rest}", strip_drive(cwd))
        }
    } else if p.starts_with('\\') {
        p
    } else {
        format!("{}\\{p}", strip_drive(cwd))
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('\\') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => {
                let c = c.trim_end_matches(['.', ' ']);
                if !c.is_empty() {
                    parts.push(c);
                }
            }
        }
    }
    Ok(format!("C:\\{}", parts.join("\\")))
}

fn strip_drive(cwd: &str) -> &str {
    let c = cwd.trim_end_matches(['\\', '/']);
    if c.len() >= 2 && c.as_bytes()[1] == b':' {
        &c[2..]
    } else {
        c
    }
}

/// `C:\a\b` → `a/b` (`""` for `C:\`).
fn drive_relative(full: &str) -> String {
    full[2..]
        .split('\\')
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// One symbolic link or junction silo made, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MadeLink {
    /// The link relative to `C:\`, `/`-separated, spelled as on disk.
    pub path: String,
    pub kind: LinkKind,
    /// The target as Windows stores it (the layer's link name).
    pub target: String,
    /// The Linux symlink's target, to tell the link from one that replaced it later in the
    /// step.
    pub unix_target: String,
}

/// Appends one made link to the journal.
fn journal(file: &Path, made: &MadeLink) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    let line = serde_json::to_string(made).map_err(std::io::Error::other)?;
    writeln!(f, "{line}")
}

/// The journal's links by path; a later line for the same path wins. A missing journal has
/// none.
pub fn read_journal(file: &Path) -> std::io::Result<std::collections::HashMap<String, MadeLink>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut out = std::collections::HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let made: MadeLink = serde_json::from_str(line).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", file.display()),
            )
        })?;
        out.insert(made.path.clone(), made);
    }
    Ok(out)
}

/// Whether `user` may make symbolic links (holds SeCreateSymbolicLinkPrivilege): `Ok(true)`
/// for administrators, `Ok(false)` for ContainerUser, `Err` for a user silo cannot place.
fn may_make_symlinks(user: &str) -> Result<bool, String> {
    use crate::layer::sd::Sid;
    let sid = super::process::owner_sid(user).map_err(|e| e.to_string())?;
    if sid == Sid::container_administrator()
        || sid == Sid::builtin_administrators()
        || sid == Sid::local_system()
    {
        Ok(true)
    } else if sid == Sid::container_user() {
        Ok(false)
    } else {
        Err(format!(
            "silo cannot tell whether the user {user:?} holds the privilege to make symbolic \
             links (SeCreateSymbolicLinkPrivilege); run mklink as ContainerAdministrator"
        ))
    }
}

/// Where a link lands and what it points at.
pub struct Place<'a> {
    /// The mounted overlay: drive `C:\`.
    pub drive_c: &'a Path,
    /// The command's working directory, `C:\…`.
    pub cwd: &'a str,
    /// The step's USER.
    pub user: &'a str,
    /// The link journal (outside `drive_c`).
    pub journal: &'a Path,
}

/// What one mklink command did: its exit code and output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    fn fail(text: impl Into<String>) -> Outcome {
        Outcome {
            code: 1,
            stdout: String::new(),
            stderr: text.into(),
        }
    }
}

impl Mklink {
    /// Makes the link on `place.drive_c`.
    pub fn run(&self, place: &Place<'_>) -> Outcome {
        let problem = |p: PathProblem, what: &str| match p {
            PathProblem::OtherDrive => Outcome::fail(format!(
                "silo: mklink: {what} is on a drive the Wine silo does not have (only C:)\r\n"
            )),
            PathProblem::Network => Outcome::fail(format!(
                "silo: mklink: {what} is a network path, which a container layer cannot hold\r\n"
            )),
        };
        let link_full = match full_path(place.cwd, &self.link) {
            Ok(p) => p,
            Err(p) => return problem(p, &self.link),
        };
        let stored = match self.stored_target(place.cwd) {
            Ok(t) => t,
            Err(p) => return problem(p, &self.target),
        };
        let symlink = matches!(
            self.kind,
            LinkKind::FileSymlink | LinkKind::DirectorySymlink
        );
        if symlink {
            match may_make_symlinks(place.user) {
                Ok(true) => {}
                Ok(false) => return Outcome::fail(PRIVILEGE_NOT_HELD),
                Err(why) => return Outcome::fail(format!("silo: mklink: {why}\r\n")),
            }
        }
        let dirs = [place.drive_c.to_path_buf()];
        let link_rel = drive_relative(&link_full);
        let Some((parent_rel, name)) = split_parent(&link_rel) else {
            // `C:\` itself.
            return Outcome::fail(ALREADY_EXISTS);
        };
        let parent = join(place.drive_c, &existing_spelling(&dirs, parent_rel));
        // A parent reached through a link (`C:\junc\x`): the link lands where that points, and
        // the journal and the Linux target must name that place.
        let Some(parent_rel) = parent
            .is_dir()
            .then(|| real_rel(place.drive_c, &parent))
            .flatten()
        else {
            return Outcome::fail(PATH_NOT_FOUND);
        };
        let parent = join(place.drive_c, &parent_rel);
        if existing_name(&parent, name).is_some() {
            return Outcome::fail(ALREADY_EXISTS);
        }
        let link_path = parent.join(name);
        let rel_path = if parent_rel.is_empty() {
            name.to_string()
        } else {
            format!("{parent_rel}/{name}")
        };
        // A relative symbolic link's target is relative to the link's directory; any other
        // target (and every junction's and hard link's) to the working directory.
        let target_base = if symlink && is_relative(&self.target) {
            format!("C:\\{}", parent_rel.replace('/', "\\"))
        } else {
            place.cwd.to_string()
        };
        let target_full = match full_path(&target_base, &self.target) {
            Ok(p) => p,
            Err(p) => return problem(p, &self.target),
        };
        let target_rel = existing_spelling(&dirs, &drive_relative(&target_full));
        let result = match stored {
            // Only a hard link stores no target.
            None => {
                let source = join(place.drive_c, &target_rel);
                match std::fs::metadata(&source) {
                    Err(_) => return Outcome::fail(FILE_NOT_FOUND),
                    Ok(m) if m.is_dir() => return Outcome::fail(ACCESS_DENIED),
                    Ok(_) => std::fs::hard_link(&source, &link_path),
                }
            }
            Some(target) => {
                // Relative from the link's directory, so it resolves inside the overlay (and
                // in any later lower dir the layer is unpacked to).
                let depth = parent_rel.split('/').filter(|c| !c.is_empty()).count();
                let mut unix_target = "../".repeat(depth) + &target_rel;
                if unix_target.is_empty() {
                    unix_target.push('.');
                }
                let made = MadeLink {
                    path: rel_path,
                    kind: self.kind,
                    target,
                    unix_target: unix_target.clone(),
                };
                std::os::unix::fs::symlink(&unix_target, &link_path)
                    .and_then(|()| journal(place.journal, &made))
            }
        };
        match result {
            Ok(()) => Outcome {
                code: 0,
                stdout: self.created_message(),
                stderr: String::new(),
            },
            Err(e) => Outcome::fail(format!(
                "silo: mklink: making {} failed: {e}\r\n",
                self.link
            )),
        }
    }
}

/// Where `dir` really is below `drive_c` (links resolved), `/`-separated; `None` outside it.
fn real_rel(drive_c: &Path, dir: &Path) -> Option<String> {
    let root = drive_c.canonicalize().ok()?;
    let real = dir.canonicalize().ok()?;
    let rel = real.strip_prefix(&root).ok()?;
    Some(rel.to_string_lossy().into_owned())
}

fn split_parent(rel: &str) -> Option<(&str, &str)> {
    if rel.is_empty() {
        return None;
    }
    Some(rel.rsplit_once('/').unwrap_or(("", rel)))
}

fn join(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// The name in `dir` that Windows would take for `name` (names compare case-insensitively),
/// dangling links included.
fn existing_name(dir: &Path, name: &str) -> Option<String> {
    if dir.join(name).symlink_metadata().is_ok() {
        return Some(name.to_string());
    }
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let n = e.file_name().to_str()?.to_string();
        n.eq_ignore_ascii_case(name).then_some(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mklink_arguments_parse_like_cmd() {
        let m = Mklink::parse(r#"mklink /d "C:\my link" C:\t"#).unwrap();
        assert_eq!(
            m,
            Mklink {
                kind: LinkKind::DirectorySymlink,
                link: r"C:\my link".into(),
                target: r"C:\t".into()
            }
        );
        assert_eq!(
            Mklink::parse(r"@MKLINK a b /J").unwrap().kind,
            LinkKind::Junction
        );
        assert_eq!(
            Mklink::parse("mklink a b").unwrap().kind,
            LinkKind::FileSymlink
        );
        assert_eq!(
            Mklink::parse("mklink /H a b").unwrap().kind,
            LinkKind::HardLink
        );
        for bad in [
            "mklink",
            "mklink a",
            "mklink a b c",
            "mklink /X a b",
            "mklink /D /J a b",
        ] {
            assert_eq!(Mklink::parse(bad), None, "{bad}");
        }
        assert!(is_mklink_segment("@mklink /d a b"));
        assert!(!is_mklink_segment("echo mklink"));
        assert_eq!(
            Mklink::parse(r"mklink /J j C:\t")
                .unwrap()
                .created_message(),
            "Junction created for j <<===>> C:\\t\r\n"
        );
    }

    #[test]
    fn targets_are_stored_as_windows_stores_them() {
        let stored = |line: &str, cwd: &str| {
            Mklink::parse(line)
                .unwrap()
                .stored_target(cwd)
                .unwrap()
                .unwrap()
        };
        // Relative symbolic links keep the target as typed; the rest become full paths.
        assert_eq!(stored(r"mklink /D l ..\t", r"C:\app"), r"..\t");
        assert_eq!(stored(r"mklink l \t\x.txt", r"C:\app"), r"C:\t\x.txt");
        assert_eq!(stored(r"mklink l C:/a/./b/../c", r"C:\app"), r"C:\a\c");
        // Junctions always hold the full path; `/` separators and rooted paths as Windows
        // reads them (dd-trace-php's `mklink /J "/php" "/php-nts"`).
        assert_eq!(
            stored(r#"mklink /J "/php" "/php-nts""#, r"C:\app"),
            r"C:\php-nts"
        );
        assert_eq!(stored(r"mklink /J j data", r"C:\app\"), r"C:\app\data");
        assert_eq!(stored(r"mklink /J j ..\..\..\x", r"C:\app"), r"C:\x");
        let err = Mklink::parse(r"mklink /J j D:\x")
            .unwrap()
            .stored_target(r"C:\")
            .unwrap_err();
        assert_eq!(err, PathProblem::OtherDrive);
        assert_eq!(full_path(r"C:\", r"\\srv\share"), Err(PathProblem::Network));
        assert_eq!(full_path(r"C:\a", "b. "), Ok(r"C:\a\b".into()));
    }

    #[test]
    fn links_are_made_on_drive_c_and_journaled() {
        let t = tempfile::tempdir().unwrap();
        let c = t.path().join("c");
        std::fs::create_dir_all(c.join("Data/sub")).unwrap();
        std::fs::write(c.join("Data/f.txt"), "x").unwrap();
        std::fs::create_dir_all(c.join("app")).unwrap();
        let journal_file = t.path().join("links");
        let place = Place {
            drive_c: &c,
            cwd: r"C:\app",
            user: "ContainerAdministrator",
            journal: &journal_file,
        };
        let run = |line: &str| Mklink::parse(line).unwrap().run(&place);
        let o = run(r"mklink /D d C:\data");
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(o.stdout, "symbolic link created for d <<===>> C:\\data\r\n");
        assert_eq!(
            std::fs::read_link(c.join("app/d")).unwrap(),
            Path::new("../Data")
        );
        assert!(c.join("app/d/f.txt").is_file(), "followed");
        // A junction to a missing directory is made all the same, as Windows does.
        let o = run(r"mklink /J C:\dangling data\sub");
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(
            std::fs::read_link(c.join("dangling")).unwrap(),
            Path::new("app/data/sub")
        );
        let o = run(r"mklink /J C:\j ..\DATA\SUB");
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(
            std::fs::read_link(c.join("j")).unwrap(),
            Path::new("Data/sub")
        );
        let o = run(r"mklink rel ..\data\f.txt");
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(std::fs::read_to_string(c.join("app/rel")).unwrap(), "x");
        let j = read_journal(&journal_file).unwrap();
        assert_eq!(j["app/d"].kind, LinkKind::DirectorySymlink);
        assert_eq!(j["app/d"].target, r"C:\data");
        assert_eq!(j["j"].kind, LinkKind::Junction);
        assert_eq!(j["j"].target, r"C:\DATA\SUB");
        assert_eq!(j["app/rel"].target, r"..\data\f.txt");
        assert_eq!(j["app/rel"].unix_target, "../Data/f.txt");
        // A link made through a junction lands where the junction points.
        let o = run(r"mklink C:\j\through ..\f.txt");
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(
            std::fs::read_link(c.join("Data/sub/through")).unwrap(),
            Path::new("../../Data/f.txt")
        );
        assert_eq!(std::fs::read_to_string(c.join("j/through")).unwrap(), "x");
        assert_eq!(
            read_journal(&journal_file).unwrap()["Data/sub/through"].target,
            r"..\f.txt"
        );
        // Windows' errors.
        assert_eq!(run(r"mklink /D D C:\x"), Outcome::fail(ALREADY_EXISTS));
        assert_eq!(run(r"mklink C:\no\l C:\x"), Outcome::fail(PATH_NOT_FOUND));
        assert_eq!(
            run(r"mklink /H h C:\nothing"),
            Outcome::fail(FILE_NOT_FOUND)
        );
        assert_eq!(run(r"mklink /H h C:\data"), Outcome::fail(ACCESS_DENIED));
        let o = run(r"mklink /H h C:\data\f.txt");
        assert_eq!(
            o.stdout,
            "Hardlink created for h <<===>> C:\\data\\f.txt\r\n"
        );
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(std::fs::metadata(c.join("app/h")).unwrap().nlink(), 2);
        let user = Place {
            user: "ContainerUser",
            ..place
        };
        let o = Mklink::parse("mklink u C:\\x").unwrap().run(&user);
        assert_eq!(o, Outcome::fail(PRIVILEGE_NOT_HELD));
        assert_eq!(
            Mklink::parse(r"mklink /J uj C:\x").unwrap().run(&user).code,
            0,
            "junctions need no privilege"
        );
    }
}
