//! Persistent network namespaces: a container's sandbox, as `ip netns add` makes one.
//!
//! A network namespace lives as long as something refers to it. [`create`] makes an
//! empty file at the caller's path (e.g. `<data-root>/netns/<container id>`), and a
//! short-lived thread `unshare(CLONE_NEWNET)`s, bind-mounts its
//! `/proc/thread-self/ns/net` onto the file and exits: the namespace now lives as long as
//! the mount, before any process is in it. `lo` is brought up inside. The daemon runs
//! the network driver's join plan with this file as the sandbox and hands the path to
//! the container's OCI spec, whose init `setns(2)`es into it. [`remove`] unmounts and
//! unlinks it; the namespace, and any link still in it, goes when its last user does.

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::mount::UnmountFlags;

use crate::netlink::{BlockingNetlink, NetlinkError};

/// Why a network namespace could not be created or removed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("netns {}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("netns {}: bringing up lo: {source}", path.display())]
    Loopback {
        path: PathBuf,
        #[source]
        source: NetlinkError,
    },
}

impl NetnsError {
    /// Whether the file existed already (a namespace by that name is there).
    pub fn is_exists(&self) -> bool {
        matches!(self, NetnsError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists)
    }
}

/// Create a network namespace held by a bind mount at `path` (which must not exist; its
/// parent is created if missing), with `lo` up. On any failure nothing is left behind.
///
/// Blocking, for a few hundred microseconds (a thread is started and joined); it needs
/// no tokio runtime and may be called from any thread.
pub fn create(path: &Path) -> Result<(), NetnsError> {
    let err = |what, source| NetnsError::Io { path: path.to_owned(), what, source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| err("creating its directory", e))?;
    }
    // Mode 0, as `ip netns add`: the file is only ever a mount point.
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o000).open(path).map_err(|e| err("creating the file", e))?;
    let created = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("hostctl-netns".into())
            .spawn_scoped(s, || in_new_netns(path))
            .map_err(|e| err("starting its thread", e))?
            .join()
            .unwrap_or_else(|_| Err(err("unshare", io::Error::other("the netns thread panicked"))))
    });
    if created.is_err() {
        let _ = remove(path);
    }
    created
}

/// On a thread of its own, which exits afterwards: enter a new network namespace, pin
/// it with a bind mount at `path`, and bring `lo` up in it (over a netlink socket opened
/// there, on a private runtime: this thread belongs to no tokio runtime).
fn in_new_netns(path: &Path) -> Result<(), NetnsError> {
    let err = |what, source: io::Error| NetnsError::Io { path: path.to_owned(), what, source };
    // SAFETY: only CLONE_NEWNET is unshared, on this dedicated thread, which ends when
    // this function returns; the file descriptor table (CLONE_FILES) stays shared, so
    // no descriptor becomes invisible to other threads.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }.map_err(|e| err("unshare", e.into()))?;
    rustix::mount::mount_bind("/proc/thread-self/ns/net", path).map_err(|e| err("bind-mounting the namespace", e.into()))?;
    BlockingNetlink::connect()
        .and_then(|nl| nl.set_up("lo", true))
        .map_err(|source| NetnsError::Loopback { path: path.to_owned(), source })
}

/// Unmount and unlink the namespace file at `path`. Idempotent: a path that is not
/// mounted, or does not exist, is fine.
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    let err = |what, source| NetnsError::Io { path: path.to_owned(), what, source };
    // A file may carry stacked mounts (two racing creates); take them all off.
    for _ in 0..16 {
        match rustix::mount::unmount(path, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW) {
            Ok(()) => continue,
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => break,
            Err(e) => return Err(err("unmounting", e.into())),
        }
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(err("removing the file", e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    /// Lines of `/proc/self/mountinfo` whose mount point is under `dir`.
    fn mounts_under(dir: &Path) -> usize {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let dir = dir.to_str().unwrap();
        info.lines().filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(dir))).count()
    }

    #[test]
    fn remove_of_nothing_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        remove(&dir.path().join("absent")).unwrap();
        std::fs::write(dir.path().join("plain"), b"").unwrap();
        remove(&dir.path().join("plain")).unwrap();
        assert!(!dir.path().join("plain").exists());
    }

    #[test]
    fn netns_has_lo_up_and_leaves_nothing_when_removed() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("netns").join("c1");
        create(&path).unwrap();
        assert_eq!(mounts_under(dir.path()), 1);
        let links = BlockingNetlink::connect_in(&path).unwrap().links().unwrap();
        let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["lo"], "a new namespace holds lo alone");
        assert!(links[0].up, "lo is up");
        assert_eq!(links[0].kind, "loopback");
        assert_eq!(links[0].addresses.iter().map(ToString::to_string).collect::<Vec<_>>(), ["127.0.0.1/8"]);

        let again = create(&path).unwrap_err();
        assert!(again.is_exists(), "{again}");
        assert_eq!(mounts_under(dir.path()), 1, "a refused create mounts nothing");

        remove(&path).unwrap();
        remove(&path).unwrap();
        assert_eq!(mounts_under(dir.path()), 0);
        assert!(!path.exists());
    }

    #[test]
    fn two_namespaces_are_apart() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        create(&a).unwrap();
        // From async code too: it needs no runtime, and does not touch the caller's.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async { create(&b) }).unwrap();
        let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
        let host = ino(Path::new("/proc/self/ns/net"));
        assert_ne!(ino(&a), ino(&b));
        assert_ne!(ino(&a), host);
        remove(&a).unwrap();
        remove(&b).unwrap();
        assert_eq!(mounts_under(dir.path()), 0);
    }
}
