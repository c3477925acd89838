//! Links, IPv4 addresses and routes, over rtnetlink (`NETLINK_ROUTE`).
//!
//! A [`Netlink`] is one rtnetlink socket and the task that reads it. A netlink socket
//! stays bound to the network namespace it was created in, so [`Netlink::connect_in`]
//! opens its socket on a short-lived thread that `setns(2)`es into the namespace given
//! by a path (a netns file, see [`crate::netns`]) and exits; the rest of the work runs on
//! the caller's tokio runtime, and no thread of the runtime ever changes namespace.
//!
//! The operations are what a container network needs: create a bridge, a veth pair or a
//! macvlan ([`link`]); delete a link (a missing one is not an error); attach to or
//! detach from a bridge; up, down and MTU; move a link into another namespace under a new
//! name; add and delete IPv4 addresses ([`address`]) and routes ([`route`]); and read
//! back every link (kind, MTU, state, addresses, master) and the main table's routes.
//!
//! This module owns no runtime: the async API needs the caller's tokio runtime, and
//! [`BlockingNetlink`] (in [`blocking`]) serves threads that may block (the plugin
//! runtime's `spawn_blocking` threads): it runs each call on the current runtime's
//! handle, or on a private current-thread runtime when the thread has none.

pub mod address;
pub mod blocking;
pub mod link;
pub mod route;
#[cfg(test)]
mod tests;

use std::io;
use std::os::fd::{AsFd, FromRawFd, IntoRawFd};
use std::path::{Path, PathBuf};

use rtnetlink::sys::{Socket, TokioSocket, protocols::NETLINK_ROUTE};

pub use address::Ipv4Cidr;
pub use blocking::BlockingNetlink;
pub use link::{Link, MacvlanMode};
pub use route::Route;

/// The longest link name the kernel takes (`IFNAMSIZ` less the NUL byte).
pub const MAX_LINK_NAME: usize = 15;

/// Why a netlink operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// An argument is unusable before the kernel is asked (a bad name or CIDR).
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    /// A link the operation names does not exist.
    #[error("link {name:?} does not exist")]
    NoSuchLink { name: String },
    /// The kernel refused the operation.
    #[error("{op}: {source}")]
    Kernel {
        op: String,
        #[source]
        source: io::Error,
    },
    /// The network namespace could not be entered, or the socket not opened.
    #[error("netlink socket in {}: {source}", netns.display())]
    Socket {
        netns: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A blocking caller without a runtime, whose private runtime could not start.
    #[error("netlink: starting a runtime: {0}")]
    Runtime(#[source] io::Error),
}

impl NetlinkError {
    /// The kernel's errno, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { source, .. } | NetlinkError::Socket { source, .. } | NetlinkError::Runtime(source) => {
                source.raw_os_error()
            }
            _ => None,
        }
    }

    /// Whether the object exists already (`EEXIST`, `EADDRINUSE`).
    pub fn is_exists(&self) -> bool {
        matches!(self.errno(), Some(libc::EEXIST | libc::EADDRINUSE))
    }

    pub(crate) fn kernel(op: impl Into<String>, e: rtnetlink::Error) -> Self {
        let source = match e {
            rtnetlink::Error::NetlinkError(msg) => msg.to_io(),
            other => io::Error::other(other.to_string()),
        };
        NetlinkError::Kernel { op: op.into(), source }
    }
}

pub(crate) type Result<T> = std::result::Result<T, NetlinkError>;

/// One rtnetlink connection; see the module docs. Dropping it ends its reader task.
#[derive(Debug)]
pub struct Netlink {
    handle: rtnetlink::Handle,
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl Netlink {
    /// A connection in the calling thread's network namespace.
    pub async fn connect() -> Result<Self> {
        let socket = Socket::new(NETLINK_ROUTE).map_err(|source| NetlinkError::Socket { netns: "/proc/thread-self/ns/net".into(), source })?;
        Self::from_socket(socket)
    }

    /// A connection in the network namespace whose file is `netns` (a bind-mounted
    /// netns file, or `/proc/<pid>/ns/net`).
    pub async fn connect_in(netns: &Path) -> Result<Self> {
        let socket = socket_in(netns).await?;
        Self::from_socket(socket)
    }

    /// A connection over `socket`, already opened in its namespace. Needs a tokio
    /// runtime context (the socket is registered with its reactor).
    pub fn from_socket(socket: Socket) -> Result<Self> {
        socket.set_non_blocking(true).map_err(NetlinkError::Runtime)?;
        tokio::runtime::Handle::try_current().map_err(|e| NetlinkError::Runtime(io::Error::other(e.to_string())))?;
        // SAFETY: the descriptor comes from `into_raw_fd` of a socket we own, so the
        // TokioSocket becomes its only owner. `from_raw_fd` registers it with the current
        // runtime's reactor, which was checked to exist just above.
        let socket = unsafe { TokioSocket::from_raw_fd(socket.into_raw_fd()) };
        let (connection, handle, _) = rtnetlink::from_socket(socket);
        Ok(Netlink { handle, connection: tokio::spawn(connection) })
    }

    pub(crate) fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }
}

/// An rtnetlink socket opened inside the network namespace `netns`, by a thread that
/// enters the namespace, opens the socket and exits (so no other thread changes
/// namespace, and the socket stays bound to `netns`).
pub async fn socket_in(netns: &Path) -> Result<Socket> {
    let err = |source| NetlinkError::Socket { netns: netns.to_owned(), source };
    let file = std::fs::File::open(netns).map_err(err)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("hostctl-netns".into())
        .spawn(move || {
            let opened = rustix::thread::move_into_link_name_space(file.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
                .map_err(io::Error::from)
                .and_then(|()| Socket::new(NETLINK_ROUTE));
            let _ = tx.send(opened);
        })
        .map_err(err)?;
    rx.await.map_err(|_| err(io::Error::other("the netns thread ended without an answer")))?.map_err(err)
}

/// Check a link name before the kernel sees it.
pub fn check_link_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| Err(NetlinkError::Invalid { what: format!("link name {name:?}"), reason: reason.into() });
    if name.is_empty() {
        return invalid("empty");
    }
    if name.len() > MAX_LINK_NAME {
        return invalid("longer than 15 bytes (IFNAMSIZ)");
    }
    if name == "." || name == ".." || name.contains(['/', ':', '\0']) || name.chars().any(char::is_whitespace) {
        return invalid("not a valid interface name");
    }
    Ok(())
}
