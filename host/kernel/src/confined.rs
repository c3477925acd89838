//! A directory that privileged file operations cannot escape.
//!
//! [`ConfinedDir`] holds an open file descriptor of a root directory (a storage driver's
//! root, say). Every operation takes a path relative to it and resolves the path's parent
//! with `openat2(2)` and `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV`: an
//! absolute path, a `..` that climbs out, a symlink leading out, or a crossing into another
//! mount fails in the kernel, not in a string check that a race could defeat. The final
//! component is never followed when it is a symlink (lchown, `O_NOFOLLOW` opens), and
//! operations that need an inode (chmod, xattrs) act on an `O_PATH` descriptor through
//! `/proc/self/fd/N`, so what was checked is what gets changed.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, XattrFlags};

/// Why a confined file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfinedError {
    /// The path is not a plain relative path (absolute, empty, `..`, NUL byte).
    #[error("path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    /// Resolving the path would leave the root (a symlink leading out, a mount crossing).
    #[error("path {path:?} leads outside {}", root.display())]
    Escapes { path: String, root: PathBuf },
    /// The operation is refused on this kind of object (a `trusted.` xattr, say).
    #[error("{op} {path:?}: {reason}")]
    Refused { op: &'static str, path: String, reason: &'static str },
    /// The kernel refused the operation.
    #[error("{op} {path:?}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

impl ConfinedError {
    /// Whether the failure is about confinement (a bad or escaping path, a refused
    /// operation) rather than an ordinary I/O error.
    pub fn is_denial(&self) -> bool {
        !matches!(self, ConfinedError::Io { .. })
    }
}

/// What [`ConfinedDir::mknod`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    CharDevice,
    BlockDevice,
    Fifo,
}

/// An open root directory; see the module docs.
#[derive(Debug)]
pub struct ConfinedDir {
    root: OwnedFd,
    path: PathBuf,
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

type Result<T> = std::result::Result<T, ConfinedError>;

impl ConfinedDir {
    /// Open `path` (which must be an existing directory) as a confinement root.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let root = rustix::fs::open(&path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io_err("open", &path.display().to_string(), e))?;
        Ok(ConfinedDir { root, path })
    }

    /// The root's path on the host.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open directory `path` beneath the root as an `O_PATH` descriptor (for mounts).
    /// An empty path or `.` is the root itself.
    pub fn open_dir(&self, path: &str) -> Result<OwnedFd> {
        let rel = normalize(path)?;
        self.open_beneath(path, if rel.is_empty() { "." } else { &rel }, OFlags::PATH | OFlags::DIRECTORY)
    }

    /// Open directory `path` beneath the root as an `O_PATH` descriptor, allowing only the
    /// final component to be a mount point (to reach a mounted view for remount/unmount).
    pub fn open_mounted_dir(&self, path: &str) -> Result<OwnedFd> {
        let (parent, name) = self.parent(path)?;
        openat2(
            &parent,
            name.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| self.resolve_err(path, e))
    }

    /// lchown(2) `path` to `uid`:`gid`.
    pub fn chown(&self, path: &str, uid: u32, gid: u32) -> Result<()> {
        let (parent, name) = self.parent(path)?;
        let (uid, gid) = (rustix::fs::Uid::from_raw(uid), rustix::fs::Gid::from_raw(gid));
        rustix::fs::chownat(&parent, name.as_str(), Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| io_err("chown", path, e))
    }

    /// chmod(2) `path` to `mode & 0o7777`; a final symlink is left alone.
    pub fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        let fd = self.open_nofollow(path)?;
        if is_symlink(&fd, path)? {
            return Ok(());
        }
        rustix::fs::chmod(proc_fd_path(&fd), Mode::from_raw_mode(mode & 0o7777))
            .map_err(|e| io_err("chmod", path, e))
    }

    /// Make `path` an overlay whiteout: a 0:0 character device. An existing file (or empty
    /// directory) there is replaced.
    pub fn whiteout(&self, path: &str) -> Result<()> {
        let (parent, name) = self.parent(path)?;
        let make = || {
            rustix::fs::mknodat(&parent, name.as_str(), FileType::CharacterDevice, Mode::empty(), rustix::fs::makedev(0, 0))
        };
        match make() {
            Err(rustix::io::Errno::EXIST) => {
                let st = rustix::fs::statat(&parent, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| io_err("whiteout", path, e))?;
                let flags = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    AtFlags::REMOVEDIR
                } else {
                    AtFlags::empty()
                };
                rustix::fs::unlinkat(&parent, name.as_str(), flags).map_err(|e| io_err("whiteout", path, e))?;
                make().map_err(|e| io_err("whiteout", path, e))
            }
            other => other.map_err(|e| io_err("whiteout", path, e)),
        }
    }

    /// Mark directory `path` opaque for overlay (`trusted.overlay.opaque=y`).
    pub fn set_opaque(&self, path: &str) -> Result<()> {
        let rel = normalize(path)?;
        let dir = self.open_beneath(
            path,
            if rel.is_empty() { "." } else { &rel },
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW,
        )?;
        rustix::fs::fsetxattr(&dir, "trusted.overlay.opaque", b"y", XattrFlags::empty())
            .map_err(|e| io_err("set opaque", path, e))
    }

    /// mknod(2) a device node or fifo at `path` with permission bits `mode & 0o7777`
    /// (applied after creation, so the daemon's umask does not change them).
    pub fn mknod(&self, path: &str, kind: NodeKind, mode: u32, major: u32, minor: u32) -> Result<()> {
        let (parent, name) = self.parent(path)?;
        let file_type = match kind {
            NodeKind::CharDevice => FileType::CharacterDevice,
            NodeKind::BlockDevice => FileType::BlockDevice,
            NodeKind::Fifo => FileType::Fifo,
        };
        let dev = if kind == NodeKind::Fifo { 0 } else { rustix::fs::makedev(major, minor) };
        rustix::fs::mknodat(&parent, name.as_str(), file_type, Mode::from_raw_mode(mode & 0o7777), dev)
            .map_err(|e| io_err("mknod", path, e))?;
        self.chmod(path, mode)
    }

    /// Set extended attribute `name` on `path`. `trusted.*` names are refused (overlay
    /// keeps its own state there), and so are xattrs on symlinks.
    pub fn set_xattr(&self, path: &str, name: &str, value: &[u8]) -> Result<()> {
        if name.starts_with("trusted.") {
            return Err(ConfinedError::Refused { op: "set xattr", path: path.into(), reason: "trusted.* attributes are reserved" });
        }
        let fd = self.open_nofollow(path)?;
        if is_symlink(&fd, path)? {
            return Err(ConfinedError::Refused { op: "set xattr", path: path.into(), reason: "extended attributes on symlinks are not supported" });
        }
        rustix::fs::setxattr(proc_fd_path(&fd), name, value, XattrFlags::empty())
            .map_err(|e| io_err("set xattr", path, e))
    }

    /// symlink(2): create `path` as a symlink with text `target` (absolute allowed; the
    /// link is only ever resolved inside a container's root).
    pub fn symlink(&self, target: &str, path: &str) -> Result<()> {
        if target.is_empty() || target.contains('\0') {
            return Err(ConfinedError::BadPath { path: target.into(), reason: "not a valid symlink target" });
        }
        let (parent, name) = self.parent(path)?;
        rustix::fs::symlinkat(target, &parent, name.as_str()).map_err(|e| io_err("symlink", path, e))
    }

    /// Remove `path` and everything beneath it, as `rm -rf` would, inside the root:
    /// symlinks are removed, never followed, and a mount point beneath (a mounted overlay
    /// view, say) stops the removal with an error instead of being entered. A missing
    /// path is not an error. One descriptor is held per directory level, and entries are
    /// unlinked as they are listed.
    pub fn remove_tree(&self, path: &str) -> Result<()> {
        let (parent, name) = self.parent(path)?;
        let name = CString::new(name).expect("normalize refused NUL bytes");
        let file_type = match rustix::fs::statat(&parent, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(io_err("stat", path, e)),
            Ok(st) => FileType::from_raw_mode(st.st_mode),
        };
        if file_type != FileType::Directory {
            return unlink(&parent, &name, AtFlags::empty(), path);
        }
        // The directories being emptied, deepest last, each with its name in the one above.
        let mut levels = vec![(self.open_for_removal(&parent, &name, path)?, name, path.to_owned())];
        loop {
            let Some((dir, _, shown)) = levels.last_mut() else { return Ok(()) };
            let entry = match dir.read() {
                None => {
                    let (_, name, shown) = levels.pop().expect("a level was just read");
                    let above = levels.last().map(|(d, _, _)| d.fd().expect("an open directory")).unwrap_or(parent.as_fd());
                    unlink(&above, &name, AtFlags::REMOVEDIR, &shown)?;
                    continue;
                }
                Some(Err(e)) => return Err(io_err("read directory", shown, e)),
                Some(Ok(entry)) => entry,
            };
            let child = entry.file_name();
            if child == c"." || child == c".." {
                continue;
            }
            let dir_fd = dir.fd().map_err(|e| io_err("read directory", shown, e))?;
            let child_shown = format!("{shown}/{}", child.to_string_lossy());
            let is_dir = match entry.file_type() {
                FileType::Unknown => rustix::fs::statat(dir_fd, child, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
                    .map_err(|e| io_err("stat", &child_shown, e))?,
                kind => kind == FileType::Directory,
            };
            if is_dir {
                let opened = self.open_for_removal(&dir_fd, child, &child_shown)?;
                levels.push((opened, child.to_owned(), child_shown));
            } else {
                unlink(&dir_fd, child, AtFlags::empty(), &child_shown)?;
            }
        }
    }

    /// Open directory `name` in `dir` for listing, refusing symlinks and mount points.
    fn open_for_removal(&self, dir: &impl AsFd, name: &std::ffi::CStr, shown: &str) -> Result<rustix::fs::Dir> {
        let fd = openat2(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE | ResolveFlags::NO_SYMLINKS,
        )
        .map_err(|e| match e {
            rustix::io::Errno::XDEV => {
                ConfinedError::Refused { op: "remove", path: shown.into(), reason: "is a mount point (unmount it first)" }
            }
            e => io_err("open", shown, e),
        })?;
        rustix::fs::Dir::new(fd).map_err(|e| io_err("read directory", shown, e))
    }

    /// Open the parent of `path` beneath the root; returns it and the final component.
    fn parent(&self, path: &str) -> Result<(OwnedFd, String)> {
        let rel = normalize(path)?;
        let (dir, name) = match rel.rsplit_once('/') {
            Some((dir, name)) => (dir.to_owned(), name.to_owned()),
            None if rel.is_empty() => {
                return Err(ConfinedError::BadPath { path: path.into(), reason: "names the root itself" });
            }
            None => (".".to_owned(), rel),
        };
        let fd = self.open_beneath(path, &dir, OFlags::PATH | OFlags::DIRECTORY)?;
        Ok((fd, name))
    }

    /// Open `path` itself without following a final symlink, as `O_PATH`.
    fn open_nofollow(&self, path: &str) -> Result<OwnedFd> {
        let (parent, name) = self.parent(path)?;
        openat2(&parent, name.as_str(), OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty(), RESOLVE)
            .map_err(|e| self.resolve_err(path, e))
    }

    fn open_beneath(&self, shown: &str, rel: &str, flags: OFlags) -> Result<OwnedFd> {
        openat2(&self.root, rel, flags | OFlags::CLOEXEC, Mode::empty(), RESOLVE)
            .map_err(|e| self.resolve_err(shown, e))
    }

    fn resolve_err(&self, path: &str, e: rustix::io::Errno) -> ConfinedError {
        match e {
            // EXDEV: RESOLVE_BENEATH or RESOLVE_NO_XDEV refused a step; ELOOP: a magic link.
            rustix::io::Errno::XDEV | rustix::io::Errno::LOOP => {
                ConfinedError::Escapes { path: path.into(), root: self.path.clone() }
            }
            e => io_err("open", path, e),
        }
    }
}

/// Check a relative path and return it without empty or `.` components.
fn normalize(path: &str) -> Result<String> {
    let bad = |reason| Err(ConfinedError::BadPath { path: path.into(), reason });
    if path.starts_with('/') {
        return bad("is absolute");
    }
    if path.contains('\0') {
        return bad("contains a NUL byte");
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return bad("contains `..`"),
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

fn is_symlink(fd: &OwnedFd, path: &str) -> Result<bool> {
    let st = rustix::fs::fstat(fd).map_err(|e| io_err("stat", path, e))?;
    Ok(FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
}

/// `/proc/self/fd/N` for an open descriptor: a path that names exactly that inode.
pub(crate) fn proc_fd_path(fd: &impl AsFd) -> CString {
    CString::new(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())).expect("no NUL in a number")
}

/// unlinkat(2) of `name` in `dir`; one already gone is fine.
fn unlink(dir: &impl AsFd, name: &std::ffi::CStr, flags: AtFlags, shown: &str) -> Result<()> {
    match rustix::fs::unlinkat(dir, name, flags) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(io_err("remove", shown, e)),
    }
}

fn io_err(op: &'static str, path: &str, e: rustix::io::Errno) -> ConfinedError {
    ConfinedError::Io { op, path: path.into(), source: e.into() }
}


/// `openat2(2)`, again while the kernel answers `EAGAIN`: with `RESOLVE_BENEATH`, a `..`
/// on the way (a symlink like overlay2's `l/ID -> ../LAYER/diff`) is refused with
/// `EAGAIN` whenever a rename or mount anywhere on the system raced with the lookup, and
/// the kernel's advice is to retry. Busy hosts (containers starting beside each other)
/// hit it.
fn openat2<Fd: rustix::fd::AsFd, P: rustix::path::Arg + Copy>(
    dirfd: Fd,
    path: P,
    flags: OFlags,
    mode: Mode,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    let mut attempts = 0;
    loop {
        match rustix::fs::openat2(&dirfd, path, flags, mode, resolve) {
            Err(rustix::io::Errno::AGAIN) if attempts < 128 => attempts += 1,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    pub(super) fn root() -> (tempfile::TempDir, ConfinedDir) {
        let dir = tempfile::tempdir().unwrap();
        let confined = ConfinedDir::open(dir.path()).unwrap();
        (dir, confined)
    }

    #[test]
    fn normalize_refuses_absolute_and_dotdot() {
        assert!(normalize("/etc/passwd").is_err());
        assert!(normalize("a/../../b").is_err());
        assert!(normalize("a\0b").is_err());
        assert_eq!(normalize("./a//b/.").unwrap(), "a/b");
        assert_eq!(normalize(".").unwrap(), "");
    }

    #[test]
    fn chmod_sets_setuid_bits() {
        let (dir, c) = root();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        c.chmod("f", 0o4755).unwrap();
        assert_eq!(std::fs::metadata(dir.path().join("f")).unwrap().permissions().mode() & 0o7777, 0o4755);
    }

    #[test]
    fn chmod_leaves_a_final_symlink_and_its_target_alone() {
        let (dir, c) = root();
        std::fs::write(dir.path().join("target"), b"x").unwrap();
        std::fs::set_permissions(dir.path().join("target"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink("target", dir.path().join("link")).unwrap();
        c.chmod("link", 0o777).unwrap();
        assert_eq!(std::fs::metadata(dir.path().join("target")).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn symlink_leading_out_is_refused_as_parent() {
        let (dir, c) = root();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("evil")).unwrap();
        std::os::unix::fs::symlink("../..", dir.path().join("up")).unwrap();
        for path in ["evil/file", "up/file"] {
            let err = c.symlink("x", path).unwrap_err();
            assert!(matches!(err, ConfinedError::Escapes { .. }), "{path}: {err}");
            assert!(err.is_denial());
        }
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn absolute_symlink_target_is_allowed() {
        let (dir, c) = root();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        c.symlink("/bin/busybox", "bin/sh").unwrap();
        assert_eq!(std::fs::read_link(dir.path().join("bin/sh")).unwrap(), Path::new("/bin/busybox"));
    }

    #[test]
    fn whiteout_replaces_a_file_with_a_0_0_char_device() {
        let (dir, c) = root();
        std::fs::write(dir.path().join("gone"), b"x").unwrap();
        c.whiteout("gone").unwrap();
        let meta = std::fs::symlink_metadata(dir.path().join("gone")).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(meta.file_type().is_char_device());
        assert_eq!(meta.rdev(), 0);
    }

    #[test]
    fn opaque_marker_is_a_trusted_xattr() {
        let (dir, c) = root();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        c.set_opaque("d").unwrap();
        let mut buf = [0u8; 4];
        let n = rustix::fs::getxattr(dir.path().join("d"), "trusted.overlay.opaque", &mut buf).unwrap();
        assert_eq!(&buf[..n], b"y");
    }

    #[test]
    fn trusted_xattrs_are_refused() {
        let (dir, c) = root();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        assert!(matches!(c.set_xattr("f", "trusted.overlay.opaque", b"y"), Err(ConfinedError::Refused { .. })));
        c.set_xattr("f", "user.note", b"hi").unwrap();
    }

    #[test]
    fn chown_does_not_follow_a_final_symlink() {
        let (dir, c) = root();
        std::fs::write(dir.path().join("t"), b"x").unwrap();
        std::os::unix::fs::symlink("t", dir.path().join("l")).unwrap();
        c.chown("l", 1234, 4321).unwrap();
        let link = std::fs::symlink_metadata(dir.path().join("l")).unwrap();
        let target = std::fs::metadata(dir.path().join("t")).unwrap();
        assert_eq!((link.uid(), link.gid()), (1234, 4321));
        assert_ne!(target.uid(), 1234);
    }

    #[test]
    fn mknod_fifo_keeps_its_mode_despite_umask() {
        let (dir, c) = root();
        c.mknod("p", NodeKind::Fifo, 0o666, 0, 0).unwrap();
        assert_eq!(std::fs::metadata(dir.path().join("p")).unwrap().permissions().mode() & 0o777, 0o666);
    }
}

#[cfg(test)]
mod race_tests {
    use super::*;

    /// Mounts coming and going elsewhere make the kernel answer `EAGAIN` to a
    /// `RESOLVE_BENEATH` lookup through `..` (overlay2's `l/ID -> ../ID/diff`); the
    /// confined open retries instead of failing a container's start.
    #[test]
    fn a_lookup_through_dotdot_survives_mounts_racing_with_it() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("layer/diff")).unwrap();
        std::fs::create_dir_all(dir.path().join("l")).unwrap();
        std::os::unix::fs::symlink("../layer/diff", dir.path().join("l/SHORT")).unwrap();
        let churn = dir.path().join("churn");
        std::fs::create_dir_all(&churn).unwrap();
        let confined = ConfinedDir::open(dir.path()).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let raw_again = std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    rustix::mount::mount("tmpfs", &churn, "tmpfs", rustix::mount::MountFlags::empty(), None::<&std::ffi::CStr>).unwrap();
                    rustix::mount::unmount(&churn, rustix::mount::UnmountFlags::DETACH).unwrap();
                }
            });
            let mut raw_again = 0;
            for _ in 0..20_000 {
                let raw = rustix::fs::openat2(&confined.root, "l/SHORT", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty(), RESOLVE);
                if raw.is_err_and(|e| e == rustix::io::Errno::AGAIN) {
                    raw_again += 1;
                }
                confined.open_dir("l/SHORT").expect("the confined open retries EAGAIN");
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            raw_again
        });
        eprintln!("{raw_again} of 20000 plain openat2 calls got EAGAIN from the racing mounts");
    }
}

#[cfg(test)]
mod remove_tree_tests {
    use super::*;
    use super::tests::root;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn remove_tree_removes_everything_beneath_without_following_symlinks() {
        let (dir, confined) = root();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        let layer = dir.path().join("layer");
        std::fs::create_dir_all(layer.join("a/b/c")).unwrap();
        for i in 0..300 {
            std::fs::write(layer.join(format!("a/b/f{i}")), "x").unwrap();
        }
        std::os::unix::fs::symlink(outside.path(), layer.join("a/out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("keep"), layer.join("a/b/c/keep")).unwrap();
        confined.mknod("layer/a/fifo", NodeKind::Fifo, 0o644, 0, 0).unwrap();
        std::fs::set_permissions(layer.join("a/b"), std::fs::Permissions::from_mode(0o500)).unwrap();
        confined.remove_tree("layer").unwrap();
        assert!(!layer.exists());
        assert!(outside.path().join("keep").exists(), "a symlink's target outside is untouched");
        confined.remove_tree("layer").expect("a missing path is not an error");
        std::fs::write(dir.path().join("file"), "x").unwrap();
        confined.remove_tree("file").unwrap();
        assert!(!dir.path().join("file").exists());
        assert!(matches!(confined.remove_tree("../x"), Err(ConfinedError::BadPath { .. })));
        assert!(matches!(confined.remove_tree(""), Err(ConfinedError::BadPath { .. })));
    }

    #[test]
    fn remove_tree_stops_at_a_mount_point_and_does_not_enter_it() {
        let (dir, confined) = root();
        let merged = dir.path().join("layer/merged");
        std::fs::create_dir_all(&merged).unwrap();
        rustix::mount::mount("tmpfs", &merged, "tmpfs", rustix::mount::MountFlags::empty(), None::<&std::ffi::CStr>).unwrap();
        std::fs::write(merged.join("inside"), "x").unwrap();
        let refused = confined.remove_tree("layer");
        let inside_kept = merged.join("inside").exists();
        rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::DETACH).unwrap();
        assert!(matches!(refused, Err(ConfinedError::Refused { .. })), "{refused:?}");
        assert!(inside_kept, "nothing under the mount point was touched");
        confined.remove_tree("layer").unwrap();
        assert!(!dir.path().join("layer").exists());
    }
}
