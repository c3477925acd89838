//! A container's bundle directory (`<data-root>/containers/<id>/`): the files the daemon
//! and the shim share. The daemon writes `config.json` (an OCI runtime spec, one runc
//! would accept) before starting the shim; the shim owns the rest.

use std::path::{Path, PathBuf};

/// The paths of one bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    dir: PathBuf,
}

impl Bundle {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Bundle { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The OCI runtime spec (written by the daemon).
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// The container's output in Docker's json-file format: one
    /// `{"log":"…\n","stream":"stdout","time":"<RFC 3339 nanos>"}` per line.
    pub fn log(&self) -> PathBuf {
        self.dir.join("container.log")
    }

    /// The shim's control socket (see [`crate::protocol`]).
    pub fn socket(&self) -> PathBuf {
        self.dir.join("shim.sock")
    }

    /// The shim's pid while it runs.
    pub fn shim_pid(&self) -> PathBuf {
        self.dir.join("shim.pid")
    }

    /// How the container ended ([`crate::protocol::ExitInfo`] as JSON), written durably
    /// (temp file, fsync, rename) before the shim tells anyone, so a daemon that was down
    /// learns it on its next start.
    pub fn exit(&self) -> PathBuf {
        self.dir.join("exit.json")
    }

    /// Files the daemon bind-mounts into the container (`/etc/hostname`, `/etc/hosts`).
    pub fn hostname_file(&self) -> PathBuf {
        self.dir.join("hostname")
    }

    pub fn hosts_file(&self) -> PathBuf {
        self.dir.join("hosts")
    }
}
