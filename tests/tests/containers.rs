//! Containers end to end, against a real daemon, the real overlay2-store driver, real
//! namespaces and cgroups: what `run` prints and exits with, what the image's config
//! sets, limits really enforced, logs, stop and kill timing and codes, rm clean-up,
//! inspect, TOML specs, and containers surviving a daemon killed with SIGKILL.
//! Every test ends with `stop()`, which asserts no mount, cgroup or process is left.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hostctl_tests::daemon::{TestDaemon, hostctl_bin};
use hostctl_tests::images::{ImageSpec, SaveLayout, busybox_image, docker_save};
use hostctl_tests::kernel::{cgroups_under, mounts_under};
use hostctl_tests::watch::Watch;

/// A daemon with `busybox:latest` (Cmd ["sh"]) loaded.
fn daemon() -> TestDaemon {
    let daemon = TestDaemon::start();
    load(&daemon, &[busybox_image("busybox:latest")]);
    daemon
}

fn load(daemon: &TestDaemon, images: &[ImageSpec]) {
    let path = daemon.dir().join(format!("images-{}.tar", images.len()));
    std::fs::write(&path, docker_save(images, SaveLayout::Legacy)).unwrap();
    daemon.ok(&["load", "-q", "-i", path.to_str().unwrap()]);
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn inspect(daemon: &TestDaemon, name: &str) -> serde_json::Value {
    let out = daemon.ok(&["inspect", name]);
    let docs: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
    docs[0].clone()
}

/// Run `hostctl run --rm busybox sh -c SCRIPT` with `flags` before the image.
fn run_sh(daemon: &TestDaemon, flags: &[&str], script: &str) -> Output {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    daemon.hostctl(&args)
}

#[test]
fn run_streams_output_and_exits_with_the_containers_code() {
    let mut daemon = daemon();
    let out = run_sh(&daemon, &[], "echo out; echo err >&2; exit 3");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    assert_eq!(daemon.ok(&["ps", "-a", "-q"]), "", "--rm removed it");
    daemon.stop();
}

#[test]
fn the_image_config_sets_env_cmd_and_workdir_and_flags_override_them() {
    let mut daemon = TestDaemon::start();
    let image = busybox_image("configured:1")
        .env("GREETING=hello")
        .cmd(&["sh", "-c", "echo $GREETING from $(pwd) as $(id -u)"])
        .config("WorkingDir", serde_json::json!("/srv"));
    load(&daemon, &[image]);
    let out = daemon.hostctl(&["run", "--rm", "configured:1"]);
    assert_eq!(stdout(&out), "hello from /srv as 0\n", "{}", stderr(&out));
    let out = daemon.hostctl(&["run", "--rm", "-e", "GREETING=hi", "-w", "/tmp", "-u", "nobody", "configured:1"]);
    assert_eq!(stdout(&out), "hi from /tmp as 65534\n", "{}", stderr(&out));
    let out = daemon.hostctl(&["run", "--rm", "configured:1", "echo", "replaced"]);
    assert_eq!(stdout(&out), "replaced\n");
    // An Entrypoint takes the Cmd (or the command line) as its arguments.
    load(&daemon, &[busybox_image("entry:1").entrypoint(&["echo", "from entrypoint:"]).cmd(&["default"])]);
    assert_eq!(daemon.ok(&["run", "--rm", "entry:1"]), "from entrypoint: default\n");
    assert_eq!(daemon.ok(&["run", "--rm", "entry:1", "given"]), "from entrypoint: given\n");
    assert_eq!(daemon.ok(&["run", "--rm", "--entrypoint", "printf", "entry:1", "%s-%s", "a", "b"]), "a-b");
    daemon.stop();
}

#[test]
fn a_container_has_namespaces_and_a_docker_like_filesystem() {
    let mut daemon = daemon();
    let script = "hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; ls /sys/class/net; \
                  touch /sys/x 2>/dev/null && echo sys-writable || echo sys-ro; \
                  ls /dev | tr '\\n' ' '; echo; cat /proc/self/status | grep -E '^(NoNewPrivs|CapBnd)'; \
                  test -d /dev/pts && test -d /dev/shm && echo dev-dirs";
    let out = run_sh(&daemon, &["--hostname", "box", "--network", "none"], script);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "box", "{text}\n{}", stderr(&out));
    assert!(lines[1].starts_with("sh -c "), "PID 1 is the command: {text}");
    assert_eq!(lines[2], "lo", "only lo in a new network namespace: {text}");
    assert_eq!(lines[3], "sys-ro");
    for node in ["null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue"] {
        assert!(lines[4].split_whitespace().any(|n| n == node), "/dev has {node}: {}", lines[4]);
    }
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    // Docker's default capability set.
    assert!(text.contains("CapBnd:\t00000000a80425fb"), "{text}");
    assert!(text.contains("dev-dirs"));

    // Docker's masked paths read as empty inside: the ones this kernel has (a path it
    // lacks, as /proc/kcore or /proc/sched_debug here, proves nothing), each shown to
    // have content on the host first.
    let masked_files = ["/proc/timer_list", "/proc/interrupts", "/proc/kcore", "/proc/sched_debug"];
    let masked_dirs = ["/sys/firmware"];
    let files: Vec<&str> = masked_files.into_iter().filter(|f| std::fs::read(f).is_ok_and(|b| !b.is_empty())).collect();
    let dirs: Vec<&str> = masked_dirs.into_iter().filter(|d| std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some())).collect();
    assert!(files.len() >= 2 && !dirs.is_empty(), "too few masked paths exist on this host to check: {files:?} {dirs:?}");
    let script: String = files
        .iter()
        .map(|f| format!("echo {f} $(cat {f} 2>/dev/null | wc -c); "))
        .chain(dirs.iter().map(|d| format!("echo {d} $(ls -A {d} 2>/dev/null | wc -l); ")))
        .collect();
    let out = run_sh(&daemon, &[], &script);
    let shown = stdout(&out);
    for path in files.iter().chain(&dirs) {
        assert!(shown.lines().any(|l| l == format!("{path} 0")), "{path} is masked inside: {shown}{}", stderr(&out));
    }

    // Each namespace is its own: pid, mount, uts, ipc and net differ from the host's.
    let script = "for ns in pid mnt uts ipc net; do readlink /proc/self/ns/$ns; done";
    let out = run_sh(&daemon, &[], script);
    let inside: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(inside.len(), 5, "{inside:?} {}", stderr(&out));
    for (ns, inside) in ["pid", "mnt", "uts", "ipc", "net"].iter().zip(&inside) {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(host.to_string_lossy(), inside.as_str(), "{ns} namespace is the host's");
        assert!(inside.starts_with(&format!("{ns}:[")), "{inside}");
    }

    // /proc and /sys are read-only (and /proc nosuid, nodev, noexec); writes through
    // /proc are refused, while /dev/stdout (a link through /proc/self/fd) still works.
    let script = "grep -E '^(proc /proc|sysfs /sys) ' /proc/mounts; \
                  echo 0 > /proc/self/oom_score_adj 2>/dev/null && echo proc-writable || echo proc-ro; \
                  echo 1 > /proc/sys/vm/overcommit_memory 2>/dev/null && echo sysctl-writable || echo sysctl-ro; \
                  echo through-dev-stdout > /dev/stdout";
    let out = run_sh(&daemon, &[], script);
    let text = stdout(&out);
    let options = |fs: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.starts_with(fs)).unwrap_or_else(|| panic!("no {fs} in {text}"));
        line.split_whitespace().nth(3).unwrap().split(',').map(str::to_owned).collect()
    };
    for fs in ["proc /proc", "sysfs /sys"] {
        let options = options(fs);
        for flag in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(options.iter().any(|o| o == flag), "{fs} is mounted {flag}: {options:?}");
        }
    }
    assert!(text.contains("proc-ro\n") && text.contains("sysctl-ro\n"), "{text}");
    assert!(text.contains("through-dev-stdout\n"), "{text}\n{}", stderr(&out));
    daemon.stop();
}

#[test]
fn a_memory_limit_is_enforced_and_inspect_says_oom_killed() {
    let mut daemon = daemon();
    // busybox `tail` keeps a line without newline in memory: it grows until killed. As
    // PID 1, its death is the container's: 137.
    let out = daemon.hostctl(&["run", "--rm", "--memory", "16m", "busybox", "tail", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(137), "{}{}", stdout(&out), stderr(&out));
    // A child killed by the OOM killer leaves its shell running, as in Docker.
    let out = run_sh(&daemon, &["--memory", "16m"], "tail /dev/zero; echo survived");
    assert_eq!(stdout(&out), "survived\n", "{}", stderr(&out));
    let out = daemon.hostctl(&["run", "-d", "--memory", "16m", "--name", "hog2", "busybox", "tail", "/dev/zero"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(daemon.ok(&["wait", "hog2"]).trim(), "137");
    let state = inspect(&daemon, "hog2");
    assert_eq!(state["State"]["OOMKilled"], true, "{state}");
    assert_eq!(state["HostConfig"]["Memory"], 16 << 20);
    daemon.ok(&["rm", "hog2"]);
    daemon.stop();
}

#[test]
fn a_pids_limit_is_obeyed_and_a_fork_past_it_fails() {
    let mut daemon = daemon();
    // Under the limit: the shell and five sleeps fit in 8.
    let out = run_sh(&daemon, &["--pids-limit", "8"], "for i in 1 2 3 4 5; do sleep 1 & done; wait; echo done");
    assert_eq!(stdout(&out), "done\n", "{}", stderr(&out));
    // Past it: the fork fails in the kernel (busybox sh then gives up, status 2).
    let out = run_sh(&daemon, &["--pids-limit", "8"], "for i in $(seq 20); do sleep 2 & done; wait; echo done");
    assert!(stderr(&out).contains("can't fork"), "forks beyond the limit fail: {}", stderr(&out));
    assert_ne!(out.status.code(), Some(0));
    daemon.stop();
}

#[test]
fn cpus_become_a_cfs_quota_that_holds_a_spinner_to_half_a_cpu() {
    let mut daemon = daemon();
    let id = daemon.ok(&["run", "-d", "--cpus", "0.5", "busybox", "sleep", "30"]).trim().to_owned();
    let quota = cgroups_under(daemon.cgroup_parent())
        .into_iter()
        .map(|cg| cg.join("cpu.cfs_quota_us"))
        .chain(cgroups_under(daemon.cgroup_parent()).into_iter().map(|cg| cg.join("cpu.max")))
        .find_map(|f| std::fs::read_to_string(f).ok())
        .expect("a cpu cgroup for the container");
    assert!(quota.starts_with("50000"), "quota {quota:?}");
    assert_eq!(inspect(&daemon, &id)["HostConfig"]["NanoCpus"], 500_000_000);
    daemon.ok(&["rm", "-f", &id]);

    // And the kernel holds a spinning container to it: over two seconds it gets at most
    // half a CPU (some slack for period edges), and its cgroup counts throttled periods.
    let id = daemon.ok(&["run", "-d", "--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done"]).trim().to_owned();
    let cgroups = cgroups_under(daemon.cgroup_parent());
    let read = |file: &str| cgroups.iter().find_map(|cg| std::fs::read_to_string(cg.join(file)).ok());
    // Nanoseconds of CPU used: v1's cpuacct.usage, or v2's usage_usec.
    let usage = || -> u64 {
        if let Some(ns) = read("cpuacct.usage") {
            return ns.trim().parse().unwrap();
        }
        let stat = read("cpu.stat").expect("cpu.stat");
        stat_field(&stat, "usage_usec") * 1000
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (t0, u0) = (std::time::Instant::now(), usage());
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (wall, used) = (t0.elapsed().as_nanos() as f64, (usage() - u0) as f64);
    let share = used / wall;
    assert!(share > 0.0 && share <= 0.6, "a --cpus 0.5 spinner used {share:.2} of a CPU");
    let throttled = stat_field(&read("cpu.stat").expect("cpu.stat"), "nr_throttled");
    assert!(throttled > 0, "the spinner was throttled: {:?}", read("cpu.stat"));
    eprintln!("a --cpus 0.5 spinner: {share:.3} of a CPU over 2 s, {throttled} throttled periods");
    daemon.ok(&["rm", "-f", &id]);
    daemon.stop();
}

/// As Docker's daemon: a memory limit below 6 MiB, or more CPUs than the host has, is
/// refused at create with its words (and nothing is created); the bounds themselves run.
#[test]
fn limits_outside_dockers_ranges_are_refused_at_create() {
    let mut daemon = daemon();
    let out = daemon.hostctl(&["run", "--rm", "--memory", "6143k", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(stderr(&out), "Error: minimum memory limit allowed is 6MB\n");
    let nproc = Command::new("nproc").output().unwrap();
    let cpus: u32 = stdout(&nproc).trim().parse().unwrap();
    let out = daemon.hostctl(&["create", "--cpus", &format!("{}.5", cpus), "busybox", "true"]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), format!("Error: range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available\n"));
    assert_eq!(daemon.ok(&["ps", "-a", "-q"]), "", "a refused create leaves no container");
    let out = run_sh(&daemon, &["--memory", "6m", "--cpus", &cpus.to_string()], "echo within");
    assert_eq!(stdout(&out), "within\n", "{}", stderr(&out));
    daemon.stop();
}

/// A `name value` line's value in a cgroup's `cpu.stat`.
fn stat_field(stat: &str, name: &str) -> u64 {
    stat.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in {stat}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn logs_keep_the_output_and_tail_cuts_it() {
    let mut daemon = daemon();
    let id = daemon.ok(&["run", "-d", "--name", "talker", "busybox", "sh", "-c", "echo one; echo two; echo oops >&2; echo three"]).trim().to_owned();
    assert_eq!(daemon.ok(&["wait", &id]).trim(), "0");
    let out = daemon.hostctl(&["logs", "talker"]);
    // stdout and stderr are separate pipes (as in Docker): each keeps its own order.
    assert_eq!(stdout(&out), "one\ntwo\nthree\n");
    assert_eq!(stderr(&out), "oops\n");
    let out = daemon.hostctl(&["logs", "--tail", "2", "talker"]);
    let (out, err) = (stdout(&out), stderr(&out));
    let tail: Vec<&str> = out.lines().chain(err.lines()).collect();
    assert_eq!(tail.len(), 2, "the last two lines: {tail:?}");
    assert!(tail.contains(&"three"), "{tail:?}");
    let log = std::fs::read_to_string(inspect(&daemon, "talker")["LogPath"].as_str().unwrap()).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["log"], "one\n");
    assert_eq!(first["stream"], "stdout");
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    daemon.ok(&["rm", "talker"]);
    daemon.stop();
}

/// A partial line (a prompt, a progress dot) reaches a foreground `run` while the
/// container still runs, not with its newline; `logs` prints the same bytes.
#[test]
fn a_partial_line_reaches_a_foreground_run_before_its_newline() {
    let mut daemon = daemon();
    let mut child = Command::new(hostctl_bin())
        .args(["-H", &daemon.host(), "run", "--name", "prompt", "busybox", "sh", "-c", "printf partial; sleep 2; echo ' end'"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (mut seen, mut buf) = (Vec::new(), [0u8; 256]);
    let (mut partial_at, mut end_at) = (None, None);
    loop {
        let n = std::io::Read::read(&mut out, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        if seen.starts_with(b"partial") && partial_at.is_none() {
            partial_at = Some(Instant::now());
        }
        if seen.ends_with(b"end\n") {
            end_at = Some(Instant::now());
        }
    }
    let status = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&seen), "partial end\n", "{}", stderr(&status));
    assert_eq!(status.status.code(), Some(0));
    let early = end_at.unwrap() - partial_at.unwrap();
    assert!(early >= Duration::from_secs(1), "\"partial\" came only {early:?} before the end of a container that sleeps 2 s after it");
    assert_eq!(daemon.ok(&["logs", "prompt"]), "partial end\n");
    daemon.ok(&["rm", "prompt"]);
    daemon.stop();
}

#[test]
fn stop_sends_sigterm_then_sigkill_after_the_timeout() {
    let mut daemon = daemon();
    // PID 1 without a handler ignores SIGTERM: stop must escalate to SIGKILL.
    daemon.ok(&["run", "-d", "--name", "stubborn", "busybox", "sleep", "100"]);
    let started = Instant::now();
    daemon.ok(&["stop", "-t", "1", "stubborn"]);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "stop waited the timeout: {took:?}");
    // And no longer: SIGKILL follows the 1 s given, not the default 10 s.
    assert!(took < Duration::from_secs(5), "stop -t 1 took {took:?}");
    assert_eq!(inspect(&daemon, "stubborn")["State"]["ExitCode"], 137);
    // A handler for SIGTERM: the container exits on its own, with its code.
    daemon.ok(&["run", "-d", "--name", "polite", "busybox", "sh", "-c", "trap 'exit 143' TERM; while true; do sleep 0.1; done"]);
    std::thread::sleep(Duration::from_millis(200));
    daemon.ok(&["stop", "-t", "10", "polite"]);
    assert_eq!(inspect(&daemon, "polite")["State"]["ExitCode"], 143);
    // kill defaults to SIGKILL; -s sends another.
    daemon.ok(&["run", "-d", "--name", "victim", "busybox", "sleep", "100"]);
    daemon.ok(&["kill", "victim"]);
    assert_eq!(daemon.ok(&["wait", "victim"]).trim(), "137");
    daemon.ok(&["run", "-d", "--name", "usr1", "busybox", "sh", "-c", "trap 'exit 10' USR1; while true; do sleep 0.1; done"]);
    std::thread::sleep(Duration::from_millis(200));
    daemon.ok(&["kill", "-s", "USR1", "usr1"]);
    assert_eq!(daemon.ok(&["wait", "usr1"]).trim(), "10");
    daemon.ok(&["rm", "stubborn", "polite", "victim", "usr1"]);
    daemon.stop();
}

#[test]
fn rm_refuses_a_running_container_and_rm_f_removes_everything() {
    let mut daemon = daemon();
    let id = daemon.ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "100"]).trim().to_owned();
    assert!(!mounts_under(daemon.dir()).is_empty(), "a running container's rootfs is mounted");
    assert!(!cgroups_under(daemon.cgroup_parent()).is_empty());
    let (code, err) = daemon.fails(&["rm", "busy"]);
    assert_eq!(code, 1);
    assert!(err.contains("stop it first"), "{err}");
    daemon.ok(&["rm", "-f", "busy"]);
    assert!(mounts_under(daemon.dir()).is_empty(), "rm unmounted the rootfs");
    assert!(cgroups_under(daemon.cgroup_parent()).is_empty(), "rm left cgroups");
    assert!(!daemon.data_root().join("containers").join(&id).exists(), "the bundle is gone");
    assert!(!daemon.data_root().join("storage/overlay2-store").join(&id).exists(), "the writable layer is gone");
    assert_eq!(daemon.ok(&["ps", "-a", "-q"]), "");
    let (code, _) = daemon.fails(&["rm", "busy"]);
    assert_eq!(code, 1, "not found");
    daemon.stop();
}

#[test]
fn ps_and_inspect_report_the_containers_life() {
    let mut daemon = daemon();
    let id = daemon.ok(&["run", "-d", "--name", "web", "--memory", "64m", "--pids-limit", "50", "busybox", "sleep", "100"]).trim().to_owned();
    let ps = daemon.ok(&["ps"]);
    let row = ps.lines().find(|l| l.ends_with("web")).unwrap_or_else(|| panic!("{ps}"));
    assert!(row.starts_with(&id[..12]) && row.contains("Up "), "{row}");
    let doc = inspect(&daemon, "web");
    assert_eq!(doc["Id"], id.as_str());
    assert_eq!(doc["Name"], "/web");
    assert_eq!(doc["State"]["Status"], "running");
    assert!(doc["State"]["Pid"].as_i64().unwrap() > 0);
    assert!(Path::new(&format!("/proc/{}", doc["State"]["Pid"])).exists(), "Pid is the container's init on the host");
    assert_eq!(doc["HostConfig"]["PidsLimit"], 50);
    assert!(doc["GraphDriver"]["Data"]["MergedDir"].is_string(), "the mounted rootfs: {doc}");
    daemon.ok(&["stop", "-t", "0", "web"]);
    let doc = inspect(&daemon, "web");
    assert_eq!(doc["State"]["Status"], "exited");
    assert_eq!(doc["State"]["ExitCode"], 137);
    assert_ne!(doc["State"]["FinishedAt"], "0001-01-01T00:00:00Z");
    assert!(daemon.ok(&["ps"]).lines().count() == 1, "ps hides exited containers");
    assert!(daemon.ok(&["ps", "-a"]).contains("Exited (137)"));
    daemon.ok(&["rm", "web"]);
    daemon.stop();
}

/// Inspect shows what a container was created with in every state, as Docker does:
/// `Mounts` (a volume and a bind, with Docker's fields), `HostConfig.Binds` (the `-v`s
/// as written) and `GraphDriver.Data`, the same after create, while running, after
/// stop and after a daemon restart.
#[test]
fn inspect_keeps_mounts_binds_and_graph_driver_in_every_state() {
    let mut daemon = daemon();
    let site = daemon.dir().join("site");
    std::fs::create_dir_all(&site).unwrap();
    let bind = format!("{}:/site:ro", site.display());
    let script = "trap 'exit 0' TERM; while true; do sleep 0.1; done";
    daemon.ok(&["create", "--name", "keeper", "--network", "none", "-v", "www:/www", "-v", &bind, "busybox", "sh", "-c", script]);
    let volume: serde_json::Value = serde_json::from_str(&daemon.ok(&["volume", "inspect", "www"])).expect("created with the container");
    let mountpoint = volume[0]["Mountpoint"].as_str().unwrap().to_owned();
    assert!(mountpoint.starts_with('/'), "{volume}");
    let mounts = serde_json::json!([
        {"Type": "volume", "Name": "www", "Source": mountpoint, "Destination": "/www", "Driver": "volume-local", "Mode": "", "RW": true, "Propagation": ""},
        {"Type": "bind", "Source": site, "Destination": "/site", "Mode": "ro", "RW": false, "Propagation": "rprivate"},
    ]);
    let binds = serde_json::json!(["www:/www", bind]);
    let created = inspect(&daemon, "keeper");
    assert_eq!(created["Mounts"], mounts, "after create");
    assert_eq!(created["HostConfig"]["Binds"], binds);
    let graph = created["GraphDriver"]["Data"].clone();
    for dir in ["MergedDir", "UpperDir", "WorkDir", "LowerDir"] {
        assert!(graph[dir].as_str().is_some_and(|d| d.starts_with('/')), "{dir} in {graph}");
    }

    daemon.ok(&["start", "keeper"]);
    let running = inspect(&daemon, "keeper");
    assert_eq!((&running["Mounts"], &running["HostConfig"]["Binds"], &running["GraphDriver"]["Data"]), (&mounts, &binds, &graph), "while running");
    let merged = Path::new(graph["MergedDir"].as_str().unwrap());
    assert!(mounts_under(daemon.dir()).iter().any(|m| m == merged), "MergedDir is the mounted rootfs: {graph}");

    daemon.ok(&["stop", "keeper"]);
    let stopped = inspect(&daemon, "keeper");
    assert_eq!(stopped["State"]["Status"], "exited");
    assert_eq!((&stopped["Mounts"], &stopped["HostConfig"]["Binds"], &stopped["GraphDriver"]["Data"]), (&mounts, &binds, &graph), "after stop");

    daemon.restart();
    let restarted = inspect(&daemon, "keeper");
    assert_eq!((&restarted["Mounts"], &restarted["HostConfig"]["Binds"], &restarted["GraphDriver"]["Data"]), (&mounts, &binds, &graph), "after a daemon restart");

    // Without -v: no mounts, and Binds null, as Docker's.
    daemon.ok(&["create", "--name", "bare", "busybox", "true"]);
    let bare = inspect(&daemon, "bare");
    assert_eq!((&bare["Mounts"], &bare["HostConfig"]["Binds"]), (&serde_json::json!([]), &serde_json::Value::Null));
    daemon.ok(&["rm", "keeper", "bare"]);
    daemon.ok(&["volume", "rm", "www"]);
    daemon.stop();
}

/// An endpoint's MacAddress is the container's interface's, as the container sees it.
#[test]
fn inspect_shows_the_mac_address_of_the_containers_interface() {
    let mut daemon = daemon();
    daemon.ok(&["run", "-d", "--name", "nic", "busybox", "sh", "-c", "cat /sys/class/net/eth0/address; sleep 100"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let inside = loop {
        let out = daemon.ok(&["logs", "nic"]);
        if out.ends_with('\n') || Instant::now() > deadline {
            break out.trim().to_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(inside.len(), 17, "a MAC address: {inside:?}");
    let doc = inspect(&daemon, "nic");
    let networks = doc["NetworkSettings"]["Networks"].as_object().unwrap().clone();
    assert_eq!(networks.len(), 1, "{networks:?}");
    let endpoint = networks.values().next().unwrap();
    assert_eq!(endpoint["MacAddress"], inside.as_str(), "{endpoint}");
    daemon.ok(&["rm", "-f", "nic"]);
    daemon.stop();
}

/// As `docker inspect`: a name that matches nothing prints `[]` and an error, exit 1;
/// the containers that exist are shown all the same.
#[test]
fn inspect_of_a_missing_container_prints_an_empty_array_and_fails() {
    let mut daemon = daemon();
    let out = daemon.hostctl(&["inspect", "nope"]);
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str(), out.status.code()), ("[]\n", "Error: No such object: nope\n", Some(1)));
    daemon.ok(&["create", "--name", "here", "busybox", "true"]);
    let out = daemon.hostctl(&["inspect", "here", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let docs: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(docs.as_array().map(|d| d.len()), Some(1));
    assert_eq!(docs[0]["Name"], "/here");
    assert_eq!(stderr(&out), "Error: No such object: nope\n");
    daemon.ok(&["rm", "here"]);
    daemon.stop();
}

#[test]
fn a_command_that_does_not_exist_exits_127_like_docker() {
    let mut daemon = daemon();
    let out = daemon.hostctl(&["run", "--rm", "busybox", "nosuchcommand"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(stderr(&out).contains("nosuchcommand"), "{}", stderr(&out));
    let out = daemon.hostctl(&["run", "--rm", "nosuchimage:1", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("no such image"), "{}", stderr(&out));
    assert_eq!(daemon.ok(&["ps", "-a", "-q"]), "");
    daemon.stop();
}

#[test]
fn run_dash_f_reads_a_toml_spec_and_flags_override_it() {
    let mut daemon = daemon();
    let spec = daemon.dir().join("web.toml");
    std::fs::write(&spec, "name = \"fromfile\"\nimage = \"busybox\"\ncommand = \"echo $A $B\"\nenv = { A = \"file\" }\nrm = true\n[resources]\nmemory = \"32m\"\n").unwrap();
    let out = daemon.hostctl(&["run", "-f", spec.to_str().unwrap(), "-e", "B=flag"]);
    assert_eq!(stdout(&out), "file flag\n", "{}", stderr(&out));
    std::fs::write(&spec, "image = \"busybox\"\n[resources]\nmemory = \"32m\"\ncpu = 1\n").unwrap();
    let out = daemon.hostctl(&["run", "-f", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125), "run fails before the container exists, as Docker's");
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:4:1", spec.display())) && err.contains("cpu"), "{err}");
    std::fs::write(&spec, "image = \"busybox\"\nrm = \"yes\"\n").unwrap();
    let err = stderr(&daemon.hostctl(&["run", "-f", spec.to_str().unwrap()]));
    assert!(err.contains(&format!("{}:2:6", spec.display())), "{err}");
    daemon.stop();
}

#[test]
fn containers_survive_a_daemon_killed_with_sigkill() {
    let mut daemon = daemon();
    daemon.ok(&["run", "-d", "--name", "survivor", "busybox", "sh", "-c", "echo before; sleep 100"]);
    daemon.ok(&["run", "-d", "--name", "quick", "busybox", "sh", "-c", "sleep 1; exit 7"]);
    daemon.ok(&["run", "-d", "--name", "trapper", "busybox", "sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.1; done"]);
    let pid = inspect(&daemon, "survivor")["State"]["Pid"].as_i64().unwrap();
    daemon.kill();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "the container outlived its daemon");
    daemon.start_again();
    let ps = daemon.ok(&["ps"]);
    assert!(ps.contains("survivor"), "re-adopted: {ps}");
    assert_eq!(daemon.ok(&["logs", "survivor"]), "before\n");
    // The exit that happened while the daemon was down is known now.
    let quick = inspect(&daemon, "quick");
    assert_eq!(quick["State"]["Status"], "exited");
    assert_eq!(quick["State"]["ExitCode"], 7);
    // A re-adopted container's later exit is seen with its code, and published.
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "event=die", "--filter", "container=survivor"]);
    daemon.ok(&["kill", "-s", "TERM", "survivor"]);
    daemon.ok(&["kill", "survivor"]);
    assert_eq!(daemon.ok(&["wait", "survivor"]).trim(), "137");
    let die = watch.event();
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "137", "{die}");
    drop(watch);
    // `stop` of a re-adopted container sends its stop signal through the shim, and the
    // exit it traps is the one recorded and published.
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "event=die", "--filter", "container=trapper"]);
    let started = Instant::now();
    daemon.ok(&["stop", "trapper"]);
    assert!(started.elapsed() < Duration::from_secs(5), "the trap ended it, not SIGKILL after 10 s: {:?}", started.elapsed());
    assert_eq!(daemon.ok(&["wait", "trapper"]).trim(), "42");
    let trapper = inspect(&daemon, "trapper");
    assert_eq!((&trapper["State"]["Status"], &trapper["State"]["ExitCode"]), (&serde_json::json!("exited"), &serde_json::json!(42)));
    let die = watch.event();
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "42", "{die}");
    drop(watch);
    daemon.ok(&["rm", "survivor", "quick", "trapper"]);
    daemon.stop();
}

#[test]
fn a_foreground_run_reads_stdin_as_empty() {
    let mut daemon = daemon();
    let out = Command::new(hostctl_bin())
        .args(["-H", &daemon.host(), "run", "--rm", "busybox", "sh", "-c", "cat; echo end"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "end\n", "{}", stderr(&out));
    daemon.stop();
}

#[test]
fn host_network_shares_the_hosts_interfaces() {
    let mut daemon = daemon();
    // The host's links, not a namespace of its own: this daemon's default bridge is there
    // (a count would race with the tests beside this one, which make and delete links).
    let out = run_sh(&daemon, &["--network", "host"], "ls /sys/class/net");
    let text = stdout(&out);
    let inside: Vec<&str> = text.lines().collect();
    assert!(inside.contains(&"lo") && inside.contains(&daemon.default_bridge().unwrap()), "{inside:?} {}", stderr(&out));
    daemon.stop();
}

/// A container that is gone, bundle and all, before the foreground `run --rm` reads its
/// log still shows its output (the log is made with the bundle, and held open).
#[test]
fn quick_foreground_runs_with_rm_always_show_their_output() {
    let mut daemon = daemon();
    for i in 0..30 {
        let network = if i % 2 == 0 { "none" } else { "bridge" };
        let out = daemon.hostctl(&["run", "--rm", "--network", network, "busybox", "echo", &i.to_string()]);
        assert_eq!((stdout(&out), out.status.code()), (format!("{i}\n"), Some(0)), "run {i}: {}", stderr(&out));
    }
    daemon.stop();
}
