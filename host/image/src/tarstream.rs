//! Tar framing the `tar` crate leaves to its caller. The crate ends its entry iterator
//! quietly when the input stops exactly at a header boundary, and an entry's data reader
//! quietly yields fewer bytes than the header promised when the input stops mid-entry, so
//! a cut archive would look complete. [`EofWatch`] wraps the input and records whether it
//! ever reported end of file: a well-formed archive ends with a zero block that the
//! crate reads *before* the input runs out, so if the iterator finished and the input hit
//! EOF, the end-of-archive marker was missing and the archive was truncated.

use std::{
    cell::Cell,
    io::{self, Read},
    rc::Rc,
};

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

#[cfg(test)]
mod tests {
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
}
