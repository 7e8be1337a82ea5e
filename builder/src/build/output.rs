//! Build outputs: the content store (tags from `-t`), an OCI image layout directory
//! (`--output type=oci,dest=DIR`), a docker-archive (`--output type=docker,dest=FILE`, loads
//! with `docker load`) and a registry (`--push`, `type=registry[,name=REF]`, done by
//! [`super::registry_push`]). Every file output goes through the store's [`ImageSink`]: blobs first (layers
//! copied from wherever they live — a base's layers are read only now, and only for outputs that
//! lack them), then the manifest or index, so a reader never sees a manifest whose blobs are
//! missing.

use std::path::PathBuf;

use super::engine::BuildResult;
use super::registry_push::{push, Pushed};
use crate::store::docker_archive::DockerArchiveWriter;
use crate::store::oci_layout::OciLayout;
use crate::store::{ImageSink, Store, StoreError};

/// One `--output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An OCI image layout directory.
    Oci { dest: PathBuf },
    /// A docker-archive tar file.
    Docker { dest: PathBuf },
    /// Push to the registry named by `name`, or else by every `-t` tag.
    Registry { name: Option<String> },
}

impl Output {
    /// Parses buildx's `type=oci,dest=DIR` syntax (`dest` may also be given as `path`).
    pub fn parse(text: &str) -> Result<Output, String> {
        let mut kind = None;
        let mut dest = None;
        let mut name = None;
        for part in text.split(',') {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                format!("--output {text}: expected key=value pairs, e.g. type=oci,dest=out")
            })?;
            match k.trim() {
                "type" => kind = Some(v.trim().to_string()),
                "dest" | "path" => dest = Some(PathBuf::from(v.trim())),
                "push" if v.trim() == "true" => kind = kind.or(Some("registry".into())),
                "name" => name = Some(v.trim().to_string()).filter(|n| !n.is_empty()),
                "push" | "tar" | "oci-mediatypes" | "compression" => {}
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
            }),
            Some("docker") | Some("docker-archive") => Ok(Output::Docker {
                dest: need_dest("docker")?,
            }),
            Some("registry") | Some("image") => Ok(Output::Registry { name }),
            Some(other) => Err(format!(
                "--output {text}: type={other} is not supported (use oci, docker or registry)"
            )),
            None => Err(format!("--output {text}: missing type=oci|docker|registry")),
        }
    }
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

/// Writes one output; for a registry output, returns what was pushed.
pub fn write_output(
    store: &Store,
    result: &BuildResult,
    output: &Output,
    tags: &[String],
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
            push(store, result, names)
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
        Output::Oci { dest } => {
            let mut layout = OciLayout::create(dest)?;
            let name = tags.first().map(|t| oci_ref_name(t));
            // A named image replaces the entry of that name (put_manifest); an unnamed one
            // replaces the previous unnamed output.
            if name.is_none() {
                layout.remove_untagged();
            }
            export(store, result, &mut layout, name.as_deref())
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
            Output::Oci { dest: "out".into() }
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
        assert!(Output::parse("type=local,dest=x")
            .unwrap_err()
            .contains("not supported"));
        assert_eq!(oci_ref_name("example.com:5000/app:v1"), "v1");
        assert_eq!(oci_ref_name("example.com:5000/app"), "latest");
    }
}
