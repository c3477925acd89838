//! Privileged file operations, performed by the host inside the plugin's root.
//!
//! WASI lets a plugin create, read and remove files under its root, but not set owners,
//! setuid bits, device nodes, overlay whiteouts, xattrs or absolute symlinks. These calls
//! ask the host to do so. Paths are relative to the root; one that leaves it is refused,
//! and so is a call whose capability (`chown`, `chmod`, `whiteout`, `opaque`, `mknod`,
//! `xattr`, `symlink`, `remove-tree`) the plugin's `plugin.toml` did not ask for under
//! `[capabilities] files`. A refusal is an [`Error`](crate::Error) of kind `Denied`.

use crate::Result;
use crate::bindings::host::hostctl::host::files as host;

pub use host::NodeKind;

/// lchown(2) `path` to `uid`:`gid`.
pub fn chown(path: &str, uid: u32, gid: u32) -> Result<()> {
    host::chown(path, uid, gid)
}

/// chmod(2) `path` to `mode` (setuid, setgid and sticky bits included); a no-op on a symlink.
pub fn chmod(path: &str, mode: u32) -> Result<()> {
    host::chmod(path, mode)
}

/// Make `path` an overlay whiteout (a 0:0 character device), replacing what is there.
pub fn whiteout(path: &str) -> Result<()> {
    host::whiteout(path)
}

/// Mark directory `path` as an opaque overlay directory.
pub fn set_opaque(path: &str) -> Result<()> {
    host::set_opaque(path)
}

/// mknod(2) a device node or fifo at `path`.
pub fn mknod(path: &str, kind: NodeKind, mode: u32, major: u32, minor: u32) -> Result<()> {
    host::mknod(path, kind, mode, major, minor)
}

/// Set xattr `name` on `path` (not following a final symlink; `trusted.*` is refused).
pub fn set_xattr(path: &str, name: &str, value: &[u8]) -> Result<()> {
    host::set_xattr(path, name, value)
}

/// Create `path` as a symlink to `target` (which may be absolute).
pub fn symlink(target: &str, path: &str) -> Result<()> {
    host::symlink(target, path)
}

/// Remove `path` and everything beneath it (`rm -rf`, without following symlinks or
/// entering a mount point); a missing path is fine. The host does the work, natively and
/// outside the call's deadline: use it for trees of any size (a layer, a volume).
pub fn remove_tree(path: &str) -> Result<()> {
    host::remove_tree(path)
}
