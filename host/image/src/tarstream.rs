//! Tar framing the `tar` crate leaves to its caller. The crate ends its entry iterator
//! quietly when the input stops exactly at a header boundary, and an entry's data reader
//! quietly yields fewer bytes than the header promised when the input stops mid-entry, so
//! a cut archive would look complete. [`EofWatch`] wraps the input and records whether it
//! ever reported end of file: a well-formed archive ends with a zero block that the
//! crate reads *before* the input runs out, so if the iterator finished and the input hit
//! EOF, the end-of-archive marker was missing and the archive was truncated.

use std::{
    cell::Cell,
    fmt::Write as _,
    io::{self, Read},
    rc::Rc,
};

/// The tar block size: every header is one block, every entry's data is padded to one.
const BLOCK: u64 = 512;

/// The most characters of a foreign message [`printable`] keeps.
const MESSAGE_MAX: usize = 200;

/// A reader that remembers whether its input reached EOF (or failed).
pub(crate) struct EofWatch<R> {
    inner: R,
    flags: Rc<Flags>,
}

/// What the watched input did; shared with the code driving the tar parser.
#[derive(Default)]
pub(crate) struct Flags {
    eof: Cell<bool>,
    failed: Cell<bool>,
}

impl Flags {
    /// The input reported end of file (or an unexpected-EOF error).
    pub(crate) fn hit_eof(&self) -> bool {
        self.eof.get()
    }

    /// The input failed with an error other than unexpected EOF.
    pub(crate) fn failed(&self) -> bool {
        self.failed.get()
    }
}

impl<R: Read> EofWatch<R> {
    pub(crate) fn new(inner: R) -> (EofWatch<R>, Rc<Flags>) {
        let flags = Rc::new(Flags::default());
        (
            EofWatch {
                inner,
                flags: flags.clone(),
            },
            flags,
        )
    }
}

impl<R: Read> Read for EofWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() => {
                self.flags.eof.set(true);
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.flags.eof.set(true);
                Err(e)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.flags.failed.set(true);
                Err(e)
            }
        }
    }
}

/// How far a walk through a tar got: the entries the tar crate accepted, and where the
/// next header starts.
#[derive(Debug, Default)]
pub(crate) struct Position {
    entries: u64,
    next_header: u64,
    last: String,
}

/// A header the tar crate refused, told without its raw bytes. The message follows the
/// name of what was read (`image archive is not a tar archive …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TarFault {
    /// The very first header: the input is not a tar at all.
    #[error("is not a tar archive (plain or gzip): {reason}")]
    NotTar { reason: String },
    /// A later header, at `offset` in the (uncompressed) tar, after entry `after` (quoted).
    #[error(
        "is corrupt: the tar header at byte {offset} (after entry {after}) is invalid: {reason}"
    )]
    Corrupt {
        offset: u64,
        after: String,
        reason: String,
    },
}

impl Position {
    /// Records an entry the tar crate accepted.
    pub(crate) fn accepted<R: Read>(&mut self, entry: &tar::Entry<'_, R>) {
        self.entries += 1;
        self.next_header =
            entry.raw_header_position() + BLOCK + entry.size().div_ceil(BLOCK) * BLOCK;
        self.last = quoted(&entry.path_bytes());
    }

    /// The last entry accepted, quoted and escaped (`none` before the first).
    pub(crate) fn last(&self) -> &str {
        if self.entries == 0 {
            "none"
        } else {
            &self.last
        }
    }

    /// What a header error from the tar crate means at this point of the walk.
    pub(crate) fn fault(&self, e: &io::Error) -> TarFault {
        let why = header_reason(e);
        if self.entries == 0 {
            TarFault::NotTar {
                reason: format!("its first {BLOCK} bytes are not a tar header ({why})"),
            }
        } else {
            TarFault::Corrupt {
                offset: self.next_header,
                after: self.last.clone(),
                reason: why,
            }
        }
    }
}

/// Why the tar crate refused a header, in our words: its messages quote the raw field
/// (`numeric field did not have utf-8 text: <bytes> when getting cksum for <bytes>`).
fn header_reason(e: &io::Error) -> String {
    let message = e.to_string();
    if message == "archive header checksum mismatch" {
        return "its checksum does not match its content".to_string();
    }
    if message.starts_with("numeric field") {
        let field = message
            .split_once(" when getting ")
            .and_then(|(_, rest)| rest.split(' ').next())
            .filter(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_lowercase()));
        return match field {
            Some("cksum") => "its checksum field is not an octal number".to_string(),
            Some(field) => format!("its {field} field is not an octal number"),
            None => "a numeric field is not an octal number".to_string(),
        };
    }
    printable(&message)
}

/// `text` on one line of printable characters: control characters and U+FFFD (what a
/// lossy decoding left of raw bytes) escaped, and cut after [`MESSAGE_MAX`] characters.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::new();
    for c in cut(text).chars() {
        if c.is_control() || c == char::REPLACEMENT_CHARACTER {
            let _ = write!(out, "{}", c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A tar entry name for a message: quoted and escaped as Rust writes strings, bytes that
/// are not UTF-8 as `\xNN`, cut after [`MESSAGE_MAX`] characters.
pub(crate) fn quoted(name: &[u8]) -> String {
    match std::str::from_utf8(name) {
        Ok(text) => format!("{:?}", cut(text)),
        Err(_) => format!("\"{}\"", cut(&name.escape_ascii().to_string())),
    }
}

fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MESSAGE_MAX) {
        Some((at, _)) => format!("{}…", &text[..at]).into(),
        None => text.into(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn one_file_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(600);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "f", &[7u8; 600][..]).unwrap();
        b.into_inner().unwrap()
    }

    /// Reads every entry; Ok(true) when the archive ended with its end marker.
    fn complete(bytes: &[u8]) -> io::Result<bool> {
        let (watch, flags) = EofWatch::new(bytes);
        let mut archive = tar::Archive::new(watch);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let want = entry.size();
            let got = io::copy(&mut entry, &mut io::sink())?;
            if got != want {
                return Ok(false);
            }
        }
        Ok(!flags.hit_eof())
    }

    #[test]
    fn the_tar_crate_alone_misses_a_cut_at_a_block_boundary() {
        // The reason this module exists: cut after the data, before the end marker.
        let bytes = one_file_tar();
        let cut = &bytes[..512 + 1024];
        let mut archive = tar::Archive::new(cut);
        let mut n = 0;
        for entry in archive.entries().unwrap() {
            entry.unwrap();
            n += 1;
        }
        assert_eq!(n, 1, "the tar crate reports success");
        assert!(!complete(cut).unwrap());
    }

    #[test]
    fn a_whole_archive_is_complete_and_every_cut_is_not() {
        let bytes = one_file_tar();
        assert!(complete(&bytes).unwrap());
        for cut in 0..bytes.len() - 512 {
            let ok = complete(&bytes[..cut]).unwrap_or(false);
            assert!(!ok, "cut at {cut} of {} looked complete", bytes.len());
        }
    }

    /// What walking `bytes` as a tar ends with: the entries read, or the fault.
    fn walk(bytes: &[u8]) -> Result<u64, TarFault> {
        let mut position = Position::default();
        let mut archive = tar::Archive::new(bytes);
        for entry in archive.entries().unwrap() {
            match entry {
                Ok(entry) => position.accepted(&entry),
                Err(e) => return Err(position.fault(&e)),
            }
        }
        Ok(position.entries)
    }

    /// Deterministic noise (a 64-bit LCG), for the crate's tests of garbage input.
    pub(crate) fn random(n: usize, mut seed: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) as u8
            })
            .collect()
    }

    fn assert_printable(text: &str) {
        assert!(
            text.chars()
                .all(|c| !c.is_control() && c != char::REPLACEMENT_CHARACTER),
            "{text:?}"
        );
    }

    #[test]
    fn random_bytes_are_not_a_tar_and_the_reason_is_printable() {
        for seed in 0..64 {
            match walk(&random(2048, seed)) {
                Err(TarFault::NotTar { reason }) => {
                    assert!(
                        reason.starts_with("its first 512 bytes are not a tar header ("),
                        "{reason}"
                    );
                    assert_printable(&reason);
                }
                other => panic!("seed {seed}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_bad_header_after_an_entry_is_placed_by_offset_and_entry() {
        let mut bytes = one_file_tar();
        // The header after "f" (512 + 600 rounded up to 1024): garbage, as if overwritten.
        bytes.truncate(1536);
        bytes.extend(random(1024, 7));
        match walk(&bytes) {
            Err(TarFault::Corrupt {
                offset,
                after,
                reason,
            }) => {
                assert_eq!((offset, after.as_str()), (1536, "\"f\""));
                assert_printable(&reason);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_reasons_name_the_field_not_its_bytes() {
        let numeric = io::Error::other(
            "numeric field did not have utf-8 text: \u{fffd}\u{1} when getting cksum for \u{fffd}x",
        );
        assert_eq!(
            header_reason(&numeric),
            "its checksum field is not an octal number"
        );
        let size = io::Error::other("numeric field was not a number: 12x when getting size for f");
        assert_eq!(
            header_reason(&size),
            "its size field is not an octal number"
        );
        let checksum = io::Error::other("archive header checksum mismatch");
        assert_eq!(
            header_reason(&checksum),
            "its checksum does not match its content"
        );
        let other = io::Error::other("odd\u{7}\nthing");
        assert_eq!(header_reason(&other), "odd\\u{7}\\u{a}thing");
    }

    #[test]
    fn printable_escapes_and_cuts() {
        assert_eq!(printable("a\u{fffd}b"), "a\\u{fffd}b");
        assert_eq!(printable("café"), "café");
        assert_eq!(printable(&"x".repeat(500)).chars().count(), MESSAGE_MAX + 1);
        assert_eq!(quoted(b"a\xffb"), r#""a\xffb""#);
        assert_eq!(quoted("dir/é\n".as_bytes()), r#""dir/é\n""#);
        assert_eq!(
            quoted("x".repeat(500).as_bytes()).chars().count(),
            MESSAGE_MAX + 3
        );
    }
}
