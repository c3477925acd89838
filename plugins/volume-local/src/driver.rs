//! The driver's operations, over a key-value store ([`Kv`]) and a root directory, so the
//! whole of it runs natively under `cargo test`.
//!
//! A volume is the directory `<name>` with its data in `<name>/_data`. Who mounts it is
//! in its record: the first caller's `mount` answers the plan that makes `_data` a tmpfs
//! or a bind (nothing for a plain directory), later callers get an empty plan; when the
//! last caller leaves, `unmount` answers `_data` for the host to unmount. `remove` is
//! refused while any caller mounts the volume, and never recurses into a data directory
//! that should be a mount point (only an empty one is removed), so a mount that somehow
//! outlived its callers cannot take a host directory's files with it.

use std::path::{Path, PathBuf};

use hostctl_sdk::volume::{Capabilities, MountPlan, MountSpec, Volume};
use hostctl_sdk::{Error, ErrorKind, Result};

use crate::options::{self, Backing};
use crate::records::{self, Kv, Record};

/// The driver's root for `std::fs`: `/` in the component (WASI pre-opens it there), a
/// temporary directory in tests.
pub struct Root(pub PathBuf);

impl Root {
    fn fs(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

/// The data directory of volume `name`, relative to the root.
pub fn data_dir(name: &str) -> String {
    format!("{name}/_data")
}

pub fn capabilities() -> Capabilities {
    Capabilities { scope: "local".into() }
}

pub fn create(kv: &dyn Kv, root: &Root, name: &str, options: Vec<(String, String)>, now: String) -> Result<Volume> {
    options::check_name(name)?;
    options::parse(&options)?;
    if records::load(kv, name)?.is_some() {
        return Err(Error::new(ErrorKind::AlreadyExists, format!("volume {name} exists already")));
    }
    let data = root.fs(&data_dir(name));
    std::fs::create_dir_all(&data).map_err(|e| Error::io(format!("volume {name}: creating {}", data_dir(name)), e))?;
    let record = Record { created_at: now, options, callers: Vec::new() };
    if let Err(err) = records::save(kv, name, &record) {
        let _ = std::fs::remove_dir_all(root.fs(name));
        return Err(err);
    }
    Ok(describe(name, &record))
}

pub fn remove(kv: &dyn Kv, root: &Root, name: &str) -> Result<()> {
    let record = records::require(kv, name)?;
    if !record.callers.is_empty() {
        return Err(Error::new(
            ErrorKind::Other,
            format!("volume {name} is in use by {}: unmount it first", record.callers.join(", ")),
        ));
    }
    if backing(name, &record)?.is_mount() {
        // An empty mount point when unmounted: refuse to recurse into anything else.
        remove_if_present(&root.fs(&data_dir(name)))
            .map_err(|e| Error::io(format!("volume {name}: removing its data directory (is it still mounted?)"), e))?;
    }
    remove_tree(root, name).map_err(|e| e.context(format!("volume {name}: removing its directory")))?;
    records::delete(kv, name)
}

pub fn mount(kv: &dyn Kv, root: &Root, name: &str, caller: &str) -> Result<MountPlan> {
    check_caller(caller)?;
    let mut record = records::require(kv, name)?;
    let backing = backing(name, &record)?;
    let first = record.callers.is_empty();
    if !record.callers.iter().any(|c| c == caller) {
        record.callers.push(caller.to_owned());
    }
    let data = data_dir(name);
    // The host mounts on the data directory: make sure it is there.
    std::fs::create_dir_all(root.fs(&data)).map_err(|e| Error::io(format!("volume {name}: creating {data}"), e))?;
    records::save(kv, name, &record)?;
    let mounts = match backing {
        _ if !first => Vec::new(),
        Backing::Directory => Vec::new(),
        Backing::Tmpfs { options } => vec![MountSpec { fstype: "tmpfs".into(), source: "tmpfs".into(), target: data.clone(), options }],
        Backing::Bind { device, read_only } => vec![MountSpec {
            fstype: "bind".into(),
            source: device,
            target: data.clone(),
            options: if read_only { vec!["ro".into()] } else { Vec::new() },
        }],
    };
    Ok(MountPlan { mounts, path: data })
}

pub fn unmount(kv: &dyn Kv, name: &str, caller: &str) -> Result<Vec<String>> {
    let mut record = records::require(kv, name)?;
    let Some(at) = record.callers.iter().position(|c| c == caller) else {
        return Ok(Vec::new());
    };
    record.callers.remove(at);
    records::save(kv, name, &record)?;
    let last = record.callers.is_empty();
    Ok(if last && backing(name, &record)?.is_mount() { vec![data_dir(name)] } else { Vec::new() })
}

pub fn path(kv: &dyn Kv, name: &str) -> Result<Option<String>> {
    let record = records::require(kv, name)?;
    let ready = !backing(name, &record)?.is_mount() || !record.callers.is_empty();
    Ok(ready.then(|| data_dir(name)))
}

pub fn get(kv: &dyn Kv, name: &str) -> Result<Volume> {
    Ok(describe(name, &records::require(kv, name)?))
}

pub fn list(kv: &dyn Kv) -> Result<Vec<Volume>> {
    records::names(kv)?.iter().map(|name| get(kv, name)).collect()
}

fn describe(name: &str, record: &Record) -> Volume {
    Volume {
        name: name.to_owned(),
        path: data_dir(name),
        created_at: record.created_at.clone(),
        options: record.options.clone(),
        status: Vec::new(),
    }
}

fn backing(name: &str, record: &Record) -> Result<Backing> {
    options::parse(&record.options).map_err(|e| e.context(format!("volume {name}")))
}

fn check_caller(caller: &str) -> Result<()> {
    if caller.is_empty() || caller.chars().any(char::is_control) {
        return Err(Error::invalid(format!("caller {caller:?}: expected a container id")));
    }
    Ok(())
}

/// Remove empty directory `path`; gone already is fine.
fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Remove the tree at root-relative `rel`; gone already is fine. In the component the
/// host does it (`files.remove-tree`): natively, outside the call's deadline however
/// many files a volume holds, and without hanging on a fifo as WASI's `remove_dir_all`
/// does. Unit tests, natively, use std.
fn remove_tree(root: &Root, rel: &str) -> Result<()> {
    #[cfg(target_family = "wasm")]
    {
        let _ = root;
        hostctl_sdk::files::remove_tree(rel)
    }
    #[cfg(not(target_family = "wasm"))]
    match std::fs::remove_dir_all(root.fs(rel)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(format!("removing {rel}"), e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::MemoryKv;

    struct Fixture {
        kv: MemoryKv,
        root: Root,
        _dir: TempDir,
    }

    /// A temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fixture() -> Fixture {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("volume-local-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Fixture { kv: MemoryKv::default(), root: Root(dir.clone()), _dir: TempDir(dir) }
    }

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const TMPFS: &[(&str, &str)] = &[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=64m,mode=1777")];

    #[test]
    fn create_makes_the_data_dir_and_refuses_a_second_time() {
        let f = fixture();
        let v = create(&f.kv, &f.root, "data", vec![], "2024-01-02T03:04:05Z".into()).unwrap();
        assert_eq!((v.path.as_str(), v.created_at.as_str()), ("data/_data", "2024-01-02T03:04:05Z"));
        assert!(f.root.0.join("data/_data").is_dir());
        let err = create(&f.kv, &f.root, "data", vec![], String::new()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
        assert_eq!(list(&f.kv).unwrap().len(), 1);
    }

    #[test]
    fn bad_names_and_options_create_nothing() {
        let f = fixture();
        assert_eq!(create(&f.kv, &f.root, "a/b", vec![], String::new()).unwrap_err().kind, ErrorKind::InvalidArgument);
        assert_eq!(create(&f.kv, &f.root, "x1", opts(&[("type", "tmpfs")]), String::new()).unwrap_err().kind, ErrorKind::InvalidArgument);
        assert!(list(&f.kv).unwrap().is_empty());
        assert_eq!(std::fs::read_dir(&f.root.0).unwrap().count(), 0);
    }

    #[test]
    fn the_first_caller_gets_the_tmpfs_and_the_last_one_unmounts_it() {
        let f = fixture();
        create(&f.kv, &f.root, "scratch", opts(TMPFS), String::new()).unwrap();
        assert_eq!(path(&f.kv, "scratch").unwrap(), None, "not mounted yet");
        let first = mount(&f.kv, &f.root, "scratch", "c1").unwrap();
        assert_eq!(first.path, "scratch/_data");
        assert_eq!(first.mounts.len(), 1);
        let spec = &first.mounts[0];
        assert_eq!((spec.fstype.as_str(), spec.target.as_str()), ("tmpfs", "scratch/_data"));
        assert_eq!(spec.options, ["size=64m", "mode=1777"]);
        assert!(mount(&f.kv, &f.root, "scratch", "c2").unwrap().mounts.is_empty());
        assert!(mount(&f.kv, &f.root, "scratch", "c1").unwrap().mounts.is_empty(), "a caller mounting again");
        assert_eq!(path(&f.kv, "scratch").unwrap().as_deref(), Some("scratch/_data"));
        assert!(unmount(&f.kv, "scratch", "c1").unwrap().is_empty());
        assert!(unmount(&f.kv, "scratch", "c1").unwrap().is_empty(), "unknown caller");
        assert_eq!(unmount(&f.kv, "scratch", "c2").unwrap(), ["scratch/_data"]);
    }

    #[test]
    fn a_bind_plan_names_the_host_directory() {
        let f = fixture();
        create(&f.kv, &f.root, "host", opts(&[("type", "none"), ("o", "bind,ro"), ("device", "/srv/data")]), String::new()).unwrap();
        let plan = mount(&f.kv, &f.root, "host", "c1").unwrap();
        let spec = &plan.mounts[0];
        assert_eq!((spec.fstype.as_str(), spec.source.as_str(), spec.options.as_slice()), ("bind", "/srv/data", &["ro".to_owned()][..]));
    }

    #[test]
    fn a_plain_directory_needs_no_mount() {
        let f = fixture();
        create(&f.kv, &f.root, "plain", vec![], String::new()).unwrap();
        assert_eq!(path(&f.kv, "plain").unwrap().as_deref(), Some("plain/_data"));
        assert!(mount(&f.kv, &f.root, "plain", "c1").unwrap().mounts.is_empty());
        assert!(unmount(&f.kv, "plain", "c1").unwrap().is_empty());
    }

    #[test]
    fn remove_is_refused_while_mounted_then_removes_everything() {
        let f = fixture();
        create(&f.kv, &f.root, "data", vec![], String::new()).unwrap();
        std::fs::write(f.root.0.join("data/_data/file"), b"x").unwrap();
        mount(&f.kv, &f.root, "data", "c1").unwrap();
        let err = remove(&f.kv, &f.root, "data").unwrap_err();
        assert!(err.message.contains("in use by c1"), "{}", err.message);
        unmount(&f.kv, "data", "c1").unwrap();
        remove(&f.kv, &f.root, "data").unwrap();
        assert!(!f.root.0.join("data").exists());
        assert_eq!(get(&f.kv, "data").unwrap_err().kind, ErrorKind::NotFound);
        assert_eq!(remove(&f.kv, &f.root, "data").unwrap_err().kind, ErrorKind::NotFound);
    }

    #[test]
    fn remove_never_empties_a_data_dir_that_should_be_a_mount_point() {
        let f = fixture();
        create(&f.kv, &f.root, "scratch", opts(TMPFS), String::new()).unwrap();
        // What a leftover mount looks like from inside: files in the data directory.
        std::fs::write(f.root.0.join("scratch/_data/precious"), b"x").unwrap();
        assert_eq!(remove(&f.kv, &f.root, "scratch").unwrap_err().kind, ErrorKind::Io);
        assert!(f.root.0.join("scratch/_data/precious").exists());
        assert!(get(&f.kv, "scratch").is_ok(), "the volume is kept");
    }
}
