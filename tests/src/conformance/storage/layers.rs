//! Applying layers: plain and gzip tars, `./`-prefixed and bare entry names, the empty
//! layer. A driver answers the layer's DiffID (sha256 of the *uncompressed* tar, whatever
//! the blob's compression) and its size (bytes of file content, per the WIT), and the
//! merged view holds the layer's files.

use super::fixture::{Fixture, Snapshot, read_text};
use crate::images::{Layer, PathStyle, digest};

/// A small layer of every common entry kind.
fn sample_layer() -> Layer {
    Layer::new()
        .dir("bin")
        .file_mode("bin/busybox", "#!busybox stand-in\n".repeat(64), 0o755)
        .symlink("bin/sh", "busybox")
        .dir("etc")
        .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        .hardlink("etc/passwd.hard", "etc/passwd")
        .dir_mode("tmp", 0o1777)
}

/// Bytes of regular-file content in `tar` (hardlinks and directories carry none).
pub fn content_bytes(tar: &[u8]) -> u64 {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .expect("reading a test tar")
        .map(|e| e.expect("a test tar entry"))
        .filter(|e| e.header().entry_type().is_file())
        .map(|e| e.size())
        .sum()
}

/// The same layer applied from its plain tar and from its gzip answers the same DiffID,
/// the sha256 of the plain tar, and the same size; both views hold the same files.
pub fn plain_and_gzip_layers_have_the_same_diff_id(fx: &Fixture) {
    let layer = sample_layer();
    let plain = fx.apply_bytes("plain", None, layer.tar()).expect("applying the plain tar");
    let gzipped = fx.apply_bytes("gzipped", None, layer.tar_gz()).expect("applying the gzip tar");
    assert_eq!(plain.diff_id, layer.diff_id(), "plain tar: the DiffID is the tar's sha256");
    assert_eq!(gzipped.diff_id, layer.diff_id(), "gzip tar: the DiffID is the *uncompressed* tar's sha256");
    assert_ne!(gzipped.diff_id, digest(&layer.tar_gz()), "the DiffID is not the compressed blob's digest");
    assert_eq!(plain.size, content_bytes(&layer.tar()), "size is the bytes of file content");
    assert_eq!(gzipped.size, plain.size, "compression does not change the size");

    let (a, b) = (fx.mount("plain"), fx.mount("gzipped"));
    assert_eq!(Snapshot::of(&a.rootfs), Snapshot::of(&b.rootfs), "plain and gzip layers give the same files");
    fx.unmount("plain", &a);
    fx.unmount("gzipped", &b);
}

/// `tar -C rootfs -cf - .` writes `./`, `./etc/`, `./etc/passwd`: the same files as bare
/// names, with the DiffID of that tar.
pub fn dot_slash_names_apply_like_bare_names(fx: &Fixture) {
    let bare = sample_layer();
    let dotted = sample_layer().path_style(PathStyle::DotSlash);
    fx.apply("bare", None, &bare);
    let applied = fx.apply("dotted", None, &dotted);
    assert_eq!(applied.diff_id, dotted.diff_id());
    let (a, b) = (fx.mount("bare"), fx.mount("dotted"));
    assert_eq!(Snapshot::of(&a.rootfs), Snapshot::of(&b.rootfs), "./ names give the same files as bare ones");
    fx.unmount("bare", &a);
    fx.unmount("dotted", &b);
}

/// A layer with no entries (Docker makes them for `RUN` steps that change nothing)
/// applies, with DiffID the sha256 of its end-of-archive blocks and size 0.
pub fn empty_layer_applies(fx: &Fixture) {
    let empty = Layer::new();
    let applied = fx.apply("empty", None, &empty);
    assert_eq!(applied.diff_id, empty.diff_id());
    assert_eq!(applied.size, 0);
    assert!(fx.exists("empty"));
    let mounted = fx.mount("empty");
    assert_eq!(Snapshot::of(&mounted.rootfs), Snapshot::default(), "an empty layer's view is empty");
    fx.unmount("empty", &mounted);
}

/// What a layer holds is what its mounted view shows: file bytes, an executable, a link.
pub fn applied_layer_is_visible_when_mounted(fx: &Fixture) {
    fx.apply("base", None, &sample_layer());
    let view = fx.mount("base");
    assert_eq!(read_text(&view.rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    assert_eq!(read_text(&view.rootfs, "bin/busybox"), "#!busybox stand-in\n".repeat(64));
    assert_eq!(read_text(&view.rootfs, "bin/sh"), read_text(&view.rootfs, "bin/busybox"), "bin/sh -> busybox resolves");
    assert_eq!(read_text(&view.rootfs, "etc/passwd.hard"), read_text(&view.rootfs, "etc/passwd"), "the hardlink has the bytes");
    fx.unmount("base", &view);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_bytes_counts_regular_files_only() {
        let layer = Layer::new().dir("d").file("d/a", "abc").file("b", "de").symlink("s", "b").hardlink("h", "b");
        assert_eq!(content_bytes(&layer.tar()), 5);
    }
}
