//! How the daemon talks to a shim.
//!
//! **Start.** The daemon runs `hostctl shim start --bundle DIR --id ID`. That process
//! forks the long-lived shim (in its own session, re-parented away from the daemon, so
//! the daemon can die without taking containers with it), waits until the container's
//! process has exec'd its command (or failed to), prints one [`Started`] line of JSON on
//! stdout and exits 0, or prints a [`StartFailed`] line and exits 1.
//!
//! **Control.** The shim serves `shim.sock` (a Unix stream socket in the bundle): one
//! [`Request`] per line of JSON, answered by one [`Response`] line. `Wait` is answered
//! when the container exits (at once if it has); a connection may carry many requests.
//!
//! **Exit.** When the container's init exits, the shim drains its output into the log,
//! writes `exit.json` ([`ExitInfo`]) durably, answers every waiter, removes the
//! container's cgroups, removes its socket and pid file, and exits.

use serde::{Deserialize, Serialize};

/// `hostctl shim start` succeeded: the container runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// The container's init, as the daemon's pid namespace sees it.
    pub pid: i32,
    /// The long-lived shim.
    pub shim_pid: i32,
    /// RFC 3339 with nanoseconds.
    pub started_at: String,
}

/// `hostctl shim start` failed; nothing of the container is left running and its
/// cgroups are removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartFailed {
    /// One line, e.g. `exec: "nosuch": executable file not found in $PATH`.
    pub message: String,
    /// What Docker's CLI would exit with: 127 (command not found), 126 (not
    /// executable), else 125 (the runtime failed).
    pub exit_code: i32,
}

/// A request on `shim.sock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Is the container running, and as which pid?
    State,
    /// Send `signal` to the container's init.
    Kill { signal: i32 },
    /// Answer when the container has exited.
    Wait,
}

/// An answer on `shim.sock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Response {
    Running { pid: i32, started_at: String },
    Exited(ExitInfo),
    /// A `Kill` was delivered.
    Ok,
    Error { message: String },
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The exit status, or 128 + the signal that killed it.
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// The kernel's OOM killer killed a process of the container's memory cgroup.
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds.
    pub started_at: String,
    pub finished_at: String,
}
