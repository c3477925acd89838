//! What the driver asks of the host, behind one small trait.
//!
//! Everything WASI cannot do in the sandbox (owners, setuid bits, overlay whiteouts and
//! opaque directories, device nodes, xattrs, symlinks with any target) and the daemon's
//! log go through [`Host`]. In the component, [`Sdk`] forwards each call to
//! `hostctl_sdk::files` and `hostctl_sdk::log`; the unit tests pass a native fake, so the
//! whole of `apply` and `layout` runs under `cargo test` without a wasm runtime.
//!
//! Paths are relative to the driver root with no leading `/` (`"<id>/diff/bin/sh"`),
//! exactly as `hostctl_sdk::files` takes them. [`Root`] turns the same relative paths
//! into `std::fs` paths: under `/` in the component (WASI pre-opens the driver root
//! there), under a temporary directory in tests.

use std::path::PathBuf;

use hostctl_sdk::Result;
use hostctl_sdk::files::{self, NodeKind};

/// The privileged file operations and the log, as the driver uses them.
pub trait Host {
    /// lchown(2).
    fn chown(&self, path: &str, uid: u32, gid: u32) -> Result<()>;
    /// chmod(2) including setuid, setgid and sticky bits.
    fn chmod(&self, path: &str, mode: u32) -> Result<()>;
    /// An overlay whiteout (0:0 character device) at `path`.
    fn whiteout(&self, path: &str) -> Result<()>;
    /// `trusted.overlay.opaque=y` on directory `path`.
    fn set_opaque(&self, path: &str) -> Result<()>;
    /// mknod(2).
    fn mknod(&self, path: &str, kind: NodeKind, mode: u32, major: u32, minor: u32) -> Result<()>;
    /// lsetxattr(2); `trusted.*` is refused by the host.
    fn set_xattr(&self, path: &str, name: &str, value: &[u8]) -> Result<()>;
    /// symlink(2) with any target text.
    fn symlink(&self, target: &str, path: &str) -> Result<()>;
    /// `rm -rf path`, done by the host outside the call's deadline; missing is fine.
    fn remove_tree(&self, path: &str) -> Result<()>;
    /// A debug line in the daemon's log.
    fn debug(&self, message: &str);
    /// A warning in the daemon's log.
    fn warn(&self, message: &str);
}

/// The real host: `hostctl_sdk::files` and `hostctl_sdk::log`.
pub struct Sdk;

impl Host for Sdk {
    fn chown(&self, path: &str, uid: u32, gid: u32) -> Result<()> {
        files::chown(path, uid, gid)
    }
    fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        files::chmod(path, mode)
    }
    fn whiteout(&self, path: &str) -> Result<()> {
        files::whiteout(path)
    }
    fn set_opaque(&self, path: &str) -> Result<()> {
        files::set_opaque(path)
    }
    fn mknod(&self, path: &str, kind: NodeKind, mode: u32, major: u32, minor: u32) -> Result<()> {
        files::mknod(path, kind, mode, major, minor)
    }
    fn set_xattr(&self, path: &str, name: &str, value: &[u8]) -> Result<()> {
        files::set_xattr(path, name, value)
    }
    fn symlink(&self, target: &str, path: &str) -> Result<()> {
        files::symlink(target, path)
    }
    fn remove_tree(&self, path: &str) -> Result<()> {
        files::remove_tree(path)
    }
    fn debug(&self, message: &str) {
        hostctl_sdk::log::debug(message);
    }
    fn warn(&self, message: &str) {
        hostctl_sdk::log::warn(message);
    }
}

/// Where root-relative paths live for `std::fs`.
#[derive(Debug, Clone)]
pub struct Root {
    base: PathBuf,
}

impl Root {
    /// The driver root as WASI pre-opens it in the component: `/`.
    pub fn wasi() -> Self {
        Root {
            base: PathBuf::from("/"),
        }
    }

    /// A root at `base` (tests).
    #[cfg(test)]
    pub fn at(base: impl Into<PathBuf>) -> Self {
        Root { base: base.into() }
    }

    /// The `std::fs` path of root-relative `rel`.
    pub fn fs(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }
}
