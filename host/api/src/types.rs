//! The JSON documents of the API, shaped and named as Docker's Engine API where it has
//! them (`PascalCase` fields), so tools that know Docker's know these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;

/// `GET /images/json`: one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    /// `sha256:<hex>` of the image config.
    pub id: String,
    #[serde(default)]
    pub parent_id: String,
    /// `name:tag`s; empty for a dangling image.
    #[serde(default)]
    pub repo_tags: Vec<String>,
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    /// Bytes of all its layers' files.
    pub size: i64,
    #[serde(default)]
    pub shared_size: i64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// -1 when not computed (as Docker).
    #[serde(default)]
    pub containers: i64,
}

/// One line of a streamed response (`load`, `import`): Docker's JSONMessage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorBody>,
}

/// Bytes done of a step (`progressDetail`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressDetail {
    pub current: u64,
    pub total: u64,
}

impl JsonMessage {
    /// A line of text (`stream`), e.g. `Loaded image: busybox:latest\n`.
    pub fn stream(text: impl Into<String>) -> Self {
        JsonMessage { stream: Some(text.into()), ..Default::default() }
    }

    /// A status with progress for object `id` (a layer's short digest).
    pub fn progress(status: &str, id: &str, current: u64, total: u64) -> Self {
        JsonMessage {
            status: Some(status.into()),
            id: Some(id.into()),
            progress_detail: Some(ProgressDetail { current, total }),
            ..Default::default()
        }
    }

    /// The final line of a failed stream.
    pub fn failure(error: ErrorBody) -> Self {
        JsonMessage { error: Some(error.message.clone()), error_detail: Some(error), ..Default::default() }
    }
}

/// `GET /plugins`: one loaded plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginSummary {
    pub name: String,
    /// storage, network, volume or restart.
    pub kind: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    /// sha256 of the component.
    pub sha256: String,
    /// What the plugin was granted, by interface: `{"files": ["chown", …], "mounts": [...]}`.
    #[serde(default)]
    pub capabilities: BTreeMap<String, Vec<String>>,
    /// "compiled" (now) or "cache" (precompiled, from the cache).
    pub origin: String,
    /// Milliseconds spent compiling or loading the component at daemon start.
    pub load_time_ms: f64,
    /// Why it is not enabled (failed to load), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
}

/// `GET /info`: the daemon as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    /// The storage driver's name (Docker's `Driver`, e.g. "overlay2").
    pub driver: String,
    /// The plugin providing it.
    pub driver_plugin: String,
    pub driver_status: Vec<(String, String)>,
    pub images: u64,
    pub docker_root_dir: String,
    pub plugins: Vec<String>,
}

/// One lifecycle event, as Docker's `/events` streams it, plus a per-host `seq` that
/// increases by one per event so a consumer can tell when it missed some.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// container, image, plugin, network, volume, daemon.
    #[serde(rename = "Type")]
    pub kind: String,
    /// create, start, die, stop, kill, oom, destroy, import, load, ...
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always "local".
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    /// Per-host sequence number, from 1.
    pub seq: u64,
    /// Docker's legacy fields for container events: `status` (the action), `id`, `from`
    /// (the image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// What an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    /// `name`, `image`, `exitCode`, `signal`, … as Docker sets them.
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// A line of `/events` that is not an event: the subscriber fell behind and `missed`
/// events were dropped for it (never silently).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsLagged {
    pub missed: u64,
}

/// `POST /containers/create`: what to run (Docker's `Config` + `HostConfig`, the parts
/// hostctl serves).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCreate {
    pub image: String,
    /// Replaces the image's Cmd when non-empty.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// Replaces the image's Entrypoint when set (an empty list clears it).
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// `K=V`, added to (and overriding) the image's Env.
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub host_config: HostConfig,
}

/// Docker's `HostConfig`, the parts hostctl serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// Bytes; 0 is unlimited.
    #[serde(default)]
    pub memory: i64,
    /// CPUs in billionths (`--cpus 0.5` is 500000000); 0 is unlimited.
    #[serde(default)]
    pub nano_cpus: i64,
    /// 0 or -1 is unlimited.
    #[serde(default)]
    pub pids_limit: i64,
    /// Remove the container when it exits (`--rm`).
    #[serde(default)]
    pub auto_remove: bool,
    /// "none" (a network namespace with only `lo`) or "host". Empty means "none" until
    /// network drivers exist.
    #[serde(default)]
    pub network_mode: String,
    /// When to start the container again after it exits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Published ports: `"80/tcp"` → where on the host (`-p 8080:80`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// Volumes and host directories: `name:/path[:ro]`, `/host/dir:/path[:ro]` (`-v`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<String>,
    /// Docker's `--security-opt` strings: `seccomp=unconfined|builtin|<profile JSON>`,
    /// `no-new-privileges[=true|false]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// Capabilities added to Docker's default set (`NET_ADMIN` or `CAP_NET_ADMIN`, any
    /// case, or `ALL`); null when none were asked for, as Docker's.
    #[serde(default)]
    pub cap_add: Option<Vec<String>>,
    /// Capabilities dropped from it (`ALL` drops every one, then `CapAdd` adds).
    #[serde(default)]
    pub cap_drop: Option<Vec<String>>,
    /// Every capability of the host's bounding set, every host device, writable `/sys`
    /// and `/proc`, no masked or read-only paths (`--privileged`).
    #[serde(default)]
    pub privileged: bool,
    /// Mount the container's root filesystem read-only (`--read-only`).
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// Host devices made in the container (`--device`).
    #[serde(default)]
    pub devices: Vec<DeviceMapping>,
    /// Resource limits of the container's process (`--ulimit`).
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    /// Relative CPU weight (`--cpu-shares`); 0 is the kernel's default.
    #[serde(default)]
    pub cpu_shares: i64,
    /// Microseconds of CPU time per period (`--cpu-quota`); 0 is unset, -1 unlimited.
    #[serde(default)]
    pub cpu_quota: i64,
    /// The CFS period in microseconds (`--cpu-period`); 0 is the kernel's default.
    #[serde(default)]
    pub cpu_period: i64,
    /// CPUs the container may run on (`--cpuset-cpus`, e.g. `0-3`, `0,1`); "" is all.
    #[serde(default)]
    pub cpuset_cpus: String,
    /// Memory nodes it may allocate from (`--cpuset-mems`); "" is all.
    #[serde(default)]
    pub cpuset_mems: String,
    /// Memory plus swap, bytes (`--memory-swap`); -1 is unlimited swap, 0 (with a
    /// memory limit) twice the memory limit.
    #[serde(default)]
    pub memory_swap: i64,
    /// Memory soft limit, bytes (`--memory-reservation`); 0 is none.
    #[serde(default)]
    pub memory_reservation: i64,
    /// Size of `/dev/shm`, bytes (`--shm-size`); 0 is Docker's 64 MiB.
    #[serde(default)]
    pub shm_size: i64,
    /// Run an init (tini, as Docker's docker-init) as PID 1 that reaps zombies and
    /// forwards signals to the command (`--init`); absent unless asked, as Docker's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

/// A host device made in a container (Docker's `DeviceMapping`, `--device`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    /// Where the node is made in the container; the host path when empty.
    #[serde(default)]
    pub path_in_container: String,
    /// Some of `r`, `w`, `m` (read, write, mknod), for the device cgroup.
    #[serde(default)]
    pub cgroup_permissions: String,
}

/// A resource limit of the container's process (Docker's `Ulimit`, `--ulimit`): `nofile`,
/// `nproc`, `core`, …; -1 is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// Where a container port is published on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    #[serde(default)]
    pub host_ip: String,
    pub host_port: String,
}

/// Parse `-p [ip:]host:container[/proto]` into `("80/tcp", binding)`.
pub fn parse_port(text: &str) -> Result<(String, PortBinding), String> {
    let bad = || format!("invalid port {text:?}: expected [[ip:]host-port:]container-port[/tcp|udp]");
    let (spec, proto) = match text.rsplit_once('/') {
        Some((spec, proto)) if proto == "tcp" || proto == "udp" => (spec, proto),
        Some(_) => return Err(bad()),
        None => (text, "tcp"),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    // An empty host port (`-p 80`, `-p 127.0.0.1::80`): the daemon picks a free one.
    let (ip, host, container) = match parts.as_slice() {
        [container] => ("", "", *container),
        [host, container] => ("", *host, *container),
        [ip, host, container] => (*ip, *host, *container),
        _ => return Err(bad()),
    };
    let valid = |port: &str| port.parse::<u16>().is_ok_and(|p| p != 0);
    if !valid(container) || !(host.is_empty() || valid(host)) {
        return Err(bad());
    }
    if !ip.is_empty() && ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(format!("invalid port {text:?}: {ip:?} is not an IPv4 address"));
    }
    Ok((format!("{container}/{proto}"), PortBinding { host_ip: ip.to_owned(), host_port: host.to_owned() }))
}

/// Docker's `RestartPolicy`: `no`, `always`, `unless-stopped`, `on-failure` (with
/// `MaximumRetryCount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    pub name: String,
    #[serde(default)]
    pub maximum_retry_count: i64,
}

impl RestartPolicy {
    /// Parse `--restart`'s `name[:count]`.
    pub fn parse(text: &str) -> Self {
        match text.split_once(':') {
            Some((name, count)) => RestartPolicy { name: name.to_owned(), maximum_retry_count: count.parse().unwrap_or(-1) },
            None => RestartPolicy { name: text.to_owned(), maximum_retry_count: 0 },
        }
    }

    /// The policy as the restart plugin reads it: `on-failure:3`, `always`, …
    pub fn as_policy_string(&self) -> String {
        if self.maximum_retry_count != 0 { format!("{}:{}", self.name, self.maximum_retry_count) } else { self.name.clone() }
    }

    /// Whether this policy never restarts.
    pub fn is_none(&self) -> bool {
        self.name.is_empty() || self.name == "no"
    }
}

/// One of a container's volumes or bound host directories in its inspect document
/// (Docker's `MountPoint`), in every state of the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// "volume" or "bind".
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name; absent for a bind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The directory on the host: the bound one, or the volume's data directory.
    pub source: String,
    pub destination: String,
    /// The volume's driver; absent for a bind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// The `-v`'s mode as written: "", "ro" or "rw".
    #[serde(default)]
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    /// "rprivate" for a bind (how hostctl binds), "" for a volume (as Docker shows it).
    #[serde(default)]
    pub propagation: String,
}

/// `POST /containers/create`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCreated {
    pub id: String,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `GET /containers/json`: one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    pub id: String,
    /// `/name`, as Docker.
    pub names: Vec<String>,
    pub image: String,
    pub image_id: String,
    /// The command line, joined.
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    /// created, running, exited, dead.
    pub state: String,
    /// "Up 2 minutes", "Exited (0) 3 seconds ago", "Created".
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Published ports while it runs.
    #[serde(default)]
    pub ports: Vec<PortSummary>,
}

/// One published port in a [`ContainerSummary`], as Docker's `Port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSummary {
    #[serde(rename = "IP", default)]
    pub ip: String,
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    #[serde(rename = "PublicPort")]
    pub public_port: u16,
    #[serde(rename = "Type")]
    pub protocol: String,
}

impl std::fmt::Display for PortSummary {
    /// `0.0.0.0:8080->80/tcp`, as `docker ps` shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = if self.ip.is_empty() { "0.0.0.0" } else { &self.ip };
        write!(f, "{ip}:{}->{}/{}", self.public_port, self.private_port, self.protocol)
    }
}

/// `POST /containers/{id}/wait`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerWaitResponse {
    pub status_code: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// One line of a container's log (`GET /containers/{id}/logs`, newline-delimited JSON):
/// Docker's json-file entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub log: String,
    /// "stdout" or "stderr".
    pub stream: String,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_as_docker_writes_them() {
        assert_eq!(parse_port("8080:80").unwrap(), ("80/tcp".into(), PortBinding { host_ip: String::new(), host_port: "8080".into() }));
        assert_eq!(parse_port("127.0.0.1:53:53/udp").unwrap().0, "53/udp");
        assert_eq!(parse_port("80").unwrap(), ("80/tcp".into(), PortBinding { host_ip: String::new(), host_port: String::new() }));
        assert_eq!(parse_port("127.0.0.1::80").unwrap().1.host_port, "");
        assert!(parse_port("x:80:80").is_err());
        assert!(parse_port("0:80").is_err());
        assert!(parse_port("8080:80/sctp").is_err());
    }
}
