//! GUIDs as HCS spells them: the 16-byte Windows `GUID` (little-endian `Data1..Data3`) and its
//! `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` text form, plus name-derived IDs for silo's own
//! objects (compute-system IDs).
//!
//! Layer IDs in the compute-system document must be what the Host Compute Service's own
//! `NameToGuid` (vmcompute.dll) returns for the layer folder's name, so that every client agrees
//! on them; that algorithm is not documented, so silo asks the host through
//! [`super::api::ComputeApi::name_to_guid`] and never computes layer IDs itself.

use sha2::{Digest, Sha256};

/// A Windows GUID in its in-memory layout (`Data1` u32 LE, `Data2`/`Data3` u16 LE, `Data4` bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Guid {
    pub data1: u32,
    pub data2: u16,
    pub data3: u16,
    pub data4: [u8; 8],
}

impl Guid {
    /// An RFC 9562 version-8 (name-based, custom hash) GUID from SHA-256 of `namespace` + `name`:
    /// stable across runs, so a crashed build's compute system can be found and terminated by ID.
    pub fn derived_from_name(namespace: &str, name: &str) -> Guid {
        let mut hash = Sha256::new();
        hash.update(namespace.as_bytes());
        hash.update([0u8]);
        hash.update(name.as_bytes());
        let digest = hash.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&digest[..16]);
        b[6] = (b[6] & 0x0f) | 0x80; // version 8
        b[8] = (b[8] & 0x3f) | 0x80; // RFC variant
        Guid::from_be_bytes(b)
    }

    /// From the big-endian (text-order) bytes.
    pub fn from_be_bytes(b: [u8; 16]) -> Guid {
        Guid {
            data1: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            data2: u16::from_be_bytes([b[4], b[5]]),
            data3: u16::from_be_bytes([b[6], b[7]]),
            data4: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
        }
    }

    /// The in-memory Windows layout (what `NameToGuid` writes through its `GUID*`).
    pub fn to_windows_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..4].copy_from_slice(&self.data1.to_le_bytes());
        out[4..6].copy_from_slice(&self.data2.to_le_bytes());
        out[6..8].copy_from_slice(&self.data3.to_le_bytes());
        out[8..].copy_from_slice(&self.data4);
        out
    }

    /// From the in-memory Windows layout.
    pub fn from_windows_bytes(b: [u8; 16]) -> Guid {
        Guid {
            data1: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            data2: u16::from_le_bytes([b[4], b[5]]),
            data3: u16::from_le_bytes([b[6], b[7]]),
            data4: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
        }
    }
}

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = &self.data4;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            self.data1, self.data2, self.data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
        )
    }
}

impl std::str::FromStr for Guid {
    type Err = String;
    fn from_str(s: &str) -> Result<Guid, String> {
        let s = s.trim_start_matches('{').trim_end_matches('}');
        let groups: Vec<&str> = s.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lengths != [8, 4, 4, 4, 12] || !s.chars().all(|c| c == '-' || c.is_ascii_hexdigit()) {
            return Err(format!(
                "{s:?} is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
            ));
        }
        let hex: String = groups.concat();
        let mut b = [0u8; 16];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
        }
        Ok(Guid::from_be_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_windows_layout_is_little_endian_in_the_first_three_fields() {
        let g: Guid = "{6ba7b810-9dad-11d1-80b4-00c04fd430c8}".parse().unwrap();
        assert_eq!(g.to_string(), "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
        let w = g.to_windows_bytes();
        assert_eq!(&w[..8], &[0x10, 0xb8, 0xa7, 0x6b, 0xad, 0x9d, 0xd1, 0x11]);
        assert_eq!(&w[8..], &[0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8]);
        assert_eq!(Guid::from_windows_bytes(w), g);
        assert!("6ba7b810-9dad-11d1-80b4".parse::<Guid>().is_err());
        assert!("6ba7b810-9dad-11d1-80b4-00c04fd430cg"
            .parse::<Guid>()
            .is_err());
    }

    #[test]
    fn derived_ids_are_stable_version_8_and_differ_per_name() {
        let a = Guid::derived_from_name("silo-step", "build-1/step-3");
        assert_eq!(a, Guid::derived_from_name("silo-step", "build-1/step-3"));
        assert_ne!(a, Guid::derived_from_name("silo-step", "build-1/step-4"));
        let text = a.to_string();
        assert_eq!(&text[14..15], "8", "{text}");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
    }
}
