//! The content store: blobs (layer tars, configs) kept by sha256 under a root, in the
//! OCI image-layout shape `<root>/blobs/sha256/<hex>`, with `<root>/tmp/` for content on
//! its way in. A blob enters only through [`BlobStore::ingest`] (or a committed
//! [`crate::archive::Staging`]): written to a temp file while hashed, checked against the
//! expected digest, fsynced, then linked into place without ever replacing a blob already
//! there, so a reader never sees a partial or wrong blob under a digest. Reading goes
//! through [`VerifiedReader`], which re-hashes and turns a mismatch (disk corruption,
//! tampering) into an error at EOF instead of a silent end of stream.

use std::{
    fs::{self, File},
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

use crate::digest::{Digest, Hasher};

const READ_CHUNK: usize = 256 * 1024;

/// A failed content-store operation.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {digest}: not found in the content store")]
    NotFound { digest: Digest },
    #[error("blob content does not match its expected digest: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {digest}: {size} bytes is more than the {limit} allowed here")]
    TooLarge {
        digest: Digest,
        size: u64,
        limit: u64,
    },
    #[error("blob {digest}: {source}")]
    Corrupt {
        digest: Digest,
        #[source]
        source: io::Error,
    },
    #[error("reading blob content: {source}")]
    Read {
        #[source]
        source: io::Error,
    },
    #[error("content store {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Blobs by digest under one root directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// The store at `root`, creating `blobs/sha256/` and `tmp/` if missing.
    pub fn new(root: impl Into<PathBuf>) -> Result<BlobStore, BlobError> {
        let store = BlobStore { root: root.into() };
        for dir in [store.blobs_dir(), store.tmp_dir()] {
            fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where content on its way in is written (staging areas live here too).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// The file a blob is (or would be) stored in.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// The size in bytes of a stored blob.
    pub fn size(&self, digest: &Digest) -> Result<u64, BlobError> {
        let path = self.path(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(BlobError::NotFound { digest: *digest })
            }
            Err(e) => Err(io_at(&path)(e)),
        }
    }

    /// Streams `reader` into the store. With `expected`, content hashing to anything else is
    /// refused. Returns the digest and size. On any error nothing is left behind; content
    /// already present is not written twice.
    pub fn ingest<R: Read>(
        &self,
        mut reader: R,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), BlobError> {
        let mut writer = self.writer()?;
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(BlobError::Read { source }),
            };
            writer.write_chunk(&buf[..n])?;
        }
        writer.commit(expected)
    }

    /// A writer for content pushed rather than pulled (the caller drives the stream). The
    /// blob enters the store only at [`BlobWriter::commit`]; dropping the writer discards it.
    pub fn writer(&self) -> Result<BlobWriter<'_>, BlobError> {
        let tmp_dir = self.tmp_dir();
        let tmp = tempfile::Builder::new()
            .prefix("ingest-")
            .tempfile_in(&tmp_dir)
            .map_err(io_at(&tmp_dir))?;
        Ok(BlobWriter {
            store: self,
            tmp,
            hasher: Hasher::new(),
        })
    }

    /// Moves a file already under `tmp/` whose content hashes to `digest` into the store.
    /// Returns whether it was added (false: the blob was already there; the file is left
    /// for its owner to remove).
    pub(crate) fn adopt(&self, file: &Path, digest: &Digest) -> Result<bool, BlobError> {
        let dest = self.path(digest);
        File::open(file)
            .and_then(|f| f.sync_all())
            .map_err(io_at(file))?;
        match fs::hard_link(file, &dest) {
            Ok(()) => {
                self.sync_blobs_dir()?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io_at(&dest)(e)),
        }
    }

    fn sync_blobs_dir(&self) -> Result<(), BlobError> {
        let dir = self.blobs_dir();
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(&dir))
    }

    /// A reader of a stored blob that fails at EOF if the content no longer matches.
    pub fn open(&self, digest: &Digest) -> Result<VerifiedReader<File>, BlobError> {
        let path = self.path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound { digest: *digest });
            }
            Err(e) => return Err(io_at(&path)(e)),
        };
        let size = file.metadata().map_err(io_at(&path))?.len();
        Ok(VerifiedReader::new(file, *digest, Some(size)))
    }

    /// A whole blob in memory, verified; refused if larger than `limit` bytes.
    pub fn read(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, BlobError> {
        let size = self.size(digest)?;
        if size > limit {
            return Err(BlobError::TooLarge {
                digest: *digest,
                size,
                limit,
            });
        }
        let mut out = Vec::with_capacity(size as usize);
        self.open(digest)?
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|source| BlobError::Corrupt {
                digest: *digest,
                source,
            })?;
        Ok(out)
    }

    /// Removes a blob; returns whether it was there.
    pub fn remove(&self, digest: &Digest) -> Result<bool, BlobError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_at(&path)(e)),
        }
    }

    /// Every stored blob, sorted. Files that are not named by a digest are skipped.
    pub fn list(&self) -> Result<Vec<Digest>, BlobError> {
        let dir = self.blobs_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_at(&dir))? {
            let entry = entry.map_err(io_at(&dir))?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes everything under `tmp/` (ingests and loads cut short by a crash). Call it at
    /// daemon start-up, before any ingest can be running. Returns how many entries went.
    pub fn clear_tmp(&self) -> Result<usize, BlobError> {
        let dir = self.tmp_dir();
        let mut removed = 0;
        for entry in fs::read_dir(&dir).map_err(io_at(&dir))? {
            let entry = entry.map_err(io_at(&dir))?;
            let path = entry.path();
            let is_dir = entry.file_type().map_err(io_at(&path))?.is_dir();
            if is_dir {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            }
            .map_err(io_at(&path))?;
            removed += 1;
        }
        Ok(removed)
    }
}

/// Content on its way into a [`BlobStore`]: a temp file under `tmp/`, hashed as written.
pub struct BlobWriter<'a> {
    store: &'a BlobStore,
    tmp: tempfile::NamedTempFile,
    hasher: Hasher,
}

impl BlobWriter<'_> {
    fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        self.tmp
            .as_file_mut()
            .write_all(chunk)
            .map_err(io_at(self.tmp.path()))?;
        self.hasher.update(chunk);
        Ok(())
    }

    /// The temp file the content is written to.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// Verifies against `expected` (if given), fsyncs and links the content into place.
    /// Returns its digest and size; on error nothing is left behind.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64), BlobError> {
        let size = self.hasher.len();
        let digest = self.hasher.finish();
        if let Some(expected) = expected
            && *expected != digest
        {
            return Err(BlobError::DigestMismatch {
                expected: *expected,
                actual: digest,
            });
        }
        self.tmp
            .as_file()
            .sync_all()
            .map_err(io_at(self.tmp.path()))?;
        let dest = self.store.path(&digest);
        match self.tmp.persist_noclobber(&dest) {
            Ok(_) => self.store.sync_blobs_dir()?,
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_at(&dest)(e.error)),
        }
        Ok((digest, size))
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.as_file_mut().write_all(buf)?;
        self.hasher.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A `Read` that hashes what it yields and, where the inner reader ends, returns an
/// `InvalidData` error naming the expected and actual digest (instead of EOF) if the
/// content does not match or is shorter than expected. Once failed it keeps failing.
pub struct VerifiedReader<R> {
    inner: R,
    hasher: Hasher,
    expected: Digest,
    expected_size: Option<u64>,
    state: State,
}

enum State {
    Reading,
    Verified,
    Failed(String),
}

impl<R: Read> VerifiedReader<R> {
    /// Verifies `inner` against `expected` (and `expected_size`, when known).
    pub fn new(inner: R, expected: Digest, expected_size: Option<u64>) -> VerifiedReader<R> {
        VerifiedReader {
            inner,
            hasher: Hasher::new(),
            expected,
            expected_size,
            state: State::Reading,
        }
    }

    pub fn expected(&self) -> Digest {
        self.expected
    }

    /// Whether EOF was reached and the content matched.
    pub fn is_verified(&self) -> bool {
        matches!(self.state, State::Verified)
    }

    fn fail(&mut self, message: String) -> io::Error {
        self.state = State::Failed(message.clone());
        io::Error::new(io::ErrorKind::InvalidData, message)
    }
}

impl<R: Read> Read for VerifiedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.state {
            State::Failed(message) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, message.clone()));
            }
            State::Verified => return Ok(0),
            State::Reading if buf.is_empty() => return Ok(0),
            State::Reading => {}
        }
        let n = self.inner.read(buf)?;
        let (expected, got) = (self.expected, self.hasher.len() + n as u64);
        if n == 0 {
            let actual = self.hasher.digest();
            if let Some(size) = self.expected_size
                && got < size
            {
                return Err(self.fail(format!(
                    "blob {expected}: content ends after {got} of {size} bytes (digest of what was read: {actual})"
                )));
            }
            if actual != expected {
                return Err(self.fail(format!(
                    "blob {expected}: content does not match its digest: expected {expected}, got {actual}"
                )));
            }
            self.state = State::Verified;
            return Ok(0);
        }
        if let Some(size) = self.expected_size
            && got > size
        {
            return Err(self.fail(format!(
                "blob {expected}: content is longer than the expected {size} bytes"
            )));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path().join("content")).unwrap();
        (dir, store)
    }

    fn tmp_is_empty(store: &BlobStore) -> bool {
        fs::read_dir(store.tmp_dir()).unwrap().next().is_none()
    }

    #[test]
    fn ingest_stores_by_digest_and_open_reads_it_back() {
        let (_d, s) = store();
        let (digest, size) = s.ingest(&b"hello\n"[..], None).unwrap();
        assert_eq!((digest, size), (Digest::of_bytes(b"hello\n"), 6));
        assert!(s.contains(&digest));
        assert_eq!(
            s.path(&digest),
            s.root().join("blobs/sha256").join(digest.hex())
        );
        assert_eq!(s.size(&digest).unwrap(), 6);
        let mut out = String::new();
        let mut r = s.open(&digest).unwrap();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello\n");
        assert!(r.is_verified());
        assert_eq!(s.read(&digest, 100).unwrap(), b"hello\n");
        assert!(matches!(
            s.read(&digest, 5),
            Err(BlobError::TooLarge { .. })
        ));
        assert!(tmp_is_empty(&s));
    }

    #[test]
    fn ingest_of_present_content_keeps_one_copy() {
        let (_d, s) = store();
        let a = s.ingest(&b"same"[..], None).unwrap();
        let b = s.ingest(&b"same"[..], Some(&a.0)).unwrap();
        assert_eq!(a, b);
        assert_eq!(s.list().unwrap(), vec![a.0]);
        assert!(tmp_is_empty(&s));
    }

    #[test]
    fn ingest_with_wrong_expected_digest_leaves_nothing() {
        let (_d, s) = store();
        let wrong = Digest::of_bytes(b"other");
        let e = s.ingest(&b"content"[..], Some(&wrong)).unwrap_err();
        match e {
            BlobError::DigestMismatch { expected, actual } => {
                assert_eq!((expected, actual), (wrong, Digest::of_bytes(b"content")));
            }
            other => panic!("unexpected {other}"),
        }
        assert!(s.list().unwrap().is_empty());
        assert!(tmp_is_empty(&s));
    }

    struct FailingReader(usize);
    impl Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "peer went away",
                ));
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(b'x');
            self.0 -= n;
            Ok(n)
        }
    }

    #[test]
    fn ingest_read_error_leaves_nothing() {
        let (_d, s) = store();
        let e = s.ingest(FailingReader(1000), None).unwrap_err();
        assert!(matches!(e, BlobError::Read { .. }), "{e}");
        assert!(e.to_string().contains("peer went away"), "{e}");
        assert!(s.list().unwrap().is_empty());
        assert!(tmp_is_empty(&s));
    }

    #[test]
    fn verified_reader_fails_at_eof_on_corruption_and_keeps_failing() {
        let (_d, s) = store();
        let (digest, _) = s.ingest(&b"original content"[..], None).unwrap();
        fs::write(s.path(&digest), b"tampered content").unwrap();
        let mut r = s.open(&digest).unwrap();
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let msg = e.to_string();
        assert!(msg.contains(&digest.to_string()), "{msg}");
        assert!(
            msg.contains(&Digest::of_bytes(b"tampered content").to_string()),
            "{msg}"
        );
        let again = r.read(&mut [0u8; 16]).unwrap_err();
        assert_eq!(again.to_string(), msg);
        assert!(matches!(
            s.read(&digest, 100),
            Err(BlobError::Corrupt { .. })
        ));
    }

    #[test]
    fn verified_reader_refuses_short_and_long_content() {
        let digest = Digest::of_bytes(b"abc");
        let mut short = VerifiedReader::new(Cursor::new(b"ab".to_vec()), digest, Some(3));
        let e = short.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("ends after 2 of 3 bytes"), "{e}");
        assert!(
            e.to_string().contains(&Digest::of_bytes(b"ab").to_string()),
            "{e}"
        );
        let mut long = VerifiedReader::new(Cursor::new(b"abcd".to_vec()), digest, Some(3));
        let e = long.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("longer"), "{e}");
        let mut ok = VerifiedReader::new(Cursor::new(b"abc".to_vec()), digest, None);
        let mut out = Vec::new();
        ok.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
    }

    #[test]
    fn remove_list_and_not_found() {
        let (_d, s) = store();
        let (a, _) = s.ingest(&b"a"[..], None).unwrap();
        let (b, _) = s.ingest(&b"b"[..], None).unwrap();
        fs::write(s.root().join("blobs/sha256/not-a-digest"), b"").unwrap();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(s.list().unwrap(), want);
        assert!(s.remove(&a).unwrap());
        assert!(!s.remove(&a).unwrap());
        assert!(matches!(s.open(&a), Err(BlobError::NotFound { .. })));
        assert!(matches!(s.size(&a), Err(BlobError::NotFound { .. })));
        assert!(
            s.open(&a)
                .err()
                .unwrap()
                .to_string()
                .contains(&a.to_string())
        );
    }

    #[test]
    fn clear_tmp_removes_leftovers() {
        let (_d, s) = store();
        fs::write(s.tmp_dir().join("ingest-123"), b"partial").unwrap();
        fs::create_dir_all(s.tmp_dir().join("load-1/sub")).unwrap();
        assert_eq!(s.clear_tmp().unwrap(), 2);
        assert!(tmp_is_empty(&s));
    }
}
