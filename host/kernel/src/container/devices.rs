//! The container's `/dev`: the device nodes runc creates whatever the spec says
//! (`null`, `zero`, `full`, `random`, `urandom`, `tty`, mode 0666), the spec's own
//! `linux.devices`, and the standard links (`ptmx -> pts/ptmx`, `fd -> /proc/self/fd`,
//! `stdin`/`stdout`/`stderr -> /proc/self/fd/0..2`). Made with mknodat(2)/symlinkat(2)
//! relative to a directory resolved inside the root (see [`super::rootfs::Root`]).

use std::io;

use rustix::fs::{AtFlags, FileType, Mode};
use rustix::io::Errno;

use super::rootfs::Root;

/// Node types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Char,
    Block,
    Fifo,
}

/// One device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Relative to the container's root, e.g. `dev/null`.
    pub path: String,
    pub kind: DeviceKind,
    pub major: u32,
    pub minor: u32,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// runc's default devices.
pub fn defaults() -> Vec<Device> {
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
        .into_iter()
        .map(|(name, major, minor)| Device {
            path: format!("dev/{name}"),
            kind: DeviceKind::Char,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect()
}

/// The links every container's `/dev` has: (link, target).
pub const LINKS: &[(&str, &str)] = &[
    ("dev/ptmx", "pts/ptmx"),
    ("dev/fd", "/proc/self/fd"),
    ("dev/stdin", "/proc/self/fd/0"),
    ("dev/stdout", "/proc/self/fd/1"),
    ("dev/stderr", "/proc/self/fd/2"),
];

impl Device {
    /// mknod the node inside `root` (an existing node is kept), then chown it. The
    /// caller's umask must be 0 for the mode to be exact.
    pub(crate) fn create_in(&self, root: &Root) -> io::Result<()> {
        let (parent, name) = root.parent_of(&self.path)?;
        let file_type = match self.kind {
            DeviceKind::Char => FileType::CharacterDevice,
            DeviceKind::Block => FileType::BlockDevice,
            DeviceKind::Fifo => FileType::Fifo,
        };
        let dev = if self.kind == DeviceKind::Fifo { 0 } else { rustix::fs::makedev(self.major, self.minor) };
        match rustix::fs::mknodat(&parent, name, file_type, Mode::from_raw_mode(self.mode), dev) {
            Ok(()) => {}
            Err(Errno::EXIST) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if self.uid != 0 || self.gid != 0 {
            let (uid, gid) = (rustix::fs::Uid::from_raw(self.uid), rustix::fs::Gid::from_raw(self.gid));
            rustix::fs::chownat(&parent, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        Ok(())
    }
}

/// Create the standard links; `/dev/ptmx` replaces whatever is there (it must point at
/// the container's own devpts instance).
pub(crate) fn create_links(root: &Root) -> io::Result<()> {
    for (link, target) in LINKS {
        let (parent, name) = root.parent_of(link)?;
        if name == "ptmx" {
            match rustix::fs::unlinkat(&parent, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match rustix::fs::symlinkat(*target, &parent, name) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
