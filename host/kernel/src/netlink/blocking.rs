//! [`BlockingNetlink`]: the [`Netlink`] operations for threads that may block.
//!
//! The plugin runtime executes network plans on tokio's `spawn_blocking` threads. There,
//! `Handle::current().block_on` drives a future to completion while the runtime's
//! workers keep serving the connection's reader task. A thread outside any runtime (a
//! test, a tool) gets a private current-thread runtime instead, which lives as long as
//! the connection. Never call these from async code: use [`Netlink`] there.

use std::future::Future;
use std::os::fd::BorrowedFd;
use std::path::Path;

use super::{Ipv4Cidr, Link, MacvlanMode, Netlink, NetlinkError, Result, Route};

/// Where a blocking call's future runs.
#[derive(Debug)]
enum Runtime {
    /// The thread's runtime (a `spawn_blocking` thread has one).
    Current(tokio::runtime::Handle),
    /// A private current-thread runtime, for threads without one.
    Own(tokio::runtime::Runtime),
}

impl Runtime {
    fn get() -> Result<Self> {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            return Ok(Runtime::Current(handle));
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map(Runtime::Own)
            .map_err(NetlinkError::Runtime)
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        match self {
            Runtime::Current(handle) => handle.block_on(f),
            Runtime::Own(rt) => rt.block_on(f),
        }
    }
}

/// A [`Netlink`] connection driven from a blocking thread; see the module docs.
#[derive(Debug)]
pub struct BlockingNetlink {
    // Dropped before `runtime`: the reader task is aborted while its runtime still runs.
    netlink: Netlink,
    runtime: Runtime,
}

impl BlockingNetlink {
    /// A connection in the calling thread's network namespace.
    pub fn connect() -> Result<Self> {
        let runtime = Runtime::get()?;
        let netlink = runtime.block_on(Netlink::connect())?;
        Ok(BlockingNetlink { netlink, runtime })
    }

    /// A connection in the network namespace whose file is `netns`.
    pub fn connect_in(netns: &Path) -> Result<Self> {
        let runtime = Runtime::get()?;
        let netlink = runtime.block_on(Netlink::connect_in(netns))?;
        Ok(BlockingNetlink { netlink, runtime })
    }

    /// A connection over `socket`, opened in its namespace by the caller.
    pub fn from_socket(socket: rtnetlink::sys::Socket) -> Result<Self> {
        let runtime = Runtime::get()?;
        let netlink = runtime.block_on(async { Netlink::from_socket(socket) })?;
        Ok(BlockingNetlink { netlink, runtime })
    }

    /// Run `f` on this connection's runtime, to completion.
    pub fn run<'a, F, T>(&'a self, f: impl FnOnce(&'a Netlink) -> F) -> T
    where
        F: Future<Output = T> + 'a,
    {
        self.runtime.block_on(f(&self.netlink))
    }

    pub fn create_bridge(&self, name: &str, mtu: Option<u32>) -> Result<()> {
        self.run(|n| n.create_bridge(name, mtu))
    }

    pub fn create_veth(&self, name: &str, peer: &str, mtu: Option<u32>) -> Result<()> {
        self.run(|n| n.create_veth(name, peer, mtu))
    }

    pub fn create_veth_peer_in(&self, name: &str, peer: &str, netns: BorrowedFd<'_>, mtu: Option<u32>) -> Result<()> {
        self.run(|n| n.create_veth_peer_in(name, peer, netns, mtu))
    }

    pub fn create_macvlan(&self, name: &str, parent: &str, mode: MacvlanMode, mtu: Option<u32>) -> Result<()> {
        self.run(|n| n.create_macvlan(name, parent, mode, mtu))
    }

    pub fn create_macvlan_in(&self, name: &str, parent: &str, mode: MacvlanMode, netns: BorrowedFd<'_>, mtu: Option<u32>) -> Result<()> {
        self.run(|n| n.create_macvlan_in(name, parent, mode, netns, mtu))
    }

    pub fn delete_link(&self, name: &str) -> Result<()> {
        self.run(|n| n.delete_link(name))
    }

    pub fn set_master(&self, link: &str, master: Option<&str>) -> Result<()> {
        self.run(|n| n.set_master(link, master))
    }

    pub fn set_up(&self, link: &str, up: bool) -> Result<()> {
        self.run(|n| n.set_up(link, up))
    }

    pub fn set_mtu(&self, link: &str, mtu: u32) -> Result<()> {
        self.run(|n| n.set_mtu(link, mtu))
    }

    pub fn move_to_netns(&self, link: &str, netns: BorrowedFd<'_>, rename: &str) -> Result<()> {
        self.run(|n| n.move_to_netns(link, netns, rename))
    }

    pub fn add_address(&self, link: &str, cidr: Ipv4Cidr) -> Result<()> {
        self.run(|n| n.add_address(link, cidr))
    }

    pub fn delete_address(&self, link: &str, cidr: Ipv4Cidr) -> Result<()> {
        self.run(|n| n.delete_address(link, cidr))
    }

    pub fn add_route(&self, route: &Route) -> Result<()> {
        self.run(|n| n.add_route(route))
    }

    pub fn delete_route(&self, route: &Route) -> Result<()> {
        self.run(|n| n.delete_route(route))
    }

    pub fn link(&self, name: &str) -> Result<Option<Link>> {
        self.run(|n| n.link(name))
    }

    pub fn links(&self) -> Result<Vec<Link>> {
        self.run(|n| n.links())
    }

    pub fn routes(&self) -> Result<Vec<Route>> {
        self.run(|n| n.routes())
    }
}
