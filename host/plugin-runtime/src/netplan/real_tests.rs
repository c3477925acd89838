//! Network plans against the real kernel (root): a bridge on the host, a veth into a
//! real netns with an address and a default route, checked from inside the netns, then
//! a failing plan rolled back, counted by links. Links are named `hctestR*`; the netns
//! lives under a temp dir; everything is removed at the end, also on failure. No packet
//! is sent.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hostctl_kernel::netlink::{BlockingNetlink, Ipv4Cidr};
use hostctl_kernel::netns;

use super::*;
use crate::network::LinkKind;

struct Cleanup {
    links: &'static [&'static str],
    netns: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(nl) = BlockingNetlink::connect() {
            for link in self.links {
                let _ = nl.delete_link(link);
            }
        }
        let _ = netns::remove(&self.netns);
    }
}

/// The names of links starting with `hctestR` in the host namespace.
fn own_links(nl: &BlockingNetlink) -> Vec<String> {
    nl.links().unwrap().into_iter().map(|l| l.name).filter(|n| n.starts_with("hctestR")).collect()
}

fn mounts_under(dir: &Path) -> usize {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines().filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(dir.to_str().unwrap()))).count()
}

fn join(host: &str, peer: &str, rename: &str, cidr: &str) -> Vec<Step> {
    vec![
        Step::CreateLink { name: host.into(), kind: LinkKind::Veth { peer: peer.into() }, mtu: Some(1400) },
        Step::SetMaster { link: host.into(), bridge: "hctestRbr".into() },
        Step::LinkUp { link: host.into(), netns: Netns::Host },
        Step::MoveToSandbox { link: peer.into(), rename: rename.into() },
        Step::AddAddress { link: rename.into(), cidr: cidr.into(), netns: Netns::Sandbox },
        Step::LinkUp { link: rename.into(), netns: Netns::Sandbox },
        Step::AddRoute { destination: "default".into(), gateway: Some("10.251.9.1".into()), link: rename.into(), netns: Netns::Sandbox },
    ]
}

#[test]
fn real_join_plan_wires_the_sandbox_and_a_failing_one_leaves_nothing() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("netns").join("c1");
    let _cleanup = Cleanup { links: &["hctestRva", "hctestRwa", "hctestRbr"], netns: sandbox.clone() };
    let grants = Capabilities { links: vec!["hctestR*".into()], ..Default::default() };
    let host = BlockingNetlink::connect().unwrap();
    assert!(own_links(&host).is_empty());
    netns::create(&sandbox).unwrap();
    let exec = |plan: &[Step]| {
        let net = KernelNet::new(Some(&sandbox)).unwrap();
        execute_with("bridge", &grants, "join", plan, true, &net, None)
    };

    let network = [
        Step::CreateLink { name: "hctestRbr".into(), kind: LinkKind::Bridge, mtu: Some(1400) },
        Step::AddAddress { link: "hctestRbr".into(), cidr: "10.251.9.1/24".into(), netns: Netns::Host },
        Step::LinkUp { link: "hctestRbr".into(), netns: Netns::Host },
    ];
    let started = Instant::now();
    exec(&network).unwrap();
    let create_network = started.elapsed();
    let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/conf/hctestRbr/forwarding").unwrap();
    assert_eq!(forwarding.trim(), "0", "a bridge the host makes does not route between networks");
    let started = Instant::now();
    exec(&join("hctestRva", "hctestRvb", "eth0", "10.251.9.2/24")).unwrap();
    let join_time = started.elapsed();
    eprintln!("create-network plan: {create_network:?}; join plan (7 steps, veth into a netns): {join_time:?}");

    // What `ip -n c1 addr` and `ip -n c1 route` would show.
    let inside = BlockingNetlink::connect_in(&sandbox).unwrap();
    let eth0 = inside.link("eth0").unwrap().expect("eth0 in the sandbox");
    assert_eq!((eth0.kind.as_str(), eth0.up, eth0.mtu), ("veth", true, 1400));
    assert_eq!(eth0.addresses, ["10.251.9.2/24".parse::<Ipv4Cidr>().unwrap()]);
    let routes = inside.routes().unwrap();
    let default = routes.iter().find(|r| r.destination.is_none()).expect("a default route");
    assert_eq!((default.gateway, default.link.as_deref()), (Some(Ipv4Addr::new(10, 251, 9, 1)), Some("eth0")));
    let va = host.link("hctestRva").unwrap().unwrap();
    assert_eq!((va.master.as_deref(), va.up), (Some("hctestRbr"), true));
    assert_eq!(own_links(&host), ["hctestRbr", "hctestRva"], "the peer left the host");

    // A second endpoint whose default route collides with eth0's: refused by the kernel,
    // and everything before it undone.
    let err = exec(&join("hctestRwa", "hctestRwb", "eth1", "10.251.9.3/24")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(
        err.to_string(),
        r#"plugin "bridge": join: step add-route default via 10.251.9.1 dev "eth1" in the sandbox: file exists"#
    );
    assert_eq!(own_links(&host), ["hctestRbr", "hctestRva"], "the second veth is gone");
    let names: Vec<String> = inside.links().unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["lo", "eth0"]);
    assert_eq!(inside.routes().unwrap(), routes, "the sandbox's routes are as they were");

    // A plan that fails on its first step leaves the host as it was, too.
    let err = exec(&network).unwrap_err();
    assert!(err.to_string().contains(r#"step create-link "hctestRbr": file exists"#), "{err}");
    assert_eq!(host.link("hctestRbr").unwrap().unwrap().addresses.len(), 1);

    // The kernel knows the veth's peer is the sandbox's eth0; the bridge has none.
    let net = KernelNet::new(Some(&sandbox)).unwrap();
    assert!(net.veth_peer_in_sandbox("hctestRva").unwrap());
    assert!(!net.veth_peer_in_sandbox("hctestRbr").unwrap());
    assert!(!net.veth_peer_in_sandbox("hctestRnone").unwrap());
    drop(net);

    // Leave, then delete the network.
    exec(&[Step::DeleteLink { name: "hctestRva".into() }, Step::DeleteLink { name: "hctestRbr".into() }]).unwrap();
    assert!(own_links(&host).is_empty());
    assert_eq!(inside.links().unwrap().len(), 1, "eth0 went with its peer");
    drop(inside);
    netns::remove(&sandbox).unwrap();
    assert_eq!(mounts_under(dir.path()), 0);
}

/// A teardown leaves the veth to the namespace's destruction, and the kernel deletes
/// the pair once the namespace is gone.
#[test]
fn a_veth_left_by_a_teardown_goes_with_its_namespace() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("netns").join("c2");
    let _cleanup = Cleanup { links: &["hctestTva"], netns: sandbox.clone() };
    let grants = Capabilities { links: vec!["hctestT*".into()], ..Default::default() };
    let host = BlockingNetlink::connect().unwrap();
    netns::create(&sandbox).unwrap();
    let net = KernelNet::new(Some(&sandbox)).unwrap();
    let join = [
        Step::CreateLink { name: "hctestTva".into(), kind: LinkKind::Veth { peer: "hctestTvb".into() }, mtu: None },
        Step::MoveToSandbox { link: "hctestTvb".into(), rename: "eth0".into() },
    ];
    execute_with("bridge", &grants, "join", &join, true, &net, None).unwrap();
    let plan = [Step::DeleteLink { name: "hctestTva".into() }];
    let actions = super::check::check(&plan, &grants, true, false).unwrap();
    let started = Instant::now();
    super::perform("bridge", "leave", &plan, &actions, &net, None, true).unwrap();
    let teardown = started.elapsed();
    drop(net);
    assert!(host.link("hctestTva").unwrap().is_some(), "left for the namespace's destruction");
    netns::remove(&sandbox).unwrap();
    let gone = Instant::now();
    while host.link("hctestTva").unwrap().is_some() {
        assert!(gone.elapsed() < std::time::Duration::from_secs(10), "the kernel did not delete the veth with its namespace");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    eprintln!("teardown leave: {teardown:?}; the kernel deleted the pair {:?} after the namespace went", gone.elapsed());
    assert_eq!(mounts_under(dir.path()), 0);
}
