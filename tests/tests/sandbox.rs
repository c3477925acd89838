//! The sandbox seen through the daemon: with the probe component as the storage driver,
//! a plugin that loops or balloons fails the one import that triggered it, with an error
//! naming the plugin, and the daemon goes on serving (the next import succeeds).

use hostctl_tests::daemon::{Options, TestDaemon};
use hostctl_tests::images::Layer;

fn probe_daemon(manifest_extra: &str) -> TestDaemon {
    TestDaemon::start_with(Options {
        bundled: false,
        probe: Some(manifest_extra.to_owned()),
        config: "[storage]\ndriver = \"probe\"\n[plugins]\ncall-timeout-ms = 300\n".into(),
    })
}

/// A rootfs tar holding a file whose name tells the probe what to do.
fn import_marked(daemon: &TestDaemon, marker: &str) -> std::process::Output {
    let path = daemon.dir().join(format!("{marker}.tar"));
    std::fs::write(&path, Layer::new().file(&format!("probe:{marker}"), "x").tar()).unwrap();
    daemon.hostctl(&["import", path.to_str().unwrap(), &format!("marked:{marker}")])
}

fn still_serves(daemon: &TestDaemon) {
    daemon.ok(&["images"]);
    let out = import_marked(daemon, "fine");
    assert!(out.status.success(), "a normal import after the failure: {}", String::from_utf8_lossy(&out.stderr));
    assert!(daemon.ok(&["images"]).contains("marked"));
}

#[test]
fn a_looping_driver_is_stopped_by_its_deadline_and_the_daemon_serves_on() {
    let daemon = probe_daemon("");
    let out = import_marked(&daemon, "loop");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plugin \"probe\"") && err.contains("deadline"), "{err}");
    still_serves(&daemon);
}

#[test]
fn a_ballooning_driver_hits_its_memory_cap_and_the_daemon_serves_on() {
    let daemon = probe_daemon("[limits]\nmemory = \"32m\"\n");
    let out = import_marked(&daemon, "balloon");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plugin \"probe\"") && err.contains("memory limit of 32 MiB"), "{err}");
    still_serves(&daemon);
}

#[test]
fn a_panicking_driver_fails_one_import_with_its_message() {
    let daemon = probe_daemon("");
    let out = import_marked(&daemon, "trap");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plugin \"probe\"") && err.contains("probe asked to trap"), "{err}");
    still_serves(&daemon);
}

#[test]
fn an_ungranted_capability_is_refused_as_an_error_value() {
    let daemon = probe_daemon("");
    let out = import_marked(&daemon, "chown");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not granted") && err.contains("chown"), "{err}");
    assert!(!err.contains("trapped"), "a denial is a value, not a trap: {err}");
    still_serves(&daemon);
}

#[test]
fn every_files_import_is_refused_as_an_error_value_when_not_granted() {
    let daemon = probe_daemon("");
    for (op, capability) in [
        ("chmod", "chmod"),
        ("whiteout", "whiteout"),
        ("opaque", "opaque"),
        ("mknod", "mknod"),
        ("xattr", "xattr"),
        ("symlink", "symlink"),
        ("removetree", "remove-tree"),
    ] {
        let out = import_marked(&daemon, &format!("deny{op}"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{op} was allowed");
        assert!(err.contains("plugin \"probe\"") && err.contains(&format!("not granted the files capability \"{capability}\"")), "{op}: {err}");
        assert!(!err.contains("trapped"), "a denial is a value, not a trap: {err}");
    }
    still_serves(&daemon);
}

#[test]
fn kv_is_refused_without_its_grant() {
    let daemon = probe_daemon("");
    let err = String::from_utf8_lossy(&import_marked(&daemon, "kv").stderr).into_owned();
    assert!(err.contains("not granted the kv capability"), "{err}");
    still_serves(&daemon);
}

#[test]
fn kv_round_trips_and_persists_with_its_grant() {
    let daemon = probe_daemon("[capabilities]\nkv = true\n");
    let err = String::from_utf8_lossy(&import_marked(&daemon, "kv").stderr).into_owned();
    assert!(err.contains("kv round trip: value"), "{err}");
    let err = String::from_utf8_lossy(&import_marked(&daemon, "kvget").stderr).into_owned();
    assert!(err.contains("kv holds: value"), "a later call reads what an earlier one wrote: {err}");
}

#[test]
fn a_driver_trickling_through_its_layer_is_stopped_by_its_budget() {
    // Progress on every read keeps the idle deadline (300 ms) from firing; the budget
    // (300 ms plus the blob's size at 4 KiB/s, about 3 s here) stops it. Without a
    // budget the trickle would take ten minutes.
    let daemon = probe_daemon("");
    let path = daemon.dir().join("trickle.tar");
    std::fs::write(&path, Layer::new().file("probe:trickle", "x").file("pad", "p".repeat(8 * 1024)).tar()).unwrap();
    let started = std::time::Instant::now();
    let out = daemon.hostctl(&["import", path.to_str().unwrap(), "marked:trickle"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("plugin \"probe\"") && err.contains("used up its budget of"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "stopped after {:?}", started.elapsed());
    still_serves(&daemon);
}
