//! What a container's init needs, taken from an OCI runtime spec and checked before the
//! fork, so that everything the spec gets wrong is a clear error in the shim, and the
//! child only acts. `linux.seccomp` is compiled here (or taken precompiled from the
//! daemon's annotation), to the BPF program the init installs ([`seccomp`](super::seccomp)). What the spec asks for and hostctl does not do
//! yet is refused (user and time namespaces, hooks, a terminal, a seccomp agent) or, where ignoring it only
//! weakens nothing the daemon relies on, listed in [`Config::ignored`] for the shim's log.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Spec};

use super::capabilities::CapSets;
use super::devices::{self, Device, DeviceKind};
use super::mounts::{self, MountOp};
use super::seccomp::{self, Filter};
use super::user::UserRequest;
use crate::cgroups::{DeviceRule, Limits, VersionChoice, devices::Effective};

/// Why a spec cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config.json: {field}: {reason}")]
pub struct SpecError {
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> SpecError {
    SpecError { field: field.into(), reason: reason.into() }
}

/// The annotation carrying Docker's `User` string, resolved inside the container.
pub const USER_ANNOTATION: &str = "io.hostctl.user";

/// Docker's PATH when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A namespace the init enters: a new one, or the one at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub kind: NamespaceKind,
    pub path: Option<PathBuf>,
}

/// The namespaces the init itself creates or joins (the pid namespace is the shim's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceKind {
    Mount,
    Uts,
    Ipc,
    Network,
    Cgroup,
}

impl NamespaceKind {
    /// The `CLONE_NEW*` flag.
    pub fn clone_flag(self) -> libc::c_int {
        match self {
            NamespaceKind::Mount => libc::CLONE_NEWNS,
            NamespaceKind::Uts => libc::CLONE_NEWUTS,
            NamespaceKind::Ipc => libc::CLONE_NEWIPC,
            NamespaceKind::Network => libc::CLONE_NEWNET,
            NamespaceKind::Cgroup => libc::CLONE_NEWCGROUP,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NamespaceKind::Mount => "mount",
            NamespaceKind::Uts => "uts",
            NamespaceKind::Ipc => "ipc",
            NamespaceKind::Network => "network",
            NamespaceKind::Cgroup => "cgroup",
        }
    }
}

/// One `setrlimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: rustix::process::Resource,
    pub name: &'static str,
    pub soft: u64,
    pub hard: u64,
}

/// The container's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub args: Vec<String>,
    /// `K=V`, as given (`HOME` is added inside if missing).
    pub env: Vec<String>,
    /// Absolute inside the container.
    pub cwd: String,
    pub user: UserRequest,
    pub umask: u32,
    pub capabilities: CapSets,
    pub no_new_privileges: bool,
    pub rlimits: Vec<Rlimit>,
    pub oom_score_adj: Option<i32>,
}

impl Process {
    /// `PATH` from the container's environment, or Docker's default.
    pub fn path_env(&self) -> &str {
        self.env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH)
    }
}

/// Everything the init does, in the spec's terms but checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The rootfs on the host (already mounted by the daemon).
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
    /// Whether the shim makes a new pid namespace for the init.
    pub new_pid_namespace: bool,
    /// Namespaces the init enters, in the order it enters them.
    pub namespaces: Vec<Namespace>,
    pub mounts: Vec<MountOp>,
    /// Device nodes made in the container's /dev (runc's defaults, then the spec's).
    pub devices: Vec<Device>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub sysctls: Vec<(String, String)>,
    pub hostname: Option<String>,
    pub process: Process,
    /// `linux.cgroupsPath`, if set.
    pub cgroups_path: Option<String>,
    /// The cgroup version to place the container in ([`crate::cgroups::VERSION_ANNOTATION`]).
    pub cgroup_version: VersionChoice,
    pub limits: Limits,
    /// The compiled `linux.seccomp`, if any.
    pub seccomp: Option<Filter>,
    /// Settings of the spec that are not applied (for the shim's log).
    pub ignored: Vec<String>,
}

impl Config {
    /// Whether the container has its own network namespace (new or joined).
    pub fn has_network_namespace(&self) -> bool {
        self.namespaces.iter().any(|n| n.kind == NamespaceKind::Network)
    }

    /// Let `cgroup` mounts show the container's own cgroup (see [`mounts`]).
    pub fn show_cgroup(&mut self, cgroup: &crate::cgroups::Cgroup) {
        for mount in &mut self.mounts {
            if let mounts::MountSource::Cgroup { hierarchies } = &mut mount.source {
                *hierarchies = cgroup
                    .hierarchies()
                    .into_iter()
                    .filter(|(name, _)| !name.is_empty() || cgroup.version() == crate::cgroups::Version::V2)
                    .map(|(name, dir)| mounts::CgroupDir { name, dir: dir.to_path_buf() })
                    .collect();
            }
        }
    }

    /// Check `spec` and translate it.
    pub fn from_spec(spec: &Spec) -> Result<Config, SpecError> {
        let mut ignored = Vec::new();
        let root = spec.root().as_ref().ok_or_else(|| invalid("root", "missing"))?;
        if !root.path().is_absolute() {
            return Err(invalid("root.path", format!("{} is not absolute", root.path().display())));
        }
        if spec.hooks().as_ref().is_some_and(|h| *h != Default::default()) {
            return Err(invalid("hooks", "hooks are not supported"));
        }
        let linux = spec.linux().clone().unwrap_or_default();
        if linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()) || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(invalid("linux.uidMappings", "user namespaces are not supported yet"));
        }
        let precompiled = spec.annotations().as_ref().and_then(|a| a.get(seccomp::PRECOMPILED_ANNOTATION));
        let seccomp = linux
            .seccomp()
            .as_ref()
            .map(|s| precompiled.and_then(|text| Filter::decode(text, s)).map_or_else(|| seccomp::compile(s), Ok))
            .transpose()
            .map_err(|e| invalid("linux.seccomp", e.to_string()))?;
        if let Some(skipped) = seccomp.as_ref().map(Filter::skipped).filter(|s| !s.is_empty()) {
            ignored.push(format!("linux.seccomp: system calls libseccomp does not know: {}", skipped.join(", ")));
        }

        let mut new_pid_namespace = false;
        let mut namespaces = Vec::new();
        for ns in linux.namespaces().as_deref().unwrap_or_default() {
            let kind = match ns.typ() {
                LinuxNamespaceType::Pid if ns.path().is_none() => {
                    new_pid_namespace = true;
                    continue;
                }
                LinuxNamespaceType::Pid => return Err(invalid("linux.namespaces", "joining a pid namespace is not supported")),
                LinuxNamespaceType::Mount if ns.path().is_some() => {
                    return Err(invalid("linux.namespaces", "joining a mount namespace is not supported"));
                }
                LinuxNamespaceType::Mount => NamespaceKind::Mount,
                LinuxNamespaceType::Uts => NamespaceKind::Uts,
                LinuxNamespaceType::Ipc => NamespaceKind::Ipc,
                LinuxNamespaceType::Network => NamespaceKind::Network,
                LinuxNamespaceType::Cgroup => NamespaceKind::Cgroup,
                other => return Err(invalid("linux.namespaces", format!("{other} namespaces are not supported yet"))),
            };
            if namespaces.iter().any(|n: &Namespace| n.kind == kind) {
                return Err(invalid("linux.namespaces", format!("{} listed twice", kind.name())));
            }
            namespaces.push(Namespace { kind, path: ns.path().clone() });
        }
        if !namespaces.iter().any(|n| n.kind == NamespaceKind::Mount) {
            return Err(invalid("linux.namespaces", "a mount namespace is required (pivot_root needs one)"));
        }
        // Joined namespaces first, then one unshare(2) for the new ones (the order runc uses).
        namespaces.sort_by_key(|n| n.path.is_none());
        let has_network = namespaces.iter().any(|n| n.kind == NamespaceKind::Network);

        let mut mounts = Vec::new();
        for (i, m) in spec.mounts().as_deref().unwrap_or_default().iter().enumerate() {
            mounts.push(MountOp::from_oci(m, has_network).map_err(|reason| invalid(format!("mounts[{i}]"), reason))?);
        }

        let mut devices = devices::defaults();
        for (i, d) in linux.devices().as_deref().unwrap_or_default().iter().enumerate() {
            let field = || format!("linux.devices[{i}]");
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
                LinuxDeviceType::B => DeviceKind::Block,
                LinuxDeviceType::P => DeviceKind::Fifo,
                LinuxDeviceType::A => return Err(invalid(field(), "type \"a\" is not a device node")),
            };
            let path = mounts::relative(&d.path().to_string_lossy()).map_err(|reason| invalid(field(), reason))?;
            let (major, minor) = (u32::try_from(d.major()), u32::try_from(d.minor()));
            let (Ok(major), Ok(minor)) = (major, minor) else { return Err(invalid(field(), "bad major/minor")) };
            let device = Device { path, kind, major, minor, mode: d.file_mode().unwrap_or(0o666) & 0o7777, uid: d.uid().unwrap_or(0), gid: d.gid().unwrap_or(0) };
            devices.retain(|existing| existing.path != device.path);
            devices.push(device);
        }

        let mut sysctls: Vec<(String, String)> =
            linux.sysctl().clone().unwrap_or_default().into_iter().collect();
        sysctls.sort();
        for (key, _) in &sysctls {
            check_sysctl(key, has_network).map_err(|reason| invalid(format!("linux.sysctl {key}"), reason))?;
        }

        // The spec's own device nodes are usable only as its device rules allow (as runc:
        // `--device /dev/fuse:/dev/fuse:r` must not be writable).
        let limits = match linux.resources() {
            Some(resources) => resources::limits(resources)?,
            None => Limits { devices: DeviceRule::docker_defaults(), ..Limits::default() },
        };
        Effective::of(&limits.devices).map_err(|e| invalid("linux.resources.devices", e.to_string()))?;
        if linux.rootfs_propagation().is_some() {
            ignored.push("linux.rootfsPropagation (the rootfs is always private)".into());
        }

        let process = process(spec, &mut ignored)?;
        Ok(Config {
            rootfs: root.path().clone(),
            readonly_rootfs: root.readonly().unwrap_or(false),
            new_pid_namespace,
            namespaces,
            mounts,
            devices,
            masked_paths: linux.masked_paths().clone().unwrap_or_default(),
            readonly_paths: linux.readonly_paths().clone().unwrap_or_default(),
            sysctls,
            hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
            process,
            cgroups_path: linux.cgroups_path().as_ref().map(|p| p.to_string_lossy().into_owned()),
            cgroup_version: resources::cgroup_version(spec)?,
            limits,
            seccomp,
            ignored,
        })
    }
}

fn process(spec: &Spec, ignored: &mut Vec<String>) -> Result<Process, SpecError> {
    let p = spec.process().as_ref().ok_or_else(|| invalid("process", "missing"))?;
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(invalid("process.args", "no command to run"));
    }
    if p.terminal().unwrap_or(false) {
        return Err(invalid("process.terminal", "a terminal is not supported yet"));
    }
    let cwd = p.cwd().to_string_lossy().into_owned();
    if !cwd.starts_with('/') {
        return Err(invalid("process.cwd", format!("{cwd:?} is not absolute")));
    }
    let env = p.env().clone().unwrap_or_default();
    if let Some(bad) = env.iter().find(|e| !e.contains('=') || e.contains('\0')) {
        return Err(invalid("process.env", format!("{bad:?} is not K=V")));
    }
    if args.iter().chain(&env).any(|a| a.contains('\0')) {
        return Err(invalid("process.args", "contains a NUL byte"));
    }
    let additional = p.user().additional_gids().clone().unwrap_or_default();
    let user = match spec.annotations().as_ref().and_then(|a| a.get(USER_ANNOTATION)).filter(|u| !u.is_empty()) {
        Some(docker) => UserRequest::Docker { user: docker.clone(), additional },
        None => UserRequest::Ids { uid: p.user().uid(), gid: p.user().gid(), additional },
    };
    let mut rlimits = Vec::new();
    for r in p.rlimits().as_deref().unwrap_or_default() {
        let name = serde_json::to_value(r.typ()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let (resource, name) = rlimit_resource(&name).ok_or_else(|| invalid("process.rlimits", format!("unknown {name}")))?;
        if r.soft() > r.hard() {
            return Err(invalid("process.rlimits", format!("{name}: soft limit above hard limit")));
        }
        rlimits.push(Rlimit { resource, name, soft: r.soft(), hard: r.hard() });
    }
    if p.apparmor_profile().as_ref().is_some_and(|a| !a.is_empty()) {
        ignored.push("process.apparmorProfile (AppArmor is not applied)".into());
    }
    if p.selinux_label().as_ref().is_some_and(|a| !a.is_empty()) {
        ignored.push("process.selinuxLabel (SELinux is not applied)".into());
    }
    let (capabilities, unknown) = CapSets::from_oci(p.capabilities().as_ref());
    for cap in unknown {
        ignored.push(format!("capability {cap} (not known to this build)"));
    }
    Ok(Process {
        args,
        env,
        cwd,
        user,
        umask: p.user().umask().unwrap_or(0o022),
        capabilities,
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        rlimits,
        oom_score_adj: p.oom_score_adj(),
    })
}

/// The sysctls a container may set: those its own namespaces isolate (runc's rule).
fn check_sysctl(key: &str, has_network: bool) -> Result<(), &'static str> {
    const IPC: &[&str] = &["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
    if key.contains("..") || key.contains('/') || key.is_empty() {
        return Err("not a sysctl name");
    }
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        return Ok(());
    }
    if key.starts_with("net.") {
        return if has_network { Ok(()) } else { Err("net.* needs the container's own network namespace") };
    }
    Err("not namespaced: it would change the host")
}

fn rlimit_resource(name: &str) -> Option<(rustix::process::Resource, &'static str)> {
    use rustix::process::Resource as R;
    let table: &[(&'static str, R)] = &[
        ("RLIMIT_CPU", R::Cpu),
        ("RLIMIT_FSIZE", R::Fsize),
        ("RLIMIT_DATA", R::Data),
        ("RLIMIT_STACK", R::Stack),
        ("RLIMIT_CORE", R::Core),
        ("RLIMIT_RSS", R::Rss),
        ("RLIMIT_NPROC", R::Nproc),
        ("RLIMIT_NOFILE", R::Nofile),
        ("RLIMIT_MEMLOCK", R::Memlock),
        ("RLIMIT_AS", R::As),
        ("RLIMIT_LOCKS", R::Locks),
        ("RLIMIT_SIGPENDING", R::Sigpending),
        ("RLIMIT_MSGQUEUE", R::Msgqueue),
        ("RLIMIT_NICE", R::Nice),
        ("RLIMIT_RTPRIO", R::Rtprio),
        ("RLIMIT_RTTIME", R::Rttime),
    ];
    table.iter().find(|(n, _)| *n == name).map(|(n, r)| (*r, *n))
}

mod resources;
#[cfg(test)]
mod tests;
