//! The container's root directory: paths resolved inside it, `pivot_root(2)` into it,
//! and the masked and read-only paths applied after.
//!
//! [`Root`] holds an `O_PATH` descriptor of the root and resolves every path with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: `..` stops at the root and an
//! absolute symlink (`/var/run -> /run`) is read as the container would read it, so an
//! image cannot make the init mount or create anything outside its rootfs. Mounts are
//! then made on the `/proc/self/fd/N` path of the resolved descriptor, as
//! [`crate::mount`] does.

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::sys;

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// An open root directory; see the module docs.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    /// Open `path` (the host path of the rootfs, or `/` after pivot_root).
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Root { fd })
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Resolve `rel` inside the root (following symlinks as the container would), as an
    /// `O_PATH` descriptor of whatever is mounted there now.
    pub fn resolve(&self, rel: &str) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat2(&self.fd, rel, OFlags::PATH | OFlags::CLOEXEC, Mode::empty(), IN_ROOT)?)
    }

    /// mkdir -p `rel` (mode 0755) inside the root; the directory's descriptor.
    pub fn make_dir(&self, rel: &str) -> io::Result<OwnedFd> {
        let mut parent = self.resolve(".")?;
        let mut prefix = String::new();
        for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            let dir = match self.resolve(&prefix) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match rustix::fs::mkdirat(&parent, part, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.resolve(&prefix)?
                }
                other => other?,
            };
            if !is_dir(&dir)? {
                return Err(Errno::NOTDIR.into());
            }
            parent = dir;
        }
        Ok(parent)
    }

    /// Create `rel` as an empty file (mode 0644) if nothing is there, making its parent
    /// directories; the descriptor of what is there.
    pub fn make_file(&self, rel: &str) -> io::Result<OwnedFd> {
        match self.resolve(rel) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            other => return other,
        }
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let parent = self.make_dir(dir)?;
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC;
        match rustix::fs::openat(&parent, name, flags, Mode::from_raw_mode(0o644)) {
            Ok(_) | Err(Errno::EXIST) => self.resolve(rel),
            Err(e) => Err(e.into()),
        }
    }

    /// The parent directory of `rel` (made if missing) and the final name.
    pub fn parent_of<'a>(&self, rel: &'a str) -> io::Result<(OwnedFd, &'a str)> {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        Ok((self.make_dir(dir)?, name))
    }
}

fn is_dir(fd: &OwnedFd) -> io::Result<bool> {
    Ok(FileType::from_raw_mode(rustix::fs::fstat(fd)?.st_mode) == FileType::Directory)
}

/// Bind `rootfs` onto itself: pivot_root(2) needs the new root to be a mount point. The
/// bind exists only in the container's (private) mount namespace.
pub fn bind_onto_itself(rootfs: &Path) -> io::Result<()> {
    let path = CString::new(rootfs.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    sys::mount(Some(&path), &path, None, libc::MS_BIND | libc::MS_REC, None)
}

/// Make the root `root` the process's `/`: `pivot_root(".", ".")` from inside it stacks
/// the old root on top of the new one, and a lazy unmount of `.` removes it, without a
/// temporary directory in the image.
pub fn pivot_root(root: Root) -> io::Result<()> {
    rustix::process::fchdir(root.fd())?;
    rustix::process::pivot_root(".", ".")?;
    sys::unmount_detach(c".")?;
    rustix::process::chdir("/")?;
    Ok(())
}

/// Hide `path` (after pivot_root): `/dev/null` bound over a file, an empty read-only
/// tmpfs over a directory. A missing path is fine.
pub fn mask_path(root: &Root, path: &str) -> io::Result<()> {
    let fd = match root.resolve(path) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        other => other?,
    };
    if is_dir(&fd)? {
        sys::mount(Some(c"tmpfs"), &sys::proc_fd(&fd), Some(c"tmpfs"), libc::MS_RDONLY, None)
    } else {
        sys::mount(Some(c"/dev/null"), &sys::proc_fd(&fd), None, libc::MS_BIND, None)
    }
}

/// Make `path` read-only (after pivot_root): bind it onto itself, then remount the bind
/// read-only, keeping the nosuid/nodev/noexec it had. A missing path is fine.
pub fn readonly_path(root: &Root, path: &str) -> io::Result<()> {
    let fd = match root.resolve(path) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        other => other?,
    };
    let at = sys::proc_fd(&fd);
    sys::mount(Some(&at), &at, None, libc::MS_BIND | libc::MS_REC, None)?;
    let mounted = root.resolve(path)?;
    remount_readonly(&mounted)
}

/// Remount the mount at `fd` read-only, keeping its nosuid/nodev/noexec.
pub fn remount_readonly(fd: &OwnedFd) -> io::Result<()> {
    use rustix::fs::StatVfsMountFlags as F;
    let had = rustix::fs::fstatvfs(fd)?.f_flag;
    let mut flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
    for (statvfs, mount) in [(F::NOSUID, libc::MS_NOSUID), (F::NODEV, libc::MS_NODEV), (F::NOEXEC, libc::MS_NOEXEC)] {
        if had.contains(statvfs) {
            flags |= mount;
        }
    }
    sys::mount(None, &sys::proc_fd(fd), None, flags, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_dir_follows_symlinks_inside_the_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("run")).unwrap();
        std::os::unix::fs::symlink("/run", dir.path().join("varrun")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../..", dir.path().join("up")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        root.make_dir("varrun/a").unwrap();
        assert!(dir.path().join("run/a").is_dir(), "an absolute link is read inside the root");
        // The link's target is read as a path inside the root, where it does not exist.
        assert!(root.make_dir("escape/b").is_err());
        root.make_dir("up/c").unwrap();
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert!(dir.path().join("c").is_dir(), "`..` stops at the root");
    }

    #[test]
    fn make_file_creates_an_empty_file_and_its_parents() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        root.make_file("etc/hostname").unwrap();
        assert_eq!(std::fs::read(dir.path().join("etc/hostname")).unwrap(), b"");
        std::fs::write(dir.path().join("etc/hostname"), b"x").unwrap();
        root.make_file("etc/hostname").unwrap();
        assert_eq!(std::fs::read(dir.path().join("etc/hostname")).unwrap(), b"x", "an existing file is kept");
    }

    #[test]
    fn make_dir_refuses_a_file_in_the_way() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"").unwrap();
        let root = Root::open(dir.path()).unwrap();
        assert_eq!(root.make_dir("f/sub").unwrap_err().raw_os_error(), Some(libc::ENOTDIR));
    }
}
