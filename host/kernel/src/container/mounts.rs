//! The OCI `mounts` of a container: fstab-style options parsed into mount(2) flags,
//! propagation and data the way runc parses them, and each mount performed inside the
//! rootfs through [`Root`] (the destination is resolved with `RESOLVE_IN_ROOT`, so a
//! symlink in the image cannot send a mount outside the container).
//!
//! Bind mounts take their flags in a second step (mount(2) ignores `MS_RDONLY` & co.
//! on a new bind): bind, then remount the new mount with the flags. A `sysfs` mount in a
//! container without its own network namespace becomes a read-only, non-recursive bind
//! of the host's `/sys` (a fresh sysfs shows the mounter's network namespace).
//!
//! A `cgroup` mount (Docker's `/sys/fs/cgroup`) shows the container its own cgroup, as
//! runc does: on cgroup v1 a tmpfs holding a bind of the container's directory in each
//! hierarchy it was placed in (`memory`, `cpu`, ...), on v2 a bind of its directory in
//! the unified hierarchy; read-only when the options say `ro`. The directories are
//! filled in by the shim once the cgroup exists ([`crate::container::Config::show_cgroup`]).

use std::ffi::CString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use super::rootfs::Root;
use super::sys;

/// One mount, checked and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOp {
    /// Relative to the container's root, without `.` or empty components.
    pub destination: String,
    pub source: MountSource,
    /// `MS_*` flags other than bind and propagation.
    pub flags: libc::c_ulong,
    /// `MS_PRIVATE`, `MS_SLAVE`, ... (with `MS_REC` for the `r` forms), or 0.
    pub propagation: libc::c_ulong,
    /// Filesystem options (`mode=755,size=65536k`).
    pub data: String,
}

/// What gets mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A new filesystem instance (`proc`, `tmpfs`, `devpts`, ...).
    Fresh { fstype: String, source: String },
    /// A host path (file or directory), `rbind` when recursive.
    Bind { source: PathBuf, recursive: bool },
    /// The container's own cgroup directories (see the module docs).
    Cgroup { hierarchies: Vec<CgroupDir> },
}

/// One directory of the container's cgroup, shown at `<destination>/<name>`; the name
/// is empty for the unified (v2) hierarchy, which is shown at the destination itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupDir {
    /// The hierarchy's mount point name (`memory`, `cpu,cpuacct`), or empty for v2.
    pub name: String,
    pub dir: PathBuf,
}

impl fmt::Display for MountOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            MountSource::Fresh { fstype, .. } => write!(f, "mount {fstype} at /{}", self.destination),
            MountSource::Bind { source, .. } => write!(f, "bind {} at /{}", source.display(), self.destination),
            MountSource::Cgroup { .. } => write!(f, "mount the container's cgroup at /{}", self.destination),
        }
    }
}

/// A destination as a relative path inside the root: absolute or not, no `..`.
pub(crate) fn relative(path: &str) -> Result<String, String> {
    if path.contains('\0') {
        return Err(format!("{path:?} contains a NUL byte"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("{path:?} contains `..`")),
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(format!("{path:?} names the root itself"));
    }
    Ok(parts.join("/"))
}

/// Parsed fstab-style options.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    pub flags: libc::c_ulong,
    pub propagation: libc::c_ulong,
    pub data: Vec<String>,
}

/// Parse options as runc does: flags set or cleared in order, propagation kept apart,
/// anything else is filesystem data.
pub(crate) fn parse_options(options: &[String]) -> Options {
    let mut out = Options::default();
    for option in options {
        let (set, flag): (bool, libc::c_ulong) = match option.as_str() {
            "defaults" => continue,
            "ro" => (true, libc::MS_RDONLY),
            "rw" => (false, libc::MS_RDONLY),
            "nosuid" => (true, libc::MS_NOSUID),
            "suid" => (false, libc::MS_NOSUID),
            "nodev" => (true, libc::MS_NODEV),
            "dev" => (false, libc::MS_NODEV),
            "noexec" => (true, libc::MS_NOEXEC),
            "exec" => (false, libc::MS_NOEXEC),
            "sync" => (true, libc::MS_SYNCHRONOUS),
            "async" => (false, libc::MS_SYNCHRONOUS),
            "dirsync" => (true, libc::MS_DIRSYNC),
            "remount" => (true, libc::MS_REMOUNT),
            "mand" => (true, libc::MS_MANDLOCK),
            "nomand" => (false, libc::MS_MANDLOCK),
            "atime" => (false, libc::MS_NOATIME),
            "noatime" => (true, libc::MS_NOATIME),
            "diratime" => (false, libc::MS_NODIRATIME),
            "nodiratime" => (true, libc::MS_NODIRATIME),
            "relatime" => (true, libc::MS_RELATIME),
            "norelatime" => (false, libc::MS_RELATIME),
            "strictatime" => (true, libc::MS_STRICTATIME),
            "nostrictatime" => (false, libc::MS_STRICTATIME),
            "bind" => (true, libc::MS_BIND),
            "rbind" => (true, libc::MS_BIND | libc::MS_REC),
            propagation @ ("private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable") => {
                let base = match propagation.trim_start_matches('r') {
                    "private" => libc::MS_PRIVATE,
                    "shared" => libc::MS_SHARED,
                    "slave" => libc::MS_SLAVE,
                    _ => libc::MS_UNBINDABLE,
                };
                out.propagation = if propagation.starts_with('r') { base | libc::MS_REC } else { base };
                continue;
            }
            data => {
                out.data.push(data.to_owned());
                continue;
            }
        };
        if set {
            out.flags |= flag;
        } else {
            out.flags &= !flag;
        }
    }
    out
}

impl MountOp {
    /// Check and parse one spec mount. `has_network` says whether the container has its
    /// own network namespace (see the module docs for `sysfs` without one).
    pub fn from_oci(m: &Mount, has_network: bool) -> Result<MountOp, String> {
        let destination = relative(&m.destination().to_string_lossy())?;
        let fstype = m.typ().clone().unwrap_or_else(|| "none".into());
        let options = parse_options(m.options().as_deref().unwrap_or_default());
        let is_bind = fstype == "bind" || options.flags & libc::MS_BIND != 0;
        let flags = options.flags & !(libc::MS_BIND | libc::MS_REC);
        if fstype.contains('\0') || options.data.iter().any(|d| d.contains('\0')) {
            return Err("contains a NUL byte".into());
        }
        let source = if is_bind {
            let source = m.source().clone().ok_or("a bind mount needs a source")?;
            if !source.is_absolute() {
                return Err(format!("bind source {} is not absolute", source.display()));
            }
            MountSource::Bind { source, recursive: options.flags & libc::MS_REC != 0 }
        } else if fstype == "cgroup" || fstype == "cgroup2" {
            MountSource::Cgroup { hierarchies: Vec::new() }
        } else if fstype == "sysfs" && !has_network {
            return Ok(MountOp {
                destination,
                source: MountSource::Bind { source: "/sys".into(), recursive: false },
                flags: flags | libc::MS_RDONLY,
                propagation: options.propagation,
                data: String::new(),
            });
        } else {
            let source = m.source().as_ref().map_or_else(|| fstype.clone(), |s| s.to_string_lossy().into_owned());
            MountSource::Fresh { fstype, source }
        };
        Ok(MountOp { destination, source, flags, propagation: options.propagation, data: options.data.join(",") })
    }

    /// Perform the mount inside `root`, creating the mount point (a directory, or an
    /// empty file when a file is bound).
    pub(crate) fn mount_in(&self, root: &Root) -> io::Result<()> {
        match &self.source {
            MountSource::Fresh { fstype, source } => {
                let target = root.make_dir(&self.destination)?;
                let (fstype, source, data) = (cstring(fstype)?, cstring(source)?, cstring(&self.data)?);
                let data = (!self.data.is_empty()).then_some(data.as_c_str());
                sys::mount(Some(&source), &sys::proc_fd(&target), Some(&fstype), self.flags, data)?;
            }
            MountSource::Bind { source, recursive } => {
                bind(root, source, &self.destination, *recursive, self.flags)?;
            }
            MountSource::Cgroup { hierarchies } => match hierarchies.as_slice() {
                [unified] if unified.name.is_empty() => bind(root, &unified.dir, &self.destination, false, self.flags)?,
                hierarchies => {
                    let target = root.make_dir(&self.destination)?;
                    let rw = self.flags & !libc::MS_RDONLY;
                    sys::mount(Some(c"tmpfs"), &sys::proc_fd(&target), Some(c"tmpfs"), rw, Some(c"mode=755"))?;
                    let tmpfs = root.resolve(&self.destination)?;
                    for h in hierarchies {
                        bind(root, &h.dir, &format!("{}/{}", self.destination, h.name), false, self.flags)?;
                        // `cpu` and `cpuacct` links to a combined `cpu,cpuacct`, as on the host.
                        for part in h.name.split(',').filter(|_| h.name.contains(',')) {
                            match rustix::fs::symlinkat(h.name.as_str(), &tmpfs, part) {
                                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                                Err(e) => return Err(e.into()),
                            }
                        }
                    }
                    if self.flags & libc::MS_RDONLY != 0 {
                        sys::mount(None, &sys::proc_fd(&tmpfs), None, libc::MS_BIND | libc::MS_REMOUNT | self.flags, None)?;
                    }
                }
            },
        }
        if self.propagation != 0 {
            let mounted = root.resolve(&self.destination)?;
            sys::mount(None, &sys::proc_fd(&mounted), None, self.propagation, None)?;
        }
        Ok(())
    }
}

/// Bind host path `source` at `destination` in `root` (a directory, or an empty file for
/// a file), then remount it with `flags` if there are any.
fn bind(root: &Root, source: &Path, destination: &str, recursive: bool, flags: libc::c_ulong) -> io::Result<()> {
    let source_fd = rustix::fs::open(source, rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())?;
    let is_dir = rustix::fs::fstat(&source_fd).map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir())?;
    let target = if is_dir { root.make_dir(destination)? } else { root.make_file(destination)? };
    let rec = if recursive { libc::MS_REC } else { 0 };
    sys::mount(Some(&sys::proc_fd(&source_fd)), &sys::proc_fd(&target), None, libc::MS_BIND | rec, None)?;
    if flags != 0 {
        // The target descriptor still names the covered inode: look it up again.
        let mounted = root.resolve(destination)?;
        sys::mount(None, &sys::proc_fd(&mounted), None, libc::MS_BIND | libc::MS_REMOUNT | flags, None)?;
    }
    Ok(())
}

fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::MountBuilder;

    fn op(destination: &str, typ: &str, source: &str, options: &[&str], has_network: bool) -> MountOp {
        let m = MountBuilder::default()
            .destination(destination)
            .typ(typ)
            .source(source)
            .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
            .build()
            .unwrap();
        MountOp::from_oci(&m, has_network).unwrap()
    }

    #[test]
    fn docker_default_dev_tmpfs_parses_to_flags_and_data() {
        let m = op("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"], true);
        assert_eq!(m.destination, "dev");
        assert_eq!(m.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(m.data, "mode=755,size=65536k");
        assert_eq!(m.source, MountSource::Fresh { fstype: "tmpfs".into(), source: "tmpfs".into() });
        assert_eq!(m.to_string(), "mount tmpfs at /dev");
    }

    #[test]
    fn devpts_keeps_its_filesystem_options_as_data() {
        let m = op("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"], true);
        assert_eq!(m.flags, libc::MS_NOSUID | libc::MS_NOEXEC);
        assert_eq!(m.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    }

    #[test]
    fn readonly_rbind_with_propagation() {
        let m = op("/etc/hosts", "bind", "/bundle/hosts", &["rbind", "rprivate", "ro"], true);
        assert_eq!(m.source, MountSource::Bind { source: "/bundle/hosts".into(), recursive: true });
        assert_eq!(m.flags, libc::MS_RDONLY);
        assert_eq!(m.propagation, libc::MS_PRIVATE | libc::MS_REC);
        assert_eq!(m.to_string(), "bind /bundle/hosts at /etc/hosts");
    }

    #[test]
    fn later_options_override_earlier_ones() {
        assert_eq!(parse_options(&["ro".into(), "rw".into()]).flags, 0);
        assert_eq!(parse_options(&["nosuid".into(), "suid".into(), "noexec".into()]).flags, libc::MS_NOEXEC);
    }

    #[test]
    fn sysfs_without_a_network_namespace_binds_the_hosts_sys_read_only() {
        let m = op("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"], false);
        assert_eq!(m.source, MountSource::Bind { source: "/sys".into(), recursive: false });
        assert_eq!(m.flags & libc::MS_RDONLY, libc::MS_RDONLY);
        let fresh = op("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"], true);
        assert!(matches!(fresh.source, MountSource::Fresh { .. }));
    }

    #[test]
    fn destinations_are_relative_and_never_climb() {
        assert_eq!(relative("/dev//pts/.").unwrap(), "dev/pts");
        assert!(relative("/../etc").is_err());
        assert!(relative("/").is_err());
        let m = MountBuilder::default().destination("/x").typ("bind").source("relative/src").options(vec!["bind".to_string()]).build().unwrap();
        assert!(MountOp::from_oci(&m, true).is_err());
    }
}
