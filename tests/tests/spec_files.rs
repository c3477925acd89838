//! `hostctl run -f spec.toml` end to end: every key of a spec file taking effect (inside
//! the container, in the kernel's cgroup files, in `inspect`), every flag overriding its
//! key, and a bad file refused as the user sees it: one line `FILE:LINE:COL: KEY:
//! message` and `run`'s exit status 125, with nothing created. Also `-e NAME` taking
//! NAME's value from the client's environment, as Docker's does. (The daemon's config
//! goes through the same TOML loader; tests/daemon.rs checks its errors.)

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hostctl_tests::daemon::{TestDaemon, hostctl_bin};
use hostctl_tests::kernel::cgroups_under;
use serde_json::Value;

/// Every key a spec file takes that `run` has a flag for; the command reports what the
/// container sees, then waits to be looked at.
const SPEC: &str = r#"name = "fromfile"
image = "busybox"
command = "echo A=$A B=$B; pwd; hostname; ip -4 -o addr show eth0; cat /bind/note; echo written > /data/note; echo ready; exec sleep 60"
env = { A = "file", B = "file" }
workdir = "/tmp"
hostname = "filehost"
restart = "on-failure:3"
network = "filenet"
volumes = ["filedata:/data", "BIND_FILE:/bind"]

[resources]
memory = "48m"
cpus = 0.5
pids-limit = 20
"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The CLI against `daemon`, with `env` set (and `unset` unset) in its environment.
fn hostctl_with_env(daemon: &TestDaemon, env: &[(&str, &str)], unset: &[&str], args: &[&str]) -> Output {
    let mut cmd = Command::new(hostctl_bin());
    cmd.arg("-H").arg(daemon.host()).args(args).stdin(Stdio::null());
    for (name, value) in env {
        cmd.env(name, value);
    }
    for name in unset {
        cmd.env_remove(name);
    }
    cmd.output().expect("running hostctl")
}

fn inspect(daemon: &TestDaemon, name: &str) -> Value {
    let docs: Value = serde_json::from_str(&daemon.ok(&["inspect", name])).expect("inspect prints JSON");
    docs[0].clone()
}

/// The logs of `name` once its command printed `ready`.
fn logs_when_ready(daemon: &TestDaemon, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = daemon.ok(&["logs", name]);
        if logs.contains("ready\n") {
            return logs;
        }
        assert!(Instant::now() < deadline, "{name} never got ready; its logs:\n{logs}{}", text(&daemon.hostctl(&["logs", name]).stderr));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first of `files` (v1 and v2 names of one limit) in container `id`'s cgroups.
fn cgroup_file(daemon: &TestDaemon, id: &str, files: &[&str]) -> String {
    cgroups_under(daemon.cgroup_parent())
        .into_iter()
        .filter(|cg| cg.file_name().is_some_and(|n| n == id))
        .find_map(|cg| files.iter().find_map(|f| std::fs::read_to_string(cg.join(f)).ok()))
        .unwrap_or_else(|| panic!("no {files:?} in the cgroups of {id}"))
        .trim()
        .to_owned()
}

/// What a running container is, as a user would check it.
struct Seen {
    logs: String,
    doc: Value,
    memory: String,
    cpu_quota: String,
    pids: String,
}

/// `run -d -f spec flags…`, then what the container shows; it is removed afterwards.
fn run_spec(daemon: &TestDaemon, spec: &Path, flags: &[&str], name: &str) -> Seen {
    let mut args = vec!["run", "-d", "-f", spec.to_str().unwrap()];
    args.extend_from_slice(flags);
    let id = daemon.ok(&args).trim().to_owned();
    let seen = Seen {
        logs: logs_when_ready(daemon, name),
        doc: inspect(daemon, name),
        memory: cgroup_file(daemon, &id, &["memory.limit_in_bytes", "memory.max"]),
        cpu_quota: cgroup_file(daemon, &id, &["cpu.cfs_quota_us", "cpu.max"]),
        pids: cgroup_file(daemon, &id, &["pids.max"]),
    };
    assert_eq!(seen.doc["Id"], id.as_str());
    daemon.ok(&["rm", "-f", name]);
    seen
}

/// A spec file in the test's dir, its bind source a host directory holding `note`.
fn write_spec(daemon: &TestDaemon) -> std::path::PathBuf {
    let bind = daemon.dir().join("bind-file");
    std::fs::create_dir_all(&bind).unwrap();
    std::fs::write(bind.join("note"), "from the file's bind\n").unwrap();
    let spec = daemon.dir().join("spec.toml");
    std::fs::write(&spec, SPEC.replace("BIND_FILE", bind.to_str().unwrap())).unwrap();
    spec
}

#[test]
fn every_key_of_a_spec_file_takes_effect() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["network", "create", "--subnet", "10.226.0.0/24", "filenet"]);
    let spec = write_spec(&daemon);
    let seen = run_spec(&daemon, &spec, &[], "fromfile");

    let lines: Vec<&str> = seen.logs.lines().collect();
    assert_eq!(lines[0], "A=file B=file", "env, and command run by /bin/sh -c: {}", seen.logs);
    assert_eq!(lines[1], "/tmp", "workdir");
    assert_eq!(lines[2], "filehost", "hostname");
    assert!(lines[3].contains("inet 10.226.0."), "an address on filenet: {}", seen.logs);
    assert_eq!(lines[4], "from the file's bind", "the bind");
    assert_eq!(seen.doc["Name"], "/fromfile");
    assert_eq!(seen.doc["Config"]["Image"], "busybox");
    assert!(seen.doc["NetworkSettings"]["Networks"]["filenet"].is_object(), "{}", seen.doc["NetworkSettings"]);
    assert_eq!(seen.doc["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(seen.doc["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 3);
    assert_eq!(seen.doc["HostConfig"]["Memory"], 48 << 20);
    assert_eq!(seen.memory, (48u64 << 20).to_string(), "the memory limit in the kernel");
    assert_eq!(seen.doc["HostConfig"]["NanoCpus"], 500_000_000);
    assert!(seen.cpu_quota.starts_with("50000"), "the CFS quota: {}", seen.cpu_quota);
    assert_eq!(seen.doc["HostConfig"]["PidsLimit"], 20);
    assert_eq!(seen.pids, "20", "the pids limit in the kernel");

    // The named volume was created, and keeps what the container wrote.
    let out = daemon.ok(&["run", "--rm", "--network", "none", "-v", "filedata:/data", "busybox", "cat", "/data/note"]);
    assert_eq!(out, "written\n");
    daemon.ok(&["volume", "rm", "filedata"]);
    daemon.ok(&["network", "rm", "filenet"]);
    daemon.stop();
}

#[test]
fn every_flag_overrides_its_key_in_the_file() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["network", "create", "--subnet", "10.226.0.0/24", "filenet"]);
    daemon.ok(&["network", "create", "--subnet", "10.226.1.0/24", "flagnet"]);
    let spec = write_spec(&daemon);
    let bind = daemon.dir().join("bind-flag");
    std::fs::create_dir_all(&bind).unwrap();
    std::fs::write(bind.join("note"), "from the flag's bind\n").unwrap();
    let bind = format!("{}:/bind", bind.display());
    #[rustfmt::skip]
    let flags = [
        "--name", "fromflag", "-e", "A=flag", "-w", "/bin", "--hostname", "flaghost",
        "--memory", "40m", "--cpus", "0.25", "--pids-limit", "30", "--network", "flagnet",
        "--restart", "unless-stopped", "-v", "flagdata:/data", "-v", &bind,
    ];
    let seen = run_spec(&daemon, &spec, &flags, "fromflag");

    let lines: Vec<&str> = seen.logs.lines().collect();
    assert_eq!(lines[0], "A=flag B=file", "-e replaces the file's A and keeps its B: {}", seen.logs);
    assert_eq!(lines[1], "/bin", "-w");
    assert_eq!(lines[2], "flaghost", "--hostname");
    assert!(lines[3].contains("inet 10.226.1."), "an address on flagnet: {}", seen.logs);
    assert_eq!(lines[4], "from the flag's bind", "-v replaces the file's bind at /bind");
    assert_eq!(seen.doc["Name"], "/fromflag");
    let networks = seen.doc["NetworkSettings"]["Networks"].as_object().unwrap();
    assert_eq!(networks.keys().collect::<Vec<_>>(), ["flagnet"]);
    assert_eq!(seen.doc["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
    assert_eq!(seen.doc["HostConfig"]["Memory"], 40 << 20);
    assert_eq!(seen.memory, (40u64 << 20).to_string());
    assert_eq!(seen.doc["HostConfig"]["NanoCpus"], 250_000_000);
    assert!(seen.cpu_quota.starts_with("25000"), "the CFS quota: {}", seen.cpu_quota);
    assert_eq!(seen.doc["HostConfig"]["PidsLimit"], 30);
    assert_eq!(seen.pids, "30");
    let destinations: Vec<&str> = seen.doc["Mounts"].as_array().unwrap().iter().map(|m| m["Destination"].as_str().unwrap()).collect();
    assert_eq!(destinations.iter().filter(|d| **d == "/data").count(), 1, "one mount at /data: {destinations:?}");

    // /data was the flag's volume; the file's was never created.
    let out = daemon.ok(&["run", "--rm", "--network", "none", "-v", "flagdata:/data", "busybox", "cat", "/data/note"]);
    assert_eq!(out, "written\n");
    let volumes = daemon.ok(&["volume", "ls", "-q"]);
    assert!(!volumes.lines().any(|v| v == "filedata"), "{volumes}");
    daemon.ok(&["volume", "rm", "flagdata"]);
    daemon.ok(&["network", "rm", "filenet", "flagnet"]);
    daemon.stop();
}

#[test]
fn a_bad_spec_file_names_file_line_col_and_key_and_run_exits_125() {
    let mut daemon = TestDaemon::with_busybox();
    let spec = daemon.dir().join("bad.toml");
    let spec_arg = spec.to_str().unwrap();
    let cases = [
        ("image = \"busybox\"\n[resources]\nmemory = 64\n", "3:10: resources.memory: expected a string, found an integer"),
        ("image = \"busybox\"\nrm = \"yes\"\n", "2:6: rm: expected a boolean, found a string \"yes\""),
        ("image = \"busybox\"\nenv = 5\n", "2:7: env: expected a list of \"K=V\" strings or a table of strings, found an integer"),
        ("image = \"busybox\"\nimage = \"busybox\"\n", "2:1: image: duplicate key"),
        (
            "image = \"busybox\"\n\nrestrat = \"always\"\n",
            "3:1: restrat: unknown key, expected one of name, image, command, entrypoint, env, workdir, hostname, user, labels, rm, detach, network, restart, volumes, ports, security-opt, cap-add, cap-drop, privileged, read-only, devices, ulimits, init, resources",
        ),
    ];
    for (file, error) in cases {
        std::fs::write(&spec, file).unwrap();
        let out = daemon.hostctl(&["run", "-f", spec_arg]);
        assert_eq!(text(&out.stderr), format!("Error: {spec_arg}:{error}\n"), "for:\n{file}");
        assert_eq!(out.status.code(), Some(125), "for:\n{file}");
    }
    // Another error found before the container exists: also 125, as Docker's.
    let (code, err) = daemon.fails(&["run", "--memory", "64q", "busybox", "true"]);
    assert_eq!((code, err.as_str()), (125, "Error: --memory \"64q\": expected a size like 64m or 1g\n"));
    assert_eq!(daemon.ok(&["ps", "-a", "-q"]), "", "nothing was created");
    daemon.stop();
}

#[test]
fn a_bare_env_flag_takes_the_clients_value_and_an_unset_one_is_left_out() {
    let mut daemon = TestDaemon::with_busybox();
    let script = "echo \"HOSTV=$HOSTV\"; echo \"UNSETV=${UNSETV-unset}\"";
    let args = ["run", "--rm", "--network", "none", "-e", "HOSTV", "-e", "UNSETV", "busybox", "sh", "-c", script];
    let out = hostctl_with_env(&daemon, &[("HOSTV", "from the client")], &["UNSETV"], &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "HOSTV=from the client\nUNSETV=unset\n");
    daemon.stop();
}
