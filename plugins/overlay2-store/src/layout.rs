//! The on-disk layout, as Docker's overlay2 keeps it under its root:
//!
//! ```text
//! l/<SHORT>          -> ../<id>/diff    short names keep overlay's mount options small
//! <id>/diff/         the layer's files (overlay's upperdir for a writable layer)
//! <id>/link          SHORT, no newline
//! <id>/lower         l/<parent SHORT>:<the parent's own lower>, top-most first
//! <id>/work/         overlay's workdir
//! <id>/merged/       where the host mounts the merged view (made by `get`)
//! ```
//!
//! SHORT is 26 characters from `[A-Z0-9]`. They come from std's `RandomState`, which
//! on wasip2 is seeded by the host (`wasi:random/insecure-seed`; random per instance
//! in wasmtime-wasi); no new dependency is needed because a short name has to be unique,
//! not secret. The layer id and an attempt counter are hashed in, so even a host with
//! a fixed seed gives distinct layers distinct names, and a name already taken in `l/`
//! is never reused.
//!
//! A layer is created in a fixed order (`<id>/`, `diff/`, `work/`, `lower`, the `l/` link)
//! and its `link` file is written last, atomically, once it is complete: [`exists`] looks
//! for `diff/` and `link`, so a layer half-way through `apply_layer` (or left by a crash)
//! is not taken for a finished one, and [`remove`] still cleans it up. `work/` marks a
//! writable layer: every layer with a parent has one (as in Docker), and so does a
//! parentless container layer made by `create_layer`; a parentless image layer has none.

use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::ErrorKind as IoKind;

use hostctl_sdk::{Error, ErrorKind, Result};

use crate::host::{Host, Root};

/// The directory of short links.
pub const LINK_DIR: &str = "l";
/// Length of a short link name.
pub const SHORT_LEN: usize = 26;
/// Most lower layers a layer may sit on (Docker's overlay2 limit).
pub const MAX_DEPTH: usize = 128;
/// Longest layer id.
const MAX_ID_LEN: usize = 128;
/// Characters of a short link name.
const SHORT_ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Names tried before giving up on finding a free short link.
const SHORT_ATTEMPTS: u32 = 16;

/// Whether `id` is a layer id: `[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`, and not `l`.
pub fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    match bytes.first() {
        Some(first) if first.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    id.len() <= MAX_ID_LEN
        && id != LINK_DIR
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `Ok` for a layer id, invalid-argument otherwise.
pub fn validate_id(id: &str) -> Result<()> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "layer id \"{}\": expected 1 to 128 of [A-Za-z0-9_.-], starting with a letter or digit, and not \"l\"",
            id.escape_debug()
        )))
    }
}

/// Whether `short` is a short link name: 26 of `[A-Z0-9]`.
pub fn is_valid_short(short: &str) -> bool {
    short.len() == SHORT_LEN && short.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `<id>/diff`.
pub fn diff(id: &str) -> String {
    format!("{id}/diff")
}
/// `<id>/work`.
pub fn work(id: &str) -> String {
    format!("{id}/work")
}
/// `<id>/merged`.
pub fn merged(id: &str) -> String {
    format!("{id}/merged")
}
/// `<id>/link`.
fn link_file(id: &str) -> String {
    format!("{id}/link")
}
/// `<id>/lower`.
fn lower_file(id: &str) -> String {
    format!("{id}/lower")
}
/// `l/<short>`.
pub fn short_link(short: &str) -> String {
    format!("{LINK_DIR}/{short}")
}
/// What `l/<short>` of layer `id` points at.
fn link_target(id: &str) -> String {
    format!("../{id}/diff")
}

/// A short name for layer `id`, the `attempt`-th try.
fn short_name(id: &str, attempt: u32) -> String {
    let state = std::collections::hash_map::RandomState::new();
    let mut name = String::with_capacity(SHORT_LEN);
    let mut block = 0u64;
    while name.len() < SHORT_LEN {
        let mut hasher = state.build_hasher();
        hasher.write(id.as_bytes());
        hasher.write_u32(attempt);
        hasher.write_u64(block);
        let mut bits = hasher.finish();
        // Ten base-36 digits per 64 bits keep the bias below 1/5000.
        for _ in 0..10 {
            if name.len() == SHORT_LEN {
                break;
            }
            name.push(char::from(SHORT_ALPHABET[(bits % 36) as usize]));
            bits /= 36;
        }
        block += 1;
    }
    name
}

/// The `lower` text of a layer whose parent has link `parent_short` and `lower`
/// `parent_lower` (none for a base layer), or `None` past [`MAX_DEPTH`].
pub fn lower_chain(parent_short: &str, parent_lower: Option<&str>) -> Option<String> {
    let mut chain = short_link(parent_short);
    if let Some(lower) = parent_lower.filter(|lower| !lower.is_empty()) {
        chain.push(':');
        chain.push_str(lower);
    }
    (chain.split(':').count() <= MAX_DEPTH).then_some(chain)
}

/// The short names in `lower` text, top-most first, or `None` if it is malformed.
pub fn parse_lower(lower: &str) -> Option<Vec<&str>> {
    let shorts: Option<Vec<&str>> = lower
        .split(':')
        .map(|entry| entry.strip_prefix("l/").filter(|short| is_valid_short(short)))
        .collect();
    shorts.filter(|shorts| !shorts.is_empty() && shorts.len() <= MAX_DEPTH)
}

/// The layer id an `l/` link target (`../<id>/diff`) names.
pub fn id_from_link_target(target: &str) -> Option<&str> {
    target.strip_prefix("../")?.strip_suffix("/diff").filter(|id| is_valid_id(id))
}

fn is_dir(root: &Root, rel: &str) -> bool {
    fs::symlink_metadata(root.fs(rel)).is_ok_and(|meta| meta.is_dir())
}

fn is_file(root: &Root, rel: &str) -> bool {
    fs::symlink_metadata(root.fs(rel)).is_ok_and(|meta| meta.is_file())
}

/// Whether layer `id` is complete: `diff/` and `link` exist.
pub fn exists(root: &Root, id: &str) -> bool {
    is_valid_id(id) && is_dir(root, &diff(id)) && is_file(root, &link_file(id))
}

/// `Ok` if layer `id` is complete, not-found otherwise.
pub fn require(root: &Root, id: &str) -> Result<()> {
    validate_id(id)?;
    if exists(root, id) { Ok(()) } else { Err(Error::not_found(format!("layer \"{id}\" does not exist"))) }
}

/// Whether layer `id` has `work/`, i.e. is writable (see the module docs).
pub fn is_writable(root: &Root, id: &str) -> bool {
    is_dir(root, &work(id))
}

/// Layer `id`'s short name, from its `link` file.
pub fn read_short(root: &Root, id: &str) -> Result<String> {
    let rel = link_file(id);
    let text = fs::read_to_string(root.fs(&rel)).map_err(|err| Error::io(format!("layer \"{id}\": reading {rel}"), err))?;
    if is_valid_short(&text) {
        Ok(text)
    } else {
        Err(Error::new(ErrorKind::Other, format!("layer \"{id}\": {rel} is corrupt: {:?} is not a short link name", text)))
    }
}

/// Layer `id`'s `lower` text, or `None` for a base layer.
pub fn read_lower(root: &Root, id: &str) -> Result<Option<String>> {
    let rel = lower_file(id);
    match fs::read_to_string(root.fs(&rel)) {
        Ok(text) if parse_lower(&text).is_some() => Ok(Some(text)),
        Ok(text) => Err(Error::new(ErrorKind::Other, format!("layer \"{id}\": {rel} is corrupt: {text:?}"))),
        Err(err) if err.kind() == IoKind::NotFound => Ok(None),
        Err(err) => Err(Error::io(format!("layer \"{id}\": reading {rel}"), err)),
    }
}

/// The id of the layer whose diff `l/<short>` points at.
pub fn resolve_short(root: &Root, id: &str, short: &str) -> Result<String> {
    let rel = short_link(short);
    let target = fs::read_link(root.fs(&rel)).map_err(|err| match err.kind() {
        IoKind::NotFound => Error::not_found(format!("layer \"{id}\": lower layer link {rel} is missing")),
        _ => Error::io(format!("layer \"{id}\": reading link {rel}"), err),
    })?;
    target
        .to_str()
        .and_then(id_from_link_target)
        .map(str::to_owned)
        .ok_or_else(|| Error::new(ErrorKind::Other, format!("layer \"{id}\": {rel} points at {target:?}, not a layer's diff")))
}

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
pub fn create(root: &Root, host: &dyn Host, id: &str, parent: Option<&str>, role: Role) -> Result<NewLayer> {
    validate_id(id)?;
    let lower = match parent {
        Some(parent) => {
            validate_id(parent).map_err(|err| err.context(format!("layer \"{id}\": parent")))?;
            if !exists(root, parent) {
                return Err(Error::not_found(format!("layer \"{id}\": parent layer \"{parent}\" does not exist")));
            }
            let parent_short = read_short(root, parent)?;
            let parent_lower = read_lower(root, parent)?;
            let chain = lower_chain(&parent_short, parent_lower.as_deref()).ok_or_else(|| {
                Error::invalid(format!("layer \"{id}\": parent \"{parent}\" already has {MAX_DEPTH} layers, the most overlay2 stacks"))
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
            return Err(Error::new(ErrorKind::AlreadyExists, format!("layer \"{id}\" already exists")));
        }
        Err(err) => return Err(Error::io(format!("layer \"{id}\": creating its directory"), err)),
    }

    let mut layer = NewLayer { id: id.to_owned(), short: String::new() };
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
    fn fill(&mut self, root: &Root, host: &dyn Host, lower: Option<&str>, writable: bool) -> Result<()> {
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
            host.symlink(&link_target(id), &link).map_err(|err| err.context(format!("layer \"{id}\": creating {link}")))?;
            self.short = short;
            return Ok(());
        }
        Err(Error::new(ErrorKind::Other, format!("layer \"{id}\": no free short link name in {SHORT_ATTEMPTS} tries")))
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
        if let Err(err) = fs::remove_dir_all(root.fs(&self.id))
            && err.kind() != IoKind::NotFound
        {
            host.warn(&format!("layer \"{}\": removing what a failed create left: {err}", self.id));
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
        Ok(target) => host.warn(&format!("layer \"{id}\": {link} points at {target:?}, not at this layer; left alone")),
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
        (target.to_str() == Some(wanted.as_str())).then(|| entry.file_name().to_string_lossy().into_owned())
    })
}

/// Remove layer `id`: its `l/` link and its directory. A missing or partial layer is
/// removed as far as it exists. A non-empty `merged/` means the host still has the
/// merged view mounted; then nothing is removed.
pub fn remove(root: &Root, host: &dyn Host, id: &str) -> Result<()> {
    validate_id(id)?;
    match fs::symlink_metadata(root.fs(id)) {
        Err(err) if err.kind() == IoKind::NotFound => return Ok(()),
        Err(err) => return Err(Error::io(format!("layer \"{id}\": reading its directory"), err)),
        Ok(meta) if !meta.is_dir() => {
            return fs::remove_file(root.fs(id)).map_err(|err| Error::io(format!("layer \"{id}\": removing stray file"), err));
        }
        Ok(_) => {}
    }
    match fs::remove_dir(root.fs(&merged(id))) {
        Ok(()) => {}
        Err(err) if err.kind() == IoKind::NotFound => {}
        Err(err) => {
            return Err(Error::new(
                ErrorKind::Other,
                format!("layer \"{id}\": merged view is still in use (unmount it, then put): {err}"),
            ));
        }
    }
    let short = read_short(root, id).ok().or_else(|| find_short(root, id));
    if let Some(short) = short {
        remove_short_link(root, host, id, &short);
    }
    match fs::remove_dir_all(root.fs(id)) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == IoKind::NotFound => Ok(()),
        Err(err) => Err(Error::io(format!("layer \"{id}\": removing its directory"), err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{FakeHost, TempRoot};

    #[test]
    fn ids_follow_the_documented_pattern() {
        for id in ["a", "sha256-abc", "0f3e.layer_1-x", &"a".repeat(128), "A..", "l1"] {
            assert!(is_valid_id(id), "{id}");
        }
        for id in ["", "l", ".hidden", "-x", "_x", "a/b", "..", "a b", "é", &"a".repeat(129), "a:b", "a,b"] {
            assert!(!is_valid_id(id), "{id}");
        }
    }

    #[test]
    fn validate_id_names_the_id() {
        let err = validate_id("../x").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains("\"../x\""), "{}", err.message);
    }

    #[test]
    fn short_names_are_26_of_upper_alnum_and_differ() {
        let a = short_name("layer", 0);
        let b = short_name("layer", 1);
        let c = short_name("other", 0);
        for name in [&a, &b, &c] {
            assert!(is_valid_short(name), "{name}");
        }
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn lower_chain_puts_the_parent_first() {
        assert_eq!(lower_chain("AAA", None).as_deref(), Some("l/AAA"));
        assert_eq!(lower_chain("AAA", Some("")).as_deref(), Some("l/AAA"));
        assert_eq!(lower_chain("CCC", Some("l/BBB:l/AAA")).as_deref(), Some("l/CCC:l/BBB:l/AAA"));
    }

    #[test]
    fn lower_chain_stops_at_max_depth() {
        let short = "A".repeat(SHORT_LEN);
        let full = vec![short_link(&short); MAX_DEPTH - 1].join(":");
        assert!(lower_chain(&short, Some(&full)).is_some());
        let over = vec![short_link(&short); MAX_DEPTH].join(":");
        assert_eq!(lower_chain(&short, Some(&over)), None);
    }

    #[test]
    fn parse_lower_accepts_only_short_links() {
        let a = "A".repeat(SHORT_LEN);
        let b = "B2".repeat(SHORT_LEN / 2);
        assert_eq!(parse_lower(&format!("l/{a}:l/{b}")), Some(vec![a.as_str(), b.as_str()]));
        assert_eq!(parse_lower(""), None);
        assert_eq!(parse_lower(&format!("l/{a},upperdir=x")), None);
        assert_eq!(parse_lower(&format!("l/{a}:")), None);
        assert_eq!(parse_lower("/abs/diff"), None);
    }

    #[test]
    fn link_targets_name_layer_ids() {
        assert_eq!(id_from_link_target("../abc/diff"), Some("abc"));
        assert_eq!(id_from_link_target("../../etc/diff"), None);
        assert_eq!(id_from_link_target("/abc/diff"), None);
        assert_eq!(id_from_link_target("../abc/work"), None);
    }

    #[test]
    fn create_then_commit_builds_docker_layout() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        let base = create(&tmp.root, &host, "base", None, Role::Image).unwrap();
        assert!(!exists(&tmp.root, "base"), "a layer is not complete before commit");
        base.commit(&tmp.root).unwrap();
        assert!(exists(&tmp.root, "base"));
        assert!(!is_writable(&tmp.root, "base"));
        assert_eq!(read_lower(&tmp.root, "base").unwrap(), None);

        create(&tmp.root, &host, "mid", Some("base"), Role::Image).unwrap().commit(&tmp.root).unwrap();
        create(&tmp.root, &host, "top", Some("mid"), Role::Container).unwrap().commit(&tmp.root).unwrap();
        let (b, m) = (read_short(&tmp.root, "base").unwrap(), read_short(&tmp.root, "mid").unwrap());
        assert_eq!(read_lower(&tmp.root, "top").unwrap(), Some(format!("l/{m}:l/{b}")));
        assert!(is_writable(&tmp.root, "top"));
        assert_eq!(resolve_short(&tmp.root, "top", &b).unwrap(), "base");
        assert_eq!(std::fs::read_link(tmp.root.fs(&short_link(&m))).unwrap().to_str(), Some("../mid/diff"));
    }

    #[test]
    fn create_refuses_existing_ids_and_missing_parents() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        create(&tmp.root, &host, "a", None, Role::Image).unwrap().commit(&tmp.root).unwrap();
        let again = create(&tmp.root, &host, "a", None, Role::Image).err().unwrap();
        assert_eq!(again.kind, ErrorKind::AlreadyExists);
        let orphan = create(&tmp.root, &host, "b", Some("nope"), Role::Image).err().unwrap();
        assert_eq!(orphan.kind, ErrorKind::NotFound);
        assert!(!tmp.root.fs("b").exists(), "nothing left of a refused layer");
    }

    #[test]
    fn parentless_container_layers_are_writable() {
        let tmp = TempRoot::new();
        let host = FakeHost::at(&tmp);
        create(&tmp.root, &host, "c", None, Role::Container).unwrap().commit(&tmp.root).unwrap();
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
        create(&tmp.root, &host, "m", None, Role::Image).unwrap().commit(&tmp.root).unwrap();
        std::fs::create_dir_all(tmp.root.fs("m/merged/bin")).unwrap();
        assert!(remove(&tmp.root, &host, "m").is_err());
        assert!(exists(&tmp.root, "m"));
    }
}
