use super::*;
use oci_spec::runtime::{
    LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxPidsBuilder,
    LinuxResourcesBuilder, MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, SpecBuilder,
    UserBuilder,
};

fn ns(typ: LinuxNamespaceType) -> oci_spec::runtime::LinuxNamespace {
    LinuxNamespaceBuilder::default().typ(typ).build().unwrap()
}

fn mount(dest: &str, typ: &str, options: &[&str]) -> oci_spec::runtime::Mount {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(typ)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .unwrap()
}

/// The shape the daemon writes (see the shim's bundle docs).
fn spec(namespaces: Vec<LinuxNamespaceType>) -> SpecBuilder {
    let caps: oci_spec::runtime::Capabilities = [oci_spec::runtime::Capability::Chown, oci_spec::runtime::Capability::Kill].into_iter().collect();
    SpecBuilder::default()
        .root(RootBuilder::default().path("/rootfs").readonly(false).build().unwrap())
        .hostname("web")
        .process(
            ProcessBuilder::default()
                .args(vec!["sh".to_string(), "-c".to_string(), "exit 3".to_string()])
                .env(vec!["PATH=/bin".to_string(), "A=1".to_string()])
                .cwd("/srv")
                .user(UserBuilder::default().uid(0u32).gid(0u32).build().unwrap())
                .capabilities(
                    LinuxCapabilitiesBuilder::default()
                        .bounding(caps.clone())
                        .effective(caps.clone())
                        .permitted(caps)
                        .build()
                        .unwrap(),
                )
                .no_new_privileges(true)
                .rlimits(vec![PosixRlimitBuilder::default().typ(PosixRlimitType::RlimitNofile).soft(1024u64).hard(4096u64).build().unwrap()])
                .build()
                .unwrap(),
        )
        .mounts(vec![
            mount("/proc", "proc", &["nosuid", "noexec", "nodev"]),
            mount("/sys", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
        ])
        .linux(
            LinuxBuilder::default()
                .namespaces(namespaces.into_iter().map(ns).collect::<Vec<_>>())
                .cgroups_path("/hostctl/abc")
                .resources(
                    LinuxResourcesBuilder::default()
                        .memory(LinuxMemoryBuilder::default().limit(16i64 << 20).build().unwrap())
                        .cpu(LinuxCpuBuilder::default().quota(50_000i64).period(100_000u64).build().unwrap())
                        .pids(LinuxPidsBuilder::default().limit(10i64).build().unwrap())
                        .build()
                        .unwrap(),
                )
                .masked_paths(vec!["/proc/kcore".to_string()])
                .readonly_paths(vec!["/proc/sys".to_string()])
                .build()
                .unwrap(),
        )
}

use LinuxNamespaceType::{Ipc, Mount as MountNs, Network, Pid, Uts};

#[test]
fn the_daemons_spec_translates() {
    let config = Config::from_spec(&spec(vec![Pid, MountNs, Uts, Ipc, Network]).build().unwrap()).unwrap();
    assert!(config.new_pid_namespace);
    let kinds: Vec<_> = config.namespaces.iter().map(|n| n.kind).collect();
    assert_eq!(kinds, [NamespaceKind::Mount, NamespaceKind::Uts, NamespaceKind::Ipc, NamespaceKind::Network]);
    assert_eq!(config.rootfs, PathBuf::from("/rootfs"));
    assert_eq!(config.hostname.as_deref(), Some("web"));
    assert_eq!(config.cgroups_path.as_deref(), Some("/hostctl/abc"));
    assert_eq!(
        config.limits,
        Limits {
            memory: Some(16 << 20),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            pids: Some(10),
            devices: DeviceRule::docker_defaults(),
            ..Limits::default()
        }
    );
    assert_eq!(config.process.cwd, "/srv");
    assert_eq!(config.process.path_env(), "/bin");
    assert_eq!(config.process.capabilities.bounding, 1 << 0 | 1 << 5);
    assert!(config.process.no_new_privileges);
    assert_eq!(config.process.rlimits[0].name, "RLIMIT_NOFILE");
    assert_eq!(config.process.rlimits[0].soft, 1024);
    assert_eq!(config.devices.len(), 6, "runc's default devices");
    assert!(matches!(config.mounts[1].source, mounts::MountSource::Fresh { .. }), "sysfs is fresh in a new netns");
    assert!(config.ignored.is_empty(), "{:?}", config.ignored);
}

#[test]
fn device_rules_start_from_dockers_and_follow_the_specs_own() {
    let mut spec = spec(vec![Pid, MountNs]).build().unwrap();
    let linux = spec.linux_mut().as_mut().unwrap();
    linux.set_devices(Some(vec![oci_spec::runtime::LinuxDeviceBuilder::default()
        .path("/dev/fuse")
        .typ(LinuxDeviceType::C)
        .major(10i64)
        .minor(229i64)
        .build()
        .unwrap()]));
    let rule = oci_spec::runtime::LinuxDeviceCgroupBuilder::default().allow(true).typ(LinuxDeviceType::B).major(7i64).access("r").build().unwrap();
    linux.resources_mut().as_mut().unwrap().set_devices(Some(vec![rule]));
    let config = Config::from_spec(&spec).unwrap();
    let lines: Vec<String> = config.limits.devices.iter().map(|r| r.line()).collect();
    assert_eq!(lines[0], "a *:* rwm");
    assert!(!config.limits.devices[0].allow);
    assert_eq!(lines.last().unwrap(), "b 7:* r", "a spec's node gets no rule of its own: {lines:?}");
    assert_eq!(config.devices.last().unwrap().path, "dev/fuse");
}

#[test]
fn host_network_binds_the_hosts_sys() {
    let config = Config::from_spec(&spec(vec![Pid, MountNs, Uts, Ipc]).build().unwrap()).unwrap();
    assert!(!config.has_network_namespace());
    assert_eq!(config.mounts[1].source, mounts::MountSource::Bind { source: "/sys".into(), recursive: false });
}

#[test]
fn the_user_annotation_wins_over_numeric_ids() {
    let mut annotations = std::collections::HashMap::new();
    annotations.insert(USER_ANNOTATION.to_string(), "nobody".to_string());
    let config = Config::from_spec(&spec(vec![Pid, MountNs]).annotations(annotations).build().unwrap()).unwrap();
    assert_eq!(config.process.user, UserRequest::Docker { user: "nobody".into(), additional: vec![] });
}

#[test]
fn what_cannot_be_honoured_is_refused() {
    let no_mount_ns = Config::from_spec(&spec(vec![Pid, Uts]).build().unwrap()).unwrap_err();
    assert!(no_mount_ns.reason.contains("mount namespace"), "{no_mount_ns}");
    let user_ns = Config::from_spec(&spec(vec![Pid, MountNs, LinuxNamespaceType::User]).build().unwrap()).unwrap_err();
    assert_eq!(user_ns.to_string(), "config.json: linux.namespaces: user namespaces are not supported yet");
    let mut no_args = spec(vec![MountNs]).build().unwrap();
    no_args.process_mut().as_mut().unwrap().set_args(Some(vec![]));
    assert!(Config::from_spec(&no_args).is_err());
    let mut relative_cwd = spec(vec![MountNs]).build().unwrap();
    relative_cwd.process_mut().as_mut().unwrap().set_cwd("srv".into());
    assert!(Config::from_spec(&relative_cwd).is_err());
}

#[test]
fn only_namespaced_sysctls_are_allowed() {
    assert!(check_sysctl("net.ipv4.ip_unprivileged_port_start", true).is_ok());
    assert!(check_sysctl("net.ipv4.ip_forward", false).is_err());
    assert!(check_sysctl("kernel.shmmax", false).is_ok());
    assert!(check_sysctl("kernel.panic", true).is_err());
    assert!(check_sysctl("net/../kernel", true).is_err());
}

#[test]
fn linux_seccomp_is_compiled_before_the_fork_and_a_notify_rule_is_refused_by_name() {
    use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscallBuilder};
    let rule = |name: &str, action| LinuxSyscallBuilder::default().names(vec![name.to_owned()]).action(action).build().unwrap();
    let seccomp = |rules| LinuxSeccompBuilder::default().default_action(LinuxSeccompAction::ScmpActErrno).syscalls(rules).build().unwrap();
    let mut with_filter = spec(vec![Pid, MountNs]).build().unwrap();
    let rules = vec![rule("read", LinuxSeccompAction::ScmpActAllow), rule("not_a_syscall", LinuxSeccompAction::ScmpActAllow)];
    with_filter.linux_mut().as_mut().unwrap().set_seccomp(Some(seccomp(rules)));
    let config = Config::from_spec(&with_filter).unwrap();
    assert!(!config.seccomp.as_ref().unwrap().program().is_empty());
    assert_eq!(config.ignored, ["linux.seccomp: system calls libseccomp does not know: not_a_syscall"]);
    assert!(Config::from_spec(&spec(vec![Pid, MountNs]).build().unwrap()).unwrap().seccomp.is_none());

    let mut notify = spec(vec![Pid, MountNs]).build().unwrap();
    notify.linux_mut().as_mut().unwrap().set_seccomp(Some(seccomp(vec![rule("mkdir", LinuxSeccompAction::ScmpActNotify)])));
    let err = Config::from_spec(&notify).unwrap_err().to_string();
    assert!(err.starts_with("config.json: linux.seccomp: syscalls[0].action: SCMP_ACT_NOTIFY needs a seccomp agent"), "{err}");
}

#[test]
fn the_daemons_precompiled_program_is_used_when_it_was_made_from_this_spec() {
    use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscallBuilder};
    let seccomp = |name: &str| {
        let rule = LinuxSyscallBuilder::default().names(vec![name.to_owned()]).action(LinuxSeccompAction::ScmpActAllow).build().unwrap();
        LinuxSeccompBuilder::default().default_action(LinuxSeccompAction::ScmpActErrno).syscalls(vec![rule]).build().unwrap()
    };
    let (theirs, ours) = (seccomp("write"), seccomp("read"));
    // A program compiled from another spec, labelled as made from ours: taken as is,
    // which shows the shim does not compile when the daemon did.
    let program = seccomp::compile(&theirs).unwrap();
    let mut annotated = spec(vec![Pid, MountNs]).build().unwrap();
    annotated.linux_mut().as_mut().unwrap().set_seccomp(Some(ours.clone()));
    let annotations = [(seccomp::PRECOMPILED_ANNOTATION.to_owned(), program.encode(&ours))].into_iter().collect();
    annotated.set_annotations(Some(annotations));
    assert_eq!(Config::from_spec(&annotated).unwrap().seccomp, Some(program.clone()));
    // Made from another linux.seccomp: compiled again.
    let stale = [(seccomp::PRECOMPILED_ANNOTATION.to_owned(), program.encode(&theirs))].into_iter().collect();
    annotated.set_annotations(Some(stale));
    assert_eq!(Config::from_spec(&annotated).unwrap().seccomp, Some(seccomp::compile(&ours).unwrap()));
}
