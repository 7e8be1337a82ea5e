//! Image metadata: manifests, configs and indexes (OCI and Docker v2s2), and the Windows platform
//! rules (`os.version` ordering, isolation compatibility).
