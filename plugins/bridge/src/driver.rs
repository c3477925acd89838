//! The bridge driver's operations over a host ([`Kv`] + [`HostNet`]): read and write the
//! driver's state, then answer with the plan from [`crate::plan`] or [`crate::ports`].
//! `lib.rs` calls these with the real host; the tests below with a fake one.

use hostctl_netkit::host::{HostNet, Kv};
use hostctl_netkit::ipam::{self, Defaults};
use hostctl_netkit::names::{check_id, display_id};
use hostctl_netkit::store::{NetworkRecord, Store};
use hostctl_sdk::network::{Network, NetworkRequest, PortRequest, Step};
use hostctl_sdk::{Error, ErrorKind, Result};

use crate::config::BridgeConfig;
use crate::{plan, ports};

type Record = NetworkRecord<BridgeConfig>;

/// Create network `request.id`: its bridge's name and MTU, its IPAM, the plan bringing
/// the bridge up.
pub fn create_network<H: Kv + HostNet>(host: &H, request: &NetworkRequest) -> Result<Network> {
    let id = &request.id;
    check_id("network", id)?;
    let store = Store::new(host);
    if store.network::<BridgeConfig>(id)?.is_some() {
        return Err(Error::new(ErrorKind::AlreadyExists, format!("network {} exists already", display_id(id))));
    }
    let config = BridgeConfig::from_options(id, &request.options)?;
    let held: Vec<(String, Record)> = store.networks()?;
    if let Some((_, other)) = held.iter().find(|(_, n)| n.driver.bridge == config.bridge) {
        return Err(Error::new(ErrorKind::AlreadyExists, format!("bridge {}: network {:?} uses it already", config.bridge, other.name)));
    }
    if host.link(&config.bridge)?.is_some() {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!("bridge {}: a link of that name exists on the host already", config.bridge),
        ));
    }
    let subnets: Vec<_> = held.iter().map(|(_, n)| (n.name.clone(), n.ipam.subnet)).collect();
    let ipam = ipam::resolve(&request.name, &request.ipam, &subnets, host, Defaults { gateway: true })?;
    let plan = plan::create_network(&config, ipam.subnet, ipam.gateway);
    let options = config.resolved_options();
    store.put_network(id, &Record { name: request.name.clone(), ipam, driver: config })?;
    Ok(Network { subnet: ipam.subnet.to_string(), gateway: ipam.gateway.map(|g| g.to_string()), options, plan })
}

/// Forget network `id` (with any endpoints still recorded) and plan its teardown.
pub fn delete_network<K: Kv>(kv: &K, id: &str) -> Result<Vec<Step>> {
    check_id("network", id)?;
    let store = Store::new(kv);
    let record: Record = store.require_network(id)?;
    let endpoints: Vec<String> = store.endpoints(id)?.into_iter().map(|(e, _)| e).collect();
    store.remove_network(id)?;
    Ok(plan::delete_network(&record.driver, &endpoints))
}

/// Plan connecting endpoint `endpoint` of `network` into its sandbox.
pub fn join<K: Kv>(kv: &K, network: &str, endpoint: &str) -> Result<Vec<Step>> {
    let (record, cidr): (Record, String) = hostctl_netkit::endpoint::joining(kv, network, endpoint)?;
    Ok(plan::join(&record.driver, endpoint, &cidr, record.ipam.gateway))
}

/// Plan disconnecting the endpoint: the same plan whether or not it is still recorded
/// (deleting a missing link is fine), so a leave can be retried after a crash.
pub fn leave(network: &str, endpoint: &str) -> Result<Vec<Step>> {
    check_id("network", network)?;
    check_id("endpoint", endpoint)?;
    Ok(plan::leave(endpoint))
}

/// Plan publishing `requests` of the endpoint, and record them.
pub fn program_external_connectivity<K: Kv>(kv: &K, network: &str, endpoint: &str, requests: &[PortRequest]) -> Result<Vec<Step>> {
    check_id("network", network)?;
    check_id("endpoint", endpoint)?;
    let store = Store::new(kv);
    store.require_network::<BridgeConfig>(network)?;
    let ip = store.require_endpoint(network, endpoint)?;
    let wanted = requests.iter().map(|r| ports::resolve(r, ip)).collect::<Result<Vec<_>>>()?;
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let fresh = ports::new_ports(network, endpoint, wanted, &store.all_ports()?)?;
    if !fresh.is_empty() {
        let mut recorded = store.ports(network, endpoint)?;
        recorded.extend(fresh.iter().cloned());
        store.put_ports(network, endpoint, &recorded)?;
    }
    Ok(ports::publish(&fresh))
}

/// Plan withdrawing every port published for the endpoint, and forget them (nothing
/// recorded: an empty plan).
pub fn revoke_external_connectivity<K: Kv>(kv: &K, network: &str, endpoint: &str) -> Result<Vec<Step>> {
    check_id("network", network)?;
    check_id("endpoint", endpoint)?;
    let store = Store::new(kv);
    let published = store.ports(network, endpoint)?;
    store.put_ports(network, endpoint, &[])?;
    Ok(ports::unpublish(&published))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostctl_netkit::endpoint;
    use hostctl_netkit::host::{FakeHost, link};
    use hostctl_netkit::plan::describe_all;
    use hostctl_sdk::network::IpamRequest;

    const N1: &str = "aaaa000011112222333344445555666677778888999900001111222233334444";
    const N2: &str = "bbbb000011112222333344445555666677778888999900001111222233334444";
    const E1: &str = "e1e1e1e100000000000000000000000000000000000000000000000000000000";
    const E2: &str = "e2e2e2e200000000000000000000000000000000000000000000000000000000";

    fn request(id: &str, name: &str, subnet: Option<&str>, options: &[(&str, &str)]) -> NetworkRequest {
        NetworkRequest {
            id: id.into(),
            name: name.into(),
            options: options.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            ipam: IpamRequest { subnet: subnet.map(Into::into), gateway: None, ip_range: None },
        }
    }

    fn port(host_port: u16, container_port: u16) -> PortRequest {
        PortRequest { protocol: "tcp".into(), host_ip: None, host_port, container_port }
    }

    #[test]
    fn a_network_lives_from_create_to_delete() {
        let host = FakeHost::vm();
        let net = create_network(&host, &request(N1, "web", None, &[])).unwrap();
        assert_eq!((net.subnet.as_str(), net.gateway.as_deref()), ("172.18.0.0/16", Some("172.18.0.1")));
        assert_eq!(net.options, [("com.docker.network.bridge.name".to_owned(), "hc-br-aaaa0000".to_owned())]);
        assert_eq!(
            describe_all(&net.plan),
            ["create-link hc-br-aaaa0000 bridge", "add-address 172.18.0.1/16 dev hc-br-aaaa0000 (host)", "link-up hc-br-aaaa0000 (host)"]
        );
        let store = Store::new(&host);
        let e1 = endpoint::create(&store, N1, E1, None, &[]).unwrap();
        assert_eq!(e1.address, "172.18.0.2/16");
        assert_eq!(describe_all(&join(&host, N1, E1).unwrap())[4], "add-address 172.18.0.2/16 dev eth0 (sandbox)");
        let published = program_external_connectivity(&host, N1, E1, &[port(8080, 80)]).unwrap();
        assert_eq!(describe_all(&published), ["publish-port tcp 0.0.0.0:8080 -> 172.18.0.2:80"]);
        let revoked = revoke_external_connectivity(&host, N1, E1).unwrap();
        assert_eq!(describe_all(&revoked), ["unpublish-port tcp 0.0.0.0:8080 -> 172.18.0.2:80"]);
        assert!(revoke_external_connectivity(&host, N1, E1).unwrap().is_empty(), "revoked once");
        assert_eq!(describe_all(&leave(N1, E1).unwrap()), ["delete-link hcve1e1e1e1"]);
        endpoint::delete(&store, N1, E1).unwrap();
        assert_eq!(describe_all(&delete_network(&host, N1).unwrap()), ["delete-link hc-br-aaaa0000"]);
        assert!(host.keys_held().is_empty(), "{:?}", host.keys_held());
        assert_eq!(delete_network(&host, N1).unwrap_err().kind, ErrorKind::NotFound);
    }

    #[test]
    fn second_network_takes_the_next_free_subnet_and_its_own_bridge() {
        let host = FakeHost::vm();
        create_network(&host, &request(N1, "web", None, &[])).unwrap();
        let second = create_network(&host, &request(N2, "db", None, &[])).unwrap();
        assert_eq!(second.subnet, "172.19.0.0/16");
        assert_eq!(create_network(&host, &request(N2, "db", None, &[])).unwrap_err().kind, ErrorKind::AlreadyExists);
    }

    #[test]
    fn the_default_network_may_come_with_its_subnet() {
        let host = FakeHost::vm();
        let net = create_network(&host, &request(N1, "bridge", Some("192.168.200.0/24"), &[("bridge_name", "hc0")])).unwrap_err();
        assert!(net.message.contains("hc-"), "hc0 is outside the grant: {}", net.message);
        let net = create_network(&host, &request(N1, "bridge", Some("192.168.200.0/24"), &[("bridge_name", "hc-0")])).unwrap();
        assert_eq!((net.subnet.as_str(), net.gateway.as_deref()), ("192.168.200.0/24", Some("192.168.200.1")));
        let err = create_network(&host, &request(N2, "other", Some("192.168.0.0/16"), &[])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists, "{}", err.message);
    }

    #[test]
    fn bridge_names_in_use_are_refused() {
        let mut host = FakeHost::vm();
        host.links.push(link("hc-taken", "bridge", &[]));
        let err = create_network(&host, &request(N1, "web", None, &[("bridge_name", "hc-taken")])).unwrap_err();
        assert!(err.message.contains("exists on the host"), "{}", err.message);
        create_network(&host, &request(N1, "web", None, &[("bridge_name", "hc-web")])).unwrap();
        let err = create_network(&host, &request(N2, "web2", None, &[("bridge_name", "hc-web")])).unwrap_err();
        assert!(err.message.contains("network \"web\" uses it"), "{}", err.message);
        assert!(host.keys_held().iter().all(|k| !k.contains(N2)), "a refused network leaves nothing");
    }

    #[test]
    fn deleting_a_network_with_endpoints_left_deletes_their_veths_too() {
        let host = FakeHost::vm();
        create_network(&host, &request(N1, "web", Some("10.9.0.0/24"), &[])).unwrap();
        let store = Store::new(&host);
        endpoint::create(&store, N1, E1, None, &[]).unwrap();
        endpoint::create(&store, N1, E2, None, &[]).unwrap();
        let plan = delete_network(&host, N1).unwrap();
        assert_eq!(describe_all(&plan), ["delete-link hcve1e1e1e1", "delete-link hcve2e2e2e2", "delete-link hc-br-aaaa0000"]);
        assert!(host.keys_held().is_empty());
    }

    #[test]
    fn ports_are_checked_across_endpoints_and_block_deleting_their_endpoint() {
        let host = FakeHost::vm();
        create_network(&host, &request(N1, "web", None, &[])).unwrap();
        create_network(&host, &request(N2, "db", None, &[])).unwrap();
        let store = Store::new(&host);
        endpoint::create(&store, N1, E1, None, &[]).unwrap();
        endpoint::create(&store, N2, E2, None, &[]).unwrap();
        program_external_connectivity(&host, N1, E1, &[port(8080, 80)]).unwrap();
        let err = program_external_connectivity(&host, N2, E2, &[port(8080, 80)]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
        assert!(program_external_connectivity(&host, N1, E1, &[port(8080, 80)]).unwrap().is_empty(), "asked twice");
        assert_eq!(endpoint::delete(&store, N1, E1).unwrap_err().kind, ErrorKind::AlreadyExists);
        let err = program_external_connectivity(&host, N1, "nobody", &[port(9090, 80)]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
    }

    #[test]
    fn joining_needs_a_known_network_and_endpoint() {
        let host = FakeHost::vm();
        assert_eq!(join(&host, N1, E1).unwrap_err().kind, ErrorKind::NotFound);
        create_network(&host, &request(N1, "web", None, &[])).unwrap();
        assert_eq!(join(&host, N1, E1).unwrap_err().kind, ErrorKind::NotFound);
        assert_eq!(join(&host, N1, "../x").unwrap_err().kind, ErrorKind::InvalidArgument);
    }
}
