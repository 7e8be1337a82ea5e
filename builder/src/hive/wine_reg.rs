//! The bridge to Wine's text registry: `system.reg`, `userdef.reg` and `user.reg` as wineserver
//! saves them ("WINE REGISTRY Version 2"), parsed into a key tree and written back byte for byte
//! the way wineserver writes them, plus the mapping between Wine's roots and Windows hives
//! (`Software` → SOFTWARE, `System` → SYSTEM with `CurrentControlSet` ⇄ `ControlSet00N`,
//! `userdef.reg` → DEFAULT).
//!
//! Format facts (research `registry-hives.md` §7.2, wineserver `server/registry.c`):
//! - key line `[path] <unix seconds>`; path components joined by `\\`, escaped with `\[`/`\]`;
//! - `#time=<hex FILETIME>` (high part minimal, low part 8 digits), `#class="…"`, `#link`;
//! - keys with only subkeys are *implicit* (never written; they take a descendant's time);
//! - values: `"…"` REG_SZ, `str(N):"…"` for EXPAND_SZ/MULTI_SZ (stored with one extra NUL),
//!   `dword:%08x`, `hex:` REG_BINARY, `hex(N):` any other type; hex lines wrap at 76 columns
//!   with `\` + newline + two spaces.
//! - string escapes: `\\`, the quote characters, `\a \b \t \n \v \f \r \e`, octal for other
//!   control characters, `\x` hex for anything above 127.

use std::cmp::Ordering;
use std::fmt::Write as _;

use super::tree::value_type::{REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_MULTI_SZ, REG_SZ};
use super::tree::{Key, KeyFlags, Value};

/// FILETIME ticks between 1601-01-01 and 1970-01-01.
const TICKS_1601_TO_1970: u64 = 116_444_736_000_000_000;
const TICKS_PER_SEC: u64 = 10_000_000;

/// A parsed Wine registry file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WineRegFile {
    /// What the file's keys are relative to, e.g. `REGISTRY\Machine` (single backslashes).
    pub relative_to: String,
    /// `#arch=` option (`win32`/`win64`), when present.
    pub arch: Option<String>,
    /// The root key; its subkeys are the file's top-level keys.
    pub root: Key,
}

/// A parse error with the line it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct WineRegError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Wine orders subkeys and values in its files by lowercasing each UTF-16 unit (the key tree
/// orders by upper-casing, which differs for `[`, `_`, `` ` `` and friends).
pub fn wine_name_cmp(a: &str, b: &str) -> Ordering {
    let lower = |c: u16| -> u16 {
        match char::from_u32(c as u32) {
            Some(ch) => {
                let mut it = ch.to_lowercase();
                match (it.next(), it.next()) {
                    (Some(l), None) if (l as u32) <= 0xFFFF => l as u32 as u16,
                    _ => c,
                }
            }
            None => c,
        }
    };
    a.encode_utf16().map(lower).cmp(b.encode_utf16().map(lower))
}

/// Whether wineserver writes this key explicitly (values, no subkeys, a class or a link);
/// other keys are implicit in their descendants' paths.
fn written_explicitly(key: &Key) -> bool {
    key.value_count() > 0
        || key.subkey_count() == 0
        || key.class.is_some()
        || key.flags.is_symlink()
}

fn utf16_bytes(units: &[u16]) -> Vec<u8> {
    units.iter().flat_map(|u| u.to_le_bytes()).collect()
}

fn utf16_units(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Parses the text of a Wine registry file. `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<WineRegFile, WineRegError> {
    let err = |line: usize, message: String| WineRegError {
        file: file.to_string(),
        line,
        message,
    };
    let lines = logical_lines(text);
    let mut it = lines.into_iter();
    match it.next() {
        Some((_, first)) if first.trim_end() == "WINE REGISTRY Version 2" => {}
        _ => {
            return Err(err(
                1,
                "not a Wine registry file: the first line must be `WINE REGISTRY Version 2`".into(),
            ))
        }
    }
    let mut relative_to = String::new();
    let mut arch = None;
    let mut root = Key::default();
    // Path (component names) of the key whose values we are reading.
    let mut current: Option<Vec<String>> = None;
    // Keys created implicitly by a descendant's key line take that line's whole-second time,
    // as wineserver's `create_key_recursive` does; they are never written back.
    for (line_no, line) in it {
        let line = line.as_str();
        if let Some(rest) = line.strip_prefix(";; All keys relative to ") {
            relative_to = unescape(rest.trim_end(), line_no, file)?.replace("\\\\", "\\");
            continue;
        }
        if line.trim().is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("#arch=") {
            arch = Some(rest.trim().to_string());
            continue;
        }
        if line.starts_with('[') {
            let (path, secs) = parse_key_line(line, line_no, file)?;
            let time = secs
                .map(|s| s * TICKS_PER_SEC + TICKS_1601_TO_1970)
                .unwrap_or(0);
            let mut key = &mut root;
            for comp in &path {
                let created = key.subkey(comp).is_none();
                key = key.subkey_or_insert(comp);
                if created {
                    key.last_write = time;
                }
            }
            key.last_write = time;
            current = Some(path);
            continue;
        }
        let Some(path) = current.as_ref() else {
            return Err(err(
                line_no,
                format!("value or option before any key: {line}"),
            ));
        };
        let mut key = &mut root;
        for comp in path {
            key = key.subkey_or_insert(comp);
        }
        if let Some(rest) = line.strip_prefix("#time=") {
            key.last_write = u64::from_str_radix(rest.trim(), 16)
                .map_err(|_| err(line_no, format!("bad #time value `{}`", rest.trim())))?;
        } else if let Some(rest) = line.strip_prefix("#class=") {
            let (class, _) = quoted_units(rest, line_no, file)?;
            key.class = Some(utf16_bytes(&class));
        } else if line.trim_end() == "#link" {
            key.flags.set(KeyFlags::SYM_LINK, true);
        } else if line.starts_with('#') {
            // Unknown options are ignored, as wineserver does.
        } else {
            let value = parse_value_line(line, line_no, file)?;
            key.set_value(value);
        }
    }
    fix_implicit_times(&mut root);
    Ok(WineRegFile {
        relative_to,
        arch,
        root,
    })
}

/// Implicit keys (time 0) take the time of their first descendant with a time.
fn fix_implicit_times(key: &mut Key) -> u64 {
    let mut first = 0;
    for sub in key.subkeys_mut() {
        let t = fix_implicit_times(sub);
        if first == 0 {
            first = t;
        }
    }
    if key.last_write == 0 {
        key.last_write = first;
    }
    key.last_write
}

/// Joins continuation lines (a trailing `\` continues on the next line, whose leading blanks
/// are dropped) and numbers each logical line by its first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let (no, mut buf) = match pending.take() {
            Some((no, mut buf)) => {
                buf.push_str(raw.trim_start_matches([' ', '\t']));
                (no, buf)
            }
            None => (i + 1, raw.to_string()),
        };
        if buf.ends_with('\\') {
            buf.pop();
            pending = Some((no, buf));
        } else {
            out.push((no, buf));
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

/// `[a\\b\\c] 12345` → (["a","b","c"], Some(12345)).
fn parse_key_line(
    line: &str,
    line_no: usize,
    file: &str,
) -> Result<(Vec<String>, Option<u64>), WineRegError> {
    let body = &line[1..];
    // Find the closing `]` that is not escaped.
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut close = None;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b']' => {
                close = Some(i);
                break;
            }
            _ => i += 1,
        }
    }
    let close = close.ok_or_else(|| WineRegError {
        file: file.to_string(),
        line: line_no,
        message: "key line without a closing `]`".into(),
    })?;
    let raw_path = &body[..close];
    let mut comps = Vec::new();
    for part in split_path(raw_path) {
        if part.is_empty() {
            continue;
        }
        comps.push(unescape(part, line_no, file)?);
    }
    let secs = body[close + 1..].trim();
    let secs = if secs.is_empty() {
        None
    } else {
        Some(secs.parse::<u64>().map_err(|_| WineRegError {
            file: file.to_string(),
            line: line_no,
            message: format!("bad key time `{secs}`"),
        })?)
    };
    Ok((comps, secs))
}

/// Splits an escaped key path at `\\` separators (an escaped backslash pair), leaving other
/// escapes for `unescape`.
fn split_path(raw: &str) -> Vec<&str> {
    let bytes = raw.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if i + 1 < bytes.len() && bytes[i + 1] == b'\\' {
                parts.push(&raw[start..i]);
                i += 2;
                start = i;
            } else {
                i += 2;
            }
        } else {
            i += 1;
        }
    }
    parts.push(&raw[start.min(raw.len())..]);
    parts
}

/// Undoes dump_strW's escapes (parse_strW). Raw UTF-8 is accepted as is.
fn unescape(s: &str, line_no: usize, file: &str) -> Result<String, WineRegError> {
    let units = unescape_units(s);
    String::from_utf16(&units).map_err(|_| WineRegError {
        file: file.to_string(),
        line: line_no,
        message: format!("name or string holds an unpaired UTF-16 surrogate: {s}"),
    })
}

fn unescape_units(s: &str) -> Vec<u16> {
    let chars: Vec<char> = s.chars().collect();
    let mut out: Vec<u16> = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 == chars.len() {
            let mut buf = [0u16; 2];
            out.extend_from_slice(c.encode_utf16(&mut buf));
            i += 1;
            continue;
        }
        let e = chars[i + 1];
        i += 2;
        let simple = match e {
            'a' => Some(7),
            'b' => Some(8),
            'e' => Some(27),
            'f' => Some(12),
            'n' => Some(10),
            'r' => Some(13),
            't' => Some(9),
            'v' => Some(11),
            _ => None,
        };
        if let Some(v) = simple {
            out.push(v);
        } else if e == 'x' {
            let mut v: u32 = 0;
            let mut n = 0;
            while n < 4 && i < chars.len() && chars[i].is_ascii_hexdigit() {
                v = v * 16 + chars[i].to_digit(16).unwrap_or(0);
                i += 1;
                n += 1;
            }
            out.push(v as u16);
        } else if ('0'..='7').contains(&e) {
            let mut v: u32 = e.to_digit(8).unwrap_or(0);
            let mut n = 1;
            while n < 3 && i < chars.len() && ('0'..='7').contains(&chars[i]) {
                v = v * 8 + chars[i].to_digit(8).unwrap_or(0);
                i += 1;
                n += 1;
            }
            out.push(v as u16);
        } else {
            let mut buf = [0u16; 2];
            out.extend_from_slice(e.encode_utf16(&mut buf));
        }
    }
    out
}

/// Parses `"…"` at the start of `s`: returns the unescaped text and the rest after the quote.
fn parse_quoted<'a>(
    s: &'a str,
    line_no: usize,
    file: &str,
) -> Result<(String, &'a str), WineRegError> {
    let units = quoted_units(s, line_no, file)?;
    let text = String::from_utf16(&units.0).map_err(|_| WineRegError {
        file: file.to_string(),
        line: line_no,
        message: "string holds an unpaired UTF-16 surrogate".into(),
    })?;
    Ok((text, units.1))
}

fn quoted_units<'a>(
    s: &'a str,
    line_no: usize,
    file: &str,
) -> Result<(Vec<u16>, &'a str), WineRegError> {
    let bad = |m: &str| WineRegError {
        file: file.to_string(),
        line: line_no,
        message: m.to_string(),
    };
    let inner = s.strip_prefix('"').ok_or_else(|| bad("expected `\"`"))?;
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Ok((unescape_units(&inner[..i]), &inner[i + 1..])),
            _ => i += 1,
        }
    }
    Err(bad("unterminated string"))
}

fn parse_value_line(line: &str, line_no: usize, file: &str) -> Result<Value, WineRegError> {
    let bad = |m: String| WineRegError {
        file: file.to_string(),
        line: line_no,
        message: m,
    };
    let (name, rest) = if let Some(rest) = line.strip_prefix('@') {
        (String::new(), rest)
    } else if line.starts_with('"') {
        parse_quoted(line, line_no, file)?
    } else {
        return Err(bad(format!("unrecognised line: {line}")));
    };
    let rest = rest
        .strip_prefix('=')
        .ok_or_else(|| bad(format!("expected `=` after the value name: {line}")))?;
    let string_data = |units: Vec<u16>| -> Vec<u8> {
        let mut data = utf16_bytes(&units);
        data.extend_from_slice(&[0, 0]);
        data
    };
    if rest.starts_with('"') {
        let (units, _) = quoted_units(rest, line_no, file)?;
        return Ok(Value::new(name, REG_SZ, string_data(units)));
    }
    if let Some(r) = rest.strip_prefix("str(") {
        let close = r
            .find("):")
            .ok_or_else(|| bad(format!("bad str() value: {line}")))?;
        let value_type = u32::from_str_radix(&r[..close], 16)
            .map_err(|_| bad(format!("bad str() type: {line}")))?;
        let (units, _) = quoted_units(&r[close + 2..], line_no, file)?;
        return Ok(Value::new(name, value_type, string_data(units)));
    }
    if let Some(r) = rest.strip_prefix("dword:") {
        let v = u32::from_str_radix(r.trim(), 16)
            .map_err(|_| bad(format!("bad dword value: {line}")))?;
        return Ok(Value::new(name, REG_DWORD, v.to_le_bytes().to_vec()));
    }
    let (value_type, hex) = if let Some(r) = rest.strip_prefix("hex:") {
        (REG_BINARY, r)
    } else if let Some(r) = rest.strip_prefix("hex(") {
        let close = r
            .find("):")
            .ok_or_else(|| bad(format!("bad hex() value: {line}")))?;
        let t = u32::from_str_radix(&r[..close], 16)
            .map_err(|_| bad(format!("bad hex() type: {line}")))?;
        (t, &r[close + 2..])
    } else {
        return Err(bad(format!("unknown value format: {line}")));
    };
    let mut data = Vec::with_capacity(hex.len() / 3 + 1);
    for byte in hex.split(',') {
        let byte = byte.trim();
        if byte.is_empty() {
            continue;
        }
        data.push(u8::from_str_radix(byte, 16).map_err(|_| bad(format!("bad hex byte `{byte}`")))?);
    }
    Ok(Value::new(name, value_type, data))
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Writes a registry file exactly as wineserver saves one.
pub fn write(file: &WineRegFile) -> String {
    let mut out = String::with_capacity(1 << 20);
    out.push_str("WINE REGISTRY Version 2\n;; All keys relative to ");
    out.push_str(&file.relative_to.replace('\\', "\\\\"));
    out.push('\n');
    if let Some(arch) = &file.arch {
        let _ = write!(out, "\n#arch={arch}\n");
    }
    let mut path = Vec::new();
    for sub in wine_ordered_subkeys(&file.root) {
        write_key(sub, &mut path, &mut out);
    }
    out
}

fn wine_ordered_subkeys(key: &Key) -> Vec<&Key> {
    let mut subkeys: Vec<&Key> = key.subkeys().collect();
    subkeys.sort_by(|a, b| wine_name_cmp(&a.name, &b.name));
    subkeys
}

fn write_key<'a>(key: &'a Key, path: &mut Vec<&'a str>, out: &mut String) {
    path.push(&key.name);
    if written_explicitly(key) {
        out.push_str("\n[");
        for (i, comp) in path.iter().enumerate() {
            if i > 0 {
                out.push_str("\\\\");
            }
            escape_into(
                comp.encode_utf16().collect::<Vec<_>>().as_slice(),
                "[]",
                out,
            );
        }
        let secs = key.last_write.saturating_sub(TICKS_1601_TO_1970) / TICKS_PER_SEC;
        let _ = write!(
            out,
            "] {}\n#time={:x}{:08x}\n",
            secs as u32,
            (key.last_write >> 32) as u32,
            key.last_write as u32
        );
        if let Some(class) = &key.class {
            out.push_str("#class=\"");
            escape_into(&utf16_units(class), "\"\"", out);
            out.push_str("\"\n");
        }
        if key.flags.is_symlink() {
            out.push_str("#link\n");
        }
        let mut values: Vec<&Value> = key.values().filter(|v| !v.tombstone).collect();
        values.sort_by(|a, b| wine_name_cmp(&a.name, &b.name));
        for v in values {
            write_value(v, out);
        }
    }
    for sub in wine_ordered_subkeys(key) {
        write_key(sub, path, out);
    }
    path.pop();
}

fn write_value(value: &Value, out: &mut String) {
    let start = out.len();
    if value.name.is_empty() {
        out.push_str("@=");
    } else {
        out.push('"');
        escape_into(&value.name.encode_utf16().collect::<Vec<_>>(), "\"\"", out);
        out.push_str("\"=");
    }
    let data = &value.data;
    match value.kind {
        REG_SZ | REG_EXPAND_SZ | REG_MULTI_SZ
            if data.len() >= 2
                && data.len().is_multiple_of(2)
                && data[data.len() - 2..] == [0, 0] =>
        {
            if value.kind != REG_SZ {
                let _ = write!(out, "str({:x}):", value.kind);
            }
            out.push('"');
            escape_into(&utf16_units(data), "\"\"", out);
            out.push_str("\"\n");
            return;
        }
        REG_DWORD if data.len() == 4 => {
            let v = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            let _ = writeln!(out, "dword:{v:08x}");
            return;
        }
        _ => {}
    }
    if value.kind == REG_BINARY {
        out.push_str("hex:");
    } else {
        let _ = write!(out, "hex({:x}):", value.kind);
    }
    // wineserver counts columns from the start of the line and wraps after 76.
    let mut count = out.len() - start;
    for (i, b) in data.iter().enumerate() {
        let _ = write!(out, "{b:02x}");
        count += 2;
        if i + 1 < data.len() {
            out.push(',');
            count += 1;
            if count > 76 {
                out.push_str("\\\n  ");
                count = 2;
            }
        }
    }
    out.push('\n');
}

/// dump_strW: escapes UTF-16 units; a terminating NUL (the last unit) is not written.
fn escape_into(units: &[u16], quotes: &str, out: &mut String) {
    const ESCAPES: &[u8; 32] = b".......abtnvfr.............e....";
    let q: Vec<u16> = quotes.encode_utf16().collect();
    let len = units.len();
    let mut i = 0;
    while i < len {
        let c = units[i];
        let next = units.get(i + 1).copied();
        if c > 127 {
            // Keep surrogate pairs and other non-ASCII as \x escapes, as wineserver does.
            if next.is_some_and(|n| n < 128 && (n as u8).is_ascii_hexdigit()) {
                let _ = write!(out, "\\x{c:04x}");
            } else {
                let _ = write!(out, "\\x{c:x}");
            }
        } else if c < 32 {
            if c == 0 && i + 1 == len {
                // terminating NUL
            } else if ESCAPES[c as usize] != b'.' {
                out.push('\\');
                out.push(ESCAPES[c as usize] as char);
            } else if next.is_some_and(|n| (b'0' as u16..=b'7' as u16).contains(&n)) {
                let _ = write!(out, "\\{c:03o}");
            } else {
                let _ = write!(out, "\\{c:o}");
            }
        } else {
            if c == b'\\' as u16 || q.contains(&c) {
                out.push('\\');
            }
            out.push(c as u8 as char);
        }
        i += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Mapping between Wine's roots and Windows hives

/// Wine's machine root key names (children of `REGISTRY\Machine` in `system.reg`).
pub const MACHINE_SOFTWARE: &str = "Software";
pub const MACHINE_SYSTEM: &str = "System";

/// The control set `Select\Current` names in a SYSTEM hive (1 when missing or malformed).
pub fn current_control_set(system: &Key) -> u32 {
    system
        .find("Select")
        .and_then(|k| k.value("Current"))
        .filter(|v| v.kind == REG_DWORD && v.data.len() == 4)
        .map(|v| u32::from_le_bytes([v.data[0], v.data[1], v.data[2], v.data[3]]))
        .filter(|&n| (1..=999).contains(&n))
        .unwrap_or(1)
}

fn control_set_name(n: u32) -> String {
    format!("ControlSet{n:03}")
}

fn rename_subkey(parent: &mut Key, from: &str, to: &str) {
    if let Some(mut key) = parent.remove_subkey(from) {
        key.name = to.to_string();
        parent.insert_subkey(key);
    }
}

/// Turns Wine's `System` key into a SYSTEM hive root: Wine 8 keeps `CurrentControlSet` as a
/// real key, Windows keeps `ControlSet00N` (and a volatile link); the key is renamed.
pub fn wine_system_to_hive(mut system: Key) -> Key {
    let n = current_control_set(&system);
    rename_subkey(&mut system, "CurrentControlSet", &control_set_name(n));
    system
}

/// The inverse of [`wine_system_to_hive`]: `ControlSet00<Current>` becomes `CurrentControlSet`.
pub fn hive_system_to_wine(mut system: Key) -> Key {
    let n = current_control_set(&system);
    rename_subkey(&mut system, &control_set_name(n), "CurrentControlSet");
    system
}

/// The machine part of a Wine registry (`system.reg`) split into Windows hives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MachineHives {
    /// `Software` → the SOFTWARE hive's root.
    pub software: Key,
    /// `System` → the SYSTEM hive's root (`CurrentControlSet` → `ControlSet00N`).
    pub system: Key,
    /// Any other top-level keys Wine saved (none in Wine 8; kept so nothing is lost).
    pub other: Vec<Key>,
}

/// Splits `system.reg`'s root into hive roots (each named `ROOT`, as in container deltas).
pub fn machine_to_hives(mut machine: Key) -> MachineHives {
    let take = |machine: &mut Key, name: &str| {
        let mut key = machine.remove_subkey(name).unwrap_or_default();
        key.name = "ROOT".to_string();
        key
    };
    let software = take(&mut machine, MACHINE_SOFTWARE);
    let system = wine_system_to_hive(take(&mut machine, MACHINE_SYSTEM));
    MachineHives {
        software,
        system,
        other: machine.take_subkeys(),
    }
}

/// The inverse of [`machine_to_hives`]: a `system.reg` root from hive roots.
pub fn hives_to_machine(hives: MachineHives) -> Key {
    let mut machine = Key::default();
    let mut software = hives.software;
    software.name = MACHINE_SOFTWARE.to_string();
    let mut system = hive_system_to_wine(hives.system);
    system.name = MACHINE_SYSTEM.to_string();
    machine.insert_subkey(software);
    machine.insert_subkey(system);
    for key in hives.other {
        machine.insert_subkey(key);
    }
    machine
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"WINE REGISTRY Version 2
;; All keys relative to REGISTRY\\Machine

#arch=win64

[Software\\A\\B] 1795818463
#time=1dd7ebe8576eb60
@=dword:00000010
"b"=hex:01,02
"e"=str(2):"%x%"
"m"=str(7):"a\0b\0"
"n"=hex(0):
"odd"=hex(1):41,00,42
"q"=hex(b):01,02,03,04,05,06,07,08
"s"="x\\y\"q\xe9z\x00e9f"

[Software\\A\\C\[x\]] 1795818463
#time=1dd7ebe8576eb60
#class="cls"
#link
"SymbolicLinkValue"=hex(6):5c,00,52,00,65,00,67,00,69,00,73,00,74,00,72,00,79,\
  00,5c,00,4d,00,61,00,63,00,68,00,69,00,6e,00,65,00,5c,00,53,00,6f,00,66,00,\
  74,00,77,00

[System\\CurrentControlSet\\Control] 1795818463
#time=1dd7ebe8576eb60
"t"="\t\1\0012"

[System\\Select] 1795818463
#time=1dd7ebe8576eb60
"Current"=dword:00000001
"#;

    #[test]
    fn sample_round_trips_byte_for_byte() {
        let f = parse(SAMPLE, "sample").unwrap();
        assert_eq!(f.relative_to, "REGISTRY\\Machine");
        let b = f.root.find("Software\\A\\B").unwrap();
        assert_eq!(b.value_count(), 8);
        let s = b.value("s").unwrap();
        let text = utf16_units(&s.data);
        assert_eq!(
            String::from_utf16(&text).unwrap(),
            "x\\y\"q\u{e9}z\u{e9}f\0"
        );
        assert_eq!(b.value("m").unwrap().data, b"a\0\0\0b\0\0\0\0\0".to_vec());
        assert_eq!(b.value("").unwrap().data, vec![16, 0, 0, 0]);
        let c = f.root.find("Software\\A\\C[x]").unwrap();
        assert!(c.flags.is_symlink());
        assert_eq!(c.class_text().as_deref(), Some("cls"));
        // Implicit keys take the (whole-second) time of the key line that created them.
        assert_eq!(
            f.root.find("software\\a").unwrap().last_write,
            1795818463 * TICKS_PER_SEC + TICKS_1601_TO_1970
        );
        assert_eq!(
            f.root.find("software\\a\\b").unwrap().last_write,
            0x1dd7ebe8576eb60
        );
        assert_eq!(write(&f), SAMPLE);
    }

    #[test]
    fn control_set_mapping_round_trips() {
        let f = parse(SAMPLE, "sample").unwrap();
        let sys = f.root.subkey("System").unwrap().clone();
        let hive = wine_system_to_hive(sys.clone());
        assert!(hive.subkey("ControlSet001").is_some());
        assert!(hive.subkey("CurrentControlSet").is_none());
        assert_eq!(hive_system_to_wine(hive), sys);
        let hives = machine_to_hives(f.root.clone());
        assert!(hives.software.find("A\\B").is_some());
        assert!(hives.system.find("ControlSet001\\Control").is_some());
        assert_eq!(
            write(&WineRegFile {
                root: hives_to_machine(hives),
                ..f.clone()
            }),
            SAMPLE
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("WINE REGISTRY Version 2\n\n[A] 1\n\"v\"=zz:1\n", "f.reg").unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.to_string().starts_with("f.reg:4:"), "{e}");
        assert!(parse("REGEDIT4\n", "x").is_err());
    }
}
