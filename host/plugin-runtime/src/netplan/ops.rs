//! [`NetOps`]: the kernel calls a network plan makes, behind a trait, so that plan
//! execution and its rollback are unit tested with the [`Recorder`] fake and proven
//! against the kernel with [`KernelNet`].

use std::cell::OnceCell;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hostctl_kernel::netlink::{BlockingNetlink, Ipv4Cidr, MacvlanMode, NetlinkError, Route};

use crate::network::Netns;

/// The kernel operations of a network plan. Links are created and attached on the host;
/// the rest acts in the host namespace or in the sandbox.
pub trait NetOps {
    fn create_bridge(&self, name: &str, mtu: Option<u32>) -> Result<(), NetlinkError>;
    fn create_veth(&self, name: &str, peer: &str, mtu: Option<u32>) -> Result<(), NetlinkError>;
    /// A veth pair whose peer is created in the sandbox, named `peer` there.
    fn create_veth_in_sandbox(&self, name: &str, peer: &str, mtu: Option<u32>) -> Result<(), NetlinkError>;
    fn create_macvlan(&self, name: &str, parent: &str, mode: MacvlanMode, mtu: Option<u32>) -> Result<(), NetlinkError>;
    /// A macvlan on host link `parent`, created in the sandbox as `name`.
    fn create_macvlan_in_sandbox(&self, name: &str, parent: &str, mode: MacvlanMode, mtu: Option<u32>) -> Result<(), NetlinkError>;
    /// Delete a link; a missing one is fine.
    fn delete_link(&self, netns: Netns, name: &str) -> Result<(), NetlinkError>;
    fn set_master(&self, link: &str, bridge: Option<&str>) -> Result<(), NetlinkError>;
    fn set_up(&self, netns: Netns, link: &str) -> Result<(), NetlinkError>;
    /// Move `link` out of `from` into the other namespace, renamed `rename` there.
    fn move_link(&self, from: Netns, link: &str, rename: &str) -> Result<(), NetlinkError>;
    fn add_address(&self, netns: Netns, link: &str, cidr: Ipv4Cidr) -> Result<(), NetlinkError>;
    fn delete_address(&self, netns: Netns, link: &str, cidr: Ipv4Cidr) -> Result<(), NetlinkError>;
    fn add_route(&self, netns: Netns, route: &Route) -> Result<(), NetlinkError>;
    fn delete_route(&self, netns: Netns, route: &Route) -> Result<(), NetlinkError>;
    /// Host link `name` is a veth whose peer is a link of the sandbox.
    fn veth_peer_in_sandbox(&self, name: &str) -> Result<bool, NetlinkError>;
}

/// The real kernel: rtnetlink connections in the calling thread's namespace (the host)
/// and in the sandbox, each opened on first use.
#[derive(Debug)]
pub struct KernelNet {
    host_netns: File,
    host: OnceCell<BlockingNetlink>,
    sandbox: Option<Sandbox>,
}

/// The sandbox's netns file, opened on first use (a plan without sandbox steps may name
/// a sandbox that is gone already), and a netlink connection inside it.
#[derive(Debug)]
struct Sandbox {
    path: PathBuf,
    file: OnceCell<File>,
    netlink: OnceCell<BlockingNetlink>,
}

impl KernelNet {
    /// Call from the thread whose namespace is the host's (the daemon's threads all
    /// are); `sandbox` is the container's netns file.
    pub fn new(sandbox: Option<&Path>) -> io::Result<Self> {
        let host_netns = File::open("/proc/thread-self/ns/net")?;
        let sandbox = sandbox.map(|path| Sandbox { path: path.to_owned(), file: OnceCell::new(), netlink: OnceCell::new() });
        Ok(KernelNet { host_netns, host: OnceCell::new(), sandbox })
    }

    fn netlink(&self, netns: Netns) -> Result<&BlockingNetlink, NetlinkError> {
        match netns {
            Netns::Host => get_or_try_init(&self.host, BlockingNetlink::connect),
            Netns::Sandbox => {
                let sandbox = self.sandbox()?;
                get_or_try_init(&sandbox.netlink, || BlockingNetlink::connect_in(&sandbox.path))
            }
        }
    }

    fn sandbox(&self) -> Result<&Sandbox, NetlinkError> {
        self.sandbox.as_ref().ok_or_else(|| NetlinkError::Invalid { what: "sandbox step".into(), reason: "no sandbox was given".into() })
    }

    fn sandbox_file(&self) -> Result<&File, NetlinkError> {
        let sandbox = self.sandbox()?;
        get_or_try_init(&sandbox.file, || {
            File::open(&sandbox.path).map_err(|source| NetlinkError::Socket { netns: sandbox.path.clone(), source })
        })
    }
}

fn get_or_try_init<T>(cell: &OnceCell<T>, init: impl FnOnce() -> Result<T, NetlinkError>) -> Result<&T, NetlinkError> {
    if let Some(value) = cell.get() {
        return Ok(value);
    }
    let value = init()?;
    Ok(cell.get_or_init(|| value))
}

impl NetOps for KernelNet {
    /// The bridge, made a dead end for routing: what arrives on it is delivered to the
    /// host or bridged, never forwarded to another link (`conf/NAME/forwarding = 0`,
    /// which the kernel checks on the receiving link), so networks stay isolated from
    /// each other whatever `net.ipv4.ip_forward` says.
    fn create_bridge(&self, name: &str, mtu: Option<u32>) -> Result<(), NetlinkError> {
        let host = self.netlink(Netns::Host)?;
        host.create_bridge(name, mtu)?;
        let sysctl = format!("/proc/sys/net/ipv4/conf/{name}/forwarding");
        if let Err(source) = std::fs::write(&sysctl, "0") {
            let _ = host.delete_link(name);
            return Err(NetlinkError::Kernel { op: format!("isolate bridge {name:?} ({sysctl})"), source });
        }
        Ok(())
    }
    fn create_veth(&self, name: &str, peer: &str, mtu: Option<u32>) -> Result<(), NetlinkError> {
        self.netlink(Netns::Host)?.create_veth(name, peer, mtu)
    }
    fn create_veth_in_sandbox(&self, name: &str, peer: &str, mtu: Option<u32>) -> Result<(), NetlinkError> {
        self.netlink(Netns::Host)?.create_veth_peer_in(name, peer, self.sandbox_file()?.as_fd(), mtu)
    }
    fn create_macvlan(&self, name: &str, parent: &str, mode: MacvlanMode, mtu: Option<u32>) -> Result<(), NetlinkError> {
        self.netlink(Netns::Host)?.create_macvlan(name, parent, mode, mtu)
    }
    fn create_macvlan_in_sandbox(&self, name: &str, parent: &str, mode: MacvlanMode, mtu: Option<u32>) -> Result<(), NetlinkError> {
        self.netlink(Netns::Host)?.create_macvlan_in(name, parent, mode, self.sandbox_file()?.as_fd(), mtu)
    }
    fn delete_link(&self, netns: Netns, name: &str) -> Result<(), NetlinkError> {
        self.netlink(netns)?.delete_link(name)
    }
    fn set_master(&self, link: &str, bridge: Option<&str>) -> Result<(), NetlinkError> {
        self.netlink(Netns::Host)?.set_master(link, bridge)
    }
    fn set_up(&self, netns: Netns, link: &str) -> Result<(), NetlinkError> {
        self.netlink(netns)?.set_up(link, true)
    }
    fn move_link(&self, from: Netns, link: &str, rename: &str) -> Result<(), NetlinkError> {
        let to = match from {
            Netns::Host => self.sandbox_file()?.as_fd(),
            Netns::Sandbox => self.host_netns.as_fd(),
        };
        self.netlink(from)?.move_to_netns(link, to, rename)
    }
    fn add_address(&self, netns: Netns, link: &str, cidr: Ipv4Cidr) -> Result<(), NetlinkError> {
        self.netlink(netns)?.add_address(link, cidr)
    }
    fn delete_address(&self, netns: Netns, link: &str, cidr: Ipv4Cidr) -> Result<(), NetlinkError> {
        self.netlink(netns)?.delete_address(link, cidr)
    }
    fn add_route(&self, netns: Netns, route: &Route) -> Result<(), NetlinkError> {
        self.netlink(netns)?.add_route(route)
    }
    fn delete_route(&self, netns: Netns, route: &Route) -> Result<(), NetlinkError> {
        self.netlink(netns)?.delete_route(route)
    }
    fn veth_peer_in_sandbox(&self, name: &str) -> Result<bool, NetlinkError> {
        let Some(host) = self.netlink(Netns::Host)?.link(name)? else { return Ok(false) };
        let (true, true, Some(peer)) = (host.kind == "veth", host.peer_elsewhere, host.peer_index) else { return Ok(false) };
        // The peer's index is in its own namespace: it is the sandbox's if the sandbox
        // has a veth of that index tied back to this link's index.
        let inside = self.netlink(Netns::Sandbox)?.links()?;
        Ok(inside.iter().any(|l| l.index == peer && l.kind == "veth" && l.peer_elsewhere && l.peer_index == Some(host.index)))
    }
}

/// A fake that records each call as a line (`"create veth hcv1 hcp1"`, `"add address
/// 10.0.0.2/24 eth0 (sandbox)"`) and fails the calls whose line starts with a prefix it
/// was told to fail, with `errno`.
#[derive(Debug, Default)]
pub struct Recorder {
    calls: Mutex<Vec<String>>,
    fail: Mutex<Vec<(String, i32)>>,
    peers_in_sandbox: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fail every call whose line starts with `prefix`, with `errno`.
    pub fn fail(&self, prefix: &str, errno: i32) -> &Self {
        self.fail.lock().expect("recorder lock").push((prefix.to_owned(), errno));
        self
    }

    /// Answer that host veth `name` has its peer in the sandbox.
    pub fn peer_in_sandbox(&self, name: &str) -> &Self {
        self.peers_in_sandbox.lock().expect("recorder lock").push(name.to_owned());
        self
    }

    /// The calls so far, failed ones included.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("recorder lock").clone()
    }

    fn record(&self, line: String) -> Result<(), NetlinkError> {
        self.calls.lock().expect("recorder lock").push(line.clone());
        match self.fail.lock().expect("recorder lock").iter().find(|(p, _)| line.starts_with(p.as_str())) {
            Some((_, errno)) => Err(NetlinkError::Kernel { op: line, source: io::Error::from_raw_os_error(*errno) }),
            None => Ok(()),
        }
    }
}

fn at(netns: Netns) -> &'static str {
    match netns {
        Netns::Host => "(host)",
        Netns::Sandbox => "(sandbox)",
    }
}

impl NetOps for Recorder {
    fn create_bridge(&self, name: &str, mtu: Option<u32>) -> Result<(), NetlinkError> {
        self.record(format!("create bridge {name}{}", mtu.map(|m| format!(" mtu {m}")).unwrap_or_default()))
    }
    fn create_veth(&self, name: &str, peer: &str, mtu: Option<u32>) -> Result<(), NetlinkError> {
        self.record(format!("create veth {name} {peer}{}", mtu.map(|m| format!(" mtu {m}")).unwrap_or_default()))
    }
    fn create_veth_in_sandbox(&self, name: &str, peer: &str, mtu: Option<u32>) -> Result<(), NetlinkError> {
        self.record(format!("create veth {name} {peer} (sandbox){}", mtu.map(|m| format!(" mtu {m}")).unwrap_or_default()))
    }
    fn create_macvlan(&self, name: &str, parent: &str, mode: MacvlanMode, mtu: Option<u32>) -> Result<(), NetlinkError> {
        self.record(format!("create macvlan {name} on {parent} {mode:?}{}", mtu.map(|m| format!(" mtu {m}")).unwrap_or_default()))
    }
    fn create_macvlan_in_sandbox(&self, name: &str, parent: &str, mode: MacvlanMode, mtu: Option<u32>) -> Result<(), NetlinkError> {
        self.record(format!("create macvlan {name} (sandbox) on {parent} {mode:?}{}", mtu.map(|m| format!(" mtu {m}")).unwrap_or_default()))
    }
    fn delete_link(&self, netns: Netns, name: &str) -> Result<(), NetlinkError> {
        self.record(format!("delete link {name} {}", at(netns)))
    }
    fn set_master(&self, link: &str, bridge: Option<&str>) -> Result<(), NetlinkError> {
        self.record(match bridge {
            Some(b) => format!("set master {link} {b}"),
            None => format!("set nomaster {link}"),
        })
    }
    fn set_up(&self, netns: Netns, link: &str) -> Result<(), NetlinkError> {
        self.record(format!("set up {link} {}", at(netns)))
    }
    fn move_link(&self, from: Netns, link: &str, rename: &str) -> Result<(), NetlinkError> {
        self.record(format!("move {link} {} as {rename}", at(from)))
    }
    fn add_address(&self, netns: Netns, link: &str, cidr: Ipv4Cidr) -> Result<(), NetlinkError> {
        self.record(format!("add address {cidr} {link} {}", at(netns)))
    }
    fn delete_address(&self, netns: Netns, link: &str, cidr: Ipv4Cidr) -> Result<(), NetlinkError> {
        self.record(format!("delete address {cidr} {link} {}", at(netns)))
    }
    fn add_route(&self, netns: Netns, route: &Route) -> Result<(), NetlinkError> {
        self.record(format!("add route {route} {}", at(netns)))
    }
    fn delete_route(&self, netns: Netns, route: &Route) -> Result<(), NetlinkError> {
        self.record(format!("delete route {route} {}", at(netns)))
    }
    fn veth_peer_in_sandbox(&self, name: &str) -> Result<bool, NetlinkError> {
        Ok(self.peers_in_sandbox.lock().expect("recorder lock").iter().any(|n| n == name))
    }
}
