//! `--chown` on Windows: the user name resolves to a SID the way BuildKit's
//! `ResolveUsernameToSID` does for the accounts every Windows image has; the layer codec makes
//! that SID the owner in each entry's security descriptor (`MSWINDOWS.rawsd`).

use super::sd::Sid;

/// A `--chown` value that names no account silo can resolve without running the image.
#[derive(Debug, thiserror::Error)]
#[error(
    "--chown={0}: unknown account; use ContainerAdministrator, ContainerUser or a SID like \
     S-1-5-32-545 (other accounts exist only inside the running image, and resolving them \
     needs a RUN step)"
)]
pub struct UnknownAccount(pub String);

/// The SID of a `--chown` value (`user` or `user:group`; the group is ignored on Windows, where
/// a file has one owner). Empty means ContainerAdministrator, as in BuildKit.
pub fn resolve_chown(chown: &str) -> Result<Sid, UnknownAccount> {
    let user = chown.split_once(':').map_or(chown, |(user, _)| user);
    if user.is_empty() {
        return Ok(Sid::container_administrator());
    }
    // Host well-known aliases BuildKit's LookupSID would find on any Windows host.
    let well_known = [
        ("Administrators", Sid::builtin_administrators()),
        ("Users", Sid::builtin_users()),
        ("SYSTEM", Sid::local_system()),
    ];
    if let Some((_, sid)) = well_known
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(user))
    {
        return Ok(sid.clone());
    }
    Sid::parse(user).ok_or_else(|| UnknownAccount(chown.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_resolve_like_buildkit() {
        assert_eq!(resolve_chown("").unwrap(), Sid::container_administrator());
        assert_eq!(
            resolve_chown("ContainerAdministrator").unwrap(),
            Sid::container_administrator()
        );
        assert_eq!(
            resolve_chown("containeruser:whatever").unwrap(),
            Sid::container_user()
        );
        assert_eq!(resolve_chown("S-1-5-32-545").unwrap(), Sid::builtin_users());
        let err = resolve_chown("bob").unwrap_err().to_string();
        assert!(err.contains("--chown=bob"), "{err}");
    }
}
