//! The registry's own API as crane, skopeo and regctl offer it: `silo tags REF` (alias
//! `ls-tags`), `silo catalog REGISTRY`, `silo delete REF`, `silo tag SRC DST` (a remote retag:
//! the manifest is put under the new tag, no blob moves) and `silo digest REF` (by the bare-name
//! rule, so a store name gives the store's digest).

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use registry_client::Reference;

use super::access::{registry_access, RegistryOpts};
use super::Globals;
use crate::oci::Flavor;
use crate::store::local_image::{open_source_image, SourceImage};
use crate::store::ImageLocation;

#[derive(Debug, clap::Args)]
pub struct TagsArgs {
    /// Repository (`[docker://]registry/repo`; a tag or digest is ignored, as crane ls does).
    pub repository: String,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

#[derive(Debug, clap::Args)]
pub struct CatalogArgs {
    /// Registry host[:port].
    pub registry_host: String,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// Image (`[docker://]registry/repo:tag` or `…@sha256:…`): its manifest is deleted, and with
    /// it every tag that points at it.
    pub reference: String,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// Image to tag (`[docker://]registry/repo:tag` or `…@sha256:…`).
    pub source: String,
    /// The new tag: `TAG`, or a reference in the same repository (`registry/repo:TAG`).
    pub tag: String,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

#[derive(Debug, clap::Args)]
pub struct DigestArgs {
    /// Image: a store name, `docker://REF`, `oci:DIR[:tag]` or `docker-archive:FILE[:ref]` (a
    /// bare name is the store's image when the store holds it, else the registry's).
    pub reference: String,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

/// A registry reference from `text` (`docker://` allowed; `oci:`/`docker-archive:`/`dir:`
/// refused).
fn registry_reference(text: &str, verb: &str) -> Result<Reference> {
    match ImageLocation::parse(text)? {
        ImageLocation::Store(r) | ImageLocation::Registry(r) => Ok(Reference::parse(&r)?),
        _ => bail!("silo {verb} works on a registry: give REF or docker://REF, not {text:?}"),
    }
}

pub fn tags(_globals: &Globals, args: TagsArgs) -> Result<ExitCode> {
    let r = registry_reference(&args.repository, "tags")?;
    let client = args
        .registry
        .client(&[r.registry()], args.registry.progress())?;
    let tags = registry_access(client.clone())?
        .block_on(client.list_tags(&r))
        .with_context(|| format!("listing the tags of {}", r.name()))?;
    print_lines(&tags)
}

pub fn catalog(_globals: &Globals, args: CatalogArgs) -> Result<ExitCode> {
    let (host, r) = super::login::registry_ref(&args.registry_host)?;
    let client = args
        .registry
        .client(&[r.registry()], args.registry.progress())?;
    let repos = registry_access(client.clone())?
        .block_on(client.catalog(&r))
        .with_context(|| format!("listing the repositories of {host}"))?;
    print_lines(&repos)
}

pub fn delete(_globals: &Globals, args: DeleteArgs) -> Result<ExitCode> {
    let r = registry_reference(&args.reference, "delete")?;
    let client = args
        .registry
        .client(&[r.registry()], args.registry.progress())?;
    let rt = registry_access(client.clone())?;
    // A registry deletes manifests by digest only: a tag is resolved first.
    let digest = match r.digest() {
        Some(d) => d.to_string(),
        None => {
            rt.block_on(client.get_manifest(&r))
                .with_context(|| format!("resolving {r}"))?
                .digest
        }
    };
    rt.block_on(client.delete_manifest(&r, &digest))
        .with_context(|| format!("deleting {}@{digest}", r.name()))?;
    eprintln!("deleted {}@{digest}", r.name());
    Ok(ExitCode::SUCCESS)
}

pub fn tag(_globals: &Globals, args: TagArgs) -> Result<ExitCode> {
    let src = registry_reference(&args.source, "tag")?;
    let dst = if args.tag.contains(['/', '@']) || args.tag.starts_with("docker://") {
        registry_reference(&args.tag, "tag")?
    } else {
        Reference::parse(&format!("{}:{}", src.name(), args.tag))?
    };
    if dst.name() != src.name() {
        bail!(
            "silo tag retags within one repository ({} → {}); to copy between repositories use \
             `silo copy {} docker://{}`",
            src.name(),
            dst.name(),
            args.source,
            args.tag
        );
    }
    let Some(new_tag) = dst.tag().filter(|_| dst.digest().is_none()) else {
        bail!("{}: the new name needs a tag (REPO:TAG)", args.tag);
    };
    let client = args
        .registry
        .client(&[src.registry()], args.registry.progress())?;
    let rt = registry_access(client.clone())?;
    let manifest = rt
        .block_on(client.get_manifest(&src))
        .with_context(|| format!("reading {src}"))?;
    let digest = rt
        .block_on(client.put_manifest(&dst, new_tag, &manifest))
        .with_context(|| format!("tagging {dst}"))?;
    eprintln!("tagged {}:{new_tag} → {digest}", dst.name());
    Ok(ExitCode::SUCCESS)
}

pub fn digest(globals: &Globals, args: DigestArgs) -> Result<ExitCode> {
    let location = ImageLocation::parse(&args.reference)?;
    let digest = match open_source_image(&location, globals.root.as_deref(), Flavor::Oci)? {
        SourceImage::Local(local) => local.tree.root.digest.clone(),
        SourceImage::Registry(remote) => {
            let client = args
                .registry
                .client(&[remote.reference.registry()], args.registry.progress())?;
            let rt = registry_access(client.clone())?;
            let from = rt
                .block_on(client.pull_source(&remote.reference))
                .with_context(|| remote.context())?;
            rt.block_on(client.get_manifest(&from))
                .with_context(|| remote.context())?
                .digest
        }
    };
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

fn print_lines(lines: &[String]) -> Result<ExitCode> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for l in lines {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
