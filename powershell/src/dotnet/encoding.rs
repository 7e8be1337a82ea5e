//! Text encodings (`[Text.Encoding]::UTF8`, `-Encoding` names): encoding and decoding bytes as
//! .NET does, byte order marks included.

use super::*;

/// An encoding object (`[Text.Encoding]::UTF8`); `name` is one of utf8, unicode, bigendianunicode,
/// ascii, default, utf32, utf8nobom.
pub fn encoding(name: &str) -> Value {
    let tn = match name {
        "utf8" | "utf8nobom" => "System.Text.UTF8Encoding",
        "unicode" | "bigendianunicode" => "System.Text.UnicodeEncoding",
        "ascii" => "System.Text.ASCIIEncoding",
        "utf32" => "System.Text.UTF32Encoding",
        _ => "System.Text.SBCSCodePageEncoding",
    };
    let web = match name {
        "utf8" | "utf8nobom" => "utf-8",
        "unicode" => "utf-16",
        "bigendianunicode" => "utf-16BE",
        "ascii" => "us-ascii",
        "utf32" => "utf-32",
        _ => "Windows-1252",
    };
    Value::object(
        Object::new(ObjKind::Encoding, tn)
            .with("Name", Value::str(name))
            .with("WebName", Value::str(web))
            .with("EncodingName", Value::str(web)),
    )
}

/// The encoding name of an encoding value or of an `-Encoding` argument.
pub fn encoding_name(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) if o.borrow().kind == ObjKind::Encoding => {
            o.borrow().get("Name").map(to_string)
        }
        _ => None,
    }
}

/// Text → bytes in an encoding (no BOM; the callers add one where .NET does).
pub fn encode(name: &str, text: &str) -> Vec<u8> {
    match name {
        "unicode" => text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
        "bigendianunicode" => text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect(),
        "utf32" => text
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect(),
        "ascii" => text
            .chars()
            .map(|c| if (c as u32) < 128 { c as u8 } else { b'?' })
            .collect(),
        // Windows-1252 ("Default" on an en-US system) and OEM (437): ASCII is the same;
        // Latin-1 range kept as bytes, others become '?'.
        "default" | "oem" => text
            .chars()
            .map(|c| {
                if (c as u32) < 256 {
                    c as u32 as u8
                } else {
                    b'?'
                }
            })
            .collect(),
        _ => text.as_bytes().to_vec(),
    }
}

/// Bytes → text in an encoding.
pub fn decode(name: &str, bytes: &[u8]) -> String {
    match name {
        "unicode" => String::from_utf16_lossy(
            &bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        ),
        "bigendianunicode" => String::from_utf16_lossy(
            &bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        ),
        "utf32" => bytes
            .chunks_exact(4)
            .filter_map(|c| char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        "ascii" => bytes
            .iter()
            .map(|&b| if b < 128 { b as char } else { '?' })
            .collect(),
        "default" | "oem" => bytes.iter().map(|&b| b as char).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

pub(super) fn bytes_of(v: &Value) -> Result<Vec<u8>, ErrorRecord> {
    match v {
        Value::Null => Ok(Vec::new()),
        _ => v
            .clone()
            .into_items()
            .iter()
            .map(|b| convert::to_i64(b).map(|n| n as u8).map_err(|e| err(e.0)))
            .collect(),
    }
}
