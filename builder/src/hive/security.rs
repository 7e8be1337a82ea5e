//! Self-relative security descriptors for keys the hive writer creates without one (minimal
//! base hives, keys from Wine which has no SDs). Only building is needed: SDs read from hives
//! are kept as opaque bytes.

/// A SID given by its identifier authority and sub-authorities.
#[derive(Debug, Clone, Copy)]
pub struct Sid<'a> {
    pub authority: u64,
    pub sub_authorities: &'a [u32],
}

pub const LOCAL_SYSTEM: Sid<'static> = Sid {
    authority: 5,
    sub_authorities: &[18],
};
pub const ADMINISTRATORS: Sid<'static> = Sid {
    authority: 5,
    sub_authorities: &[32, 544],
};
pub const USERS: Sid<'static> = Sid {
    authority: 5,
    sub_authorities: &[32, 545],
};
pub const CREATOR_OWNER: Sid<'static> = Sid {
    authority: 3,
    sub_authorities: &[0],
};

impl Sid<'_> {
    fn to_bytes(self) -> Vec<u8> {
        let mut out = vec![1u8, self.sub_authorities.len() as u8];
        out.extend_from_slice(&self.authority.to_be_bytes()[2..]);
        for sub in self.sub_authorities {
            out.extend_from_slice(&sub.to_le_bytes());
        }
        out
    }
}

/// `KEY_ALL_ACCESS` and `KEY_READ` access masks.
pub const KEY_ALL_ACCESS: u32 = 0x000F_003F;
pub const KEY_READ: u32 = 0x0002_0019;
/// ACE flags: inherited by subkeys / only for inheritance.
pub const CONTAINER_INHERIT_ACE: u8 = 0x02;
pub const INHERIT_ONLY_ACE: u8 = 0x08;

/// An ACCESS_ALLOWED ACE.
#[derive(Debug, Clone, Copy)]
pub struct Allow<'a> {
    pub flags: u8,
    pub mask: u32,
    pub sid: Sid<'a>,
}

/// A self-relative SECURITY_DESCRIPTOR with owner, group and a DACL of allow ACEs.
pub fn build_sd(owner: Sid, group: Sid, dacl: &[Allow]) -> Vec<u8> {
    let mut acl = Vec::new();
    for ace in dacl {
        let sid = ace.sid.to_bytes();
        let size = (8 + sid.len()) as u16;
        acl.push(0u8); // ACCESS_ALLOWED_ACE_TYPE
        acl.push(ace.flags);
        acl.extend_from_slice(&size.to_le_bytes());
        acl.extend_from_slice(&ace.mask.to_le_bytes());
        acl.extend_from_slice(&sid);
    }
    let mut acl_full = vec![2u8, 0];
    acl_full.extend_from_slice(&((8 + acl.len()) as u16).to_le_bytes());
    acl_full.extend_from_slice(&(dacl.len() as u16).to_le_bytes());
    acl_full.extend_from_slice(&[0, 0]);
    acl_full.extend_from_slice(&acl);

    let owner = owner.to_bytes();
    let group = group.to_bytes();
    let owner_at = 20u32;
    let group_at = owner_at + owner.len() as u32;
    let dacl_at = group_at + group.len() as u32;
    // SE_SELF_RELATIVE | SE_DACL_PRESENT
    let control: u16 = 0x8004;
    let mut sd = vec![1u8, 0];
    sd.extend_from_slice(&control.to_le_bytes());
    sd.extend_from_slice(&owner_at.to_le_bytes());
    sd.extend_from_slice(&group_at.to_le_bytes());
    sd.extend_from_slice(&0u32.to_le_bytes()); // no SACL
    sd.extend_from_slice(&dacl_at.to_le_bytes());
    sd.extend_from_slice(&owner);
    sd.extend_from_slice(&group);
    sd.extend_from_slice(&acl_full);
    sd
}

/// The descriptor Windows gives machine keys: owner Administrators, group SYSTEM; full control
/// for SYSTEM, Administrators and CREATOR OWNER (inherit only), read for Users; inherited by
/// subkeys.
pub fn default_key_sd() -> Vec<u8> {
    let full = |sid| Allow {
        flags: CONTAINER_INHERIT_ACE,
        mask: KEY_ALL_ACCESS,
        sid,
    };
    build_sd(
        ADMINISTRATORS,
        LOCAL_SYSTEM,
        &[
            full(LOCAL_SYSTEM),
            full(ADMINISTRATORS),
            Allow {
                flags: CONTAINER_INHERIT_ACE | INHERIT_ONLY_ACE,
                mask: KEY_ALL_ACCESS,
                sid: CREATOR_OWNER,
            },
            Allow {
                flags: CONTAINER_INHERIT_ACE,
                mask: KEY_READ,
                sid: USERS,
            },
        ],
    )
}

/// SAM and SECURITY are readable by SYSTEM only.
pub fn system_only_sd() -> Vec<u8> {
    build_sd(
        ADMINISTRATORS,
        LOCAL_SYSTEM,
        &[Allow {
            flags: CONTAINER_INHERIT_ACE,
            mask: KEY_ALL_ACCESS,
            sid: LOCAL_SYSTEM,
        }],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_layout_is_self_relative() {
        let sd = default_key_sd();
        assert_eq!(sd[0], 1);
        assert_eq!(u16::from_le_bytes([sd[2], sd[3]]), 0x8004);
        let owner = u32::from_le_bytes(sd[4..8].try_into().unwrap()) as usize;
        // S-1-5-32-544
        assert_eq!(&sd[owner..owner + 8], &[1, 2, 0, 0, 0, 0, 0, 5]);
        let dacl = u32::from_le_bytes(sd[16..20].try_into().unwrap()) as usize;
        let acl_size = u16::from_le_bytes([sd[dacl + 2], sd[dacl + 3]]) as usize;
        assert_eq!(dacl + acl_size, sd.len());
        assert_eq!(u16::from_le_bytes([sd[dacl + 4], sd[dacl + 5]]), 4);
    }
}
