//! Layer blobs: how they are compressed and how they enter and leave the store. A layer
//! is a tar of filesystem changes (whiteouts included), plain or gzip-compressed; its
//! DiffID is the sha256 of the *uncompressed* tar, while the blob is stored (and named)
//! as it came. This module knows the layer media types, sniffs compression from the first
//! bytes, decompresses, and provides the two ways a layer is used by the daemon:
//! [`import_layer`] (a rootfs tar for `hostctl import`: stored uncompressed after its tar
//! framing is checked for truncation) and [`open_layer`] (the uncompressed stream for the
//! storage driver, verified against both the blob digest and the DiffID). The tar's
//! *content* (paths, links, whiteouts) is not interpreted here: the storage driver parses
//! it inside its sandbox.

use std::{
    fmt,
    fs::File,
    io::{self, Cursor, Read, Write},
};

use flate2::read::MultiGzDecoder;

use crate::{
    blobs::{BlobError, BlobStore, VerifiedReader},
    digest::Digest,
    tarstream::{EofWatch, Position, printable},
};

pub use crate::tarstream::TarFault;

pub const MEDIA_TYPE_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_TYPE_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
}

/// A layer that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(
        "{what} is {compression}-compressed, which is not supported (plain tar and gzip are); decompress it first"
    )]
    UnsupportedCompression {
        what: String,
        compression: &'static str,
    },
    #[error("layer media type {media_type:?} is not a layer type hostctl knows")]
    UnknownMediaType { media_type: String },
    #[error("layer tar is truncated: {reason}")]
    Truncated { reason: String },
    #[error("layer tar is malformed: {reason}")]
    Malformed { reason: String },
    #[error("layer {0}")]
    Tar(TarFault),
    #[error("reading layer: {source}")]
    Read {
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl Compression {
    /// Detects compression from the first bytes of a blob (6 are enough). zstd, bzip2 and
    /// xz are recognised so they can be refused by name; anything else is taken as tar.
    /// `what` names the blob in the error (`the rootfs tar`).
    pub fn sniff(what: &str, prefix: &[u8]) -> Result<Compression, LayerError> {
        Compression::detect(prefix).map_err(|compression| LayerError::UnsupportedCompression {
            what: what.to_string(),
            compression,
        })
    }

    /// As [`sniff`](Compression::sniff); an unsupported compression is given by name.
    pub fn detect(prefix: &[u8]) -> Result<Compression, &'static str> {
        match prefix {
            [0x1f, 0x8b, ..] => Ok(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Err("zstd"),
            [b'B', b'Z', b'h', ..] => Err("bzip2"),
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Err("xz"),
            _ => Ok(Compression::None),
        }
    }

    /// The compression a layer media type declares; zstd is refused, and a media type that
    /// is not a layer's is an error.
    pub fn from_media_type(media_type: &str) -> Result<Compression, LayerError> {
        match media_type {
            MEDIA_TYPE_OCI_LAYER
            | MEDIA_TYPE_DOCKER_LAYER
            | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Ok(Compression::None),
            MEDIA_TYPE_OCI_LAYER_GZIP
            | MEDIA_TYPE_DOCKER_LAYER_GZIP
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Compression::Gzip),
            mt if mt.ends_with("+zstd") || mt.ends_with(".zstd") => {
                Err(LayerError::UnsupportedCompression {
                    what: format!("a layer of media type {mt:?}"),
                    compression: "zstd",
                })
            }
            mt => Err(LayerError::UnknownMediaType {
                media_type: mt.to_string(),
            }),
        }
    }

    /// The OCI media type of a layer blob compressed this way.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => MEDIA_TYPE_OCI_LAYER,
            Compression::Gzip => MEDIA_TYPE_OCI_LAYER_GZIP,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
        })
    }
}

/// The uncompressed bytes of a layer blob.
pub enum Decompressed<R> {
    Plain(R),
    Gzip(Box<MultiGzDecoder<R>>),
}

impl<R: Read> Decompressed<R> {
    pub fn new(inner: R, compression: Compression) -> Decompressed<R> {
        match compression {
            Compression::None => Decompressed::Plain(inner),
            Compression::Gzip => Decompressed::Gzip(Box::new(MultiGzDecoder::new(inner))),
        }
    }
}

impl<R: Read> Read for Decompressed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decompressed::Plain(r) => r.read(buf),
            Decompressed::Gzip(r) => r.read(buf),
        }
    }
}

/// A stream whose first bytes were read by [`peek`] and are put back in front.
pub type Peeked<R> = io::Chain<Cursor<Vec<u8>>, R>;

/// Reads up to `n` bytes from the front of `reader` and gives them back, with a reader
/// that yields the whole stream again.
pub fn peek<R: Read>(mut reader: R, n: usize) -> io::Result<(Vec<u8>, Peeked<R>)> {
    let mut prefix = Vec::with_capacity(n);
    (&mut reader).take(n as u64).read_to_end(&mut prefix)?;
    Ok((prefix.clone(), Cursor::new(prefix).chain(reader)))
}

/// A layer stored by [`import_layer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportedLayer {
    /// The blob as stored: the uncompressed tar, so this is also the DiffID.
    pub digest: Digest,
    pub size: u64,
    /// How the input was compressed (the stored blob never is).
    pub input_compression: Compression,
}

impl ImportedLayer {
    pub fn diff_id(&self) -> Digest {
        self.digest
    }
}

/// Stores a rootfs tar for `hostctl import` (plain or gzip; stored uncompressed, as
/// Docker does). The tar framing is walked as it streams so that a truncated upload (an
/// entry cut short, no end-of-archive marker) is refused rather than imported as a
/// smaller filesystem; entry contents are not interpreted. Nothing is stored on error.
pub fn import_layer<R: Read>(store: &BlobStore, reader: R) -> Result<ImportedLayer, LayerError> {
    let (prefix, reader) = peek(reader, 6).map_err(|source| LayerError::Read { source })?;
    let compression = Compression::sniff("the rootfs tar", &prefix)?;
    let (watch, flags) = EofWatch::new(Decompressed::new(reader, compression));
    let mut writer = store.writer()?;
    let tmp_path = writer.path().to_path_buf();
    let write_failed = |source| {
        LayerError::Blob(BlobError::Io {
            path: tmp_path.clone(),
            source,
        })
    };
    let mut tee = Tee {
        inner: watch,
        out: &mut writer,
        write_error: None,
    };
    let mut position = Position::default();
    let walked = walk_tar(&mut tee, &mut position);
    if let Some(e) = tee.write_error.take() {
        return Err(write_failed(e));
    }
    let classify = |e: io::Error| {
        if flags.failed() {
            LayerError::Read { source: e }
        } else if flags.hit_eof() {
            LayerError::Truncated {
                reason: printable(&e.to_string()),
            }
        } else {
            LayerError::Tar(position.fault(&e))
        }
    };
    walked.map_err(classify)?;
    if flags.hit_eof() {
        return Err(LayerError::Truncated {
            reason: "the input ended before the end-of-archive marker".to_string(),
        });
    }
    // Keep whatever follows the end marker (padding to a record size), as Docker does.
    io::copy(&mut tee, &mut io::sink()).map_err(classify)?;
    if let Some(e) = tee.write_error.take() {
        return Err(write_failed(e));
    }
    let (digest, size) = writer.commit(None)?;
    Ok(ImportedLayer {
        digest,
        size,
        input_compression: compression,
    })
}

/// Walks every tar header, following the walk in `position`; the tar crate skips entry
/// data through the reader, which fails if the input ends early.
fn walk_tar<R: Read>(reader: R, position: &mut Position) -> io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        position.accepted(&entry?);
    }
    Ok(())
}

/// Copies what it reads into a blob writer.
struct Tee<'w, 's, R> {
    inner: R,
    out: &'w mut crate::blobs::BlobWriter<'s>,
    write_error: Option<io::Error>,
}

impl<R: Read> Read for Tee<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let for_parser = io::Error::new(e.kind(), e.to_string());
            self.write_error = Some(e);
            return Err(for_parser);
        }
        Ok(n)
    }
}

/// The uncompressed tar of a stored layer, for the storage driver: the blob is verified
/// against `blob` and the decompressed stream against `diff_id`; either mismatch is an
/// `InvalidData` error at the end of the stream.
pub fn open_layer(
    store: &BlobStore,
    blob: &Digest,
    compression: Compression,
    diff_id: &Digest,
) -> Result<VerifiedReader<Decompressed<VerifiedReader<File>>>, LayerError> {
    let raw = store.open(blob)?;
    Ok(VerifiedReader::new(
        Decompressed::new(raw, compression),
        *diff_id,
        None,
    ))
}

/// The DiffID of a layer blob read from `reader`: the sha256 of its decompressed bytes.
pub fn diff_id_of<R: Read>(reader: R, compression: Compression) -> io::Result<Digest> {
    let mut hasher = crate::digest::Hasher::new();
    io::copy(&mut Decompressed::new(reader, compression), &mut hasher)?;
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression as Level, write::GzEncoder};

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Level::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn sniffs_and_maps_media_types() {
        assert_eq!(
            Compression::sniff("x", &[0x1f, 0x8b, 8]).unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::sniff("x", b"bin/\0\0").unwrap(),
            Compression::None
        );
        assert_eq!(Compression::sniff("x", b"").unwrap(), Compression::None);
        let e = Compression::sniff("x", &[0x28, 0xb5, 0x2f, 0xfd]).unwrap_err();
        assert!(e.to_string().contains("zstd"), "{e}");
        assert_eq!(
            Compression::from_media_type(MEDIA_TYPE_DOCKER_LAYER_GZIP).unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::from_media_type(MEDIA_TYPE_OCI_LAYER).unwrap(),
            Compression::None
        );
        assert!(matches!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+zstd"),
            Err(LayerError::UnsupportedCompression { .. })
        ));
        assert!(matches!(
            Compression::from_media_type("application/vnd.oci.image.config.v1+json"),
            Err(LayerError::UnknownMediaType { .. })
        ));
    }

    #[test]
    fn import_stores_the_uncompressed_tar_whose_digest_is_the_diff_id() {
        let (_d, s) = store();
        let tar = tar_of(&[
            ("bin/sh", b"#!"),
            ("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
        ]);
        let plain = import_layer(&s, &tar[..]).unwrap();
        assert_eq!(plain.diff_id(), Digest::of_bytes(&tar));
        assert_eq!(
            (plain.size, plain.input_compression),
            (tar.len() as u64, Compression::None)
        );
        let gz = import_layer(&s, &gzip(&tar)[..]).unwrap();
        assert_eq!(gz.digest, plain.digest);
        assert_eq!(gz.input_compression, Compression::Gzip);
        assert_eq!(s.list().unwrap(), vec![plain.digest]);
    }

    #[test]
    fn import_refuses_every_truncation_and_leaves_nothing() {
        let (_d, s) = store();
        let tar = tar_of(&[("a", &[1u8; 700]), ("b", &[2u8; 10])]);
        for cut in (0..tar.len() - 512)
            .step_by(97)
            .chain([512, 1536, 2048, 2560])
        {
            let e = import_layer(&s, &tar[..cut]).expect_err(&format!("cut at {cut}"));
            assert!(
                matches!(e, LayerError::Truncated { .. }),
                "cut at {cut}: {e}"
            );
        }
        let gz = gzip(&tar);
        for cut in [10, gz.len() / 2, gz.len() - 4] {
            let e = import_layer(&s, &gz[..cut]).expect_err(&format!("gzip cut at {cut}"));
            assert!(
                matches!(e, LayerError::Truncated { .. } | LayerError::Read { .. }),
                "gzip cut at {cut}: {e}"
            );
        }
        assert!(s.list().unwrap().is_empty());
        assert!(std::fs::read_dir(s.tmp_dir()).unwrap().next().is_none());
    }

    #[test]
    fn import_refuses_a_non_tar_in_one_printable_line() {
        let (_d, s) = store();
        let e = import_layer(&s, &[b'x'; 1024][..]).unwrap_err();
        assert!(matches!(e, LayerError::Tar(TarFault::NotTar { .. })), "{e}");
        let mut noise = vec![0u8; 4096];
        for (i, b) in noise.iter_mut().enumerate() {
            *b = (i * 7919 % 251) as u8 ^ 0x9c;
        }
        let e = import_layer(&s, &noise[..]).unwrap_err().to_string();
        assert!(
            e.starts_with("layer is not a tar archive (plain or gzip): its first 512 bytes are not a tar header"),
            "{e}"
        );
        assert!(e.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{e:?}");
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn import_places_a_corrupt_header_after_its_entry() {
        let (_d, s) = store();
        let mut tar = tar_of(&[("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"), ("b", b"x")]);
        tar[1024 + 148] = 0xff; // the second header's checksum field
        let e = import_layer(&s, &tar[..]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "layer is corrupt: the tar header at byte 1024 (after entry \"etc/passwd\") is invalid: its checksum field is not an octal number"
        );
    }

    #[test]
    fn open_layer_notices_a_tampered_compressed_blob() {
        let (_d, s) = store();
        let tar = tar_of(&[("f", b"data")]);
        let gz = gzip(&tar);
        let (blob, _) = s.ingest(&gz[..], None).unwrap();
        let mut tampered = gz.clone();
        tampered.extend_from_slice(&gzip(b"")); // still valid gzip, same decompressed bytes
        std::fs::write(s.path(&blob), &tampered).unwrap();
        let e = open_layer(&s, &blob, Compression::Gzip, &Digest::of_bytes(&tar))
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains(&blob.to_string()), "{e}");
    }

    #[test]
    fn open_layer_verifies_the_diff_id() {
        let (_d, s) = store();
        let tar = tar_of(&[("f", b"data")]);
        let gz = gzip(&tar);
        let (blob, _) = s.ingest(&gz[..], None).unwrap();
        let diff_id = Digest::of_bytes(&tar);
        assert_eq!(diff_id_of(&gz[..], Compression::Gzip).unwrap(), diff_id);
        let mut out = Vec::new();
        open_layer(&s, &blob, Compression::Gzip, &diff_id)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, tar);
        let wrong = Digest::of_bytes(b"other");
        let e = open_layer(&s, &blob, Compression::Gzip, &wrong)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains(&diff_id.to_string()), "{e}");
    }
}
