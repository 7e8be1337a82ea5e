//! Windows security descriptors in their self-relative binary form (what `MSWINDOWS.rawsd`
//! carries, base64-encoded): a small builder for the default owner/ACL silo gives files, and a
//! reader that pulls the owner SID out of any descriptor found in a layer.
//!
//! Layout (MS-DTYP 2.4.6): revision u8 = 1, sbz1 u8, control u16, then four u32 offsets (owner,
//! group, SACL, DACL) from the start; SIDs (2.4.2.2) are revision, sub-authority count, a 48-bit
//! big-endian identifier authority and little-endian u32 sub-authorities; an ACL (2.4.5) is a
//! header plus ACEs (2.4.4.2: type, flags, size, access mask, SID). All integers little-endian.

use std::fmt;

/// `SE_SELF_RELATIVE`: offsets instead of pointers.
const SE_SELF_RELATIVE: u16 = 0x8000;
/// `SE_DACL_PRESENT`.
const SE_DACL_PRESENT: u16 = 0x0004;
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
const ACL_REVISION: u8 = 2;

/// ACE inheritance flags.
pub const OBJECT_INHERIT_ACE: u8 = 0x01;
pub const CONTAINER_INHERIT_ACE: u8 = 0x02;
pub const INHERIT_ONLY_ACE: u8 = 0x08;

/// Access masks used by the default ACLs (SDDL `FA`, `GA`, read+execute, `LC`, `DC`).
pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
pub const GENERIC_ALL: u32 = 0x1000_0000;
pub const FILE_GENERIC_READ_EXECUTE: u32 = 0x0012_00A9;
pub const FILE_ADD_SUBDIRECTORY: u32 = 0x0000_0004;
pub const FILE_ADD_FILE: u32 = 0x0000_0002;

/// A security identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sid {
    pub authority: u64,
    pub sub_authorities: Vec<u32>,
}

impl Sid {
    pub fn new(authority: u64, sub_authorities: &[u32]) -> Sid {
        Sid {
            authority,
            sub_authorities: sub_authorities.to_vec(),
        }
    }

    /// `S-1-5-32-544` BUILTIN\Administrators.
    pub fn builtin_administrators() -> Sid {
        Sid::new(5, &[32, 544])
    }
    /// `S-1-5-32-545` BUILTIN\Users.
    pub fn builtin_users() -> Sid {
        Sid::new(5, &[32, 545])
    }
    /// `S-1-5-18` NT AUTHORITY\SYSTEM.
    pub fn local_system() -> Sid {
        Sid::new(5, &[18])
    }
    /// `S-1-3-0` CREATOR OWNER.
    pub fn creator_owner() -> Sid {
        Sid::new(3, &[0])
    }
    /// `S-1-5-93-2-1` User Manager\ContainerAdministrator.
    pub fn container_administrator() -> Sid {
        Sid::new(5, &[93, 2, 1])
    }
    /// `S-1-5-93-2-2` User Manager\ContainerUser.
    pub fn container_user() -> Sid {
        Sid::new(5, &[93, 2, 2])
    }

    /// Parses `S-1-<authority>-<sub>…`, or the container account names `--chown` accepts
    /// (`ContainerAdministrator`, `ContainerUser`, case-insensitive).
    pub fn parse(text: &str) -> Option<Sid> {
        if text.eq_ignore_ascii_case("ContainerAdministrator") {
            return Some(Sid::container_administrator());
        }
        if text.eq_ignore_ascii_case("ContainerUser") {
            return Some(Sid::container_user());
        }
        let mut parts = text.split('-');
        if !parts.next()?.eq_ignore_ascii_case("S") || parts.next()? != "1" {
            return None;
        }
        let authority: u64 = parts.next()?.parse().ok()?;
        if authority >= 1 << 48 {
            return None;
        }
        let subs = parts
            .map(|p| p.parse::<u32>().ok())
            .collect::<Option<Vec<u32>>>()?;
        if subs.len() > 15 {
            return None;
        }
        Some(Sid::new(authority, &subs))
    }

    fn encoded_len(&self) -> usize {
        8 + 4 * self.sub_authorities.len()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(1);
        out.push(self.sub_authorities.len() as u8);
        out.extend_from_slice(&self.authority.to_be_bytes()[2..]);
        for sub in &self.sub_authorities {
            out.extend_from_slice(&sub.to_le_bytes());
        }
    }

    /// Decodes a SID at the start of `bytes`; `None` if it does not fit.
    fn decode(bytes: &[u8]) -> Option<Sid> {
        let (&revision, rest) = bytes.split_first()?;
        let (&count, rest) = rest.split_first()?;
        if revision != 1 || count > 15 || rest.len() < 6 + 4 * count as usize {
            return None;
        }
        let mut authority = [0u8; 8];
        authority[2..].copy_from_slice(&rest[..6]);
        let subs = rest[6..6 + 4 * count as usize]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some(Sid {
            authority: u64::from_be_bytes(authority),
            sub_authorities: subs,
        })
    }
}

impl Sid {
    /// The account name Windows shows for a well-known SID (`BUILTIN\Administrators`), as
    /// .NET's `NTAccount` translation gives it in a Windows container; `None` for other SIDs
    /// (only the image's own SAM could name them).
    pub fn account_name(&self) -> Option<&'static str> {
        let name = match (self.authority, self.sub_authorities.as_slice()) {
            (1, [0]) => "Everyone",
            (3, [0]) => "CREATOR OWNER",
            (3, [1]) => "CREATOR GROUP",
            (5, [11]) => "NT AUTHORITY\\Authenticated Users",
            (5, [18]) => "NT AUTHORITY\\SYSTEM",
            (5, [32, 544]) => "BUILTIN\\Administrators",
            (5, [32, 545]) => "BUILTIN\\Users",
            (5, [93, 2, 1]) => "User Manager\\ContainerAdministrator",
            (5, [93, 2, 2]) => "User Manager\\ContainerUser",
            (5, [80, 956008885, 3418522649, 1831038044, 1853292631, 2271478464]) => {
                "NT SERVICE\\TrustedInstaller"
            }
            (15, [2, 1]) => "APPLICATION PACKAGE AUTHORITY\\ALL APPLICATION PACKAGES",
            _ => return None,
        };
        Some(name)
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S-1-{}", self.authority)?;
        for sub in &self.sub_authorities {
            write!(f, "-{sub}")?;
        }
        Ok(())
    }
}

/// One access-allowed ACE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    pub flags: u8,
    pub mask: u32,
    pub sid: Sid,
}

/// A security descriptor to encode: owner, group and an optional DACL (`None` = no DACL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityDescriptor {
    pub owner: Sid,
    pub group: Sid,
    pub dacl: Option<Vec<Ace>>,
}

impl SecurityDescriptor {
    /// Silo's default for files, the same grants BuildKit's Windows COPY gives
    /// (`O:<owner>G:SYD:(A;;FA;;;BA)(A;;FA;;;SY)(A;;0x1200a9;;;BU)`); `owner` defaults to
    /// BUILTIN\Administrators and is the `--chown` SID otherwise.
    pub fn default_file(owner: Option<&Sid>) -> SecurityDescriptor {
        SecurityDescriptor {
            owner: owner.cloned().unwrap_or_else(Sid::builtin_administrators),
            group: Sid::local_system(),
            dacl: Some(vec![
                Ace {
                    flags: 0,
                    mask: FILE_ALL_ACCESS,
                    sid: Sid::builtin_administrators(),
                },
                Ace {
                    flags: 0,
                    mask: FILE_ALL_ACCESS,
                    sid: Sid::local_system(),
                },
                Ace {
                    flags: 0,
                    mask: FILE_GENERIC_READ_EXECUTE,
                    sid: Sid::builtin_users(),
                },
            ]),
        }
    }

    /// Silo's default for directories (BuildKit's directory grants:
    /// `D:(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)(A;;FA;;;BA)(A;OICIIO;GA;;;CO)(A;OICI;0x1200a9;;;BU)
    /// (A;CI;LC;;;BU)(A;CI;DC;;;BU)`).
    pub fn default_directory(owner: Option<&Sid>) -> SecurityDescriptor {
        let oici = OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE;
        SecurityDescriptor {
            owner: owner.cloned().unwrap_or_else(Sid::builtin_administrators),
            group: Sid::local_system(),
            dacl: Some(vec![
                Ace {
                    flags: oici,
                    mask: FILE_ALL_ACCESS,
                    sid: Sid::builtin_administrators(),
                },
                Ace {
                    flags: oici,
                    mask: FILE_ALL_ACCESS,
                    sid: Sid::local_system(),
                },
                Ace {
                    flags: 0,
                    mask: FILE_ALL_ACCESS,
                    sid: Sid::builtin_administrators(),
                },
                Ace {
                    flags: oici | INHERIT_ONLY_ACE,
                    mask: GENERIC_ALL,
                    sid: Sid::creator_owner(),
                },
                Ace {
                    flags: oici,
                    mask: FILE_GENERIC_READ_EXECUTE,
                    sid: Sid::builtin_users(),
                },
                Ace {
                    flags: CONTAINER_INHERIT_ACE,
                    mask: FILE_ADD_SUBDIRECTORY,
                    sid: Sid::builtin_users(),
                },
                Ace {
                    flags: CONTAINER_INHERIT_ACE,
                    mask: FILE_ADD_FILE,
                    sid: Sid::builtin_users(),
                },
            ]),
        }
    }

    /// The self-relative binary form: header, owner, group, then the DACL.
    pub fn to_bytes(&self) -> Vec<u8> {
        let owner_offset = 20usize;
        let group_offset = owner_offset + self.owner.encoded_len();
        let dacl_offset = group_offset + self.group.encoded_len();
        let mut control = SE_SELF_RELATIVE;
        if self.dacl.is_some() {
            control |= SE_DACL_PRESENT;
        }
        let mut out = Vec::with_capacity(128);
        out.push(1); // revision
        out.push(0); // sbz1
        out.extend_from_slice(&control.to_le_bytes());
        out.extend_from_slice(&(owner_offset as u32).to_le_bytes());
        out.extend_from_slice(&(group_offset as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // no SACL
        let dacl_field = if self.dacl.is_some() { dacl_offset } else { 0 };
        out.extend_from_slice(&(dacl_field as u32).to_le_bytes());
        self.owner.encode(&mut out);
        self.group.encode(&mut out);
        if let Some(aces) = &self.dacl {
            let acl_size = 8 + aces.iter().map(|a| 8 + a.sid.encoded_len()).sum::<usize>();
            out.push(ACL_REVISION);
            out.push(0);
            out.extend_from_slice(&(acl_size as u16).to_le_bytes());
            out.extend_from_slice(&(aces.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            for ace in aces {
                out.push(ACCESS_ALLOWED_ACE_TYPE);
                out.push(ace.flags);
                out.extend_from_slice(&((8 + ace.sid.encoded_len()) as u16).to_le_bytes());
                out.extend_from_slice(&ace.mask.to_le_bytes());
                ace.sid.encode(&mut out);
            }
        }
        out
    }
}

/// `NO_PROPAGATE_INHERIT_ACE` and `INHERITED_ACE` flags.
pub const NO_PROPAGATE_INHERIT_ACE: u8 = 0x04;
pub const INHERITED_ACE: u8 = 0x10;
/// `SE_DACL_AUTO_INHERITED`: the DACL was computed by inheritance (NTFS sets it).
const SE_DACL_AUTO_INHERITED: u16 = 0x0400;
/// Generic rights and their file mapping (`FILE_GENERIC_*`).
const GENERIC_READ: u32 = 0x8000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const GENERIC_EXECUTE: u32 = 0x2000_0000;
const FILE_GENERIC_READ: u32 = 0x0012_0089;
const FILE_GENERIC_WRITE: u32 = 0x0012_0116;
const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;

/// An ACE as read from a descriptor, of any of the SID-bearing basic types (allowed 0, denied 1,
/// audit 2, alarm 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAce {
    pub ace_type: u8,
    pub flags: u8,
    pub mask: u32,
    pub sid: Sid,
}

/// A self-relative descriptor as read: control bits, owner, group and DACL (`None`: no DACL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDescriptor {
    pub control: u16,
    pub owner: Option<Sid>,
    pub group: Option<Sid>,
    pub dacl: Option<Vec<RawAce>>,
}

/// `SE_DACL_PROTECTED`: the DACL inherits nothing from the parent.
const SE_DACL_PROTECTED: u16 = 0x1000;
const ACCESS_DENIED_ACE_TYPE: u8 = 1;

impl ParsedDescriptor {
    /// Whether the DACL is protected from inheritance (.NET's `AreAccessRulesProtected`).
    pub fn dacl_protected(&self) -> bool {
        self.control & SE_DACL_PROTECTED != 0
    }

    /// Whether the DACL is in canonical order (.NET's `AreAccessRulesCanonical`, MS-DTYP
    /// 2.4.5): explicit deny ACEs, then explicit allow ACEs, then inherited ACEs. No DACL is
    /// canonical.
    pub fn dacl_canonical(&self) -> bool {
        // 0 = explicit deny, 1 = explicit allow, 2 = inherited: never decreasing.
        let rank = |ace: &RawAce| match (ace.flags & INHERITED_ACE != 0, ace.ace_type) {
            (true, _) => 2,
            (false, ACCESS_DENIED_ACE_TYPE) => 0,
            (false, _) => 1,
        };
        self.dacl
            .as_deref()
            .unwrap_or_default()
            .windows(2)
            .all(|pair| rank(&pair[0]) <= rank(&pair[1]))
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads a self-relative descriptor; `None` if it is malformed or its DACL holds ACE types
/// beyond the basic ones (object ACEs), which silo does not interpret.
pub fn parse(descriptor: &[u8]) -> Option<ParsedDescriptor> {
    if descriptor.len() < 20 || descriptor[0] != 1 {
        return None;
    }
    let control = u16_at(descriptor, 2)?;
    if control & SE_SELF_RELATIVE == 0 {
        return None;
    }
    let sid_at = |field: usize| -> Option<Option<Sid>> {
        match u32_at(descriptor, field)? {
            0 => Some(None),
            off => Some(Some(Sid::decode(descriptor.get(off as usize..)?)?)),
        }
    };
    let owner = sid_at(4)?;
    let group = sid_at(8)?;
    let dacl_offset = u32_at(descriptor, 16)? as usize;
    let dacl = if control & SE_DACL_PRESENT == 0 || dacl_offset == 0 {
        None
    } else {
        let count = u16_at(descriptor, dacl_offset + 4)?;
        let mut at = dacl_offset + 8;
        let mut aces = Vec::new();
        for _ in 0..count {
            let ace_type = *descriptor.get(at)?;
            let flags = *descriptor.get(at + 1)?;
            let size = u16_at(descriptor, at + 2)? as usize;
            if ace_type > 3 || size < 8 {
                return None;
            }
            let mask = u32_at(descriptor, at + 4)?;
            let sid = Sid::decode(descriptor.get(at + 8..at + size)?)?;
            aces.push(RawAce {
                ace_type,
                flags,
                mask,
                sid,
            });
            at += size;
        }
        Some(aces)
    };
    Some(ParsedDescriptor {
        control,
        owner,
        group,
        dacl,
    })
}

/// Encodes a self-relative descriptor with `control` bits (SE_SELF_RELATIVE and, with a DACL,
/// SE_DACL_PRESENT are added).
pub fn encode(owner: &Sid, group: &Sid, control: u16, dacl: Option<&[RawAce]>) -> Vec<u8> {
    let owner_offset = 20usize;
    let group_offset = owner_offset + owner.encoded_len();
    let dacl_offset = group_offset + group.encoded_len();
    let mut control = control | SE_SELF_RELATIVE;
    if dacl.is_some() {
        control |= SE_DACL_PRESENT;
    }
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&control.to_le_bytes());
    out.extend_from_slice(&(owner_offset as u32).to_le_bytes());
    out.extend_from_slice(&(group_offset as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let dacl_field = if dacl.is_some() { dacl_offset } else { 0 };
    out.extend_from_slice(&(dacl_field as u32).to_le_bytes());
    owner.encode(&mut out);
    group.encode(&mut out);
    if let Some(aces) = dacl {
        let acl_size = 8 + aces.iter().map(|a| 8 + a.sid.encoded_len()).sum::<usize>();
        out.extend_from_slice(&[ACL_REVISION, 0]);
        out.extend_from_slice(&(acl_size as u16).to_le_bytes());
        out.extend_from_slice(&(aces.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        for ace in aces {
            out.extend_from_slice(&[ace.ace_type, ace.flags]);
            out.extend_from_slice(&((8 + ace.sid.encoded_len()) as u16).to_le_bytes());
            out.extend_from_slice(&ace.mask.to_le_bytes());
            ace.sid.encode(&mut out);
        }
    }
    out
}

/// The descriptor NTFS gives a new file or directory created in a directory whose descriptor
/// is `parent`, for a creator whose owner SID is `owner` (the group is the parent's, SYSTEM
/// when it has none): the parent's inheritable ACEs in order, marked INHERITED_ACE, with
/// CREATOR OWNER/CREATOR GROUP mapped to the owner/group and generic rights mapped to file
/// rights in the effective ACE (plus an inherit-only copy on directories when that mapping
/// changed it); `NO_PROPAGATE_INHERIT_ACE` stops at the child; object-inherit-only ACEs become
/// inherit-only on a child directory. The DACL is flagged auto-inherited. `None` when `parent`
/// cannot be read or has no DACL.
pub fn inherited(parent: &[u8], owner: &Sid, directory: bool) -> Option<Vec<u8>> {
    let p = parse(parent)?;
    let group = p.group.clone().unwrap_or_else(Sid::local_system);
    let parent_aces = p.dacl?;
    let effective = |ace: &RawAce| -> RawAce {
        let sid = if ace.sid == Sid::creator_owner() {
            owner.clone()
        } else if ace.sid == Sid::new(3, &[1]) {
            group.clone()
        } else {
            ace.sid.clone()
        };
        let mut mask = ace.mask & !(GENERIC_ALL | GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE);
        for (generic, file) in [
            (GENERIC_ALL, FILE_ALL_ACCESS),
            (GENERIC_READ, FILE_GENERIC_READ),
            (GENERIC_WRITE, FILE_GENERIC_WRITE),
            (GENERIC_EXECUTE, FILE_GENERIC_EXECUTE),
        ] {
            if ace.mask & generic != 0 {
                mask |= file;
            }
        }
        RawAce {
            ace_type: ace.ace_type,
            flags: INHERITED_ACE,
            mask,
            sid,
        }
    };
    let oi_ci = OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE;
    let mut aces = Vec::new();
    for ace in &parent_aces {
        let object = ace.flags & OBJECT_INHERIT_ACE != 0;
        let container = ace.flags & CONTAINER_INHERIT_ACE != 0;
        let no_propagate = ace.flags & NO_PROPAGATE_INHERIT_ACE != 0;
        if !directory {
            if object {
                aces.push(effective(ace));
            }
            continue;
        }
        if container {
            let eff = effective(ace);
            if no_propagate {
                aces.push(eff);
            } else if eff.sid != ace.sid || eff.mask != ace.mask {
                aces.push(eff);
                aces.push(RawAce {
                    flags: (ace.flags & oi_ci) | INHERIT_ONLY_ACE | INHERITED_ACE,
                    ..ace.clone()
                });
            } else {
                aces.push(RawAce {
                    flags: (ace.flags & oi_ci) | INHERITED_ACE,
                    ..eff
                });
            }
        } else if object && !no_propagate {
            aces.push(RawAce {
                flags: OBJECT_INHERIT_ACE | INHERIT_ONLY_ACE | INHERITED_ACE,
                ..ace.clone()
            });
        }
    }
    Some(encode(owner, &group, SE_DACL_AUTO_INHERITED, Some(&aces)))
}

/// The owner SID of a self-relative security descriptor (`None` if absent or malformed).
pub fn owner_of(descriptor: &[u8]) -> Option<Sid> {
    if descriptor.len() < 20 || descriptor[0] != 1 {
        return None;
    }
    let control = u16::from_le_bytes([descriptor[2], descriptor[3]]);
    if control & SE_SELF_RELATIVE == 0 {
        return None;
    }
    let offset = u32::from_le_bytes([descriptor[4], descriptor[5], descriptor[6], descriptor[7]]);
    if offset == 0 {
        return None;
    }
    Sid::decode(descriptor.get(offset as usize..)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// go-containerregistry's `userOwnerAndGroupSID` (owner = group = BUILTIN\Users, no DACL):
    /// an independent encoder's bytes for the same descriptor.
    #[test]
    fn matches_a_known_descriptor_byte_for_byte() {
        let sd = SecurityDescriptor {
            owner: Sid::builtin_users(),
            group: Sid::builtin_users(),
            dacl: None,
        };
        let expected = base64::engine::general_purpose::STANDARD
            .decode("AQAAgBQAAAAkAAAAAAAAAAAAAAABAgAAAAAABSAAAAAhAgAAAQIAAAAAAAUgAAAAIQIAAA==")
            .unwrap();
        assert_eq!(sd.to_bytes(), expected);
        assert_eq!(owner_of(&expected), Some(Sid::builtin_users()));
    }

    #[test]
    fn a_new_file_inherits_the_parents_dacl_as_ntfs_does() {
        // C:\'s descriptor (silo's default directory one: Windows' system-drive root grants).
        let root = SecurityDescriptor::default_directory(None).to_bytes();
        let user = Sid::container_user();
        let file = parse(&inherited(&root, &user, false).unwrap()).unwrap();
        assert_eq!(file.owner, Some(user.clone()));
        let aces: Vec<(u8, u32, String)> = file
            .dacl
            .unwrap()
            .iter()
            .map(|a| (a.flags, a.mask, a.sid.to_string()))
            .collect();
        // (A;ID;FA;;;BA)(A;ID;FA;;;SY)(A;ID;FA;;;<owner>)(A;ID;0x1200a9;;;BU): CREATOR OWNER's
        // GA becomes the owner's full access; the container-only BU grants do not reach files.
        assert_eq!(
            aces,
            [
                (INHERITED_ACE, FILE_ALL_ACCESS, "S-1-5-32-544".into()),
                (INHERITED_ACE, FILE_ALL_ACCESS, "S-1-5-18".into()),
                (INHERITED_ACE, FILE_ALL_ACCESS, "S-1-5-93-2-2".into()),
                (
                    INHERITED_ACE,
                    FILE_GENERIC_READ_EXECUTE,
                    "S-1-5-32-545".into()
                ),
            ]
        );
        let dir = parse(&inherited(&root, &user, true).unwrap()).unwrap();
        let flags: Vec<(u8, String)> = dir
            .dacl
            .unwrap()
            .iter()
            .map(|a| (a.flags, a.sid.to_string()))
            .collect();
        let oici = OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE;
        assert_eq!(
            flags,
            [
                (oici | INHERITED_ACE, "S-1-5-32-544".into()),
                (oici | INHERITED_ACE, "S-1-5-18".into()),
                (INHERITED_ACE, "S-1-5-93-2-2".into()),
                (oici | INHERIT_ONLY_ACE | INHERITED_ACE, "S-1-3-0".into()),
                (oici | INHERITED_ACE, "S-1-5-32-545".into()),
                (CONTAINER_INHERIT_ACE | INHERITED_ACE, "S-1-5-32-545".into()),
                (CONTAINER_INHERIT_ACE | INHERITED_ACE, "S-1-5-32-545".into()),
            ]
        );
        // The encoder and the parser agree with the default builder's bytes.
        let again = parse(&root).unwrap();
        assert_eq!(again.owner, Some(Sid::builtin_administrators()));
        assert_eq!(again.dacl.unwrap().len(), 7);
    }

    #[test]
    fn default_descriptors_carry_the_owner_and_a_consistent_acl() {
        let owner = Sid::container_user();
        let bytes = SecurityDescriptor::default_file(Some(&owner)).to_bytes();
        assert_eq!(owner_of(&bytes).unwrap().to_string(), "S-1-5-93-2-2");
        // DACL offset points at an ACL whose size field covers the rest of the descriptor.
        let dacl = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
        let size = u16::from_le_bytes([bytes[dacl + 2], bytes[dacl + 3]]) as usize;
        assert_eq!(dacl + size, bytes.len());
        assert_eq!(u16::from_le_bytes([bytes[dacl + 4], bytes[dacl + 5]]), 3);
        let dir = SecurityDescriptor::default_directory(None).to_bytes();
        assert_eq!(owner_of(&dir).unwrap().to_string(), "S-1-5-32-544");
    }

    #[test]
    fn sid_parse_and_display() {
        assert_eq!(
            Sid::parse("ContainerAdministrator").unwrap().to_string(),
            "S-1-5-93-2-1"
        );
        assert_eq!(Sid::parse("S-1-5-93-2-2"), Some(Sid::container_user()));
        assert!(Sid::parse("S-1-x").is_none());
        assert!(Sid::parse("nobody").is_none());
        assert!(owner_of(&[1, 0, 0, 0x80, 200, 0, 0, 0]).is_none());
    }

    /// .NET's canonical order (MS-DTYP 2.4.5 "Order of ACEs in a DACL"): explicit deny, explicit
    /// allow, inherited; and the protected bit read from the control word.
    #[test]
    fn canonical_order_and_protection_are_read_from_the_dacl() {
        let users = Sid::builtin_users();
        let ace = |ace_type: u8, flags: u8| RawAce {
            ace_type,
            flags,
            mask: FILE_ALL_ACCESS,
            sid: users.clone(),
        };
        let owner = Sid::builtin_administrators();
        let read = |control: u16, aces: &[RawAce]| {
            parse(&encode(&owner, &owner, control, Some(aces))).unwrap()
        };
        let canonical = read(
            0,
            &[
                ace(1, 0),
                ace(0, 0),
                ace(1, INHERITED_ACE),
                ace(0, INHERITED_ACE),
            ],
        );
        assert!(canonical.dacl_canonical());
        assert!(!canonical.dacl_protected());
        for wrong in [
            [ace(0, 0), ace(1, 0)],
            [ace(0, INHERITED_ACE), ace(0, 0)],
            [ace(1, INHERITED_ACE), ace(1, 0)],
        ] {
            assert!(!read(0, &wrong).dacl_canonical(), "{wrong:?}");
        }
        assert!(read(SE_DACL_PROTECTED, &[]).dacl_protected());
        let inherited = inherited(
            &SecurityDescriptor::default_directory(None).to_bytes(),
            &Sid::container_user(),
            false,
        )
        .unwrap();
        assert!(parse(&inherited).unwrap().dacl_canonical());
    }

    #[test]
    fn well_known_sids_have_the_names_windows_shows() {
        assert_eq!(
            Sid::container_user().account_name(),
            Some("User Manager\\ContainerUser")
        );
        assert_eq!(
            Sid::builtin_administrators().account_name(),
            Some("BUILTIN\\Administrators")
        );
        assert_eq!(
            Sid::parse("S-1-5-21-1-2-3-1001").unwrap().account_name(),
            None
        );
    }
}
