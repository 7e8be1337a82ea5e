//! Static members and constructors: `[Type]::Member` reads and writes, static method calls
//! (`[IO.File]`, `[IO.Path]`, `[Environment]`, `[Math]`, …) and `New-Object`/`::new`.

use super::*;

pub(super) fn canon(tname: &str) -> Result<String, ErrorRecord> {
    convert::canonical_type(tname)
        .ok_or_else(|| ErrorRecord::runtime(format!("Unable to find type [{tname}].")))
}

/// `[T]::Name`.
pub fn get_static(interp: &mut Interp, tname: &str, name: &str) -> Res<Value> {
    let t = canon(tname)?;
    if let Some((ename, table, _)) = enum_table(&t) {
        return match table.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, v)) => Ok(Value::Enum(ename, *v)),
            None => Err(ErrorRecord::runtime(format!("[{t}] has no member {name}")).into()),
        };
    }
    let n = name.to_ascii_lowercase();
    Ok(match (t.as_str(), n.as_str()) {
        ("System.Net.ServicePointManager", "securityprotocol") => {
            Value::Enum("System.Net.SecurityProtocolType", interp.security_protocol)
        }
        ("System.Environment", "newline") => Value::str("\r\n"),
        ("System.Environment", "is64bitoperatingsystem")
        | ("System.Environment", "is64bitprocess") => Value::Bool(true),
        ("System.Environment", "machinename") => Value::string(
            interp
                .env_get("COMPUTERNAME")
                .unwrap_or_else(|| "localhost".into()),
        ),
        ("System.Environment", "username") => Value::string(
            interp
                .env_get("USERNAME")
                .unwrap_or_else(|| "ContainerAdministrator".into()),
        ),
        ("System.Environment", "currentdirectory") => Value::string(interp.process_cwd.clone()),
        ("System.Environment", "processorcount") => Value::Int(
            interp
                .env_get("NUMBER_OF_PROCESSORS")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
        ),
        ("System.Environment", "systemdirectory") => Value::str("C:\\Windows\\system32"),
        ("System.Environment", "osversion") => Value::object(
            Object::new(ObjKind::Custom, "System.OperatingSystem")
                .with("Platform", Value::str("Win32NT"))
                .with(
                    "Version",
                    parse_version("10.0.17763.0").unwrap_or(Value::Null),
                )
                .with(
                    "VersionString",
                    Value::str("Microsoft Windows NT 10.0.17763.0"),
                ),
        ),
        ("System.Text.Encoding", "utf8") => encoding("utf8"),
        ("System.Text.Encoding", "unicode") => encoding("unicode"),
        ("System.Text.Encoding", "bigendianunicode") => encoding("bigendianunicode"),
        ("System.Text.Encoding", "ascii") => encoding("ascii"),
        ("System.Text.Encoding", "default") => encoding("default"),
        ("System.Text.Encoding", "utf32") => encoding("utf32"),
        ("System.IO.Path", "directoryseparatorchar") => Value::Char('\\'),
        ("System.IO.Path", "altdirectoryseparatorchar") => Value::Char('/'),
        ("System.IO.Path", "pathseparator") => Value::Char(';'),
        ("System.Math", "pi") => Value::Double(std::f64::consts::PI),
        ("System.Math", "e") => Value::Double(std::f64::consts::E),
        ("System.Int32", "maxvalue") => Value::Int(i32::MAX),
        ("System.Int32", "minvalue") => Value::Int(i32::MIN),
        ("System.Int64", "maxvalue") => Value::Long(i64::MAX),
        ("System.Int64", "minvalue") => Value::Long(i64::MIN),
        ("System.Double", "maxvalue") => Value::Double(f64::MAX),
        ("System.String", "empty") => Value::str(""),
        ("System.DateTime", "now") => now(),
        ("System.DateTime", "utcnow") => now(),
        ("System.DateTime", "today") => {
            let n = now();
            let Value::Object(o) = &n else { return Ok(n) };
            let t = dt_field(&o.borrow(), "Ticks");
            datetime_from_ticks(t - t.rem_euclid(86400 * TICKS_PER_SEC))
        }
        ("System.Guid", "empty") => Value::str("00000000-0000-0000-0000-000000000000"),
        _ => {
            return Err(ErrorRecord::runtime(format!(
                "The .NET member [{t}]::{name} is not supported by this engine"
            ))
            .into())
        }
    })
}

/// `[T]::Name = value`.
pub fn set_static(
    interp: &mut Interp,
    tname: &str,
    name: &str,
    value: Value,
) -> Result<(), ErrorRecord> {
    let t = canon(tname)?;
    match (t.as_str(), name.to_ascii_lowercase().as_str()) {
        ("System.Net.ServicePointManager", "securityprotocol") => {
            match convert_to_enum(&value, "System.Net.SecurityProtocolType") {
                Some(Ok(Value::Enum(_, n))) => interp.security_protocol = n,
                Some(Err(e)) => return Err(ErrorRecord::runtime(format!("Exception setting \"SecurityProtocol\": \"{e}\""))),
                _ => return Err(ErrorRecord::runtime("Exception setting \"SecurityProtocol\"")),
            }
            Ok(())
        }
        ("System.Net.ServicePointManager", "servercertificatevalidationcallback") => Err(ErrorRecord::runtime(
            "[Net.ServicePointManager]::ServerCertificateValidationCallback is not supported: the host's TLS stack decides (use --runtime hcs on Windows)",
        )),
        ("System.Environment", "currentdirectory") => {
            interp.process_cwd = to_string(&value);
            Ok(())
        }
        _ => Err(ErrorRecord::runtime(format!("The .NET member [{t}]::{name} cannot be set by this engine"))),
    }
}

pub(super) fn file_target(interp: &Interp, p: &str) -> Result<crate::winfs::WinPath, ErrorRecord> {
    let full = if p.contains(':') || p.starts_with(['\\', '/']) {
        p.to_string()
    } else {
        // .NET resolves relative paths against the process directory, which PowerShell does not
        // move with Set-Location; the engine's process directory is the initial location.
        format!("{}\\{}", interp.process_cwd.trim_end_matches('\\'), p)
    };
    match crate::winfs::resolve(&interp.process_cwd, &full) {
        Ok(crate::winfs::Target::File(w)) => Ok(w),
        Ok(_) => Err(err(format!(
            "The given path's format is not supported: {p}"
        ))),
        Err(e) => Err(err(e.0)),
    }
}

pub(super) fn io_exc(method: &str, argc: usize, e: &std::io::Error, path: &str) -> ErrorRecord {
    match e.kind() {
        std::io::ErrorKind::NotFound => method_exc(
            method,
            argc,
            "System.IO.FileNotFoundException",
            &format!("Could not find file '{path}'."),
        ),
        std::io::ErrorKind::PermissionDenied => method_exc(
            method,
            argc,
            "System.UnauthorizedAccessException",
            &format!("Access to the path '{path}' is denied."),
        ),
        _ => method_exc(
            method,
            argc,
            "System.IO.IOException",
            &format!("{e}: {path}"),
        ),
    }
}

/// `[T]::Method(args)`.
pub fn invoke_static(interp: &mut Interp, tname: &str, name: &str, args: Vec<Value>) -> Res<Value> {
    let t = canon(tname)?;
    let n = name.to_ascii_lowercase();
    let drive = interp.host.drive_c().to_path_buf();
    let argc = args.len();
    let r: Result<Value, ErrorRecord> = match (t.as_str(), n.as_str()) {
        ("System.Environment", "setenvironmentvariable") => set_env(interp, &args),
        ("System.Environment", "getenvironmentvariable") => get_env(interp, &args),
        ("System.Environment", "getenvironmentvariables") => {
            let mut h = Hashtable::new(false);
            for (k, v) in &interp.env {
                h.set(Value::str(k), Value::str(v));
            }
            Ok(Value::hashtable(h))
        }
        ("System.Environment", "expandenvironmentvariables") => Ok(Value::string(expand_env(interp, &sarg(&args, 0)))),
        ("System.Environment", "getfolderpath") => {
            let n = match convert_to_enum(&arg(&args, 0), "System.Environment+SpecialFolder") {
                Some(Ok(Value::Enum(_, n))) => n,
                _ => return Err(err("unknown special folder").into()),
            };
            Ok(Value::string(special_folder(interp, n)))
        }
        ("System.Convert", "frombase64string") => {
            use base64::Engine;
            let s: String = sarg(&args, 0).chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(|b| Value::bytes(&b))
                .map_err(|_| method_exc("FromBase64String", argc, "System.FormatException", "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. "))
        }
        ("System.Convert", "tobase64string") => {
            use base64::Engine;
            bytes_of(&arg(&args, 0)).map(|b| Value::string(base64::engine::general_purpose::STANDARD.encode(b)))
        }
        ("System.Convert", "toint32") if args.len() == 2 => {
            let base = convert::to_i64(&args[1]).unwrap_or(10) as u32;
            i64::from_str_radix(sarg(&args, 0).trim().trim_start_matches("0x"), base)
                .map(|n| Value::Int(n as i32))
                .map_err(|_| method_exc("ToInt32", argc, "System.FormatException", "Could not find any recognizable digits."))
        }
        ("System.Convert", "toint32") => convert::convert_to(&arg(&args, 0), "System.Int32").map_err(|e| err(e.0)),
        ("System.Convert", "tostring") => Ok(Value::string(to_string(&arg(&args, 0)))),
        ("System.Convert", "toboolean") => Ok(Value::Bool(to_bool(&arg(&args, 0)))),
        ("System.IO.Path", "combine") => {
            let mut acc = String::new();
            for a in &args {
                for p in a.clone().into_items() {
                    let p = to_string(&p);
                    if p.is_empty() {
                        continue;
                    }
                    if p.starts_with(['\\', '/']) || p.contains(':') || acc.is_empty() {
                        acc = p;
                    } else if acc.ends_with(['\\', '/', ':']) {
                        acc.push_str(&p);
                    } else {
                        acc.push('\\');
                        acc.push_str(&p);
                    }
                }
            }
            Ok(Value::string(acc))
        }
        ("System.IO.Path", "getfilename") => {
            let p = sarg(&args, 0);
            Ok(Value::string(p.rsplit(['\\', '/']).next().unwrap_or("").to_string()))
        }
        ("System.IO.Path", "getfilenamewithoutextension") => {
            let p = sarg(&args, 0);
            let f = p.rsplit(['\\', '/']).next().unwrap_or("");
            Ok(Value::string(match f.rfind('.') {
                Some(i) => f[..i].to_string(),
                None => f.to_string(),
            }))
        }
        ("System.IO.Path", "getextension") => {
            let p = sarg(&args, 0);
            let f = p.rsplit(['\\', '/']).next().unwrap_or("");
            Ok(Value::string(match f.rfind('.') {
                Some(i) if i + 1 < f.len() => f[i..].to_string(),
                _ => String::new(),
            }))
        }
        ("System.IO.Path", "getdirectoryname") => {
            let p = sarg(&args, 0);
            match p.rfind(['\\', '/']) {
                Some(i) if p[..i].ends_with(':') || i == 2 && p.as_bytes().get(1) == Some(&b':') => {
                    if p.len() <= 3 { Ok(Value::Null) } else { Ok(Value::string(p[..=i].to_string())) }
                }
                Some(i) => Ok(Value::string(p[..i].replace('/', "\\"))),
                None => Ok(Value::str("")),
            }
        }
        ("System.IO.Path", "gettemppath") => {
            let tmp = interp.env_get("TEMP").unwrap_or_else(|| "C:\\Users\\ContainerAdministrator\\AppData\\Local\\Temp".into());
            Ok(Value::string(format!("{}\\", tmp.trim_end_matches('\\'))))
        }
        ("System.IO.Path", "gettempfilename") => Err(err("[IO.Path]::GetTempFileName is not supported by this engine (it creates a file with a random name)")),
        ("System.IO.Path", "getfullpath") => file_target(interp, &sarg(&args, 0)).map(|w| Value::string(w.display())),
        ("System.IO.Path", "ispathrooted") => {
            let p = sarg(&args, 0);
            Ok(Value::Bool(p.starts_with(['\\', '/']) || p.get(1..2) == Some(":")))
        }
        ("System.IO.File", "exists") => {
            let w = file_target(interp, &sarg(&args, 0));
            Ok(Value::Bool(w.map(|w| w.unix(&drive).is_file()).unwrap_or(false)))
        }
        ("System.IO.Directory", "exists") => {
            let w = file_target(interp, &sarg(&args, 0));
            Ok(Value::Bool(w.map(|w| w.unix(&drive).is_dir()).unwrap_or(false)))
        }
        ("System.IO.File", "readalltext") => {
            let p = sarg(&args, 0);
            let w = file_target(interp, &p)?;
            match std::fs::read(w.unix(&drive)) {
                Ok(b) => Ok(Value::string(match args.get(1).and_then(encoding_name) {
                    Some(e) => decode(&e, &b),
                    None => crate::cmdlets::content::decode_text(&b),
                })),
                Err(e) => Err(io_exc("ReadAllText", argc, &e, &w.display())),
            }
        }
        ("System.IO.File", "readalllines") => {
            let p = sarg(&args, 0);
            let w = file_target(interp, &p)?;
            match std::fs::read(w.unix(&drive)) {
                Ok(b) => {
                    let text = crate::cmdlets::content::decode_text(&b);
                    Ok(Value::array(crate::cmdlets::content::split_lines(&text).into_iter().map(Value::string).collect()))
                }
                Err(e) => Err(io_exc("ReadAllLines", argc, &e, &w.display())),
            }
        }
        ("System.IO.File", "readallbytes") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            std::fs::read(w.unix(&drive)).map(|b| Value::bytes(&b)).map_err(|e| io_exc("ReadAllBytes", argc, &e, &w.display()))
        }
        ("System.IO.File", "writealltext") | ("System.IO.File", "appendalltext") | ("System.IO.File", "writealllines") => {
            want(name, &args, &[2, 3])?;
            let w = file_target(interp, &sarg(&args, 0))?;
            let text = if n == "writealllines" {
                let mut s = String::new();
                for l in args[1].clone().into_items() {
                    s.push_str(&to_string(&l));
                    s.push_str("\r\n");
                }
                s
            } else {
                to_string(&args[1])
            };
            // .NET's File.WriteAllText default: UTF-8 without BOM; an explicit UTF8 encoding
            // object writes the BOM (Encoding.UTF8's preamble).
            let (enc, bom) = match args.get(2).and_then(encoding_name) {
                Some(e) if e == "utf8" => ("utf8".to_string(), vec![0xEF, 0xBB, 0xBF]),
                Some(e) if e == "unicode" => (e, vec![0xFF, 0xFE]),
                Some(e) if e == "bigendianunicode" => (e, vec![0xFE, 0xFF]),
                Some(e) => (e, vec![]),
                None => ("utf8".to_string(), vec![]),
            };
            let path = w.unix(&drive);
            let mut data = Vec::new();
            let appending = n == "appendalltext" && path.exists();
            if !appending {
                data.extend(bom);
            }
            data.extend(encode(&enc, &text));
            let r = if appending {
                use std::io::Write;
                std::fs::OpenOptions::new().append(true).open(&path).and_then(|mut f| f.write_all(&data))
            } else {
                std::fs::write(&path, &data)
            };
            r.map(|_| Value::Null).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    method_exc(name, argc, "System.IO.DirectoryNotFoundException", &format!("Could not find a part of the path '{}'.", w.display()))
                } else {
                    io_exc(name, argc, &e, &w.display())
                }
            })
        }
        ("System.IO.File", "writeallbytes") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            let b = bytes_of(&arg(&args, 1))?;
            std::fs::write(w.unix(&drive), b).map(|_| Value::Null).map_err(|e| io_exc("WriteAllBytes", argc, &e, &w.display()))
        }
        ("System.IO.File", "delete") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            let p = w.unix(&drive);
            // File.Delete on a missing file is not an error.
            match std::fs::remove_file(&p) {
                Ok(()) => Ok(Value::Null),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
                Err(e) => Err(io_exc("Delete", argc, &e, &w.display())),
            }
        }
        ("System.IO.File", "copy") => {
            let from = file_target(interp, &sarg(&args, 0))?;
            let to = file_target(interp, &sarg(&args, 1))?;
            let overwrite = args.get(2).map(to_bool).unwrap_or(false);
            let dest = to.unix(&drive);
            if dest.exists() && !overwrite {
                Err(method_exc("Copy", argc, "System.IO.IOException", &format!("The file '{}' already exists.", to.display())))
            } else {
                let _ = std::fs::remove_file(&dest);
                std::fs::copy(from.unix(&drive), &dest).map(|_| Value::Null).map_err(|e| io_exc("Copy", argc, &e, &from.display()))
            }
        }
        ("System.IO.File", "move") => {
            let from = file_target(interp, &sarg(&args, 0))?;
            let to = file_target(interp, &sarg(&args, 1))?;
            std::fs::rename(from.unix(&drive), to.unix(&drive)).map(|_| Value::Null).map_err(|e| io_exc("Move", argc, &e, &from.display()))
        }
        ("System.IO.Directory", "createdirectory") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            std::fs::create_dir_all(w.unix(&drive))
                .map(|_| crate::cmdlets::items::item_value(interp, &w))
                .map_err(|e| io_exc("CreateDirectory", argc, &e, &w.display()))
        }
        ("System.IO.Directory", "move") => {
            want("Move", &args, &[2])?;
            let from = file_target(interp, &sarg(&args, 0))?;
            let to = file_target(interp, &sarg(&args, 1))?;
            let (fu, tu) = (from.unix(&drive), to.unix(&drive));
            if !fu.exists() {
                Err(method_exc("Move", argc, "System.IO.DirectoryNotFoundException", &format!("Could not find a part of the path '{}'.", from.display())))
            } else if tu.exists() {
                Err(method_exc("Move", argc, "System.IO.IOException", "Cannot create a file when that file already exists.\r\n"))
            } else {
                std::fs::rename(&fu, &tu).map(|_| Value::Null).map_err(|e| io_exc("Move", argc, &e, &from.display()))
            }
        }
        ("System.IO.Compression.ZipFile", "extracttodirectory") => {
            want("ExtractToDirectory", &args, &[2])?;
            if !interp.loaded_assemblies.iter().any(|a| a.eq_ignore_ascii_case("System.IO.Compression.FileSystem")) {
                return Err(ErrorRecord::new(
                    "Unable to find type [System.IO.Compression.ZipFile].",
                    "System.Management.Automation.RuntimeException",
                    "InvalidOperation",
                    "TypeNotFound",
                )
                .into());
            }
            let from = file_target(interp, &sarg(&args, 0))?;
            let to = file_target(interp, &sarg(&args, 1))?;
            crate::cmdlets::archive::unzip(&drive, &from, &to, crate::cmdlets::archive::Existing::Fail, &mut Vec::new()).map(|_| Value::Null).map_err(|e| {
                let msg = if e.exists { format!("The file '{}' already exists.", e.message) } else { e.message };
                method_exc("ExtractToDirectory", argc, "System.IO.IOException", &msg)
            })
        }
        ("System.IO.Directory", "delete") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            let recursive = args.get(1).map(to_bool).unwrap_or(false);
            let p = w.unix(&drive);
            let r = if recursive { std::fs::remove_dir_all(&p) } else { std::fs::remove_dir(&p) };
            r.map(|_| Value::Null).map_err(|e| io_exc("Delete", argc, &e, &w.display()))
        }
        ("System.IO.Directory", "getfiles") | ("System.IO.Directory", "getdirectories") => {
            let w = file_target(interp, &sarg(&args, 0))?;
            let want_dirs = n == "getdirectories";
            let pattern = args.get(1).map(to_string).unwrap_or_else(|| "*".into());
            let mut names: Vec<String> = std::fs::read_dir(w.unix(&drive))
                .map_err(|e| io_exc(name, argc, &e, &w.display()))?
                .flatten()
                .filter(|e| e.path().is_dir() == want_dirs)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| crate::ops::wildcard_match(&pattern, n, false))
                .collect();
            names.sort_by_key(|n| n.to_lowercase());
            Ok(Value::array(names.into_iter().map(|n| Value::string(w.join(&n).display())).collect()))
        }
        ("System.String", "isnullorempty") => Ok(Value::Bool(to_string(&arg(&args, 0)).is_empty())),
        ("System.String", "isnullorwhitespace") => Ok(Value::Bool(to_string(&arg(&args, 0)).trim().is_empty())),
        ("System.String", "join") => {
            let sep = sarg(&args, 0);
            let items: Vec<Value> = if args.len() == 2 { args[1].clone().into_items() } else { args[1..].to_vec() };
            Ok(Value::string(items.iter().map(to_string).collect::<Vec<_>>().join(&sep)))
        }
        ("System.String", "format") => {
            let rest: Vec<Value> = if args.len() == 2 { args[1].clone().into_items() } else { args[1..].to_vec() };
            crate::ops::format(&sarg(&args, 0), &rest).map_err(|e| err(e.0))
        }
        ("System.String", "concat") => Ok(Value::string(args.iter().map(to_string).collect())),
        ("System.String", "equals") => Ok(Value::Bool(sarg(&args, 0) == sarg(&args, 1))),
        ("System.String", "compare") => {
            let ic = args.get(2).map(to_bool).unwrap_or(false);
            let (a, b) = if ic { (sarg(&args, 0).to_lowercase(), sarg(&args, 1).to_lowercase()) } else { (sarg(&args, 0), sarg(&args, 1)) };
            Ok(Value::Int(match a.cmp(&b) {
                Ordering::Less => -1,
                Ordering::Equal => 0,
                Ordering::Greater => 1,
            }))
        }
        ("System.Math", _) => math(&n, &args),
        ("System.Int32", "parse") => convert::convert_to(&arg(&args, 0), "System.Int32").map_err(|e| method_exc("Parse", argc, "System.FormatException", &e.0)),
        ("System.Int64", "parse") => convert::convert_to(&arg(&args, 0), "System.Int64").map_err(|e| method_exc("Parse", argc, "System.FormatException", &e.0)),
        ("System.Double", "parse") => convert::convert_to(&arg(&args, 0), "System.Double").map_err(|e| method_exc("Parse", argc, "System.FormatException", &e.0)),
        ("System.Version", "parse") => parse_version(&sarg(&args, 0)).map_err(|e| method_exc("Parse", argc, "System.ArgumentException", &e)),
        ("System.DateTime", "parse") => parse_datetime(&sarg(&args, 0)).map_err(|e| method_exc("Parse", argc, "System.FormatException", &e)),
        ("System.Int32", "tryparse") | ("System.Version", "tryparse") => Err(err(format!("[{t}]::TryParse needs a [ref] argument, which this engine does not support"))),
        ("System.Text.RegularExpressions.Regex", "escape") => Ok(Value::string(regex::escape(&sarg(&args, 0)))),
        ("System.Text.RegularExpressions.Regex", "ismatch") => {
            let re = crate::ops::regex(&sarg(&args, 1), true).map_err(|e| err(e.0))?;
            Ok(Value::Bool(re.is_match(&sarg(&args, 0))))
        }
        ("System.Text.RegularExpressions.Regex", "replace") => {
            crate::ops::replace(&arg(&args, 0), &arg(&args, 1), &arg(&args, 2), true).map_err(|e| err(e.0))
        }
        ("System.Text.RegularExpressions.Regex", "split") => crate::ops::split(&arg(&args, 0), &arg(&args, 1), None, true).map_err(|e| err(e.0)),
        ("System.Guid", "newguid") => Err(err("[Guid]::NewGuid is not supported: a random value would make the layer irreproducible")),
        ("System.Char", "isdigit") => Ok(Value::Bool(sarg(&args, 0).chars().next().is_some_and(|c| c.is_ascii_digit()))),
        ("System.Char", "isletter") => Ok(Value::Bool(sarg(&args, 0).chars().next().is_some_and(|c| c.is_alphabetic()))),
        (_, "new") => return new_object(interp, &t, args),
        _ => Err(ErrorRecord::runtime(format!("The .NET method [{t}]::{name}() is not supported by this engine"))),
    };
    r.map_err(Into::into)
}

pub(super) fn math(n: &str, args: &[Value]) -> Result<Value, ErrorRecord> {
    let f = |i: usize| convert::to_f64(&arg(args, i)).map_err(|e| err(e.0));
    let all_int = args
        .iter()
        .all(|a| matches!(a, Value::Int(_) | Value::Long(_)));
    Ok(match n {
        "abs" if all_int => {
            let x = convert::to_i64(&arg(args, 0)).map_err(|e| err(e.0))?.abs();
            if matches!(arg(args, 0), Value::Int(_)) {
                Value::Int(x as i32)
            } else {
                Value::Long(x)
            }
        }
        "abs" => Value::Double(f(0)?.abs()),
        "max" | "min" if all_int => {
            let a = convert::to_i64(&arg(args, 0)).map_err(|e| err(e.0))?;
            let b = convert::to_i64(&arg(args, 1)).map_err(|e| err(e.0))?;
            let r = if n == "max" { a.max(b) } else { a.min(b) };
            if matches!((arg(args, 0), arg(args, 1)), (Value::Int(_), Value::Int(_))) {
                Value::Int(r as i32)
            } else {
                Value::Long(r)
            }
        }
        "max" => Value::Double(f(0)?.max(f(1)?)),
        "min" => Value::Double(f(0)?.min(f(1)?)),
        "floor" => Value::Double(f(0)?.floor()),
        "ceiling" => Value::Double(f(0)?.ceil()),
        "truncate" => Value::Double(f(0)?.trunc()),
        "round" => {
            let x = f(0)?;
            let digits = if args.len() > 1 {
                convert::to_i64(&args[1]).unwrap_or(0) as i32
            } else {
                0
            };
            let m = 10f64.powi(digits);
            let y = x * m;
            // Banker's rounding (MidpointRounding.ToEven, .NET's default).
            let r = if (y - y.trunc()).abs() == 0.5 {
                2.0 * (y / 2.0).round()
            } else {
                y.round()
            };
            Value::Double(r / m)
        }
        "sqrt" => Value::Double(f(0)?.sqrt()),
        "pow" => Value::Double(f(0)?.powf(f(1)?)),
        "log" => Value::Double(if args.len() > 1 {
            f(0)?.log(f(1)?)
        } else {
            f(0)?.ln()
        }),
        "log10" => Value::Double(f(0)?.log10()),
        "exp" => Value::Double(f(0)?.exp()),
        "sign" => Value::Int(f(0)?.signum() as i32 * i32::from(f(0)? != 0.0)),
        _ => {
            return Err(ErrorRecord::runtime(format!(
                "The .NET method [System.Math]::{n}() is not supported by this engine"
            )))
        }
    })
}

/// `New-Object T args` / `[T]::new(args)`.
pub fn new_object(interp: &mut Interp, tname: &str, args: Vec<Value>) -> Res<Value> {
    let _ = interp;
    let t = canon(tname)?;
    Ok(match t.as_str() {
        "System.Net.WebClient" => Value::object(
            Object::new(ObjKind::WebClient, "System.Net.WebClient")
                .with("Headers", Value::hashtable(Hashtable::new(false)))
                .with("UseDefaultCredentials", Value::Bool(false))
                .with("Encoding", encoding("default")),
        ),
        "System.Collections.ArrayList" | "System.Collections.Generic.List" => {
            let items = match args.first() {
                Some(v) if !v.is_numeric() => v.clone().into_items(),
                _ => Vec::new(),
            };
            Value::object(
                Object::new(
                    ObjKind::List,
                    if t.contains("Generic") {
                        "System.Collections.Generic.List`1"
                    } else {
                        "System.Collections.ArrayList"
                    },
                )
                .with("__items", Value::array(items)),
            )
        }
        "System.Text.StringBuilder" => Value::object(
            Object::new(ObjKind::StringBuilder, "System.Text.StringBuilder").with(
                "__text",
                Value::string(args.first().map(to_string).unwrap_or_default()),
            ),
        ),
        "System.Version" => {
            if args.len() == 1 {
                parse_version(&sarg(&args, 0)).map_err(err)?
            } else {
                let nums: Result<Vec<i32>, _> = args.iter().map(convert::to_i32).collect();
                make_version(&nums.map_err(|e| err(e.0))?)
            }
        }
        "System.Uri" => make_uri(&sarg(&args, 0)).map_err(err)?,
        "System.DateTime" => {
            let g = |i: usize| {
                args.get(i)
                    .and_then(|v| convert::to_i64(v).ok())
                    .unwrap_or(0)
            };
            if args.len() >= 3 {
                let days = days_from_civil(g(0), g(1), g(2));
                datetime_from_ticks(
                    UNIX_EPOCH_TICKS
                        + (days * 86400 + g(3) * 3600 + g(4) * 60 + g(5)) * TICKS_PER_SEC,
                )
            } else {
                return Err(err("new DateTime needs year, month, day").into());
            }
        }
        "System.Object" | "System.Management.Automation.PSCustomObject" => {
            Value::object(Object::new(
                ObjKind::Custom,
                "System.Management.Automation.PSCustomObject",
            ))
        }
        "System.Collections.Hashtable" => Value::hashtable(Hashtable::new(false)),
        "System.Collections.Specialized.OrderedDictionary" => {
            Value::hashtable(Hashtable::new(true))
        }
        "System.Exception"
        | "System.Management.Automation.RuntimeException"
        | "System.IO.IOException"
        | "System.IO.FileNotFoundException"
        | "System.ArgumentException"
        | "System.InvalidOperationException" => Value::object(
            Object::new(ObjKind::Exception, &t).with(
                "Message",
                Value::string(
                    args.first()
                        .map(to_string)
                        .unwrap_or_else(|| format!("Exception of type '{t}' was thrown.")),
                ),
            ),
        ),
        "System.String" => {
            if args.len() == 2 {
                let n = convert::to_i64(&args[1]).map_err(|e| err(e.0))?;
                Value::string(sarg(&args, 0).repeat(n.clamp(0, 1 << 24) as usize))
            } else {
                Value::string(sarg(&args, 0))
            }
        }
        _ => {
            return Err(ErrorRecord::runtime(format!(
                "New-Object {t} is not supported by this engine"
            ))
            .into())
        }
    })
}
