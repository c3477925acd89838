//! One container's cgroup once made: a directory in each hierarchy used (v1), or one
//! directory of the unified hierarchy (v2). Joining it (ahead of a fork, with one
//! async-signal-safe `write(2)` per hierarchy), listing its processes, reading the OOM
//! killer's count, and removing it (which also frees its device program, on v2).

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{CgroupError, LimitWrite, Version, oom_kill_count, write_file};

/// One container's cgroup: a directory in each hierarchy used.
#[derive(Debug, Clone)]
pub struct Cgroup {
    pub(super) path: String,
    pub(super) version: Version,
    pub(super) dirs: Vec<CgroupDir>,
}

/// One directory of a cgroup, in the hierarchy mounted at `mount_point`.
#[derive(Debug, Clone)]
pub(super) struct CgroupDir {
    pub(super) dir: PathBuf,
    /// The v1 controllers of its hierarchy; empty for cgroup2.
    pub(super) controllers: Vec<String>,
    pub(super) mount_point: PathBuf,
}

impl CgroupDir {
    pub(super) fn serves(&self, controller: &str, version: Version) -> bool {
        version == Version::V2 || self.controllers.iter().any(|c| c == controller)
    }

    /// Apply one limit; a file the kernel does not offer is an error that says why.
    pub(super) fn write(&self, write: &LimitWrite) -> Result<(), CgroupError> {
        let file = self.dir.join(write.file);
        if !file.exists() {
            return Err(CgroupError::MissingFile { dir: self.dir.clone(), file: write.file, hint: super::missing_file_hint(write.file) });
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
pub struct JoinHandles(pub(super) Vec<OwnedFd>);

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

