//! Running a container's process from an OCI bundle: what runc's `create` + `start`
//! do, for one process that a shim supervises.
//!
//! [`Config::from_spec`] checks the spec and translates it before anything is forked.
//! [`start`] then, in the calling (single-threaded) process, makes a new pid namespace
//! for its children (`unshare(CLONE_NEWPID)`), forks, and waits on a close-on-exec error
//! pipe: EOF means the exec succeeded, bytes are a [`StartFailure`]. The child, pid 1 of
//! the new namespace, runs the init sequence ([`init`]):
//!
//! 1. die with its parent until the exec (`PR_SET_PDEATHSIG`), join the cgroup
//!    (a `write("0")` on `cgroup.procs` opened before the fork), stdio onto 0/1/2, umask 0;
//! 2. join namespaces given by path, unshare the new ones (mount, uts, ipc, network,
//!    cgroup); make `/` rprivate; bring `lo` up in a new network namespace;
//! 3. bind the rootfs onto itself and open it; perform the spec's mounts inside it
//!    ([`mounts`], destinations resolved with `RESOLVE_IN_ROOT`); create the default
//!    and the spec's device nodes and the `/dev` links ([`devices`]);
//! 4. `pivot_root(".", ".")` and a lazy unmount of the old root ([`rootfs`]);
//! 5. sysctls, masked paths, read-only paths, a read-only `/` if asked, hostname,
//!    `oom_score_adj`, rlimits (clamped to the hard limit), the working directory
//!    (created if missing);
//! 6. resolve the user inside the container ([`user`]); without `no_new_privs`, install
//!    the seccomp filter ([`seccomp`], compiled before the fork); drop the bounding set,
//!    switch user keeping capabilities, capset ([`capabilities`]), `PR_SET_NO_NEW_PRIVS`;
//! 7. look the command up in the container's `PATH` and execve it ([`exec`]), after
//!    resetting signal dispositions, marking every descriptor above 2 close-on-exec and,
//!    with `no_new_privs`, installing the seccomp filter.
//!
//! Every kernel call goes through rustix or the thin layer in [`sys`].

pub mod capabilities;
pub mod config;
pub mod devices;
pub mod exec;
mod init;
pub mod mounts;
pub mod rootfs;
pub mod seccomp;
pub mod sys;
pub mod user;

use std::io::{self, Read};
use std::os::fd::OwnedFd;

pub use config::{Config, SpecError};

use crate::cgroups::JoinHandles;

/// Why a container did not start, as Docker reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StartFailure {
    /// 127 command not found, 126 not executable, 125 anything else.
    pub exit_code: i32,
    pub message: String,
}

impl StartFailure {
    pub fn new(exit_code: i32, message: String) -> Self {
        StartFailure { exit_code, message }
    }

    /// How the child sends it over the error pipe: `<code> <message>`.
    fn encode(&self) -> String {
        format!("{} {}", self.exit_code, self.message)
    }

    fn decode(bytes: &[u8]) -> Self {
        let text = String::from_utf8_lossy(bytes);
        match text.split_once(' ').and_then(|(code, message)| Some((code.parse().ok()?, message))) {
            Some((exit_code, message)) => StartFailure::new(exit_code, message.to_owned()),
            None => StartFailure::new(125, format!("container init: {text}")),
        }
    }
}

/// The container's standard streams, as the child will have them.
#[derive(Debug)]
pub struct Stdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// A started container's init.
#[derive(Debug)]
pub struct Started {
    /// Its pid in the caller's pid namespace.
    pub pid: i32,
    /// A pidfd of it (readable when it exits; for signals without pid reuse races).
    pub pidfd: OwnedFd,
}

/// Start the container described by `config` with `stdio`, joined to `cgroup`.
///
/// The calling process must be single-threaded (checked), and stays unable to create
/// threads afterwards when a new pid namespace is made: its pid namespace for children
/// changes (`unshare(CLONE_NEWPID)`), which the kernel forbids for multi-threaded
/// processes. A shim is such a process; its next child would not be pid 1.
pub fn start(config: &Config, stdio: Stdio, cgroup: Option<&JoinHandles>) -> Result<Started, StartFailure> {
    let failed = |what: &str, e: io::Error| StartFailure::new(125, format!("container start: {what}: {}", exec::errno_text(&e)));
    sys::ensure_single_threaded().map_err(|e| StartFailure::new(125, format!("container start: {e}")))?;
    if config.new_pid_namespace {
        sys::unshare(libc::CLONE_NEWPID).map_err(|e| failed("unshare the pid namespace", e))?;
    }
    let (error_read, error_write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| failed("error pipe", e.into()))?;
    // SAFETY: the process was checked to be single-threaded above.
    let pid = match unsafe { sys::fork() }.map_err(|e| failed("fork", e))? {
        None => {
            drop(error_read);
            init::run(config, stdio, cgroup, error_write)
        }
        Some(pid) => pid,
    };
    drop(error_write);
    drop(stdio);
    let reap = || {
        let pid = rustix::process::Pid::from_raw(pid).expect("fork returned a positive pid");
        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
    };
    let pidfd = match rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid).expect("fork returned a positive pid"),
        rustix::process::PidfdFlags::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = rustix::process::kill_process(rustix::process::Pid::from_raw(pid).expect("positive"), rustix::process::Signal::KILL);
            reap();
            return Err(failed("pidfd_open", e.into()));
        }
    };
    let mut report = Vec::new();
    let read = std::fs::File::from(error_read).read_to_end(&mut report);
    if let Err(e) = read {
        let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
        reap();
        return Err(failed("read the error pipe", e));
    }
    if !report.is_empty() {
        reap();
        return Err(StartFailure::decode(&report));
    }
    Ok(Started { pid, pidfd })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_cross_the_pipe_intact() {
        let failure = StartFailure::new(127, "exec: \"nosuch\": executable file not found in $PATH".into());
        assert_eq!(StartFailure::decode(failure.encode().as_bytes()), failure);
        assert_eq!(StartFailure::decode(b"garbage").exit_code, 125);
    }
}
