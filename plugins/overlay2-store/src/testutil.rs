//! Test helpers: a temporary driver root and a native stand-in for the host's
//! privileged file operations, so `layout` and `apply` run under plain `cargo test`.
//!
//! The fake performs what an unprivileged process can (directories, symlinks, modes)
//! and records every call, so tests assert both the files and the host calls a real
//! host would have made (owners, whiteouts, opaque markers, device nodes, xattrs).
//! A whiteout or device node is stood in for by an empty regular file.

use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use hostctl_sdk::Result;
use hostctl_sdk::files::NodeKind;

use crate::host::{Host, Root};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempRoot {
    pub root: Root,
    path: PathBuf,
}

impl TempRoot {
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("overlay2-store-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temporary root");
        TempRoot {
            root: Root::at(&path),
            path,
        }
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Records host calls as `"op path[ detail]"` lines.
#[derive(Default)]
pub struct FakeHost {
    pub base: Option<PathBuf>,
    pub calls: RefCell<Vec<String>>,
}

impl FakeHost {
    /// A fake that also acts on the files under `root`.
    pub fn at(tmp: &TempRoot) -> Self {
        FakeHost {
            base: Some(tmp.path.clone()),
            calls: RefCell::default(),
        }
    }

    fn record(&self, call: String) {
        self.calls.borrow_mut().push(call);
    }

    /// Whether a call line equal to `call` was recorded.
    pub fn called(&self, call: &str) -> bool {
        self.calls.borrow().iter().any(|c| c == call)
    }

    fn placeholder(&self, path: &str) {
        if let Some(base) = &self.base {
            let path = base.join(path);
            if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&path).expect("fake host: clearing a whiteout's place");
            } else {
                let _ = std::fs::remove_file(&path);
            }
            std::fs::write(&path, b"").expect("fake host: writing a placeholder");
        }
    }
}

impl Host for FakeHost {
    fn chown(&self, path: &str, uid: u32, gid: u32) -> Result<()> {
        self.record(format!("chown {path} {uid}:{gid}"));
        Ok(())
    }
    fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        self.record(format!("chmod {path} {mode:o}"));
        if let Some(base) = &self.base {
            let path = base.join(path);
            if !path
                .symlink_metadata()
                .expect("fake host: chmod of a missing path")
                .is_symlink()
            {
                // Keep owner rwx so the test can clean up after itself.
                let perm = std::fs::Permissions::from_mode((mode & 0o777) | 0o700);
                std::fs::set_permissions(&path, perm).expect("fake host: chmod");
            }
        }
        Ok(())
    }
    fn whiteout(&self, path: &str) -> Result<()> {
        self.record(format!("whiteout {path}"));
        self.placeholder(path);
        Ok(())
    }
    fn set_opaque(&self, path: &str) -> Result<()> {
        self.record(format!("opaque {path}"));
        Ok(())
    }
    fn mknod(&self, path: &str, kind: NodeKind, mode: u32, major: u32, minor: u32) -> Result<()> {
        let kind = match kind {
            NodeKind::CharDevice => "char",
            NodeKind::BlockDevice => "block",
            NodeKind::Fifo => "fifo",
        };
        self.record(format!("mknod {path} {kind} {mode:o} {major}:{minor}"));
        self.placeholder(path);
        Ok(())
    }
    fn set_xattr(&self, path: &str, name: &str, value: &[u8]) -> Result<()> {
        self.record(format!(
            "xattr {path} {name}={}",
            String::from_utf8_lossy(value)
        ));
        Ok(())
    }
    fn symlink(&self, target: &str, path: &str) -> Result<()> {
        self.record(format!("symlink {path} -> {target}"));
        if let Some(base) = &self.base {
            std::os::unix::fs::symlink(target, base.join(path))
                .map_err(hostctl_sdk::Error::from)?;
        }
        Ok(())
    }
    fn remove_tree(&self, path: &str) -> Result<()> {
        self.record(format!("remove-tree {path}"));
        if let Some(base) = &self.base {
            let path = base.join(path);
            let removed = match path.symlink_metadata() {
                Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
                Ok(_) => std::fs::remove_file(&path),
                Err(err) => Err(err),
            };
            match removed {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(hostctl_sdk::Error::from(err)),
                _ => {}
            }
        }
        Ok(())
    }
    fn debug(&self, message: &str) {
        self.record(format!("debug {message}"));
    }
    fn warn(&self, message: &str) {
        self.record(format!("warn {message}"));
    }
}
