//! Content digests. Every blob, config and layer in hostctl is named by the sha256 of its
//! bytes, written `sha256:<64 lowercase hex>` as in the OCI image spec and Docker's image
//! IDs. [`Digest`] is that name (sha256 only: other algorithms are refused with a clear
//! message); [`Hasher`] and [`HashingReader`] compute one while bytes stream past, so
//! nothing has to be read twice to be verified.

use std::{fmt, io, str::FromStr};

use sha2::{Digest as _, Sha256};

/// The algorithm prefix of every digest hostctl accepts.
pub const SHA256_PREFIX: &str = "sha256:";

/// A sha256 content digest. `Display` and serde use the `sha256:<hex>` form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest {digest:?}: unsupported algorithm {algorithm:?}, only sha256 is supported")]
    UnsupportedAlgorithm { digest: String, algorithm: String },
    #[error("digest {digest:?}: expected \"sha256:\" followed by 64 lowercase hex characters")]
    Malformed { digest: String },
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// A digest from its raw 32 bytes.
    pub fn from_raw(raw: [u8; 32]) -> Digest {
        Digest(raw)
    }

    /// A digest from its bare hex form (64 lowercase hex characters, no `sha256:`), as
    /// used in file names (`blobs/sha256/<hex>`, legacy `<hex>.json`).
    pub fn from_hex(hex_str: &str) -> Result<Digest, DigestError> {
        parse_hex(hex_str).ok_or_else(|| DigestError::Malformed {
            digest: hex_str.to_string(),
        })
    }

    /// The raw 32 bytes.
    pub fn as_raw(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex characters, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex characters, as `docker images` shows an image ID.
    pub fn short(&self) -> String {
        let mut h = self.hex();
        h.truncate(12);
        h
    }
}

fn parse_hex(s: &str) -> Option<Digest> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut raw = [0u8; 32];
    hex::decode_to_slice(s, &mut raw).ok()?;
    Some(Digest(raw))
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Digest, DigestError> {
        match s.split_once(':') {
            Some(("sha256", rest)) => parse_hex(rest).ok_or_else(|| DigestError::Malformed {
                digest: s.to_string(),
            }),
            Some((algorithm, _))
                if !algorithm.is_empty()
                    && algorithm
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+._-".contains(&b)) =>
            {
                Err(DigestError::UnsupportedAlgorithm {
                    digest: s.to_string(),
                    algorithm: algorithm.to_string(),
                })
            }
            _ => Err(DigestError::Malformed {
                digest: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SHA256_PREFIX}{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A running sha256 over bytes fed to it, counting them too. Also an `io::Write`, so
/// `io::copy` can feed it.
#[derive(Clone, Default)]
pub struct Hasher {
    sha: Sha256,
    len: u64,
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// How many bytes have been fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed so far, without consuming the hasher.
    pub fn digest(&self) -> Digest {
        Digest(self.sha.clone().finalize().into())
    }

    pub fn finish(self) -> Digest {
        Digest(self.sha.finalize().into())
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A `Read` that hashes everything it yields.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R> HashingReader<R> {
    pub fn new(inner: R) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// The digest of what has been read so far.
    pub fn digest(&self) -> Digest {
        self.hasher.digest()
    }

    /// How many bytes have been read so far.
    pub fn bytes_read(&self) -> u64 {
        self.hasher.len()
    }

    /// The digest and length of what was read, and the inner reader.
    pub fn finish(self) -> (Digest, u64, R) {
        let len = self.hasher.len();
        (self.hasher.finish(), len, self.inner)
    }
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    // printf '' | sha256sum ; printf 'hello\n' | sha256sum
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HELLO_NL: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

    #[test]
    fn of_bytes_matches_sha256sum() {
        assert_eq!(Digest::of_bytes(b"").hex(), EMPTY);
        assert_eq!(
            Digest::of_bytes(b"hello\n").to_string(),
            format!("sha256:{HELLO_NL}")
        );
    }

    #[test]
    fn parse_round_trips_and_short_is_twelve_chars() {
        let d: Digest = format!("sha256:{HELLO_NL}").parse().unwrap();
        assert_eq!(d, Digest::of_bytes(b"hello\n"));
        assert_eq!(d.short(), "5891b5b522d5");
        assert_eq!(Digest::from_hex(HELLO_NL).unwrap(), d);
    }

    #[test]
    fn parse_refuses_other_algorithms_and_bad_hex() {
        let e = format!("sha512:{HELLO_NL}").parse::<Digest>().unwrap_err();
        assert!(
            matches!(e, DigestError::UnsupportedAlgorithm { ref algorithm, .. } if algorithm == "sha512")
        );
        assert!(e.to_string().contains("only sha256"), "{e}");
        for bad in [
            HELLO_NL.to_string(),
            format!("sha256:{}", HELLO_NL.to_uppercase()),
            format!("sha256:{}", &HELLO_NL[1..]),
            format!("sha256:{HELLO_NL}0"),
            format!("sha256:{}g", &HELLO_NL[1..]),
            "".to_string(),
            ":abc".to_string(),
        ] {
            let e = bad.parse::<Digest>().unwrap_err();
            assert!(matches!(e, DigestError::Malformed { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn serde_uses_the_string_form() {
        let d = Digest::of_bytes(b"");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"sha256:{EMPTY}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"md5:abc\"").is_err());
    }

    #[test]
    fn hashing_reader_hashes_what_it_yields() {
        let mut r = HashingReader::new(&b"hello\n"[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(r.bytes_read(), 6);
        let (d, len, _) = r.finish();
        assert_eq!((d.hex().as_str(), len), (HELLO_NL, 6));
    }
}
