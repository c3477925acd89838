//! The bundled `overlay2-store` against the storage-driver conformance suite (every case
//! of `hostctl_tests::conformance::storage`, one test each), plus what only overlay2
//! promises: its root is laid out byte for byte as Docker's overlay2 lays out
//! `/var/lib/docker/overlay2`, and OCI whiteouts are stored as overlayfs stores them.
//!
//! Needs root and the plugins built: `scripts/build-plugins`, then
//! `cargo test --release -p hostctl-tests --test storage_conformance`.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use hostctl_tests::conformance::storage::{Bundled, Fixture, apply_stack};

hostctl_tests::storage_conformance!(Bundled("overlay2-store"));

fn overlay2() -> Fixture {
    Fixture::new(&Bundled("overlay2-store"))
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).mode() & 0o7777
}

/// `l/<26 of [A-Z0-9]>` links to `../<id>/diff`; each layer's `link` holds its short name
/// (no newline); `lower` is `l/<parent's link>` then the parent's own `lower`; `work/`
/// exists for every layer with a parent and not for the base; modes are Docker's (l/ 0700,
/// layer 0710, diff 0755, work 0700); the merged view is `<id>/merged`; `GraphDriver.Data`
/// names the same directories.
#[test]
fn overlay2_layout_matches_dockers() {
    let fx = overlay2();
    apply_stack(&fx);
    fx.create("ctr", Some("top"));
    let root = fx.root();
    let ids = ["base", "mid", "top", "ctr"];

    let mut short_of: BTreeMap<String, String> = BTreeMap::new();
    assert_eq!(mode(&root.join("l")), 0o700, "l/");
    for entry in std::fs::read_dir(root.join("l")).expect("reading l/") {
        let entry = entry.expect("l/ entry");
        let short = entry.file_name().into_string().expect("utf-8 short name");
        assert!(short.len() == 26 && short.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "l/{short}");
        let target = std::fs::read_link(entry.path()).unwrap_or_else(|e| panic!("l/{short} is not a symlink: {e}"));
        let id = target.to_str().and_then(|t| t.strip_prefix("../")).and_then(|t| t.strip_suffix("/diff"));
        let id = id.unwrap_or_else(|| panic!("l/{short} -> {}, want ../<id>/diff", target.display()));
        assert!(short_of.insert(id.to_owned(), short).is_none(), "two l/ links for {id}");
    }
    let mut sorted = ids.to_vec();
    sorted.sort();
    assert_eq!(short_of.keys().map(String::as_str).collect::<Vec<_>>(), sorted, "one l/ link per layer");

    for id in ids {
        let link = std::fs::read_to_string(root.join(id).join("link")).unwrap_or_else(|e| panic!("{id}/link: {e}"));
        assert_eq!(link, short_of[id], "{id}/link holds its short name");
        assert_eq!(mode(&root.join(id)), 0o710, "{id}/");
        assert_eq!(mode(&root.join(id).join("diff")), 0o755, "{id}/diff");
        let work = root.join(id).join("work");
        if id == "base" {
            assert!(!work.exists(), "the base layer has no work/");
            assert!(!root.join(id).join("lower").exists(), "the base layer has no lower");
        } else {
            assert!(work.is_dir(), "{id}/work");
            assert_eq!(mode(&work), 0o700, "{id}/work");
        }
    }
    let lower = |id: &str| std::fs::read_to_string(root.join(id).join("lower")).unwrap_or_else(|e| panic!("{id}/lower: {e}"));
    assert_eq!(lower("mid"), format!("l/{}", short_of["base"]));
    assert_eq!(lower("top"), format!("l/{}:{}", short_of["mid"], lower("mid")));
    assert_eq!(lower("ctr"), format!("l/{}:{}", short_of["top"], lower("top")));

    let data = fx.plugin().metadata("ctr").expect("metadata");
    let pairs = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    assert_eq!(
        data,
        pairs(&[
            ("LowerDir", "top/diff:mid/diff:base/diff"),
            ("MergedDir", "ctr/merged"),
            ("UpperDir", "ctr/diff"),
            ("WorkDir", "ctr/work")
        ])
    );
    let view = fx.mount("ctr");
    assert_eq!(view.rootfs, root.join("ctr/merged"));
    fx.unmount("ctr", &view);
    assert!(!root.join("ctr/merged").exists(), "put removes the empty merged/");
}

/// `etc/.wh.os-release` is stored as a 0:0 character device `etc/os-release`, and
/// `srv/data/.wh..wh..opq` as `trusted.overlay.opaque=y` on `srv/data`, in `mid`'s diff:
/// what overlayfs reads, and what Docker's overlay2 writes.
#[test]
fn overlay2_stores_whiteouts_as_overlayfs_does() {
    let fx = overlay2();
    apply_stack(&fx);
    let diff = fx.root().join("mid/diff");
    let whiteout = std::fs::symlink_metadata(diff.join("etc/os-release")).expect("the whiteout in mid's diff");
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0, "etc/os-release is a 0:0 char device");
    assert!(!diff.join("etc/.wh.os-release").exists(), "the OCI marker is not stored");
    let mut value = [0u8; 8];
    let n = rustix::fs::lgetxattr(diff.join("srv/data"), "trusted.overlay.opaque", &mut value[..]).expect("srv/data is opaque");
    assert_eq!(&value[..n], b"y");
    assert!(!diff.join("srv/data/.wh..wh..opq").exists(), "the OCI marker is not stored");
}
