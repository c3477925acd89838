//! The macvlan driver's operations over a host ([`Kv`] + [`HostNet`]): check the parent,
//! keep the driver's state, answer with the plans of [`crate::plan`]. `lib.rs` calls
//! these with the real host; the tests below with a fake one.

use std::net::Ipv4Addr;

use hostctl_netkit::endpoint;
use hostctl_netkit::host::{HostNet, Kv};
use hostctl_netkit::ipam::{self, Defaults};
use hostctl_netkit::names::{check_id, display_id, short_id};
use hostctl_netkit::store::{NetworkRecord, Store};
use hostctl_sdk::network::{Endpoint, Network, NetworkRequest, PortRequest, Step};
use hostctl_sdk::{Error, ErrorKind, Result};

use crate::config::{MacvlanConfig, Mode};
use crate::plan;

type Record = NetworkRecord<MacvlanConfig>;

/// Create network `request.id` on its parent: check the parent, resolve the IPAM (no
/// gateway unless one is given), plan nothing.
pub fn create_network<H: Kv + HostNet>(host: &H, request: &NetworkRequest) -> Result<Network> {
    let id = &request.id;
    check_id("network", id)?;
    let store = Store::new(host);
    if store.network::<MacvlanConfig>(id)?.is_some() {
        return Err(Error::new(ErrorKind::AlreadyExists, format!("network {} exists already", display_id(id))));
    }
    let config = MacvlanConfig::from_options(&request.options)?;
    let held: Vec<(String, Record)> = store.networks()?;
    if let Some((_, other)) = held.iter().find(|(_, n)| n.driver.parent == config.parent) {
        return Err(Error::new(ErrorKind::AlreadyExists, format!("parent {}: network {:?} uses it already", config.parent, other.name)));
    }
    if host.link(&config.parent)?.is_none() {
        let vlan = if config.parent.contains('.') { " (this driver does not create 802.1q links: create it first)" } else { "" };
        return Err(Error::not_found(format!("parent {}: no such link on the host{vlan}", config.parent)));
    }
    let subnets: Vec<_> = held.iter().map(|(_, n)| (n.name.clone(), n.ipam.subnet)).collect();
    let ipam = ipam::resolve(&request.name, &request.ipam, &subnets, host, Defaults { gateway: false })?;
    let options = config.resolved_options();
    store.put_network(id, &Record { name: request.name.clone(), ipam, driver: config })?;
    Ok(Network { subnet: ipam.subnet.to_string(), gateway: ipam.gateway.map(|g| g.to_string()), options, plan: Vec::new() })
}

/// Forget network `id` (with any endpoints still recorded) and plan its teardown.
pub fn delete_network<K: Kv>(kv: &K, id: &str) -> Result<Vec<Step>> {
    check_id("network", id)?;
    let store = Store::new(kv);
    store.require_network::<MacvlanConfig>(id)?;
    let endpoints: Vec<String> = store.endpoints(id)?.into_iter().map(|(e, _)| e).collect();
    store.remove_network(id)?;
    Ok(plan::delete_network(&endpoints))
}

/// Allocate the endpoint's address, never the parent's own address on the LAN (the
/// host's IPv4 addresses on the parent, asked of the host: Docker would hand it out and
/// leave two machines answering for it). A passthru network takes one endpoint only
/// (the kernel lets one macvlan take over a parent in that mode).
pub fn create_endpoint<H: Kv + HostNet>(host: &H, network: &str, endpoint: &str, address: Option<&str>) -> Result<Endpoint> {
    check_id("network", network)?;
    let store = Store::new(host);
    let record: Record = store.require_network(network)?;
    if record.driver.mode == Mode::Passthru
        && let Some((holder, _)) = store.endpoints(network)?.into_iter().find(|(e, _)| e != endpoint)
    {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "network {:?} is in passthru mode: parent {} takes one endpoint, and endpoint {} has it",
                record.name,
                record.driver.parent,
                short_id(&holder)
            ),
        ));
    }
    let parent = &record.driver.parent;
    let parent = host.link(parent)?.ok_or_else(|| Error::not_found(format!("parent {parent}: no such link on the host")))?;
    let subnet = record.ipam.subnet;
    let on_parent: Vec<Ipv4Addr> = parent
        .addresses
        .iter()
        .filter_map(|a| a.split_once('/').and_then(|(ip, _)| ip.parse().ok()))
        .filter(|ip| subnet.contains(*ip))
        .collect();
    endpoint::create(&store, network, endpoint, address, &on_parent)
}

/// Plan putting endpoint `endpoint` of `network` into its sandbox.
pub fn join<K: Kv>(kv: &K, network: &str, endpoint: &str) -> Result<Vec<Step>> {
    let (record, cidr): (Record, String) = hostctl_netkit::endpoint::joining(kv, network, endpoint)?;
    Ok(plan::join(&record.driver, endpoint, &cidr, record.ipam.gateway))
}

/// Plan disconnecting the endpoint (the same plan whether or not it is still recorded).
pub fn leave(network: &str, endpoint: &str) -> Result<Vec<Step>> {
    check_id("network", network)?;
    check_id("endpoint", endpoint)?;
    Ok(plan::leave(endpoint))
}

/// Nothing to publish: a macvlan container is reached at its own address. Asking for
/// ports is an error rather than a silent no-op.
pub fn program_external_connectivity(network: &str, endpoint: &str, ports: &[PortRequest]) -> Result<Vec<Step>> {
    check_id("network", network)?;
    check_id("endpoint", endpoint)?;
    match ports.first() {
        None => Ok(Vec::new()),
        Some(p) => Err(Error::invalid(format!(
            "port {}:{}/{}: macvlan publishes no ports; reach the container at its own address",
            p.host_port, p.container_port, p.protocol
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostctl_netkit::host::{FakeHost, link};
    use hostctl_netkit::plan::describe_all;
    use hostctl_sdk::network::IpamRequest;

    const N1: &str = "aaaa000011112222333344445555666677778888999900001111222233334444";
    const N2: &str = "bbbb000011112222333344445555666677778888999900001111222233334444";
    const E1: &str = "e1e1e1e100000000000000000000000000000000000000000000000000000000";
    const E2: &str = "e2e2e2e200000000000000000000000000000000000000000000000000000000";

    fn host() -> FakeHost {
        let mut host = FakeHost::vm();
        host.links.push(link("veth-lan", "veth", &["192.168.50.2/24"]));
        host
    }

    fn request(id: &str, subnet: Option<&str>, gateway: Option<&str>, options: &[(&str, &str)]) -> NetworkRequest {
        NetworkRequest {
            id: id.into(),
            name: format!("lan-{}", &id[..4]),
            options: options.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            ipam: IpamRequest { subnet: subnet.map(Into::into), gateway: gateway.map(Into::into), ip_range: None },
        }
    }

    #[test]
    fn a_network_on_the_lan_lives_from_create_to_delete() {
        let host = host();
        let net = create_network(&host, &request(N1, Some("192.168.50.0/24"), Some("192.168.50.1"), &[("parent", "veth-lan")])).unwrap();
        assert!(net.plan.is_empty(), "the parent exists; nothing to create");
        assert_eq!((net.subnet.as_str(), net.gateway.as_deref()), ("192.168.50.0/24", Some("192.168.50.1")));
        assert_eq!(net.options[1], ("macvlan_mode".to_owned(), "bridge".to_owned()));
        let e1 = create_endpoint(&host, N1, E1, None).unwrap();
        assert_eq!(e1.address, "192.168.50.3/24", "not the gateway, not the parent's own 192.168.50.2");
        let err = create_endpoint(&host, N1, E2, Some("192.168.50.2")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
        let plan = join(&host, N1, E1).unwrap();
        assert_eq!(describe_all(&plan)[0], "create-link hcme1e1e1e1 macvlan parent veth-lan mode bridge");
        assert_eq!(describe_all(&plan)[4], "add-route default via 192.168.50.1 dev eth0 (sandbox)");
        assert_eq!(describe_all(&leave(N1, E1).unwrap()), ["delete-link hcme1e1e1e1"]);
        endpoint::delete(&Store::new(&host), N1, E1).unwrap();
        assert!(delete_network(&host, N1).unwrap().is_empty());
        assert!(host.keys_held().is_empty(), "{:?}", host.keys_held());
    }

    #[test]
    fn without_a_gateway_there_is_no_default_route() {
        let host = host();
        let net = create_network(&host, &request(N1, Some("192.168.50.0/24"), None, &[("parent", "veth-lan")])).unwrap();
        assert_eq!(net.gateway, None);
        let e1 = create_endpoint(&host, N1, E1, None).unwrap();
        assert_eq!((e1.address.as_str(), e1.gateway), ("192.168.50.1/24", None), "no gateway holds .1");
        assert!(!describe_all(&join(&host, N1, E1).unwrap()).iter().any(|s| s.starts_with("add-route")));
    }

    #[test]
    fn without_a_subnet_one_is_chosen_as_the_bridge_driver_does() {
        let host = host();
        let net = create_network(&host, &request(N1, None, None, &[("parent", "veth-lan")])).unwrap();
        assert_eq!((net.subnet.as_str(), net.gateway), ("172.18.0.0/16", None));
    }

    #[test]
    fn parents_must_exist_and_serve_one_network() {
        let host = host();
        let err = create_network(&host, &request(N1, None, None, &[])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        let err = create_network(&host, &request(N1, None, None, &[("parent", "eth9")])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        let err = create_network(&host, &request(N1, None, None, &[("parent", "eth0.10")])).unwrap_err();
        assert!(err.message.contains("802.1q"), "{}", err.message);
        create_network(&host, &request(N1, None, None, &[("parent", "veth-lan")])).unwrap();
        let err = create_network(&host, &request(N2, None, None, &[("parent", "veth-lan")])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
        assert!(host.keys_held().iter().all(|k| !k.contains(N2)));
    }

    #[test]
    fn passthru_networks_take_one_endpoint() {
        let host = host();
        create_network(&host, &request(N1, Some("10.9.0.0/24"), None, &[("parent", "veth-lan"), ("macvlan_mode", "passthru")])).unwrap();
        create_endpoint(&host, N1, E1, None).unwrap();
        let err = create_endpoint(&host, N1, E2, None).unwrap_err();
        assert!(err.message.contains("passthru"), "{}", err.message);
        endpoint::delete(&Store::new(&host), N1, E1).unwrap();
        create_endpoint(&host, N1, E2, None).unwrap();
    }

    #[test]
    fn ports_are_refused_not_ignored() {
        assert!(program_external_connectivity(N1, E1, &[]).unwrap().is_empty());
        let p = PortRequest { protocol: "tcp".into(), host_ip: None, host_port: 8080, container_port: 80 };
        let err = program_external_connectivity(N1, E1, &[p]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains("own address"), "{}", err.message);
    }
}
