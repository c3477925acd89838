//! Endpoints' addresses, the same for every driver built on this crate: `create-endpoint`
//! hands out the requested or the lowest free address of the network and records it;
//! `delete-endpoint` frees it, but not while ports are still published to it: the host
//! would go on forwarding them to an address the next endpoint may get.

use std::net::Ipv4Addr;

use hostctl_sdk::network::Endpoint;
use hostctl_sdk::{Error, ErrorKind, Result};
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::host::Kv;
use crate::ipam::parse_requested;
use crate::names::{check_id, display_id};
use crate::store::{NetworkRecord, Store};

/// Allocate endpoint `endpoint` of `network` an address (`requested` if given), never
/// one of `taken_elsewhere` (addresses the driver knows are used outside its records,
/// such as a macvlan parent's own address on the LAN).
pub fn create<K: Kv + ?Sized>(
    store: &Store<'_, K>,
    network: &str,
    endpoint: &str,
    requested: Option<&str>,
    taken_elsewhere: &[Ipv4Addr],
) -> Result<Endpoint> {
    check_id("network", network)?;
    check_id("endpoint", endpoint)?;
    // The driver's own part of the record is not needed here.
    let record: NetworkRecord<IgnoredAny> = store.require_network(network)?;
    if let Some(ip) = store.endpoint(network, endpoint)? {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!("endpoint {}: exists already in network {}, with {ip}", display_id(endpoint), display_id(network)),
        ));
    }
    let ipam = record.ipam;
    let mut used = store.used_addresses(network)?;
    used.extend(taken_elsewhere);
    let ip = match requested {
        Some(text) => {
            let ip = parse_requested(text, ipam.subnet)?;
            ipam.check_requested(ip, &used)?;
            ip
        }
        None => ipam.allocate(&used).map_err(|e| e.context(format!("network {:?}", record.name)))?,
    };
    store.put_endpoint(network, endpoint, ip)?;
    Ok(Endpoint { address: ipam.subnet.cidr_of(ip), gateway: ipam.gateway.map(|g| g.to_string()), mac: None })
}

/// What a join plan needs, the same for every driver: the network's record (with the
/// driver's part `D`) and the endpoint's address in CIDR form.
pub fn joining<D: DeserializeOwned, K: Kv + ?Sized>(kv: &K, network: &str, endpoint: &str) -> Result<(NetworkRecord<D>, String)> {
    check_id("network", network)?;
    check_id("endpoint", endpoint)?;
    let store = Store::new(kv);
    let record: NetworkRecord<D> = store.require_network(network)?;
    let ip = store.require_endpoint(network, endpoint)?;
    let cidr = record.ipam.subnet.cidr_of(ip);
    Ok((record, cidr))
}

/// Free endpoint `endpoint`'s address; not-found if the network holds no such endpoint,
/// a conflict (already-exists) while it still publishes ports.
pub fn delete<K: Kv + ?Sized>(store: &Store<'_, K>, network: &str, endpoint: &str) -> Result<()> {
    check_id("network", network)?;
    check_id("endpoint", endpoint)?;
    let ip = store.require_endpoint(network, endpoint)?;
    let ports = store.ports(network, endpoint)?;
    if let Some(port) = ports.first() {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "endpoint {} ({ip}) still publishes {} port(s), {} {}:{} among them: revoke external connectivity first",
                display_id(endpoint),
                ports.len(),
                port.protocol,
                port.host_ip,
                port.host_port
            ),
        ));
    }
    store.remove_endpoint(network, endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::FakeHost;
    use crate::ipam::Ipam;
    use crate::ipv4::Subnet;

    fn setup(range: Option<&str>) -> FakeHost {
        let host = FakeHost::default();
        let subnet = Subnet::parse("subnet", "10.9.0.0/24").unwrap();
        let range = range.map(|r| Subnet::parse("ip-range", r).unwrap());
        let record = NetworkRecord { name: "web".into(), ipam: Ipam { subnet, gateway: Some(subnet.first_host()), range }, driver: () };
        Store::new(&host).put_network("n1", &record).unwrap();
        host
    }

    fn create_on(host: &FakeHost, endpoint: &str, requested: Option<&str>) -> Result<Endpoint> {
        create(&Store::new(host), "n1", endpoint, requested, &[])
    }

    #[test]
    fn endpoints_get_lowest_free_addresses_and_give_them_back() {
        let host = setup(None);
        let e1 = create_on(&host, "e1", None).unwrap();
        assert_eq!((e1.address.as_str(), e1.gateway.as_deref(), e1.mac), ("10.9.0.2/24", Some("10.9.0.1"), None));
        assert_eq!(create_on(&host, "e2", None).unwrap().address, "10.9.0.3/24");
        delete(&Store::new(&host), "n1", "e1").unwrap();
        assert_eq!(create_on(&host, "e3", None).unwrap().address, "10.9.0.2/24", "freed addresses are reused");
        assert_eq!(delete(&Store::new(&host), "n1", "e1").unwrap_err().kind, ErrorKind::NotFound);
    }

    #[test]
    fn requested_addresses_are_honoured_once() {
        let host = setup(Some("10.9.0.128/25"));
        assert_eq!(create_on(&host, "e1", Some("10.9.0.9")).unwrap().address, "10.9.0.9/24");
        assert_eq!(create_on(&host, "e2", Some("10.9.0.9")).unwrap_err().kind, ErrorKind::AlreadyExists);
        assert_eq!(create_on(&host, "e2", Some("10.9.1.9")).unwrap_err().kind, ErrorKind::InvalidArgument);
        assert_eq!(create_on(&host, "e2", None).unwrap().address, "10.9.0.128/24", "dynamic ones come from the range");
    }

    #[test]
    fn addresses_taken_elsewhere_are_skipped_and_refused() {
        let host = setup(None);
        let elsewhere = [Ipv4Addr::new(10, 9, 0, 2)];
        assert_eq!(create(&Store::new(&host), "n1", "e1", None, &elsewhere).unwrap().address, "10.9.0.3/24");
        let err = create(&Store::new(&host), "n1", "e2", Some("10.9.0.2"), &elsewhere).unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
    }

    #[test]
    fn an_endpoint_publishing_ports_is_not_deleted() {
        let host = setup(None);
        create_on(&host, "e1", None).unwrap();
        let port = crate::store::PublishedPort {
            protocol: "tcp".into(),
            host_ip: std::net::Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_ip: std::net::Ipv4Addr::new(10, 9, 0, 2),
            container_port: 80,
        };
        let store = Store::new(&host);
        store.put_ports("n1", "e1", &[port]).unwrap();
        let err = delete(&store, "n1", "e1").unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
        assert!(err.message.contains("tcp 0.0.0.0:8080"), "{}", err.message);
        store.put_ports("n1", "e1", &[]).unwrap();
        delete(&store, "n1", "e1").unwrap();
    }

    #[test]
    fn unknown_networks_duplicate_endpoints_and_bad_ids_are_refused() {
        let host = setup(None);
        assert_eq!(create(&Store::new(&host), "n2", "e1", None, &[]).unwrap_err().kind, ErrorKind::NotFound);
        create_on(&host, "e1", None).unwrap();
        assert_eq!(create_on(&host, "e1", None).unwrap_err().kind, ErrorKind::AlreadyExists);
        assert_eq!(create_on(&host, "e/1", None).unwrap_err().kind, ErrorKind::InvalidArgument);
    }
}
