//! The content store: blobs by digest, refs, a cross-process lock, the unpacked-layer cache and
//! build-cache records; OCI image layout and docker-archive reading and writing.
