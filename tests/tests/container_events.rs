//! Container events end to end: what a `run`, a `stop` and an OOM kill publish, in which
//! order (Docker's: `die` before the network disconnect and volume unmount, `destroy`
//! last) and with which attributes; filters by container and event; and `die` arriving
//! through a real Debian nats-server, also for an exit that happened while the daemon
//! was down, which `events --since` on the socket then replays.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hostctl_tests::daemon::{Options, TestDaemon};
use hostctl_tests::images::{SaveLayout, busybox_image, docker_save};
use hostctl_tests::nats::NatsServer;
use hostctl_tests::watch::{WAIT, Watch};
use serde_json::Value;

fn with_busybox(options: Options) -> TestDaemon {
    let daemon = TestDaemon::start_with(options);
    let path = daemon.dir().join("busybox.tar");
    std::fs::write(&path, docker_save(&[busybox_image("busybox:latest")], SaveLayout::Legacy)).unwrap();
    daemon.ok(&["load", "-q", "-i", path.to_str().unwrap()]);
    daemon
}

fn nats_options(url: &str) -> Options {
    Options { config: format!("[events]\nhost = \"evhost\"\n[events.nats]\nurl = \"{url}\"\n"), ..Options::default() }
}

fn action(e: &Value) -> &str {
    e["Action"].as_str().unwrap()
}

fn attr<'a>(e: &'a Value, key: &str) -> &'a str {
    e["Actor"]["Attributes"][key].as_str().unwrap_or("")
}

#[test]
fn a_run_publishes_create_start_die_destroy_in_order() {
    let mut daemon = with_busybox(Options::default());
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "container=evrun"]);
    let out = daemon.hostctl(&["run", "--rm", "--name", "evrun", "busybox", "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    let events: Vec<Value> = (0..4).map(|_| watch.event()).collect();
    let actions: Vec<&str> = events.iter().map(action).collect();
    assert_eq!(actions, ["create", "start", "die", "destroy"]);
    for e in &events {
        assert_eq!(e["Type"], "container");
        assert_eq!(attr(e, "name"), "evrun");
        assert_eq!(attr(e, "image"), "busybox");
        assert_eq!(e["status"], e["Action"], "Docker's legacy fields");
    }
    let die = &events[2];
    assert_eq!(attr(die, "exitCode"), "4");
    assert!(die["Actor"]["Attributes"]["execDuration"].is_string());
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seq grows: {seqs:?}");
    let ids: Vec<&str> = events.iter().map(|e| e["Actor"]["ID"].as_str().unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0] && id.len() == 64));
    drop(watch);
    daemon.stop();
}

#[test]
fn die_comes_before_the_network_disconnect_and_volume_unmount_and_destroy_last() {
    let mut daemon = with_busybox(Options::default());
    let watch = Watch::on(&daemon, &["--format", "json"]);
    daemon.ok(&["run", "--rm", "--name", "evorder", "-v", "evorder-data:/data", "busybox", "true"]);
    let mut seen: Vec<Value> = Vec::new();
    while !seen.last().is_some_and(|e| action(e) == "destroy" && e["Type"] == "container") {
        seen.push(watch.event());
    }
    let id = seen.iter().find(|e| e["Type"] == "container").map(|e| e["Actor"]["ID"].as_str().unwrap().to_owned()).unwrap();
    let about_it = |e: &&Value| e["Actor"]["ID"] == id.as_str() || attr(e, "container") == id;
    let order: Vec<String> = seen.iter().filter(about_it).map(|e| format!("{} {}", e["Type"].as_str().unwrap(), action(e))).collect();
    let started = order.iter().position(|e| e == "container start").expect("a start");
    assert_eq!(order[started..], ["container start", "container die", "network disconnect", "volume unmount", "container destroy"], "{order:?}");
    drop(watch);
    daemon.ok(&["volume", "rm", "evorder-data"]);
    daemon.stop();
}

#[test]
fn stop_publishes_the_signals_it_sends_then_die_and_stop() {
    let mut daemon = with_busybox(Options::default());
    daemon.ok(&["run", "-d", "--name", "sleeper", "busybox", "sleep", "100"]);
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "container=sleeper"]);
    daemon.ok(&["stop", "-t", "1", "sleeper"]);
    let events: Vec<Value> = (0..4).map(|_| watch.event()).collect();
    let summary: Vec<(String, String)> =
        events.iter().map(|e| (action(e).to_owned(), format!("{}{}", attr(e, "signal"), attr(e, "exitCode")))).collect();
    let expected: Vec<(String, String)> =
        [("kill", "15"), ("kill", "9"), ("die", "137"), ("stop", "")].iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(summary, expected);
    daemon.ok(&["rm", "sleeper"]);
    drop(watch);
    daemon.stop();
}

#[test]
fn an_oom_kill_publishes_oom_before_die() {
    let mut daemon = with_busybox(Options::default());
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "event=oom", "--filter", "event=die"]);
    let out = daemon.hostctl(&["run", "--rm", "--memory", "16m", "busybox", "tail", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(137));
    let (first, second) = (watch.event(), watch.event());
    assert_eq!((action(&first), action(&second)), ("oom", "die"));
    assert_eq!(attr(&second, "exitCode"), "137");
    drop(watch);
    daemon.stop();
}

#[test]
fn filters_pick_one_containers_deaths() {
    let mut daemon = with_busybox(Options::default());
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "event=die", "--filter", "container=wanted"]);
    daemon.ok(&["run", "--rm", "--name", "other", "busybox", "true"]);
    let _ = daemon.hostctl(&["run", "--rm", "--name", "wanted", "busybox", "sh", "-c", "exit 2"]);
    let e = watch.event();
    assert_eq!((action(&e), attr(&e, "name"), attr(&e, "exitCode")), ("die", "wanted", "2"));
    assert!(watch.lines.recv_timeout(Duration::from_millis(300)).is_err(), "nothing else passes the filter");
    drop(watch);
    daemon.stop();
}

#[test]
fn a_die_arrives_through_nats() {
    let nats = NatsServer::start();
    let mut daemon = with_busybox(nats_options(&nats.url()));
    let mut dies = nats.subscribe("hostctl.events.evhost.container.die");
    let out = daemon.hostctl(&["run", "--rm", "--name", "natsdie", "busybox", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    let message = dies.next(WAIT).expect("a die on NATS");
    let event = message.json();
    assert_eq!(attr(&event, "name"), "natsdie");
    assert_eq!(attr(&event, "exitCode"), "5");
    daemon.stop();
}

#[test]
fn an_exit_while_the_daemon_was_down_is_published_when_it_comes_back() {
    let nats = NatsServer::start();
    let mut daemon = with_busybox(nats_options(&nats.url()));
    let before = unix_now();
    daemon.ok(&["run", "-d", "--name", "whiledown", "busybox", "sh", "-c", "sleep 1; exit 6"]);
    daemon.kill();
    std::thread::sleep(Duration::from_millis(1500));
    let mut dies = nats.subscribe("hostctl.events.evhost.container.die");
    daemon.start_again();
    let event = dies.next(WAIT).expect("the missed die, published at start-up").json();
    assert_eq!((attr(&event, "name"), attr(&event, "exitCode")), ("whiledown", "6"));
    // Published before the socket served, so no reader of the socket saw it live; the
    // event log kept it.
    let out = daemon.ok(&["events", "--since", &before, "--until", &unix_now(), "--format", "json", "--filter", "container=whiledown"]);
    let replayed: Vec<Value> = out.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let actions: Vec<&str> = replayed.iter().map(action).collect();
    assert_eq!(actions, ["create", "start", "die"], "{out}");
    assert_eq!((attr(&replayed[2], "exitCode"), replayed[2]["seq"].as_u64()), ("6", event["seq"].as_u64()));
    daemon.ok(&["rm", "whiledown"]);
    daemon.stop();
}

/// Now, as Unix seconds with nanoseconds (what Docker's CLI sends).
fn unix_now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

#[test]
fn whoever_reads_die_and_inspects_at_once_sees_the_container_exited() {
    let mut daemon = with_busybox(Options::default());
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "event=die"]);
    for i in 0..5 {
        let name = format!("dieinspect{i}");
        daemon.ok(&["run", "-d", "--name", &name, "-v", &format!("dievol{i}:/data"), "busybox", "sh", "-c", "exit 7"]);
        let die = watch.event();
        assert_eq!(attr(&die, "name"), name);
        let state = daemon.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}", &name]);
        assert_eq!(state.trim(), "exited 7 0", "inspect right after {name}'s die");
    }
    drop(watch);
    daemon.stop();
}
