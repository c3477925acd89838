//! Published ports (`-p host-port:container-port`), as Docker's userland proxy
//! (`docker-proxy`) publishes them: one forwarder per port, on the daemon's runtime,
//! listening on `host_ip:host_port` and relaying to `container_ip:container_port`.
//! TCP is relayed connection by connection (half-closes passed on); UDP datagram by
//! datagram, with one flow per client address, ended after [`UDP_FLOW_IDLE`] without
//! traffic either way (docker-proxy's conntrack timeout).
//!
//! [`PortProxy`] is the plugin runtime's [`PortPublisher`]: the runtime calls it while it
//! executes a network plan's `publish-port` and `unpublish-port` steps, from a blocking
//! thread. `publish` binds the socket there and then, so an address in use fails the
//! step (and the plan rolls back) instead of failing later in a task; `unpublish` stops
//! the forwarder and every connection it carries. Publishing the same port to the same
//! container again is a no-op (a daemon re-applying its state); to another container it
//! is `AddrInUse`.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hostctl_plugin_runtime::PortPublisher;
use hostctl_plugin_runtime::network::Port;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// How long a UDP flow lives without a datagram either way.
pub const UDP_FLOW_IDLE: Duration = Duration::from_secs(90);
/// How many UDP clients one published port serves at once.
const UDP_MAX_FLOWS: usize = 1024;
/// How long connecting to the container may take before the client is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What identifies a published port on the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HostPort {
    protocol: Protocol,
    address: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Protocol {
    Tcp,
    Udp,
}

/// One running forwarder.
#[derive(Debug)]
struct Forwarder {
    target: SocketAddr,
    task: JoinHandle<()>,
}

/// The userland proxy of every published port; see the module docs.
#[derive(Debug)]
pub struct PortProxy {
    runtime: tokio::runtime::Handle,
    forwarders: Mutex<HashMap<HostPort, Forwarder>>,
}

impl PortProxy {
    /// A proxy whose forwarders run on `runtime` (the daemon's).
    pub fn new(runtime: tokio::runtime::Handle) -> Self {
        PortProxy { runtime, forwarders: Mutex::new(HashMap::new()) }
    }

    /// What is published: protocol ("tcp", "udp"), host address, container address.
    pub fn published(&self) -> Vec<(&'static str, SocketAddr, SocketAddr)> {
        let forwarders = self.forwarders.lock().expect("port proxy lock");
        let mut all: Vec<_> = forwarders.iter().map(|(k, f)| (protocol_name(k.protocol), k.address, f.target)).collect();
        all.sort();
        all
    }
}

impl Drop for PortProxy {
    fn drop(&mut self) {
        if let Ok(forwarders) = self.forwarders.get_mut() {
            for (_, f) in forwarders.drain() {
                f.task.abort();
            }
        }
    }
}

impl PortPublisher for PortProxy {
    fn publish(&self, port: &Port) -> io::Result<()> {
        let (host, target) = addresses(port)?;
        let mut forwarders = self.forwarders.lock().expect("port proxy lock");
        if let Some(existing) = forwarders.get(&host) {
            if existing.target == target {
                return Ok(());
            }
            let what = format!("{} {} is published already, to {}", protocol_name(host.protocol), host.address, existing.target);
            return Err(io::Error::new(io::ErrorKind::AddrInUse, what));
        }
        let _runtime = self.runtime.enter();
        let bind_failed = |e: io::Error| io::Error::new(e.kind(), format!("bind {} {}: {}", protocol_name(host.protocol), host.address, lower(&e)));
        let task = match host.protocol {
            Protocol::Tcp => {
                let listener = std::net::TcpListener::bind(host.address).map_err(bind_failed)?;
                listener.set_nonblocking(true)?;
                self.runtime.spawn(serve_tcp(TcpListener::from_std(listener)?, target))
            }
            Protocol::Udp => {
                let socket = std::net::UdpSocket::bind(host.address).map_err(bind_failed)?;
                socket.set_nonblocking(true)?;
                self.runtime.spawn(serve_udp(Arc::new(UdpSocket::from_std(socket)?), target))
            }
        };
        tracing::info!("published {} {} to {target}", protocol_name(host.protocol), host.address);
        forwarders.insert(host, Forwarder { target, task });
        Ok(())
    }

    fn unpublish(&self, port: &Port) {
        let Ok((host, _)) = addresses(port) else { return };
        if let Some(f) = self.forwarders.lock().expect("port proxy lock").remove(&host) {
            f.task.abort();
            tracing::info!("unpublished {} {}", protocol_name(host.protocol), host.address);
        }
    }
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// The host side and the container side of `port`.
fn addresses(port: &Port) -> io::Result<(HostPort, SocketAddr)> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let protocol = match port.protocol.as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        other => return Err(invalid(format!("protocol {other:?}: expected tcp or udp"))),
    };
    let host_ip: IpAddr = port.host_ip.parse().map_err(|_| invalid(format!("host ip {:?}: not an IP address", port.host_ip)))?;
    let container_ip: IpAddr =
        port.container_ip.parse().map_err(|_| invalid(format!("container ip {:?}: not an IP address", port.container_ip)))?;
    Ok((HostPort { protocol, address: SocketAddr::new(host_ip, port.host_port) }, SocketAddr::new(container_ip, port.container_port)))
}

/// An I/O error's text without the errno number, lower case.
fn lower(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.find(" (os error").map_or(text.as_str(), |at| &text[..at]);
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// Accept connections on `listener` and relay each to `target`. Aborting this task
/// aborts every connection it relays (they live in its `JoinSet`).
async fn serve_tcp(listener: TcpListener, target: SocketAddr) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    connections.spawn(relay_tcp(client, target));
                }
                Err(e) => {
                    // Out of descriptors, say: back off instead of spinning.
                    tracing::warn!("port proxy to {target}: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn relay_tcp(mut client: TcpStream, target: SocketAddr) {
    let upstream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(e)) => return tracing::debug!("port proxy: connecting to {target}: {e}"),
        Err(_) => return tracing::debug!("port proxy: connecting to {target}: timed out"),
    };
    let mut upstream = upstream;
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!("port proxy to {target}: {e}");
    }
}

/// One UDP client's flow: a socket connected to the container, and when it last carried
/// a datagram (milliseconds since the forwarder started).
struct Flow {
    upstream: Arc<UdpSocket>,
    last: Arc<AtomicU64>,
}

/// Relay datagrams from clients of `socket` to `target` and the answers back.
async fn serve_udp(socket: Arc<UdpSocket>, target: SocketAddr) {
    let started = Instant::now();
    let now = move || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut ended: JoinSet<SocketAddr> = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let Ok((n, client)) = received else { continue };
                if !flows.contains_key(&client) {
                    if flows.len() >= UDP_MAX_FLOWS {
                        continue;
                    }
                    let Ok(upstream) = connect_udp(target).await else { continue };
                    let flow = Flow { upstream: Arc::new(upstream), last: Arc::new(AtomicU64::new(now())) };
                    ended.spawn(udp_answers(flow.upstream.clone(), socket.clone(), client, flow.last.clone(), now));
                    flows.insert(client, flow);
                }
                let flow = &flows[&client];
                flow.last.store(now(), Ordering::Relaxed);
                let _ = flow.upstream.send(&buf[..n]).await;
            }
            Some(Ok(client)) = ended.join_next(), if !ended.is_empty() => {
                flows.remove(&client);
            }
        }
    }
}

async fn connect_udp(target: SocketAddr) -> io::Result<UdpSocket> {
    let any = if target.is_ipv4() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::V6(Ipv6Addr::UNSPECIFIED) };
    let upstream = UdpSocket::bind(SocketAddr::new(any, 0)).await?;
    upstream.connect(target).await?;
    Ok(upstream)
}

/// Send the container's answers on `upstream` back to `client` until the flow has been
/// idle for [`UDP_FLOW_IDLE`]; returns the client, whose flow then ends.
async fn udp_answers(upstream: Arc<UdpSocket>, socket: Arc<UdpSocket>, client: SocketAddr, last: Arc<AtomicU64>, now: impl Fn() -> u64) -> SocketAddr {
    let idle_ms = u64::try_from(UDP_FLOW_IDLE.as_millis()).unwrap_or(u64::MAX);
    let mut buf = vec![0u8; 65535];
    loop {
        let quiet = now().saturating_sub(last.load(Ordering::Relaxed));
        if quiet >= idle_ms {
            return client;
        }
        match tokio::time::timeout(Duration::from_millis(idle_ms - quiet), upstream.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                last.store(now(), Ordering::Relaxed);
                let _ = socket.send_to(&buf[..n], client).await;
            }
            // ICMP port unreachable from the container shows up here: not the flow's end.
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn port(protocol: &str, host_port: u16, container_port: u16) -> Port {
        Port {
            protocol: protocol.into(),
            host_ip: "127.0.0.1".into(),
            host_port,
            container_ip: "127.0.0.1".into(),
            container_port,
        }
    }

    /// A free loopback port (bound and released; the test binds it again at once).
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    /// A TCP "container" on loopback that answers each connection with "echo: " and what
    /// it read until the client's half-close.
    async fn tcp_echo() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    if s.read_to_end(&mut got).await.is_ok() {
                        let _ = s.write_all(b"echo: ").await;
                        let _ = s.write_all(&got).await;
                    }
                });
            }
        });
        port
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn published_tcp_port_relays_bytes_both_ways_until_unpublished() {
        let container = tcp_echo().await;
        let proxy = PortProxy::new(tokio::runtime::Handle::current());
        let host = free_port();
        let p = port("tcp", host, container);
        proxy.publish(&p).unwrap();
        proxy.publish(&p).unwrap();
        assert_eq!(proxy.published().len(), 1, "publishing the same port again is a no-op");

        let mut client = TcpStream::connect(("127.0.0.1", host)).await.unwrap();
        client.write_all(b"hello through the proxy").await.unwrap();
        client.shutdown().await.unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert_eq!(answer, "echo: hello through the proxy");

        let other = port("tcp", host, container + 1);
        let err = proxy.publish(&other).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");

        let mut open = TcpStream::connect(("127.0.0.1", host)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        proxy.unpublish(&p);
        proxy.unpublish(&p);
        assert!(proxy.published().is_empty());
        let mut rest = Vec::new();
        let cut = tokio::time::timeout(Duration::from_secs(5), open.read_to_end(&mut rest)).await.expect("the open connection ends");
        assert!(cut.is_err() || rest.is_empty(), "an open connection is cut on unpublish");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect(("127.0.0.1", host)).await.is_err(), "nothing listens after unpublish");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_port_in_use_is_addr_in_use() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = PortProxy::new(tokio::runtime::Handle::current());
        let err = proxy.publish(&port("tcp", taken.local_addr().unwrap().port(), 80)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains("address already in use"), "{err}");
        assert!(proxy.published().is_empty());
        let err = proxy.publish(&Port { protocol: "sctp".into(), ..port("tcp", 1, 1) }).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn published_udp_port_relays_datagrams_and_answers() {
        let container = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let container_port = container.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let (n, from) = container.recv_from(&mut buf).await.unwrap();
                let mut answer = b"echo: ".to_vec();
                answer.extend_from_slice(&buf[..n]);
                container.send_to(&answer, from).await.unwrap();
            }
        });
        let proxy = PortProxy::new(tokio::runtime::Handle::current());
        let host = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        proxy.publish(&port("udp", host, container_port)).unwrap();

        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(("127.0.0.1", host)).await.unwrap();
        let mut buf = [0u8; 1500];
        for word in ["one", "two"] {
            client.send(word.as_bytes()).await.unwrap();
            let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf)).await.expect("an answer").unwrap();
            assert_eq!(&buf[..n], format!("echo: {word}").as_bytes());
        }
        proxy.unpublish(&port("udp", host, container_port));
        assert!(proxy.published().is_empty());
    }
}
