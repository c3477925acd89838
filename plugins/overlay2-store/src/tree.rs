//! A layer's `diff/` as `apply` writes it: confinement and replacement.
//!
//! The sandbox already keeps every path inside the driver root, but a layer must also
//! stay inside *its own* `diff/`: a symlink `evil -> ../../<other layer>/diff` in the
//! tar would otherwise let a later entry `evil/passwd` write into another layer. So
//! before an entry is written, every parent component must be a real directory of this
//! layer ([`Tree::ensure_parent`]; missing ones are created 0755, as Docker does) and
//! the entry's own place is cleared unless a directory merges into a directory
//! ([`Tree::clear`]): later entries replace earlier ones.
//!
//! Directories proven real are remembered, so a deep tree costs one `lstat` per
//! directory rather than per entry and component; removing anything forgets what was
//! under it. Directory mtimes are set at the end ([`Tree::set_dir_times`]), because
//! writing entries into a directory changes its mtime.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::ErrorKind as IoKind;
use std::time::SystemTime;

use hostctl_sdk::{Error, Result};

use crate::host::{Host, Root};
use crate::paths;

/// The layer's `diff/` and what `apply` knows about it.
pub struct Tree<'a> {
    root: &'a Root,
    host: &'a dyn Host,
    /// `<id>/diff`.
    diff: String,
    /// Layer-relative directories known to be real directories ("" is `diff/` itself).
    dirs: HashSet<String>,
    /// Directory mtimes to set once every entry is written.
    dir_times: HashMap<String, SystemTime>,
}

impl<'a> Tree<'a> {
    /// The tree of layer `id`, whose `diff/` exists.
    pub fn new(root: &'a Root, host: &'a dyn Host, id: &str) -> Self {
        let dirs = HashSet::from([String::new()]);
        Tree {
            root,
            host,
            diff: crate::layout::diff(id),
            dirs,
            dir_times: HashMap::new(),
        }
    }

    /// The root-relative path of layer-relative `path`, as the host takes it.
    pub fn rel(&self, path: &str) -> String {
        if path.is_empty() {
            self.diff.clone()
        } else {
            format!("{}/{path}", self.diff)
        }
    }

    /// The `std::fs` path of layer-relative `path`.
    pub fn fs(&self, path: &str) -> std::path::PathBuf {
        self.root.fs(&self.rel(path))
    }

    /// Make sure every component of layer-relative `dir` is a real directory of this
    /// layer, creating missing ones.
    pub fn ensure_dir(&mut self, dir: &str) -> Result<()> {
        self.walk(dir, true)
    }

    /// [`Tree::ensure_dir`] for the parent of `path`.
    pub fn ensure_parent(&mut self, path: &str) -> Result<()> {
        let (parent, _) = paths::split(path);
        self.ensure_dir(parent)
    }

    /// Check, without creating anything, that every parent of `path` is a real
    /// directory of this layer. `Ok(false)` if one is missing.
    pub fn parents_exist(&mut self, path: &str) -> Result<bool> {
        let (parent, _) = paths::split(path);
        match self.walk(parent, false) {
            Ok(()) => Ok(true),
            Err(err) if err.kind == hostctl_sdk::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }

    fn walk(&mut self, dir: &str, create: bool) -> Result<()> {
        if self.dirs.contains(dir) {
            return Ok(());
        }
        let mut prefix = String::with_capacity(dir.len());
        for component in dir.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(component);
            if self.dirs.contains(&prefix) {
                continue;
            }
            match fs::symlink_metadata(self.fs(&prefix)) {
                Ok(meta) if meta.is_dir() => {}
                Ok(meta) if meta.is_symlink() => {
                    return Err(Error::invalid(format!("parent \"{prefix}\" is a symlink")));
                }
                Ok(_) => {
                    return Err(Error::invalid(format!(
                        "parent \"{prefix}\" is not a directory"
                    )));
                }
                Err(err) if err.kind() == IoKind::NotFound && create => {
                    fs::create_dir(self.fs(&prefix))
                        .map_err(|err| Error::io(format!("creating parent \"{prefix}\""), err))?;
                    self.host.chmod(&self.rel(&prefix), 0o755)?;
                }
                Err(err) if err.kind() == IoKind::NotFound => {
                    return Err(Error::not_found(format!(
                        "\"{prefix}\" does not exist in this layer"
                    )));
                }
                Err(err) => return Err(Error::io(format!("reading parent \"{prefix}\""), err)),
            }
            self.dirs.insert(prefix.clone());
        }
        Ok(())
    }

    /// Clear the place of `path` for a new entry: remove whatever is there, unless both
    /// it and the new entry are directories. Answers whether a directory was kept.
    pub fn clear(&mut self, path: &str, for_dir: bool) -> Result<bool> {
        match fs::symlink_metadata(self.fs(path)) {
            Err(err) if err.kind() == IoKind::NotFound => Ok(false),
            Err(err) => Err(Error::io(format!("reading \"{path}\""), err)),
            Ok(meta) if meta.is_dir() && for_dir => Ok(true),
            Ok(meta) => {
                if meta.is_dir() {
                    self.host.remove_tree(&self.rel(path))?;
                } else {
                    fs::remove_file(self.fs(path)).map_err(|err| Error::io(format!("replacing \"{path}\""), err))?;
                }
                self.forget(path);
                Ok(false)
            }
        }
    }

    /// Forget what was known under `path`, which was removed.
    fn forget(&mut self, path: &str) {
        let under = format!("{path}/");
        self.dirs
            .retain(|dir| dir != path && !dir.starts_with(&under));
        self.dir_times
            .retain(|dir, _| dir != path && !dir.starts_with(&under));
    }

    /// Record that `path` is now a real directory.
    pub fn made_dir(&mut self, path: &str) {
        self.dirs.insert(path.to_owned());
    }

    /// Set `path`'s mtime to `time` once all entries are written.
    pub fn defer_dir_time(&mut self, path: &str, time: SystemTime) {
        self.dir_times.insert(path.to_owned(), time);
    }

    /// Set the deferred directory mtimes.
    pub fn set_dir_times(&mut self) -> Result<()> {
        let times: Vec<(String, SystemTime)> = self.dir_times.drain().collect();
        for (path, time) in times {
            File::open(self.fs(&path))
                .and_then(|dir| dir.set_modified(time))
                .map_err(|err| {
                    Error::io(format!("layer entry \"{path}\": setting its mtime"), err)
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{FakeHost, TempRoot};

    fn setup(tmp: &TempRoot) {
        fs::create_dir_all(tmp.root.fs("x/diff")).unwrap();
    }

    #[test]
    fn ensure_dir_creates_missing_parents_0755() {
        let tmp = TempRoot::new();
        setup(&tmp);
        let host = FakeHost::at(&tmp);
        let mut tree = Tree::new(&tmp.root, &host, "x");
        tree.ensure_dir("a/b").unwrap();
        assert!(tmp.root.fs("x/diff/a/b").is_dir());
        assert!(host.called("chmod x/diff/a 755"));
        assert!(host.called("chmod x/diff/a/b 755"));
    }

    #[test]
    fn ensure_dir_refuses_symlinked_parents() {
        let tmp = TempRoot::new();
        setup(&tmp);
        std::os::unix::fs::symlink("../../y/diff", tmp.root.fs("x/diff/evil")).unwrap();
        let host = FakeHost::at(&tmp);
        let mut tree = Tree::new(&tmp.root, &host, "x");
        let err = tree.ensure_parent("evil/passwd").unwrap_err();
        assert_eq!(err.message, "parent \"evil\" is a symlink");
    }

    #[test]
    fn a_replaced_directory_is_checked_again() {
        let tmp = TempRoot::new();
        setup(&tmp);
        let host = FakeHost::at(&tmp);
        let mut tree = Tree::new(&tmp.root, &host, "x");
        tree.ensure_dir("a/b").unwrap();
        assert!(!tree.clear("a", false).unwrap());
        std::os::unix::fs::symlink("/etc", tmp.root.fs("x/diff/a")).unwrap();
        assert!(tree.ensure_parent("a/b/c").is_err());
    }

    #[test]
    fn clear_keeps_a_directory_for_a_directory() {
        let tmp = TempRoot::new();
        setup(&tmp);
        fs::create_dir_all(tmp.root.fs("x/diff/d/keep")).unwrap();
        fs::write(tmp.root.fs("x/diff/f"), b"old").unwrap();
        let host = FakeHost::at(&tmp);
        let mut tree = Tree::new(&tmp.root, &host, "x");
        assert!(tree.clear("d", true).unwrap());
        assert!(tmp.root.fs("x/diff/d/keep").is_dir());
        assert!(!tree.clear("f", true).unwrap());
        assert!(!tmp.root.fs("x/diff/f").exists());
        assert!(!tree.clear("d", false).unwrap());
        assert!(!tmp.root.fs("x/diff/d").exists());
    }

    #[test]
    fn parents_exist_does_not_create() {
        let tmp = TempRoot::new();
        setup(&tmp);
        let host = FakeHost::at(&tmp);
        let mut tree = Tree::new(&tmp.root, &host, "x");
        assert!(!tree.parents_exist("a/b").unwrap());
        assert!(!tmp.root.fs("x/diff/a").exists());
        assert!(tree.parents_exist("top").unwrap());
    }
}
