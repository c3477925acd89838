//! Layers a driver must refuse, each with one fault after an honest first entry, applied
//! on an honest base layer: names that leave the layer (`../`, absolute), a symlink
//! leading out followed by a file through it, hardlinks to paths outside the layer, and a
//! blob whose bytes do not match its digest. Each is refused with an error value (not a
//! trap) and leaves nothing: the layer does not exist, the driver's root is as it was
//! (the base untouched, no trace of the refused id), no mount is left, and the sentinel
//! directory outside the root is untouched.
//!
//! Escapes aim at the fixture's sentinel, never at the host's own files.

use std::path::Path;

use hostctl_image::Digest;
use hostctl_plugin_runtime::ErrorKind;

use super::fixture::{Blob, Fixture};
use crate::images::Layer;

/// The refused layer's id.
pub const HOSTILE_ID: &str = "hostile-layer";

/// The start of every hostile layer: an honest file, so a driver that refuses late has
/// something to clean up.
fn hostile() -> Layer {
    Layer::new().file("honest.txt", "written before the fault\n")
}

/// `layer` applied as [`HOSTILE_ID`] on an honest base: refused with an error value, and
/// nothing is left.
fn assert_refused(fx: &Fixture, fault: &str, layer: Layer) {
    if !fx.exists("base") {
        fx.apply("base", None, &Layer::new().dir("etc").file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"));
    }
    let before = fx.snapshot();
    let err = fx.apply_bytes(HOSTILE_ID, Some("base"), layer.tar()).err().unwrap_or_else(|| panic!("a layer with {fault} was accepted"));
    assert_ne!(err.kind(), ErrorKind::PluginFailed, "{fault}: the driver crashed instead of refusing: {err}");
    let kinds = [ErrorKind::InvalidArgument, ErrorKind::Denied];
    assert!(kinds.contains(&err.kind()), "{fault}: error kind {:?}, want one of {kinds:?}: {err}", err.kind());
    fx.assert_left_nothing(HOSTILE_ID, &before);
}

/// `path` (absolute) reached from anywhere by climbing to `/` with `../`.
fn climbing_to(path: &Path) -> String {
    format!("{}{}", "../".repeat(32), path.display().to_string().trim_start_matches('/'))
}

/// Entries named `../escape`, and `../../…/<sentinel>/escape`.
pub fn hostile_dotdot_entry_leaves_nothing(fx: &Fixture) {
    assert_refused(fx, "an entry named ../escape", hostile().verbatim_file("../escape", "escaped\n"));
    let deep = climbing_to(&fx.sentinel().join("escape"));
    assert_refused(fx, "an entry climbing to the sentinel", hostile().verbatim_file(&deep, "escaped\n"));
}

/// Entries with absolute names: `/abs/path`, and one in the sentinel directory.
pub fn hostile_absolute_entry_leaves_nothing(fx: &Fixture) {
    assert_refused(fx, "an entry named /abs/path", hostile().verbatim_file("/abs/path", "escaped\n"));
    let name = fx.sentinel().join("escape").display().to_string();
    assert_refused(fx, "an absolute entry name in the sentinel", hostile().verbatim_file(&name, "escaped\n"));
}

/// A symlink to the (absolute) sentinel directory, then a file through it.
pub fn hostile_absolute_symlink_leaves_nothing(fx: &Fixture) {
    let target = fx.sentinel().display().to_string();
    let layer = hostile().symlink("evil", &target).file("evil/pwned", "escaped\n");
    assert_refused(fx, "a file through a symlink to an absolute path", layer);
}

/// A symlink climbing out with `../` to the sentinel directory, then a file through it.
pub fn hostile_relative_symlink_leaves_nothing(fx: &Fixture) {
    let layer = hostile().symlink("evil", &climbing_to(fx.sentinel())).file("evil/pwned", "escaped\n");
    assert_refused(fx, "a file through a symlink climbing out with ../", layer);
}

/// A symlink `evil -> ../..` (out of the layer, into the driver's own tree), then files
/// through it: other layers and the driver's bookkeeping must stay out of reach.
pub fn hostile_symlink_to_the_driver_root_leaves_nothing(fx: &Fixture) {
    let layer = hostile().symlink("evil", "../..").file("evil/pwned", "escaped\n").file("evil/base/pwned", "escaped\n");
    assert_refused(fx, "a file through a symlink to ../..", layer);
}

/// A hardlink to `../../x`.
pub fn hostile_hardlink_leaves_nothing(fx: &Fixture) {
    assert_refused(fx, "a hardlink to ../../x", hostile().verbatim_hardlink("evil", "../../x"));
}

/// Hardlinks to the sentinel file, by absolute path and by climbing with `../`: the
/// host's file must not gain a link (through which a later chmod or write would reach it).
pub fn hostile_hardlink_to_a_host_file_leaves_it_alone(fx: &Fixture) {
    let secret = fx.sentinel().join("secret");
    let absolute = secret.display().to_string();
    assert_refused(fx, "a hardlink to an absolute host path", hostile().verbatim_hardlink("evil", &absolute));
    assert_refused(fx, "a hardlink climbing to a host file", hostile().verbatim_hardlink("evil", &climbing_to(&secret)));
}

/// A layer whose bytes were altered after they were named (one content byte flipped, so
/// the tar still parses and only the digest can tell) fails, leaves nothing, and the same
/// id then applies from the honest bytes.
pub fn mismatched_blob_fails_and_leaves_nothing(fx: &Fixture) {
    fx.apply("base", None, &Layer::new().file("base.txt", "base\n"));
    let layer = Layer::new().dir("etc").file("etc/motd", "hello from the real layer\n");
    let honest = layer.tar();
    for (label, bytes) in [("plain", honest.clone()), ("gzip", layer.tar_gz())] {
        let before = fx.snapshot();
        let digest = Digest::of_bytes(&bytes);
        let mut altered = bytes.clone();
        // Plain: a content byte. gzip: the header's MTIME, which no CRC covers; either
        // way the tar still reads cleanly and only the digest can tell.
        let at = if label == "plain" { find(&altered, b"hello").expect("content in the tar") } else { 4 };
        altered[at] ^= 0x20;
        let err = fx
            .plugin()
            .apply_layer(HOSTILE_ID, Some("base"), Box::new(Blob::claiming(altered, digest)))
            .err()
            .unwrap_or_else(|| panic!("{label}: a blob not matching its digest was applied"));
        assert_ne!(err.kind(), ErrorKind::PluginFailed, "{label}: the driver crashed instead of failing: {err}");
        fx.assert_left_nothing(HOSTILE_ID, &before);
    }
    let applied = fx.apply(HOSTILE_ID, Some("base"), &layer);
    assert_eq!(applied.diff_id, layer.diff_id(), "the honest bytes apply once the altered ones failed");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
