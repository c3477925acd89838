//! Applying a layer tar to a new layer's `diff/`: entry by entry, with OCI whiteouts
//! turned into overlay ones and every write kept inside the layer.
//!
//! The tar is parsed with `tar::Archive::entries()` (never `unpack`, which would
//! follow the tar's own ideas about links and owners). For each entry:
//!
//! - the path is normalised ([`paths::normalize`]); a name that leaves the layer is
//!   refused, and the root entry (`./`) only lends its owner and mode to `diff/`;
//! - whiteouts become overlay's: `.wh..wh..opq` marks its directory opaque
//!   (`trusted.overlay.opaque=y`), `.wh.NAME` removes `NAME` from this layer and puts a
//!   0:0 character device in its place; aufs metadata is skipped;
//! - parents must be real directories of this layer and a previous entry at the same
//!   path is replaced ([`Tree`]);
//! - files are streamed to disk; directories, symlinks (any target text: it resolves
//!   inside a container later), hard links (to an earlier entry of this layer), device
//!   nodes and fifos are made, through the host where the sandbox cannot;
//! - then owner (`lchown`, skipped for 0:0), mode (with setuid, setgid, sticky), PAX
//!   xattrs (`SCHILY.xattr.*`; `trusted.*` is skipped, other failures only warn, as in
//!   Docker) and mtime (files at once, directories at the end; symlinks, device nodes
//!   and fifos keep the time they were made: the sandbox has no `lutimes`).
//!
//! The size answered is the sum of the regular files' bytes; the DiffID comes from
//! [`Uncompressed`].

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hostctl_sdk::files::NodeKind;
use hostctl_sdk::storage::AppliedLayer;
use hostctl_sdk::{Error, Result};
use tar::EntryType;

use crate::host::{Host, Root};
use crate::paths::{self, Kind as Name};
use crate::stream::{OpenError, Uncompressed};
use crate::tree::Tree;

/// Bytes copied per read of a file's content.
const COPY_BUF: usize = 64 * 1024;
/// The PAX record prefix of an extended attribute.
const PAX_XATTR: &[u8] = b"SCHILY.xattr.";

/// Unpack the layer stream `raw` into layer `id`'s `diff/`.
pub fn unpack<R: Read>(root: &Root, host: &dyn Host, id: &str, raw: R) -> Result<AppliedLayer> {
    let mut stream = Uncompressed::open(raw).map_err(|err| match err {
        OpenError::Io(err) => malformed(err),
        OpenError::Unsupported(what) => Error::invalid(what),
    })?;
    let mut apply = Apply {
        tree: Tree::new(root, host, id),
        host,
        size: 0,
        buf: vec![0; COPY_BUF],
    };
    let mut count = 0u64;
    {
        let mut archive = tar::Archive::new(&mut stream);
        for entry in archive.entries().map_err(malformed)? {
            let mut entry = entry.map_err(malformed)?;
            apply.entry(&mut entry)?;
            count += 1;
        }
    }
    apply.tree.set_dir_times()?;
    let diff_id = stream.finish().map_err(malformed)?;
    host.debug(&format!(
        "layer \"{id}\": applied {count} entries, {} bytes, {diff_id}",
        apply.size
    ));
    Ok(AppliedLayer {
        diff_id,
        size: apply.size,
    })
}

/// The layer stream is not a readable (compressed) tar.
fn malformed(err: io::Error) -> Error {
    Error::invalid(format!("reading the layer tar: {err}"))
}

/// What an entry makes, by its tar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Make {
    File,
    Dir,
    Symlink,
    Hardlink,
    Node(NodeKind),
    /// A PAX global header: nothing to make.
    Nothing,
}

/// What an entry of type `ty` named `raw` makes; `None` for types no layer should hold.
fn make_of(ty: EntryType, raw: &[u8]) -> Option<Make> {
    Some(match ty {
        // An old (V7) tar marks directories with a trailing slash only.
        EntryType::Regular if raw.ends_with(b"/") => Make::Dir,
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Make::File,
        EntryType::Directory => Make::Dir,
        EntryType::Symlink => Make::Symlink,
        EntryType::Link => Make::Hardlink,
        EntryType::Char => Make::Node(NodeKind::CharDevice),
        EntryType::Block => Make::Node(NodeKind::BlockDevice),
        EntryType::Fifo => Make::Node(NodeKind::Fifo),
        EntryType::XGlobalHeader => Make::Nothing,
        _ => return None,
    })
}

/// An entry's owner, mode, mtime and xattrs.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: SystemTime,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    fn read<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta> {
        let header = entry.header();
        let bad =
            |what: &str, err: io::Error| Error::invalid(format!("bad {what} in header: {err}"));
        let uid = header.uid().map_err(|err| bad("uid", err))?;
        let gid = header.gid().map_err(|err| bad("gid", err))?;
        let mode = header.mode().map_err(|err| bad("mode", err))? & 0o7777;
        let secs = header.mtime().map_err(|err| bad("mtime", err))?;
        let out_of_range =
            |what: &str, n: u64| Error::invalid(format!("{what} {n} is out of range"));
        let uid = u32::try_from(uid).map_err(|_| out_of_range("uid", uid))?;
        let gid = u32::try_from(gid).map_err(|_| out_of_range("gid", gid))?;
        let mut mtime = UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .ok_or_else(|| out_of_range("mtime", secs))?;
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry.pax_extensions().map_err(malformed)? {
            for extension in extensions {
                let extension = extension.map_err(malformed)?;
                let key = extension.key_bytes();
                if key == b"mtime" {
                    if let Some(time) = extension.value().ok().and_then(parse_pax_time) {
                        mtime = time;
                    }
                } else if let Some(name) = key.strip_prefix(PAX_XATTR) {
                    let name = std::str::from_utf8(name).map_err(|_| {
                        Error::invalid("xattr name is not utf-8, which hostctl cannot store")
                    })?;
                    xattrs.push((name.to_owned(), extension.value_bytes().to_vec()));
                }
            }
        }
        Ok(Meta {
            uid,
            gid,
            mode,
            mtime,
            xattrs,
        })
    }
}

/// A PAX time, `[-]seconds[.fraction]`.
fn parse_pax_time(text: &str) -> Option<SystemTime> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty()
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let mut nanos = 0u32;
    for digit in fraction.bytes().chain(std::iter::repeat(b'0')).take(9) {
        nanos = nanos * 10 + u32::from(digit - b'0');
    }
    let offset = Duration::new(secs, nanos);
    if negative {
        UNIX_EPOCH.checked_sub(offset)
    } else {
        UNIX_EPOCH.checked_add(offset)
    }
}

/// Applying one layer.
struct Apply<'a> {
    tree: Tree<'a>,
    host: &'a dyn Host,
    size: u64,
    buf: Vec<u8>,
}

impl Apply<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        self.entry_at(entry, &raw).map_err(|err| {
            err.context(format!(
                "layer entry \"{}\"",
                String::from_utf8_lossy(&raw).escape_debug()
            ))
        })
    }

    fn entry_at<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, raw: &[u8]) -> Result<()> {
        let ty = entry.header().entry_type();
        let make = make_of(ty, raw).ok_or_else(|| {
            Error::invalid(format!(
                "unsupported entry type {:?}",
                char::from(ty.as_byte())
            ))
        })?;
        if make == Make::Nothing {
            return Ok(());
        }
        let path = paths::normalize(raw).map_err(|err| Error::invalid(err.to_string()))?;
        match paths::classify(&path).map_err(|err| Error::invalid(err.to_string()))? {
            Name::AufsMeta => {
                self.host
                    .debug(&format!("layer entry \"{path}\": skipping aufs metadata"));
                return Ok(());
            }
            Name::Opaque { dir } => {
                self.tree.ensure_dir(dir)?;
                return self.host.set_opaque(&self.tree.rel(dir));
            }
            Name::Whiteout { dir, name } => {
                self.tree.ensure_dir(dir)?;
                let hidden = paths::join(dir, name);
                self.tree.clear(&hidden, false)?;
                return self.host.whiteout(&self.tree.rel(&hidden));
            }
            Name::Plain => {}
        }
        let meta = Meta::read(entry)?;
        let rel = self.tree.rel(&path);
        if path.is_empty() {
            if make != Make::Dir {
                return Err(Error::invalid("the layer root must be a directory"));
            }
            return self.owner_and_mode(&rel, &meta, true);
        }
        self.tree.ensure_parent(&path)?;
        match make {
            Make::File => {
                self.write_file(entry, &path, &meta)?;
                self.owner_and_mode(&rel, &meta, true)?;
            }
            Make::Dir => {
                match fs::create_dir(self.tree.fs(&path)) {
                    Ok(()) => {}
                    // A directory merges into a directory; anything else makes way.
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                        if !self.tree.clear(&path, true)? {
                            fs::create_dir(self.tree.fs(&path))
                                .map_err(|err| Error::io("creating directory", err))?;
                        }
                    }
                    Err(err) => return Err(Error::io("creating directory", err)),
                }
                self.tree.made_dir(&path);
                self.owner_and_mode(&rel, &meta, true)?;
                self.tree.defer_dir_time(&path, meta.mtime);
            }
            Make::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .filter(|target| !target.is_empty())
                    .ok_or_else(|| Error::invalid("symlink has no target"))?;
                let target = std::str::from_utf8(&target).map_err(|_| {
                    Error::invalid("symlink target is not utf-8, which hostctl cannot store")
                })?;
                self.replacing(&path, |this| this.host.symlink(target, &rel))?;
                self.owner_and_mode(&rel, &meta, false)?;
            }
            Make::Hardlink => return self.hardlink(entry, &path),
            Make::Node(kind) => {
                let (major, minor) = match kind {
                    NodeKind::Fifo => (0, 0),
                    _ => device_numbers(entry.header())?,
                };
                if kind == NodeKind::CharDevice && (major, minor) == (0, 0) {
                    // Already an overlay whiteout.
                    self.tree.clear(&path, false)?;
                    return self.host.whiteout(&rel);
                }
                self.replacing(&path, |this| {
                    this.host.mknod(&rel, kind, meta.mode, major, minor)
                })?;
                self.owner_and_mode(&rel, &meta, true)?;
            }
            Make::Nothing => {}
        }
        self.xattrs(&rel, &path, &meta);
        Ok(())
    }

    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &str,
        meta: &Meta,
    ) -> Result<()> {
        let open = |this: &Self| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(this.tree.fs(path))
                .map_err(|err| Error::io("creating file", err))
        };
        let mut file = self.replacing(path, open)?;
        let mut written = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(malformed(err)),
            };
            file.write_all(&self.buf[..n])
                .map_err(|err| Error::io("writing file", err))?;
            written += n as u64;
        }
        file.set_modified(meta.mtime)
            .map_err(|err| Error::io("setting mtime", err))?;
        self.size += written;
        Ok(())
    }

    fn hardlink<R: Read>(&mut self, entry: &tar::Entry<'_, R>, path: &str) -> Result<()> {
        let raw = entry
            .link_name_bytes()
            .ok_or_else(|| Error::invalid("hardlink has no target"))?;
        let shown = String::from_utf8_lossy(&raw).escape_debug().to_string();
        let target = paths::normalize(&raw)
            .map_err(|err| Error::invalid(format!("hardlink target \"{shown}\": {err}")))?;
        if target.is_empty() {
            return Err(Error::invalid("hardlink target is the layer root"));
        }
        let missing = || {
            Error::invalid(format!(
                "hardlink target \"{shown}\" does not exist in this layer"
            ))
        };
        if !self
            .tree
            .parents_exist(&target)
            .map_err(|err| err.context(format!("hardlink target \"{shown}\"")))?
        {
            return Err(missing());
        }
        match fs::symlink_metadata(self.tree.fs(&target)) {
            Ok(meta) if meta.is_dir() => Err(Error::invalid(format!(
                "hardlink target \"{shown}\" is a directory"
            ))),
            Ok(_) => self.replacing(path, |this| {
                fs::hard_link(this.tree.fs(&target), this.tree.fs(path))
                    .map_err(|err| Error::io(format!("linking to \"{shown}\""), err))
            }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(missing()),
            Err(err) => Err(Error::io(
                format!("reading hardlink target \"{shown}\""),
                err,
            )),
        }
    }

    /// Make what `make` makes at `path`. Most paths are new, so this tries first; if it
    /// fails and an earlier entry is at `path`, that entry makes way (later entries
    /// replace earlier ones) and `make` runs once more. One `lstat` per entry saved.
    fn replacing<T>(&mut self, path: &str, make: impl Fn(&Self) -> Result<T>) -> Result<T> {
        match make(self) {
            Ok(made) => Ok(made),
            Err(err) => {
                if fs::symlink_metadata(self.tree.fs(path)).is_err() {
                    return Err(err);
                }
                self.tree.clear(path, false)?;
                make(self)
            }
        }
    }

    /// lchown unless 0:0, then chmod if `chmod` (chown first: it clears setuid bits).
    fn owner_and_mode(&self, rel: &str, meta: &Meta, chmod: bool) -> Result<()> {
        if meta.uid != 0 || meta.gid != 0 {
            self.host.chown(rel, meta.uid, meta.gid)?;
        }
        if chmod {
            self.host.chmod(rel, meta.mode)?;
        }
        Ok(())
    }

    /// Set the entry's PAX xattrs; `trusted.*` is overlay's own and skipped, and a
    /// failure only warns (the filesystem below may not take user or security xattrs).
    fn xattrs(&self, rel: &str, path: &str, meta: &Meta) {
        for (name, value) in &meta.xattrs {
            if name.starts_with("trusted.") {
                self.host.debug(&format!(
                    "layer entry \"{path}\": skipping xattr {name}: trusted.* belongs to overlay"
                ));
                continue;
            }
            if let Err(err) = self.host.set_xattr(rel, name, value) {
                self.host.warn(&format!(
                    "layer entry \"{path}\": xattr {name} not set: {}",
                    err.message
                ));
            }
        }
    }
}

/// A device entry's major and minor numbers.
fn device_numbers(header: &tar::Header) -> Result<(u32, u32)> {
    let bad = |err: io::Error| Error::invalid(format!("bad device number in header: {err}"));
    match (
        header.device_major().map_err(bad)?,
        header.device_minor().map_err(bad)?,
    ) {
        (Some(major), Some(minor)) => Ok((major, minor)),
        _ => Err(Error::invalid("device entry carries no device numbers")),
    }
}

#[cfg(test)]
mod tests;
