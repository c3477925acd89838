//! The layer stream: sniffing its compression, decompressing it, and hashing the
//! uncompressed bytes into the layer's DiffID as the tar parser reads them.
//!
//! Layers come plain or gzip (1f 8b, possibly several concatenated members, as
//! `pigz` and some registries write them). zstd and xz are recognised by their magic
//! and refused with a clear message instead of a tar parse error. The DiffID covers
//! every uncompressed byte, including the zero blocks and padding after the tar's end,
//! so [`Uncompressed::finish`] reads the stream to its end (and with it the host's
//! digest check of the compressed blob) before answering.

use std::io::{self, Cursor, Read};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

/// gzip's magic.
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// zstd's frame magic.
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// xz's magic.
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
/// Bytes read ahead to sniff the compression.
const SNIFF_LEN: usize = 6;

/// How a layer stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd (refused).
    Zstd,
    /// xz (refused).
    Xz,
}

/// The compression `head` (the stream's first bytes) announces.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else if head.starts_with(XZ_MAGIC) {
        Compression::Xz
    } else {
        Compression::None
    }
}

type Prefixed<R> = io::Chain<Cursor<Vec<u8>>, R>;

enum Decoded<R: Read> {
    Plain(Prefixed<R>),
    Gzip(MultiGzDecoder<Prefixed<R>>),
}

/// Why a stream could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Reading the first bytes failed.
    Io(io::Error),
    /// A compression this driver does not read.
    Unsupported(&'static str),
}

/// The uncompressed layer tar, hashed as it is read.
pub struct Uncompressed<R: Read> {
    decoded: Decoded<R>,
    hasher: Sha256,
}

impl<R: Read> Uncompressed<R> {
    /// Sniff `raw`'s compression and decompress it.
    pub fn open(mut raw: R) -> Result<Self, OpenError> {
        let mut head = vec![0u8; SNIFF_LEN];
        let mut filled = 0;
        while filled < SNIFF_LEN {
            match raw.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(OpenError::Io(err)),
            }
        }
        head.truncate(filled);
        let compression = sniff(&head);
        let prefixed = Cursor::new(head).chain(raw);
        let decoded = match compression {
            Compression::None => Decoded::Plain(prefixed),
            Compression::Gzip => Decoded::Gzip(MultiGzDecoder::new(prefixed)),
            Compression::Zstd => {
                return Err(OpenError::Unsupported("zstd layers are not supported"));
            }
            Compression::Xz => return Err(OpenError::Unsupported("xz layers are not supported")),
        };
        Ok(Uncompressed {
            decoded,
            hasher: Sha256::new(),
        })
    }

    /// Read to the end (hashing the rest) and answer the DiffID, `sha256:<hex>`.
    pub fn finish(mut self) -> io::Result<String> {
        io::copy(&mut self, &mut io::sink())?;
        // The decoder has seen the end of its input; make sure the raw stream has too,
        // so the host has checked the blob's digest.
        let mut raw = match self.decoded {
            Decoded::Plain(raw) => raw,
            Decoded::Gzip(gz) => gz.into_inner(),
        };
        io::copy(&mut raw, &mut io::sink())?;
        Ok(format!("sha256:{}", to_hex(&self.hasher.finalize())))
    }
}

impl<R: Read> Read for Uncompressed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.decoded {
            Decoded::Plain(r) => r.read(buf)?,
            Decoded::Gzip(r) => r.read(buf)?,
        };
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Lower-case hex of `bytes`.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression as Level, write::GzEncoder};
    use std::io::Write;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Level::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn read_all(raw: &[u8]) -> (Vec<u8>, String) {
        let mut stream = Uncompressed::open(raw).ok().unwrap();
        let mut head = vec![0u8; 3.min(raw.len())];
        stream.read_exact(&mut head).unwrap();
        (head, stream.finish().unwrap())
    }

    #[test]
    fn sniff_reads_magic_numbers() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Compression::Zstd);
        assert_eq!(sniff(XZ_MAGIC), Compression::Xz);
        assert_eq!(sniff(b"bin/"), Compression::None);
        assert_eq!(sniff(&[0x1f]), Compression::None);
        assert_eq!(sniff(&[]), Compression::None);
    }

    #[test]
    fn diff_id_of_a_plain_stream_covers_every_byte() {
        let data = b"hello, layer";
        let (head, id) = read_all(data);
        assert_eq!(head, b"hel");
        assert_eq!(id, format!("sha256:{}", to_hex(&Sha256::digest(data))));
    }

    #[test]
    fn diff_id_of_a_gzip_stream_is_of_the_uncompressed_bytes() {
        let data = b"hello, layer";
        let (head, id) = read_all(&gzip(data));
        assert_eq!(head, b"hel");
        assert_eq!(id, format!("sha256:{}", to_hex(&Sha256::digest(data))));
    }

    #[test]
    fn concatenated_gzip_members_read_as_one_stream() {
        let mut raw = gzip(b"first ");
        raw.extend(gzip(b"second"));
        let mut out = String::new();
        let mut stream = Uncompressed::open(&raw[..]).ok().unwrap();
        stream.read_to_string(&mut out).unwrap();
        assert_eq!(out, "first second");
        assert_eq!(
            stream.finish().unwrap(),
            format!("sha256:{}", to_hex(&Sha256::digest(b"first second")))
        );
    }

    #[test]
    fn empty_stream_hashes_to_the_empty_digest() {
        assert_eq!(
            Uncompressed::open(&b""[..]).ok().unwrap().finish().unwrap(),
            EMPTY_SHA256
        );
    }

    #[test]
    fn zstd_is_refused_by_name() {
        match Uncompressed::open(&[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3][..]) {
            Err(OpenError::Unsupported(msg)) => assert_eq!(msg, "zstd layers are not supported"),
            _ => panic!("zstd accepted"),
        }
    }
}
