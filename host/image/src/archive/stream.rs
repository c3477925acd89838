//! Reading the outer tar of an image archive into a staging directory. Every regular
//! file is streamed to a numbered file of our own naming (entry names are never used as
//! filesystem paths) and hashed on the way; `blobs/sha256/<hex>` entries are checked
//! against their names as soon as they end. Symlinks and hardlinks (legacy `docker save`
//! links identical layers as `<id>/layer.tar -> ../<other>/layer.tar`) are recorded as
//! aliases inside the archive's namespace. Names are normalised (`./x` and `x` are the
//! same entry); a `..` component or an absolute name is refused, as is any sign that the
//! archive was cut short. Errors quote entry names escaped and never echo raw header
//! bytes: input that is not a tar is said to be so.

use std::{
    collections::HashMap,
    fs::{self, File},
    io::{self, Read, Write},
    path::PathBuf,
};

use tempfile::TempDir;

use super::ArchiveError;
use crate::{
    blobs::BlobStore,
    digest::{Digest, Hasher},
    layer::{Compression, Decompressed, peek},
    tarstream::{EofWatch, Flags, Position, printable, quoted},
};

/// The most bytes a JSON document (manifest.json, index.json, a manifest, a config) may have.
pub const MAX_JSON_SIZE: u64 = 16 << 20;

const MAX_LINK_HOPS: usize = 16;

/// A regular file from the archive, as staged.
#[derive(Debug, Clone)]
pub(super) struct StagedFile {
    pub file: PathBuf,
    pub digest: Digest,
    pub size: u64,
}

/// Everything the outer tar held, by normalised entry name.
#[derive(Debug)]
pub(super) struct StagedArchive {
    pub dir: TempDir,
    files: HashMap<String, StagedFile>,
    links: HashMap<String, String>,
    next: u64,
}

impl StagedArchive {
    /// Streams the (plain or gzip) outer tar from `reader` into a new directory under the
    /// store's `tmp/`, removed when this value is dropped.
    pub fn read<R: Read>(store: &BlobStore, reader: R) -> Result<StagedArchive, ArchiveError> {
        let tmp = store.tmp_dir();
        let dir = tempfile::Builder::new()
            .prefix("load-")
            .tempdir_in(&tmp)
            .map_err(|source| ArchiveError::Io {
                path: tmp.clone(),
                source,
            })?;
        let mut staged = StagedArchive {
            dir,
            files: HashMap::new(),
            links: HashMap::new(),
            next: 0,
        };
        let (prefix, reader) = peek(reader, 6).map_err(|source| ArchiveError::Read { source })?;
        let compression = Compression::detect(&prefix)
            .map_err(|compression| ArchiveError::Compressed { compression })?;
        let (watch, flags) = EofWatch::new(Decompressed::new(reader, compression));
        let mut archive = tar::Archive::new(watch);
        let mut position = Position::default();
        let entries = archive
            .entries()
            .map_err(|e| classify(e, &flags, &position))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| classify(e, &flags, &position))?;
            position.accepted(&entry);
            let raw = entry.path_bytes().into_owned();
            let path = normalize(&raw)?;
            let kind = entry.header().entry_type();
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if path.is_empty() {
                        return Err(bad_entry(&raw, "a regular file must have a name"));
                    }
                    let declared = entry.size();
                    staged.add_file(&path, &mut entry, declared, &flags, &position)?;
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target_raw = entry
                        .link_name_bytes()
                        .map(|t| t.into_owned())
                        .unwrap_or_default();
                    let Ok(target_text) = std::str::from_utf8(&target_raw) else {
                        return Err(bad_entry(&raw, "its link target is not UTF-8"));
                    };
                    let unsafe_link = || ArchiveError::UnsafePath {
                        entry: format!("{path} -> {target_text}"),
                    };
                    let target = if kind == tar::EntryType::Symlink {
                        resolve_symlink(&path, target_text).ok_or_else(unsafe_link)?
                    } else {
                        normalize(&target_raw).map_err(|_| unsafe_link())?
                    };
                    staged.files.remove(&path);
                    staged.links.insert(path, target);
                }
                tar::EntryType::GNUSparse => {
                    return Err(bad_entry(&raw, "sparse files are not supported"));
                }
                // Directories, pax/GNU metadata, devices and fifos are never referenced.
                _ => {}
            }
        }
        if flags.hit_eof() {
            return Err(ArchiveError::Truncated {
                entry: position.last().to_string(),
                detail: "the archive ends without its end-of-archive marker".to_string(),
            });
        }
        // Whatever follows the end marker (record padding) is read and dropped, so a
        // stream (an HTTP body) is consumed whole.
        io::copy(&mut archive.into_inner(), &mut io::sink())
            .map_err(|source| ArchiveError::Read { source })?;
        Ok(staged)
    }

    fn add_file<R: Read>(
        &mut self,
        path: &str,
        entry: &mut R,
        declared: u64,
        flags: &Flags,
        position: &Position,
    ) -> Result<(), ArchiveError> {
        let file = self.dir.path().join(self.next.to_string());
        self.next += 1;
        let io_err = |source| ArchiveError::Io {
            path: file.clone(),
            source,
        };
        let mut out = File::create(&file).map_err(io_err)?;
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(classify(e, flags, position)),
            };
            out.write_all(&buf[..n])
                .map_err(|source| ArchiveError::Io {
                    path: file.clone(),
                    source,
                })?;
            hasher.update(&buf[..n]);
        }
        if hasher.len() != declared {
            return Err(ArchiveError::Truncated {
                entry: position.last().to_string(),
                detail: format!(
                    "the last entry's data ends after {} of its {declared} bytes",
                    hasher.len()
                ),
            });
        }
        let size = hasher.len();
        let digest = hasher.finish();
        if let Some(name) = path.strip_prefix("blobs/sha256/") {
            let expected = Digest::from_hex(name).map_err(|_| {
                bad_entry(path.as_bytes(), "a blob must be named by its sha256 digest")
            })?;
            if expected != digest {
                return Err(ArchiveError::DigestMismatch {
                    path: path.to_string(),
                    expected,
                    actual: digest,
                });
            }
        }
        self.links.remove(path);
        self.files
            .insert(path.to_string(), StagedFile { file, digest, size });
        Ok(())
    }

    /// The staged file an archive path names, following links; `Missing` if absent.
    pub fn lookup(&self, path: &str, referenced_by: &str) -> Result<&StagedFile, ArchiveError> {
        let mut current = path;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(f) = self.files.get(current) {
                return Ok(f);
            }
            match self.links.get(current) {
                Some(target) => current = target,
                None => break,
            }
        }
        Err(ArchiveError::Missing {
            path: path.to_string(),
            referenced_by: referenced_by.to_string(),
        })
    }

    pub fn contains(&self, path: &str) -> bool {
        self.lookup(path, "").is_ok()
    }

    /// A JSON document's bytes, refused past [`MAX_JSON_SIZE`].
    pub fn read_json(
        &self,
        path: &str,
        referenced_by: &str,
    ) -> Result<(Vec<u8>, &StagedFile), ArchiveError> {
        let staged = self.lookup(path, referenced_by)?;
        if staged.size > MAX_JSON_SIZE {
            return Err(ArchiveError::TooLarge {
                path: path.to_string(),
                size: staged.size,
                limit: MAX_JSON_SIZE,
            });
        }
        let bytes = fs::read(&staged.file).map_err(|source| ArchiveError::Io {
            path: staged.file.clone(),
            source,
        })?;
        Ok((bytes, staged))
    }
}

/// An entry refused for `reason`, named by its raw name.
fn bad_entry(raw: &[u8], reason: &str) -> ArchiveError {
    ArchiveError::Entry {
        entry: quoted(raw),
        reason: reason.to_string(),
    }
}

/// A tar-level error, told apart by what the input did: it failed (a read error), it
/// ended (truncated), or it was there and wrong (not a tar, or a corrupt header).
fn classify(e: io::Error, flags: &Flags, position: &Position) -> ArchiveError {
    if flags.failed() {
        ArchiveError::Read { source: e }
    } else if flags.hit_eof() {
        ArchiveError::Truncated {
            entry: position.last().to_string(),
            detail: format!("the input ended early ({})", printable(&e.to_string())),
        }
    } else {
        ArchiveError::Tar(position.fault(&e))
    }
}

/// `./a//b/` -> `a/b`. Absolute names and `..` components are unsafe.
pub(super) fn normalize(raw: &[u8]) -> Result<String, ArchiveError> {
    let text = std::str::from_utf8(raw).map_err(|_| bad_entry(raw, "its name is not UTF-8"))?;
    if text.starts_with('/') {
        return Err(ArchiveError::UnsafePath {
            entry: text.to_string(),
        });
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(ArchiveError::UnsafePath {
                    entry: text.to_string(),
                });
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The archive path a relative symlink at `path` points to; `None` if it leaves the archive.
fn resolve_symlink(path: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_dot_slash_and_refuses_escapes() {
        assert_eq!(normalize(b"./manifest.json").unwrap(), "manifest.json");
        assert_eq!(normalize(b"blobs//sha256/./x/").unwrap(), "blobs/sha256/x");
        assert_eq!(normalize(b"./").unwrap(), "");
        assert!(matches!(
            normalize(b"../x"),
            Err(ArchiveError::UnsafePath { .. })
        ));
        assert!(matches!(
            normalize(b"a/../../x"),
            Err(ArchiveError::UnsafePath { .. })
        ));
        assert!(matches!(
            normalize(b"/etc/passwd"),
            Err(ArchiveError::UnsafePath { .. })
        ));
        assert!(matches!(
            normalize(b"\xff"),
            Err(ArchiveError::Entry { .. })
        ));
    }

    #[test]
    fn symlinks_resolve_inside_the_archive_only() {
        assert_eq!(
            resolve_symlink("b/layer.tar", "../a/layer.tar").as_deref(),
            Some("a/layer.tar")
        );
        assert_eq!(
            resolve_symlink("b/layer.tar", "./other.tar").as_deref(),
            Some("b/other.tar")
        );
        assert_eq!(resolve_symlink("b/layer.tar", "../../x"), None);
        assert_eq!(resolve_symlink("x", ".."), None);
        assert_eq!(resolve_symlink("b/x", "/etc/passwd"), None);
    }
}
