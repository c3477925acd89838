//! The OCI runtime spec (`config.json`) of a container: what the shim runs. It is the
//! internal description of a container, so a bundle the daemon writes is one runc would
//! accept. Docker's defaults throughout: its mounts, masked and read-only paths, and
//! capability set, seccomp profile ([`super::seccomp`]) and `no_new_privs`; new pid,
//! mount, uts, ipc and (unless `--network host`) network namespaces. Its two halves live
//! beside it: [`security`] (capabilities, rlimits, `--init`, devices, what `--privileged`
//! changes) and [`resources`] (the cgroup limits).

mod resources;
mod security;

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{
    LinuxBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder, get_default_maskedpaths, get_default_mounts, get_default_readonly_paths,
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

#[derive(Debug, thiserror::Error)]
#[error("container {id}: building its OCI spec: {message}")]
pub struct SpecError {
    id: String,
    message: String,
}

/// The spec for `record`, whose rootfs is mounted at `rootfs`.
pub fn build(record: &ContainerRecord, rootfs: &Path, bundle: &Bundle) -> Result<Spec, SpecError> {
    let err = |e: &dyn std::fmt::Display| SpecError { id: record.id.clone(), message: e.to_string() };
    let hc = &record.host_config;
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(UserBuilder::default().uid(0u32).gid(0u32).build().map_err(|e| err(&e))?)
        .args(security::args(record))
        .env(record.env.clone())
        .cwd(if record.working_dir.is_empty() { "/".to_owned() } else { record.working_dir.clone() })
        .capabilities(security::capabilities(&record.granted.capabilities).map_err(|e| err(&e))?)
        .rlimits(security::rlimits(&record.granted.rlimits).map_err(|e| err(&e))?)
        .no_new_privileges(record.security.no_new_privileges)
        .build()
        .map_err(|e| err(&e))?;

    let host_network = hc.network_mode == "host";
    let mounts = mounts(record, bundle, host_network).map_err(|e| err(&e))?;

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

    let (devices, device_rules) = security::devices(record).map_err(|e| err(&e))?;
    // A privileged container sees everything (Docker clears both lists).
    let (mut masked, mut readonly) = (get_default_maskedpaths(), get_default_readonly_paths());
    masked.extend(EXTRA_MASKED.iter().map(|p| (*p).to_owned()));
    if hc.privileged {
        (masked, readonly) = (Vec::new(), Vec::new());
    }
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(record.cgroup_path.clone())
        .resources(resources::build(hc, device_rules).map_err(|e| err(&e))?)
        .devices(devices)
        .masked_paths(masked)
        .readonly_paths(readonly)
        .build()
        .map_err(|e| err(&e))?;

    let mut annotations = HashMap::new();
    if !record.user.is_empty() {
        annotations.insert(USER_ANNOTATION.to_owned(), record.user.clone());
    }
    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .root(RootBuilder::default().path(rootfs).readonly(hc.readonly_rootfs).build().map_err(|e| err(&e))?)
        .process(process)
        .hostname(record.hostname.clone())
        .mounts(mounts)
        .linux(linux)
        .annotations(annotations)
        .build()
        .map_err(|e| err(&e))?;
    // Docker's default profile (or the container's own) for the final bounding set; a
    // privileged container gets no default profile, as Docker's.
    let seccomp = super::seccomp::linux_seccomp(&record.security, &super::seccomp::bounding_of(&spec), hc.privileged).map_err(|e| err(&e))?;
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

/// Docker's default mounts (as `--privileged` and `--shm-size` change them), the init's
/// bind, the `-v`s, then `/etc/hostname` and `/etc/hosts`. `--read-only` changes none:
/// Docker keeps `/proc`, `/dev/*`, the volumes and these files writable, and the rest
/// of its defaults are read-only already.
fn mounts(record: &ContainerRecord, bundle: &Bundle, host_network: bool) -> Result<Vec<Mount>, String> {
    let e = |e: oci_spec::OciSpecError| e.to_string();
    let mut mounts = get_default_mounts();
    for m in mounts.iter_mut() {
        if m.destination() == Path::new("/proc") {
            // Docker's nosuid,noexec,nodev, and read-only: the container reads its
            // processes and writes nothing through procfs. (Docker leaves /proc writable
            // and makes only /proc/sys and friends read-only; oom_score_adj and sysctls
            // are written by the init before this mount exists.)
            m.set_options(Some(["nosuid", "noexec", "nodev", "ro"].map(String::from).to_vec()));
        }
        if host_network && m.destination() == Path::new("/sys") {
            // A fresh sysfs needs a network namespace of its own; bind the host's instead,
            // not recursively (so the host's /sys/fs/cgroup stays out), read-only unless
            // privileged.
            *m = MountBuilder::default()
                .destination("/sys")
                .typ("bind")
                .source("/sys")
                .options(["bind", "nosuid", "noexec", "nodev", "ro"].map(String::from).to_vec())
                .build()
                .map_err(e)?;
        }
    }
    security::adjust_mounts(&mut mounts, record);
    mounts.extend(security::init_mount(record)?);
    for point in &record.mounts {
        let mut options = vec!["rbind".to_owned(), "rprivate".to_owned()];
        if point.read_only {
            options.push("ro".into());
        }
        mounts.push(
            MountBuilder::default().destination(point.destination.clone()).typ("bind").source(point.source.clone()).options(options).build().map_err(e)?,
        );
    }
    for (file, dest) in [(bundle.hostname_file(), "/etc/hostname"), (bundle.hosts_file(), "/etc/hosts")] {
        mounts.push(MountBuilder::default().destination(dest).typ("bind").source(file).options(vec!["rbind".into(), "rprivate".into()]).build().map_err(e)?);
    }
    Ok(mounts)
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
    use crate::containers::devices::{DeviceNode, GrantedDevice};
    use crate::containers::records::State;
    use crate::containers::security::{Granted, Rlimit};
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
            granted: Granted::default(),
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

    fn spec_json(record: &ContainerRecord) -> serde_json::Value {
        serde_json::to_value(build(record, Path::new("/r"), &Bundle::new("/b")).unwrap()).unwrap()
    }

    fn mount<'a>(json: &'a serde_json::Value, destination: &str) -> &'a serde_json::Value {
        json["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == destination).unwrap()
    }

    fn options(json: &serde_json::Value, destination: &str) -> Vec<String> {
        serde_json::from_value(mount(json, destination)["options"].clone()).unwrap()
    }

    #[test]
    fn the_resolved_capabilities_and_rlimits_are_the_processs() {
        let mut r = record(HostConfig::default());
        r.granted.capabilities = vec!["CAP_NET_ADMIN".into()];
        r.granted.rlimits = vec![Rlimit { kind: "RLIMIT_NOFILE".into(), soft: 1024, hard: 2048 }];
        let json = spec_json(&r);
        for set in ["bounding", "effective", "permitted"] {
            assert_eq!(json["process"]["capabilities"][set], serde_json::json!(["CAP_NET_ADMIN"]), "{set}");
        }
        assert_eq!(json["process"]["rlimits"], serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}]));
        r.granted.capabilities.clear();
        let none = spec_json(&r);
        assert_eq!(none["process"]["capabilities"]["bounding"], serde_json::json!([]), "--cap-drop ALL");
    }

    #[test]
    fn a_default_container_is_confined_as_dockers() {
        let json = spec_json(&record(HostConfig { shm_size: 64 << 20, ..Default::default() }));
        assert!(options(&json, "/proc").contains(&"ro".to_owned()));
        assert!(options(&json, "/sys").contains(&"ro".to_owned()));
        assert!(options(&json, "/sys/fs/cgroup").contains(&"ro".to_owned()));
        assert!(!json["linux"]["maskedPaths"].as_array().unwrap().is_empty());
        assert!(!json["linux"]["readonlyPaths"].as_array().unwrap().is_empty());
        assert_eq!(json["linux"]["devices"], serde_json::json!([]));
        assert_eq!(json["linux"]["resources"]["devices"], serde_json::json!([]), "the kernel layer starts from Docker's rules");
        assert_eq!(json["root"]["readonly"], false);
        assert_eq!(json["process"]["args"], serde_json::json!(["sh", "-c", "true"]));
        assert!(options(&json, "/dev/shm").contains(&"size=67108864".to_owned()), "{:?}", options(&json, "/dev/shm"));
    }

    #[test]
    fn privileged_opens_proc_sys_cgroups_and_every_host_device() {
        let json = spec_json(&record(HostConfig { privileged: true, ..Default::default() }));
        for writable in ["/proc", "/sys", "/sys/fs/cgroup"] {
            assert!(!options(&json, writable).contains(&"ro".to_owned()), "{writable}: {:?}", options(&json, writable));
        }
        assert_eq!(json["linux"]["maskedPaths"], serde_json::json!([]));
        assert_eq!(json["linux"]["readonlyPaths"], serde_json::json!([]));
        assert!(json["linux"].get("seccomp").is_none(), "no default seccomp profile, as Docker's");
        assert_eq!(json["linux"]["resources"]["devices"], serde_json::json!([{"allow": true, "access": "rwm"}]));
        let devices = json["linux"]["devices"].as_array().unwrap();
        assert!(devices.iter().any(|d| d["path"] == "/dev/null" && d["type"] == "c" && d["major"] == 1 && d["minor"] == 3), "{devices:?}");
        let host = HostConfig { privileged: true, network_mode: "host".into(), ..Default::default() };
        let json = spec_json(&record(host));
        assert_eq!(mount(&json, "/sys")["type"], "bind");
        assert!(!options(&json, "/sys").contains(&"ro".to_owned()));
    }

    #[test]
    fn devices_come_with_their_cgroup_permissions() {
        let mut r = record(HostConfig::default());
        let node = DeviceNode { path: "/dev/fuse".into(), kind: 'c', major: 10, minor: 229, file_mode: 0o600, uid: 0, gid: 0 };
        r.granted.devices = vec![GrantedDevice { node, permissions: "r".into() }];
        let json = spec_json(&r);
        assert_eq!(
            json["linux"]["devices"],
            serde_json::json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600, "uid": 0, "gid": 0}])
        );
        assert_eq!(json["linux"]["resources"]["devices"], serde_json::json!([{"allow": true, "type": "c", "major": 10, "minor": 229, "access": "r"}]));
    }

    #[test]
    fn shm_size_is_the_size_of_dev_shm_and_dockers_by_default() {
        let json = spec_json(&record(HostConfig { shm_size: 16 << 20, ..Default::default() }));
        let shm = options(&json, "/dev/shm");
        assert_eq!(shm.iter().filter(|o| o.starts_with("size=")).collect::<Vec<_>>(), ["size=16777216"]);
        let json = spec_json(&record(HostConfig::default()));
        assert!(options(&json, "/dev/shm").contains(&"size=67108864".to_owned()), "a record from before ShmSize was filled in");
    }

    #[test]
    fn read_only_makes_the_root_read_only_and_keeps_the_rest() {
        let json = spec_json(&record(HostConfig { readonly_rootfs: true, ..Default::default() }));
        assert_eq!(json["root"]["readonly"], true);
        assert!(!options(&json, "/etc/hosts").contains(&"ro".to_owned()), "Docker keeps /etc/hosts writable");
        assert!(!options(&json, "/dev/shm").contains(&"ro".to_owned()));
    }

    #[test]
    fn init_runs_the_command_from_a_read_only_bind() {
        let mut r = record(HostConfig { init: Some(true), ..Default::default() });
        r.granted.init = Some("/usr/bin/tini-static".into());
        let json = spec_json(&r);
        assert_eq!(json["process"]["args"], serde_json::json!(["/sbin/docker-init", "--", "sh", "-c", "true"]));
        let init = mount(&json, "/sbin/docker-init");
        assert_eq!((init["source"].as_str(), init["type"].as_str()), (Some("/usr/bin/tini-static"), Some("bind")));
        assert_eq!(options(&json, "/sbin/docker-init"), ["bind", "ro"]);
    }
}
