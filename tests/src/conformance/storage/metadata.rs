//! File metadata survives a layer's trip through the driver: modes with setuid, setgid
//! and sticky bits, owners, symlink targets (absolute and relative), hardlinks, device
//! nodes and mtimes, as `ls -l` would show them both in the layer's own view and in a
//! container's view on top of it.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::fixture::Fixture;
use crate::images::Layer;

/// One file of every kind a base image carries.
pub fn metadata_layer() -> Layer {
    Layer::new()
        .dir("bin")
        .file_mode("bin/busybox", "busybox\n", 0o755)
        .file_mode("bin/su", "su\n", 0o4755)
        .file_mode("bin/wall", "wall\n", 0o2755)
        .hardlink("bin/busybox.hard", "bin/busybox")
        .symlink("bin/sh", "busybox")
        .dir("etc")
        .file_mode("etc/shadow", "root:*::0:::::\n", 0o600)
        .symlink("etc/mtab", "/proc/self/mounts")
        .symlink("etc/localtime", "../usr/share/zoneinfo/UTC")
        .dir("home")
        .dir("home/user")
        .file_owned("home/user/.profile", "export PS1='$ '\n", 0o644, 1000, 1000)
        .file_owned("home/user/notes", "mine\n", 0o640, 1001, 2002)
        .dir("dev")
        .char_device("dev/null", 1, 3)
        .dir_mode("tmp", 0o1777)
}

/// Run `check` on the layer's own view and on a container's view on top of it.
fn in_both_views(fx: &Fixture, check: impl Fn(&str, &Path)) {
    fx.apply("image", None, &metadata_layer());
    fx.create("ctr", Some("image"));
    for id in ["image", "ctr"] {
        let view = fx.mount(id);
        check(id, &view.rootfs);
        fx.unmount(id, &view);
    }
}

fn lstat(view: &str, rootfs: &Path, path: &str) -> std::fs::Metadata {
    std::fs::symlink_metadata(rootfs.join(path)).unwrap_or_else(|e| panic!("{view} view: {path}: {e}"))
}

/// setuid, setgid and sticky bits and plain modes are kept.
pub fn special_modes_survive(fx: &Fixture) {
    in_both_views(fx, |view, rootfs| {
        for (path, mode) in [("bin/su", 0o4755), ("bin/wall", 0o2755), ("tmp", 0o1777), ("etc/shadow", 0o600), ("bin/busybox", 0o755)] {
            assert_eq!(
                lstat(view, rootfs, path).mode() & 0o7777,
                mode,
                "{view} view: mode of {path}: {:o}",
                lstat(view, rootfs, path).mode() & 0o7777
            );
        }
    });
}

/// Files keep their uid and gid; unowned ones stay root's.
pub fn owners_survive(fx: &Fixture) {
    in_both_views(fx, |view, rootfs| {
        for (path, owner) in [("home/user/.profile", (1000, 1000)), ("home/user/notes", (1001, 2002)), ("bin/busybox", (0, 0))] {
            let meta = lstat(view, rootfs, path);
            assert_eq!((meta.uid(), meta.gid()), owner, "{view} view: owner of {path}");
        }
        assert_eq!(lstat(view, rootfs, "home/user/notes").mode() & 0o7777, 0o640, "chown did not eat the mode");
    });
}

/// Symlinks keep their target text, absolute or relative, whether or not it resolves.
pub fn symlinks_keep_their_targets(fx: &Fixture) {
    in_both_views(fx, |view, rootfs| {
        for (path, target) in [("bin/sh", "busybox"), ("etc/mtab", "/proc/self/mounts"), ("etc/localtime", "../usr/share/zoneinfo/UTC")] {
            assert!(lstat(view, rootfs, path).file_type().is_symlink(), "{view} view: {path} is not a symlink");
            let got = std::fs::read_link(rootfs.join(path)).expect("readlink");
            assert_eq!(got, Path::new(target), "{view} view: target of {path}");
        }
    });
}

/// A hardlink is the same inode as its target, with a link count of two.
pub fn hardlinks_share_an_inode(fx: &Fixture) {
    in_both_views(fx, |view, rootfs| {
        let (a, b) = (lstat(view, rootfs, "bin/busybox"), lstat(view, rootfs, "bin/busybox.hard"));
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "{view} view: bin/busybox.hard is not a hardlink of bin/busybox");
        assert_eq!(a.nlink(), 2, "{view} view: link count of bin/busybox");
        assert_eq!(std::fs::read(rootfs.join("bin/busybox.hard")).expect("reading the hardlink"), b"busybox\n");
    });
}

/// `dev/null` is character device 1:3, mode 0666.
pub fn char_devices_survive(fx: &Fixture) {
    in_both_views(fx, |view, rootfs| {
        let meta = lstat(view, rootfs, "dev/null");
        assert!(meta.file_type().is_char_device(), "{view} view: dev/null is not a character device");
        assert_eq!(meta.rdev(), makedev(1, 3), "{view} view: dev/null's device numbers");
        assert_eq!(meta.mode() & 0o7777, 0o666, "{view} view: dev/null's mode");
    });
}

/// Files and directories keep the mtime their tar entry carries.
pub fn mtimes_survive(fx: &Fixture) {
    let want = entry_mtimes(&metadata_layer().tar());
    in_both_views(fx, |view, rootfs| {
        for (path, mtime) in &want {
            let meta = lstat(view, rootfs, path);
            if meta.is_file() || meta.is_dir() {
                assert_eq!(meta.mtime(), *mtime, "{view} view: mtime of {path}");
            }
        }
    });
}

/// Each entry's mtime in `tar`, by path without trailing slash.
fn entry_mtimes(tar: &[u8]) -> BTreeMap<String, i64> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .expect("reading a test tar")
        .map(|e| {
            let e = e.expect("a test tar entry");
            let path = String::from_utf8_lossy(&e.path_bytes()).trim_end_matches('/').to_owned();
            (path, e.header().mtime().expect("mtime") as i64)
        })
        .collect()
}

/// glibc's `makedev`.
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makedev_matches_dev_null() {
        // stat -c '%t:%T' /dev/null is 1:3; st_rdev 0x103.
        assert_eq!(makedev(1, 3), 0x103);
        assert_eq!(makedev(1, 3), std::fs::metadata("/dev/null").unwrap().rdev());
    }

    #[test]
    fn entry_mtimes_name_every_entry() {
        let mtimes = entry_mtimes(&metadata_layer().tar());
        assert!(mtimes.contains_key("tmp") && mtimes.contains_key("bin/su"));
        assert!(mtimes.values().all(|&t| t > 0));
    }
}
