//! Item cmdlets that read: Test-Path, Get-Item (with `env:` entries), Get-ChildItem (listing,
//! `-Recurse`, filters) and Resolve-Path.

use super::*;

/// Test-Path: one bool per path.
pub fn test_path(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let drive = interp.host.drive_c().to_path_buf();
    let kind = b
        .choice("PathType", &["Any", "Container", "Leaf"])?
        .map(|s| s.to_ascii_lowercase());
    let paths = path_args(b);
    if paths.is_empty() || paths.iter().any(|(p, _)| p.is_empty()) {
        return Err(b
            .error(
                "Cannot bind argument to parameter 'Path' because it is an empty string.",
                "System.Management.Automation.ParameterBindingException",
                "InvalidData",
                "ParameterArgumentValidationErrorEmptyStringNotAllowed",
            )
            .into());
    }
    for (path, wild) in paths {
        let r = match winfs::resolve(&interp.cwd, &path) {
            Err(_) => false,
            Ok(Target::File(w)) => {
                if b.switch("IsValid") {
                    true
                } else {
                    let found: Vec<WinPath> = if wild && has_wildcards(&path) {
                        winfs::expand_wildcards(&drive, &w)
                    } else {
                        vec![w]
                    };
                    found.iter().any(|w| {
                        let u = w.unix(&drive);
                        let ok_name = name_filter(b, &w.name());
                        ok_name
                            && match kind.as_deref() {
                                Some("leaf") => u.is_file(),
                                Some("container") => u.is_dir(),
                                _ => u.exists(),
                            }
                    })
                }
            }
            Ok(Target::Registry(h, k)) => {
                let exists = interp.host.registry().key_exists(h, &k).unwrap_or(false);
                match kind.as_deref() {
                    Some("leaf") => false,
                    _ => exists,
                }
            }
            Ok(Target::Env(None)) => true,
            Ok(Target::Env(Some(n))) => {
                interp.env_get(&n).is_some() && kind.as_deref() != Some("container")
            }
        };
        interp.emit(out, Value::Bool(r));
    }
    Ok(())
}

pub(super) fn env_entry(name: &str, value: &str) -> Value {
    Value::object(
        Object::new(
            ObjKind::DictionaryEntry,
            "System.Collections.DictionaryEntry",
        )
        .with("Name", Value::str(name))
        .with("Key", Value::str(name))
        .with("Value", Value::str(value)),
    )
}

/// Get-Item.
pub fn get_item(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    for (path, wild) in path_args(b) {
        match resolve_existing(interp, b, &path, wild)? {
            None => {}
            Some(Resolved::Files(items)) => {
                if items.is_empty() && !has_wildcards(&path) {
                    interp.write_error(ErrorRecord::not_found(&path, "GetItem").at(b.span))?;
                }
                for w in items {
                    if name_filter(b, &w.name()) {
                        let v = item_value(interp, &w);
                        interp.emit(out, v);
                    }
                }
            }
            Some(Resolved::Registry(h, k)) => {
                if let Some(v) = registry::get_key(interp, b, h, &k)? {
                    interp.emit(out, v);
                }
            }
            Some(Resolved::Env(Some(n))) => match interp
                .env
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&n))
                .cloned()
            {
                Some((k, v)) => interp.emit(out, env_entry(&k, &v)),
                None => interp.write_error(
                    ErrorRecord::not_found(&format!("Env:\\{n}"), "GetItem").at(b.span),
                )?,
            },
            Some(Resolved::Env(None)) => return Err(b.unsupported("Get-Item env:").into()),
        }
    }
    Ok(())
}

pub(super) fn list_dir(interp: &Interp, dir: &WinPath) -> (Vec<WinPath>, Vec<WinPath>) {
    let drive = interp.host.drive_c();
    let mut names: Vec<(String, bool)> = match std::fs::read_dir(dir.unix(drive)) {
        Ok(rd) => rd
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.path().is_dir(),
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort_by_key(|(n, _)| n.to_lowercase());
    let dirs = names
        .iter()
        .filter(|(_, d)| *d)
        .map(|(n, _)| dir.join(n))
        .collect();
    let files = names
        .iter()
        .filter(|(_, d)| !*d)
        .map(|(n, _)| dir.join(n))
        .collect();
    (dirs, files)
}

pub(super) fn walk(
    interp: &mut Interp,
    b: &Bound,
    root: &WinPath,
    dir: &WinPath,
    depth: Option<i64>,
    level: i64,
    out: &mut Out,
) {
    let (dirs, files) = list_dir(interp, dir);
    let want_files = !b.switch("Directory");
    let want_dirs = !b.switch("File");
    let recurse = b.switch("Recurse") || depth.is_some();
    for (w, is_dir) in dirs
        .iter()
        .map(|d| (d, true))
        .chain(files.iter().map(|f| (f, false)))
    {
        if (is_dir && !want_dirs) || (!is_dir && !want_files) || !name_filter(b, &w.name()) {
            continue;
        }
        if b.switch("Name") {
            let rel = w.parts[root.parts.len()..].join("\\");
            interp.emit(out, Value::string(rel));
        } else {
            let v = item_value(interp, w);
            interp.emit(out, v);
        }
    }
    if recurse && depth.is_none_or(|d| level < d) {
        for d in dirs {
            walk(interp, b, root, &d, depth, level + 1, out);
        }
    }
}

/// Get-ChildItem.
pub fn get_child_item(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    let mut paths = path_args(b);
    if paths.is_empty() {
        paths.push((".".into(), true));
    }
    let depth = b.int("Depth")?;
    for (path, wild) in paths {
        match resolve_existing(interp, b, &path, wild)? {
            None => {}
            Some(Resolved::Files(items)) => {
                let drive = interp.host.drive_c().to_path_buf();
                for w in items {
                    if w.unix(&drive).is_dir() {
                        walk(interp, b, &w, &w, depth, 0, out);
                    } else if name_filter(b, &w.name()) && !b.switch("Directory") {
                        let v = if b.switch("Name") {
                            Value::string(w.name())
                        } else {
                            item_value(interp, &w)
                        };
                        interp.emit(out, v);
                    }
                }
            }
            Some(Resolved::Registry(h, k)) => {
                for v in registry::child_keys(interp, b, h, &k)? {
                    interp.emit(out, v);
                }
            }
            Some(Resolved::Env(name)) => {
                let mut env = interp.env.clone();
                env.sort_by_key(|(k, _)| k.to_lowercase());
                for (k, v) in env {
                    if name.as_ref().is_none_or(|n| wildcard_match(n, &k, false)) {
                        interp.emit(out, env_entry(&k, &v));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Resolve-Path: PathInfo objects (or relative strings with -Relative).
pub fn resolve_path(interp: &mut Interp, b: &Bound, out: &mut Out) -> Res<()> {
    for (path, wild) in path_args(b) {
        match resolve_existing(interp, b, &path, wild)? {
            None => {}
            Some(Resolved::Files(items)) => {
                if items.is_empty() {
                    interp.write_error(ErrorRecord::not_found(&path, "ResolvePath").at(b.span))?;
                }
                for w in items {
                    if b.switch("Relative") {
                        let base = match winfs::resolve(&interp.cwd, ".") {
                            Ok(Target::File(c)) => c,
                            _ => WinPath::root(),
                        };
                        let common = base
                            .parts
                            .iter()
                            .zip(&w.parts)
                            .take_while(|(a, c)| a.eq_ignore_ascii_case(c))
                            .count();
                        let mut rel = vec!["..".to_string(); base.parts.len() - common];
                        rel.extend(w.parts[common..].iter().cloned());
                        let s = if rel.first().map(|x| x.as_str()) == Some("..") {
                            rel.join("\\")
                        } else {
                            format!(".\\{}", rel.join("\\"))
                        };
                        interp.emit(out, Value::string(s));
                    } else {
                        interp.emit(out, crate::cmdlets::location::path_info(&w.display()));
                    }
                }
            }
            Some(Resolved::Registry(h, k)) => {
                if !interp.host.registry().key_exists(h, &k).unwrap_or(false) {
                    interp.write_error(ErrorRecord::not_found(&path, "ResolvePath").at(b.span))?;
                    continue;
                }
                let drive = if h == crate::host::Hive::LocalMachine {
                    "HKLM:"
                } else {
                    "HKCU:"
                };
                interp.emit(
                    out,
                    crate::cmdlets::location::path_info(&format!("{drive}\\{k}")),
                );
            }
            Some(Resolved::Env(_)) => return Err(b.unsupported("Resolve-Path on env:").into()),
        }
    }
    Ok(())
}
