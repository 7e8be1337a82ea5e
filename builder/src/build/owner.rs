//! `--chown` on Windows: the user name resolves to a SID the way BuildKit's
//! `ResolveUsernameToSID` does for the accounts every Windows image has; the layer codec makes
//! that SID the owner in each entry's security descriptor (`MSWINDOWS.rawsd`).

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
}
