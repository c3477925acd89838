//! Control groups: the kernel's accounting and limits for a container's processes.
//!
//! [`Hierarchies::detect`] reads `/proc/self/mountinfo` ([`mountinfo`]) and picks the
//! cgroup version the way runc does: if a v1 hierarchy carries the `memory` controller
//! (legacy or hybrid layout), the container's cgroup is made in the v1 hierarchies of
//! `memory`, `cpu`, `cpuacct`, `pids` and `devices` (one directory per mount: `cpu` and
//! `cpuacct` may be separate mounts or one); otherwise in the unified (cgroup2)
//! hierarchy, after enabling memory, cpu and pids in every ancestor's
//! `cgroup.subtree_control`. Device rules are enforced on v1 only (v2 needs a BPF
//! program, not written yet).
//! `cpuset` is not used: a new v1 cpuset cgroup needs `cpuset.cpus`/`cpuset.mems`
//! copied from its parent before a process may join, and no limit here needs it.
//!
//! A [`Cgroup`] is one container's cgroup (`linux.cgroupsPath`, absolute in each
//! hierarchy, or relative to this process's own cgroup). [`Limits`] are written as
//! plain file writes computed by [`v1::writes`] / [`v2::writes`] (unit tested without
//! root); [`Cgroup::join_handles`] opens the join file ahead of a fork so the child can
//! join with one async-signal-safe `write(2)`; [`Cgroup::oom_kills`] reads the OOM
//! killer's count; [`Cgroup::remove`] removes the directories (only the container's own
//! leaf: parents such as `/hostctl` are shared and stay).

pub mod mountinfo;
pub mod v1;
pub mod v2;

use std::fs;
use std::io::{self, Write as _};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use self::mountinfo::{CgroupMount, CgroupMounts};

/// Why a cgroup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroups: reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cgroups: no cgroup hierarchy is mounted (looked for cgroup and cgroup2 in /proc/self/mountinfo)")]
    NoHierarchy,
    #[error("cgroup {path:?}: not a usable cgroup path")]
    BadPath { path: String },
    #[error("cgroup {path:?}: the {controller} controller is not available, but a limit needs it")]
    MissingController { path: String, controller: &'static str },
    #[error("cgroup {}: {op}: {source}", dir.display())]
    Io {
        dir: PathBuf,
        op: String,
        #[source]
        source: io::Error,
    },
}

/// Which cgroup version containers are placed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Resource limits, in the OCI runtime spec's units (`None`: leave the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes; -1 is unlimited.
    pub memory: Option<i64>,
    /// Bytes (soft limit); -1 is unlimited.
    pub memory_reservation: Option<i64>,
    /// Memory plus swap, bytes; -1 is unlimited.
    pub memory_swap: Option<i64>,
    /// Relative CPU weight (v1 `cpu.shares`, 2..262144).
    pub cpu_shares: Option<u64>,
    /// Microseconds per period; -1 is unlimited.
    pub cpu_quota: Option<i64>,
    /// Microseconds.
    pub cpu_period: Option<u64>,
    /// Maximum number of tasks; 0 or less is unlimited.
    pub pids: Option<i64>,
    /// Device access rules, in order (v1 `devices.allow`/`devices.deny`); empty leaves
    /// device access alone. Not enforced on cgroup v2 yet (it needs a BPF program).
    pub devices: Vec<DeviceRule>,
}

/// One device cgroup rule: `c 1:3 rwm`, `a *:* rwm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    /// `a` (all), `c` or `b`.
    pub kind: char,
    /// `None` is any (`*`).
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// Some of `r`, `w`, `m`.
    pub access: String,
}

impl DeviceRule {
    /// Allow `kind major:minor` with `access`.
    pub fn allow(kind: char, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
        DeviceRule { allow: true, kind, major, minor, access: access.into() }
    }

    /// The line v1 `devices.allow`/`devices.deny` take.
    pub fn line(&self) -> String {
        let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
        format!("{} {}:{} {}", self.kind, n(self.major), n(self.minor), self.access)
    }

    /// Docker's (runc's) rules: deny everything, then allow creating any node and using
    /// the default devices (`null`, `zero`, `full`, `random`, `urandom`, `tty`, `ptmx`,
    /// the pts instance).
    pub fn docker_defaults() -> Vec<DeviceRule> {
        let c = |major, minor| DeviceRule::allow('c', Some(major), minor, "rwm");
        vec![
            DeviceRule { allow: false, kind: 'a', major: None, minor: None, access: "rwm".into() },
            DeviceRule::allow('c', None, None, "m"),
            DeviceRule::allow('b', None, None, "m"),
            c(1, Some(3)),
            c(1, Some(5)),
            c(1, Some(7)),
            c(1, Some(8)),
            c(1, Some(9)),
            c(5, Some(0)),
            c(5, Some(2)),
            c(136, None),
        ]
    }
}

/// One file write that applies a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitWrite {
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
    /// Skip silently when the file does not exist (swap accounting may be off).
    pub optional: bool,
}

/// The cgroup hierarchies of this machine, as this process sees them.
#[derive(Debug, Clone)]
pub struct Hierarchies {
    mounts: CgroupMounts,
    version: Version,
    /// `/proc/self/cgroup`, for relative cgroup paths.
    own: String,
}

/// The v1 controllers a container's cgroup is made in.
const V1_USED: &[&str] = &["memory", "cpu", "cpuacct", "pids", "devices"];
/// The v2 controllers enabled for a container's cgroup.
const V2_USED: &[&str] = &["memory", "cpu", "pids"];

impl Hierarchies {
    /// Read `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn detect() -> Result<Self, CgroupError> {
        let read = |p: &str| fs::read_to_string(p).map_err(|source| CgroupError::Read { path: p.into(), source });
        Self::from_text(&read("/proc/self/mountinfo")?, &read("/proc/self/cgroup")?)
    }

    /// From the texts of `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn from_text(mountinfo: &str, proc_cgroup: &str) -> Result<Self, CgroupError> {
        let mounts = CgroupMounts::parse(mountinfo);
        let version = if mounts.v1_with("memory").is_some() {
            Version::V1
        } else if mounts.unified.is_some() {
            Version::V2
        } else {
            return Err(CgroupError::NoHierarchy);
        };
        Ok(Hierarchies { mounts, version, own: proc_cgroup.to_owned() })
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// Use the unified hierarchy even on a hybrid machine (tests of the v2 code path).
    pub fn force_v2(mut self) -> Result<Self, CgroupError> {
        if self.mounts.unified.is_none() {
            return Err(CgroupError::NoHierarchy);
        }
        self.version = Version::V2;
        Ok(self)
    }

    /// The mounts found.
    pub fn mounts(&self) -> &CgroupMounts {
        &self.mounts
    }

    /// Where cgroup `path` lives, one directory per hierarchy used, without creating it.
    pub fn locate(&self, path: &str) -> Result<Cgroup, CgroupError> {
        if path.is_empty() || !mountinfo::is_plain_cgroup_path(path) {
            return Err(CgroupError::BadPath { path: path.into() });
        }
        let mut dirs: Vec<CgroupDir> = Vec::new();
        let mut add = |mount: &CgroupMount| {
            let absolute = if path.starts_with('/') {
                path.to_owned()
            } else {
                let own = mountinfo::own_cgroup(&self.own, mount).unwrap_or_else(|| "/".into());
                format!("{}/{path}", own.trim_end_matches('/'))
            };
            let dir = mount.dir_of(&absolute);
            if !dirs.iter().any(|d| d.dir == dir) {
                dirs.push(CgroupDir { dir, controllers: mount.controllers.clone(), mount_point: mount.mount_point.clone() });
            }
        };
        match self.version {
            Version::V1 => V1_USED.iter().filter_map(|c| self.mounts.v1_with(c)).for_each(&mut add),
            Version::V2 => add(self.mounts.unified.as_ref().expect("checked when detected")),
        }
        Ok(Cgroup { path: path.into(), version: self.version, dirs })
    }

    /// Create cgroup `path` and apply `limits`. On failure nothing created is left.
    /// An existing leaf (left by an earlier attempt of the same container) is reused.
    pub fn create(&self, path: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        let cgroup = self.locate(path)?;
        let writes = match self.version {
            Version::V1 => v1::writes(limits),
            Version::V2 => v2::writes(limits),
        };
        for write in &writes {
            if !cgroup.dirs.iter().any(|d| d.serves(write.controller, self.version)) {
                return Err(CgroupError::MissingController { path: path.into(), controller: write.controller });
            }
        }
        let mut made = Cgroup { dirs: Vec::new(), ..cgroup.clone() };
        let result = (|| {
            for dir in &cgroup.dirs {
                if self.version == Version::V2 {
                    v2::enable_controllers(&dir.mount_point, &dir.dir, V2_USED, &writes)?;
                }
                make_dir(&dir.dir)?;
                made.dirs.push(dir.clone());
            }
            for write in &writes {
                let dir = cgroup.dirs.iter().find(|d| d.serves(write.controller, self.version)).expect("checked above");
                dir.write(write)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(cgroup),
            Err(err) => {
                let _ = made.remove();
                Err(err)
            }
        }
    }
}

/// One container's cgroup: a directory in each hierarchy used.
#[derive(Debug, Clone)]
pub struct Cgroup {
    path: String,
    version: Version,
    dirs: Vec<CgroupDir>,
}

#[derive(Debug, Clone)]
struct CgroupDir {
    dir: PathBuf,
    /// The v1 controllers of its hierarchy; empty for cgroup2.
    controllers: Vec<String>,
    mount_point: PathBuf,
}

impl CgroupDir {
    fn serves(&self, controller: &str, version: Version) -> bool {
        version == Version::V2 || self.controllers.iter().any(|c| c == controller)
    }

    fn write(&self, write: &LimitWrite) -> Result<(), CgroupError> {
        let file = self.dir.join(write.file);
        if write.optional && !file.exists() {
            return Ok(());
        }
        write_file(&file, write.value.as_bytes()).map_err(|source| CgroupError::Io {
            dir: self.dir.clone(),
            op: format!("write {:?} to {}", write.value, write.file),
            source,
        })
    }
}

/// Descriptors of `tasks` (v1) or `cgroup.procs` (v2) in every hierarchy, opened
/// before a fork; see [`Cgroup::join_handles`].
#[derive(Debug)]
pub struct JoinHandles(Vec<OwnedFd>);

impl JoinHandles {
    /// Move the calling (single-threaded) process into the cgroup: `write(fd, "0")` on
    /// each descriptor ("0" is the writer itself, whatever pid namespace it is in).
    /// Async-signal-safe: no allocation, no locks, so a child may call it right after fork.
    pub fn join_self(&self) -> Result<(), rustix::io::Errno> {
        for fd in &self.0 {
            rustix::io::write(fd, b"0")?;
        }
        Ok(())
    }
}

impl Cgroup {
    /// The cgroup path, as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The directories, one per hierarchy used.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|d| d.dir.as_path())
    }

    /// Each directory with the name of its hierarchy's mount point (`memory`,
    /// `cpu,cpuacct`); the name is empty for the unified hierarchy.
    pub fn hierarchies(&self) -> Vec<(String, &Path)> {
        let name = |d: &CgroupDir| match self.version {
            Version::V1 => d.mount_point.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            Version::V2 => String::new(),
        };
        self.dirs.iter().map(|d| (name(d), d.dir.as_path())).collect()
    }

    /// The directory holding `controller`'s files (`memory`, `cpu`, `pids`, ...).
    pub fn dir_of(&self, controller: &str) -> Option<&Path> {
        self.dirs.iter().find(|d| d.serves(controller, self.version)).map(|d| d.dir.as_path())
    }

    /// Move process `pid` into the cgroup.
    pub fn join(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            write_file(&dir.dir.join("cgroup.procs"), pid.to_string().as_bytes())
                .map_err(|source| CgroupError::Io { dir: dir.dir.clone(), op: format!("add pid {pid}"), source })?;
        }
        Ok(())
    }

    /// Open, in every hierarchy, the file through which a single-threaded process joins
    /// itself (close-on-exec), for [`JoinHandles::join_self`]. On v1 that is `tasks`:
    /// moving the calling thread alone skips the kernel's global threadgroup lock, whose
    /// RCU grace period otherwise costs 10-20 ms per container start; for a process with
    /// one thread it moves the whole process. On v2 it is `cgroup.procs`.
    pub fn join_handles(&self) -> Result<JoinHandles, CgroupError> {
        let file = match self.version {
            Version::V1 => "tasks",
            Version::V2 => "cgroup.procs",
        };
        let open = |dir: &CgroupDir| {
            let flags = rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC;
            rustix::fs::open(dir.dir.join(file), flags, rustix::fs::Mode::empty())
                .map_err(|e| CgroupError::Io { dir: dir.dir.clone(), op: format!("open {file}"), source: e.into() })
        };
        Ok(JoinHandles(self.dirs.iter().map(open).collect::<Result<_, _>>()?))
    }

    /// The pids in the cgroup (every hierarchy).
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .dirs
            .iter()
            .filter_map(|d| fs::read_to_string(d.dir.join("cgroup.procs")).ok())
            .flat_map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect::<Vec<_>>())
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// How many processes the OOM killer killed in this cgroup (v1 `memory.oom_control`,
    /// v2 `memory.events`: the `oom_kill` line). 0 without a memory controller.
    pub fn oom_kills(&self) -> u64 {
        let (file, Some(dir)) = (match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        }, self.dir_of("memory")) else {
            return 0;
        };
        fs::read_to_string(dir.join(file)).map(|text| oom_kill_count(&text)).unwrap_or(0)
    }

    /// Remove the cgroup's directories. A directory the kernel still holds (`EBUSY` just
    /// after the last process exited) is retried for up to two seconds; processes still
    /// in it after one second are killed (they can only be the container's).
    pub fn remove(&self) -> Result<(), CgroupError> {
        let started = Instant::now();
        let mut killed = false;
        for dir in self.dirs.iter().rev() {
            loop {
                match fs::remove_dir(&dir.dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && started.elapsed() < Duration::from_secs(2) => {
                        if !killed && started.elapsed() > Duration::from_secs(1) {
                            for pid in self.pids().into_iter().filter_map(rustix::process::Pid::from_raw) {
                                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                            }
                            killed = true;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(source) => {
                        return Err(CgroupError::Io { dir: dir.dir.clone(), op: "remove".into(), source });
                    }
                }
            }
        }
        Ok(())
    }
}

/// The `oom_kill N` line of `memory.oom_control` (v1) or `memory.events` (v2).
pub fn oom_kill_count(text: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix("oom_kill ").and_then(|n| n.trim().parse().ok()))
        .unwrap_or(0)
}

/// mkdir -p; the leaf may exist already.
fn make_dir(dir: &Path) -> Result<(), CgroupError> {
    fs::create_dir_all(dir).map_err(|source| CgroupError::Io { dir: dir.into(), op: "create".into(), source })
}

/// One `write(2)` of the whole value, as cgroup files want.
fn write_file(path: &Path, value: &[u8]) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(value)
}

#[cfg(test)]
mod tests;
