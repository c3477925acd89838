//! What every storage conformance case stands on: a [`Fixture`] (a fresh temp dir with the
//! code cache, the storage roots and a sentinel directory, and the plugin loaded through
//! the real [`Loader`] with the real kernel mounter), [`Blob`]s (layer bytes verified
//! against a digest while the driver reads them, as the image store hands them over),
//! and [`Snapshot`]s of a directory tree to prove what a failed call left behind.
//!
//! Dropping a fixture lazily unmounts whatever is still mounted under its dir, so a case
//! that fails half-way leaves no mount behind for the next.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hostctl_image::{Digest, VerifiedReader};
use hostctl_kernel::mount::Kernel;
use hostctl_plugin_runtime::{AppliedLayer, BlobSource, Defaults, Loader, MountedLayer, Plugin, PluginError, StoragePlugin};
use sha2::{Digest as _, Sha256};

use crate::images::Layer;
use crate::kernel::{mounts_under, unmount_all_under};
use crate::plugins;

/// Where the plugin under test comes from.
pub trait PluginDir {
    /// The plugin's directory (`plugin.toml` and its component), installing it into
    /// `scratch` (the fixture's temp dir) first if it needs installing.
    fn plugin_dir(&self, scratch: &Path) -> PathBuf;
}

/// An installed plugin directory, used as it is.
impl<P: AsRef<Path>> PluginDir for P {
    fn plugin_dir(&self, _scratch: &Path) -> PathBuf {
        self.as_ref().to_owned()
    }
}

/// A bundled plugin by name, installed into each fixture with `scripts/install-plugins`
/// (build it first with `scripts/build-plugins`).
#[derive(Debug, Clone, Copy)]
pub struct Bundled(pub &'static str);

impl PluginDir for Bundled {
    fn plugin_dir(&self, scratch: &Path) -> PathBuf {
        let dest = scratch.join("plugins");
        plugins::install_bundled(&dest);
        plugins::bundled_dir(&dest, self.0)
    }
}

/// Layer bytes as the host lends them to a driver: they hash to `digest` by the time
/// they end, or the read at the end fails with `InvalidData`.
pub struct Blob {
    reader: VerifiedReader<Cursor<Vec<u8>>>,
    digest: Digest,
    size: u64,
}

impl Blob {
    /// Honest bytes: named by their own digest and length.
    pub fn new(bytes: Vec<u8>) -> Blob {
        let digest = Digest::of_bytes(&bytes);
        Blob::claiming(bytes, digest)
    }

    /// Bytes that claim to be `digest` (and to be as long as they are).
    pub fn claiming(bytes: Vec<u8>, digest: Digest) -> Blob {
        let size = bytes.len() as u64;
        Blob { reader: VerifiedReader::new(Cursor::new(bytes), digest, Some(size)), digest, size }
    }
}

impl Read for Blob {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf)
    }
}

impl BlobSource for Blob {
    fn digest(&self) -> String {
        self.digest.to_string()
    }

    fn size(&self) -> u64 {
        self.size
    }
}

/// What the sentinel file outside the driver's root holds.
const SENTINEL_CONTENT: &[u8] = b"outside the driver's root; nobody may change this\n";

/// One case's world.
pub struct Fixture {
    plugin: Arc<StoragePlugin>,
    _loader: Loader,
    sentinel: PathBuf,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A fresh temp dir with `cache/`, `storage/` and `sentinel/secret`, and `plugin`
    /// loaded from it. Panics (failing the case) if the plugin does not load as a
    /// storage driver.
    pub fn new(plugin: &impl PluginDir) -> Fixture {
        let dir = tempfile::Builder::new().prefix("hostctl-storage-conformance-").tempdir().expect("creating the fixture dir");
        let plugin_dir = plugin.plugin_dir(dir.path());
        let sentinel = dir.path().join("sentinel");
        std::fs::create_dir(&sentinel).expect("creating the sentinel dir");
        std::fs::write(sentinel.join("secret"), SENTINEL_CONTENT).expect("writing the sentinel file");
        std::fs::set_permissions(sentinel.join("secret"), std::fs::Permissions::from_mode(0o600)).expect("chmod sentinel");
        let loader = Loader::new(&dir.path().join("cache"), &dir.path().join("storage"), Arc::new(Kernel), Defaults::default())
            .unwrap_or_else(|e| panic!("starting the plugin runtime: {e}"));
        let (loaded, _info) = loader.load(&plugin_dir).unwrap_or_else(|e| panic!("loading {}: {e}", plugin_dir.display()));
        #[allow(irrefutable_let_patterns)]
        let Plugin::Storage(plugin) = loaded else { panic!("{} is not a storage plugin", plugin_dir.display()) };
        Fixture { plugin, _loader: loader, sentinel, dir }
    }

    /// The fixture's temp dir (everything the case makes is under it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The driver under test.
    pub fn plugin(&self) -> &StoragePlugin {
        &self.plugin
    }

    /// The driver's root.
    pub fn root(&self) -> PathBuf {
        self.plugin.root()
    }

    /// The sentinel directory, outside the driver's root.
    pub fn sentinel(&self) -> &Path {
        &self.sentinel
    }

    /// Apply `layer` (its plain tar) as `id` on `parent`; panics on failure.
    pub fn apply(&self, id: &str, parent: Option<&str>, layer: &Layer) -> AppliedLayer {
        self.apply_bytes(id, parent, layer.tar()).unwrap_or_else(|e| panic!("applying layer {id:?}: {e}"))
    }

    /// Apply honest `bytes` (a tar, plain or compressed) as `id` on `parent`.
    pub fn apply_bytes(&self, id: &str, parent: Option<&str>, bytes: Vec<u8>) -> Result<AppliedLayer, PluginError> {
        self.plugin.apply_layer(id, parent, Box::new(Blob::new(bytes)))
    }

    /// Create the empty writable layer `id` on `parent`; panics on failure.
    pub fn create(&self, id: &str, parent: Option<&str>) {
        self.plugin.create_layer(id, parent).unwrap_or_else(|e| panic!("creating layer {id:?}: {e}"));
    }

    /// Mount layer `id`'s merged view; panics on failure.
    pub fn mount(&self, id: &str) -> MountedLayer {
        let mounted = self.plugin.mount(id).unwrap_or_else(|e| panic!("mounting layer {id:?}: {e}"));
        assert!(mounted.rootfs.starts_with(self.root()), "layer {id:?}: rootfs {} is outside the driver's root", mounted.rootfs.display());
        mounted
    }

    /// Unmount layer `id`'s merged view; panics on failure.
    pub fn unmount(&self, id: &str, mounted: &MountedLayer) {
        self.plugin.unmount(id, mounted).unwrap_or_else(|e| panic!("unmounting layer {id:?}: {e}"));
    }

    /// Remove layer `id`; panics on failure.
    pub fn remove(&self, id: &str) {
        self.plugin.remove(id).unwrap_or_else(|e| panic!("removing layer {id:?}: {e}"));
    }

    /// Whether the driver holds `id`; panics if it cannot answer.
    pub fn exists(&self, id: &str) -> bool {
        self.plugin.exists(id).unwrap_or_else(|e| panic!("exists({id:?}): {e}"))
    }

    /// Mount points under the fixture's dir.
    pub fn mounts(&self) -> Vec<PathBuf> {
        mounts_under(self.dir())
    }

    /// What the driver's root holds now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::of(&self.root())
    }

    /// The sentinel dir holds exactly its one file, unchanged (content, mode, one link).
    pub fn assert_sentinel_untouched(&self) {
        let mut names: Vec<_> = std::fs::read_dir(&self.sentinel)
            .expect("reading the sentinel dir")
            .map(|e| e.expect("sentinel entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["secret"], "something was written into {} outside the driver's root", self.sentinel.display());
        let secret = self.sentinel.join("secret");
        let meta = std::fs::symlink_metadata(&secret).expect("stat sentinel file");
        assert_eq!(std::fs::read(&secret).expect("reading the sentinel"), SENTINEL_CONTENT, "the sentinel file was changed");
        assert_eq!((meta.mode() & 0o7777, meta.uid(), meta.gid()), (0o600, 0, 0), "the sentinel file's mode or owner changed");
        assert_eq!(meta.nlink(), 1, "the sentinel file was hardlinked from somewhere");
    }

    /// After a refused `apply_layer` of `id`: the driver does not hold it, no mount is
    /// left, the sentinel is untouched, and the root is as it was in `before` (plus at
    /// most empty directories), with no entry or link naming `id`.
    pub fn assert_left_nothing(&self, id: &str, before: &Snapshot) {
        assert!(!self.exists(id), "the refused layer {id:?} exists");
        assert_eq!(self.mounts(), Vec::<PathBuf>::new(), "mounts left behind");
        self.assert_sentinel_untouched();
        self.snapshot().assert_nothing_left_since(before, id);
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        unmount_all_under(self.dir.path());
    }
}

/// One entry of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    /// A regular file: its length and sha256.
    File(u64, String),
    Symlink(PathBuf),
    /// A device, fifo or socket: its mode (type bits included) and rdev.
    Special(u32, u64),
}

/// Every entry under a directory (not following symlinks), by path relative to it.
/// Owners, modes and times are left out: a snapshot says what is there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot(pub BTreeMap<PathBuf, Node>);

impl Snapshot {
    pub fn of(dir: &Path) -> Snapshot {
        let mut snapshot = Snapshot::default();
        walk(dir, Path::new(""), &mut snapshot.0);
        snapshot
    }

    /// `self` holds everything `before` held, unchanged, plus at most empty directories,
    /// and nothing that names `id`: what a refused call of layer `id` may leave.
    pub fn assert_nothing_left_since(&self, before: &Snapshot, id: &str) {
        for (path, node) in &before.0 {
            assert_eq!(self.0.get(path), Some(node), "{} changed (the refused layer {id:?} touched it)", path.display());
        }
        for (path, node) in &self.0 {
            let empty_dir = *node == Node::Dir && !self.0.keys().any(|p| p.parent() == Some(path));
            assert!(
                before.0.contains_key(path) || empty_dir,
                "the refused layer {id:?} left {} ({node:?}) in the driver's root",
                path.display()
            );
        }
        self.assert_no_trace_of(id);
    }

    /// No entry's name and no symlink's target mentions `id`.
    pub fn assert_no_trace_of(&self, id: &str) {
        for (path, node) in &self.0 {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            assert!(!name.contains(id), "{} in the driver's root still names layer {id:?}", path.display());
            if let Node::Symlink(target) = node {
                assert!(!target.to_string_lossy().contains(id), "{} -> {} still points at layer {id:?}", path.display(), target.display());
            }
        }
    }
}

fn walk(base: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Node>) {
    let Ok(entries) = std::fs::read_dir(base.join(rel)) else { return };
    for entry in entries {
        let entry = entry.expect("reading a directory entry");
        let rel = rel.join(entry.file_name());
        let path = base.join(&rel);
        let meta = std::fs::symlink_metadata(&path).expect("lstat");
        let node = if meta.is_dir() {
            Node::Dir
        } else if meta.is_symlink() {
            Node::Symlink(std::fs::read_link(&path).expect("readlink"))
        } else if meta.is_file() {
            let bytes = std::fs::read(&path).expect("reading a file of the driver's root");
            Node::File(meta.len(), hex::encode(Sha256::digest(&bytes)))
        } else {
            Node::Special(meta.mode(), meta.rdev())
        };
        let is_dir = node == Node::Dir;
        out.insert(rel.clone(), node);
        if is_dir {
            walk(base, &rel, out);
        }
    }
}

/// `rootfs/path` read as text; panics with the path when it cannot be read.
pub fn read_text(rootfs: &Path, path: &str) -> String {
    std::fs::read_to_string(rootfs.join(path)).unwrap_or_else(|e| panic!("reading {path} in the merged view: {e}"))
}

/// The names in directory `rootfs/path`, sorted.
pub fn names_in(rootfs: &Path, path: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(rootfs.join(path))
        .unwrap_or_else(|e| panic!("listing {path} in the merged view: {e}"))
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Whether `rootfs/path` exists (as anything, a dangling symlink included).
pub fn present(rootfs: &Path, path: &str) -> bool {
    std::fs::symlink_metadata(rootfs.join(path)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keep/sub")).unwrap();
        std::fs::write(dir.path().join("keep/file"), "x").unwrap();
        std::os::unix::fs::symlink("../keep/file", dir.path().join("keep/sub/link")).unwrap();
        dir
    }

    #[test]
    fn snapshot_records_dirs_files_and_link_targets() {
        let dir = tree();
        let snap = Snapshot::of(dir.path());
        assert_eq!(snap.0[Path::new("keep")], Node::Dir);
        assert!(matches!(snap.0[Path::new("keep/file")], Node::File(1, _)));
        assert_eq!(snap.0[Path::new("keep/sub/link")], Node::Symlink("../keep/file".into()));
        assert_eq!(snap.0.len(), 4);
    }

    #[test]
    fn new_empty_dirs_are_allowed() {
        let dir = tree();
        let before = Snapshot::of(dir.path());
        std::fs::create_dir(dir.path().join("l")).unwrap();
        Snapshot::of(dir.path()).assert_nothing_left_since(&before, "layer");
    }

    #[test]
    #[should_panic(expected = "left")]
    fn a_new_file_is_caught() {
        let dir = tree();
        let before = Snapshot::of(dir.path());
        std::fs::create_dir(dir.path().join("l")).unwrap();
        std::fs::write(dir.path().join("l/x"), "").unwrap();
        Snapshot::of(dir.path()).assert_nothing_left_since(&before, "layer");
    }

    #[test]
    #[should_panic(expected = "changed")]
    fn a_changed_file_is_caught() {
        let dir = tree();
        let before = Snapshot::of(dir.path());
        std::fs::write(dir.path().join("keep/file"), "y").unwrap();
        Snapshot::of(dir.path()).assert_nothing_left_since(&before, "layer");
    }

    #[test]
    #[should_panic(expected = "changed")]
    fn a_removed_file_is_caught() {
        let dir = tree();
        let before = Snapshot::of(dir.path());
        std::fs::remove_file(dir.path().join("keep/sub/link")).unwrap();
        Snapshot::of(dir.path()).assert_nothing_left_since(&before, "layer");
    }

    #[test]
    #[should_panic(expected = "names layer")]
    fn an_empty_dir_named_after_the_layer_is_caught() {
        let dir = tree();
        let before = Snapshot::of(dir.path());
        std::fs::create_dir(dir.path().join("hostile-layer")).unwrap();
        Snapshot::of(dir.path()).assert_nothing_left_since(&before, "hostile-layer");
    }

    #[test]
    fn a_blob_not_matching_its_digest_fails_at_its_end() {
        let mut honest = Blob::new(b"layer".to_vec());
        assert_eq!(honest.size(), 5);
        std::io::copy(&mut honest, &mut std::io::sink()).unwrap();
        let mut forged = Blob::claiming(b"lAyer".to_vec(), Digest::of_bytes(b"layer"));
        let err = std::io::copy(&mut forged, &mut std::io::sink()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }
}
