//! Networks end to end, against the real kernel, with the bundled bridge and macvlan
//! drivers: addresses and routes read inside containers, traffic between containers of
//! one network and none between two networks, published ports reached over loopback,
//! `none` and `host`, macvlan on a veth parent whose peer (in a test namespace) reaches
//! the container, refusals (a missing parent, `rm` in use, overlapping subnets, link
//! names outside a driver's grant), a failure half-way through connecting a container
//! undone to the last link, and 100 `run --rm` cycles that leave nothing behind.
//!
//! Subnets are 10.2xx.N.0/24, one per test; links a test makes itself are `hctest*`.
//! Traffic goes only to the addresses of these tests' containers and namespaces.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use hostctl_tests::daemon::TestDaemon;
use hostctl_tests::kernel::{delete_link, links, mounts_under};
use hostctl_tests::watch::Watch;
use serde_json::Value;

fn first_doc(out: &str) -> Value {
    let docs: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("inspect prints JSON ({e}): {out}"));
    docs[0].clone()
}

fn network(daemon: &TestDaemon, name: &str) -> Value {
    first_doc(&daemon.ok(&["network", "inspect", name]))
}

fn container(daemon: &TestDaemon, name: &str) -> Value {
    first_doc(&daemon.ok(&["inspect", name]))
}

/// The container's address on `network` (no prefix length), as a script asks for it.
fn address_of(daemon: &TestDaemon, name: &str, network: &str) -> String {
    let template = format!("{{{{index .NetworkSettings.Networks \"{network}\" \"IPAddress\"}}}}");
    let address = daemon.ok(&["inspect", "-f", &template, name]).trim().to_owned();
    assert!(address.parse::<std::net::Ipv4Addr>().is_ok(), "{name} has no address on {network}: {address:?}");
    address
}

/// The links enslaved to network `name`'s bridge (the host ends of its containers'
/// veths). Counted per bridge, as tests beside this one make and delete links too.
fn bridge_ports(daemon: &TestDaemon, name: &str) -> Vec<String> {
    let doc = network(daemon, name);
    let bridge = doc["Options"]["com.docker.network.bridge.name"].as_str().unwrap_or_else(|| panic!("{doc}"));
    let mut ports: Vec<String> = std::fs::read_dir(format!("/sys/class/net/{bridge}/brif"))
        .unwrap_or_else(|e| panic!("{bridge}: {e}"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ports.sort();
    ports
}

/// Host links named like the drivers' per-endpoint links (veth ends, macvlans) that
/// are not enslaved anywhere: what a half-undone join would leave. A link is counted
/// only when it is still loose 200 ms later: a join running in a test beside this one
/// has its veth loose for the moment between creating it and enslaving it.
fn loose_endpoint_links() -> Vec<String> {
    let loose = || -> Vec<String> {
        links()
            .into_iter()
            .filter(|l| ["hcv", "hcp", "hcm"].iter().any(|p| l.starts_with(p)))
            .filter(|l| !std::path::Path::new(&format!("/sys/class/net/{l}/master")).exists())
            .collect()
    };
    let first = loose();
    if first.is_empty() {
        return first;
    }
    std::thread::sleep(Duration::from_millis(200));
    let again = loose();
    first.into_iter().filter(|l| again.contains(l)).collect()
}

/// A web server on `network` serving "hello from NAME".
fn web(daemon: &TestDaemon, name: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    let script = format!("mkdir -p /www && echo hello from {name} > /www/index.html && exec httpd -f -p 80 -h /www");
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    daemon.ok(&args);
}

fn run_sh(daemon: &TestDaemon, network: &str, script: &str) -> std::process::Output {
    daemon.hostctl(&["run", "--rm", "--network", network, "busybox", "sh", "-c", script])
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_default_bridge_gives_an_address_a_route_and_a_hosts_entry() {
    let mut daemon = TestDaemon::with_busybox();
    let bridge = network(&daemon, "bridge");
    let subnet = bridge["IPAM"]["Config"][0]["Subnet"].as_str().unwrap().to_owned();
    let gateway = bridge["IPAM"]["Config"][0]["Gateway"].as_str().unwrap().to_owned();
    let device = daemon.default_bridge().unwrap().to_owned();
    assert_eq!(bridge["Options"]["com.docker.network.bridge.name"], device.as_str(), "{bridge}");
    assert!(links().contains(&device), "the default network's bridge {device} exists");
    let out = daemon.hostctl(&["run", "--rm", "--hostname", "box", "busybox", "sh", "-c", "ip -4 -o addr show eth0; ip route; ls /sys/class/net; cat /etc/hosts"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    let address = text.split_whitespace().skip_while(|w| *w != "inet").nth(1).unwrap_or_else(|| panic!("no inet line: {text}"));
    let prefix = subnet.rsplit_once('/').unwrap().1;
    assert!(address.ends_with(&format!("/{prefix}")), "{address} in {subnet}");
    let net_base: Vec<&str> = subnet.split('.').take(2).collect();
    assert!(address.starts_with(&format!("{}.{}.", net_base[0], net_base[1])), "{address} in {subnet}");
    assert!(text.contains(&format!("default via {gateway} dev eth0")), "{text}");
    let links_inside: Vec<&str> = text.lines().filter(|l| ["eth0", "lo"].contains(l)).collect();
    assert_eq!(links_inside, ["eth0", "lo"], "{text}");
    let ip = address.split('/').next().unwrap();
    assert!(text.contains(&format!("{ip}\tbox")), "the hostname on its address in /etc/hosts: {text}");
    assert!(!text.contains("127.0.1.1"), "{text}");
    daemon.stop();
}

#[test]
fn containers_on_one_network_talk_and_two_networks_are_isolated() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["network", "create", "--subnet", "10.211.1.0/24", "front"]);
    daemon.ok(&["network", "create", "-d", "bridge", "--subnet", "10.211.2.0/24", "--gateway", "10.211.2.254", "back"]);
    let front = network(&daemon, "front");
    assert_eq!(front["Driver"], "bridge");
    assert_eq!(front["IPAM"]["Config"][0]["Subnet"], "10.211.1.0/24");
    assert_eq!(front["IPAM"]["Config"][0]["Gateway"], "10.211.1.1");
    assert_eq!(network(&daemon, "back")["IPAM"]["Config"][0]["Gateway"], "10.211.2.254");
    let ls = daemon.ok(&["network", "ls"]);
    for name in ["bridge", "host", "none", "front", "back"] {
        assert!(ls.lines().any(|l| l.split_whitespace().nth(1) == Some(name)), "{name} in network ls:\n{ls}");
    }

    web(&daemon, "web", &["--network", "front"]);
    let ip = address_of(&daemon, "web", "front");
    assert!(ip.starts_with("10.211.1."), "{ip}");
    let peer = run_sh(&daemon, "front", &format!("ip route; wget -q -O - http://{ip}/"));
    assert!(peer.status.success(), "{}{}", stdout(&peer), stderr(&peer));
    assert!(stdout(&peer).contains("default via 10.211.1.1 dev eth0"), "{}", stdout(&peer));
    assert!(stdout(&peer).ends_with("hello from web\n"), "{}", stdout(&peer));

    let other = run_sh(&daemon, "back", &format!("ip -4 -o addr show eth0; ip route; ping -c 1 -W 1 {ip} && echo reached"));
    let text = stdout(&other);
    assert!(text.contains("inet 10.211.2.") && text.contains("default via 10.211.2.254"), "{text}");
    assert!(!text.contains("reached"), "a container on another network reached {ip}: {text}");
    assert_eq!(other.status.code(), Some(1), "ping failed: {text}{}", stderr(&other));

    // Isolated by the host itself, not only by this machine's ip_forward = 0: neither
    // bridge forwards what arrives on it.
    for name in ["front", "back"] {
        let bridge = network(&daemon, name)["Options"]["com.docker.network.bridge.name"].as_str().unwrap().to_owned();
        let forwarding = std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{bridge}/forwarding")).unwrap();
        assert_eq!(forwarding.trim(), "0", "{name}'s bridge {bridge}");
    }

    daemon.ok(&["rm", "-f", "web"]);
    daemon.ok(&["network", "rm", "front", "back"]);
    daemon.stop();
}

#[test]
fn published_ports_reach_the_container_over_loopback_and_ps_shows_them() {
    let mut daemon = TestDaemon::with_busybox();
    let fixed = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    web(&daemon, "pub", &["-p", &format!("127.0.0.1:{fixed}:80"), "-p", "80"]);
    let ps = daemon.ok(&["ps", "--format", "json"]);
    let row: Value = serde_json::from_str(ps.lines().next().unwrap()).unwrap();
    let ports = row["Ports"].as_str().unwrap().to_owned();
    assert!(ports.contains(&format!("127.0.0.1:{fixed}->80/tcp")), "{ports}");
    let picked: u16 = ports
        .split(", ")
        .find_map(|p| p.strip_prefix("0.0.0.0:")?.strip_suffix("->80/tcp")?.parse().ok())
        .unwrap_or_else(|| panic!("-p 80 got a host port: {ports}"));
    assert!(daemon.ok(&["ps"]).contains(&format!("127.0.0.1:{fixed}->80/tcp")));
    for port in [fixed, picked] {
        let mut body = String::new();
        for attempt in 0.. {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            body.clear();
            let _ = stream.read_to_string(&mut body);
            if body.contains("hello from pub") || attempt == 50 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50)); // httpd starting
        }
        assert!(body.contains("hello from pub"), "127.0.0.1:{port} answered {body:?}");
    }
    daemon.ok(&["rm", "-f", "pub"]);
    assert!(TcpStream::connect(("127.0.0.1", fixed)).is_err(), "the port is withdrawn with the container");
    daemon.stop();
}

#[test]
fn none_has_only_lo_and_host_shares_the_hosts_links() {
    let mut daemon = TestDaemon::with_busybox();
    let none = run_sh(&daemon, "none", "ls /sys/class/net");
    assert_eq!(stdout(&none), "lo\n", "{}", stderr(&none));
    let host = run_sh(&daemon, "host", "ls /sys/class/net");
    let inside: Vec<String> = stdout(&host).lines().map(str::to_owned).collect();
    let outside = links();
    assert!(inside.iter().all(|l| outside.contains(l)) && inside.len() > 1, "{inside:?} vs {outside:?}");
    daemon.stop();
}

#[test]
fn a_network_in_use_and_the_predefined_ones_are_not_removed_and_subnets_do_not_overlap() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["network", "create", "--subnet", "10.212.0.0/16", "busy"]);
    let (_, err) = daemon.fails(&["network", "create", "--subnet", "10.212.3.0/24", "inner"]);
    assert!(err.contains("overlaps network busy"), "{err}");
    let (_, err) = daemon.fails(&["network", "create", "busy"]);
    assert!(err.contains("already exists"), "{err}");
    daemon.ok(&["run", "-d", "--name", "user", "--network", "busy", "busybox", "sleep", "100"]);
    let on_it: Value = serde_json::from_str(&daemon.ok(&["network", "inspect", "-f", "{{json .Containers}}", "busy"])).unwrap();
    let (_, user) = on_it.as_object().unwrap().iter().next().expect("the container is on the network");
    assert_eq!(user["Name"], "user", "{on_it}");
    assert!(user["IPv4Address"].as_str().unwrap().starts_with("10.212.") && user["IPv4Address"].as_str().unwrap().ends_with("/16"), "{on_it}");
    assert_eq!(user["MacAddress"].as_str().unwrap().len(), 17, "{on_it}");
    let missing = daemon.hostctl(&["network", "inspect", "nope"]);
    assert_eq!((missing.status.code(), stdout(&missing).trim()), (Some(1), "[]"), "as Docker's");
    assert!(stderr(&missing).contains("No such network: nope"), "{}", stderr(&missing));
    let (_, err) = daemon.fails(&["network", "rm", "busy"]);
    assert!(err.contains("in use by container") && err.contains("user"), "{err}");
    for predefined in ["bridge", "host", "none"] {
        let (_, err) = daemon.fails(&["network", "rm", predefined]);
        assert!(err.contains("pre-defined network"), "{err}");
    }
    // Stopped, it holds no endpoint: the network may go (as Docker's).
    daemon.ok(&["stop", "-t", "0", "user"]);
    let bridge = network(&daemon, "busy")["Options"]["com.docker.network.bridge.name"].as_str().unwrap().to_owned();
    assert!(links().contains(&bridge));
    daemon.ok(&["network", "rm", "busy"]);
    assert!(!links().contains(&bridge), "network rm deleted {bridge}");
    let (code, err) = daemon.fails(&["start", "user"]);
    assert_ne!(code, 0);
    assert!(err.contains("busy") && err.contains("not found"), "{err}");
    daemon.ok(&["rm", "user"]);
    daemon.stop();
}

/// A veth pair `hctest<tag>a`/`hctest<tag>b` with `b` in network namespace
/// `hctest<tag>` at `peer_cidr`; removed on drop.
struct ParentLink {
    parent: String,
    netns: String,
}

impl ParentLink {
    fn new(tag: &str, peer_cidr: &str) -> ParentLink {
        let this = ParentLink { parent: format!("hctest{tag}a"), netns: format!("hctest{tag}") };
        let peer = format!("hctest{tag}b");
        for args in [
            vec!["netns", "add", &this.netns],
            vec!["link", "add", &this.parent, "type", "veth", "peer", "name", &peer],
            vec!["link", "set", &peer, "netns", &this.netns],
            vec!["link", "set", &this.parent, "up"],
            vec!["-n", &this.netns, "link", "set", &peer, "up"],
            vec!["-n", &this.netns, "addr", "add", peer_cidr, "dev", &peer],
        ] {
            let status = Command::new("ip").args(&args).status().unwrap();
            assert!(status.success(), "ip {args:?}");
        }
        this
    }

    fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip").args(["netns", "exec", &self.netns]).args(args).output().unwrap()
    }
}

impl Drop for ParentLink {
    fn drop(&mut self) {
        delete_link(&self.parent);
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

#[test]
fn a_macvlan_container_is_reached_from_its_parents_peer() {
    let mut daemon = TestDaemon::with_busybox();
    let tag = format!("{:05}", std::process::id() % 100_000);
    let parent = ParentLink::new(&tag, "10.213.0.100/24");
    let (_, err) = daemon.fails(&["network", "create", "-d", "macvlan", "-o", "parent=hctestnone0", "--subnet", "10.213.9.0/24", "lost"]);
    assert!(err.contains("hctestnone0") && err.contains("macvlan"), "a missing parent is named, with the driver: {err}");
    assert!(!daemon.ok(&["network", "ls"]).contains("lost"));
    daemon.ok(&["network", "create", "-d", "macvlan", "-o", &format!("parent={}", parent.parent), "-o", "macvlan_mode=bridge", "--subnet", "10.213.0.0/24", "mv"]);
    let doc = network(&daemon, "mv");
    assert_eq!(doc["Driver"], "macvlan");
    assert_eq!(doc["Options"]["parent"], parent.parent.as_str(), "{doc}");
    daemon.ok(&["run", "-d", "--name", "mvc", "--network", "mv", "busybox", "sleep", "100"]);
    assert!(!links().iter().any(|l| l.starts_with("hcm")), "the macvlan lives in the container, not on the host");
    let ip = address_of(&daemon, "mvc", "mv");
    assert!(ip.starts_with("10.213.0."), "{ip}");
    let ping = parent.exec(&["busybox", "ping", "-c", "1", "-W", "2", &ip]);
    assert!(ping.status.success(), "the parent's peer reaches {ip}: {}{}", stdout(&ping), stderr(&ping));
    daemon.ok(&["rm", "-f", "mvc"]);
    daemon.ok(&["network", "rm", "mv"]);
    daemon.stop();
}

#[test]
fn a_failure_half_way_through_connecting_leaves_nothing_and_names_the_driver() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["network", "create", "--subnet", "10.214.0.0/24", "half"]);
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let netns_before = std::fs::read_dir(daemon.data_root().join("netns")).map_or(0, |d| d.count());
    // The join plan runs (veth, address, route), then publishing the port fails.
    let out = daemon.hostctl(&["run", "-d", "--name", "half", "--network", "half", "-p", &format!("{port}:80"), "busybox", "sleep", "100"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("\"bridge\"") && err.contains(&port.to_string()), "the error names the driver and the port: {err}");
    assert_eq!(bridge_ports(&daemon, "half"), Vec::<String>::new(), "no veth left on the bridge");
    assert_eq!(loose_endpoint_links(), Vec::<String>::new(), "no veth left loose");
    assert_eq!(std::fs::read_dir(daemon.data_root().join("netns")).map_or(0, |d| d.count()), netns_before, "no netns left");
    assert_eq!(container(&daemon, "half")["State"]["Status"], "created", "it did not start");
    drop(taken);
    // Its address was given back: the next container gets the first one.
    daemon.ok(&["rm", "half"]);
    daemon.ok(&["run", "-d", "--name", "next", "--network", "half", "busybox", "sleep", "100"]);
    assert_eq!(address_of(&daemon, "next", "half"), "10.214.0.2");
    daemon.ok(&["rm", "-f", "next"]);
    daemon.ok(&["network", "rm", "half"]);
    daemon.stop();
}

#[test]
fn a_driver_asking_for_a_link_outside_its_grant_is_refused() {
    let mut daemon = TestDaemon::with_busybox();
    // bridge, installed again as `narrow` and granted only links named hc-zz*: its own
    // names (hc-br-…, hcv…) are outside.
    let (from, to) = (daemon.plugin_dir().join("bridge"), daemon.plugin_dir().join("narrow"));
    std::fs::create_dir_all(&to).unwrap();
    std::fs::copy(from.join("bridge.wasm"), to.join("narrow.wasm")).unwrap();
    let manifest: String = std::fs::read_to_string(from.join("plugin.toml"))
        .unwrap()
        .lines()
        .map(|line| match line {
            l if l.starts_with("name =") => "name = \"narrow\"".to_owned(),
            l if l.starts_with("links =") => "links = [\"hc-zz*\"]".to_owned(),
            l => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(to.join("plugin.toml"), manifest).unwrap();
    daemon.restart();
    let (_, err) = daemon.fails(&["network", "create", "-d", "narrow", "--subnet", "10.215.0.0/24", "nope"]);
    assert!(err.contains("\"narrow\"") && err.contains("hc-br-") && err.contains("not granted"), "{err}");
    // Nothing was made: no link holds the network's gateway. (Counting the host's links
    // would race with the tests beside this one.)
    let addresses = Command::new("ip").args(["-o", "-4", "addr", "show", "to", "10.215.0.0/24"]).output().unwrap();
    assert!(addresses.status.success() && addresses.stdout.is_empty(), "{}", String::from_utf8_lossy(&addresses.stdout));
    assert!(!daemon.ok(&["network", "ls"]).contains("nope"));
    // The daemon serves on, and the real bridge driver still works.
    daemon.ok(&["network", "create", "--subnet", "10.215.0.0/24", "fine"]);
    daemon.ok(&["network", "rm", "fine"]);
    daemon.stop();
}

#[test]
fn network_events_are_published_and_filtered_by_network() {
    let mut daemon = TestDaemon::with_busybox();
    let watch = Watch::on(&daemon, &["--format", "json", "--filter", "network=evnet"]);
    daemon.ok(&["network", "create", "--subnet", "10.216.0.0/24", "evnet"]);
    daemon.ok(&["network", "create", "--subnet", "10.216.1.0/24", "quiet"]);
    daemon.ok(&["run", "--rm", "--network", "evnet", "busybox", "true"]);
    daemon.ok(&["run", "--rm", "--network", "quiet", "busybox", "true"]);
    daemon.ok(&["network", "rm", "evnet", "quiet"]);
    let events: Vec<Value> = (0..4).map(|_| watch.event()).collect();
    let actions: Vec<(&str, &str)> = events.iter().map(|e| (e["Type"].as_str().unwrap(), e["Action"].as_str().unwrap())).collect();
    assert_eq!(actions, [("network", "create"), ("network", "connect"), ("network", "disconnect"), ("network", "destroy")]);
    assert!(events.iter().all(|e| e["Actor"]["Attributes"]["name"] == "evnet"), "{events:?}");
    assert_eq!(events[1]["Actor"]["Attributes"]["type"], "bridge");
    assert!(events[1]["Actor"]["Attributes"]["container"].as_str().is_some_and(|c| c.len() == 64));
    assert!(watch.lines.recv_timeout(Duration::from_millis(500)).is_err(), "nothing about network quiet");
    drop(watch);
    daemon.stop();
}

#[test]
fn a_toml_spec_sets_network_ports_volumes_and_restart() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["network", "create", "--subnet", "10.217.0.0/24", "specnet"]);
    let spec = daemon.dir().join("web.toml");
    std::fs::write(
        &spec,
        "name = \"specweb\"\nimage = \"busybox\"\ndetach = true\nnetwork = \"specnet\"\nrestart = \"on-failure:2\"\n\
         volumes = [\"specdata:/data\"]\ncommand = \"echo kept > /data/f; sleep 100\"\n",
    )
    .unwrap();
    daemon.ok(&["run", "-f", spec.to_str().unwrap()]);
    let doc = container(&daemon, "specweb");
    assert_eq!(doc["HostConfig"]["NetworkMode"], "specnet");
    assert_eq!(doc["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(doc["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
    assert!(address_of(&daemon, "specweb", "specnet").starts_with("10.217.0."));
    assert_eq!(doc["Mounts"][0]["Name"], "specdata", "{doc}");
    daemon.ok(&["rm", "-f", "specweb"]);
    assert_eq!(daemon.ok(&["run", "--rm", "-v", "specdata:/d", "busybox", "cat", "/d/f"]), "kept\n");
    daemon.ok(&["volume", "rm", "specdata"]);
    daemon.ok(&["network", "rm", "specnet"]);
    daemon.stop();
}

/// Allocated addresses: the bridge driver's endpoint keys in the daemon's state store
/// (read after the daemon stopped).
fn endpoint_keys(daemon: &TestDaemon) -> usize {
    let state = hostctl_daemon::state::StateStore::open(&daemon.data_root().join("state.db")).unwrap();
    use hostctl_plugin_runtime::KvBackend;
    state.keys("bridge", "endpoint/").unwrap().len()
}

#[test]
fn a_hundred_runs_on_a_user_network_with_a_volume_leave_nothing_behind() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["network", "create", "--subnet", "10.218.0.0/24", "cycle"]);
    daemon.ok(&["volume", "create", "cycledata"]);
    let count = |daemon: &TestDaemon| {
        let cgroups = hostctl_tests::kernel::cgroups_under(daemon.cgroup_parent()).len();
        let netns = std::fs::read_dir(daemon.data_root().join("netns")).map_or(0, |d| d.count());
        (bridge_ports(daemon, "cycle").len(), mounts_under(daemon.dir()).len(), cgroups, netns)
    };
    // One run first: whatever is made once (the network namespace dir) exists.
    daemon.ok(&["run", "--rm", "--network", "cycle", "-v", "cycledata:/data", "busybox", "true"]);
    let before = count(&daemon);
    for i in 0..100 {
        let script = format!("echo {i} >> /data/runs; ip -4 -o addr show eth0 | grep -q 10.218.0.");
        let out = daemon.hostctl(&["run", "--rm", "--network", "cycle", "-v", "cycledata:/data", "busybox", "sh", "-c", &script]);
        assert!(out.status.success(), "run {i}: {}", stderr(&out));
    }
    // The last containers' veths go with their namespaces, which the kernel destroys in
    // its cleanup worker a moment after `run --rm` returns.
    let settled = std::time::Instant::now();
    while count(&daemon) != before && settled.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(count(&daemon), before, "(veths on the bridge, mounts, cgroups, netns) after 100 runs");
    assert_eq!(loose_endpoint_links(), Vec::<String>::new());
    let runs = daemon.ok(&["run", "--rm", "-v", "cycledata:/data", "busybox", "wc", "-l", "/data/runs"]);
    assert_eq!(runs.split_whitespace().next(), Some("100"), "every run wrote to the one volume: {runs}");
    assert_eq!(daemon.ok(&["ps", "-a", "-q"]), "");
    daemon.ok(&["volume", "rm", "cycledata"]);
    daemon.ok(&["network", "rm", "cycle"]);
    daemon.stop();
    assert_eq!(endpoint_keys(&daemon), 0, "every address was given back");
}

#[test]
fn bridges_the_host_lost_while_the_daemon_was_down_are_made_again_at_start() {
    let mut daemon = TestDaemon::with_busybox();
    daemon.ok(&["network", "create", "--subnet", "10.219.0.0/24", "survivor"]);
    let bridge = network(&daemon, "survivor")["Options"]["com.docker.network.bridge.name"].as_str().unwrap().to_owned();
    let default = daemon.default_bridge().unwrap().to_owned();
    daemon.stop();
    // What a reboot does to them.
    delete_link(&bridge);
    delete_link(&default);
    daemon.start_again();
    assert!(links().contains(&bridge) && links().contains(&default), "{:?}", links());
    let addr = Command::new("ip").args(["-4", "-o", "addr", "show", "dev", &bridge]).output().unwrap();
    assert!(stdout(&addr).contains("inet 10.219.0.1/24"), "{}", stdout(&addr));
    let out = run_sh(&daemon, "survivor", "ip route");
    assert!(stdout(&out).contains("default via 10.219.0.1"), "{}{}", stdout(&out), stderr(&out));
    assert!(daemon.hostctl(&["run", "--rm", "busybox", "true"]).status.success(), "the default network works too");
    daemon.ok(&["network", "rm", "survivor"]);
    daemon.stop();
}

#[test]
fn the_default_networks_subnet_comes_from_the_daemons_config() {
    let options = hostctl_tests::daemon::Options { config: "[networks]\ndefault-subnet = \"10.220.0.0/24\"\n".into(), ..Default::default() };
    let mut daemon = TestDaemon::start_with(options);
    let bridge = network(&daemon, "bridge");
    assert_eq!(bridge["IPAM"]["Config"][0]["Subnet"], "10.220.0.0/24", "{bridge}");
    assert_eq!(bridge["IPAM"]["Config"][0]["Gateway"], "10.220.0.1");
    let device = daemon.default_bridge().unwrap();
    let addr = Command::new("ip").args(["-4", "-o", "addr", "show", "dev", device]).output().unwrap();
    assert!(stdout(&addr).contains("inet 10.220.0.1/24"), "{}", stdout(&addr));
    daemon.stop();
}
