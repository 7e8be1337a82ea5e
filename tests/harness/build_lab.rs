//! A lab for `silo build` cache tests: a base image in an OCI layout, a COPY/ENV-only context
//! (runs with `--runtime none`), separate silo state directories (each a fresh store, like CI
//! machines that start empty) and, when a test needs one, a real docker-registry. Shared by the
//! registry, local and inline cache tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::registry::Registry;
use crate::silo;

/// A fixed `SOURCE_DATE_EPOCH`, so builds in different state directories give identical images.
pub const EPOCH: &str = "SOURCE_DATE_EPOCH=1700000000";

/// One silo state directory.
pub struct State {
    pub root: PathBuf,
    /// `SILO_CREDS` for the registry, when set.
    pub creds: Option<String>,
}

impl State {
    pub fn run(&self, args: &[&str]) -> Output {
        let mut command = silo();
        if let Some(creds) = &self.creds {
            command.env("SILO_CREDS", creds);
        }
        command
            .env("SILO_ROOT", &self.root)
            .env_remove("SOURCE_DATE_EPOCH")
            // No machine credentials leak in (the registry has no auth).
            .env("DOCKER_CONFIG", self.root.join("no-docker-config"))
            .env("REGISTRY_AUTH_FILE", self.root.join("no-auth.json"))
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs silo and panics unless it fails; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "silo {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs silo and panics unless it succeeds; returns stdout and stderr.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "silo {args:?} failed:\n{text}");
        text
    }
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    registry: Option<Registry>,
    /// `--build-arg BASE=oci:…` naming the lab's base image.
    pub base_arg: String,
}

impl Lab {
    /// A lab with a plain-HTTP registry without auth.
    pub fn no_auth() -> Lab {
        Lab::with_registry(Registry::no_auth())
    }

    pub fn with_registry(registry: Registry) -> Lab {
        Lab::make(Some(registry))
    }

    /// A lab without a registry (local caches).
    pub fn without_registry() -> Lab {
        Lab::make(None)
    }

    fn make(registry: Option<Registry>) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("base-layout");
        let lab = Lab {
            base_arg: format!("BASE=oci:{}:ltsc2022", layout.display()),
            dir,
            registry,
        };
        lab.state("base").ok(&[
            "base",
            "create",
            "-t",
            "ltsc2022",
            "--os-version",
            "10.0.20348.1",
            "--output",
            &format!("oci:{}:ltsc2022", layout.display()),
        ]);
        let ctx = lab.context();
        fs::create_dir_all(ctx.join("conf")).unwrap();
        fs::write(ctx.join("conf/app.ini"), "a=1\n").unwrap();
        fs::write(ctx.join("main.txt"), "main v1\n").unwrap();
        fs::write(
            ctx.join("Dockerfile"),
            "ARG BASE\nFROM $BASE\nWORKDIR /app\nCOPY conf/ conf/\nCOPY main.txt .\nENV X=1\n",
        )
        .unwrap();
        lab
    }

    pub fn registry(&self) -> &Registry {
        self.registry
            .as_ref()
            .expect("this lab was made without a registry")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn context(&self) -> PathBuf {
        self.path("ctx")
    }

    pub fn state(&self, name: &str) -> State {
        State {
            root: self.path(&format!("state-{name}")),
            creds: None,
        }
    }

    pub fn cache_ref(&self) -> String {
        self.registry().reference("cache:x")
    }

    /// `--cache-to`/`--cache-from` value for `repo_and_tag` on the test registry (plain HTTP).
    pub fn spec(&self, repo_and_tag: &str, extra: &str) -> String {
        format!(
            "type=registry,ref={},registry.insecure=true{extra}",
            self.registry().reference(repo_and_tag)
        )
    }

    /// Builds the context in `state` with `--runtime none` and `extra` flags; returns the output
    /// and the image ID.
    pub fn build(&self, state: &State, extra: &[&str]) -> (String, String) {
        self.build_on(state, "none", extra)
    }

    /// [`Lab::build`] with another runtime (`wine`).
    pub fn build_on(&self, state: &State, runtime: &str, extra: &[&str]) -> (String, String) {
        let iid = self.path("iid");
        let _ = fs::remove_file(&iid);
        let iid_text = iid.display().to_string();
        let ctx = self.context().display().to_string();
        let mut args = vec![
            "build",
            "--runtime",
            runtime,
            "--progress",
            "plain",
            "--build-arg",
            &self.base_arg,
            "--build-arg",
            EPOCH,
            "--iidfile",
            &iid_text,
        ];
        args.extend_from_slice(extra);
        args.push(&ctx);
        let text = state.ok(&args);
        (text, fs::read_to_string(&iid).unwrap())
    }
}

/// The manifest digest and layer digests of the single image in an OCI layout.
pub fn layout_layers(layout: &Path) -> (String, Vec<String>) {
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest: Value = serde_json::from_slice(&fs::read(blob(&digest)).unwrap()).unwrap();
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    (digest, layers)
}

/// The number of records an export reported (`exported cache to WHERE: N records, …`).
pub fn exported_records(text: &str) -> usize {
    let line = text
        .lines()
        .find(|l| l.contains("exported cache to"))
        .unwrap_or_else(|| panic!("no export line in:\n{text}"));
    let after = line.split(": ").nth(1).unwrap();
    after.split(' ').next().unwrap().parse().unwrap()
}
