//! cgroups against the real kernel: the v2 device program (in this machine's unified
//! hierarchy, which takes device programs though it has no controllers) decides as v1's
//! devices controller does for the same rules; it goes with its cgroup; and the limits
//! land in their files on v1. First through the kernel crate with a plain `sh` in a
//! cgroup under `/hostctl-test-cg-*`, then through the real shim (`hostctl shim start`
//! on a busybox bundle) and a real daemon. Every test counts what it leaves: nothing.
//! Needs root and `cargo build --release -p hostctl` first.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use hostctl_kernel::cgroups::bpf::syscall::{attached_device_programs, device_program_by_id};
use hostctl_kernel::cgroups::{Cgroup, DeviceRule, Hierarchies, Limits, Version, VersionChoice};
use hostctl_tests::bundle::{SpecOptions, TestBundle};
use hostctl_tests::daemon::{Options, TestDaemon, hostctl_bin};
use hostctl_tests::kernel::{cgroups_under, remove_cgroups};
use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder};

/// A cgroup parent for one test, removed (with anything below it) in every hierarchy
/// when dropped.
struct Parent(String);

impl Parent {
    fn new(tag: &str) -> Parent {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        Parent(format!("/hostctl-test-cg-{}-{nanos}-{tag}", std::process::id()))
    }

    fn leaf(&self, name: &str) -> String {
        format!("{}/{name}", self.0)
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        remove_cgroups(&self.0);
    }
}

fn v2() -> Hierarchies {
    Hierarchies::detect().and_then(|h| h.choose(VersionChoice::V2)).expect("a cgroup2 hierarchy (DESIGN.md: /sys/fs/cgroup/unified)")
}

fn v1() -> Hierarchies {
    Hierarchies::detect().and_then(|h| h.choose(VersionChoice::V1)).expect("cgroup v1 hierarchies")
}

fn rule(allow: bool, kind: char, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
    DeviceRule { allow, kind, major, minor, access: access.into() }
}

/// Each check (a label and a shell command) run by `sh` inside `cgroup` (joined between
/// fork and exec), in a fresh directory for its device nodes: one line per check,
/// `label: ok`, `label: EPERM`, or `label: <the error>`.
fn checks_in(cgroup: &Cgroup, checks: &[(&str, &str)]) -> String {
    let dir = tempfile::Builder::new().prefix("hostctl-test-cg-").tempdir().unwrap();
    let mut script = String::from(
        "check() { if sh -c \"$2\" 2>err; then echo \"$1: ok\"; \
         elif grep -q 'Operation not permitted' err; then echo \"$1: EPERM\"; else echo \"$1: $(cat err)\"; fi; }\n",
    );
    for (label, command) in checks {
        script.push_str(&format!("check '{label}' '{command}'\n"));
    }
    let handles = cgroup.join_handles().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).current_dir(dir.path());
    // SAFETY: the closure runs between fork and exec and only calls `join_self`, a loop
    // of write(2) on descriptors opened before the fork.
    unsafe {
        cmd.pre_exec(move || handles.join_self().map_err(std::io::Error::from));
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// What a container would try with the host's devices: make nodes, open them.
const DEVICE_CHECKS: &[(&str, &str)] = &[
    ("mknod c 1:3", "mknod null c 1 3"),
    ("mknod c 1:11", "mknod kmsg c 1 11"),
    ("mknod b 7:0", "mknod loop b 7 0"),
    ("write c 1:3", "echo x > null"),
    ("read c 1:11", ": < kmsg"),
    ("write c 1:11", ": > kmsg"),
    ("read b 7:0", ": < loop"),
];

/// Run [`DEVICE_CHECKS`] under `rules` in a v2 cgroup and in a v1 one; both answers.
fn device_checks_on_both(rules: Vec<DeviceRule>) -> (String, String) {
    let parent = Parent::new("dev");
    let limits = Limits { devices: rules, ..Limits::default() };
    let answers = [v2(), v1()].map(|h| {
        let cgroup = h.create(&parent.leaf("c"), &limits).unwrap();
        let answer = checks_in(&cgroup, DEVICE_CHECKS);
        cgroup.remove().unwrap();
        answer
    });
    assert!(cgroups_under(&parent.0).is_empty(), "{:?}", cgroups_under(&parent.0));
    let [on_v2, on_v1] = answers;
    (on_v2, on_v1)
}

#[test]
fn the_v2_device_program_denies_what_dockers_rules_do_not_allow_as_v1_does() {
    let (on_v2, on_v1) = device_checks_on_both(DeviceRule::docker_defaults());
    assert_eq!(
        on_v2,
        "mknod c 1:3: ok\nmknod c 1:11: ok\nmknod b 7:0: ok\nwrite c 1:3: ok\nread c 1:11: EPERM\nwrite c 1:11: EPERM\nread b 7:0: EPERM\n"
    );
    assert_eq!(on_v2, on_v1, "v2 decides as v1 for the same rules");
}

#[test]
fn a_v2_rule_opens_a_device_for_the_access_it_names_only() {
    let mut rules = DeviceRule::docker_defaults();
    rules.push(rule(true, 'c', Some(1), Some(11), "r"));
    rules.push(rule(true, 'b', Some(7), None, "rw"));
    let (on_v2, on_v1) = device_checks_on_both(rules);
    assert!(on_v2.contains("read c 1:11: ok\nwrite c 1:11: EPERM\nread b 7:0: ok\n"), "{on_v2}");
    assert_eq!(on_v2, on_v1);
}

#[test]
fn without_mknod_access_v2_refuses_mknod() {
    let (on_v2, on_v1) = device_checks_on_both(vec![rule(false, 'a', None, None, "rwm"), rule(true, 'c', Some(1), Some(3), "rw")]);
    assert!(on_v2.starts_with("mknod c 1:3: EPERM\nmknod c 1:11: EPERM\nmknod b 7:0: EPERM\n"), "{on_v2}");
    assert_eq!(on_v2, on_v1);
}

#[test]
fn the_device_program_goes_with_its_cgroup_and_is_replaced_when_the_cgroup_is_reused() {
    let parent = Parent::new("prog");
    let h = v2();
    let path = parent.leaf("c");
    let first = h.create(&path, &Limits { devices: DeviceRule::docker_defaults(), ..Limits::default() }).unwrap();
    let open = |cg: &Cgroup| std::fs::File::open(cg.dirs().next().unwrap()).unwrap();
    let ids = attached_device_programs(open(&first)).unwrap();
    assert_eq!(ids.len(), 1, "{ids:?}");

    // Made again (a start the shim retries): one program, the new one.
    let mut rules = DeviceRule::docker_defaults();
    rules.push(rule(true, 'c', Some(1), Some(11), "r"));
    let again = h.create(&path, &Limits { devices: rules, ..Limits::default() }).unwrap();
    let now = attached_device_programs(open(&again)).unwrap();
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, ids);
    assert!(checks_in(&again, &[("read c 1:11", "mknod kmsg c 1 11 && : < kmsg")]).contains(": ok"));

    again.remove().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while device_program_by_id(now[0]).unwrap().is_some() {
        assert!(Instant::now() < deadline, "program {} outlived its cgroup", now[0]);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(device_program_by_id(ids[0]).unwrap().is_none());
    assert!(cgroups_under(&parent.0).is_empty());
}

#[test]
fn a_hole_in_a_wildcard_rule_is_refused_before_anything_is_made() {
    let parent = Parent::new("hole");
    let mut rules = DeviceRule::docker_defaults();
    rules.push(rule(false, 'c', Some(136), Some(3), "rw"));
    for h in [v2(), v1()] {
        let err = h.create(&parent.leaf("c"), &Limits { devices: rules.clone(), ..Limits::default() }).unwrap_err().to_string();
        assert!(err.contains("cannot take access away from part of the earlier wildcard rule \"c 136:* rwm\""), "{err}");
    }
    assert!(cgroups_under(&parent.0).is_empty());
}

// Through the shim.

fn sh(script: &str) -> SpecOptions {
    SpecOptions::new(&["sh", "-c", script])
}

fn on_v2(mut options: SpecOptions) -> SpecOptions {
    options.cgroup_version = VersionChoice::V2;
    options
}

#[test]
fn a_container_in_the_unified_hierarchy_cannot_open_a_device_outside_its_rules() {
    let mut bundle = TestBundle::new(on_v2(sh(
        "mknod /tmp/kmsg c 1 11 && echo made; head -c 1 /tmp/kmsg; echo ok > /dev/null && echo null works; cat /proc/self/cgroup",
    )));
    bundle.run();
    let info = bundle.wait();
    bundle.assert_clean();
    assert_eq!(bundle.output("stderr"), "head: /tmp/kmsg: Operation not permitted\n");
    let stdout = bundle.output("stdout");
    assert!(stdout.starts_with("made\nnull works\n"), "{stdout}");
    assert!(stdout.lines().any(|l| l == format!("0::{}/c1", bundle.cgroup_parent())), "in the unified hierarchy: {stdout}");
    assert_eq!(info.exit_code, 0);
    assert!(!bundle.shim_log().contains("not applied"), "{}", bundle.shim_log());
}

#[test]
fn a_device_program_that_cannot_be_loaded_fails_the_start_naming_the_cgroup_and_leaves_nothing() {
    let mut bundle = TestBundle::new(on_v2(sh("true")));
    // Without CAP_BPF and CAP_SYS_ADMIN the kernel refuses BPF_PROG_LOAD.
    let shim = bundle.start_command();
    let out = Command::new("setpriv")
        .args(["--bounding-set", "-sys_admin,-bpf", "--"])
        .arg(shim.get_program())
        .args(shim.get_args())
        .output()
        .unwrap();
    let (failed, code) = bundle.parse_start(&out).expect_err("the start fails");
    assert_eq!(code, 1);
    let unified = Hierarchies::detect().unwrap().mounts().unified.clone().unwrap().mount_point;
    let dir = unified.join(bundle.cgroup_parent().trim_start_matches('/')).join("c1");
    assert_eq!(
        failed.message,
        format!("cgroup {}: device rules: bpf(BPF_PROG_LOAD): Operation not permitted (os error 1)", dir.display())
    );
    assert!(cgroups_under(bundle.cgroup_parent()).is_empty());
    bundle.assert_clean();
}

#[test]
fn limits_the_unified_hierarchy_cannot_apply_are_refused_by_name_and_leave_nothing() {
    let offered = std::fs::read_to_string(
        Hierarchies::detect().unwrap().mounts().unified.clone().unwrap().mount_point.join("cgroup.controllers"),
    )
    .unwrap();
    if offered.split_whitespace().any(|c| c == "memory") {
        return; // a host whose unified hierarchy has the memory controller applies it
    }
    let memory = LinuxMemoryBuilder::default().limit(64i64 << 20).build().unwrap();
    let swappiness = LinuxMemoryBuilder::default().swappiness(10u64).build().unwrap();
    let cases = [
        (memory, "the memory controller is not available, but a limit needs it"),
        (swappiness, "memory swappiness is a cgroup v1 setting: cgroup v2 has no file for it"),
    ];
    for (memory, want) in cases {
        let mut options = on_v2(sh("true"));
        options.resources = Some(LinuxResourcesBuilder::default().memory(memory).build().unwrap());
        let mut bundle = TestBundle::new(options);
        let (failed, _) = bundle.start().expect_err("refused");
        assert!(failed.message.contains(want), "{}", failed.message);
        assert!(failed.message.contains(&format!("{}/c1", bundle.cgroup_parent())), "names the cgroup: {}", failed.message);
        bundle.assert_clean();
    }
}

#[test]
fn cpuset_shares_quota_reservation_swap_swappiness_and_oom_land_in_their_v1_files() {
    if Hierarchies::detect().unwrap().version() != Version::V1 {
        return; // the v2 files are checked by the unit tests and the v2 tests above
    }
    let mut options = sh("grep Cpus_allowed_list /proc/self/status; echo ready; exec sleep 60");
    let cpu = LinuxCpuBuilder::default().shares(512u64).quota(50_000i64).period(100_000u64).cpus("0").mems("0").build().unwrap();
    let memory = LinuxMemoryBuilder::default()
        .limit(64i64 << 20)
        .reservation(32i64 << 20)
        .swap(128i64 << 20)
        .swappiness(10u64)
        .disable_oom_killer(true)
        .build()
        .unwrap();
    options.resources = Some(LinuxResourcesBuilder::default().cpu(cpu).memory(memory).build().unwrap());
    let mut bundle = TestBundle::new(options);
    bundle.run();
    bundle.wait_for_output("ready\n");
    let read = |controller: &str, file: &str| std::fs::read_to_string(bundle.cgroup_dir(controller).join(file)).unwrap().trim().to_owned();
    let files = [
        read("cpuset", "cpuset.cpus"),
        read("cpuset", "cpuset.mems"),
        read("cpu", "cpu.shares"),
        read("cpu", "cpu.cfs_quota_us"),
        read("memory", "memory.soft_limit_in_bytes"),
        read("memory", "memory.memsw.limit_in_bytes"),
        read("memory", "memory.swappiness"),
    ];
    let oom_control = read("memory", "memory.oom_control");
    assert_eq!(bundle.request(&hostctl_shim::protocol::Request::Kill { signal: 9 }), hostctl_shim::protocol::Response::Ok);
    bundle.wait();
    bundle.assert_clean();
    let want = ["0", "0", "512", "50000", "33554432", "134217728", "10"];
    assert_eq!(files, want.map(String::from));
    assert!(oom_control.lines().any(|l| l == "oom_kill_disable 1"), "{oom_control}");
    assert_eq!(bundle.output("stdout"), "Cpus_allowed_list:\t0\nready\n", "the kernel holds the container to CPU 0");
}

#[test]
fn a_plain_start_stays_out_of_the_cpuset_hierarchy() {
    let mut bundle = TestBundle::new(sh("echo ready; exec sleep 60"));
    bundle.run();
    bundle.wait_for_output("ready\n");
    let cgroups = cgroups_under(bundle.cgroup_parent());
    assert_eq!(bundle.request(&hostctl_shim::protocol::Request::Kill { signal: 9 }), hostctl_shim::protocol::Response::Ok);
    bundle.wait();
    bundle.assert_clean();
    assert!(!cgroups.is_empty());
    assert!(cgroups.iter().all(|cg| !cg.starts_with("/sys/fs/cgroup/cpuset")), "{cgroups:?}");
}

#[test]
fn a_cpuset_the_host_lacks_is_refused_with_dockers_words_and_leaves_nothing() {
    let available = hostctl_kernel::cgroups::cpuset::Available::of_host();
    let mut options = sh("true");
    options.resources = Some(LinuxResourcesBuilder::default().cpu(LinuxCpuBuilder::default().cpus("0-4095").build().unwrap()).build().unwrap());
    let mut bundle = TestBundle::new(options);
    let (failed, code) = bundle.start().expect_err("refused");
    assert_eq!(code, 1);
    let want = format!("Requested CPUs are not available - requested 0-4095, available: {}", available.cpus);
    assert!(failed.message.ends_with(&want), "{}", failed.message);
    bundle.assert_clean();
}

// Through a daemon.

#[test]
fn a_daemon_set_to_cgroup_v2_denies_devices_with_the_program_and_refuses_limits_v2_lacks() {
    let config = "[containers]\ncgroup-version = \"v2\"\n".to_string();
    let mut daemon = TestDaemon::with_busybox_and(Options { config, ..Options::default() });
    let script = "mknod /tmp/k c 1 11 && head -c 1 /tmp/k; cat /proc/self/cgroup";
    let out = daemon.hostctl(&["run", "--rm", "busybox", "sh", "-c", script]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(stderr, "head: /tmp/k: Operation not permitted\n");
    let unified_line = format!("0::/{}/", daemon.cgroup_parent());
    assert!(stdout.lines().any(|l| l.starts_with(&unified_line)), "in the unified hierarchy: {stdout}");

    let offered = std::fs::read_to_string(v2().mounts().unified.clone().unwrap().mount_point.join("cgroup.controllers")).unwrap();
    if !offered.split_whitespace().any(|c| c == "memory") {
        let out = daemon.hostctl(&["run", "--rm", "--memory", "64m", "busybox", "true"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("the memory controller is not available, but a limit needs it"), "{stderr}");
    }
    for id in daemon.ok(&["ps", "-aq"]).lines() {
        daemon.ok(&["rm", "-f", id]);
    }
    daemon.stop();
}

#[test]
fn a_daemon_refuses_a_cgroup_version_it_does_not_know_with_its_place() {
    let dir = tempfile::Builder::new().prefix("hostctl-test-cg-").tempdir().unwrap();
    let config = dir.path().join("hostctl.toml");
    std::fs::write(&config, "[containers]\ncgroup-version = \"v3\"\n").unwrap();
    let out = Command::new(hostctl_bin()).args(["daemon", "--config"]).arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("hostctl.toml:2:18: containers.cgroup-version: cgroup version \"v3\": expected auto, v1 or v2"), "{stderr}");
}
