//! Creating and removing a layer's directories, in the layout of `layout`.
//!
//! A layer is created in a fixed order (`<id>/`, `diff/`, `work/`, `lower`, the `l/` link)
//! and its `link` file is written last, atomically, once it is complete: [`exists`](crate::layout::exists) looks
//! for `diff/` and `link`, so a layer half-way through `apply_layer` (or left by a crash)
//! is not taken for a finished one, and [`remove`] still cleans it up (finding its `l/`
//! link by scanning `l/` if the `link` file was never written). A `merged/` that is not
//! empty is still mounted: then `remove` refuses rather than delete through the mount.

use std::fs;
use std::io::ErrorKind as IoKind;

use hostctl_sdk::{Error, ErrorKind, Result};

use crate::host::{Host, Root};
use crate::layout::{
    LINK_DIR, MAX_DEPTH, SHORT_ATTEMPTS, diff, exists, link_file, link_target, lower_chain,
    lower_file, merged, read_lower, read_short, short_link, short_name, validate_id, work,
};

/// Who a new layer is for: `work/` is made for every layer with a parent, and for a
/// parentless one only if it is a container's writable layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An image layer, filled by `apply_layer`.
    Image,
    /// A container's writable layer, from `create_layer`.
    Container,
}

/// A layer created on disk but not yet marked complete.
#[must_use = "a new layer is complete only once committed"]
pub struct NewLayer {
    id: String,
    short: String,
}

/// Create layer `id` on `parent`: everything but the `link` file, which
/// [`NewLayer::commit`] writes. On error nothing of it is left behind.
pub fn create(
    root: &Root,
    host: &dyn Host,
    id: &str,
    parent: Option<&str>,
    role: Role,
) -> Result<NewLayer> {
    validate_id(id)?;
    let lower = match parent {
        Some(parent) => {
            validate_id(parent).map_err(|err| err.context(format!("layer \"{id}\": parent")))?;
            if !exists(root, parent) {
                return Err(Error::not_found(format!(
                    "layer \"{id}\": parent layer \"{parent}\" does not exist"
                )));
            }
            let parent_short = read_short(root, parent)?;
            let parent_lower = read_lower(root, parent)?;
            let chain = lower_chain(&parent_short, parent_lower.as_deref()).ok_or_else(|| {
                Error::invalid(format!("layer \"{id}\": parent \"{parent}\" is too deep: overlay2 stacks at most {MAX_DEPTH} lower layers"))
            })?;
            Some(chain)
        }
        None => None,
    };

    match fs::create_dir(root.fs(LINK_DIR)) {
        Ok(()) => host.chmod(LINK_DIR, 0o700)?,
        Err(err) if err.kind() == IoKind::AlreadyExists => {}
        Err(err) => return Err(Error::io(format!("creating {LINK_DIR}/"), err)),
    }
    match fs::create_dir(root.fs(id)) {
        Ok(()) => {}
        Err(err) if err.kind() == IoKind::AlreadyExists => {
            let message = if exists(root, id) {
                format!("layer \"{id}\" already exists")
            } else {
                format!(
                    "layer \"{id}\" already exists, incomplete (left by a failed or interrupted create); remove it first"
                )
            };
            return Err(Error::new(ErrorKind::AlreadyExists, message));
        }
        Err(err) => {
            return Err(Error::io(
                format!("layer \"{id}\": creating its directory"),
                err,
            ));
        }
    }

    let mut layer = NewLayer {
        id: id.to_owned(),
        short: String::new(),
    };
    let writable = lower.is_some() || role == Role::Container;
    match layer.fill(root, host, lower.as_deref(), writable) {
        Ok(()) => Ok(layer),
        Err(err) => {
            layer.discard(root, host);
            Err(err)
        }
    }
}

impl NewLayer {
    fn fill(
        &mut self,
        root: &Root,
        host: &dyn Host,
        lower: Option<&str>,
        writable: bool,
    ) -> Result<()> {
        let id = &self.id;
        host.chmod(id, 0o710)?;
        let io = |what: &str, err| Error::io(format!("layer \"{id}\": {what}"), err);
        fs::create_dir(root.fs(&diff(id))).map_err(|err| io("creating diff/", err))?;
        host.chmod(&diff(id), 0o755)?;
        if writable {
            fs::create_dir(root.fs(&work(id))).map_err(|err| io("creating work/", err))?;
            host.chmod(&work(id), 0o700)?;
        }
        if let Some(lower) = lower {
            fs::write(root.fs(&lower_file(id)), lower).map_err(|err| io("writing lower", err))?;
        }
        for attempt in 0..SHORT_ATTEMPTS {
            let short = short_name(id, attempt);
            let link = short_link(&short);
            if fs::symlink_metadata(root.fs(&link)).is_ok() {
                continue;
            }
            host.symlink(&link_target(id), &link)
                .map_err(|err| err.context(format!("layer \"{id}\": creating {link}")))?;
            self.short = short;
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Other,
            format!("layer \"{id}\": no free short link name in {SHORT_ATTEMPTS} tries"),
        ))
    }

    /// Mark the layer complete: write its `link` file (through a rename, so it is never
    /// seen half-written).
    pub fn commit(&self, root: &Root) -> Result<()> {
        let id = &self.id;
        let staging = format!("{id}/link.tmp");
        let done = fs::write(root.fs(&staging), &self.short)
            .and_then(|()| fs::rename(root.fs(&staging), root.fs(&link_file(id))));
        done.map_err(|err| Error::io(format!("layer \"{id}\": writing link"), err))
    }

    /// Remove everything of the layer. Best effort: the caller is already failing.
    pub fn discard(&self, root: &Root, host: &dyn Host) {
        if !self.short.is_empty() {
            remove_short_link(root, host, &self.id, &self.short);
        }
        if let Err(err) = host.remove_tree(&self.id) {
            host.warn(&format!(
                "layer \"{}\": removing what a failed create left: {err}",
                self.id
            ));
        }
    }
}

/// Remove `l/<short>` if it is layer `id`'s: a link that points elsewhere is another
/// layer's and stays.
fn remove_short_link(root: &Root, host: &dyn Host, id: &str, short: &str) {
    let link = short_link(short);
    match fs::read_link(root.fs(&link)) {
        Ok(target) if target.to_str() == Some(link_target(id).as_str()) => {
            if let Err(err) = fs::remove_file(root.fs(&link))
                && err.kind() != IoKind::NotFound
            {
                host.warn(&format!("layer \"{id}\": removing {link}: {err}"));
            }
        }
        Ok(target) => host.warn(&format!(
            "layer \"{id}\": {link} points at {target:?}, not at this layer; left alone"
        )),
        Err(err) if err.kind() == IoKind::NotFound => {}
        Err(err) => host.warn(&format!("layer \"{id}\": reading {link}: {err}")),
    }
}

/// The short name whose `l/` link points at layer `id`, found by scanning `l/`: for a
/// layer whose `link` file was never written or is corrupt.
fn find_short(root: &Root, id: &str) -> Option<String> {
    let wanted = link_target(id);
    let entries = fs::read_dir(root.fs(LINK_DIR)).ok()?;
    entries.flatten().find_map(|entry| {
        let target = fs::read_link(entry.path()).ok()?;
        (target.to_str() == Some(wanted.as_str()))
            .then(|| entry.file_name().to_string_lossy().into_owned())
    })
}

/// Remove layer `id`: its `l/` link and its directory. A missing or partial layer is
/// removed as far as it exists. A non-empty `merged/` means the host still has the
/// merged view mounted; then nothing is removed.
pub fn remove(root: &Root, host: &dyn Host, id: &str) -> Result<()> {
    validate_id(id)?;
    match fs::symlink_metadata(root.fs(id)) {
        Err(err) if err.kind() == IoKind::NotFound => return Ok(()),
        Err(err) => {
            return Err(Error::io(
                format!("layer \"{id}\": reading its directory"),
                err,
            ));
        }
        Ok(meta) if !meta.is_dir() => {
            return fs::remove_file(root.fs(id))
                .map_err(|err| Error::io(format!("layer \"{id}\": removing stray file"), err));
        }
        Ok(_) => {}
    }
    match fs::remove_dir(root.fs(&merged(id))) {
        Ok(()) => {}
        Err(err) if err.kind() == IoKind::NotFound => {}
        Err(err) => {
            return Err(Error::new(
                ErrorKind::Other,
                format!(
                    "layer \"{id}\": merged view is still in use (unmount it, then put): {err}"
                ),
            ));
        }
    }
    let short = read_short(root, id).ok().or_else(|| find_short(root, id));
    if let Some(short) = short {
        remove_short_link(root, host, id, &short);
    }
    host.remove_tree(id)
        .map_err(|err| err.context(format!("layer \"{id}\": removing its directory")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{is_writable, resolve_short};
    use crate::testutil::{FakeHost, TempRoot};

    #[test]
    fn create_then_commit_builds_docker_layout() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        let base = create(&tmp.root, &host, "base", None, Role::Image).unwrap();
        assert!(
            !exists(&tmp.root, "base"),
            "a layer is not complete before commit"
        );
        base.commit(&tmp.root).unwrap();
        assert!(exists(&tmp.root, "base"));
        assert!(!is_writable(&tmp.root, "base"));
        assert_eq!(read_lower(&tmp.root, "base").unwrap(), None);

        create(&tmp.root, &host, "mid", Some("base"), Role::Image)
            .unwrap()
            .commit(&tmp.root)
            .unwrap();
        create(&tmp.root, &host, "top", Some("mid"), Role::Container)
            .unwrap()
            .commit(&tmp.root)
            .unwrap();
        let (b, m) = (
            read_short(&tmp.root, "base").unwrap(),
            read_short(&tmp.root, "mid").unwrap(),
        );
        assert_eq!(
            read_lower(&tmp.root, "top").unwrap(),
            Some(format!("l/{m}:l/{b}"))
        );
        assert!(is_writable(&tmp.root, "top"));
        assert_eq!(resolve_short(&tmp.root, "top", &b).unwrap(), "base");
        assert_eq!(
            std::fs::read_link(tmp.root.fs(&short_link(&m)))
                .unwrap()
                .to_str(),
            Some("../mid/diff")
        );
    }

    #[test]
    fn create_refuses_existing_ids_and_missing_parents() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        create(&tmp.root, &host, "a", None, Role::Image)
            .unwrap()
            .commit(&tmp.root)
            .unwrap();
        let again = create(&tmp.root, &host, "a", None, Role::Image)
            .err()
            .unwrap();
        assert_eq!(again.kind, ErrorKind::AlreadyExists);
        let orphan = create(&tmp.root, &host, "b", Some("nope"), Role::Image)
            .err()
            .unwrap();
        assert_eq!(orphan.kind, ErrorKind::NotFound);
        assert!(
            !tmp.root.fs("b").exists(),
            "nothing left of a refused layer"
        );
    }

    #[test]
    fn parentless_container_layers_are_writable() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        create(&tmp.root, &host, "c", None, Role::Container)
            .unwrap()
            .commit(&tmp.root)
            .unwrap();
        assert!(is_writable(&tmp.root, "c"));
        assert_eq!(read_lower(&tmp.root, "c").unwrap(), None);
    }

    #[test]
    fn remove_cleans_partial_layers_and_is_idempotent() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        let layer = create(&tmp.root, &host, "p", None, Role::Image).unwrap();
        drop(layer); // never committed: no link file
        assert_eq!(std::fs::read_dir(tmp.root.fs(LINK_DIR)).unwrap().count(), 1);
        remove(&tmp.root, &host, "p").unwrap();
        assert!(!tmp.root.fs("p").exists());
        assert_eq!(std::fs::read_dir(tmp.root.fs(LINK_DIR)).unwrap().count(), 0);
        remove(&tmp.root, &host, "p").unwrap();
    }

    #[test]
    fn remove_keeps_a_mounted_merged_view() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        create(&tmp.root, &host, "m", None, Role::Image)
            .unwrap()
            .commit(&tmp.root)
            .unwrap();
        std::fs::create_dir_all(tmp.root.fs("m/merged/bin")).unwrap();
        assert!(remove(&tmp.root, &host, "m").is_err());
        assert!(exists(&tmp.root, "m"));
    }
}
