//! The shim against the real kernel: `hostctl shim start` on a busybox bundle in the
//! daemon's shape, then what a user would check: the exit code, what the process sees
//! inside, the limits, the log, the socket. Every test ends with
//! [`TestBundle::assert_clean`]: no mount, cgroup or process left. Needs root and
//! `cargo build --release -p hostctl` first.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::time::Duration;

use hostctl_shim::protocol::{Request, Response};
use hostctl_tests::bundle::{SpecOptions, TestBundle, alive, receive, send, wait_gone};
use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder};

fn sh(script: &str) -> SpecOptions {
    SpecOptions::new(&["sh", "-c", script])
}

/// Run `options` to completion; the bundle (for its log) and the exit code.
fn run_to_exit(options: SpecOptions) -> (TestBundle, i32) {
    let mut bundle = TestBundle::new(options);
    bundle.run();
    let info = bundle.wait();
    bundle.assert_clean();
    (bundle, info.exit_code)
}

/// The container's stdout after it ran `script` and exited 0.
fn output_of(options: SpecOptions) -> String {
    let (bundle, code) = run_to_exit(options);
    assert_eq!(code, 0, "stderr: {}", bundle.output("stderr"));
    bundle.output("stdout")
}

#[test]
fn exit_code_propagates_and_exit_json_records_it() {
    let mut bundle = TestBundle::new(sh("exit 3"));
    let started = bundle.run();
    assert!(started.pid > 1 && started.shim_pid > 1);
    let info = bundle.wait();
    assert_eq!((info.exit_code, info.signal, info.oom_killed), (3, None, false));
    assert_eq!(bundle.exit_file(), info);
    assert_eq!(info.started_at, started.started_at);
    assert!(info.finished_at >= info.started_at);
    bundle.assert_clean();
}

#[test]
fn argv_env_cwd_and_hostname_are_what_the_spec_says() {
    let mut options = sh(r#"echo "args=$0,$1 foo=$FOO cwd=$(pwd) host=$(hostname) home=$HOME""#);
    options.args.extend(["first".into(), "second word".into()]);
    options.env.push("FOO=bar baz".into());
    options.cwd = "/work/dir".into(); // not in the image: created, as Docker does
    let out = output_of(options);
    assert_eq!(out, "args=first,second word foo=bar baz cwd=/work/dir host=shimbox home=/root\n");
}

#[test]
fn pid_1_is_the_command() {
    let out = output_of(sh("tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$"));
    assert_eq!(out, "sh -c tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$ \n1\n");
}

#[test]
fn sys_is_read_only_and_the_hosts_mounts_are_not_visible() {
    let (bundle, code) = run_to_exit(sh("touch /sys/x; cat /proc/self/mountinfo"));
    assert_eq!(code, 0);
    assert!(bundle.output("stderr").contains("/sys/x: Read-only file system"), "{}", bundle.output("stderr"));
    let inside: Vec<String> = bundle.output("stdout").lines().map(|l| l.split(' ').nth(4).unwrap().to_owned()).collect();
    let allowed = |m: &str| {
        m == "/" || ["/proc", "/dev", "/sys"].iter().any(|p| m == *p || m.starts_with(&format!("{p}/"))) || m.starts_with("/etc/host")
    };
    assert!(inside.iter().all(|m| allowed(m)), "unexpected mounts inside: {inside:?}");
    let sys = bundle.output("stdout").lines().find(|l| l.split(' ').nth(4) == Some("/sys")).unwrap().to_owned();
    assert!(sys.split(' ').nth(5).unwrap().starts_with("ro"), "{sys}");
    // The host's own mount points (its cgroup hierarchies, the test's temp dir) are absent.
    assert!(!inside.iter().any(|m| m.starts_with("/sys/fs/cgroup/") || m.contains("hostctl-test-")), "{inside:?}");
}

#[test]
fn dev_holds_exactly_the_default_nodes() {
    let out = output_of(sh(
        "echo $(ls -A /dev); \
         stat -c '%n %F %t,%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; \
         for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done",
    ));
    let want = "\
fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero
/dev/null character special file 1,3 666
/dev/zero character special file 1,5 666
/dev/full character special file 1,7 666
/dev/random character special file 1,8 666
/dev/urandom character special file 1,9 666
/dev/tty character special file 5,0 666
pts/ptmx
/proc/self/fd
/proc/self/fd/0
/proc/self/fd/1
/proc/self/fd/2
";
    assert_eq!(out, want);
}

#[test]
fn only_the_default_devices_can_be_opened_even_when_made_with_mknod() {
    // CAP_MKNOD is in Docker's set: the device cgroup is what keeps the host's devices out.
    let mut bundle = TestBundle::new(sh(
        "mknod /tmp/kmsg c 1 11 && echo made; head -c 1 /tmp/kmsg; mknod /tmp/null c 1 3 && echo ok > /tmp/null && echo null works; \
         echo ready; exec sleep 60",
    ));
    bundle.run();
    bundle.wait_for_output("ready\n");
    let rules = std::fs::read_to_string(bundle.cgroup_dir("devices").join("devices.list")).unwrap();
    assert_eq!(bundle.request(&Request::Kill { signal: 9 }), Response::Ok);
    bundle.wait();
    bundle.assert_clean();
    assert_eq!(bundle.output("stdout"), "made\nnull works\nready\n");
    assert_eq!(bundle.output("stderr"), "head: /tmp/kmsg: Operation not permitted\n");
    assert!(rules.lines().any(|l| l == "c 1:3 rwm") && !rules.lines().any(|l| l == "a *:* rwm"), "{rules}");
}

#[test]
fn capabilities_are_dockers_default_set_with_no_new_privs() {
    let out = output_of(sh("grep -E '^(CapBnd|CapEff|CapPrm|CapInh|CapAmb|NoNewPrivs)' /proc/self/status"));
    assert_eq!(
        out,
        "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n"
    );
}

#[test]
fn the_user_field_is_resolved_inside_the_container() {
    let mut options = sh("id; echo HOME=$HOME");
    options.user = Some("nobody".into());
    // No group lists nobody: no supplementary groups (runc's rule), so busybox prints none.
    assert_eq!(output_of(options), "uid=65534(nobody) gid=65534(nogroup)\nHOME=/nonexistent\n");
    let mut numeric = sh("id -u; id -g");
    numeric.user = Some("1234:5678".into());
    assert_eq!(output_of(numeric), "1234\n5678\n");
}

#[test]
fn an_unknown_user_is_a_start_error_that_leaves_nothing() {
    let mut options = sh("true");
    options.user = Some("nosuch".into());
    let mut bundle = TestBundle::new(options);
    let (failed, code) = bundle.start().unwrap_err();
    assert_eq!(code, 1);
    assert_eq!(failed.exit_code, 125);
    assert_eq!(failed.message, "unable to find user nosuch: no matching entries in passwd file");
    bundle.assert_clean();
}

#[test]
fn a_process_allocating_past_the_memory_limit_is_oom_killed() {
    let mut options = SpecOptions::new(&["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
    let memory = LinuxMemoryBuilder::default().limit(16i64 << 20).build().unwrap();
    options.resources = Some(LinuxResourcesBuilder::default().memory(memory).build().unwrap());
    let mut bundle = TestBundle::new(options);
    bundle.run();
    let info = bundle.wait();
    assert_eq!((info.exit_code, info.signal, info.oom_killed), (137, Some(9), true), "{}", bundle.output("stderr"));
    bundle.assert_clean();
}

#[test]
fn a_process_within_the_memory_limit_is_not_oom_killed() {
    let mut options = SpecOptions::new(&["dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=64"]);
    let memory = LinuxMemoryBuilder::default().limit(16i64 << 20).build().unwrap();
    options.resources = Some(LinuxResourcesBuilder::default().memory(memory).build().unwrap());
    let (bundle, code) = run_to_exit(options);
    assert_eq!(code, 0, "{}", bundle.output("stderr"));
    assert!(!bundle.exit_file().oom_killed);
}

#[test]
fn the_pids_limit_stops_a_fork_bomb_and_the_container_survives() {
    let mut options = sh("(for i in $(seq 1 30); do sleep 60 & done); echo survived; exec sleep 60");
    let pids = LinuxPidsBuilder::default().limit(10i64).build().unwrap();
    options.resources = Some(LinuxResourcesBuilder::default().pids(pids).build().unwrap());
    let mut bundle = TestBundle::new(options);
    let started = bundle.run();
    bundle.wait_for_output("survived\n");
    let dir = bundle.cgroup_dir("pids");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap().trim().to_owned();
    assert_eq!(read("pids.max"), "10");
    assert!(read("pids.current").parse::<u32>().unwrap() <= 10);
    assert!(read("pids.events").starts_with("max ") && read("pids.events") != "max 0", "{}", read("pids.events"));
    assert!(bundle.output("stderr").contains("can't fork"), "{}", bundle.output("stderr"));
    assert_eq!(bundle.request(&Request::State), Response::Running { pid: started.pid, started_at: started.started_at.clone() });
    assert_eq!(bundle.request(&Request::Kill { signal: 9 }), Response::Ok);
    assert_eq!(bundle.wait().exit_code, 137);
    bundle.assert_clean();
}

#[test]
fn cpu_quota_period_and_shares_land_in_the_cgroup_files() {
    let mut options = sh("cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us; echo ready; exec sleep 60");
    options.cgroup_mount = true;
    let cpu = LinuxCpuBuilder::default().quota(50_000i64).period(100_000u64).shares(512u64).build().unwrap();
    options.resources = Some(LinuxResourcesBuilder::default().cpu(cpu).build().unwrap());
    let mut bundle = TestBundle::new(options);
    bundle.run();
    bundle.wait_for_output("ready\n");
    let dir = bundle.cgroup_dir("cpu");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap().trim().to_owned();
    if dir.join("cpu.cfs_quota_us").exists() {
        assert_eq!((read("cpu.cfs_quota_us"), read("cpu.cfs_period_us"), read("cpu.shares")), ("50000".into(), "100000".into(), "512".into()));
        assert_eq!(bundle.output("stdout"), "50000\nready\n", "the container sees its own cgroup");
    } else {
        assert_eq!(read("cpu.max"), "50000 100000");
    }
    assert_eq!(bundle.request(&Request::Kill { signal: 9 }), Response::Ok);
    bundle.wait();
    bundle.assert_clean();
}

#[test]
fn sigkill_through_the_socket_gives_137() {
    let mut bundle = TestBundle::new(SpecOptions::new(&["sleep", "60"]));
    bundle.run();
    assert_eq!(bundle.request(&Request::Kill { signal: 9 }), Response::Ok);
    let info = bundle.wait();
    assert_eq!((info.exit_code, info.signal), (137, Some(9)));
    bundle.assert_clean();
}

#[test]
fn sigterm_to_a_trapping_shell_gives_its_exit_code() {
    let mut bundle = TestBundle::new(sh("trap 'echo bye; exit 42' TERM; echo ready; while true; do sleep 0.1; done"));
    bundle.run();
    bundle.wait_for_output("ready\n");
    assert_eq!(bundle.request(&Request::Kill { signal: 15 }), Response::Ok);
    let info = bundle.wait();
    assert_eq!((info.exit_code, info.signal), (42, None));
    assert_eq!(bundle.output("stdout"), "ready\nbye\n");
    bundle.assert_clean();
}

#[test]
fn every_waiter_is_answered_and_state_and_bad_requests_are_answered_at_once() {
    let mut bundle = TestBundle::new(SpecOptions::new(&["sleep", "60"]));
    let started = bundle.run();
    let (first, second) = (bundle.connect(), bundle.connect());
    send(&first, &Request::Wait);
    send(&second, &Request::State);
    assert_eq!(receive(&second), Response::Running { pid: started.pid, started_at: started.started_at.clone() });
    send(&second, &Request::Wait);
    let bad = bundle.connect();
    std::io::Write::write_all(&mut &bad, b"{\"op\":\"dance\"}\n").unwrap();
    assert!(matches!(receive(&bad), Response::Error { .. }));
    assert_eq!(bundle.request(&Request::Kill { signal: 0 }), Response::Error { message: "invalid signal 0".into() });
    assert_eq!(bundle.request(&Request::Kill { signal: 9 }), Response::Ok);
    let (a, b) = (receive(&first), receive(&second));
    assert_eq!(a, b);
    assert!(matches!(a, Response::Exited(ref info) if info.exit_code == 137));
    bundle.wait_for_shim();
    bundle.assert_clean();
}

#[test]
fn a_command_not_found_fails_with_127_and_leaves_no_cgroup() {
    let mut bundle = TestBundle::new(SpecOptions::new(&["nosuch", "arg"]));
    let (failed, code) = bundle.start().unwrap_err();
    assert_eq!(code, 1);
    assert_eq!(failed.exit_code, 127);
    assert_eq!(failed.message, "exec: \"nosuch\": executable file not found in $PATH");
    bundle.assert_clean();
}

#[test]
fn a_command_that_is_not_executable_fails_with_126() {
    let mut bundle = TestBundle::new(SpecOptions::new(&["/etc/passwd"]));
    let (failed, code) = bundle.start().unwrap_err();
    assert_eq!((failed.exit_code, code), (126, 1));
    assert_eq!(failed.message, "exec: \"/etc/passwd\": permission denied");
    bundle.assert_clean();
}

#[test]
fn the_shim_survives_the_death_of_the_process_that_started_it() {
    let mut bundle = TestBundle::new(SpecOptions::new(&["sleep", "60"]));
    // A stand-in for the daemon: it runs `shim start`, then lives on in its own process
    // group, which is then killed whole, as a crashing daemon would be.
    let out = bundle.dir().join("start.out");
    let start = bundle.start_command();
    let mut daemon = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#""$@" > "$OUT"; exec sleep 600"#)
        .arg("sh")
        .arg(start.get_program())
        .args(start.get_args())
        .env("OUT", &out)
        .stdin(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&out).unwrap_or_default().ends_with('\n') {
        assert!(std::time::Instant::now() < deadline, "no start report");
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = std::fs::read(&out).unwrap();
    let fake = std::process::Output { status: std::process::ExitStatus::from_raw(0), stdout: report, stderr: vec![] };
    let started = bundle.parse_start(&fake).unwrap();
    let group = daemon.id() as i32;
    rustix::process::kill_process_group(rustix::process::Pid::from_raw(group).unwrap(), rustix::process::Signal::KILL).unwrap();
    daemon.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(alive(started.shim_pid), "the shim died with its starter");
    assert!(alive(started.pid), "the container died with its starter");
    assert_eq!(bundle.request(&Request::State), Response::Running { pid: started.pid, started_at: started.started_at.clone() });
    assert_eq!(bundle.request(&Request::Kill { signal: 9 }), Response::Ok);
    assert_eq!(bundle.wait().exit_code, 137);
    wait_gone(started.shim_pid);
    bundle.assert_clean();
}

#[test]
fn output_reaches_container_log_as_json_file_lines_in_order() {
    let (bundle, code) = run_to_exit(sh("i=1; while [ $i -le 300 ]; do echo line $i; i=$((i+1)); done; echo oops >&2; printf partial"));
    assert_eq!(code, 0);
    let entries = bundle.log_entries();
    let stdout: Vec<&serde_json::Value> = entries.iter().filter(|e| e["stream"] == "stdout").collect();
    assert_eq!(stdout.len(), 301);
    for (i, entry) in stdout.iter().take(300).enumerate() {
        assert_eq!(entry["log"], format!("line {}\n", i + 1));
    }
    assert_eq!(stdout[300]["log"], "partial", "a partial last line is flushed at EOF");
    let stderr: Vec<&serde_json::Value> = entries.iter().filter(|e| e["stream"] == "stderr").collect();
    assert_eq!(stderr.len(), 1);
    assert_eq!(stderr[0]["log"], "oops\n");
    let times: Vec<&str> = stdout.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "times go forward");
    for time in &times {
        // 2026-11-22T12:25:50.578496462Z
        assert_eq!(time.len(), 30, "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T' && time.as_bytes()[19] == b'.', "{time}");
    }
    let raw = std::fs::read_to_string(bundle.bundle().log()).unwrap();
    assert!(raw.starts_with("{\"log\":\"line 1\\n\",\"stream\":\"stdout\",\"time\":\""), "{raw:.80}");
}

#[test]
fn loopback_is_up_in_a_new_network_namespace() {
    let out = output_of(sh("ip -o link show; ip -o addr show lo | grep -c 127.0.0.1"));
    let links: Vec<&str> = out.lines().filter(|l| l.contains(": <")).collect();
    assert_eq!(links.len(), 1, "only lo: {out}");
    assert!(links[0].contains("lo: <LOOPBACK,UP"), "{out}");
    assert!(out.ends_with("1\n"), "{out}");
}

#[test]
fn host_network_sees_the_hosts_links_and_a_read_only_sys() {
    let mut options = sh("ls /sys/class/net; touch /sys/x; grep ' /sys ' /proc/self/mountinfo");
    options.host_network = true;
    let (bundle, code) = run_to_exit(options);
    assert_eq!(code, 0);
    let host_links: Vec<String> = std::fs::read_dir("/sys/class/net").unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let out = bundle.output("stdout");
    for link in &host_links {
        assert!(out.lines().any(|l| l == link), "{link} missing from {out}");
    }
    assert!(bundle.output("stderr").contains("Read-only file system"));
}
