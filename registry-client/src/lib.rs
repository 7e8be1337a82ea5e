//! registry-client: the only code in silo that speaks HTTP to registries and foreign-layer URLs.
//! It is a pure protocol crate (distribution API, auth, credentials, pull/push transfer engines);
//! it reads from and writes to blob source/sink traits ([`transfer`]) and knows nothing of the
//! store's on-disk layout. Windows platform selection lives in [`platform`] and the walk of a
//! manifest tree in [`walk`], so the builder uses the same ones for local images.
// Unsafe code only where an FFI or system call needs it, each module allowing it says why.
#![deny(unsafe_code)]

pub mod auth;
pub mod blobdir;
pub mod client;
pub mod corpus;
pub mod credentials;
pub mod error;
pub mod manifest;
pub mod platform;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registries_conf;
pub mod transfer;
pub mod walk;

pub use auth::Credential;
pub use client::{Client, ClientConfig, CredentialSource, DefaultCredentials};
pub use error::{Error, Result};
pub use manifest::{BlobRef, RawManifest};
pub use platform::{Isolation, OsVersion, PlatformRequest, Selection};
pub use pull::Resolved;
pub use push::{ForeignPolicy, ImageToPush, PushOptions, PushReport};
pub use reference::Reference;
pub use transfer::{BlobOutcome, BlobSink, BlobSource, NoProgress, PartialBlob, Progress};
