//! Human and machine renderings of a key tree: a `reg query /s`-like text listing and JSON.
//! Both show what differencing hives add: layer semantics, inherit-class and tombstones.

use std::fmt::Write as _;

use serde_json::{json, Value as Json};

use super::tree::{utf16le_lossy, value_type as t, FileTime, Key, LayerSemantics, Value};

/// The conventional name of a value type, if it has one.
pub fn type_name(kind: u32) -> Option<&'static str> {
    Some(match kind {
        t::REG_NONE => "REG_NONE",
        t::REG_SZ => "REG_SZ",
        t::REG_EXPAND_SZ => "REG_EXPAND_SZ",
        t::REG_BINARY => "REG_BINARY",
        t::REG_DWORD => "REG_DWORD",
        t::REG_DWORD_BIG_ENDIAN => "REG_DWORD_BIG_ENDIAN",
        t::REG_LINK => "REG_LINK",
        t::REG_MULTI_SZ => "REG_MULTI_SZ",
        t::REG_RESOURCE_LIST => "REG_RESOURCE_LIST",
        t::REG_FULL_RESOURCE_DESCRIPTOR => "REG_FULL_RESOURCE_DESCRIPTOR",
        t::REG_RESOURCE_REQUIREMENTS_LIST => "REG_RESOURCE_REQUIREMENTS_LIST",
        t::REG_QWORD => "REG_QWORD",
        _ => return None,
    })
}

fn type_label(kind: u32) -> String {
    type_name(kind).map_or_else(|| format!("0x{kind:x}"), str::to_string)
}

/// Text up to the first NUL of UTF-16LE string data.
fn string_data(data: &[u8]) -> String {
    let text = utf16le_lossy(data);
    match text.find('\0') {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// The value's data as reg.exe shows it.
pub fn data_text(value: &Value) -> String {
    let d = &value.data;
    match value.kind {
        t::REG_SZ | t::REG_EXPAND_SZ | t::REG_LINK => string_data(d),
        t::REG_MULTI_SZ => {
            let text = utf16le_lossy(d);
            let trimmed = text.trim_end_matches('\0');
            trimmed.replace('\0', "\\0")
        }
        t::REG_DWORD if d.len() == 4 => {
            format!("0x{:x}", u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
        }
        t::REG_DWORD_BIG_ENDIAN if d.len() == 4 => {
            format!("0x{:x}", u32::from_be_bytes([d[0], d[1], d[2], d[3]]))
        }
        t::REG_QWORD if d.len() == 8 => {
            format!("0x{:x}", u64::from_le_bytes(d[..8].try_into().unwrap()))
        }
        _ => hex::encode_upper(d),
    }
}

/// Notes a differencing hive adds to a key, e.g. `[tombstone]`, `[supersede-tree, inherit-class]`.
fn layer_note(key: &Key) -> String {
    let mut notes = Vec::new();
    if key.layer != LayerSemantics::Merge {
        notes.push(key.layer.name());
    }
    if key.inherit_class {
        notes.push("inherit-class");
    }
    if key.flags.is_symlink() {
        notes.push("link");
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!("    [{}]", notes.join(", "))
    }
}

/// `reg query KEY /s`-style text of `key` and its subtree; `path` is the key's printed path.
pub fn to_reg_text(key: &Key, path: &str) -> String {
    let mut out = String::new();
    write_reg_text(key, path, &mut out);
    out
}

fn write_reg_text(key: &Key, path: &str, out: &mut String) {
    let _ = writeln!(out, "{path}{}", layer_note(key));
    if let Some(class) = key.class_text() {
        let _ = writeln!(out, "    <class>    {class}");
    }
    for value in key.values() {
        let name = if value.name.is_empty() {
            "(Default)"
        } else {
            &value.name
        };
        if value.tombstone {
            let _ = writeln!(out, "    {name}    [tombstone]");
        } else {
            let _ = writeln!(
                out,
                "    {name}    {}    {}",
                type_label(value.kind),
                data_text(value)
            );
        }
    }
    out.push('\n');
    for child in key.subkeys() {
        let child_path = if path.ends_with('\\') {
            format!("{path}{}", child.name)
        } else {
            format!("{path}\\{}", child.name)
        };
        write_reg_text(child, &child_path, out);
    }
}

/// A FILETIME as RFC 3339 UTC (`1601-01-01T00:00:00Z` for 0).
pub fn filetime_to_rfc3339(ft: FileTime) -> String {
    let total_secs = ft / 10_000_000;
    let frac = ft % 10_000_000;
    let days = (total_secs / 86_400) as i64;
    let secs = total_secs % 86_400;
    // Days since 1601-01-01 → civil date (proleptic Gregorian), via days since 1970-01-01.
    let z = days - 134_774 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{frac:07}Z")
    }
}

/// JSON of `key` and its subtree.
pub fn to_json(key: &Key) -> Json {
    let values: Vec<Json> = key
        .values()
        .map(|v| {
            let mut obj = json!({
                "name": v.name,
                "type": v.kind,
                "type_name": type_name(v.kind),
                "tombstone": v.tombstone,
                "data_hex": hex::encode(&v.data),
            });
            if !v.tombstone {
                obj["text"] = Json::String(data_text(v));
            }
            obj
        })
        .collect();
    json!({
        "name": key.name,
        "last_write": filetime_to_rfc3339(key.last_write),
        "last_write_filetime": key.last_write,
        "flags": key.flags.0,
        "layer": key.layer.name(),
        "inherit_class": key.inherit_class,
        "class": key.class_text(),
        "security_descriptor_hex": key.security.as_deref().map(hex::encode),
        "values": values,
        "subkeys": key.subkeys().map(to_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetimes_render_as_utc() {
        assert_eq!(filetime_to_rfc3339(0), "1601-01-01T00:00:00Z");
        assert_eq!(
            filetime_to_rfc3339(116_444_736_000_000_000),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            filetime_to_rfc3339(132_223_104_000_000_000),
            "2020-01-01T00:00:00Z"
        );
    }

    #[test]
    fn reg_text_shows_tombstones_and_layers() {
        let mut root = Key::new("ROOT");
        let svc = root.create_path(r"Services\Gone");
        svc.layer = LayerSemantics::Tombstone;
        let k = root.create_path(r"Services\Kept");
        k.inherit_class = true;
        k.set_value(Value::tombstone("old"));
        k.set_value(Value::string("", "text"));
        k.set_value(Value::dword("n", 16));
        let text = to_reg_text(&root, r"HKLM\SYSTEM");
        assert!(
            text.contains("HKLM\\SYSTEM\\Services\\Gone    [tombstone]\n"),
            "{text}"
        );
        assert!(
            text.contains("HKLM\\SYSTEM\\Services\\Kept    [inherit-class]\n"),
            "{text}"
        );
        assert!(text.contains("    old    [tombstone]\n"), "{text}");
        assert!(text.contains("    (Default)    REG_SZ    text\n"), "{text}");
        assert!(text.contains("    n    REG_DWORD    0x10\n"), "{text}");
        let json = to_json(&root);
        assert_eq!(json["subkeys"][0]["subkeys"][0]["layer"], "tombstone");
    }
}
