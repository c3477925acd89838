//! Real-kernel tests (root): links named `hctest*` only, in the host namespace and in
//! namespaces under a temp dir, all removed at the end, also when an assertion fails.
//! Addresses are only ever assigned inside those namespaces or to those links; no test
//! sends a packet.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::*;
use crate::netns;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The host's links as a test counts them: how many are not test links, and the names
/// of this test's own (tests run in parallel, each with its own `hctest<X>` prefix).
fn census(nl: &BlockingNetlink, prefix: &str) -> (usize, Vec<String>) {
    let names: Vec<String> = nl.links().unwrap().into_iter().map(|l| l.name).collect();
    let others = names.iter().filter(|n| !n.starts_with("hctest")).count();
    (others, names.into_iter().filter(|n| n.starts_with(prefix)).collect())
}

/// Deletes the named host links and namespaces when dropped (on success and on panic).
struct Cleanup {
    links: Vec<&'static str>,
    netns: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(nl) = BlockingNetlink::connect() {
            for link in &self.links {
                let _ = nl.delete_link(link);
            }
        }
        for path in &self.netns {
            let _ = netns::remove(path);
        }
    }
}

fn mounts_under(dir: &Path) -> usize {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines().filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(dir.to_str().unwrap()))).count()
}

#[test]
fn link_names_are_checked_before_the_kernel() {
    for bad in ["", "hctest-way-too-long", "a/b", "a b", "..", "eth0:1"] {
        assert!(matches!(check_link_name(bad), Err(NetlinkError::Invalid { .. })), "{bad:?}");
    }
    check_link_name("hctest123456789").unwrap();
}

#[test]
fn bridge_veth_master_mtu_address_and_queries() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _cleanup = Cleanup { links: vec!["hctestAbr", "hctestAva", "hctestAvb"], netns: vec![] };
    let nl = BlockingNetlink::connect().unwrap();
    let before = census(&nl, "hctestA");

    nl.create_bridge("hctestAbr", Some(1400)).unwrap();
    nl.create_veth("hctestAva", "hctestAvb", Some(1400)).unwrap();
    nl.set_master("hctestAva", Some("hctestAbr")).unwrap();
    nl.set_up("hctestAbr", true).unwrap();
    let cidr: Ipv4Cidr = "10.251.7.1/24".parse().unwrap();
    nl.add_address("hctestAbr", cidr).unwrap();

    let br = nl.link("hctestAbr").unwrap().unwrap();
    assert_eq!((br.kind.as_str(), br.mtu, br.up), ("bridge", 1400, true));
    assert_eq!(br.addresses, [cidr]);
    let a = nl.link("hctestAva").unwrap().unwrap();
    assert_eq!((a.kind.as_str(), a.mtu, a.master.as_deref()), ("veth", 1400, Some("hctestAbr")));
    assert_eq!(nl.link("hctestAvb").unwrap().unwrap().mtu, 1400, "the peer gets the MTU too");
    assert!(nl.routes().unwrap().iter().any(|r| r.destination_text() == "10.251.7.0/24" && r.link.as_deref() == Some("hctestAbr")));

    let dup = nl.add_address("hctestAbr", cidr).unwrap_err();
    assert!(dup.is_exists(), "{dup}");
    assert!(dup.to_string().contains("add address 10.251.7.1/24 to \"hctestAbr\""), "{dup}");
    let dup = nl.create_bridge("hctestAbr", None).unwrap_err();
    assert!(dup.is_exists(), "{dup}");

    nl.set_mtu("hctestAva", 1300).unwrap();
    nl.set_master("hctestAva", None).unwrap();
    let a = nl.link("hctestAva").unwrap().unwrap();
    assert_eq!((a.mtu, a.master), (1300, None));
    nl.delete_address("hctestAbr", cidr).unwrap();
    assert!(nl.link("hctestAbr").unwrap().unwrap().addresses.is_empty());
    nl.set_up("hctestAbr", false).unwrap();
    assert!(!nl.link("hctestAbr").unwrap().unwrap().up);

    nl.delete_link("hctestAva").unwrap();
    assert!(nl.link("hctestAvb").unwrap().is_none(), "deleting one end deletes the pair");
    nl.delete_link("hctestAvb").unwrap();
    nl.delete_link("hctestAbr").unwrap();
    nl.delete_link("hctestAbr").unwrap();
    assert_eq!(census(&nl, "hctestA"), before);
    assert!(before.1.is_empty());
    let missing = nl.set_up("hctestAbr", true).unwrap_err();
    assert!(matches!(missing, NetlinkError::NoSuchLink { .. }), "{missing}");
}

#[test]
fn veth_moves_into_a_netns_under_a_new_name_with_routes() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sb");
    let _cleanup = Cleanup { links: vec!["hctestBva", "hctestBvb"], netns: vec![sandbox.clone()] };
    let host = BlockingNetlink::connect().unwrap();
    let before = census(&host, "hctestB");
    netns::create(&sandbox).unwrap();

    host.create_veth("hctestBva", "hctestBvb", None).unwrap();
    let file = std::fs::File::open(&sandbox).unwrap();
    host.move_to_netns("hctestBvb", std::os::fd::AsFd::as_fd(&file), "eth0").unwrap();
    assert!(host.link("hctestBvb").unwrap().is_none(), "the moved end left the host");

    let inside = BlockingNetlink::connect_in(&sandbox).unwrap();
    let cidr: Ipv4Cidr = "10.251.8.2/24".parse().unwrap();
    inside.add_address("eth0", cidr).unwrap();
    inside.set_up("eth0", true).unwrap();
    let gateway = Ipv4Addr::new(10, 251, 8, 1);
    let default = Route::default_via(gateway, Some("eth0"));
    inside.add_route(&default).unwrap();
    let extra = Route { destination: Some("10.252.0.0/16".parse().unwrap()), gateway: None, link: Some("eth0".into()) };
    inside.add_route(&extra).unwrap();

    let eth0 = inside.link("eth0").unwrap().unwrap();
    assert_eq!((eth0.kind.as_str(), eth0.up), ("veth", true));
    assert_eq!(eth0.addresses, [cidr]);
    let routes = inside.routes().unwrap();
    assert!(routes.contains(&default), "{routes:?}");
    assert!(routes.contains(&extra), "{routes:?}");
    assert!(routes.iter().any(|r| r.destination_text() == "10.251.8.0/24" && r.gateway.is_none()), "{routes:?}");
    assert!(!host.routes().unwrap().iter().any(|r| r.destination_text() == "10.252.0.0/16"), "the host's table is untouched");

    inside.delete_route(&default).unwrap();
    inside.delete_route(&extra).unwrap();
    assert!(!inside.routes().unwrap().iter().any(|r| r.destination.is_none()));

    // Back to the host under its old name (what a rollback does), then gone.
    let host_ns = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
    inside.move_to_netns("eth0", std::os::fd::AsFd::as_fd(&host_ns), "hctestBvb").unwrap();
    assert_eq!(host.link("hctestBvb").unwrap().unwrap().kind, "veth");
    host.delete_link("hctestBva").unwrap();
    drop(inside);
    netns::remove(&sandbox).unwrap();
    assert_eq!(census(&host, "hctestB"), before);
    assert_eq!(mounts_under(dir.path()), 0);
}

#[test]
fn veth_peer_is_created_straight_in_a_netns() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sb");
    let _cleanup = Cleanup { links: vec!["hctestEva"], netns: vec![sandbox.clone()] };
    let host = BlockingNetlink::connect().unwrap();
    netns::create(&sandbox).unwrap();
    let file = std::fs::File::open(&sandbox).unwrap();
    host.create_veth_peer_in("hctestEva", "eth0", std::os::fd::AsFd::as_fd(&file), Some(1450)).unwrap();
    assert_eq!(host.link("hctestEva").unwrap().unwrap().mtu, 1450);
    assert!(host.link("eth0").unwrap().is_none_or(|l| l.kind != "veth"), "the peer is not on the host");
    let inside = BlockingNetlink::connect_in(&sandbox).unwrap();
    let eth0 = inside.link("eth0").unwrap().expect("the peer in the netns");
    assert_eq!((eth0.kind.as_str(), eth0.mtu), ("veth", 1450));
    host.delete_link("hctestEva").unwrap();
    assert!(inside.link("eth0").unwrap().is_none(), "deleting the host end deletes the peer in the netns");
    drop(inside);
    netns::remove(&sandbox).unwrap();
    assert_eq!(census(&host, "hctestE").1, Vec::<String>::new());
}

#[test]
fn macvlan_on_a_veth_parent_in_every_mode() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _cleanup = Cleanup { links: vec!["hctestCm", "hctestCpa", "hctestCpb"], netns: vec![] };
    let nl = BlockingNetlink::connect().unwrap();
    let before = census(&nl, "hctestC");
    nl.create_veth("hctestCpa", "hctestCpb", None).unwrap();
    for mode in [MacvlanMode::Bridge, MacvlanMode::Vepa, MacvlanMode::Private, MacvlanMode::Passthru] {
        nl.create_macvlan("hctestCm", "hctestCpa", mode, Some(1400)).unwrap();
        let m = nl.link("hctestCm").unwrap().unwrap();
        assert_eq!((m.kind.as_str(), m.mtu), ("macvlan", 1400), "{mode:?}");
        nl.delete_link("hctestCm").unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sb");
    netns::create(&sandbox).unwrap();
    let file = std::fs::File::open(&sandbox).unwrap();
    nl.create_macvlan_in("eth0", "hctestCpa", MacvlanMode::Bridge, std::os::fd::AsFd::as_fd(&file), None).unwrap();
    let inside = BlockingNetlink::connect_in(&sandbox).unwrap();
    assert_eq!(inside.link("eth0").unwrap().expect("the macvlan in the netns").kind, "macvlan");
    drop(inside);
    netns::remove(&sandbox).unwrap();
    let err = nl.create_macvlan("hctestCm", "hctestCnone", MacvlanMode::Bridge, None).unwrap_err();
    assert!(matches!(err, NetlinkError::NoSuchLink { .. }), "{err}");
    nl.delete_link("hctestCpa").unwrap();
    assert_eq!(census(&nl, "hctestC"), before);
}

#[test]
fn async_api_runs_on_the_callers_runtime() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sb");
    let _cleanup = Cleanup { links: vec![], netns: vec![sandbox.clone()] };
    netns::create(&sandbox).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let names = rt.block_on(async {
        let nl = Netlink::connect_in(&sandbox).await.unwrap();
        nl.create_bridge("hctestDbr", None).await.unwrap();
        nl.links().await.unwrap().into_iter().map(|l| l.name).collect::<Vec<_>>()
    });
    assert_eq!(names, ["lo", "hctestDbr"]);
    // From a blocking thread of the same runtime, as the plugin runtime calls it.
    let n = rt.block_on(async {
        let sandbox = sandbox.clone();
        tokio::task::spawn_blocking(move || BlockingNetlink::connect_in(&sandbox).unwrap().links().unwrap().len()).await.unwrap()
    });
    assert_eq!(n, 2);
    drop(rt);
    netns::remove(&sandbox).unwrap();
    assert_eq!(mounts_under(dir.path()), 0);
}
