//! `--chown` on Windows: the user name resolves to a SID the way BuildKit's
//! `ResolveUsernameToSID` does for the accounts every Windows image has, and the SID becomes the
//! owner of a self-relative security descriptor (`MSWINDOWS.rawsd`) on each copied entry.

/// `ContainerAdministrator` (also what an empty `--chown` means).
pub const CONTAINER_ADMINISTRATOR: &str = "S-1-5-93-2-1";
/// `ContainerUser`.
pub const CONTAINER_USER: &str = "S-1-5-93-2-2";

/// A `--chown` value that names no account silo can resolve without running the image.
#[derive(Debug, thiserror::Error)]
#[error(
    "--chown={0}: unknown account; use ContainerAdministrator, ContainerUser or a SID like \
     S-1-5-32-545 (other accounts exist only inside the running image, and resolving them \
     needs a RUN step)"
)]
pub struct UnknownAccount(pub String);

/// The SID of a `--chown` value (`user` or `user:group`; the group is ignored on Windows, where
/// files have one owner).
pub fn resolve_chown(chown: &str) -> Result<String, UnknownAccount> {
    let user = chown.split_once(':').map_or(chown, |(user, _)| user);
    if user.is_empty() || user.eq_ignore_ascii_case("ContainerAdministrator") {
        return Ok(CONTAINER_ADMINISTRATOR.into());
    }
    if user.eq_ignore_ascii_case("ContainerUser") {
        return Ok(CONTAINER_USER.into());
    }
    let well_known = [
        ("Administrators", "S-1-5-32-544"),
        ("Users", "S-1-5-32-545"),
        ("SYSTEM", "S-1-5-18"),
        ("LocalSystem", "S-1-5-18"),
        ("Everyone", "S-1-1-0"),
    ];
    if let Some((_, sid)) = well_known
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(user))
    {
        return Ok((*sid).into());
    }
    if parse_sid(user).is_some() {
        return Ok(user.to_ascii_uppercase());
    }
    Err(UnknownAccount(chown.into()))
}

/// Binary SID of `S-1-<authority>-<sub>…`.
pub fn parse_sid(text: &str) -> Option<Vec<u8>> {
    let mut parts = text.split('-');
    if !parts.next()?.eq_ignore_ascii_case("S") || parts.next()? != "1" {
        return None;
    }
    let authority: u64 = parts.next()?.parse().ok()?;
    if authority >= 1 << 48 {
        return None;
    }
    let subs: Vec<u32> = parts.map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if subs.is_empty() || subs.len() > 15 {
        return None;
    }
    let mut out = vec![1, subs.len() as u8];
    out.extend_from_slice(&authority.to_be_bytes()[2..]);
    for sub in subs {
        out.extend_from_slice(&sub.to_le_bytes());
    }
    Some(out)
}

const SE_DACL_PRESENT: u16 = 0x0004;
const SE_SELF_RELATIVE: u16 = 0x8000;
const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
const OBJECT_AND_CONTAINER_INHERIT: u8 = 0x03;

/// A self-relative security descriptor owned (owner and group) by `sid`, with a DACL giving
/// full control to the owner, SYSTEM and Administrators — the shape BuildKit's `--chown`
/// produces (owner changed, usual ACL). Directories get inheritable entries.
pub fn owner_security_descriptor(sid: &str, directory: bool) -> Option<Vec<u8>> {
    let owner = parse_sid(sid)?;
    let system = parse_sid("S-1-5-18")?;
    let admins = parse_sid("S-1-5-32-544")?;
    let flags = if directory {
        OBJECT_AND_CONTAINER_INHERIT
    } else {
        0
    };
    let mut aces = Vec::new();
    for trustee in [&owner, &system, &admins] {
        let size = 8 + trustee.len();
        aces.push(0u8); // ACCESS_ALLOWED_ACE_TYPE
        aces.push(flags);
        aces.extend_from_slice(&(size as u16).to_le_bytes());
        aces.extend_from_slice(&FILE_ALL_ACCESS.to_le_bytes());
        aces.extend_from_slice(trustee);
    }
    let mut acl = vec![2u8, 0]; // ACL_REVISION
    acl.extend_from_slice(&((8 + aces.len()) as u16).to_le_bytes());
    acl.extend_from_slice(&3u16.to_le_bytes());
    acl.extend_from_slice(&0u16.to_le_bytes());
    acl.extend_from_slice(&aces);

    let owner_offset = 20u32;
    let group_offset = owner_offset + owner.len() as u32;
    let dacl_offset = group_offset + owner.len() as u32;
    let mut sd = vec![1u8, 0];
    sd.extend_from_slice(&(SE_SELF_RELATIVE | SE_DACL_PRESENT).to_le_bytes());
    sd.extend_from_slice(&owner_offset.to_le_bytes());
    sd.extend_from_slice(&group_offset.to_le_bytes());
    sd.extend_from_slice(&0u32.to_le_bytes()); // no SACL
    sd.extend_from_slice(&dacl_offset.to_le_bytes());
    sd.extend_from_slice(&owner);
    sd.extend_from_slice(&owner);
    sd.extend_from_slice(&acl);
    Some(sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_resolve_like_buildkit() {
        assert_eq!(resolve_chown("").unwrap(), CONTAINER_ADMINISTRATOR);
        assert_eq!(
            resolve_chown("ContainerAdministrator").unwrap(),
            CONTAINER_ADMINISTRATOR
        );
        assert_eq!(
            resolve_chown("containeruser:whatever").unwrap(),
            CONTAINER_USER
        );
        assert_eq!(resolve_chown("S-1-5-32-545").unwrap(), "S-1-5-32-545");
        let err = resolve_chown("bob").unwrap_err().to_string();
        assert!(err.contains("--chown=bob"), "{err}");
    }

    #[test]
    fn sid_binary_form() {
        assert_eq!(
            parse_sid("S-1-5-32-544").unwrap(),
            [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0]
        );
        assert!(parse_sid("S-1-5").is_none());
        assert!(parse_sid("X-1-5-1").is_none());
    }

    #[test]
    fn descriptor_layout_points_at_owner_group_and_dacl() {
        let sd = owner_security_descriptor(CONTAINER_USER, false).unwrap();
        let owner = parse_sid(CONTAINER_USER).unwrap();
        let u32_at = |i: usize| u32::from_le_bytes(sd[i..i + 4].try_into().unwrap()) as usize;
        assert_eq!(sd[0], 1);
        assert_eq!(u16::from_le_bytes([sd[2], sd[3]]), 0x8004);
        assert_eq!(&sd[u32_at(4)..u32_at(4) + owner.len()], owner.as_slice());
        assert_eq!(&sd[u32_at(8)..u32_at(8) + owner.len()], owner.as_slice());
        assert_eq!(u32_at(12), 0);
        let dacl = u32_at(16);
        assert_eq!(sd[dacl], 2);
        assert_eq!(
            u16::from_le_bytes([sd[dacl + 2], sd[dacl + 3]]) as usize,
            sd.len() - dacl
        );
        assert_eq!(u16::from_le_bytes([sd[dacl + 4], sd[dacl + 5]]), 3);
    }
}
