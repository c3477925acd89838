//! Events end to end: `hostctl events` against real daemons (image and volume events),
//! Docker's filters, `--until`, `--since` replaying the event log (across restarts and
//! crashes of the daemon, then live with nothing twice, within its size bound), readers
//! that go away or outlive the daemon, and the NATS sink against a real Debian
//! `nats-server`: subjects, a server that is down when the daemon starts, drops counted,
//! many hosts on one NATS.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hostctl_tests::daemon::{Options, TestDaemon, hostctl_bin};
use hostctl_tests::images::{ImageSpec, Layer, SaveLayout, docker_save};
use hostctl_tests::nats::{self, NatsServer};
use hostctl_tests::watch::{WAIT, Watch, wait_for_log};
use serde_json::Value;

/// A tiny rootfs tar (the events are the same as for a real one).
fn rootfs_tar(daemon: &TestDaemon) -> String {
    let path = daemon.dir().join("rootfs.tar");
    if !path.exists() {
        std::fs::write(&path, Layer::new().dir("etc").file("etc/hostname", "events\n").tar()).unwrap();
    }
    path.display().to_string()
}

fn import(daemon: &TestDaemon, tag: &str) {
    daemon.ok(&["import", &rootfs_tar(daemon), tag]);
}

fn load(daemon: &TestDaemon, tag: &str) {
    let spec = ImageSpec::new(tag).layer(Layer::new().file(&format!("{tag}.txt"), tag));
    let path = daemon.dir().join(format!("{}.tar", tag.replace([':', '/'], "_")));
    std::fs::write(&path, docker_save(&[spec], SaveLayout::Legacy)).unwrap();
    daemon.ok(&["load", "-i", path.to_str().unwrap()]);
}

fn pair(action: &str, name: &str) -> (String, String) {
    (action.to_owned(), name.to_owned())
}

fn nats_config(url: &str, extra: &str) -> Options {
    Options { config: format!("[events]\nhost = \"test.host-1\"\n\n[events.nats]\nurl = \"{url}\"\n{extra}"), ..Options::default() }
}

#[test]
fn live_events_arrive_in_order_numbered_by_one() {
    let daemon = TestDaemon::start();
    let mut watch = Watch::on(&daemon, &["--format", "json"]);
    import(&daemon, "first:1");
    import(&daemon, "second:1");
    let (a, b) = (watch.event(), watch.event());
    for (event, name) in [(&a, "first:1"), (&b, "second:1")] {
        assert_eq!((event["Type"].as_str(), event["Action"].as_str()), (Some("image"), Some("import")), "{event}");
        assert_eq!(event["Actor"]["Attributes"]["name"], name);
        assert!(event["Actor"]["ID"].as_str().unwrap().starts_with("sha256:"), "{event}");
        assert_eq!(event["scope"], "local");
        assert!(event["timeNano"].as_i64().unwrap() / 1_000_000_000 == event["time"].as_i64().unwrap());
    }
    assert_eq!(b["seq"].as_u64().unwrap(), a["seq"].as_u64().unwrap() + 1);
    let status = watch.interrupt();
    assert!(status.success(), "Ctrl-C ends hostctl events cleanly: {status}");
    wait_for_log(&daemon, "events: subscriber detached", 1);
}

#[test]
fn the_default_output_reads_as_dockers() {
    let daemon = TestDaemon::start();
    let watch = Watch::on(&daemon, &[]);
    import(&daemon, "plain:1");
    let line = watch.line();
    let fields: Vec<&str> = line.splitn(5, ' ').collect();
    assert_eq!(fields[0].len(), "2026-11-22T11:37:42.416847123Z".len(), "{line}");
    assert!(fields[0].ends_with('Z') && fields[0].as_bytes()[10] == b'T', "{line}");
    assert_eq!(&fields[1..3], ["image", "import"], "{line}");
    assert!(fields[3].starts_with("sha256:") && fields[3].len() == 71, "{line}");
    assert_eq!(fields[4], "(name=plain:1)", "{line}");
}

#[test]
fn type_and_event_filters_show_loads_only() {
    let daemon = TestDaemon::start();
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "type=image", "--filter", "event=load"]);
    import(&daemon, "imported:1");
    load(&daemon, "loaded:1");
    // Events come in order: the import, published first, was filtered out.
    assert_eq!(watch.actions(1), [pair("load", "loaded:1")]);
}

#[test]
fn the_same_key_twice_is_or_different_keys_and() {
    let daemon = TestDaemon::start();
    let either = Watch::on(&daemon, &["--format", "json", "--filter", "event=import", "--filter", "event=load"]);
    let both = Watch::on(&daemon, &["--format", "json", "--filter", "event=import", "--filter", "image=wanted"]);
    import(&daemon, "other:1");
    load(&daemon, "wanted:2");
    import(&daemon, "wanted:3");
    assert_eq!(either.actions(3), [pair("import", "other:1"), pair("load", "wanted:2"), pair("import", "wanted:3")]);
    assert_eq!(both.actions(1), [pair("import", "wanted:3")], "an import of another image and a load of this one do not match both keys");
}

#[test]
fn image_filters_match_the_name_with_or_without_its_tag() {
    let daemon = TestDaemon::start();
    let any_tag = Watch::on(&daemon, &["--format", "json", "--filter", "image=alpha"]);
    let one_tag = Watch::on(&daemon, &["--format", "json", "--filter", "image=alpha:2"]);
    import(&daemon, "beta:1");
    import(&daemon, "alpha:1");
    import(&daemon, "alpha:2");
    assert_eq!(any_tag.actions(2), [pair("import", "alpha:1"), pair("import", "alpha:2")]);
    assert_eq!(one_tag.actions(1), [pair("import", "alpha:2")]);
}

#[test]
fn an_unknown_filter_key_is_refused() {
    let daemon = TestDaemon::start();
    let (code, err) = daemon.fails(&["events", "--filter", "colour=red"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid filter \"colour\"") && err.contains("container, event, image"), "{err}");
    let (code, err) = daemon.fails(&["events", "--filter", "type"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("expected name=value"), "{err}");
}

#[test]
fn until_in_the_past_ends_at_once_and_a_future_one_when_reached() {
    let daemon = TestDaemon::start();
    for past in ["1700000000", "2023-11-14T22:13:20Z", "10m"] {
        let started = Instant::now();
        let out = daemon.ok(&["events", "--until", past]);
        assert!(out.is_empty(), "--until {past}: {out}");
        assert!(started.elapsed() < Duration::from_secs(5), "--until {past} took {:?}", started.elapsed());
    }
    let soon = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() + 2.0;
    let started = Instant::now();
    daemon.ok(&["events", "--until", &format!("{soon:.3}")]);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1500) && took < Duration::from_secs(10), "--until now+2s ended after {took:?}");
}

/// Now, as Unix seconds with nanoseconds (what Docker's CLI sends).
fn now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// Long before any test ran.
const LONG_AGO: &str = "2000-01-01T00:00:00Z";

/// `hostctl events --format json <args>` to its end (give it an `--until`).
fn replayed(daemon: &TestDaemon, args: &[&str]) -> Vec<Value> {
    let out = daemon.ok(&[&["events", "--format", "json"], args].concat());
    out.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not an event: {line:?}: {e}"))).collect()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

/// Whether `seqs` go up by one from `first`.
fn numbered_from(seqs: &[u64], first: u64) -> bool {
    seqs.iter().enumerate().all(|(i, seq)| *seq == first + i as u64)
}

fn name(e: &Value) -> &str {
    e["Actor"]["Attributes"]["name"].as_str().unwrap_or("")
}

#[test]
fn since_replays_the_logged_events_of_its_window_through_the_filters() {
    let daemon = TestDaemon::start();
    import(&daemon, "before:1");
    std::thread::sleep(Duration::from_millis(50));
    let from = now();
    import(&daemon, "inside:1");
    load(&daemon, "inside:2");
    let to = now();
    std::thread::sleep(Duration::from_millis(50));
    import(&daemon, "after:1");
    let window = replayed(&daemon, &["--since", &from, "--until", &to]);
    let shown: Vec<(&str, &str)> = window.iter().map(|e| (e["Action"].as_str().unwrap(), name(e))).collect();
    assert_eq!(shown, [("import", "inside:1"), ("load", "inside:2")]);
    let loads = replayed(&daemon, &["--since", "10m", "--until", &to, "--filter", "event=load"]);
    assert_eq!(loads.iter().map(name).collect::<Vec<_>>(), ["inside:2"], "a Go duration means that long ago; filters apply to the replay");
    // Everything since the daemon's first start: its default network, then the images.
    let all = replayed(&daemon, &["--since", LONG_AGO, "--until", &now()]);
    assert_eq!(all.iter().map(name).collect::<Vec<_>>(), ["bridge", "before:1", "inside:1", "inside:2", "after:1"]);
    assert!(numbered_from(&seqs(&all), 1), "{:?}", seqs(&all));
}

#[test]
fn since_after_until_is_refused() {
    let daemon = TestDaemon::start();
    let (code, err) = daemon.fails(&["events", "--since", "1700000100", "--until", "1700000000"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--since 2023-11-14T22:15:00.000000000Z is after --until 2023-11-14T22:13:20.000000000Z"), "{err}");
}

#[test]
fn since_then_live_shows_every_event_once_while_events_keep_coming() {
    let daemon = TestDaemon::start();
    let host = daemon.host();
    let writer = std::thread::spawn(move || {
        for i in 0..15 {
            for verb in ["create", "rm"] {
                let status = Command::new(hostctl_bin()).args(["-H", &host, "volume", verb, &format!("busy{i}")]).stdout(Stdio::null()).status().unwrap();
                assert!(status.success(), "volume {verb} busy{i}: {status}");
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    // Subscribed while the writer publishes: the replay must end where live begins.
    let watch = Watch::on(&daemon, &["--format", "json", "--since", LONG_AGO]);
    writer.join().unwrap();
    import(&daemon, "last:1");
    let mut seen = Vec::new();
    while seen.last().is_none_or(|e: &Value| name(e) != "last:1") {
        seen.push(watch.event());
    }
    let destroyed = seen.iter().filter(|e| e["Action"] == "destroy").count();
    assert_eq!(destroyed, 15, "every volume's destroy, replayed or live");
    assert!(numbered_from(&seqs(&seen), 1), "no event twice and none missing: {:?}", seqs(&seen));
}

#[test]
fn seq_goes_on_across_a_restart_and_a_crash_of_the_daemon() {
    let mut daemon = TestDaemon::start();
    import(&daemon, "first-run:1");
    daemon.restart();
    let watch = Watch::on(&daemon, &["--format", "json"]);
    import(&daemon, "second-run:1");
    let live = watch.event();
    drop(watch);
    daemon.kill();
    daemon.start_again();
    import(&daemon, "after-the-crash:1");
    let all = replayed(&daemon, &["--since", LONG_AGO, "--until", &now(), "--filter", "type=image"]);
    assert_eq!(all.iter().map(name).collect::<Vec<_>>(), ["first-run:1", "second-run:1", "after-the-crash:1"]);
    let numbers = seqs(&all);
    assert_eq!(live["seq"].as_u64(), Some(numbers[1]), "the live event and the logged one are the same");
    assert!(numbers.windows(2).all(|w| w[1] > w[0]), "seq grows across restarts: {numbers:?}");
    let every = replayed(&daemon, &["--since", LONG_AGO, "--until", &now()]);
    assert!(numbered_from(&seqs(&every), 1), "and has no hole: {:?}", seqs(&every));
    daemon.stop();
}

#[test]
fn the_event_log_stays_within_its_configured_size() {
    let max = 16 * 1024;
    let mut daemon = TestDaemon::start_with(Options { config: "[events]\nlog-max-size = \"16k\"\n".into(), ..Options::default() });
    for i in 0..60 {
        daemon.ok(&["volume", "create", &format!("bounded{i}")]);
        daemon.ok(&["volume", "rm", &format!("bounded{i}")]);
    }
    let dir = daemon.data_root().join("events");
    let sizes: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .map(|entry| (entry.file_name().to_string_lossy().into_owned(), entry.metadata().unwrap().len()))
        .collect();
    assert!(sizes.iter().any(|(file, _)| file == "events.log.1"), "the log rotated: {sizes:?}");
    assert!(sizes.iter().map(|(_, size)| size).sum::<u64>() <= max, "{sizes:?}");
    let kept = replayed(&daemon, &["--since", LONG_AGO, "--until", &now()]);
    let numbers = seqs(&kept);
    assert!(numbers[0] > 1, "the oldest events were let go");
    assert!(numbered_from(&numbers, numbers[0]), "what is kept has no hole: {numbers:?}");
    let newest = kept.last().unwrap();
    assert_eq!((newest["Action"].as_str(), newest["Actor"]["ID"].as_str()), (Some("destroy"), Some("bounded59")));
    daemon.restart();
    daemon.ok(&["volume", "create", "bounded-after"]);
    let last = replayed(&daemon, &["--since", LONG_AGO, "--until", &now()]).pop().unwrap();
    assert_eq!(last["seq"].as_u64(), Some(numbers.last().unwrap() + 1), "numbered on from the rotated log");
    daemon.ok(&["volume", "rm", "bounded-after"]);
    daemon.stop();
}

#[test]
fn a_reader_that_goes_away_is_forgotten() {
    let daemon = TestDaemon::start();
    let mut watch = Watch::on(&daemon, &[]);
    watch.kill();
    watch.wait();
    wait_for_log(&daemon, "events: subscriber detached", 1);
    import(&daemon, "after:1");
    assert!(daemon.ok(&["images"]).contains("after"), "the daemon serves on");
}

#[test]
fn stopping_the_daemon_ends_live_streams() {
    let mut daemon = TestDaemon::start();
    let mut watch = Watch::on(&daemon, &["--format", "json"]);
    let started = Instant::now();
    daemon.stop();
    assert!(started.elapsed() < Duration::from_secs(10), "an open stream held the shutdown for {:?}", started.elapsed());
    assert!(watch.wait().success(), "hostctl events ends cleanly when the daemon stops");
}

#[test]
fn events_are_published_on_nats_by_host_type_and_action() {
    let server = NatsServer::start();
    let mut subscription = server.subscribe("hostctl.events.>");
    let daemon = TestDaemon::start_with(nats_config(&server.url(), ""));
    // The daemon's first event: its default network, created at start.
    let first = subscription.next(WAIT).unwrap_or_else(|| panic!("nothing on NATS within {WAIT:?}\n{}", daemon.log()));
    assert_eq!(first.subject, "hostctl.events.test_host-1.network.create", "dots in the host name become _");
    assert_eq!(first.json()["Actor"]["Attributes"]["name"], "bridge");
    import(&daemon, "nats:1");
    let message = subscription.next(WAIT).unwrap_or_else(|| panic!("nothing more on NATS within {WAIT:?}\n{}", daemon.log()));
    assert_eq!(message.subject, "hostctl.events.test_host-1.image.import");
    assert_eq!(message.headers.get("Hostctl-Host").map(String::as_str), Some("test.host-1"));
    let event = message.json();
    assert_eq!((event["Type"].as_str(), event["Action"].as_str()), (Some("image"), Some("import")));
    assert_eq!(event["Actor"]["Attributes"]["name"], "nats:1");
    assert_eq!(event["seq"], 2);
}

#[test]
fn a_daemon_whose_nats_is_down_serves_and_publishes_once_it_is_up() {
    let port = nats::free_port();
    let daemon = TestDaemon::start_with(nats_config(&nats::url_for(port), ""));
    import(&daemon, "while-down:1");
    assert!(daemon.ok(&["images"]).contains("while-down"), "the daemon serves without its NATS");
    let server = NatsServer::start_on(port);
    let mut subscription = server.subscribe("hostctl.events.>");
    let started = Instant::now();
    import(&daemon, "once-up:1");
    let arrived = subscription.until(Duration::from_secs(20), |m| m.json()["Actor"]["Attributes"]["name"] == "once-up:1");
    assert!(arrived.is_some(), "an event published after NATS came up never arrived\n{}", daemon.log());
    eprintln!("NATS came up; the next event arrived {:?} later", started.elapsed());
}

#[test]
fn events_that_find_the_nats_buffer_full_are_counted_and_logged() {
    let port = nats::free_port();
    let daemon = TestDaemon::start_with(nats_config(&nats::url_for(port), "buffer = 1\n"));
    for tag in ["dropped:1", "dropped:2", "dropped:3"] {
        import(&daemon, tag);
    }
    wait_for_log(&daemon, "events: dropping events: NATS at", 1);
    let server = NatsServer::start_on(port);
    let mut subscription = server.subscribe("hostctl.events.>");
    wait_for_log(&daemon, "events: connected to NATS at", 1);
    import(&daemon, "after:1");
    assert!(subscription.until(Duration::from_secs(20), |m| m.json()["Actor"]["Attributes"]["name"] == "after:1").is_some(), "{}", daemon.log());
    // The buffer held the default network's `create`; the three imports were dropped.
    wait_for_log(&daemon, "takes events again; 3 could not be published to it", 1);
}

#[test]
fn hostctl_events_nats_shows_the_events_of_two_hosts() {
    let server = NatsServer::start();
    let config = |host: &str| Options {
        config: format!("[events]\nhost = \"{host}\"\n[events.nats]\nurl = \"{}\"\n", server.url()),
        ..Options::default()
    };
    let (alpha, beta) = (TestDaemon::start_with(config("alpha")), TestDaemon::start_with(config("beta")));
    let watch = Watch::on_nats(&server, &["--filter", "type=image"]);
    let json = Watch::on_nats(&server, &["--format", "json", "--filter", "event=load"]);
    import(&alpha, "from-alpha:1");
    import(&beta, "from-beta:1");
    load(&beta, "loaded-on-beta:1");
    let mut lines = vec![watch.line(), watch.line(), watch.line()];
    lines.sort();
    let shown: Vec<String> = lines.iter().map(|l| l.split_whitespace().skip(1).take(3).collect::<Vec<_>>().join(" ")).collect();
    assert!(shown.contains(&"alpha image import".to_owned()), "{lines:?}");
    assert!(shown.contains(&"beta image import".to_owned()), "{lines:?}");
    assert!(shown.contains(&"beta image load".to_owned()), "{lines:?}");
    assert!(lines.iter().any(|l| l.ends_with("(name=from-alpha:1)")), "{lines:?}");
    let loaded = json.event();
    assert_eq!((loaded["host"].as_str(), loaded["Action"].as_str()), (Some("beta"), Some("load")), "{loaded}");
    assert_eq!(loaded["Actor"]["Attributes"]["name"], "loaded-on-beta:1");
}
