//! Published ports (`-p [host-ip:]host-port:container-port[/protocol]`): the checks
//! Docker's port mapper makes before it binds (protocol tcp or udp, IPv4 host address,
//! 0.0.0.0 by default, no host port 0, no binding another endpoint holds) and the
//! publish/unpublish steps. What was published is recorded per endpoint, so revoking
//! withdraws exactly that.

use std::net::Ipv4Addr;

use hostctl_netkit::ipv4::parse_addr;
use hostctl_netkit::names::short_id;
use hostctl_netkit::store::PublishedPort;
use hostctl_sdk::network::{PortRequest, Step};
use hostctl_sdk::{Error, ErrorKind, Result};

/// One endpoint's published ports, as recorded: (network id, endpoint id, ports).
pub type Published = (String, String, Vec<PublishedPort>);

/// The port `request` asks for, published to `container_ip`.
pub fn resolve(request: &PortRequest, container_ip: Ipv4Addr) -> Result<PublishedPort> {
    let protocol = request.protocol.to_ascii_lowercase();
    if protocol != "tcp" && protocol != "udp" {
        return Err(Error::invalid(format!("port {}/{}: the protocol must be tcp or udp", request.container_port, request.protocol)));
    }
    let host_ip = match request.host_ip.as_deref() {
        None | Some("") => Ipv4Addr::UNSPECIFIED,
        Some(text) => parse_addr("host ip", text)?,
    };
    if request.host_port == 0 || request.container_port == 0 {
        return Err(Error::invalid(format!(
            "port {}:{}/{protocol}: ports run from 1 to 65535 (a host port must be given)",
            request.host_port, request.container_port
        )));
    }
    Ok(PublishedPort { protocol, host_ip, host_port: request.host_port, container_ip, container_port: request.container_port })
}

/// Whether `a` and `b` want the same host socket (0.0.0.0 takes every address).
fn clash(a: &PublishedPort, b: &PublishedPort) -> bool {
    a.protocol == b.protocol
        && a.host_port == b.host_port
        && (a.host_ip == b.host_ip || a.host_ip.is_unspecified() || b.host_ip.is_unspecified())
}

fn describe(p: &PublishedPort) -> String {
    format!("{} {}:{}", p.protocol, p.host_ip, p.host_port)
}

/// Of `wanted` for endpoint (`network`, `endpoint`), the ports not published yet, after
/// checking that none clashes with another in `wanted`, with a port `published` for
/// another endpoint, or with a different mapping of this endpoint's. A port this
/// endpoint publishes already, identically, is skipped (asking twice is harmless).
pub fn new_ports(network: &str, endpoint: &str, wanted: Vec<PublishedPort>, published: &[Published]) -> Result<Vec<PublishedPort>> {
    let mut fresh: Vec<PublishedPort> = Vec::new();
    for port in wanted {
        if fresh.contains(&port) {
            continue;
        }
        if let Some(other) = fresh.iter().find(|f| clash(f, &port)) {
            return Err(Error::invalid(format!(
                "port {} is asked for twice ({} and {})",
                describe(&port),
                other.container_port,
                port.container_port
            )));
        }
        let mut already = false;
        for (n, e, ports) in published {
            let mine = n == network && e == endpoint;
            for p in ports.iter().filter(|p| clash(p, &port)) {
                if mine && *p == port {
                    already = true;
                    continue;
                }
                let holder = if mine { "this endpoint".to_owned() } else { format!("endpoint {} of network {}", short_id(e), short_id(n)) };
                return Err(Error::new(ErrorKind::AlreadyExists, format!("port {} is already published, by {holder}", describe(p))));
            }
        }
        if !already {
            fresh.push(port);
        }
    }
    Ok(fresh)
}

/// The steps publishing `ports`.
pub fn publish(ports: &[PublishedPort]) -> Vec<Step> {
    ports.iter().map(|p| Step::PublishPort(p.to_port())).collect()
}

/// The steps withdrawing `ports`, last published first.
pub fn unpublish(ports: &[PublishedPort]) -> Vec<Step> {
    ports.iter().rev().map(|p| Step::UnpublishPort(p.to_port())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostctl_netkit::plan::describe_all;

    const IP: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 2);

    fn request(protocol: &str, host_ip: Option<&str>, host_port: u16, container_port: u16) -> PortRequest {
        PortRequest { protocol: protocol.into(), host_ip: host_ip.map(Into::into), host_port, container_port }
    }

    fn port(host_ip: &str, host_port: u16, container_port: u16) -> PublishedPort {
        resolve(&request("tcp", Some(host_ip), host_port, container_port), IP).unwrap()
    }

    #[test]
    fn requests_resolve_with_dockers_defaults() {
        let p = resolve(&request("TCP", None, 8080, 80), IP).unwrap();
        assert_eq!(describe_all(&publish(&[p])), ["publish-port tcp 0.0.0.0:8080 -> 172.18.0.2:80"]);
        let p = resolve(&request("udp", Some("127.0.0.1"), 5353, 53), IP).unwrap();
        assert_eq!((p.host_ip, p.protocol.as_str()), (Ipv4Addr::LOCALHOST, "udp"));
        for bad in [request("sctp", None, 1, 1), request("tcp", Some("::"), 1, 1), request("tcp", None, 0, 80), request("tcp", None, 80, 0)]
        {
            assert_eq!(resolve(&bad, IP).unwrap_err().kind, ErrorKind::InvalidArgument, "{bad:?}");
        }
    }

    #[test]
    fn clashing_bindings_are_refused() {
        let theirs: Vec<Published> = vec![("n1".into(), "e9".into(), vec![port("127.0.0.1", 8080, 80)])];
        let err = new_ports("n1", "e1", vec![port("0.0.0.0", 8080, 80)], &theirs).unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
        assert!(err.message.contains("tcp 127.0.0.1:8080"), "{}", err.message);
        // Another address, or another protocol, is another socket.
        new_ports("n1", "e1", vec![port("10.0.2.15", 8080, 80)], &theirs).unwrap();
        let udp = resolve(&request("udp", None, 8080, 80), IP).unwrap();
        new_ports("n1", "e1", vec![udp], &theirs).unwrap();
        let err = new_ports("n1", "e1", vec![port("0.0.0.0", 81, 80), port("0.0.0.0", 81, 90)], &[]).unwrap_err();
        assert!(err.message.contains("twice"), "{}", err.message);
    }

    #[test]
    fn asking_again_for_a_published_port_plans_nothing_more() {
        let mine: Vec<Published> = vec![("n1".into(), "e1".into(), vec![port("0.0.0.0", 8080, 80)])];
        let fresh =
            new_ports("n1", "e1", vec![port("0.0.0.0", 8080, 80), port("0.0.0.0", 8443, 443), port("0.0.0.0", 8443, 443)], &mine).unwrap();
        assert_eq!(fresh, vec![port("0.0.0.0", 8443, 443)]);
        let err = new_ports("n1", "e1", vec![port("0.0.0.0", 8080, 81)], &mine).unwrap_err();
        assert!(err.message.contains("this endpoint"), "{}", err.message);
    }

    #[test]
    fn unpublishing_reverses_publishing() {
        let ports = [port("0.0.0.0", 8080, 80), port("127.0.0.1", 8443, 443)];
        assert_eq!(
            describe_all(&unpublish(&ports)),
            ["unpublish-port tcp 127.0.0.1:8443 -> 172.18.0.2:443", "unpublish-port tcp 0.0.0.0:8080 -> 172.18.0.2:80"]
        );
    }
}
