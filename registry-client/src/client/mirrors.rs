//! Choosing where a pull reads from and where a push writes to, by registries.conf
//! ([`crate::registries_conf`]): a pull tries the mirrors in order, then the registry itself,
//! and reads the whole image from the first that serves its manifest (as containers/image
//! does); a push goes to the registry's location only.

use super::Client;
use crate::error::Result;
use crate::reference::Reference;

impl Client {
    /// The reference to pull `r` from: the first of registries.conf's pull sources for `r` whose
    /// manifest answers, the registry's own location when no mirror does (not probed: its own
    /// errors come from the pull). Mirrors that fail are noted on the progress output, so the
    /// user sees why the pull went elsewhere. Refuses a blocked `r`.
    pub async fn pull_source(&self, r: &Reference) -> Result<Reference> {
        let mut sources = self.cfg.registries.pull_sources(r)?;
        let primary = sources
            .pop()
            .expect("pull_sources ends with the registry itself");
        for mirror in sources {
            match self.get_manifest(&mirror.reference).await {
                Ok(_) => {
                    self.progress
                        .note(&format!("{r}: pulling from mirror {}", mirror.reference));
                    return Ok(mirror.reference);
                }
                Err(e) => self
                    .progress
                    .note(&format!("{r}: mirror {} failed: {e}", mirror.reference)),
            }
        }
        Ok(primary.reference)
    }

    /// The reference a push of `r` writes to (registries.conf's location for it; never a
    /// mirror). Refuses a blocked `r`.
    pub fn push_target(&self, r: &Reference) -> Result<Reference> {
        self.cfg.registries.push_target(r)
    }
}
