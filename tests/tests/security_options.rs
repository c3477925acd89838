//! The security and resource options end to end, as Docker has them, against a real
//! daemon and the real kernel: `--cap-add`/`--cap-drop` in the process's capability sets,
//! `--privileged` (every capability of the bounding set, the host's devices, writable
//! `/sys` and `/proc`, a tmpfs mount), `--read-only` (EROFS on `/`), `--device` (the node
//! opens, its cgroup permissions hold, on v1 and under the v2 device program, another
//! device does not open), `--ulimit` (`ulimit -n`), the CPU and memory limits in the container's cgroup files, `--shm-size` (`df`),
//! `--init` (tini as PID 1: the command its child, SIGTERM forwarded, orphans reaped),
//! the same through the API's `HostConfig` and `run -f`, `inspect`'s Docker fields, and
//! every bad value refused at create with a 400 that names it, leaving nothing behind.
//! Every test ends with `stop()`, which asserts no mount, cgroup or process is left.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Output;
use std::time::{Duration, Instant};

use hostctl_tests::daemon::{Options, TestDaemon};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `hostctl run --rm --network none FLAGS busybox sh -c SCRIPT`, required to succeed;
/// its stdout.
fn run_ok(daemon: &TestDaemon, flags: &[&str], script: &str) -> String {
    let out = run(daemon, flags, script);
    assert!(out.status.success(), "run {flags:?} {script:?} failed ({}): {}{}\n{}", out.status, stdout(&out), stderr(&out), daemon.log());
    stdout(&out)
}

fn run(daemon: &TestDaemon, flags: &[&str], script: &str) -> Output {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    daemon.hostctl(&args)
}

/// `run` with `flags` is refused at create: exit 125, `message` in its error, and no
/// container left.
fn refused(daemon: &TestDaemon, flags: &[&str], message: &str) {
    let out = run(daemon, flags, "true");
    assert_eq!(out.status.code(), Some(125), "{flags:?}: {}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains(message), "{flags:?}: expected {message:?} in: {}", stderr(&out));
    assert_eq!(daemon.ok(&["ps", "-a", "-q"]), "", "{flags:?} left a container");
}

fn inspect(daemon: &TestDaemon, name: &str) -> serde_json::Value {
    let docs: serde_json::Value = serde_json::from_str(&daemon.ok(&["inspect", name])).expect("inspect prints JSON");
    docs[0].clone()
}

/// `Cap<set>:` of a `/proc/<pid>/status` text, as a number.
fn cap(status: &str, set: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with(&format!("Cap{set}:"))).unwrap_or_else(|| panic!("no Cap{set} in {status}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

/// A raw API call on the daemon's socket: (status, body).
fn api(daemon: &TestDaemon, method: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let body = body.to_string();
    let mut socket = UnixStream::connect(daemon.socket()).expect("connecting to the daemon");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: hostctl\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // A body may come chunked: the JSON is between the first `{` and the last `}`.
    let json = json.find('{').and_then(|start| json.rfind('}').map(|end| &json[start..=end])).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(serde_json::Value::Null))
}

/// Create `name` through the API with `host_config`, start it, wait for it; its output.
fn api_run(daemon: &TestDaemon, name: &str, script: &str, host_config: serde_json::Value) -> String {
    let request = serde_json::json!({"Image": "busybox", "Cmd": ["sh", "-c", script], "HostConfig": host_config});
    let (status, answer) = api(daemon, "POST", &format!("/containers/create?name={name}"), &request);
    assert_eq!(status, 201, "{answer}");
    daemon.ok(&["start", name]);
    daemon.ok(&["wait", name]);
    let logs = daemon.ok(&["logs", name]);
    daemon.ok(&["rm", name]);
    logs
}

#[test]
fn cap_drop_all_leaves_no_effective_capabilities() {
    let mut daemon = TestDaemon::with_busybox();
    let status = run_ok(&daemon, &["--cap-drop", "ALL"], "cat /proc/self/status");
    for set in ["Eff", "Prm", "Bnd", "Inh", "Amb"] {
        assert_eq!(cap(&status, set), 0, "Cap{set} with --cap-drop ALL: {status}");
    }
    // Drop ALL, then add: only what was added, in any spelling.
    let status = run_ok(&daemon, &["--cap-drop", "all", "--cap-add", "net_admin"], "cat /proc/self/status");
    assert_eq!(cap(&status, "Eff"), 1 << 12, "{status}");
    assert_eq!(cap(&status, "Bnd"), 1 << 12, "{status}");
    daemon.stop();
}

#[test]
fn cap_add_net_admin_shows_its_bit_and_grants_what_it_names() {
    let mut daemon = TestDaemon::with_busybox();
    let script = "grep CapEff /proc/self/status; ip link set lo down && echo lo-down";
    let default = run(&daemon, &[], script);
    assert!(stdout(&default).contains("CapEff:\t00000000a80425fb"), "{}", stdout(&default));
    assert!(!stdout(&default).contains("lo-down") && stderr(&default).contains("not permitted"), "{}{}", stdout(&default), stderr(&default));
    let added = run_ok(&daemon, &["--cap-add", "NET_ADMIN"], script);
    assert!(added.contains("CapEff:\t00000000a80435fb"), "the NET_ADMIN bit (12) on the default set: {added}");
    assert!(added.contains("lo-down"), "{added}");
    // Dropping one of the default set takes it away.
    let dropped = run(&daemon, &["--cap-drop", "CHOWN"], "grep CapEff /proc/self/status; chown 1 /tmp && echo chowned");
    assert!(stdout(&dropped).contains("CapEff:\t00000000a80425fa") && !stdout(&dropped).contains("chowned"), "{}", stdout(&dropped));
    daemon.stop();
}

#[test]
fn an_unknown_or_unavailable_capability_is_refused_at_create() {
    let mut daemon = TestDaemon::with_busybox();
    refused(&daemon, &["--cap-add", "FOO"], "invalid CapAdd: unknown capability: \"CAP_FOO\"");
    refused(&daemon, &["--cap-drop", "cap_bar"], "invalid CapDrop: unknown capability: \"CAP_BAR\"");
    // This host's bounding set lacks CAP_SYS_RESOURCE: Docker refuses it so, and so do we.
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    if cap(&host, "Bnd") & (1 << 24) == 0 {
        refused(&daemon, &["--cap-add", "SYS_RESOURCE"], "capability not supported by your kernel or not available in the current environment: \"CAP_SYS_RESOURCE\"");
    }
    daemon.stop();
}

#[test]
fn the_api_honours_cap_drop_readonly_rootfs_and_privileged() {
    // Issue 8, point 7: these got 201 and had no effect.
    let mut daemon = TestDaemon::with_busybox();
    let script = "grep CapEff /proc/self/status; touch /x 2>&1; mkdir -p /tmp/m 2>&1; mount -t tmpfs tmpfs /tmp/m 2>&1 && echo mounted";
    let confined = api_run(&daemon, "confined", script, serde_json::json!({"CapDrop": ["ALL"], "ReadonlyRootfs": true, "NetworkMode": "none"}));
    assert!(confined.contains("CapEff:\t0000000000000000"), "{confined}");
    assert!(confined.contains("Read-only file system"), "{confined}");
    assert!(!confined.contains("mounted"), "{confined}");
    let privileged = api_run(&daemon, "privileged", script, serde_json::json!({"Privileged": true, "NetworkMode": "none"}));
    assert!(privileged.contains("mounted"), "{privileged}");
    assert!(!privileged.contains("CapEff:\t0000000000000000") && !privileged.contains("Read-only"), "{privileged}");
    // A bad value is a 400 naming it, and leaves nothing.
    let bad = serde_json::json!({"Image": "busybox", "HostConfig": {"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}});
    let (status, answer) = api(&daemon, "POST", "/containers/create", &bad);
    assert_eq!((status, answer["message"].as_str()), (400, Some("invalid ulimit type: bogus")), "{answer}");
    let bad = serde_json::json!({"Image": "busybox", "HostConfig": {"ShmSize": -1}});
    let (status, answer) = api(&daemon, "POST", "/containers/create", &bad);
    assert_eq!((status, answer["message"].as_str()), (400, Some("ShmSize -1: SHM size can not be less than 0")), "{answer}");
    assert_eq!(daemon.ok(&["ps", "-a", "-q"]), "");
    daemon.stop();
}

#[test]
fn privileged_can_mount_tmpfs_and_a_default_container_cannot() {
    let mut daemon = TestDaemon::with_busybox();
    let script = "mkdir -p /tmp/m; mount -t tmpfs tmpfs /tmp/m && echo mounted && umount /tmp/m";
    let default = run(&daemon, &[], script);
    assert!(!stdout(&default).contains("mounted"), "{}", stdout(&default));
    assert_eq!(run_ok(&daemon, &["--privileged"], script), "mounted\n");

    // Every capability of the bounding set; writable /proc, /sys and cgroups; nothing
    // masked; the host's devices, all usable.
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let script = "cat /proc/self/status; grep -E '^(proc /proc|sysfs /sys|tmpfs /sys/fs/cgroup) ' /proc/mounts; \
                  echo timer_list $(wc -c < /proc/timer_list); ls /dev; true < /dev/fuse && echo fuse-opened";
    let inside = run_ok(&daemon, &["--privileged"], script);
    for set in ["Bnd", "Eff", "Prm"] {
        assert_eq!(cap(&inside, set), cap(&host, "Bnd"), "Cap{set} is the host's bounding set: {inside}");
    }
    assert!(inside.contains("Seccomp:\t0\n"), "no seccomp filter: {inside}");
    for mount in ["proc /proc proc rw", "sysfs /sys sysfs rw", "tmpfs /sys/fs/cgroup tmpfs rw"] {
        assert!(inside.contains(mount), "{mount}: {inside}");
    }
    assert!(!inside.contains("timer_list 0"), "/proc/timer_list is not masked: {inside}");
    for device in ["loop-control", "fuse", "net"] {
        assert!(inside.lines().any(|l| l == device), "/dev/{device} from the host: {inside}");
    }
    assert!(inside.contains("fuse-opened"), "{inside}");
    let default = run_ok(&daemon, &[], "ls /dev; cat /proc/self/status");
    assert!(!default.lines().any(|l| l == "loop-control"), "{default}");
    assert_eq!(cap(&default, "Bnd"), 0xa80425fb);
    assert!(default.contains("Seccomp:\t2\n"), "Docker's default profile: {default}");
    daemon.stop();
}

#[test]
fn read_only_refuses_writes_to_the_root_but_not_to_volumes_dev_shm_or_hosts() {
    let mut daemon = TestDaemon::with_busybox();
    let script = "for f in /x /tmp/x /dev/shm/x /data/x; do touch $f 2>/dev/null && echo $f:written || echo $f:refused; done; \
                  echo '# added' >> /etc/hosts && echo hosts:written; touch /x";
    let out = run(&daemon, &["--read-only", "-v", "scratch:/data"], script);
    let text = stdout(&out);
    for line in ["/x:refused", "/tmp/x:refused", "/dev/shm/x:written", "/data/x:written", "hosts:written"] {
        assert!(text.lines().any(|l| l == line), "{line}: {text}");
    }
    assert!(stderr(&out).contains("Read-only file system"), "EROFS: {}", stderr(&out));
    assert_eq!(run_ok(&daemon, &[], "touch /x && echo written"), "written\n", "without --read-only / is writable");
    daemon.ok(&["volume", "rm", "scratch"]);
    daemon.stop();
}

#[test]
fn a_device_opens_in_the_container_and_one_not_passed_does_not() {
    let mut daemon = TestDaemon::with_busybox();
    assert!(std::path::Path::new("/dev/fuse").exists() && std::path::Path::new("/dev/loop-control").exists(), "the host lacks a test device");
    // (Errors of a redirection go to the shell's stderr: `exec 2>&1` brings them here;
    // `true`, not the special built-in `:`, whose redirection error would end the shell.)
    let script = "exec 2>&1; stat -c '%F %t:%T %a' /dev/fuse; true < /dev/fuse && echo fuse-opened; \
                  mknod /tmp/lc c 10 237 && true < /tmp/lc || echo loop-control-refused";
    let out = run_ok(&daemon, &["--device", "/dev/fuse"], script);
    assert!(out.contains("character special file a:e5 600"), "10:229 as on the host: {out}");
    assert!(out.contains("fuse-opened"), "{out}");
    assert!(out.contains("Operation not permitted") && out.contains("loop-control-refused"), "{out}");
    let without = run(&daemon, &[], "true < /dev/fuse && echo fuse-opened");
    assert!(!stdout(&without).contains("fuse-opened"), "{}", stdout(&without));

    // Read-only permissions: it opens for reading, not for writing; at another path.
    let out = run_ok(&daemon, &["--device", "/dev/fuse:/dev/myfuse:r"], "exec 2>&1; true < /dev/myfuse && echo read; true > /dev/myfuse || echo write-refused");
    assert!(out.contains("read\n") && out.contains("Operation not permitted") && out.contains("write-refused"), "{out}");
    daemon.stop();
}

#[test]
fn device_permissions_hold_under_the_cgroup_v2_device_program_too() {
    let config = "[containers]\ncgroup-version = \"v2\"\n".to_owned();
    let mut daemon = TestDaemon::with_busybox_and(Options { config, ..Options::default() });
    let script = "exec 2>&1; grep '^0::/' /proc/self/cgroup; true < /dev/myfuse && echo read; true > /dev/myfuse || echo write-refused; \
                  mknod /tmp/lc c 10 237 && true < /tmp/lc || echo loop-control-refused";
    let out = run_ok(&daemon, &["--device", "/dev/fuse:/dev/myfuse:r"], script);
    assert!(out.starts_with(&format!("0::/{}/", daemon.cgroup_parent())), "in the unified hierarchy: {out}");
    assert!(out.contains("\nread\n"), "read allowed: {out}");
    assert!(out.contains("write-refused") && out.contains("loop-control-refused"), "{out}");
    let privileged = run_ok(&daemon, &["--privileged"], "exec 2>&1; true < /dev/loop-control && echo loop-control-opened");
    assert!(privileged.contains("loop-control-opened"), "a *:* rwm: {privileged}");
    daemon.stop();
}

#[test]
fn a_path_that_is_not_a_device_is_refused_at_create() {
    let mut daemon = TestDaemon::with_busybox();
    refused(&daemon, &["--device", "/etc/passwd"], "error gathering device information while adding custom device \"/etc/passwd\": not a device node");
    refused(&daemon, &["--device", "/dev/nonexistent"], "\"/dev/nonexistent\"");
    refused(&daemon, &["--device", "/dev/fuse:/dev/fuse:rwx"], "bad mode specified: rwx");
    daemon.stop();
}

#[test]
fn ulimits_are_set_and_bad_ones_refused() {
    let mut daemon = TestDaemon::with_busybox();
    let out = run_ok(&daemon, &["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=100"], "ulimit -n; ulimit -Hn; ulimit -u");
    assert_eq!(out, "1024\n2048\n100\n");
    refused(&daemon, &["--ulimit", "nofile=2048:1024"], "ulimit soft limit must be less than or equal to hard limit: 2048 > 1024");
    refused(&daemon, &["--ulimit", "bogus=1"], "invalid ulimit type: bogus");
    // Above this host's hard limit, which the daemon cannot raise without CAP_SYS_RESOURCE.
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    if cap(&host, "Bnd") & (1 << 24) == 0 {
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum.expect("a finite hard limit");
        let flag = format!("nofile=1024:{}", hard + 1);
        refused(&daemon, &["--ulimit", &flag], &format!("the hard limit is above this host's {hard}"));
    }
    daemon.stop();
}

/// A file of the container's v1 cgroup, read inside it.
fn cgroup_files(daemon: &TestDaemon, flags: &[&str], files: &[&str]) -> Vec<String> {
    let script: String = files.iter().map(|f| format!("cat /sys/fs/cgroup/{f}; ")).collect();
    run_ok(daemon, flags, &script).lines().map(str::to_owned).collect()
}

#[test]
fn cpu_shares_quota_and_period_reach_the_containers_cgroup() {
    let mut daemon = TestDaemon::with_busybox();
    let files = ["cpu/cpu.shares", "cpu/cpu.cfs_period_us", "cpu/cpu.cfs_quota_us"];
    let got = cgroup_files(&daemon, &["--cpu-shares", "512", "--cpu-period", "50000", "--cpu-quota", "25000"], &files);
    assert_eq!(got, ["512", "50000", "25000"]);
    let default = cgroup_files(&daemon, &[], &files);
    assert_eq!(default, ["1024", "100000", "-1"], "the kernel's defaults without them");
    daemon.stop();
}

#[test]
fn memory_swap_and_reservation_reach_the_containers_cgroup() {
    let mut daemon = TestDaemon::with_busybox();
    let files = ["memory/memory.limit_in_bytes", "memory/memory.memsw.limit_in_bytes", "memory/memory.soft_limit_in_bytes"];
    let got = cgroup_files(&daemon, &["-m", "64m", "--memory-swap", "96m", "--memory-reservation", "32m"], &files);
    assert_eq!(got, [(64 << 20).to_string(), (96 << 20).to_string(), (32 << 20).to_string()]);
    // Docker's default: swap as large as the memory (memory+swap twice the limit).
    let got = cgroup_files(&daemon, &["-m", "64m"], &files[..2]);
    assert_eq!(got, [(64 << 20).to_string(), (128 << 20).to_string()]);
    let unlimited = cgroup_files(&daemon, &["-m", "64m", "--memory-swap", "-1"], &files[1..2]);
    assert!(unlimited[0].parse::<u64>().unwrap() > 1 << 60, "-1 is unlimited: {unlimited:?}");
    daemon.stop();
}

#[test]
fn resource_values_outside_dockers_ranges_are_refused_at_create() {
    let mut daemon = TestDaemon::with_busybox();
    refused(&daemon, &["--cpus", "0.5", "--cpu-period", "100000"], "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    refused(&daemon, &["--cpus", "0.5", "--cpu-quota", "50000"], "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    refused(&daemon, &["--cpu-period", "999"], "CpuPeriod 999: CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
    refused(&daemon, &["--cpu-quota", "999"], "CpuQuota 999: CPU cfs quota can not be less than 1ms (i.e. 1000)");
    refused(&daemon, &["--cpu-shares", "-5"], "invalid CPU shares (-5): value must be a positive integer");
    refused(&daemon, &["-m", "64m", "--memory-swap", "32m"], "Minimum memoryswap limit should be larger than memory limit, see usage");
    refused(&daemon, &["--memory-swap", "64m"], "You should always set the Memory limit when using Memoryswap limit, see usage");
    refused(&daemon, &["-m", "64m", "--memory-reservation", "128m"], "Minimum memory limit can not be less than memory reservation limit, see usage");
    refused(&daemon, &["--cpuset-cpus", "0-x"], "Invalid value 0-x for cpuset cpus: invalid format: 0-x");
    refused(&daemon, &["--cpuset-cpus", "4096"], "Requested CPUs are not available - requested 4096, available: ");
    refused(&daemon, &["--cpuset-mems", "64"], "Requested memory nodes are not available - requested 64, available: ");
    refused(&daemon, &["--shm-size", "-1"], "--shm-size \"-1\": expected a size like 64m or 1g");
    daemon.stop();
}

#[test]
fn cpuset_cpus_pin_the_container_to_those_cpus() {
    let mut daemon = TestDaemon::with_busybox();
    let out = run_ok(&daemon, &["--cpuset-cpus", "0", "--cpuset-mems", "0"], "grep -E '^(Cpus|Mems)_allowed_list' /proc/self/status");
    assert_eq!(out, "Cpus_allowed_list:\t0\nMems_allowed_list:\t0\n");
    daemon.stop();
}

#[test]
fn shm_size_sets_the_size_of_dev_shm() {
    let mut daemon = TestDaemon::with_busybox();
    let size = |flags: &[&str]| {
        let out = run_ok(&daemon, flags, "df -k /dev/shm | tail -1");
        out.split_whitespace().nth(1).unwrap().to_owned()
    };
    assert_eq!(size(&["--shm-size", "16m"]), "16384");
    assert_eq!(size(&[]), "65536", "Docker's 64 MiB");
    daemon.stop();
}

#[test]
fn init_is_pid_1_and_runs_the_command_as_its_child() {
    let mut daemon = TestDaemon::with_busybox();
    // (`; true` keeps sh from exec'ing ps: the command stays `sh -c …`.)
    let out = run_ok(&daemon, &["--init"], "ps -o pid,ppid,args; true");
    let rows: Vec<Vec<&str>> = out.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(&rows[0][..4], ["1", "0", "/sbin/docker-init", "--"], "{out}");
    assert!(rows.iter().any(|r| r[1] == "1" && r[2..].join(" ") == "sh -c ps -o pid,ppid,args; true"), "the command is PID 1's child: {out}");
    let without = run_ok(&daemon, &[], "ps -o pid,args; true");
    assert!(without.lines().nth(1).unwrap().trim().starts_with("1 sh -c"), "without --init the command is PID 1: {without}");
    daemon.stop();
}

#[test]
fn stop_ends_an_init_container_at_once_through_the_forwarded_sigterm() {
    let mut daemon = TestDaemon::with_busybox();
    let stop = |flags: &[&str], name: &str| {
        let mut args = vec!["run", "-d", "--network", "none", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "sh", "-c", "sleep 100"]);
        daemon.ok(&args);
        // `run -d` returns once PID 1 exec'd; tini takes SIGTERM only once it has
        // started the command (as with Docker's): wait for PID 1's child.
        let pid = inspect(&daemon, name)["State"]["Pid"].as_u64().unwrap() as u32;
        if flags.contains(&"--init") {
            children_until(pid, |c| !c.is_empty());
        }
        let started = Instant::now();
        daemon.ok(&["stop", "-t", "3", name]);
        let took = started.elapsed();
        let code = inspect(&daemon, name)["State"]["ExitCode"].as_i64().unwrap();
        daemon.ok(&["rm", name]);
        (took, code)
    };
    // As PID 1, sh ignores SIGTERM: stop waits its 3 s, then SIGKILL.
    let (took, code) = stop(&[], "bare");
    assert!(took >= Duration::from_secs(3) && code == 137, "{took:?} {code}");
    // tini forwards SIGTERM to sh, which is not PID 1 and dies of it; tini exits 128+15.
    let (took, code) = stop(&["--init"], "init");
    assert!(took < Duration::from_secs(2) && code == 143, "{took:?} {code}");
    daemon.stop();
}

/// The children of host pid `pid`: (state, `S` or `Z`…; command line, spaced).
fn children(pid: u32) -> Vec<(String, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| Some((std::fs::read_to_string(e.path().join("stat")).ok()?, std::fs::read(e.path().join("cmdline")).ok()?)))
        .filter_map(|(stat, cmdline)| {
            let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
            let args = String::from_utf8_lossy(&cmdline).replace('\0', " ").trim().to_owned();
            (fields.get(1) == Some(&pid.to_string().as_str())).then(|| (fields[0].to_owned(), args))
        })
        .collect()
}

/// Poll `pid`'s children for up to 10 s until `done` says so; the last seen.
fn children_until(pid: u32, done: impl Fn(&[(String, String)]) -> bool) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = children(pid);
        if done(&now) || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn init_reaps_orphans_that_the_command_would_leave_as_zombies() {
    let mut daemon = TestDaemon::with_busybox();
    // The subshell's `sleep 0.3` is orphaned to PID 1 and exits soon after; by then the
    // command has become a `sleep 30` that never reaps.
    let start = |flags: &[&str], name: &str| {
        let mut args = vec!["run", "-d", "--network", "none", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "sh", "-c", "(sleep 0.3 &); exec sleep 30"]);
        daemon.ok(&args);
        inspect(&daemon, name)["State"]["Pid"].as_u64().unwrap() as u32
    };
    let pid = start(&[], "bare");
    let seen = children_until(pid, |c| c.iter().any(|(state, _)| state == "Z"));
    assert!(seen.iter().any(|(state, _)| state == "Z"), "without an init the orphan stays a zombie of PID 1: {seen:?}");
    daemon.ok(&["rm", "-f", "bare"]);

    let pid = start(&["--init"], "init");
    let command = |c: &[(String, String)]| c.iter().any(|(_, args)| args == "sleep 30");
    assert!(command(&children_until(pid, command)), "tini runs the command");
    let seen = children_until(pid, |c| c.len() == 1);
    assert_eq!(seen, [("S".to_owned(), "sleep 30".to_owned())], "tini reaped the orphan: only the command is left");
    daemon.ok(&["rm", "-f", "init"]);
    daemon.stop();
}

#[test]
fn init_is_refused_at_create_when_its_binary_is_missing() {
    let config = "[containers]\ninit-path = \"/nonexistent/tini-static\"\n".to_owned();
    let mut daemon = TestDaemon::start_with(Options { config, ..Options::default() });
    let archive = hostctl_tests::images::docker_save(&[hostctl_tests::images::busybox_image("busybox:latest")], hostctl_tests::images::SaveLayout::Legacy);
    let path = daemon.dir().join("busybox.tar");
    std::fs::write(&path, archive).unwrap();
    daemon.ok(&["load", "-q", "-i", path.to_str().unwrap()]);
    refused(&daemon, &["--init"], "--init: there is no init binary at /nonexistent/tini-static ([containers] init-path)");
    assert_eq!(run_ok(&daemon, &[], "echo without"), "without\n");
    daemon.stop();
}

#[test]
fn inspect_shows_the_options_in_dockers_fields() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["create", "--name", "plain", "--network", "none", "busybox", "true"]);
    let hc = &inspect(&daemon, "plain")["HostConfig"];
    let unset = serde_json::json!({
        "CapAdd": null, "CapDrop": null, "Privileged": false, "ReadonlyRootfs": false, "Devices": [], "Ulimits": [],
        "CpuShares": 0, "CpuQuota": 0, "CpuPeriod": 0, "CpusetCpus": "", "CpusetMems": "", "Memory": 0, "MemorySwap": 0,
        "MemoryReservation": 0, "ShmSize": 67108864,
    });
    for (field, want) in unset.as_object().unwrap() {
        assert_eq!(&hc[field], want, "{field} unset: {hc}");
    }
    assert!(hc.get("Init").is_none(), "Init is absent unless asked, as Docker's: {hc}");

    let spec = daemon.dir().join("set.toml");
    std::fs::write(&spec, "image = \"busybox\"\ncommand = \"true\"\nnetwork = \"none\"\ncap-drop = [\"all\"]\nulimits = [\"nofile=10:20\"]\n[resources]\nmemory = \"64m\"\n")
        .unwrap();
    daemon.ok(&[
        "create", "-f", spec.to_str().unwrap(), "--name", "set", "--cap-add", "net_admin", "--privileged", "--read-only",
        "--device", "/dev/fuse:/dev/f:r", "--ulimit", "nproc=5:6", "--cpu-shares", "512", "--cpu-period", "50000",
        "--cpu-quota", "25000", "--cpuset-cpus", "0", "--cpuset-mems", "0", "--memory-swap", "-1",
        "--memory-reservation", "32m", "--shm-size", "16m", "--init",
    ]);
    let hc = &inspect(&daemon, "set")["HostConfig"];
    let set = serde_json::json!({
        "CapAdd": ["CAP_NET_ADMIN"], "CapDrop": ["ALL"], "Privileged": true, "ReadonlyRootfs": true,
        "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/f", "CgroupPermissions": "r"}],
        "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}, {"Name": "nproc", "Soft": 5, "Hard": 6}],
        "CpuShares": 512, "CpuQuota": 25000, "CpuPeriod": 50000, "CpusetCpus": "0", "CpusetMems": "0",
        "Memory": 67108864, "MemorySwap": -1, "MemoryReservation": 33554432, "ShmSize": 16777216, "Init": true,
    });
    for (field, want) in set.as_object().unwrap() {
        assert_eq!(&hc[field], want, "{field} set: {hc}");
    }
    daemon.ok(&["rm", "plain", "set"]);
    daemon.stop();
}
