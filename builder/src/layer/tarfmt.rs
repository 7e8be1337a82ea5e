//! The bytes of a PAX tar: 512-byte ustar headers, `x` extended headers with sorted records, and
//! PAX time formatting. Written by hand (not the `tar` crate's builder) so every byte of a layer
//! is ours to pin down in golden tests.

use std::io::{self, Write};

use super::changeset::Timestamp;

pub const BLOCK: usize = 512;

/// The ustar type flags a Windows layer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeFlag {
    Regular,
    HardLink,
    Symlink,
    Directory,
    PaxExtended,
}

impl TypeFlag {
    fn byte(self) -> u8 {
        match self {
            TypeFlag::Regular => b'0',
            TypeFlag::HardLink => b'1',
            TypeFlag::Symlink => b'2',
            TypeFlag::Directory => b'5',
            TypeFlag::PaxExtended => b'x',
        }
    }
}

/// One entry's header fields.
#[derive(Debug, Clone)]
pub struct HeaderSpec<'a> {
    pub name: &'a str,
    pub type_flag: TypeFlag,
    pub mode: u32,
    pub size: u64,
    pub mtime: Timestamp,
    pub link_name: &'a str,
}

/// Formats a PAX time the way go-winio reads it: `secs` or `secs.fraction`, the fraction padded
/// to 9 digits and trailing zeros trimmed (`5 ns` → `.000000005`, `500 ms` → `.5`).
pub fn pax_time(t: Timestamp) -> String {
    let (sign, secs, nanos) = if t.secs < 0 && t.nanos > 0 {
        ("-", -(t.secs + 1), 1_000_000_000 - t.nanos)
    } else if t.secs < 0 {
        ("-", -t.secs, 0)
    } else {
        ("", t.secs, t.nanos)
    };
    if nanos == 0 {
        format!("{sign}{secs}")
    } else {
        let fraction = format!("{nanos:09}");
        format!("{sign}{secs}.{}", fraction.trim_end_matches('0'))
    }
}

/// One `len key=value\n` record; `len` counts its own digits.
fn pax_record(key: &str, value: &[u8], out: &mut Vec<u8>) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

/// Whether a value fits an octal field of `len` bytes (len-1 digits).
fn fits_octal(value: u64, len: usize) -> bool {
    value < 1u64 << (3 * (len - 1))
}

/// A 512-byte ustar header. Names and link names must already fit (the caller moves long ones to
/// PAX records and passes a truncated stand-in).
pub fn ustar_header(spec: &HeaderSpec<'_>) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let name = spec.name.as_bytes();
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], u64::from(spec.mode));
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(
        &mut h[124..136],
        if fits_octal(spec.size, 12) {
            spec.size
        } else {
            0
        },
    );
    let mtime = spec.mtime.secs.max(0) as u64;
    octal(
        &mut h[136..148],
        if fits_octal(mtime, 12) { mtime } else { 0 },
    );
    h[156] = spec.type_flag.byte();
    let link = spec.link_name.as_bytes();
    h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0); // devmajor
    octal(&mut h[337..345], 0); // devminor
                                // Checksum: computed with the field as spaces, stored as 6 octal digits, NUL, space.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..154].copy_from_slice(format!("{sum:06o}").as_bytes());
    h[154] = 0;
    h[155] = b' ';
    h
}

/// Truncates to at most `max` bytes on a char boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Writes one entry's headers: a PAX `x` header when there are records (including any that the
/// name, link name, size or time need), then the ustar header. Records are sorted by key.
pub fn write_headers(
    out: &mut impl Write,
    spec: &HeaderSpec<'_>,
    mut records: Vec<(String, Vec<u8>)>,
) -> io::Result<u64> {
    let needs_path = spec.name.len() > 100 || !spec.name.is_ascii();
    let needs_link = spec.link_name.len() > 100 || !spec.link_name.is_ascii();
    if needs_path {
        records.push(("path".into(), spec.name.as_bytes().to_vec()));
    }
    if needs_link {
        records.push(("linkpath".into(), spec.link_name.as_bytes().to_vec()));
    }
    if !fits_octal(spec.size, 12) {
        records.push(("size".into(), spec.size.to_string().into_bytes()));
    }
    let mtime_fits = spec.mtime.secs >= 0 && fits_octal(spec.mtime.secs as u64, 12);
    if spec.mtime.nanos != 0 || !mtime_fits {
        records.push(("mtime".into(), pax_time(spec.mtime).into_bytes()));
    }
    records.sort_by(|a, b| a.0.cmp(&b.0));
    let mut written = 0u64;
    if !records.is_empty() {
        let mut body = Vec::with_capacity(256);
        for (key, value) in &records {
            pax_record(key, value, &mut body);
        }
        let base = spec.name.rsplit('/').next().unwrap_or(spec.name);
        let pax_name = format!("PaxHeaders.0/{}", truncate(base, 80));
        let pax = ustar_header(&HeaderSpec {
            name: &pax_name,
            type_flag: TypeFlag::PaxExtended,
            mode: 0o644,
            size: body.len() as u64,
            mtime: Timestamp::default(),
            link_name: "",
        });
        out.write_all(&pax)?;
        out.write_all(&body)?;
        let pad = padding(body.len() as u64);
        out.write_all(&[0u8; BLOCK][..pad])?;
        written += (BLOCK + body.len() + pad) as u64;
    }
    let name = if needs_path {
        truncate(spec.name, 100)
    } else {
        spec.name
    };
    let link = if needs_link {
        truncate(spec.link_name, 100)
    } else {
        spec.link_name
    };
    let name = ascii_stand_in(name);
    let link = ascii_stand_in(link);
    out.write_all(&ustar_header(&HeaderSpec {
        name: &name,
        link_name: &link,
        ..spec.clone()
    }))?;
    Ok(written + BLOCK as u64)
}

/// The ustar fields of a non-ASCII name hold an ASCII stand-in (the real one is in `path`).
fn ascii_stand_in(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii() && c != '\0' { c } else { '_' })
        .collect()
}

/// Zero bytes needed after `len` bytes of data to reach a block boundary.
pub fn padding(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_time_pads_the_fraction_to_nine_digits() {
        let t = |secs, nanos| pax_time(Timestamp { secs, nanos });
        assert_eq!(t(1_700_000_000, 0), "1700000000");
        assert_eq!(t(1_700_000_000, 5), "1700000000.000000005");
        assert_eq!(t(1_700_000_000, 500_000_000), "1700000000.5");
        assert_eq!(t(1, 123_456_780), "1.12345678");
        assert_eq!(t(-1, 500_000_000), "-0.5");
    }

    #[test]
    fn record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record("MSWINDOWS.fileattr", b"32", &mut out);
        assert_eq!(out, b"25 MSWINDOWS.fileattr=32\n");
        let mut out = Vec::new();
        pax_record("k", &[b'x'; 94], &mut out);
        // 98 bytes without the length; "99" would make 100, "100" makes 101: the length is 101.
        assert_eq!(out.len(), 101);
        assert!(out.starts_with(b"101 k="));
    }
}
