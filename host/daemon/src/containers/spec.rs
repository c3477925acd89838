//! The OCI runtime spec (`config.json`) of a container: what the shim runs. It is the
//! internal description of a container, so a bundle the daemon writes is one runc would
//! accept. Docker's defaults throughout: its mounts, masked and read-only paths, and
//! capability set, seccomp profile ([`super::seccomp`]) and `no_new_privs`; new pid, mount, uts, ipc and (unless `--network host`) network
//! namespaces; the container's cgroup limits.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResourcesBuilder, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
    get_default_maskedpaths, get_default_mounts, get_default_readonly_paths,
};

use super::records::ContainerRecord;
use hostctl_shim::bundle::Bundle;

/// The annotation carrying Docker's `User` string, resolved by the container's init
/// inside the container (from its own /etc/passwd and /etc/group).
pub const USER_ANNOTATION: &str = "io.hostctl.user";

/// Docker's default capabilities (the kernel layer's list, the one place they are named).
pub use hostctl_kernel::container::capabilities::DOCKER_DEFAULT as DEFAULT_CAPABILITIES;

/// Docker also masks these (beyond oci-spec's defaults).
const EXTRA_MASKED: &[&str] = &["/proc/interrupts", "/sys/devices/virtual/powercap"];

/// CFS period for `--cpus` (Docker's).
const CPU_PERIOD: u64 = 100_000;

#[derive(Debug, thiserror::Error)]
#[error("container {id}: building its OCI spec: {message}")]
pub struct SpecError {
    id: String,
    message: String,
}

/// The spec for `record`, whose rootfs is mounted at `rootfs`.
pub fn build(record: &ContainerRecord, rootfs: &Path, bundle: &Bundle) -> Result<Spec, SpecError> {
    let err = |e: &dyn std::fmt::Display| SpecError { id: record.id.clone(), message: e.to_string() };
    let capabilities: oci_spec::runtime::Capabilities = DEFAULT_CAPABILITIES
        .iter()
        .map(|c| serde_json::from_value::<Capability>(serde_json::Value::String((*c).into())))
        .collect::<Result<_, _>>()
        .map_err(|e| err(&e))?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(UserBuilder::default().uid(0u32).gid(0u32).build().map_err(|e| err(&e))?)
        .args(record.command.clone())
        .env(record.env.clone())
        .cwd(if record.working_dir.is_empty() { "/".to_owned() } else { record.working_dir.clone() })
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(capabilities.clone())
                .effective(capabilities.clone())
                .permitted(capabilities)
                // Empty, as Docker has had it since CVE-2022-24769: an inheritable set
                // lets a file with inheritable capabilities gain them across exec.
                .inheritable(oci_spec::runtime::Capabilities::new())
                .ambient(oci_spec::runtime::Capabilities::new())
                .build()
                .map_err(|e| err(&e))?,
        )
        .no_new_privileges(record.security.no_new_privileges)
        .build()
        .map_err(|e| err(&e))?;

    let host_network = record.host_config.network_mode == "host";
    let mut mounts = get_default_mounts();
    for m in mounts.iter_mut() {
        if m.destination() == Path::new("/proc") {
            // Docker's nosuid,noexec,nodev, and read-only: the container reads its
            // processes and writes nothing through procfs. (Docker leaves /proc writable
            // and makes only /proc/sys and friends read-only; oom_score_adj and sysctls
            // are written by the init before this mount exists.)
            m.set_options(Some(["nosuid", "noexec", "nodev", "ro"].map(String::from).to_vec()));
        }
    }
    if host_network {
        // A fresh sysfs needs a network namespace of its own; bind the host's instead,
        // read-only and not recursively (so the host's /sys/fs/cgroup stays out).
        for m in mounts.iter_mut() {
            if m.destination() == Path::new("/sys") {
                *m = MountBuilder::default()
                    .destination("/sys")
                    .typ("bind")
                    .source("/sys")
                    .options(vec!["bind".into(), "nosuid".into(), "noexec".into(), "nodev".into(), "ro".into()])
                    .build()
                    .map_err(|e| err(&e))?;
            }
        }
    }
    for point in &record.mounts {
        let mut options = vec!["rbind".to_owned(), "rprivate".to_owned()];
        if point.read_only {
            options.push("ro".into());
        }
        mounts.push(
            MountBuilder::default()
                .destination(point.destination.clone())
                .typ("bind")
                .source(point.source.clone())
                .options(options)
                .build()
                .map_err(|e| err(&e))?,
        );
    }
    for (file, dest) in [(bundle.hostname_file(), "/etc/hostname"), (bundle.hosts_file(), "/etc/hosts")] {
        mounts.push(
            MountBuilder::default()
                .destination(dest)
                .typ("bind")
                .source(file)
                .options(vec!["rbind".into(), "rprivate".into()])
                .build()
                .map_err(|e| err(&e))?,
        );
    }

    let mut namespaces = [LinuxNamespaceType::Pid, LinuxNamespaceType::Mount, LinuxNamespaceType::Uts, LinuxNamespaceType::Ipc]
        .into_iter()
        .map(|t| LinuxNamespaceBuilder::default().typ(t).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(&e))?;
    if !host_network {
        // Its own network namespace: the one a network connected (by path), or a fresh
        // one with only `lo` (`--network none`).
        let mut net = LinuxNamespaceBuilder::default().typ(LinuxNamespaceType::Network);
        if let Some(path) = &record.netns {
            net = net.path(path.clone());
        }
        namespaces.push(net.build().map_err(|e| err(&e))?);
    }

    let hc = &record.host_config;
    let mut resources = LinuxResourcesBuilder::default();
    if hc.memory > 0 {
        resources = resources.memory(LinuxMemoryBuilder::default().limit(hc.memory).build().map_err(|e| err(&e))?);
    }
    if hc.nano_cpus > 0 {
        let quota = (hc.nano_cpus as u128 * CPU_PERIOD as u128 / 1_000_000_000) as i64;
        resources = resources.cpu(LinuxCpuBuilder::default().quota(quota).period(CPU_PERIOD).build().map_err(|e| err(&e))?);
    }
    if hc.pids_limit > 0 {
        resources = resources.pids(LinuxPidsBuilder::default().limit(hc.pids_limit).build().map_err(|e| err(&e))?);
    }
    let mut masked = get_default_maskedpaths();
    masked.extend(EXTRA_MASKED.iter().map(|p| (*p).to_owned()));
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(record.cgroup_path.clone())
        .resources(resources.build().map_err(|e| err(&e))?)
        .masked_paths(masked)
        .readonly_paths(get_default_readonly_paths())
        .build()
        .map_err(|e| err(&e))?;

    let mut annotations = HashMap::new();
    if !record.user.is_empty() {
        annotations.insert(USER_ANNOTATION.to_owned(), record.user.clone());
    }
    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .root(RootBuilder::default().path(rootfs).readonly(false).build().map_err(|e| err(&e))?)
        .process(process)
        .hostname(record.hostname.clone())
        .mounts(mounts)
        .linux(linux)
        .annotations(annotations)
        .build()
        .map_err(|e| err(&e))?;
    // Docker's default profile (or the container's own) for the final bounding set.
    // TODO(lead, at merge): pass HostConfig.Privileged (no default profile, as Docker).
    let privileged = false;
    let seccomp = super::seccomp::linux_seccomp(&record.security, &super::seccomp::bounding_of(&spec), privileged).map_err(|e| err(&e))?;
    if let Some(seccomp) = &seccomp {
        // Compiled once per distinct filter, here, rather than by every shim.
        let program = super::seccomp::precompiled(seccomp).map_err(|e| err(&e))?;
        let annotation = hostctl_kernel::container::seccomp::PRECOMPILED_ANNOTATION.to_owned();
        spec.annotations_mut().get_or_insert_with(HashMap::new).insert(annotation, program);
    }
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(seccomp);
    }
    Ok(spec)
}

/// `/etc/hosts` for a container of its own network namespace, as Docker writes it: the
/// loopback names, then the hostname on the container's address (`address`, without its
/// prefix length), or on 127.0.1.1 when it has none (`--network none`).
pub fn hosts_file(hostname: &str, address: Option<&str>) -> String {
    let address = address.unwrap_or("127.0.1.1");
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n{address}\t{hostname}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::records::State;
    use hostctl_api::types::HostConfig;

    fn record(host_config: HostConfig) -> ContainerRecord {
        ContainerRecord {
            id: "c".repeat(64),
            name: "web".into(),
            created: String::new(),
            image: "busybox".into(),
            image_id: hostctl_image::digest::Digest::of_bytes(b"x"),
            command: vec!["sh".into(), "-c".into(), "true".into()],
            env: vec!["PATH=/bin".into()],
            working_dir: "/srv".into(),
            hostname: "web".into(),
            user: "nobody".into(),
            labels: Default::default(),
            stop_signal: "SIGTERM".into(),
            host_config,
            cgroup_path: "/hostctl/ccc".into(),
            state: State::created(),
            rootfs: None,
            restart_count: 0,
            restart_delay_ms: 0,
            stopped_by_user: false,
            netns: None,
            endpoints: Vec::new(),
            mounts: Vec::new(),
            mount_points: Vec::new(),
            security: Default::default(),
        }
    }

    #[test]
    fn limits_and_namespaces_reach_the_spec() {
        let hc = HostConfig { memory: 64 << 20, nano_cpus: 500_000_000, pids_limit: 50, ..Default::default() };
        let spec = build(&record(hc), Path::new("/r"), &Bundle::new("/b")).unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(json["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(json["linux"]["resources"]["cpu"]["period"], 100_000);
        assert_eq!(json["linux"]["resources"]["pids"]["limit"], 50);
        let ns: Vec<&str> = json["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert_eq!(ns, ["pid", "mount", "uts", "ipc", "network"]);
        assert_eq!(json["process"]["cwd"], "/srv");
        assert_eq!(json["process"]["noNewPrivileges"], true);
        assert_eq!(json["annotations"][USER_ANNOTATION], "nobody");
        assert_eq!(json["process"]["capabilities"]["bounding"].as_array().unwrap().len(), DEFAULT_CAPABILITIES.len());
        assert_eq!(json["process"]["capabilities"]["inheritable"].as_array().unwrap().len(), 0, "CVE-2022-24769");
        assert_eq!(json["root"]["path"], "/r");
        assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO", "Docker's default profile");
        assert_eq!(json["linux"]["seccomp"]["architectures"][0], "SCMP_ARCH_X86_64");
        let program = json["annotations"][hostctl_kernel::container::seccomp::PRECOMPILED_ANNOTATION].as_str().unwrap();
        let seccomp = spec.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
        assert!(hostctl_kernel::container::seccomp::Filter::decode(program, seccomp).is_some(), "precompiled from this very filter");
    }

    #[test]
    fn security_options_reach_the_spec() {
        use super::super::seccomp::{Seccomp, SecurityOptions};
        let mut r = record(HostConfig::default());
        r.security = SecurityOptions { seccomp: Seccomp::Unconfined, no_new_privileges: false };
        let json = serde_json::to_value(build(&r, Path::new("/r"), &Bundle::new("/b")).unwrap()).unwrap();
        assert!(json["linux"].get("seccomp").is_none(), "unconfined: no filter");
        assert!(json["annotations"].get(hostctl_kernel::container::seccomp::PRECOMPILED_ANNOTATION).is_none());
        assert_eq!(json["process"]["noNewPrivileges"], false);
    }

    #[test]
    fn host_network_shares_the_namespace_and_binds_sys() {
        let hc = HostConfig { network_mode: "host".into(), ..Default::default() };
        let json = serde_json::to_value(build(&record(hc), Path::new("/r"), &Bundle::new("/b")).unwrap()).unwrap();
        assert!(json["linux"]["namespaces"].as_array().unwrap().iter().all(|n| n["type"] != "network"));
        let sys = json["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/sys").unwrap();
        assert_eq!(sys["type"], "bind");
    }
}
