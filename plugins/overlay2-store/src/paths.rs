//! Layer entry names: normalising a tar entry's path, and telling OCI whiteouts apart.
//!
//! A layer tar names its entries relative to the layer root, usually with a leading
//! `./`. [`normalize`] turns such a name into `a/b/c` (empty for the root itself) and
//! refuses any name that could leave the layer: an absolute path, or a `..` component
//! anywhere (stricter than Docker, which cleans `a/../b`; no honest layer needs it).
//! Names must be UTF-8, because every file name crosses the component boundary as a
//! WIT `string`.
//!
//! [`classify`] reads the OCI whiteout conventions off a normalised path:
//! `.wh..wh..opq` marks its directory opaque, `.wh.NAME` deletes `NAME` from the
//! layers below, and any other `.wh..wh.*` component is aufs bookkeeping
//! (`.wh..wh.plnk`, `.wh..wh.aufs`) that overlay has no use for.

use std::fmt;

/// The OCI marker for an opaque directory.
pub const OPAQUE: &str = ".wh..wh..opq";
/// The prefix of a whiteout file.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The prefix of aufs metadata, which overlay layers do not carry.
pub const AUFS_META_PREFIX: &str = ".wh..wh.";

/// Why an entry's path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The name is not UTF-8.
    NotUtf8,
    /// The name starts with `/`.
    Absolute,
    /// The name has a `..` component.
    DotDot,
    /// `.wh.`, `.wh..` or `.wh...`: a whiteout that names nothing removable.
    EmptyWhiteout,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotUtf8 => "name is not utf-8, which hostctl cannot store",
            PathError::Absolute => "absolute path leaves the layer",
            PathError::DotDot => "path leaves the layer",
            PathError::EmptyWhiteout => "whiteout names no file",
        })
    }
}

/// `raw` as `a/b/c` below the layer root (empty for the root): `.` and empty components
/// dropped, absolute paths and `..` refused.
pub fn normalize(raw: &[u8]) -> Result<String, PathError> {
    let raw = std::str::from_utf8(raw).map_err(|_| PathError::NotUtf8)?;
    if raw.starts_with('/') {
        return Err(PathError::Absolute);
    }
    let mut out = String::with_capacity(raw.len());
    for component in raw.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(PathError::DotDot),
            name => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(name);
            }
        }
    }
    Ok(out)
}

/// The parent of normalised `path` (empty for the root's children) and its last component.
pub fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((parent, name)) => (parent, name),
        None => ("", path),
    }
}

/// `parent/name`, or `name` when `parent` is the root.
pub fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// What a normalised entry path means under the OCI whiteout conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// An ordinary entry.
    Plain,
    /// `dir/.wh..wh..opq`: make `dir` opaque.
    Opaque { dir: &'a str },
    /// `dir/.wh.name`: hide `dir/name` of the layers below.
    Whiteout { dir: &'a str, name: &'a str },
    /// Under or at an aufs metadata name: skipped.
    AufsMeta,
}

/// Classify normalised `path`.
pub fn classify(path: &str) -> Result<Kind<'_>, PathError> {
    let (dir, base) = split(path);
    if base == OPAQUE {
        if dir.split('/').any(|c| c.starts_with(AUFS_META_PREFIX)) {
            return Ok(Kind::AufsMeta);
        }
        return Ok(Kind::Opaque { dir });
    }
    if path.split('/').any(|c| c.starts_with(AUFS_META_PREFIX)) {
        return Ok(Kind::AufsMeta);
    }
    match base.strip_prefix(WHITEOUT_PREFIX) {
        Some("" | "." | "..") => Err(PathError::EmptyWhiteout),
        Some(name) => Ok(Kind::Whiteout { dir, name }),
        None => Ok(Kind::Plain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_dot_slash_and_trailing_slash() {
        assert_eq!(normalize(b"./etc/passwd").as_deref(), Ok("etc/passwd"));
        assert_eq!(normalize(b"etc/").as_deref(), Ok("etc"));
        assert_eq!(normalize(b"./a//b/./c").as_deref(), Ok("a/b/c"));
    }

    #[test]
    fn normalize_maps_root_spellings_to_empty() {
        for raw in [&b"."[..], b"./", b"", b".//."] {
            assert_eq!(normalize(raw).as_deref(), Ok(""), "{raw:?}");
        }
    }

    #[test]
    fn normalize_refuses_dot_dot_anywhere() {
        assert_eq!(normalize(b"../etc/passwd"), Err(PathError::DotDot));
        assert_eq!(normalize(b"a/../../b"), Err(PathError::DotDot));
        assert_eq!(normalize(b"./a/.."), Err(PathError::DotDot));
    }

    #[test]
    fn normalize_refuses_absolute_paths() {
        assert_eq!(normalize(b"/etc/passwd"), Err(PathError::Absolute));
    }

    #[test]
    fn normalize_refuses_non_utf8() {
        assert_eq!(normalize(b"caf\xe9"), Err(PathError::NotUtf8));
    }

    #[test]
    fn normalize_keeps_names_that_only_look_like_dots() {
        assert_eq!(normalize(b"...").as_deref(), Ok("..."));
        assert_eq!(normalize(b"a/..b").as_deref(), Ok("a/..b"));
    }

    #[test]
    fn split_and_join_round_trip() {
        assert_eq!(split("a/b/c"), ("a/b", "c"));
        assert_eq!(split("c"), ("", "c"));
        assert_eq!(join("", "c"), "c");
        assert_eq!(join("a/b", "c"), "a/b/c");
    }

    #[test]
    fn classify_reads_opaque_markers() {
        assert_eq!(
            classify("etc/.wh..wh..opq"),
            Ok(Kind::Opaque { dir: "etc" })
        );
        assert_eq!(classify(".wh..wh..opq"), Ok(Kind::Opaque { dir: "" }));
    }

    #[test]
    fn classify_reads_whiteouts() {
        assert_eq!(
            classify("etc/.wh.motd"),
            Ok(Kind::Whiteout {
                dir: "etc",
                name: "motd"
            })
        );
        assert_eq!(
            classify(".wh.tmp"),
            Ok(Kind::Whiteout {
                dir: "",
                name: "tmp"
            })
        );
        assert_eq!(
            classify("a/.wh..hidden"),
            Ok(Kind::Whiteout {
                dir: "a",
                name: ".hidden"
            })
        );
    }

    #[test]
    fn classify_refuses_whiteouts_of_nothing() {
        for path in ["a/.wh.", ".wh..", "b/.wh..."] {
            assert_eq!(classify(path), Err(PathError::EmptyWhiteout), "{path}");
        }
    }

    #[test]
    fn classify_skips_aufs_metadata() {
        assert_eq!(classify(".wh..wh.plnk"), Ok(Kind::AufsMeta));
        assert_eq!(classify(".wh..wh.plnk/1234.5678"), Ok(Kind::AufsMeta));
        assert_eq!(classify("a/.wh..wh.aufs"), Ok(Kind::AufsMeta));
        assert_eq!(classify(".wh..wh.plnk/.wh..wh..opq"), Ok(Kind::AufsMeta));
    }

    #[test]
    fn classify_leaves_ordinary_names_alone() {
        assert_eq!(classify("etc/passwd"), Ok(Kind::Plain));
        assert_eq!(classify("etc/wh.conf"), Ok(Kind::Plain));
        assert_eq!(classify(""), Ok(Kind::Plain));
    }
}
