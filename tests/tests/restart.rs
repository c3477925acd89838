//! Restart policies end to end, decided by the bundled restart plugin: on-failure's count
//! and Docker's doubling delays between start events, always, a user's stop cancelling a
//! waiting restart, a manual start resetting the count, unless-stopped across a daemon
//! restart, and the refusals (`--rm` with `--restart`, a bad policy).

use std::time::Duration;

use hostctl_tests::daemon::TestDaemon;
use hostctl_tests::watch::Watch;
use serde_json::Value;

fn inspect(daemon: &TestDaemon, name: &str) -> Value {
    let docs: Value = serde_json::from_str(&daemon.ok(&["inspect", name])).unwrap();
    docs[0].clone()
}

/// Wait until `name` is neither running nor waiting to restart.
fn settle(daemon: &TestDaemon, name: &str) -> Value {
    for _ in 0..200 {
        let doc = inspect(daemon, name);
        if doc["State"]["Status"] == "exited" && doc["State"]["Restarting"] == false {
            return doc;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{name} did not settle: {}", inspect(daemon, name));
}

#[test]
fn on_failure_3_restarts_three_times_with_doubling_delays() {
    let mut daemon = TestDaemon::with_busybox();
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "container=flaky", "--filter", "event=start", "--filter", "event=die", "--filter", "event=restart"]);
    daemon.ok(&["run", "-d", "--name", "flaky", "--restart", "on-failure:3", "busybox", "sh", "-c", "exit 1"]);
    // start, die, then three times: restart, start, die.
    let events: Vec<Value> = (0..11).map(|_| watch.event()).collect();
    let actions: Vec<&str> = events.iter().map(|e| e["Action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["start", "die", "restart", "start", "die", "restart", "start", "die", "restart", "start", "die"]);
    let at = |i: usize| events[i]["timeNano"].as_i64().unwrap();
    // The delay between a die and the next start: 100 ms, then 200, then 400 (Docker's).
    let gaps: Vec<i64> = [(1, 3), (4, 6), (7, 9)].iter().map(|&(die, start)| (at(start) - at(die)) / 1_000_000).collect();
    for (gap, least) in gaps.iter().zip([100, 200, 400]) {
        assert!(*gap >= least && *gap < least + 3000, "delays between die and start {gaps:?} ms, expected about 100, 200, 400");
    }
    let doc = settle(&daemon, "flaky");
    assert_eq!(doc["RestartCount"], 3);
    assert_eq!(doc["State"]["ExitCode"], 1);
    assert_eq!(doc["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(doc["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 3);
    assert!(watch.lines.recv_timeout(Duration::from_millis(1000)).is_err(), "no fourth restart");
    drop(watch);
    daemon.ok(&["rm", "flaky"]);
    daemon.stop();
}

#[test]
fn a_manual_start_resets_the_restart_count() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["run", "-d", "--name", "once", "--restart", "on-failure:1", "busybox", "sh", "-c", "exit 2"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(settle(&daemon, "once")["RestartCount"], 1);
    daemon.ok(&["start", "once"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(settle(&daemon, "once")["RestartCount"], 1, "counted again from zero after the manual start");
    daemon.ok(&["rm", "once"]);
    daemon.stop();
}

#[test]
fn always_restarts_after_success_and_a_user_stop_cancels_it() {
    let mut daemon = TestDaemon::with_busybox();
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "container=keeper", "--filter", "event=restart"]);
    daemon.ok(&["run", "-d", "--name", "keeper", "--restart", "always", "busybox", "sh", "-c", "sleep 0.1; exit 0"]);
    watch.event();
    watch.event();
    daemon.ok(&["stop", "-t", "1", "keeper"]);
    let doc = settle(&daemon, "keeper");
    assert_eq!(doc["State"]["Running"], false);
    // Whatever was pending is cancelled: no restart after the stop.
    std::thread::sleep(Duration::from_millis(1500));
    while watch.lines.try_recv().is_ok() {}
    std::thread::sleep(Duration::from_millis(1000));
    assert!(watch.lines.try_recv().is_err(), "restarted after a user's stop");
    assert_eq!(inspect(&daemon, "keeper")["State"]["Status"], "exited");
    drop(watch);
    daemon.ok(&["rm", "keeper"]);
    daemon.stop();
}

#[test]
fn always_comes_back_with_the_daemon_and_unless_stopped_stays_stopped() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "100"]);
    daemon.ok(&["run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sleep", "100"]);
    daemon.ok(&["stop", "-t", "0", "always", "unless"]);
    daemon.restart();
    let always = inspect(&daemon, "always");
    let unless = inspect(&daemon, "unless");
    assert_eq!(always["State"]["Status"], "running", "always starts with the daemon");
    assert_eq!(unless["State"]["Status"], "exited", "a stopped unless-stopped stays stopped");
    daemon.ok(&["rm", "-f", "always", "unless"]);
    daemon.stop();
}

#[test]
fn restart_command_stops_and_starts_and_says_so() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["run", "-d", "--name", "svc", "busybox", "sleep", "100"]);
    let before = inspect(&daemon, "svc")["State"]["Pid"].as_i64().unwrap();
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "container=svc"]);
    daemon.ok(&["restart", "-t", "0", "svc"]);
    // As Docker's with -t 0: SIGTERM (PID 1 ignores it), SIGKILL at once, then start.
    let actions: Vec<String> = (0..6).map(|_| watch.event()["Action"].as_str().unwrap().to_owned()).collect();
    assert_eq!(actions, ["kill", "kill", "die", "stop", "start", "restart"]);
    let after = inspect(&daemon, "svc")["State"]["Pid"].as_i64().unwrap();
    assert_ne!(before, after, "a new process");
    drop(watch);
    daemon.ok(&["rm", "-f", "svc"]);
    daemon.stop();
}

#[test]
fn restart_with_rm_and_bad_policies_are_refused() {
    let mut daemon = TestDaemon::with_busybox();
    let out = daemon.hostctl(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("conflicting options: --restart and --rm"));
    let out = daemon.hostctl(&["run", "-d", "--restart", "always:3", "busybox", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plugin \"restart\"") && err.contains("only with on-failure"), "{err}");
    assert_eq!(daemon.ok(&["ps", "-a", "-q"]), "");
    daemon.stop();
}

#[test]
fn a_users_kill_cancels_a_restart_waiting_for_its_delay() {
    let mut daemon = TestDaemon::with_busybox();
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "container=crashy", "--filter", "event=die", "--filter", "event=start"]);
    daemon.ok(&["run", "-d", "--name", "crashy", "--restart", "on-failure:10", "busybox", "sh", "-c", "exit 1"]);
    // start, die, then four restarts (100 + 200 + 400 + 800 ms): the fifth waits 1.6 s.
    for _ in 0..5 {
        assert_eq!(watch.event()["Action"], "start");
        assert_eq!(watch.event()["Action"], "die");
    }
    let waiting = (0..20).any(|_| {
        let restarting = inspect(&daemon, "crashy")["State"]["Restarting"] == true;
        if !restarting {
            std::thread::sleep(Duration::from_millis(50));
        }
        restarting
    });
    assert!(waiting, "waiting for its delay: {}", inspect(&daemon, "crashy"));
    daemon.ok(&["kill", "crashy"]);
    assert!(watch.lines.recv_timeout(Duration::from_millis(2500)).is_err(), "started again after a user's kill");
    let doc = settle(&daemon, "crashy");
    assert_eq!(doc["RestartCount"], 4);
    drop(watch);
    daemon.ok(&["rm", "crashy"]);
    daemon.stop();
}

#[test]
fn a_kill_with_a_signal_other_than_the_stop_signal_leaves_the_policy_in_place() {
    let mut daemon = TestDaemon::with_busybox();
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "container=trapper", "--filter", "event=restart"]);
    let script = "trap 'exit 3' USR1; while true; do sleep 0.1; done";
    daemon.ok(&["run", "-d", "--name", "trapper", "--restart", "on-failure", "busybox", "sh", "-c", script]);
    daemon.ok(&["kill", "-s", "USR1", "trapper"]);
    assert_eq!(watch.event()["Action"], "restart", "exit 3 on SIGUSR1 is the policy's to restart");
    let running = (0..100).any(|_| {
        let up = inspect(&daemon, "trapper")["State"]["Running"] == true;
        if !up {
            std::thread::sleep(Duration::from_millis(20));
        }
        up
    });
    assert!(running, "{}", inspect(&daemon, "trapper"));
    daemon.ok(&["kill", "trapper"]);
    let doc = settle(&daemon, "trapper");
    assert_eq!((doc["RestartCount"].as_i64(), doc["State"]["ExitCode"].as_i64()), (Some(1), Some(137)), "{doc}");
    assert!(watch.lines.recv_timeout(Duration::from_millis(1000)).is_err(), "SIGKILL from a user disables the policy");
    drop(watch);
    daemon.ok(&["rm", "trapper"]);
    daemon.stop();
}
