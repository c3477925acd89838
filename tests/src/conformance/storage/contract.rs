//! The contract's bookkeeping, as `storage.wit` states it: `exists` follows apply and
//! remove; `remove` is idempotent and succeeds for an unknown id; a missing parent is
//! not-found, a taken id already-exists (and the layer holding it is left alone), a
//! malformed id is refused without touching anything; an unknown layer cannot be mounted
//! or described; `metadata` paths are relative to the driver's root; and once every layer
//! is removed the root holds no layer (only empty bookkeeping directories, if any).

use std::path::{Component, Path, PathBuf};

use hostctl_plugin_runtime::{ErrorKind, PluginError};

use super::fixture::{Fixture, Node, present, read_text};
use super::views::apply_stack;
use crate::images::Layer;

fn small_layer(text: &str) -> Layer {
    Layer::new().dir("etc").file("etc/motd", text)
}

fn assert_kind<T: std::fmt::Debug>(what: &str, result: Result<T, PluginError>, want: &[ErrorKind]) {
    match result {
        Ok(value) => panic!("{what}: succeeded ({value:?}), want an error of kind {want:?}"),
        Err(err) => assert!(want.contains(&err.kind()), "{what}: error kind {:?}, want {want:?}: {err}", err.kind()),
    }
}

/// `info` names the driver (what `hostctl info` shows as the storage driver).
pub fn driver_names_itself(fx: &Fixture) {
    let info = fx.plugin().info().expect("info");
    assert!(!info.name.trim().is_empty(), "the driver's name is empty");
}

/// A layer exists from the moment it is applied or created until it is removed.
pub fn exists_follows_apply_and_remove(fx: &Fixture) {
    assert!(!fx.exists("image"), "a layer exists before it was applied");
    fx.apply("image", None, &small_layer("hi\n"));
    assert!(fx.exists("image"));
    fx.create("ctr", Some("image"));
    assert!(fx.exists("ctr"));
    fx.remove("ctr");
    assert!(!fx.exists("ctr") && fx.exists("image"), "removing ctr removes only ctr");
    fx.remove("image");
    assert!(!fx.exists("image"));
}

/// Removing a layer twice succeeds both times, for image and container layers.
pub fn remove_is_idempotent(fx: &Fixture) {
    fx.apply("image", None, &small_layer("hi\n"));
    fx.create("ctr", Some("image"));
    for id in ["ctr", "ctr", "image", "image"] {
        fx.remove(id);
        assert!(!fx.exists(id));
    }
}

/// Removing an id the driver never held succeeds and changes nothing.
pub fn removing_an_unknown_layer_succeeds(fx: &Fixture) {
    fx.apply("image", None, &small_layer("hi\n"));
    let before = fx.snapshot();
    fx.remove("never-applied");
    assert_eq!(fx.snapshot(), before, "removing an unknown id changed the driver's root");
}

/// A parent that does not exist is not-found, for `create_layer` and `apply_layer`, and
/// nothing of the child is left.
pub fn missing_parent_is_not_found(fx: &Fixture) {
    fx.apply("image", None, &small_layer("hi\n"));
    let before = fx.snapshot();
    assert_kind("create_layer on a missing parent", fx.plugin().create_layer("orphan", Some("missing")), &[ErrorKind::NotFound]);
    fx.assert_left_nothing("orphan", &before);
    assert_kind(
        "apply_layer on a missing parent",
        fx.apply_bytes("orphan", Some("missing"), small_layer("x\n").tar()),
        &[ErrorKind::NotFound],
    );
    fx.assert_left_nothing("orphan", &before);
}

/// An id that is taken is already-exists, whichever call took it and whichever asks.
pub fn existing_id_is_already_exists(fx: &Fixture) {
    fx.apply("image", None, &small_layer("hi\n"));
    fx.create("ctr", Some("image"));
    let exists = &[ErrorKind::AlreadyExists];
    assert_kind("create_layer of an applied id", fx.plugin().create_layer("image", None), exists);
    assert_kind("create_layer of a created id", fx.plugin().create_layer("ctr", Some("image")), exists);
    assert_kind("apply_layer of a created id", fx.apply_bytes("ctr", Some("image"), small_layer("x\n").tar()), exists);
    assert_kind("apply_layer of an applied id", fx.apply_bytes("image", None, small_layer("x\n").tar()), exists);
}

/// Refusing a duplicate id leaves the layer that holds it as it was: an image layer
/// keeps its files, a container layer keeps what the container wrote.
pub fn refused_duplicate_leaves_the_original_intact(fx: &Fixture) {
    fx.apply("image", None, &small_layer("original\n"));
    fx.create("ctr", Some("image"));
    let view = fx.mount("ctr");
    std::fs::write(view.rootfs.join("written.txt"), "by the container\n").expect("writing into the container's view");
    fx.unmount("ctr", &view);

    assert!(fx.apply_bytes("image", None, small_layer("impostor\n").tar()).is_err(), "applying over an existing id succeeded");
    assert!(fx.apply_bytes("ctr", Some("image"), small_layer("impostor\n").tar()).is_err(), "applying over an existing id succeeded");
    assert!(fx.plugin().create_layer("ctr", Some("image")).is_err(), "creating over an existing id succeeded");
    let lost: Vec<&str> = ["image", "ctr"].into_iter().filter(|id| !fx.exists(id)).collect();
    assert!(lost.is_empty(), "refused duplicates removed the layers that held their ids: {lost:?}");
    let view = fx.mount("ctr");
    assert_eq!(read_text(&view.rootfs, "etc/motd"), "original\n", "the image layer's files changed");
    assert_eq!(read_text(&view.rootfs, "written.txt"), "by the container\n", "the container's files were lost");
    fx.unmount("ctr", &view);
}

/// Ids that are not names (`../x`, empty, `a/b`, absolute, `.`, `..`, or climbing to the
/// sentinel) are refused as invalid arguments by every call, and none of them reaches
/// anything: the existing layer and the sentinel stay, nothing is mounted.
pub fn malformed_ids_are_refused(fx: &Fixture) {
    fx.apply("image", None, &small_layer("hi\n"));
    let before = fx.snapshot();
    let invalid = &[ErrorKind::InvalidArgument];
    for id in ["../x", "", "a/b", "/abs", ".", "..", "../../sentinel", "image/../image"] {
        assert_kind(&format!("apply_layer {id:?}"), fx.apply_bytes(id, None, small_layer("x\n").tar()), invalid);
        assert_kind(&format!("create_layer {id:?}"), fx.plugin().create_layer(id, None), invalid);
        assert_kind(
            &format!("create_layer on parent {id:?}"),
            fx.plugin().create_layer("child", Some(id)),
            &[ErrorKind::InvalidArgument, ErrorKind::NotFound],
        );
        assert_kind(&format!("mount {id:?}"), fx.plugin().mount(id), &[ErrorKind::InvalidArgument, ErrorKind::NotFound]);
        assert_kind(&format!("metadata {id:?}"), fx.plugin().metadata(id), &[ErrorKind::InvalidArgument, ErrorKind::NotFound]);
        assert!(!fx.plugin().exists(id).expect("exists"), "exists({id:?}) is true");
        if let Err(err) = fx.plugin().remove(id) {
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "remove {id:?}: {err}");
        }
        assert!(fx.exists("image"), "a call with id {id:?} removed layer \"image\"");
        fx.assert_sentinel_untouched();
    }
    assert!(!fx.exists("child"));
    assert_eq!(fx.snapshot(), before, "calls with malformed ids changed the driver's root");
    assert!(fx.mounts().is_empty());
}

/// An id the driver does not hold cannot be mounted or described: not-found.
pub fn unknown_layers_are_not_found(fx: &Fixture) {
    assert_kind("mount of an unknown layer", fx.plugin().mount("nope"), &[ErrorKind::NotFound]);
    assert_kind("metadata of an unknown layer", fx.plugin().metadata("nope"), &[ErrorKind::NotFound]);
    fx.apply("gone", None, &small_layer("hi\n"));
    fx.remove("gone");
    assert_kind("mount of a removed layer", fx.plugin().mount("gone"), &[ErrorKind::NotFound]);
    assert!(fx.mounts().is_empty());
}

/// `metadata` (Docker's `GraphDriver.Data`) names directories relative to the driver's
/// root that stay in it: no absolute path, no `..`.
pub fn metadata_paths_stay_in_the_root(fx: &Fixture) {
    apply_stack(fx);
    fx.create("ctr", Some("top"));
    for id in ["base", "mid", "top", "ctr"] {
        let data = fx.plugin().metadata(id).unwrap_or_else(|e| panic!("metadata {id:?}: {e}"));
        for (key, value) in data.iter().filter(|(key, _)| key.ends_with("Dir")) {
            for part in value.split(':') {
                let path = Path::new(part);
                assert!(
                    !part.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
                    "layer {id:?}: {key} = {value:?} is not a path relative to the driver's root"
                );
            }
        }
    }
}

/// Once every layer (image and container, mounted and written to or not) is removed,
/// the driver's root holds no files, links or non-empty directories.
pub fn removing_every_layer_empties_the_root(fx: &Fixture) {
    apply_stack(fx);
    fx.create("ctr", Some("top"));
    fx.create("idle", Some("mid"));
    fx.create("scratch", None);
    let view = fx.mount("ctr");
    std::fs::write(view.rootfs.join("written.txt"), "x\n").expect("writing into the container's view");
    std::fs::remove_file(view.rootfs.join("etc/passwd")).expect("deleting a lower file");
    fx.unmount("ctr", &view);
    let scratch = fx.mount("scratch");
    assert!(!present(&scratch.rootfs, "etc"), "a parentless layer starts empty");
    std::fs::write(scratch.rootfs.join("file"), "x\n").expect("writing into a parentless layer");
    fx.unmount("scratch", &scratch);

    for id in ["ctr", "idle", "scratch", "top", "mid", "base"] {
        fx.remove(id);
    }
    let left = fx.snapshot();
    let not_empty: Vec<(&PathBuf, &Node)> =
        left.0.iter().filter(|(path, node)| **node != Node::Dir || left.0.keys().any(|p| p.parent() == Some(path.as_path()))).collect();
    assert!(not_empty.is_empty(), "the driver's root still holds, with every layer removed: {not_empty:?}");
    assert!(fx.mounts().is_empty());
}
