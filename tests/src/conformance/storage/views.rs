//! Merged views of a three-layer image and the writable layers on top of it, as a
//! container sees its rootfs:
//!
//! - `base`: busybox-like files (`bin/busybox`, `bin/sh -> busybox`, `etc/passwd`,
//!   `etc/os-release`, `srv/data/old{1,2}.txt`, `tmp` 1777);
//! - `mid`: adds `etc/motd`, deletes `etc/os-release` (`etc/.wh.os-release`), and makes
//!   `srv/data` opaque (`srv/data/.wh..wh..opq`) holding only `new.txt`;
//! - `top`: adds `top.txt` and replaces `etc/passwd`.
//!
//! Writes into a container's view stay in its writable layer; unmount and remove leave no
//! mount behind.

use super::fixture::{Fixture, names_in, present, read_text};
use crate::images::Layer;

pub const BASE_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n";
pub const TOP_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";

/// Apply `base`, `mid` and `top` (each on the one before).
pub fn apply_stack(fx: &Fixture) {
    let base = Layer::new()
        .dir("bin")
        .file_mode("bin/busybox", "#!busybox\n", 0o755)
        .symlink("bin/sh", "busybox")
        .dir("etc")
        .file("etc/passwd", BASE_PASSWD)
        .file("etc/os-release", "ID=busybox\n")
        .dir("srv")
        .dir("srv/data")
        .file("srv/data/old1.txt", "old 1\n")
        .file("srv/data/old2.txt", "old 2\n")
        .dir_mode("tmp", 0o1777);
    let mid = Layer::new()
        .dir("etc")
        .file("etc/motd", "welcome\n")
        .whiteout("etc/os-release")
        .dir("srv/data")
        .opaque("srv/data")
        .file("srv/data/new.txt", "new\n");
    let top = Layer::new().file("top.txt", "top\n").dir("etc").file("etc/passwd", TOP_PASSWD);
    fx.apply("base", None, &base);
    fx.apply("mid", Some("base"), &mid);
    fx.apply("top", Some("mid"), &top);
}

/// The stack with a container layer `ctr` on `top`, mounted: its rootfs.
fn container(fx: &Fixture) -> hostctl_plugin_runtime::MountedLayer {
    apply_stack(fx);
    fx.create("ctr", Some("top"));
    fx.mount("ctr")
}

/// `etc/.wh.os-release` in `mid` deletes the base's file: it is absent from the view,
/// its neighbours are not, and no whiteout marker shows.
pub fn whiteout_hides_the_lower_file(fx: &Fixture) {
    let view = container(fx);
    assert!(!present(&view.rootfs, "etc/os-release"), "etc/os-release was whited out by mid");
    assert_eq!(names_in(&view.rootfs, "etc"), ["motd", "passwd"], "etc holds the base's and mid's files, no markers");
    fx.unmount("ctr", &view);
}

/// `srv/data/.wh..wh..opq` in `mid` hides what the base had in `srv/data`: only mid's
/// `new.txt` is there.
pub fn opaque_directory_hides_the_lower_contents(fx: &Fixture) {
    let view = container(fx);
    assert_eq!(names_in(&view.rootfs, "srv/data"), ["new.txt"], "an opaque dir shows only its own layer's files");
    assert_eq!(read_text(&view.rootfs, "srv/data/new.txt"), "new\n");
    fx.unmount("ctr", &view);
}

/// Upper layers add files and the topmost version of a file wins.
pub fn upper_layers_add_and_replace_files(fx: &Fixture) {
    let view = container(fx);
    assert_eq!(read_text(&view.rootfs, "etc/motd"), "welcome\n", "mid's file");
    assert_eq!(read_text(&view.rootfs, "top.txt"), "top\n", "top's file");
    assert_eq!(read_text(&view.rootfs, "etc/passwd"), TOP_PASSWD, "top's etc/passwd replaces the base's");
    assert_eq!(read_text(&view.rootfs, "bin/sh"), "#!busybox\n", "the base's symlink still resolves");
    fx.unmount("ctr", &view);
}

/// What a container writes, changes and deletes is seen by no other view: a second
/// container on the same image sees the image as it was, and so does `top` itself.
pub fn container_writes_stay_in_the_writable_layer(fx: &Fixture) {
    let one = container(fx);
    std::fs::write(one.rootfs.join("written.txt"), "by ctr\n").expect("writing into the container's view");
    std::fs::write(one.rootfs.join("etc/passwd"), "changed\n").expect("changing a lower file");
    std::fs::remove_file(one.rootfs.join("bin/sh")).expect("deleting a lower file");
    std::fs::write(one.rootfs.join("srv/data/new.txt"), "changed\n").expect("changing a file of an opaque dir");
    assert_eq!(read_text(&one.rootfs, "written.txt"), "by ctr\n");

    fx.create("ctr2", Some("top"));
    let two = fx.mount("ctr2");
    assert!(!present(&two.rootfs, "written.txt"), "a file written by ctr shows in ctr2");
    assert_eq!(read_text(&two.rootfs, "etc/passwd"), TOP_PASSWD, "ctr's change to etc/passwd shows in ctr2");
    assert!(present(&two.rootfs, "bin/sh"), "ctr's deletion of bin/sh shows in ctr2");
    assert_eq!(read_text(&two.rootfs, "srv/data/new.txt"), "new\n");
    fx.unmount("ctr2", &two);
    fx.unmount("ctr", &one);

    let image = fx.mount("top");
    assert!(!present(&image.rootfs, "written.txt"), "a file written by ctr shows in the image layer's own view");
    assert_eq!(read_text(&image.rootfs, "etc/passwd"), TOP_PASSWD, "ctr's change shows in the image layer's own view");
    fx.unmount("top", &image);

    fx.create("ctr3", Some("mid"));
    let three = fx.mount("ctr3");
    assert!(!present(&three.rootfs, "written.txt") && !present(&three.rootfs, "top.txt"), "mid's view holds only base and mid");
    assert_eq!(read_text(&three.rootfs, "etc/passwd"), BASE_PASSWD);
    fx.unmount("ctr3", &three);
}

/// A container's writes are still there after its view is unmounted and mounted again
/// (a stopped container keeps its files).
pub fn container_writes_survive_a_remount(fx: &Fixture) {
    let view = container(fx);
    std::fs::write(view.rootfs.join("written.txt"), "kept\n").expect("writing into the container's view");
    std::fs::remove_file(view.rootfs.join("etc/motd")).expect("deleting a lower file");
    fx.unmount("ctr", &view);
    let again = fx.mount("ctr");
    assert_eq!(read_text(&again.rootfs, "written.txt"), "kept\n");
    assert!(!present(&again.rootfs, "etc/motd"), "a deletion is kept too");
    fx.unmount("ctr", &again);
}

/// Mounting adds mounts under the fixture dir; unmount takes every one away, and
/// removing the layers leaves none.
pub fn unmount_and_remove_leave_no_mounts(fx: &Fixture) {
    assert!(fx.mounts().is_empty());
    let view = container(fx);
    assert!(!fx.mounts().is_empty(), "a mounted view is a mount under the driver's root");
    assert!(fx.mounts().iter().all(|m| m.starts_with(fx.root())), "mounts are under the driver's root: {:?}", fx.mounts());
    fx.unmount("ctr", &view);
    assert_eq!(fx.mounts(), Vec::<std::path::PathBuf>::new(), "unmount left mounts");
    for id in ["ctr", "top", "mid", "base"] {
        fx.remove(id);
        assert!(!fx.exists(id), "{id} exists after remove");
    }
    assert_eq!(fx.mounts(), Vec::<std::path::PathBuf>::new(), "remove left mounts");
}
