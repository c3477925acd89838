//! Volumes in containers, end to end: `-v NAME:/path` creating the volume on first use and
//! its data read by the next container, `:ro` really read-only inside, a host directory
//! bound, a tmpfs volume with its size, `volume rm` refused while a container uses it,
//! and the volume events (`create`, `mount`, `unmount`, `destroy`) filtered by volume.

use hostctl_tests::daemon::TestDaemon;
use hostctl_tests::kernel::mounts_under;
use hostctl_tests::watch::Watch;
use serde_json::Value;

fn run(daemon: &TestDaemon, args: &[&str], script: &str) -> std::process::Output {
    let mut all = vec!["run", "--rm", "--network", "none"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["busybox", "sh", "-c", script]);
    daemon.hostctl(&all)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_named_volume_is_created_on_first_use_and_keeps_its_data_for_the_next_container() {
    let mut daemon = TestDaemon::with_busybox();
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "volume=keep"]);
    let out = run(&daemon, &["-v", "keep:/data"], "echo written by the first > /data/note");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_str(&daemon.ok(&["volume", "inspect", "keep"])).unwrap();
    assert_eq!(doc[0]["Driver"], "volume-local");
    let out = run(&daemon, &["-v", "keep:/again"], "cat /again/note");
    assert_eq!(text(&out.stdout), "written by the first\n", "{}", text(&out.stderr));
    daemon.ok(&["volume", "rm", "keep"]);
    let actions: Vec<String> = (0..6).map(|_| watch.event()["Action"].as_str().unwrap().to_owned()).collect();
    assert_eq!(actions, ["create", "mount", "unmount", "mount", "unmount", "destroy"]);
    drop(watch);
    assert!(mounts_under(daemon.dir()).is_empty(), "{:?}", mounts_under(daemon.dir()));
    daemon.stop();
}

#[test]
fn read_only_volumes_and_binds_refuse_writes_inside() {
    let mut daemon = TestDaemon::with_busybox();
    let host_dir = daemon.dir().join("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("from-host"), "hello from the host\n").unwrap();
    let bind = format!("{}:/srv:ro", host_dir.display());
    let out = run(&daemon, &["-v", &bind], "cat /srv/from-host; touch /srv/x && echo wrote || echo refused");
    assert_eq!(text(&out.stdout), "hello from the host\nrefused\n", "{}", text(&out.stderr));
    assert!(!host_dir.join("x").exists());
    let bind_rw = format!("{}:/srv", host_dir.display());
    let out = run(&daemon, &["-v", &bind_rw], "echo back > /srv/from-container");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(host_dir.join("from-container")).unwrap(), "back\n");

    daemon.ok(&["volume", "create", "locked"]);
    let out = run(&daemon, &["-v", "locked:/data:ro"], "echo x > /data/x 2>/dev/null && echo wrote || echo refused; grep ' /data ' /proc/mounts");
    let shown = text(&out.stdout);
    assert!(shown.starts_with("refused\n"), "{shown}{}", text(&out.stderr));
    assert!(shown.lines().nth(1).is_some_and(|l| l.split_whitespace().nth(3).is_some_and(|o| o.split(',').any(|f| f == "ro"))), "{shown}");
    daemon.ok(&["volume", "rm", "locked"]);
    daemon.stop();
}

#[test]
fn a_tmpfs_volume_has_its_size_inside_and_rm_is_refused_while_a_container_uses_it() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=8m", "scratch"]);
    daemon.ok(&["run", "-d", "--name", "user", "--network", "none", "-v", "scratch:/scratch", "busybox", "sleep", "100"]);
    let (_, err) = daemon.fails(&["volume", "rm", "scratch"]);
    assert!(err.contains("in use"), "{err}");
    let (_, err) = daemon.fails(&["volume", "rm", "-f", "scratch"]);
    assert!(err.contains("in use"), "force does not remove a volume in use: {err}");
    let out = run(&daemon, &["-v", "scratch:/s"], "grep ' /s ' /proc/mounts; df -k /s | tail -1");
    let shown = text(&out.stdout);
    assert!(shown.starts_with("tmpfs /s tmpfs"), "{shown}{}", text(&out.stderr));
    let size_kb: u64 = shown.lines().nth(1).and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    assert_eq!(size_kb, 8192, "{shown}");
    daemon.ok(&["rm", "-f", "user"]);
    daemon.ok(&["volume", "rm", "scratch"]);
    assert!(mounts_under(daemon.dir()).is_empty(), "{:?}", mounts_under(daemon.dir()));
    daemon.stop();
}
