//! Host devices in a container: `--device HOST[:CONTAINER[:rwm]]` resolved at create
//! into the node it names on the host (its type, major:minor, mode and owner, after
//! following a symlink; a directory stands for the device nodes beneath it, as Docker's
//! `DevicesFromPath`), and, for `--privileged`, every device node of the host's `/dev`
//! (as containerd's `HostDevices`: char and block nodes, not under `pts`, `shm`,
//! `mqueue`, `fd`, nor `/dev/console`).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use hostctl_api::options::valid_device_mode;
use hostctl_api::types::DeviceMapping;
use serde::{Deserialize, Serialize};

/// Why a `--device` cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("error gathering device information while adding custom device {path:?}: {reason}")]
    NotADevice { path: String, reason: String },
    #[error("device {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    #[error("device {path:?}: invalid cgroup permissions {permissions:?}: expected some of r, w, m")]
    BadPermissions { path: String, permissions: String },
}

/// A char or block device node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNode {
    /// Where it is made in the container (absolute).
    pub path: String,
    /// `c` or `b`.
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    /// Permission bits.
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A `--device` node and what the device cgroup lets the container do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedDevice {
    pub node: DeviceNode,
    /// Some of `r`, `w`, `m`.
    pub permissions: String,
}

/// Resolve one `--device`: the node(s) it names on the host, made at its container path.
pub fn resolve(mapping: &DeviceMapping) -> Result<Vec<GrantedDevice>, DeviceError> {
    let host = mapping.path_on_host.as_str();
    let bad = |reason| DeviceError::BadPath { path: host.to_owned(), reason };
    if !host.starts_with('/') {
        return Err(bad("the host path must be absolute"));
    }
    let container = if mapping.path_in_container.is_empty() { host } else { mapping.path_in_container.as_str() };
    if !container.starts_with('/') || container == "/" || Path::new(container).components().any(|c| c == Component::ParentDir) {
        return Err(DeviceError::BadPath { path: container.to_owned(), reason: "the container path must be absolute, below / and without `..`" });
    }
    let permissions = if mapping.cgroup_permissions.is_empty() { "rwm" } else { mapping.cgroup_permissions.as_str() };
    if !valid_device_mode(permissions) {
        return Err(DeviceError::BadPermissions { path: host.to_owned(), permissions: permissions.to_owned() });
    }
    let not_a_device = |reason: String| DeviceError::NotADevice { path: host.to_owned(), reason };
    let resolved = std::fs::canonicalize(host).map_err(|e| not_a_device(e.to_string()))?;
    let nodes = match node(&resolved, container) {
        Some(node) => vec![node],
        None if resolved.is_dir() => nodes_beneath(&resolved, Path::new(container), &[]),
        None => Vec::new(),
    };
    if nodes.is_empty() {
        return Err(not_a_device("not a device node".into()));
    }
    Ok(nodes.into_iter().map(|node| GrantedDevice { node, permissions: permissions.to_owned() }).collect())
}

/// Every device node of the host's `/dev`, at the same paths (`--privileged`).
pub fn host_devices() -> Vec<DeviceNode> {
    nodes_beneath(Path::new("/dev"), Path::new("/dev"), &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"])
}

/// The char or block node at `path` (not following a symlink), made at `container`.
fn node(path: &Path, container: &str) -> Option<DeviceNode> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let kind = match meta.file_type() {
        t if t.is_char_device() => 'c',
        t if t.is_block_device() => 'b',
        _ => return None,
    };
    let rdev = meta.rdev();
    Some(DeviceNode {
        path: container.to_owned(),
        kind,
        major: i64::from(rustix::fs::major(rdev)),
        minor: i64::from(rustix::fs::minor(rdev)),
        file_mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

/// The device nodes beneath directory `dir`, made beneath `container`, skipping the
/// subdirectories named in `skip` and `console` (symlinks are neither followed nor kept).
fn nodes_beneath(dir: &Path, container: &Path, skip: &[&str]) -> Vec<DeviceNode> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let (path, target): (PathBuf, PathBuf) = (entry.path(), container.join(&name));
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                if !skip.iter().any(|s| name == *s) {
                    out.extend(nodes_beneath(&path, &target, &[]));
                }
            }
            _ if name == "console" => {}
            _ => out.extend(node(&path, &target.to_string_lossy())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(host: &str, container: &str, permissions: &str) -> DeviceMapping {
        DeviceMapping { path_on_host: host.into(), path_in_container: container.into(), cgroup_permissions: permissions.into() }
    }

    #[test]
    fn a_device_is_resolved_to_its_type_and_numbers() {
        let got = resolve(&mapping("/dev/null", "/dev/mynull", "r")).unwrap();
        assert_eq!(got.len(), 1);
        let GrantedDevice { node, permissions } = &got[0];
        assert_eq!((node.path.as_str(), node.kind, node.major, node.minor), ("/dev/mynull", 'c', 1, 3));
        assert_eq!(node.file_mode, 0o666);
        assert_eq!(permissions, "r");
        let defaulted = resolve(&mapping("/dev/zero", "", "")).unwrap();
        assert_eq!((defaulted[0].node.path.as_str(), defaulted[0].permissions.as_str()), ("/dev/zero", "rwm"));
    }

    #[test]
    fn a_symlink_is_followed_to_its_device() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let got = resolve(&mapping(link.to_str().unwrap(), "/dev/n", "rwm")).unwrap();
        assert_eq!((got[0].node.major, got[0].node.minor), (1, 3));
    }

    #[test]
    fn what_is_not_a_device_is_refused_by_name() {
        assert_eq!(
            resolve(&mapping("/etc/passwd", "", "rwm")).unwrap_err().to_string(),
            "error gathering device information while adding custom device \"/etc/passwd\": not a device node"
        );
        assert!(resolve(&mapping("/nonexistent", "", "rwm")).unwrap_err().to_string().contains("\"/nonexistent\""));
        let empty = tempfile::tempdir().unwrap();
        assert!(resolve(&mapping(empty.path().to_str().unwrap(), "/x", "rwm")).is_err(), "a directory without devices");
        assert!(resolve(&mapping("dev/null", "/x", "rwm")).unwrap_err().to_string().contains("absolute"));
        assert!(resolve(&mapping("/dev/null", "/dev/../x", "rwm")).is_err());
        assert!(resolve(&mapping("/dev/null", "x", "rwm")).is_err());
        assert_eq!(
            resolve(&mapping("/dev/null", "", "rwx")).unwrap_err().to_string(),
            "device \"/dev/null\": invalid cgroup permissions \"rwx\": expected some of r, w, m"
        );
    }

    #[test]
    fn the_hosts_dev_holds_its_nodes_without_pts_or_console() {
        let nodes = host_devices();
        assert!(nodes.iter().any(|n| n.path == "/dev/null" && n.kind == 'c'), "{nodes:?}");
        assert!(!nodes.iter().any(|n| n.path.starts_with("/dev/pts/") || n.path == "/dev/console"));
        assert!(nodes.iter().all(|n| n.kind == 'c' || n.kind == 'b'));
    }
}
