//! Overlay, tmpfs and bind mounts of directories inside a [`ConfinedDir`].
//!
//! A storage or volume driver's mount plan names directories relative to the driver's
//! root. The [`Kernel`] mounter opens each of them beneath the root (see
//! [`crate::confined`]) and hands mount(2) the `/proc/self/fd/N` path of the open
//! descriptor, so the directory the kernel mounts is the one that was checked, whatever
//! the driver does meanwhile, and the option string stays short (about 17 bytes a layer:
//! ~200 layers fit in one page). The one path from outside the root, a host directory a
//! volume binds ([`MountSpec::HostBind`]), is opened with `RESOLVE_NO_SYMLINKS`: it must
//! be the real path the caller checked, not one a symlink swapped in since.
//!
//! [`Mounter`] is the seam for tests: [`Recorder`] logs what would be mounted and can be
//! told to fail, so plan execution and its rollback are unit tested without root.

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{MountFlags, UnmountFlags};

use crate::confined::{ConfinedDir, ConfinedError, proc_fd_path};

/// One mount, with paths relative to a [`ConfinedDir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    /// An overlay of `lowerdirs` (top-most first), writable when `upperdir` and `workdir`
    /// are given; `flags` are plain overlay options such as `index=off`.
    Overlay {
        target: String,
        lowerdirs: Vec<String>,
        upperdir: Option<String>,
        workdir: Option<String>,
        flags: Vec<String>,
    },
    /// A bind mount of `source` at `target`.
    Bind { source: String, target: String, read_only: bool },
    /// A tmpfs at `target`. `options` are tmpfs's own (`size=64m`, `mode=1777`, `uid=`,
    /// `gid=`, `nr_inodes=`) and the flags `ro`, `rw`, `nosuid`, `nodev`, `noexec`.
    Tmpfs { target: String, options: Vec<String> },
    /// A bind mount of the host directory `source` (absolute, the real path: no
    /// component may be a symlink) at `target` inside the root.
    HostBind { source: PathBuf, target: String, read_only: bool },
}

impl MountSpec {
    /// Where the mount goes.
    pub fn target(&self) -> &str {
        match self {
            MountSpec::Overlay { target, .. }
            | MountSpec::Bind { target, .. }
            | MountSpec::Tmpfs { target, .. }
            | MountSpec::HostBind { target, .. } => target,
        }
    }
}

impl fmt::Display for MountSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountSpec::Overlay { target, lowerdirs, upperdir, workdir, flags } => {
                write!(f, "overlay at {target} lowerdir={}", lowerdirs.join(":"))?;
                if let (Some(upper), Some(work)) = (upperdir, workdir) {
                    write!(f, " upperdir={upper} workdir={work}")?;
                }
                for flag in flags {
                    write!(f, " {flag}")?;
                }
                Ok(())
            }
            MountSpec::Bind { source, target, read_only } => {
                write!(f, "bind {source} at {target}{}", if *read_only { " ro" } else { "" })
            }
            MountSpec::Tmpfs { target, options } => {
                write!(f, "tmpfs at {target}")?;
                for option in options {
                    write!(f, " {option}")?;
                }
                Ok(())
            }
            MountSpec::HostBind { source, target, read_only } => {
                write!(f, "bind host {} at {target}{}", source.display(), if *read_only { " ro" } else { "" })
            }
        }
    }
}

/// Why a mount or unmount failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// A path in the spec does not resolve beneath the root.
    #[error(transparent)]
    Path(#[from] ConfinedError),
    /// The spec itself is unusable.
    #[error("{spec}: {reason}")]
    Invalid { spec: String, reason: String },
    /// mount(2) or umount2(2) failed.
    #[error("{spec}: {source}")]
    Kernel {
        spec: String,
        #[source]
        source: std::io::Error,
    },
}

/// Performs mounts. Implemented by the real [`Kernel`] and the [`Recorder`] fake.
pub trait Mounter: Send + Sync + fmt::Debug {
    /// Mount `spec` inside `root`.
    fn mount(&self, root: &ConfinedDir, spec: &MountSpec) -> Result<(), MountError>;
    /// Unmount whatever is mounted at `target` inside `root` (lazily, as Docker does).
    fn unmount(&self, root: &ConfinedDir, target: &str) -> Result<(), MountError>;
    /// Whether a mount sits at directory `target` inside `root` (a missing one has none).
    fn is_mounted(&self, root: &ConfinedDir, target: &str) -> Result<bool, MountError>;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Kernel;

/// The largest option string mount(2) takes: one page.
const MAX_MOUNT_DATA: usize = 4095;

impl Mounter for Kernel {
    fn mount(&self, root: &ConfinedDir, spec: &MountSpec) -> Result<(), MountError> {
        let failed = |source: rustix::io::Errno| MountError::Kernel { spec: spec.to_string(), source: source.into() };
        match spec {
            MountSpec::Overlay { target, lowerdirs, upperdir, workdir, flags } => {
                if lowerdirs.is_empty() {
                    return Err(MountError::Invalid { spec: spec.to_string(), reason: "an overlay needs a lowerdir".into() });
                }
                if upperdir.is_some() != workdir.is_some() {
                    return Err(MountError::Invalid { spec: spec.to_string(), reason: "upperdir and workdir go together".into() });
                }
                if let Some(flag) = flags.iter().find(|f| !is_plain_option(f)) {
                    return Err(MountError::Invalid { spec: spec.to_string(), reason: format!("option {flag:?} is not a plain overlay option") });
                }
                // Keep every descriptor open until mount(2) has returned.
                let lowers = lowerdirs.iter().map(|d| root.open_dir(d)).collect::<Result<Vec<_>, _>>()?;
                let upper = upperdir.as_deref().map(|d| root.open_dir(d)).transpose()?;
                let work = workdir.as_deref().map(|d| root.open_dir(d)).transpose()?;
                let target_fd = root.open_dir(target)?;
                let mut data = String::from("lowerdir=");
                let lower_paths: Vec<String> = lowers.iter().map(|fd| cstr(proc_fd_path(fd))).collect();
                data.push_str(&lower_paths.join(":"));
                if let (Some(upper), Some(work)) = (&upper, &work) {
                    data.push_str(&format!(",upperdir={},workdir={}", cstr(proc_fd_path(upper)), cstr(proc_fd_path(work))));
                }
                for flag in flags {
                    data.push(',');
                    data.push_str(flag);
                }
                if data.len() > MAX_MOUNT_DATA {
                    return Err(MountError::Invalid {
                        spec: spec.to_string(),
                        reason: format!("{} layers do not fit in one mount(2) call", lowerdirs.len()),
                    });
                }
                let data = std::ffi::CString::new(data).expect("paths checked for NUL");
                rustix::mount::mount("overlay", proc_fd_path(&target_fd).as_c_str(), "overlay", MountFlags::empty(), data.as_c_str())
                    .map_err(failed)
            }
            MountSpec::Bind { source, target, read_only } => {
                let source_fd = root.open_dir(source)?;
                self.bind(root, spec, &source_fd, target, *read_only)
            }
            MountSpec::HostBind { source, target, read_only } => {
                let source_fd = open_host_dir(source).map_err(|e| match e {
                    rustix::io::Errno::LOOP | rustix::io::Errno::INVAL => MountError::Invalid {
                        spec: spec.to_string(),
                        reason: "the source must be an absolute path without symlinks".into(),
                    },
                    e => failed(e),
                })?;
                self.bind(root, spec, &source_fd, target, *read_only)
            }
            MountSpec::Tmpfs { target, options } => {
                let (flags, data) = tmpfs_options(options).map_err(|reason| MountError::Invalid { spec: spec.to_string(), reason })?;
                let target_fd = root.open_dir(target)?;
                let data = std::ffi::CString::new(data).expect("options checked for NUL");
                rustix::mount::mount("tmpfs", proc_fd_path(&target_fd).as_c_str(), "tmpfs", flags, data.as_c_str()).map_err(failed)
            }
        }
    }

    fn unmount(&self, root: &ConfinedDir, target: &str) -> Result<(), MountError> {
        let mounted = root.open_mounted_dir(target)?;
        rustix::mount::unmount(proc_fd_path(&mounted).as_c_str(), UnmountFlags::DETACH)
            .map_err(|source| MountError::Kernel { spec: format!("unmount {target}"), source: source.into() })
    }

    /// A mount point is on another mount than its parent directory (statx's mount id).
    fn is_mounted(&self, root: &ConfinedDir, target: &str) -> Result<bool, MountError> {
        let target = target.trim_end_matches('/');
        let dir = match root.open_mounted_dir(target) {
            Ok(dir) => dir,
            Err(ConfinedError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(err.into()),
        };
        let parent = root.open_dir(target.rsplit_once('/').map_or("", |(parent, _)| parent))?;
        let mount_id = |fd: &OwnedFd| {
            rustix::fs::statx(fd, "", rustix::fs::AtFlags::EMPTY_PATH, rustix::fs::StatxFlags::MNT_ID)
                .map(|st| st.stx_mnt_id)
                .map_err(|source| MountError::Kernel { spec: format!("statx {target}"), source: source.into() })
        };
        Ok(mount_id(&dir)? != mount_id(&parent)?)
    }
}

impl Kernel {
    /// Bind the directory open as `source_fd` at `target` beneath `root`, then make the
    /// bind read-only if asked (undoing it if that fails).
    fn bind(&self, root: &ConfinedDir, spec: &MountSpec, source_fd: &OwnedFd, target: &str, read_only: bool) -> Result<(), MountError> {
        let failed = |source: rustix::io::Errno| MountError::Kernel { spec: spec.to_string(), source: source.into() };
        let target_fd = root.open_dir(target)?;
        rustix::mount::mount_bind(proc_fd_path(source_fd).as_c_str(), proc_fd_path(&target_fd).as_c_str()).map_err(failed)?;
        if read_only {
            // Re-open the target: the descriptor now lands on the new mount's root.
            let remount = root.open_mounted_dir(target).map_err(MountError::from).and_then(|mounted| {
                rustix::mount::mount_remount(proc_fd_path(&mounted).as_c_str(), MountFlags::BIND | MountFlags::RDONLY, "")
                    .map_err(failed)
            });
            if let Err(err) = remount {
                let _ = self.unmount(root, target);
                return Err(err);
            }
        }
        Ok(())
    }
}

/// Open host directory `path` (absolute) as `O_PATH`, following no symlink on the way
/// (`ELOOP` if one is met), so the directory is the one whose real path was checked.
fn open_host_dir(path: &Path) -> Result<OwnedFd, rustix::io::Errno> {
    if !path.is_absolute() {
        return Err(rustix::io::Errno::INVAL);
    }
    rustix::fs::openat2(
        rustix::fs::CWD,
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

/// The mount flags a tmpfs option may set.
const TMPFS_FLAGS: &[(&str, MountFlags)] = &[
    ("ro", MountFlags::RDONLY),
    ("rw", MountFlags::empty()),
    ("nosuid", MountFlags::NOSUID),
    ("nodev", MountFlags::NODEV),
    ("noexec", MountFlags::NOEXEC),
];

/// The tmpfs options that go to the filesystem, each `key=value`.
const TMPFS_DATA: &[&str] = &["size", "mode", "uid", "gid", "nr_inodes"];

/// Split tmpfs `options` into mount flags and the filesystem's option string, refusing
/// anything else (an unknown key, a value with a separator or a path in it).
pub fn tmpfs_options(options: &[String]) -> Result<(MountFlags, String), String> {
    let mut flags = MountFlags::empty();
    let mut data = Vec::new();
    for option in options {
        if let Some((_, flag)) = TMPFS_FLAGS.iter().find(|(name, _)| name == option) {
            flags |= *flag;
            continue;
        }
        match option.split_once('=') {
            Some((key, value)) if TMPFS_DATA.contains(&key) && !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '%') => {
                data.push(option.as_str());
            }
            _ => {
                return Err(format!(
                    "tmpfs option {option:?} is not one of ro, rw, nosuid, nodev, noexec, size=, mode=, uid=, gid=, nr_inodes="
                ));
            }
        }
    }
    Ok((flags, data.join(",")))
}

/// `index=off`, `volatile`, `redirect_dir=nofollow`: no separators, no paths.
fn is_plain_option(option: &str) -> bool {
    let (key, value) = option.split_once('=').unwrap_or((option, ""));
    let word = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    !key.is_empty() && word(key) && word(value) && !matches!(key, "lowerdir" | "upperdir" | "workdir" | "datadir")
}

fn cstr(c: std::ffi::CString) -> String {
    c.into_string().expect("proc paths are ASCII")
}

/// A fake [`Mounter`] that records what it is asked to do, for unit tests.
#[derive(Debug, Default)]
pub struct Recorder {
    log: Mutex<Vec<String>>,
    fail_mount: Mutex<Option<usize>>,
    mounted: Mutex<Vec<String>>,
}

impl Recorder {
    /// A recorder whose `n`-th mount call (counting from 0) fails.
    pub fn failing_mount(n: usize) -> Self {
        Recorder { fail_mount: Mutex::new(Some(n)), ..Recorder::default() }
    }

    /// Everything asked so far, one line each: `mount <spec>` or `unmount <target>`.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Mounter for Recorder {
    fn mount(&self, _root: &ConfinedDir, spec: &MountSpec) -> Result<(), MountError> {
        let mut log = self.log.lock().unwrap();
        let index = log.iter().filter(|l| l.starts_with("mount ")).count();
        if *self.fail_mount.lock().unwrap() == Some(index) {
            return Err(MountError::Kernel { spec: spec.to_string(), source: std::io::Error::other("recorder told to fail") });
        }
        log.push(format!("mount {spec}"));
        self.mounted.lock().unwrap().push(spec.target().to_owned());
        Ok(())
    }

    fn unmount(&self, _root: &ConfinedDir, target: &str) -> Result<(), MountError> {
        self.log.lock().unwrap().push(format!("unmount {target}"));
        let mut mounted = self.mounted.lock().unwrap();
        if let Some(at) = mounted.iter().rposition(|t| t == target) {
            mounted.remove(at);
        }
        Ok(())
    }

    /// Whether a mount recorded at `target` was not unmounted since.
    fn is_mounted(&self, _root: &ConfinedDir, target: &str) -> Result<bool, MountError> {
        Ok(self.mounted.lock().unwrap().iter().any(|t| t == target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_options_exclude_paths_and_separators() {
        assert!(is_plain_option("index=off"));
        assert!(is_plain_option("volatile"));
        assert!(!is_plain_option("upperdir=/etc"));
        assert!(!is_plain_option("index=off,upperdir=x"));
        assert!(!is_plain_option("lowerdir=a"));
        assert!(!is_plain_option(""));
    }

    /// Needs root (mount(2)); this suite runs as root, as the daemon does.
    #[test]
    fn overlay_of_confined_dirs_merges_and_unmounts() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["lower1", "lower2", "upper", "work", "merged"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("lower1/top"), b"1").unwrap();
        std::fs::write(dir.path().join("lower2/top"), b"2").unwrap();
        std::fs::write(dir.path().join("lower2/base"), b"b").unwrap();
        let root = ConfinedDir::open(dir.path()).unwrap();
        let spec = MountSpec::Overlay {
            target: "merged".into(),
            lowerdirs: vec!["lower1".into(), "lower2".into()],
            upperdir: Some("upper".into()),
            workdir: Some("work".into()),
            flags: vec!["index=off".into()],
        };
        Kernel.mount(&root, &spec).unwrap();
        let merged = dir.path().join("merged");
        let seen = (std::fs::read(merged.join("top")), std::fs::read(merged.join("base")));
        std::fs::write(merged.join("new"), b"n").unwrap();
        Kernel.unmount(&root, "merged").unwrap();
        assert_eq!(seen.0.unwrap(), b"1");
        assert_eq!(seen.1.unwrap(), b"b");
        assert_eq!(std::fs::read(dir.path().join("upper/new")).unwrap(), b"n");
        assert!(!merged.join("top").exists());
    }

    #[test]
    fn readonly_bind_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::create_dir(dir.path().join("dst")).unwrap();
        let root = ConfinedDir::open(dir.path()).unwrap();
        Kernel.mount(&root, &MountSpec::Bind { source: "src".into(), target: "dst".into(), read_only: true }).unwrap();
        let write = std::fs::write(dir.path().join("dst/x"), b"x");
        Kernel.unmount(&root, "dst").unwrap();
        assert_eq!(write.unwrap_err().raw_os_error(), Some(libc::EROFS));
    }

    #[test]
    fn tmpfs_options_split_into_flags_and_data() {
        let options: Vec<String> = ["size=64m", "mode=1777", "nosuid", "uid=1000", "ro"].iter().map(|s| s.to_string()).collect();
        let (flags, data) = tmpfs_options(&options).unwrap();
        assert_eq!(flags, MountFlags::NOSUID | MountFlags::RDONLY);
        assert_eq!(data, "size=64m,mode=1777,uid=1000");
        for bad in ["size=1m,uid=0", "mpol=bind:0", "size=", "context=/x", "suid"] {
            assert!(tmpfs_options(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn tmpfs_is_mounted_with_its_size_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("t")).unwrap();
        let root = ConfinedDir::open(dir.path()).unwrap();
        let spec = MountSpec::Tmpfs { target: "t".into(), options: vec!["size=1m".into(), "mode=0710".into()] };
        assert!(!Kernel.is_mounted(&root, "t").unwrap());
        Kernel.mount(&root, &spec).unwrap();
        assert!(Kernel.is_mounted(&root, "t").unwrap());
        let stat = rustix::fs::statvfs(dir.path().join("t"));
        let mode = std::fs::metadata(dir.path().join("t")).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777);
        Kernel.unmount(&root, "t").unwrap();
        assert!(!Kernel.is_mounted(&root, "t").unwrap());
        assert!(!Kernel.is_mounted(&root, "missing").unwrap());
        let stat = stat.unwrap();
        assert_eq!(stat.f_blocks * stat.f_frsize, 1 << 20);
        assert_eq!(mode.unwrap(), 0o710);
    }

    #[test]
    fn host_bind_shows_the_host_directory() {
        let dir = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("f"), b"host").unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let root = ConfinedDir::open(dir.path()).unwrap();
        let source = std::fs::canonicalize(host.path()).unwrap();
        Kernel.mount(&root, &MountSpec::HostBind { source, target: "data".into(), read_only: true }).unwrap();
        let seen = std::fs::read(dir.path().join("data/f"));
        let write = std::fs::write(dir.path().join("data/g"), b"x");
        Kernel.unmount(&root, "data").unwrap();
        assert_eq!(seen.unwrap(), b"host");
        assert_eq!(write.unwrap_err().raw_os_error(), Some(libc::EROFS));
    }

    #[test]
    fn host_bind_through_a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        std::fs::create_dir(host.path().join("real")).unwrap();
        std::os::unix::fs::symlink(host.path().join("real"), host.path().join("link")).unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let root = ConfinedDir::open(dir.path()).unwrap();
        let spec = MountSpec::HostBind { source: host.path().join("link"), target: "data".into(), read_only: false };
        let err = Kernel.mount(&root, &spec).unwrap_err();
        assert!(matches!(err, MountError::Invalid { .. }), "{err}");
        let relative = MountSpec::HostBind { source: "real".into(), target: "data".into(), read_only: false };
        assert!(matches!(Kernel.mount(&root, &relative), Err(MountError::Invalid { .. })));
    }

    #[test]
    fn overlay_lowerdir_symlink_leading_out_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("merged")).unwrap();
        std::os::unix::fs::symlink("/", dir.path().join("evil")).unwrap();
        let root = ConfinedDir::open(dir.path()).unwrap();
        let spec = MountSpec::Overlay {
            target: "merged".into(),
            lowerdirs: vec!["evil".into()],
            upperdir: None,
            workdir: None,
            flags: vec![],
        };
        let err = Kernel.mount(&root, &spec).unwrap_err();
        assert!(matches!(err, MountError::Path(ConfinedError::Escapes { .. })), "{err}");
    }
}
