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
//! This module names things and reads them; [`crate::layer`] creates and removes them.
//! `work/` marks a writable layer: every layer with a parent has one (as in Docker), and
//! so does a parentless container layer made by `create_layer`; a parentless image layer
//! has none.

use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::ErrorKind as IoKind;

use hostctl_sdk::{Error, ErrorKind, Result};

use crate::host::Root;

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
pub const SHORT_ATTEMPTS: u32 = 16;

/// Whether `id` is a layer id: `[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`, and not `l`.
pub fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    match bytes.first() {
        Some(first) if first.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    id.len() <= MAX_ID_LEN
        && id != LINK_DIR
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
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
    short.len() == SHORT_LEN
        && short
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
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
pub fn link_file(id: &str) -> String {
    format!("{id}/link")
}
/// `<id>/lower`.
pub fn lower_file(id: &str) -> String {
    format!("{id}/lower")
}
/// `l/<short>`.
pub fn short_link(short: &str) -> String {
    format!("{LINK_DIR}/{short}")
}
/// What `l/<short>` of layer `id` points at.
pub fn link_target(id: &str) -> String {
    format!("../{id}/diff")
}

/// A short name for layer `id`, the `attempt`-th try.
pub fn short_name(id: &str, attempt: u32) -> String {
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
        .map(|entry| {
            entry
                .strip_prefix("l/")
                .filter(|short| is_valid_short(short))
        })
        .collect();
    shorts.filter(|shorts| !shorts.is_empty() && shorts.len() <= MAX_DEPTH)
}

/// The layer id an `l/` link target (`../<id>/diff`) names.
pub fn id_from_link_target(target: &str) -> Option<&str> {
    target
        .strip_prefix("../")?
        .strip_suffix("/diff")
        .filter(|id| is_valid_id(id))
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
    if exists(root, id) {
        Ok(())
    } else {
        Err(Error::not_found(format!("layer \"{id}\" does not exist")))
    }
}

/// Whether layer `id` has `work/`, i.e. is writable (see the module docs).
pub fn is_writable(root: &Root, id: &str) -> bool {
    is_dir(root, &work(id))
}

/// Layer `id`'s short name, from its `link` file.
pub fn read_short(root: &Root, id: &str) -> Result<String> {
    let rel = link_file(id);
    let text = fs::read_to_string(root.fs(&rel))
        .map_err(|err| Error::io(format!("layer \"{id}\": reading {rel}"), err))?;
    if is_valid_short(&text) {
        Ok(text)
    } else {
        Err(Error::new(
            ErrorKind::Other,
            format!(
                "layer \"{id}\": {rel} is corrupt: {:?} is not a short link name",
                text
            ),
        ))
    }
}

/// Layer `id`'s `lower` text, or `None` for a base layer.
pub fn read_lower(root: &Root, id: &str) -> Result<Option<String>> {
    let rel = lower_file(id);
    match fs::read_to_string(root.fs(&rel)) {
        Ok(text) if parse_lower(&text).is_some() => Ok(Some(text)),
        Ok(text) => Err(Error::new(
            ErrorKind::Other,
            format!("layer \"{id}\": {rel} is corrupt: {text:?}"),
        )),
        Err(err) if err.kind() == IoKind::NotFound => Ok(None),
        Err(err) => Err(Error::io(format!("layer \"{id}\": reading {rel}"), err)),
    }
}

/// The id of the layer whose diff `l/<short>` points at.
pub fn resolve_short(root: &Root, id: &str, short: &str) -> Result<String> {
    let rel = short_link(short);
    let target = fs::read_link(root.fs(&rel)).map_err(|err| match err.kind() {
        IoKind::NotFound => {
            Error::not_found(format!("layer \"{id}\": lower layer link {rel} is missing"))
        }
        _ => Error::io(format!("layer \"{id}\": reading link {rel}"), err),
    })?;
    target
        .to_str()
        .and_then(id_from_link_target)
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Other,
                format!("layer \"{id}\": {rel} points at {target:?}, not a layer's diff"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_documented_pattern() {
        for id in [
            "a",
            "sha256-abc",
            "0f3e.layer_1-x",
            &"a".repeat(128),
            "A..",
            "l1",
        ] {
            assert!(is_valid_id(id), "{id}");
        }
        for id in [
            "",
            "l",
            ".hidden",
            "-x",
            "_x",
            "a/b",
            "..",
            "a b",
            "é",
            &"a".repeat(129),
            "a:b",
            "a,b",
        ] {
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
        assert_eq!(
            lower_chain("CCC", Some("l/BBB:l/AAA")).as_deref(),
            Some("l/CCC:l/BBB:l/AAA")
        );
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
        assert_eq!(
            parse_lower(&format!("l/{a}:l/{b}")),
            Some(vec![a.as_str(), b.as_str()])
        );
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
}
