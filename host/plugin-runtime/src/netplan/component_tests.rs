//! The bundled network drivers (bridge, macvlan) end to end through the real runtime
//! and kernel (root): their IPAM reads the host through `hostctl:host/net`, their plans
//! run through [`NetworkPlugin::execute`]. Each test's "host" is a network namespace of
//! its own (the test thread unshares one), so the drivers' real link names (`hc-br-…`,
//! `hcv…`, `hcm…`) and addresses never touch the machine's namespace, and everything
//! goes with the thread. No packet is sent.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hostctl_kernel::mount::Recorder as MountRecorder;
use hostctl_kernel::netlink::{BlockingNetlink, Ipv4Cidr};
use hostctl_kernel::netns;
use sha2::{Digest, Sha256};

use super::*;
use crate::network::PortRequest;
use crate::{Defaults, Loader, MemoryKv, Plugin};

const NET: &str = "0123abcd11112222333344445555666677778888999900001111222233334444";
const EP: &str = "e1e1e1e100000000000000000000000000000000000000000000000000000000";

/// Records what it is asked to publish; binds nothing.
#[derive(Default)]
struct Published(Mutex<Vec<String>>);

impl PortPublisher for Published {
    fn publish(&self, p: &Port) -> io::Result<()> {
        self.0.lock().unwrap().push(format!("publish {}", port_text(p)));
        Ok(())
    }
    fn unpublish(&self, p: &Port) {
        self.0.lock().unwrap().push(format!("unpublish {}", port_text(p)));
    }
}

/// The bundled driver `name`, built by scripts/build-plugins, with its own manifest.
fn network_plugin(tmp: &Path, name: &str, ports: Arc<Published>) -> (Loader, Arc<NetworkPlugin>) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wasm = std::fs::read(repo.join(format!("target/wasm32-wasip2/release/{name}.wasm"))).expect("run scripts/build-plugins first");
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.wasm")), &wasm).unwrap();
    let manifest = std::fs::read_to_string(repo.join(format!("plugins/{name}/plugin.toml"))).unwrap();
    std::fs::write(dir.join("plugin.toml"), format!("sha256 = \"{}\"\n{manifest}", hex::encode(Sha256::digest(&wasm)))).unwrap();
    let loader = Loader::new(&tmp.join("cache"), &tmp.join("storage"), Arc::new(MountRecorder::default()), Defaults::default())
        .unwrap()
        .with_kv(Arc::new(MemoryKv::default()))
        .with_ports(ports);
    let plugin = match loader.load(&dir).unwrap().0 {
        Plugin::Network(p) => p,
        other => panic!("{name} loaded as {other:?}"),
    };
    (loader, plugin)
}

/// Removes a netns file when dropped, also when the test fails.
struct RemoveNetns(std::path::PathBuf);

impl Drop for RemoveNetns {
    fn drop(&mut self) {
        let _ = netns::remove(&self.0);
    }
}

fn names(nl: &BlockingNetlink) -> Vec<String> {
    nl.links().unwrap().into_iter().map(|l| l.name).collect()
}

/// Run `test` on a thread in a network namespace of its own, with `lo` up (as root).
fn in_a_namespace_of_its_own(test: fn(&BlockingNetlink)) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    std::thread::spawn(move || {
        // SAFETY: only CLONE_NEWNET, on this thread of the test's own, which ends with the
        // test; the descriptor table stays shared.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }.unwrap();
        let host = BlockingNetlink::connect().unwrap();
        host.set_up("lo", true).unwrap();
        test(&host);
    })
    .join()
    .unwrap();
}

#[test]
fn bridge_driver_networks_a_sandbox() {
    in_a_namespace_of_its_own(bridge_driver);
}

fn bridge_driver(host: &BlockingNetlink) {
    let tmp = tempfile::tempdir().unwrap();
    // Something on the "host" already uses 172.18.0.0/16: the driver must see it
    // through hostctl:host/net and take the next /16.
    host.create_veth("occupied0", "occupied1", None).unwrap();
    host.add_address("occupied0", "172.18.5.1/16".parse().unwrap()).unwrap();
    host.set_up("occupied0", true).unwrap();
    let before = names(host);

    let published = Arc::new(Published::default());
    let (_loader, bridge) = network_plugin(tmp.path(), "bridge", published.clone());
    let network = bridge.create_network(NET, "web", &[], None, None, None).unwrap();
    assert_eq!((network.subnet.as_str(), network.gateway.as_deref()), ("172.19.0.0/16", Some("172.19.0.1")));
    bridge.execute("create network", &network.plan, None).unwrap();
    let br = host.link("hc-br-0123abcd").unwrap().expect("the network's bridge");
    assert_eq!((br.kind.as_str(), br.up), ("bridge", true));
    assert_eq!(br.addresses, ["172.19.0.1/16".parse::<Ipv4Cidr>().unwrap()]);

    let endpoint = bridge.create_endpoint(NET, EP, None).unwrap();
    assert_eq!(endpoint.address, "172.19.0.2/16");
    let sandbox = tmp.path().join("netns").join("c1");
    let _remove = RemoveNetns(sandbox.clone());
    netns::create(&sandbox).unwrap();
    let started = Instant::now();
    let plan = bridge.join(NET, EP).unwrap();
    let planned = started.elapsed();
    bridge.execute("join", &plan, Some(&sandbox)).unwrap();
    eprintln!("bridge join: the driver's plan in {planned:?}, executed ({} steps) in {:?}", plan.len(), started.elapsed() - planned);

    let inside = BlockingNetlink::connect_in(&sandbox).unwrap();
    let eth0 = inside.link("eth0").unwrap().expect("eth0 in the sandbox");
    assert_eq!(eth0.addresses, ["172.19.0.2/16".parse::<Ipv4Cidr>().unwrap()]);
    assert!(eth0.up);
    let default = inside.routes().unwrap().into_iter().find(|r| r.destination.is_none()).expect("a default route");
    assert_eq!(default.gateway.map(|g| g.to_string()).as_deref(), Some("172.19.0.1"));
    assert_eq!(host.link("hcve1e1e1e1").unwrap().unwrap().master.as_deref(), Some("hc-br-0123abcd"));

    let request = PortRequest { protocol: "tcp".into(), host_ip: None, host_port: 8080, container_port: 80 };
    let publish = bridge.program_external_connectivity(NET, EP, &[request]).unwrap();
    bridge.execute("program external connectivity", &publish, Some(&sandbox)).unwrap();
    let revoke = bridge.revoke_external_connectivity(NET, EP).unwrap();
    bridge.execute("revoke external connectivity", &revoke, Some(&sandbox)).unwrap();
    let published = published.0.lock().unwrap().clone();
    assert_eq!(published.len(), 2, "{published:?}");
    assert!(published[0].starts_with("publish tcp/") && published[0].ends_with(":8080 to 172.19.0.2:80"), "{published:?}");
    assert!(published[1].starts_with("unpublish tcp/"), "{published:?}");

    bridge.execute("leave", &bridge.leave(NET, EP).unwrap(), Some(&sandbox)).unwrap();
    assert_eq!(names(&inside), ["lo"], "eth0 went with its host end");
    bridge.delete_endpoint(NET, EP).unwrap();
    bridge.execute("delete network", &bridge.delete_network(NET).unwrap(), None).unwrap();
    assert_eq!(names(host), before);
    drop(inside);
    netns::remove(&sandbox).unwrap();
}

#[test]
fn macvlan_driver_puts_a_macvlan_on_its_parent_into_a_sandbox() {
    in_a_namespace_of_its_own(macvlan_driver);
}

fn macvlan_driver(host: &BlockingNetlink) {
    let tmp = tempfile::tempdir().unwrap();
    // A veth stands in for the NIC a macvlan network sits on.
    host.create_veth("parent0", "parent1", None).unwrap();
    host.set_up("parent0", true).unwrap();
    let before = names(host);
    let (_loader, macvlan) = network_plugin(tmp.path(), "macvlan", Arc::new(Published::default()));
    let options = [("parent".to_owned(), "parent0".to_owned()), ("macvlan_mode".to_owned(), "private".to_owned())];
    let network = macvlan.create_network(NET, "lan", &options, Some("10.77.0.0/24"), Some("10.77.0.1"), None).unwrap();
    macvlan.execute("create network", &network.plan, None).unwrap();
    let endpoint = macvlan.create_endpoint(NET, EP, None).unwrap();

    let sandbox = tmp.path().join("netns").join("c1");
    let _remove = RemoveNetns(sandbox.clone());
    netns::create(&sandbox).unwrap();
    let started = Instant::now();
    let plan = macvlan.join(NET, EP).unwrap();
    macvlan.execute("join", &plan, Some(&sandbox)).unwrap();
    eprintln!("macvlan join: planned and executed ({} steps) in {:?}", plan.len(), started.elapsed());

    let inside = BlockingNetlink::connect_in(&sandbox).unwrap();
    let eth0 = inside.link("eth0").unwrap().expect("eth0 in the sandbox");
    assert_eq!((eth0.kind.as_str(), eth0.up), ("macvlan", true));
    assert_eq!(eth0.addresses, [endpoint.address.parse::<Ipv4Cidr>().unwrap()]);
    assert!(inside.routes().unwrap().iter().any(|r| r.destination.is_none() && r.gateway.map(|g| g.to_string()).as_deref() == Some("10.77.0.1")));
    assert_eq!(names(host), before, "the macvlan never showed on the host");

    // A second join of the same endpoint collides with eth0 in the sandbox: refused,
    // and the first is untouched.
    let err = macvlan.execute("join", &plan, Some(&sandbox)).unwrap_err();
    assert!(err.to_string().contains("made in the sandbox as \"eth0\""), "{err}");
    assert_eq!(names(&inside), ["lo", "eth0"]);

    macvlan.execute("leave", &macvlan.leave(NET, EP).unwrap(), Some(&sandbox)).unwrap();
    macvlan.delete_endpoint(NET, EP).unwrap();
    macvlan.execute("delete network", &macvlan.delete_network(NET).unwrap(), None).unwrap();
    drop(inside);
    netns::remove(&sandbox).unwrap();
    assert_eq!(names(host), before);
}
