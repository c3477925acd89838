//! Seccomp inside real containers: Docker's default profile is installed as one filter
//! (`Seccomp: 2` in `/proc/self/status`), denies what Docker's denies (keyrings, user
//! namespaces, namespace flags of clone) with EPERM also for `--user 1000`, and
//! `--security-opt seccomp=unconfined`, `seccomp=PROFILE.json` and
//! `no-new-privileges=false` mean what they mean in Docker. What the kernel answered
//! is read with a static C probe (see `hostctl_tests::syscall_probe`). Every test ends
//! with `stop()`, which asserts no mount, cgroup or process is left.

use std::process::Output;

use hostctl_tests::daemon::TestDaemon;
use hostctl_tests::syscall_probe::{self, IN_CONTAINER};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `run --rm --network none FLAGS busybox ARGS`, required to succeed; its stdout.
fn run(daemon: &TestDaemon, flags: &[&str], args: &[&str]) -> String {
    let mut all = vec!["run", "--rm", "--network", "none"];
    all.extend_from_slice(flags);
    all.push("busybox");
    all.extend_from_slice(args);
    let out = daemon.hostctl(&all);
    assert!(out.status.success(), "run {all:?} failed ({}): {}\n{}", out.status, stderr(&out), daemon.log());
    stdout(&out)
}

/// The `Seccomp`, `Seccomp_filters` and `NoNewPrivs` lines of the container's init.
fn status_lines(daemon: &TestDaemon, flags: &[&str]) -> Vec<String> {
    let status = run(daemon, flags, &["cat", "/proc/self/status"]);
    status.lines().filter(|l| l.starts_with("Seccomp") || l.starts_with("NoNewPrivs")).map(|l| l.replace('\t', " ")).collect()
}

/// What the probe answered for each of `calls`, run with `flags`.
fn probe(daemon: &TestDaemon, bind: &str, flags: &[&str], calls: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["-v", bind];
    all.extend_from_slice(flags);
    let mut args = vec![IN_CONTAINER];
    args.extend_from_slice(calls);
    syscall_probe::results(&run(daemon, &all, &args))
}

/// `flags` and `--user 1000`.
fn as_user_1000<'a>(flags: &[&'a str]) -> Vec<&'a str> {
    let mut all = flags.to_vec();
    all.extend(["--user", "1000"]);
    all
}

/// The probe, built into the test's dir: the `-v` that binds it.
fn probe_bind(daemon: &TestDaemon) -> String {
    syscall_probe::build(&daemon.dir().join("probe"))
}

fn expect(calls: &[&str], answer: &str) -> Vec<(String, String)> {
    calls.iter().map(|c| ((*c).to_owned(), answer.to_owned())).collect()
}

const DENIED_BY_DEFAULT: &[&str] = &["add_key", "keyctl", "unshare-user", "unshare-all", "clone-newns"];

#[test]
fn a_default_container_runs_under_one_seccomp_filter() {
    let mut daemon = TestDaemon::with_busybox();
    assert_eq!(status_lines(&daemon, &[]), ["NoNewPrivs: 1", "Seccomp: 2", "Seccomp_filters: 1"]);
    daemon.stop();
}

#[test]
fn the_default_profile_denies_keyrings_and_user_namespaces_with_eperm() {
    let mut daemon = TestDaemon::with_busybox();
    let bind = probe_bind(&daemon);
    assert_eq!(probe(&daemon, &bind, &[], DENIED_BY_DEFAULT), expect(DENIED_BY_DEFAULT, "EPERM"));
    assert_eq!(probe(&daemon, &bind, &as_user_1000(&[]), DENIED_BY_DEFAULT), expect(DENIED_BY_DEFAULT, "EPERM"));
    // Past the last call the profile names: ENOSYS, as runc's stub answers (not EPERM).
    assert_eq!(probe(&daemon, &bind, &[], &["syscall:1000"]), expect(&["syscall:1000"], "ENOSYS"));
    daemon.stop();
}

#[test]
fn unconfined_runs_without_a_filter_and_opens_keyrings_and_user_namespaces() {
    let mut daemon = TestDaemon::with_busybox();
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    assert_eq!(status_lines(&daemon, &unconfined), ["NoNewPrivs: 1", "Seccomp: 0", "Seccomp_filters: 0"]);
    let bind = probe_bind(&daemon);
    let calls = ["add_key", "keyctl", "unshare-user", "unshare-all"];
    assert_eq!(probe(&daemon, &bind, &unconfined, &calls), expect(&calls, "ok"));
    assert_eq!(probe(&daemon, &bind, &as_user_1000(&unconfined), &["unshare-all"]), expect(&["unshare-all"], "ok"), "what the issue saw, now only unconfined");
    daemon.stop();
}

#[test]
fn without_no_new_privileges_the_filter_is_installed_before_capabilities_drop() {
    let mut daemon = TestDaemon::with_busybox();
    let flags = ["--security-opt", "no-new-privileges=false"];
    assert_eq!(status_lines(&daemon, &flags), ["NoNewPrivs: 0", "Seccomp: 2", "Seccomp_filters: 1"]);
    // The init's own last calls (setgroups, setuid, capset, execve) pass the filter.
    let bind = probe_bind(&daemon);
    let as_user = as_user_1000(&flags);
    assert_eq!(probe(&daemon, &bind, &as_user, DENIED_BY_DEFAULT), expect(DENIED_BY_DEFAULT, "EPERM"));
    assert_eq!(run(&daemon, &as_user, &["id", "-u"]), "1000\n");
    daemon.stop();
}

#[test]
fn cap_add_sys_admin_opens_unshare_and_mount_under_the_default_profile() {
    let mut daemon = TestDaemon::with_busybox();
    let bind = probe_bind(&daemon);
    let calls = ["unshare-user", "unshare-all", "clone-newns"];
    assert_eq!(probe(&daemon, &bind, &["--cap-add", "SYS_ADMIN"], &calls), expect(&calls, "ok"));
    assert_eq!(probe(&daemon, &bind, &["--cap-add", "SYS_ADMIN"], &["add_key"]), expect(&["add_key"], "EPERM"));
    assert_eq!(run(&daemon, &["--cap-add", "SYS_ADMIN"], &["sh", "-c", "mkdir -p /mnt && mount -t tmpfs none /mnt && echo mounted"]), "mounted\n");
    daemon.stop();
}

#[test]
fn a_profile_file_replaces_dockers_and_its_actions_take_effect() {
    let mut daemon = TestDaemon::with_busybox();
    let bind = probe_bind(&daemon);
    let profile = daemon.dir().join("no-mkdir.json");
    let json = r#"{
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30, "comment": "EROFS" }
        ]
    }"#;
    std::fs::write(&profile, json).unwrap();
    let opt = format!("seccomp={}", profile.display());
    let flags = ["--security-opt", opt.as_str()];
    let calls = ["mkdir:/tmp/new", "add_key"];
    assert_eq!(probe(&daemon, &bind, &flags, &calls), [("mkdir:/tmp/new".into(), "EROFS".into()), ("add_key".into(), "ok".into())]);
    // As Docker: inspect shows the option with the profile's JSON, compacted.
    let id = daemon.ok(&["create", "--security-opt", &opt, "busybox", "true"]);
    let inspect: serde_json::Value = serde_json::from_str(&daemon.ok(&["inspect", id.trim()])).unwrap();
    let sent = r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":30,"comment":"EROFS"}]}"#;
    assert_eq!(inspect[0]["HostConfig"]["SecurityOpt"], serde_json::json!([sent]));
    daemon.ok(&["rm", id.trim()]);

    // SCMP_ACT_KILL_PROCESS: the container dies of SIGSYS (128 + 31), from a run -f file
    // whose relative profile path is beside it.
    std::fs::write(daemon.dir().join("kill.json"), json.replace(r#""SCMP_ACT_ERRNO", "errnoRet": 30"#, r#""SCMP_ACT_KILL_PROCESS""#)).unwrap();
    let spec = daemon.dir().join("kill.toml");
    std::fs::write(&spec, "image = \"busybox\"\nrm = true\nnetwork = \"none\"\nsecurity-opt = [\"seccomp=kill.json\"]\ncommand = [\"mkdir\", \"/x\"]\n").unwrap();
    let out = daemon.hostctl(&["run", "-f", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(159), "{}", stderr(&out));
    daemon.stop();
}

#[test]
fn bad_security_options_are_refused_at_create_naming_what_is_wrong() {
    let mut daemon = TestDaemon::with_busybox();
    let write = |name: &str, text: &str| {
        let path = daemon.dir().join(name);
        std::fs::write(&path, text).unwrap();
        format!("seccomp={}", path.display())
    };
    let notify = write("notify.json", r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#);
    let unknown = write("unknown.json", r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_EXPLODE"}]}"#);
    let typo = write("typo.json", r#"{"defaultAction":"SCMP_ACT_ALLOW","sycalls":[]}"#);
    let broken = write("broken.json", "{\"defaultAction\": }");
    let missing = format!("seccomp={}", daemon.dir().join("missing.json").display());
    let cases: [(&str, &str); 8] = [
        (&notify, "syscalls[0].action: SCMP_ACT_NOTIFY needs a seccomp agent"),
        (&unknown, "syscalls[0].action: unknown variant `SCMP_ACT_EXPLODE`"),
        (&typo, "unknown field `sycalls`"),
        (&broken, "broken.json:1:19: not JSON"),
        (&missing, "missing.json: No such file or directory"),
        ("apparmor=unconfined", "invalid --security-opt \"apparmor=unconfined\": apparmor is not supported by hostctl"),
        ("no-new-privileges=maybe", "invalid --security-opt \"no-new-privileges=maybe\": expected true or false"),
        ("label=disable", "label is not supported by hostctl"),
    ];
    for (opt, says) in cases {
        let (code, err) = daemon.fails(&["create", "--security-opt", opt, "busybox", "true"]);
        assert!(err.contains(says), "{opt}: {err}");
        assert_ne!(code, 0);
    }
    assert_eq!(daemon.ok(&["ps", "-a", "-q"]), "", "nothing was created");
    daemon.stop();
}
