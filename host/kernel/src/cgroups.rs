//! Control groups: the kernel's accounting and limits for a container's processes.
//!
//! [`Hierarchies::detect`] reads `/proc/self/mountinfo` ([`mountinfo`]) and picks the
//! cgroup version the way runc does: if a v1 hierarchy carries the `memory` controller
//! (legacy or hybrid layout), v1, else the unified (cgroup2) hierarchy.
//! [`Hierarchies::choose`] applies the daemon's `[containers] cgroup-version`
//! (`auto`, `v1`, `v2`; carried to the shim by the spec's [`VERSION_ANNOTATION`]): `v2`
//! places containers in the unified hierarchy even on a hybrid host.
//!
//! - **v1**: the container's cgroup is made in the hierarchies of `memory`, `cpu`,
//!   `cpuacct`, `pids` and `devices` (one directory per mount: `cpu` and `cpuacct` may
//!   be separate mounts or one), and in `cpuset` only when it asks for a cpuset
//!   ([`cpuset`]). Device rules are written to `devices.deny` / `devices.allow`.
//! - **v2**: one directory of the unified hierarchy, after enabling memory, cpu, pids
//!   (and cpuset when asked) in every ancestor's `cgroup.subtree_control`. Device rules
//!   become a `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to it ([`bpf`]), deciding as
//!   v1 would for the same rules ([`devices`]).
//!
//! A limit is applied or refused, never skipped: a controller the hierarchy lacks (this
//! project's hybrid hosts have an empty unified hierarchy), a file the kernel lacks
//! (`memory.memsw.limit_in_bytes` without swap accounting), a v1 setting on v2 (swappiness,
//! disabling the OOM killer). [`Hierarchies::check`] finds all of these without creating
//! anything, so the daemon can refuse at create what the shim would refuse at start.
//!
//! A [`Cgroup`] is one container's cgroup (`linux.cgroupsPath`, absolute in each
//! hierarchy, or relative to this process's own cgroup). [`Limits`] are written as
//! plain file writes computed by [`v1::writes`] / [`v2::writes`] (unit tested without
//! root); [`Cgroup::join_handles`] opens the join file ahead of a fork so the child can
//! join with one async-signal-safe `write(2)`; [`Cgroup::oom_kills`] reads the OOM
//! killer's count; [`Cgroup::remove`] removes the directories (only the container's own
//! leaf: parents such as `/hostctl` are shared and stay).

pub mod bpf;
mod cgroup;
pub mod cpuset;
pub mod devices;
pub mod mountinfo;
pub mod v1;
pub mod v2;

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use self::bpf::syscall::BpfError;
use self::cgroup::CgroupDir;
pub use self::cgroup::{Cgroup, JoinHandles};
use self::cpuset::CpusetError;
pub use self::devices::DeviceRule;
use self::devices::{DeviceRuleError, Effective};
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
    #[error("cgroup version {version} was asked for, but {why}")]
    VersionUnavailable { version: VersionChoice, why: &'static str },
    #[error("cgroup {path:?}: not a usable cgroup path")]
    BadPath { path: String },
    #[error("cgroup {path:?}: the {controller} controller is not available, but a limit needs it ({file})")]
    MissingController { path: String, controller: &'static str, file: &'static str },
    #[error("cgroup {path:?}: {limit} is a cgroup v1 setting: cgroup v2 has no file for it")]
    NotOnV2 { path: String, limit: &'static str },
    #[error("cgroup {}: {file} does not exist: {hint}", dir.display())]
    MissingFile { dir: PathBuf, file: &'static str, hint: &'static str },
    #[error("cgroup {path:?}: {source}")]
    Devices {
        path: String,
        #[source]
        source: DeviceRuleError,
    },
    #[error("cgroup {}: device rules: {source}", dir.display())]
    DeviceProgram {
        dir: PathBuf,
        #[source]
        source: BpfError,
    },
    #[error("cgroup {path:?}: {source}")]
    Cpuset {
        path: String,
        #[source]
        source: CpusetError,
    },
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

/// The cgroup version asked for: `auto` (what [`Hierarchies::detect`] picks), `v1`, `v2`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VersionChoice {
    #[default]
    Auto,
    V1,
    V2,
}

/// The spec annotation carrying the daemon's [`VersionChoice`] to the shim (absent: auto).
pub const VERSION_ANNOTATION: &str = "io.hostctl.cgroup-version";

impl std::str::FromStr for VersionChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(VersionChoice::Auto),
            "v1" => Ok(VersionChoice::V1),
            "v2" => Ok(VersionChoice::V2),
            other => Err(format!("cgroup version {other:?}: expected auto, v1 or v2")),
        }
    }
}

impl std::fmt::Display for VersionChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VersionChoice::Auto => "auto",
            VersionChoice::V1 => "v1",
            VersionChoice::V2 => "v2",
        })
    }
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
    /// 0..=100 (v1 only).
    pub memory_swappiness: Option<u64>,
    /// Pause instead of OOM-killing at the memory limit (v1 only).
    pub disable_oom_killer: bool,
    /// Relative CPU weight (v1 `cpu.shares`, 2..262144).
    pub cpu_shares: Option<u64>,
    /// Microseconds per period; -1 is unlimited.
    pub cpu_quota: Option<i64>,
    /// Microseconds.
    pub cpu_period: Option<u64>,
    /// CPUs the processes may run on (`0-3,6`); `None` or empty: all.
    pub cpuset_cpus: Option<String>,
    /// Memory nodes they may allocate from; `None` or empty: all.
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks; 0 or less is unlimited.
    pub pids: Option<i64>,
    /// Device access rules, in order (v1 `devices.allow`/`devices.deny`, v2 a BPF
    /// program); empty leaves device access alone.
    pub devices: Vec<DeviceRule>,
}

impl Limits {
    /// Whether a cpuset is asked for (so the v1 cpuset hierarchy is used).
    pub fn wants_cpuset(&self) -> bool {
        [&self.cpuset_cpus, &self.cpuset_mems].iter().any(|v| v.as_deref().is_some_and(|v| !v.is_empty()))
    }
}

/// One file write that applies a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitWrite {
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
}

/// Why a limit file may be missing, for [`CgroupError::MissingFile`].
fn missing_file_hint(file: &str) -> &'static str {
    match file {
        "memory.memsw.limit_in_bytes" | "memory.swap.max" => {
            "this kernel does not account swap (boot it with swapaccount=1), so a memory+swap limit cannot be applied"
        }
        _ => "this kernel does not offer that limit",
    }
}

/// The cgroup hierarchies of this machine, as this process sees them.
#[derive(Debug, Clone)]
pub struct Hierarchies {
    mounts: CgroupMounts,
    version: Version,
    /// `/proc/self/cgroup`, for relative cgroup paths.
    own: String,
}

/// The v1 controllers a container's cgroup is made in (and `cpuset` when asked).
const V1_USED: &[&str] = &["memory", "cpu", "cpuacct", "pids", "devices"];
/// The v2 controllers enabled for a container's cgroup (and those its limits need).
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

    /// Place containers in the version asked for; one this machine lacks is an error.
    pub fn choose(mut self, choice: VersionChoice) -> Result<Self, CgroupError> {
        match choice {
            VersionChoice::Auto => {}
            VersionChoice::V1 if self.mounts.v1.is_empty() => {
                return Err(CgroupError::VersionUnavailable { version: choice, why: "no cgroup v1 hierarchy with a controller is mounted" });
            }
            VersionChoice::V1 => self.version = Version::V1,
            VersionChoice::V2 if self.mounts.unified.is_none() => {
                return Err(CgroupError::VersionUnavailable { version: choice, why: "no cgroup2 hierarchy is mounted" });
            }
            VersionChoice::V2 => self.version = Version::V2,
        }
        Ok(self)
    }

    /// Use the unified hierarchy even on a hybrid machine (tests of the v2 code path).
    pub fn force_v2(self) -> Result<Self, CgroupError> {
        self.choose(VersionChoice::V2)
    }

    /// The mounts found.
    pub fn mounts(&self) -> &CgroupMounts {
        &self.mounts
    }

    /// Where cgroup `path` lives, one directory per hierarchy used, without creating it
    /// (on v1, the cpuset directory is included when it exists).
    pub fn locate(&self, path: &str) -> Result<Cgroup, CgroupError> {
        let cgroup = self.locate_with(path, true)?;
        let unused_cpuset = |d: &CgroupDir| d.controllers.iter().any(|c| c == "cpuset") && !d.dir.is_dir();
        Ok(Cgroup { dirs: cgroup.dirs.into_iter().filter(|d| !unused_cpuset(d)).collect(), ..cgroup })
    }

    fn locate_with(&self, path: &str, cpuset: bool) -> Result<Cgroup, CgroupError> {
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
            Version::V1 => {
                let used = V1_USED.iter().chain(cpuset.then_some(&"cpuset"));
                used.filter_map(|c| self.mounts.v1_with(c)).for_each(&mut add);
            }
            Version::V2 => add(self.mounts.unified.as_ref().expect("checked when detected")),
        }
        Ok(Cgroup { path: path.into(), version: self.version, dirs })
    }

    /// The file writes that apply `limits` here.
    fn writes(&self, path: &str, limits: &Limits) -> Result<Vec<LimitWrite>, CgroupError> {
        match self.version {
            Version::V1 => Ok(v1::writes(limits)),
            Version::V2 => match v2::not_on_v2(limits) {
                Some(limit) => Err(CgroupError::NotOnV2 { path: path.into(), limit }),
                None => Ok(v2::writes(limits)),
            },
        }
    }

    /// Whether `limits` can be applied to cgroup `path` here, without creating anything:
    /// the device rules, the cpuset, the controllers and (v1) swap accounting.
    pub fn check(&self, path: &str, limits: &Limits) -> Result<(), CgroupError> {
        Effective::of(&limits.devices).map_err(|source| CgroupError::Devices { path: path.into(), source })?;
        let (cpus, mems) = (limits.cpuset_cpus.as_deref().unwrap_or(""), limits.cpuset_mems.as_deref().unwrap_or(""));
        cpuset::check(cpus, mems).map_err(|source| CgroupError::Cpuset { path: path.into(), source })?;
        let writes = self.writes(path, limits)?;
        let offered = match (&self.version, &self.mounts.unified) {
            (Version::V2, Some(unified)) => fs::read_to_string(unified.mount_point.join("cgroup.controllers"))
                .map_err(|source| CgroupError::Read { path: unified.mount_point.join("cgroup.controllers"), source })?,
            _ => String::new(),
        };
        for write in &writes {
            let (controller, file) = (write.controller, write.file);
            let mount = match self.version {
                Version::V1 => self.mounts.v1_with(controller),
                Version::V2 => self.mounts.unified.as_ref().filter(|_| offered.split_whitespace().any(|c| c == controller)),
            };
            let Some(mount) = mount else {
                return Err(CgroupError::MissingController { path: path.into(), controller, file });
            };
            // Swap accounting can be off; the root of the v1 memory hierarchy shows whether.
            if file == "memory.memsw.limit_in_bytes" && !mount.mount_point.join(file).exists() {
                return Err(CgroupError::MissingFile { dir: mount.mount_point.clone(), file, hint: missing_file_hint(file) });
            }
        }
        Ok(())
    }

    /// Create cgroup `path` and apply `limits` (on v2, attach the device program) before
    /// any process joins. On failure nothing created is left. An existing leaf (left by
    /// an earlier attempt of the same container) is reused.
    pub fn create(&self, path: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        self.check(path, limits)?;
        let writes = self.writes(path, limits)?;
        let cgroup = self.locate_with(path, limits.wants_cpuset())?;
        let mut made = Cgroup { dirs: Vec::new(), ..cgroup.clone() };
        let result = (|| {
            for dir in &cgroup.dirs {
                made.dirs.push(dir.clone());
                match self.version {
                    Version::V2 => v2::enable_controllers(&dir.mount_point, &dir.dir, V2_USED, &writes)?,
                    Version::V1 if dir.controllers.iter().any(|c| c == "cpuset") => cpuset::prepare_v1(&dir.mount_point, &dir.dir)?,
                    Version::V1 => {}
                }
                make_dir(&dir.dir)?;
            }
            for write in &writes {
                let dir = cgroup.dirs.iter().find(|d| d.serves(write.controller, self.version)).expect("checked above");
                dir.write(write)?;
            }
            if self.version == Version::V2 && !limits.devices.is_empty() {
                let dir = &cgroup.dirs[0].dir;
                let rules = Effective::of(&limits.devices).map_err(|source| CgroupError::Devices { path: path.into(), source })?;
                let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
                let fd = rustix::fs::open(dir, flags, rustix::fs::Mode::empty())
                    .map_err(|e| CgroupError::Io { dir: dir.clone(), op: "open".into(), source: e.into() })?;
                bpf::install(&fd, &rules).map_err(|source| CgroupError::DeviceProgram { dir: dir.clone(), source })?;
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
