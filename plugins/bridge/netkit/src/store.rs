//! A driver's state in its private kv store (every call is a fresh instance: nothing
//! else survives). The layout, one key per fact:
//!
//! ```text
//! network/<network-id>                          JSON NetworkRecord: name, IPAM, driver config
//! endpoint/<network-id>/<endpoint-id>/<ipv4>    empty: the key itself is the allocation
//! ports/<network-id>/<endpoint-id>              JSON list of PublishedPort (bridge)
//! ```
//!
//! An endpoint's address lives in its key, so handing one out is a single write (no
//! half-made allocation after a crash), and the addresses of a network are one `keys`
//! call, with no value to read. Ids are checked ([`crate::names::check_id`]) before they
//! become parts of keys.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use hostctl_sdk::network::Port;
use hostctl_sdk::{Error, ErrorKind, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::host::Kv;
use crate::ipam::Ipam;
use crate::names::display_id;

/// A network the driver holds; `D` is the driver's own configuration (bridge name, MTU;
/// macvlan parent and mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord<D> {
    pub name: String,
    pub ipam: Ipam,
    pub driver: D,
}

/// A port published for an endpoint, as `program-external-connectivity` planned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub protocol: String,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

impl PublishedPort {
    /// The plan's form of this port.
    pub fn to_port(&self) -> Port {
        Port {
            protocol: self.protocol.clone(),
            host_ip: self.host_ip.to_string(),
            host_port: self.host_port,
            container_ip: self.container_ip.to_string(),
            container_port: self.container_port,
        }
    }
}

fn network_key(network: &str) -> String {
    format!("network/{network}")
}

fn endpoints_prefix(network: &str) -> String {
    format!("endpoint/{network}/")
}

fn endpoint_prefix(network: &str, endpoint: &str) -> String {
    format!("endpoint/{network}/{endpoint}/")
}

fn ports_key(network: &str, endpoint: &str) -> String {
    format!("ports/{network}/{endpoint}")
}

fn corrupt(key: &str, what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Other, format!("kv {key}: {what}"))
}

/// The driver's state, read and written through `K`.
#[derive(Debug)]
pub struct Store<'h, K: Kv + ?Sized> {
    kv: &'h K,
}

impl<'h, K: Kv + ?Sized> Store<'h, K> {
    pub fn new(kv: &'h K) -> Self {
        Store { kv }
    }

    fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.kv.get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(key, e)),
        }
    }

    fn write<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| corrupt(key, e))?;
        self.kv.set(key, &bytes)
    }

    /// Network `id`, if the driver holds it.
    pub fn network<D: DeserializeOwned>(&self, id: &str) -> Result<Option<NetworkRecord<D>>> {
        self.read(&network_key(id))
    }

    /// Network `id`, or not-found.
    pub fn require_network<D: DeserializeOwned>(&self, id: &str) -> Result<NetworkRecord<D>> {
        self.network(id)?.ok_or_else(|| Error::not_found(format!("network {}: this driver holds no such network", display_id(id))))
    }

    /// Every network the driver holds, by id.
    pub fn networks<D: DeserializeOwned>(&self) -> Result<Vec<(String, NetworkRecord<D>)>> {
        let mut networks = Vec::new();
        for key in self.kv.keys("network/")? {
            let record = self.read(&key)?.ok_or_else(|| corrupt(&key, "vanished while listed"))?;
            networks.push((key["network/".len()..].to_owned(), record));
        }
        Ok(networks)
    }

    pub fn put_network<D: Serialize>(&self, id: &str, record: &NetworkRecord<D>) -> Result<()> {
        self.write(&network_key(id), record)
    }

    /// Forget network `id`: its record, its endpoints' addresses and their ports.
    pub fn remove_network(&self, id: &str) -> Result<()> {
        for key in self.kv.keys(&endpoints_prefix(id))?.into_iter().chain(self.kv.keys(&format!("ports/{id}/"))?) {
            self.kv.delete(&key)?;
        }
        self.kv.delete(&network_key(id))
    }

    /// Every endpoint of `network` with its address, in key order.
    pub fn endpoints(&self, network: &str) -> Result<Vec<(String, Ipv4Addr)>> {
        let prefix = endpoints_prefix(network);
        let keys = self.kv.keys(&prefix)?;
        keys.iter()
            .map(|key| {
                let (endpoint, ip) =
                    key[prefix.len()..].split_once('/').ok_or_else(|| corrupt(key, "not endpoint/<network>/<endpoint>/<ip>"))?;
                let ip = ip.parse().map_err(|_| corrupt(key, "the address is not IPv4"))?;
                Ok((endpoint.to_owned(), ip))
            })
            .collect()
    }

    /// The addresses held in `network`.
    pub fn used_addresses(&self, network: &str) -> Result<BTreeSet<Ipv4Addr>> {
        Ok(self.endpoints(network)?.into_iter().map(|(_, ip)| ip).collect())
    }

    /// Endpoint `endpoint`'s address, if it exists.
    pub fn endpoint(&self, network: &str, endpoint: &str) -> Result<Option<Ipv4Addr>> {
        let prefix = endpoint_prefix(network, endpoint);
        match self.kv.keys(&prefix)?.first() {
            None => Ok(None),
            Some(key) => key[prefix.len()..].parse().map(Some).map_err(|_| corrupt(key, "the address is not IPv4")),
        }
    }

    /// Endpoint `endpoint`'s address, or not-found.
    pub fn require_endpoint(&self, network: &str, endpoint: &str) -> Result<Ipv4Addr> {
        self.endpoint(network, endpoint)?.ok_or_else(|| {
            Error::not_found(format!("endpoint {}: network {} holds no such endpoint", display_id(endpoint), display_id(network)))
        })
    }

    /// Record `ip` as endpoint `endpoint`'s address.
    pub fn put_endpoint(&self, network: &str, endpoint: &str, ip: Ipv4Addr) -> Result<()> {
        self.kv.set(&format!("{}{ip}", endpoint_prefix(network, endpoint)), b"")
    }

    /// Free the endpoint's address and forget its ports.
    pub fn remove_endpoint(&self, network: &str, endpoint: &str) -> Result<()> {
        for key in self.kv.keys(&endpoint_prefix(network, endpoint))? {
            self.kv.delete(&key)?;
        }
        self.kv.delete(&ports_key(network, endpoint))
    }

    /// The ports published for the endpoint (none if never published or revoked).
    pub fn ports(&self, network: &str, endpoint: &str) -> Result<Vec<PublishedPort>> {
        Ok(self.read(&ports_key(network, endpoint))?.unwrap_or_default())
    }

    /// Every endpoint's published ports, as (network, endpoint, ports).
    pub fn all_ports(&self) -> Result<Vec<(String, String, Vec<PublishedPort>)>> {
        let mut all = Vec::new();
        for key in self.kv.keys("ports/")? {
            let (network, endpoint) =
                key["ports/".len()..].split_once('/').ok_or_else(|| corrupt(&key, "not ports/<network>/<endpoint>"))?;
            let ports = self.read(&key)?.unwrap_or_default();
            all.push((network.to_owned(), endpoint.to_owned(), ports));
        }
        Ok(all)
    }

    /// Record the endpoint's published ports (an empty list removes the key).
    pub fn put_ports(&self, network: &str, endpoint: &str, ports: &[PublishedPort]) -> Result<()> {
        let key = ports_key(network, endpoint);
        if ports.is_empty() { self.kv.delete(&key) } else { self.write(&key, &ports) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::FakeHost;
    use crate::ipv4::Subnet;

    fn record() -> NetworkRecord<String> {
        let subnet = Subnet::parse("subnet", "10.9.0.0/24").unwrap();
        NetworkRecord { name: "web".into(), ipam: Ipam { subnet, gateway: Some(subnet.first_host()), range: None }, driver: "br".into() }
    }

    fn port(host_port: u16) -> PublishedPort {
        PublishedPort {
            protocol: "tcp".into(),
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port,
            container_ip: Ipv4Addr::new(10, 9, 0, 2),
            container_port: 80,
        }
    }

    #[test]
    fn networks_round_trip_and_list() {
        let host = FakeHost::default();
        let store = Store::new(&host);
        assert!(store.network::<String>("n1").unwrap().is_none());
        assert_eq!(store.require_network::<String>("n1").unwrap_err().kind, ErrorKind::NotFound);
        store.put_network("n1", &record()).unwrap();
        assert_eq!(store.network::<String>("n1").unwrap(), Some(record()));
        assert_eq!(store.networks::<String>().unwrap(), vec![("n1".to_owned(), record())]);
        let text = String::from_utf8(host.kv.borrow()["network/n1"].clone()).unwrap();
        assert!(text.contains("\"10.9.0.0/24\"") && text.contains("\"10.9.0.1\""), "{text}");
    }

    #[test]
    fn endpoints_live_in_their_keys() {
        let host = FakeHost::default();
        let store = Store::new(&host);
        store.put_network("n1", &record()).unwrap();
        store.put_endpoint("n1", "e1", Ipv4Addr::new(10, 9, 0, 2)).unwrap();
        store.put_endpoint("n1", "e10", Ipv4Addr::new(10, 9, 0, 3)).unwrap();
        assert_eq!(store.endpoint("n1", "e1").unwrap(), Some(Ipv4Addr::new(10, 9, 0, 2)), "e1 is not e10's prefix");
        assert_eq!(store.used_addresses("n1").unwrap().len(), 2);
        store.put_ports("n1", "e1", &[port(8080)]).unwrap();
        assert_eq!(host.keys_held(), ["endpoint/n1/e1/10.9.0.2", "endpoint/n1/e10/10.9.0.3", "network/n1", "ports/n1/e1"]);
        assert_eq!(store.all_ports().unwrap(), vec![("n1".to_owned(), "e1".to_owned(), vec![port(8080)])]);
        store.remove_endpoint("n1", "e1").unwrap();
        assert_eq!(store.endpoint("n1", "e1").unwrap(), None);
        assert_eq!(store.require_endpoint("n1", "e1").unwrap_err().kind, ErrorKind::NotFound);
        assert_eq!(host.keys_held(), ["endpoint/n1/e10/10.9.0.3", "network/n1"]);
        store.remove_network("n1").unwrap();
        assert!(host.keys_held().is_empty());
    }

    #[test]
    fn a_corrupt_value_is_an_error_naming_its_key() {
        let host = FakeHost::default();
        host.set("network/n1", b"{not json").unwrap();
        let err = Store::new(&host).network::<String>("n1").unwrap_err();
        assert!(err.message.starts_with("kv network/n1:"), "{}", err.message);
    }
}
