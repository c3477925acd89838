//! What the host mounts, and what `inspect` shows: mount plans for `get` and Docker's
//! `GraphDriver.Data` for `metadata`. Every path is relative to the driver root.
//!
//! - A layer with a `lower` file (any layer with a parent) is an overlay, read-write,
//!   exactly as Docker's overlay2 mounts it:
//!   `lowerdir=l/<SHORT>:l/<SHORT>...` (short links, top-most first),
//!   `upperdir=<id>/diff`, `workdir=<id>/work`, `index=off`, on `<id>/merged`.
//! - A layer without one is a base layer: its `diff/` bind-mounted on `<id>/merged`,
//!   read-only for an image layer, read-write for a parentless container layer (one
//!   with `work/`, see `layout`).
//!
//! The plan follows the layout, not who asks: an image layer with a parent gets the
//! same read-write overlay as a container's layer, exactly as Docker's overlay2 does.
//! Writing through such a mount would change an image layer (and break its DiffID), so
//! the host should `get` image layers only to read them; a parentless image layer is
//! the one case the layout marks read-only (no `work/`), hence its `ro` bind.
//!
//! The overlay options name lower layers by their `l/` short links, relative to the
//! driver root: the host resolves each beneath the root (the links are relative
//! symlinks to `../<id>/diff`, so they never lead out), as Docker mounts from inside its
//! home directory to keep the options short.

use std::fs;

use hostctl_sdk::storage::{Mount, MountPlan};
use hostctl_sdk::{Error, Result};

use crate::host::Root;
use crate::layout;

/// The mounts that build layer `id`'s merged view; creates `merged/` (and `work/` for
/// an overlay) if missing.
pub fn get(root: &Root, id: &str) -> Result<MountPlan> {
    layout::require(root, id)?;
    let merged = layout::merged(id);
    let lower = layout::read_lower(root, id)?;
    if let Some(lower) = &lower {
        // Every lower layer must still be there, or the mount fails with a vaguer error.
        // `remove` takes a layer's l/ link with it, so one lstat of each link tells
        // (following the links costs several times more in WASI).
        for short in layout::parse_lower(lower).unwrap_or_default() {
            let link = layout::short_link(short);
            if !fs::symlink_metadata(root.fs(&link)).is_ok_and(|meta| meta.is_symlink()) {
                let what = match layout::resolve_short(root, id, short) {
                    Ok(lower_id) => format!("lower layer \"{lower_id}\" ({link})"),
                    Err(_) => format!("lower layer {link}"),
                };
                return Err(Error::not_found(format!(
                    "layer \"{id}\": {what} does not exist"
                )));
            }
        }
        create_dir(root, id, &layout::work(id))?;
    }
    create_dir(root, id, &merged)?;
    let mount = match lower {
        Some(lower) => Mount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            target: merged.clone(),
            options: vec![
                format!("lowerdir={lower}"),
                format!("upperdir={}", layout::diff(id)),
                format!("workdir={}", layout::work(id)),
                "index=off".into(),
            ],
        },
        None => Mount {
            fstype: "bind".into(),
            source: layout::diff(id),
            target: merged.clone(),
            options: if layout::is_writable(root, id) {
                vec![]
            } else {
                vec!["ro".into()]
            },
        },
    };
    Ok(MountPlan {
        mounts: vec![mount],
        rootfs: merged,
    })
}

fn create_dir(root: &Root, id: &str, rel: &str) -> Result<()> {
    match fs::create_dir(root.fs(rel)) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(Error::io(format!("layer \"{id}\": creating {rel}"), err)),
    }
}

/// The host unmounted layer `id`'s merged view: remove the empty `merged/`.
pub fn put(root: &Root, id: &str) -> Result<()> {
    layout::validate_id(id)?;
    if !root.fs(id).is_dir() {
        return Err(Error::not_found(format!("layer \"{id}\" does not exist")));
    }
    let merged = layout::merged(id);
    match fs::remove_dir(root.fs(&merged)) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::io(
            format!("layer \"{id}\": removing {merged} (is it still mounted?)"),
            err,
        )),
    }
}

/// Docker's `GraphDriver.Data` for layer `id`, keys sorted as `docker inspect` prints
/// them: `LowerDir` (lower layers' `diff/`, top-most first; absent for a base layer),
/// `MergedDir`, `UpperDir`, `WorkDir`.
pub fn metadata(root: &Root, id: &str) -> Result<Vec<(String, String)>> {
    layout::require(root, id)?;
    let mut data = Vec::with_capacity(4);
    if let Some(lower) = layout::read_lower(root, id)? {
        let dirs = layout::parse_lower(&lower)
            .unwrap_or_default()
            .into_iter()
            .map(|short| {
                layout::resolve_short(root, id, short).map(|lower_id| layout::diff(&lower_id))
            })
            .collect::<Result<Vec<_>>>()?;
        data.push(("LowerDir".to_owned(), dirs.join(":")));
    }
    data.push(("MergedDir".to_owned(), layout::merged(id)));
    data.push(("UpperDir".to_owned(), layout::diff(id)));
    data.push(("WorkDir".to_owned(), layout::work(id)));
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Role, create};
    use crate::layout::read_short;
    use crate::testutil::{FakeHost, TempRoot};

    fn layer(tmp: &TempRoot, host: &FakeHost, id: &str, parent: Option<&str>, role: Role) {
        create(&tmp.root, host, id, parent, role)
            .unwrap()
            .commit(&tmp.root)
            .unwrap();
    }

    #[test]
    fn base_image_layer_is_a_read_only_bind() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        layer(&tmp, &host, "base", None, Role::Image);
        let plan = get(&tmp.root, "base").unwrap();
        assert_eq!(plan.rootfs, "base/merged");
        assert_eq!(plan.mounts.len(), 1);
        let m = &plan.mounts[0];
        assert_eq!(
            (m.fstype.as_str(), m.source.as_str(), m.target.as_str()),
            ("bind", "base/diff", "base/merged")
        );
        assert_eq!(m.options, vec!["ro".to_owned()]);
        assert!(tmp.root.fs("base/merged").is_dir());
    }

    #[test]
    fn parentless_container_layer_is_a_writable_bind() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        layer(&tmp, &host, "c", None, Role::Container);
        assert!(get(&tmp.root, "c").unwrap().mounts[0].options.is_empty());
    }

    #[test]
    fn layer_with_parents_is_an_overlay_with_short_lowers() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        layer(&tmp, &host, "base", None, Role::Image);
        layer(&tmp, &host, "mid", Some("base"), Role::Image);
        layer(&tmp, &host, "ctr", Some("mid"), Role::Container);
        let (b, m) = (
            read_short(&tmp.root, "base").unwrap(),
            read_short(&tmp.root, "mid").unwrap(),
        );
        let plan = get(&tmp.root, "ctr").unwrap();
        let mount = &plan.mounts[0];
        assert_eq!(
            (
                mount.fstype.as_str(),
                mount.source.as_str(),
                mount.target.as_str()
            ),
            ("overlay", "overlay", "ctr/merged")
        );
        assert_eq!(
            mount.options,
            vec![
                format!("lowerdir=l/{m}:l/{b}"),
                "upperdir=ctr/diff".into(),
                "workdir=ctr/work".into(),
                "index=off".into()
            ]
        );
        assert_eq!(plan.rootfs, "ctr/merged");

        put(&tmp.root, "ctr").unwrap();
        assert!(!tmp.root.fs("ctr/merged").exists());
        put(&tmp.root, "ctr").unwrap();
    }

    #[test]
    fn get_refuses_a_missing_lower_layer() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        layer(&tmp, &host, "base", None, Role::Image);
        layer(&tmp, &host, "top", Some("base"), Role::Container);
        crate::layer::remove(&tmp.root, &host, "base").unwrap();
        let err = get(&tmp.root, "top").unwrap_err();
        assert_eq!(err.kind, hostctl_sdk::ErrorKind::NotFound);
    }

    #[test]
    fn metadata_resolves_lower_dirs() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        layer(&tmp, &host, "base", None, Role::Image);
        layer(&tmp, &host, "mid", Some("base"), Role::Image);
        layer(&tmp, &host, "ctr", Some("mid"), Role::Container);
        let data = metadata(&tmp.root, "ctr").unwrap();
        let expect = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            data,
            vec![
                expect("LowerDir", "mid/diff:base/diff"),
                expect("MergedDir", "ctr/merged"),
                expect("UpperDir", "ctr/diff"),
                expect("WorkDir", "ctr/work"),
            ]
        );
        let base = metadata(&tmp.root, "base").unwrap();
        assert!(base.iter().all(|(k, _)| k != "LowerDir"));
        assert_eq!(
            metadata(&tmp.root, "nope").unwrap_err().kind,
            hostctl_sdk::ErrorKind::NotFound
        );
    }
}
