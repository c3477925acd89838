//! Recursive removal that never opens what it removes.
//!
//! std's `remove_dir_all` on wasm32-wasip2 hangs on a fifo (measured with wasmtime:
//! listing and unlinking one work, `remove_dir_all` over it never returns), and layers
//! hold fifos. [`remove_tree`] walks the tree with `read_dir`, takes each entry's type
//! from the directory listing (never following a symlink), unlinks everything that is
//! not a directory, and removes directories bottom-up.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::Path;

/// Remove `path` and, if it is a directory, everything under it. A symlink is removed,
/// never followed.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    if !fs::symlink_metadata(path)?.is_dir() {
        return fs::remove_file(path);
    }
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let child = entry.path();
        let removed = if entry.file_type()?.is_dir() {
            remove_tree(&child)
        } else {
            fs::remove_file(&child)
        };
        match removed {
            Err(err) if err.kind() != ErrorKind::NotFound => return Err(err),
            _ => {}
        }
    }
    fs::remove_dir(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempRoot;

    #[test]
    fn removes_trees_without_following_symlinks() {
        let tmp = TempRoot::new();
        let keep = tmp.root.fs("keep");
        fs::create_dir_all(&keep).unwrap();
        fs::write(keep.join("precious"), b"1").unwrap();
        let tree = tmp.root.fs("t");
        fs::create_dir_all(tree.join("a/b/c")).unwrap();
        fs::write(tree.join("a/b/c/f"), b"x").unwrap();
        std::os::unix::fs::symlink(&keep, tree.join("a/link")).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        assert!(keep.join("precious").exists());
    }

    #[test]
    fn removes_a_plain_file_and_reports_missing_paths() {
        let tmp = TempRoot::new();
        let file = tmp.root.fs("f");
        fs::write(&file, b"x").unwrap();
        remove_tree(&file).unwrap();
        assert_eq!(remove_tree(&file).unwrap_err().kind(), ErrorKind::NotFound);
    }
}
