//! registry-client: the only code in silo that speaks HTTP to registries and foreign-layer URLs.
//! It is a pure protocol crate (distribution API, auth, credentials, pull/push transfer engines);
//! it reads from and writes to blob source/sink traits and knows nothing of files on disk layouts.
