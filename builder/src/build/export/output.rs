//! Build outputs: the content store (tags from `-t`), an OCI image layout as a tarball
//! (`--output type=oci,dest=FILE`, buildx's default; `dest=-` is standard output) or a directory
//! (`type=oci,tar=false,dest=DIR`), a docker-archive (`--output type=docker,dest=FILE`, loads
//! with `docker load`) and a registry (`--push`, `type=registry[,name=REF]`, done by
//! [`crate::build::export::registry_push`]). The image's filesystem as a directory or a tar
//! (`type=local`, `type=tar`) is parsed here and written by `crate::inspect::tree` (the merged
//! view belongs to inspection, above the build in the module order). Every file output goes through the store's [`ImageSink`]: blobs first (layers
//! copied from wherever they live — a base's layers are read only now, and only for outputs that
//! lack them), then the manifest or index, so a reader never sees a manifest whose blobs are
//! missing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::build::engine::BuildResult;
use crate::build::export::registry_push::{push, Pushed};
use crate::store::docker_archive::DockerArchiveWriter;
use crate::store::oci_layout::OciLayout;
use crate::store::registry_source::RegistryAccess;
use crate::store::{ImageSink, Store, StoreError};

/// One `--output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An OCI image layout: a tarball at `dest` (`-`: standard output), or with `tar: false` a
    /// directory.
    Oci { dest: PathBuf, tar: bool },
    /// A docker-archive tar file.
    Docker { dest: PathBuf },
    /// Push to the registry named by `name`, or else by every `-t` tag.
    Registry { name: Option<String> },
    /// The image's filesystem (`C:\`) in a directory.
    Local { dest: PathBuf },
    /// The image's filesystem as one tar file (`-`: standard output).
    Tar { dest: PathBuf },
}

impl Output {
    /// Parses buildx's `type=oci,dest=FILE` syntax (`dest` may also be given as `path`). Every
    /// key buildx's exporters take is either done as buildx does it or refused by name: none is
    /// accepted and ignored.
    pub fn parse(text: &str) -> Result<Output, String> {
        // buildx's shorthands: a bare path is type=local,dest=PATH; `-` is type=tar to stdout.
        if !text.contains('=') && !text.contains(',') && !text.is_empty() {
            return Ok(match text {
                "-" => Output::Tar { dest: "-".into() },
                dir => Output::Local { dest: dir.into() },
            });
        }
        let mut kind = None;
        let mut dest = None;
        let mut name = None;
        let mut tar = None;
        let flag = |k: &str, v: &str| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("--output {text}: {k}={v}: expected true or false")),
        };
        for part in text.split(',') {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                format!("--output {text}: expected key=value pairs, e.g. type=oci,dest=out.tar")
            })?;
            let (k, v) = (k.trim(), v.trim());
            match k {
                "type" => kind = Some(v.to_string()),
                "dest" | "path" => dest = Some(PathBuf::from(v)),
                "push" => {
                    if flag(k, v)? {
                        kind = kind.or(Some("registry".into()));
                    }
                }
                "name" => name = Some(v.to_string()).filter(|n| !n.is_empty()),
                "tar" => tar = Some(flag(k, v)?),
                // silo's layers are gzip'd and its manifests OCI (docker-archive: Docker's).
                "compression" if v == "gzip" => {}
                "oci-mediatypes" if v == "true" => {}
                "compression" | "oci-mediatypes" => {
                    return Err(format!(
                        "--output {text}: {k}={v} is not supported (silo writes gzip layers and \
                         OCI media types; leave the key out)"
                    ))
                }
                other => return Err(format!("--output {text}: unknown key {other:?}")),
            }
        }
        let need_dest = |kind: &str| {
            dest.clone()
                .ok_or_else(|| format!("--output {text}: type={kind} needs dest=PATH"))
        };
        match kind.as_deref() {
            Some("oci") => Ok(Output::Oci {
                dest: need_dest("oci")?,
                tar: tar.unwrap_or(true),
            }),
            Some("docker") | Some("docker-archive") => {
                if tar == Some(false) {
                    return Err(format!(
                        "--output {text}: type=docker is always a tar file (docker load reads \
                         one); for a directory use type=oci,tar=false"
                    ));
                }
                Ok(Output::Docker {
                    dest: need_dest("docker")?,
                })
            }
            Some("registry") | Some("image") => Ok(Output::Registry { name }),
            Some("local") => Ok(Output::Local {
                dest: need_dest("local")?,
            }),
            Some("tar") => Ok(Output::Tar {
                dest: need_dest("tar")?,
            }),
            Some(other) => Err(format!(
                "--output {text}: type={other} is not supported (use oci, docker, registry, \
                 local or tar)"
            )),
            None => Err(format!(
                "--output {text}: missing type=oci|docker|registry|local|tar"
            )),
        }
    }
}

/// Writes an OCI layout made by `fill` in a scratch directory as a tarball at `dest` (`-`:
/// standard output): `oci-layout`, `index.json` and `blobs/sha256/…` at its root, as buildx's
/// OCI exporter and `skopeo copy … oci-archive:` write it. Entries carry no owner and the
/// `SOURCE_DATE_EPOCH` time (else 0), so the same image gives the same tarball. A file at `dest`
/// appears whole or not at all (written beside it, then renamed).
fn write_oci_tarball(
    dest: &Path,
    fill: impl FnOnce(&Path) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        StoreError::invalid(path.display().to_string(), format!("{what}: {e}"))
    };
    let to_stdout = dest == Path::new("-");
    if !to_stdout && dest.is_dir() {
        return Err(StoreError::invalid(
            dest.display().to_string(),
            "is a directory: type=oci writes an OCI layout tarball, as buildx does; add \
             tar=false to write (or update) a layout directory",
        ));
    }
    let parent = match dest.parent() {
        Some(p) if !to_stdout && !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::env::temp_dir(),
    };
    let scratch = tempfile::Builder::new()
        .prefix(".silo-oci-")
        .tempdir_in(&parent)
        .map_err(|e| io("making a scratch directory", &parent, e))?;
    let layout = scratch.path().join("layout");
    fill(&layout)?;
    let mtime = crate::oci::source_date_epoch().unwrap_or(0).max(0) as u64;
    let mut files = Vec::new();
    collect_files(&layout, &layout, &mut files).map_err(|e| io("reading", &layout, e))?;
    files.sort();
    let write_all = |out: &mut dyn Write| -> std::io::Result<()> {
        let mut tar = tar::Builder::new(out);
        let mut dirs = std::collections::BTreeSet::new();
        for rel in &files {
            for dir in rel
                .ancestors()
                .skip(1)
                .filter(|d| !d.as_os_str().is_empty())
            {
                dirs.insert(dir.to_path_buf());
            }
        }
        let header = |kind: tar::EntryType, mode: u32, size: u64| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(size);
            h.set_mtime(mtime);
            h.set_uid(0);
            h.set_gid(0);
            h
        };
        for dir in &dirs {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            tar.append_data(&mut h, dir, std::io::empty())?;
        }
        for rel in &files {
            let file = std::fs::File::open(layout.join(rel))?;
            let mut h = header(tar::EntryType::Regular, 0o644, file.metadata()?.len());
            tar.append_data(&mut h, rel, file)?;
        }
        tar.into_inner()?.flush()
    };
    if to_stdout {
        let mut out = std::io::stdout().lock();
        return write_all(&mut out).map_err(|e| io("writing the tarball", dest, e));
    }
    let mut file = tempfile::NamedTempFile::new_in(&parent)
        .map_err(|e| io("creating the tarball", dest, e))?;
    let written = write_all(&mut std::io::BufWriter::new(file.as_file_mut()));
    written
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| io("writing the tarball", dest, e))?;
    file.persist(dest)
        .map_err(|e| io("naming the tarball", dest, e.error))?;
    Ok(())
}

/// Every regular file below `dir`, relative to `root`.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// The name an image gets inside an OCI layout: the tag of a reference (`repo:tag` → `tag`).
pub fn oci_ref_name(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    match last.split_once(':') {
        Some((_, tag)) if !tag.is_empty() => tag.to_string(),
        _ => "latest".to_string(),
    }
}

/// Writes the build's images into `sink` under `name`.
pub fn export(
    store: &Store,
    result: &BuildResult,
    sink: &mut dyn ImageSink,
    name: Option<&str>,
) -> Result<(), StoreError> {
    for image in &result.images {
        for layer in &image.layers {
            let digest = layer.descriptor.digest();
            if !sink.has_blob(digest)? {
                let mut reader = layer.home.open(store, digest)?;
                sink.put_blob(digest, layer.descriptor.size(), &mut reader)?;
            }
        }
        let config = &image.config_descriptor;
        if !sink.has_blob(config.digest())? {
            sink.put_blob(config.digest(), config.size(), &mut &image.config_bytes[..])?;
        }
    }
    match &result.index {
        None => {
            let image = &result.images[0];
            sink.put_manifest(&image.manifest_descriptor, &image.manifest_bytes, name)?;
        }
        Some((descriptor, bytes)) => {
            for image in &result.images {
                let m = &image.manifest_descriptor;
                if !sink.has_blob(m.digest())? {
                    sink.put_blob(m.digest(), m.size(), &mut &image.manifest_bytes[..])?;
                }
            }
            sink.put_manifest(descriptor, bytes, name)?;
        }
    }
    sink.finish()
}

/// Writes one output; for a registry output, pushes it through `access` and returns what was
/// pushed.
pub fn write_output(
    store: &Store,
    result: &BuildResult,
    output: &Output,
    tags: &[String],
    access: &Arc<RegistryAccess>,
) -> Result<Vec<Pushed>, StoreError> {
    match output {
        Output::Registry { name } => {
            let names = match name {
                Some(n) => std::slice::from_ref(n),
                None => tags,
            };
            if names.is_empty() {
                return Err(StoreError::invalid(
                    "--push / --output type=registry",
                    "pushing needs a name: add -t REGISTRY/REPO:TAG (or name=REF)",
                ));
            }
            push(store, result, names, access)
        }
        file => write_file_output(store, result, file, tags).map(|()| Vec::new()),
    }
}

/// Writes an OCI layout or docker-archive output.
fn write_file_output(
    store: &Store,
    result: &BuildResult,
    output: &Output,
    tags: &[String],
) -> Result<(), StoreError> {
    match output {
        Output::Oci { dest, tar: false } => {
            let mut layout = OciLayout::create(dest)?;
            let name = tags.first().map(|t| oci_ref_name(t));
            // A named image replaces the entry of that name (put_manifest); an unnamed one
            // replaces the previous unnamed output.
            if name.is_none() {
                layout.remove_untagged();
            }
            export(store, result, &mut layout, name.as_deref())
        }
        Output::Oci { dest, tar: true } => {
            let name = tags.first().map(|t| oci_ref_name(t));
            write_oci_tarball(dest, |dir| {
                export(store, result, &mut OciLayout::create(dir)?, name.as_deref())
            })
        }
        Output::Docker { dest } => {
            if result.index.is_some() {
                return Err(StoreError::invalid(
                    dest.display().to_string(),
                    "a docker-archive holds one platform; build a single --platform for type=docker",
                ));
            }
            let mut archive = DockerArchiveWriter::create(dest)?;
            export(
                store,
                result,
                &mut archive,
                tags.first().map(String::as_str),
            )
        }
        Output::Local { .. } | Output::Tar { .. } => {
            unreachable!("cli::build writes filesystem outputs through inspect::tree")
        }
        Output::Registry { .. } => unreachable!("write_output pushes registry outputs"),
    }
}

/// Tags the result in the store (`-t`), after everything else succeeded.
pub fn tag_in_store(
    store: &Store,
    result: &BuildResult,
    tags: &[String],
) -> Result<(), StoreError> {
    let (descriptor, _) = result.top();
    for tag in tags {
        store.set_ref(tag, descriptor)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_like_buildx() {
        assert_eq!(
            Output::parse("type=oci,dest=out").unwrap(),
            Output::Oci {
                dest: "out".into(),
                tar: true
            }
        );
        assert_eq!(
            Output::parse("type=docker,dest=img.tar").unwrap(),
            Output::Docker {
                dest: "img.tar".into()
            }
        );
        assert_eq!(
            Output::parse("type=registry").unwrap(),
            Output::Registry { name: None }
        );
        assert_eq!(
            Output::parse("type=image,name=r.example/app:2,push=true").unwrap(),
            Output::Registry {
                name: Some("r.example/app:2".into())
            }
        );
        assert!(Output::parse("type=oci").unwrap_err().contains("dest"));
        assert_eq!(
            Output::parse("type=local,dest=x").unwrap(),
            Output::Local { dest: "x".into() }
        );
        assert_eq!(
            Output::parse("type=tar,dest=-").unwrap(),
            Output::Tar { dest: "-".into() }
        );
        // buildx's shorthands.
        assert_eq!(
            Output::parse("out/dir").unwrap(),
            Output::Local {
                dest: "out/dir".into()
            }
        );
        assert_eq!(
            Output::parse("-").unwrap(),
            Output::Tar { dest: "-".into() }
        );
        assert!(Output::parse("type=tar").unwrap_err().contains("dest"));
        assert!(Output::parse("type=cacheonly")
            .unwrap_err()
            .contains("not supported"));
        assert_eq!(oci_ref_name("example.com:5000/app:v1"), "v1");
        assert_eq!(oci_ref_name("example.com:5000/app"), "latest");
    }
}
