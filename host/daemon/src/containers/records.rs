//! What the daemon keeps about each container in the state store. The record is the
//! container's truth between daemon restarts: what to run, where its rootfs is mounted,
//! and how far its life has got.

use std::collections::BTreeMap;

use hostctl_api::types::HostConfig;
use hostctl_image::digest::Digest;
use hostctl_plugin_runtime::MountedLayer;
use serde::{Deserialize, Serialize};

/// Where a container is in its life (Docker's `State.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
    /// Its shim vanished without recording an exit; the daemon gave up on it.
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// Docker's `State`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// The container's init in the host's pid namespace, while running.
    pub pid: i32,
    pub shim_pid: i32,
    pub exit_code: i32,
    pub oom_killed: bool,
    /// Waiting for its restart policy's delay to pass.
    #[serde(default)]
    pub restarting: bool,
    /// Why it could not start, if it could not.
    pub error: String,
    /// RFC 3339 with nanoseconds.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl State {
    pub fn created() -> Self {
        State {
            status: Status::Created,
            pid: 0,
            shim_pid: 0,
            exit_code: 0,
            oom_killed: false,
            restarting: false,
            error: String::new(),
            started_at: None,
            finished_at: None,
        }
    }
}

/// One container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// The image as the user named it, and what it resolved to.
    pub image: String,
    pub image_id: Digest,
    /// The command line: entrypoint and cmd, resolved against the image.
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub hostname: String,
    /// Docker's `User` (`name`, `uid:gid`, …), resolved inside the container; empty is root.
    pub user: String,
    pub labels: BTreeMap<String, String>,
    /// Signal `stop` sends first (the image's `StopSignal`), e.g. `SIGTERM`.
    pub stop_signal: String,
    pub host_config: HostConfig,
    /// What create granted it from its security options, resolved against the host: its
    /// capabilities, devices, rlimits and init (Docker's defaults for a record written
    /// before they existed).
    #[serde(default)]
    pub granted: super::security::Granted,
    /// The cgroup path (relative to each hierarchy's root) the shim creates.
    pub cgroup_path: String,
    pub state: State,
    /// The rootfs while mounted (from start until the exit is handled).
    pub rootfs: Option<MountedLayer>,
    /// Automatic restarts since the last manual start (Docker's `RestartCount`).
    #[serde(default)]
    pub restart_count: u32,
    /// The delay before the last automatic restart, for the policy's back-off.
    #[serde(default)]
    pub restart_delay_ms: u64,
    /// A user stopped or killed it (Docker's `HasBeenManuallyStopped`), so
    /// `unless-stopped` leaves it stopped across daemon restarts.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Its network namespace while it runs on a network.
    #[serde(default)]
    pub netns: Option<std::path::PathBuf>,
    /// Its places on networks while it runs.
    #[serde(default)]
    pub endpoints: Vec<crate::networks::Endpoint>,
    /// Volumes and host directories bound into it while it runs.
    #[serde(default)]
    pub mounts: Vec<super::attach::MountPoint>,
    /// What its `-v`s ask for, resolved at create (Docker's `MountPoints`): kept in
    /// every state, for inspect.
    #[serde(default)]
    pub mount_points: Vec<super::attach::MountPoint>,
    /// Its seccomp profile and no_new_privs, parsed from `HostConfig.SecurityOpt` at create.
    #[serde(default)]
    pub security: super::seccomp::SecurityOptions,
}
