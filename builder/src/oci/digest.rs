//! Digests: hashing readers/writers, validation of untrusted digests (they become file names),
//! and canonical JSON bytes (so equal metadata has equal digests).

use std::io::{self, Read, Write};

use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};

/// A digest string silo refuses (not `sha256:<64 lowercase hex>`); the text says what and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad digest {0}")]
pub struct BadDigest(pub String);

/// Parses a digest string from untrusted input and accepts only `sha256:<64 lowercase hex>`, the
/// one algorithm silo stores (a digest becomes a file name, so nothing else may pass).
pub fn parse_sha256(text: &str) -> Result<Digest, BadDigest> {
    let digest: Digest = text
        .parse()
        .map_err(|e| BadDigest(format!("{text:?}: {e}")))?;
    sha256_hex(&digest)?;
    Ok(digest)
}

/// The hex part of a sha256 digest, or an error naming the digest if it uses another algorithm.
pub fn sha256_hex(digest: &Digest) -> Result<&str, BadDigest> {
    let text = digest.as_ref();
    match text.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(BadDigest(format!(
            "{text}: only sha256 digests (64 lowercase hex digits) are supported"
        ))),
    }
}

/// Builds a digest from a finished sha256 hasher.
pub fn digest_of_hasher(hasher: Sha256) -> Digest {
    let hex = hex::encode(hasher.finalize());
    format!("sha256:{hex}")
        .parse()
        .expect("a sha256 hex string is a valid digest")
}

/// The sha256 digest of a byte slice.
pub fn digest_of_bytes(bytes: &[u8]) -> Digest {
    digest_of_hasher(Sha256::new_with_prefix(bytes))
}

/// Serializes to JSON with object keys sorted, so equal values give equal bytes and digests
/// (oci-spec keeps annotations in a `HashMap`, whose iteration order changes per process).
pub fn canonical_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("image metadata serializes to JSON");
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

/// A writer that hashes and counts everything passing through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Returns the inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, digest_of_hasher(self.hasher), self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }

    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    pub fn finish(self) -> (Digest, u64) {
        (digest_of_hasher(self.hasher), self.read)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sha256_rejects_other_algorithms_and_paths() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(parse_sha256(&good).is_ok());
        assert!(parse_sha256("sha512:abcd").is_err());
        assert!(parse_sha256("sha256:../../etc").is_err());
        assert!(parse_sha256(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(parse_sha256("foo:bar").is_err());
    }

    #[test]
    fn digest_of_empty_is_known() {
        assert_eq!(
            digest_of_bytes(b"").as_ref(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
