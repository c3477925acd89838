//! Docker's default IPAM for one host (libnetwork's `defaultipam`, local scope): a
//! network's subnet, gateway and allocation range from `--subnet`, `--gateway` and
//! `--ip-range`, a free subnet chosen when none is given, and endpoint addresses handed
//! out lowest first.
//!
//! Without `--subnet` the first /16 of [`pools`] that overlaps no host route, no address
//! on a host link and no network the driver holds is taken: 172.18.0.0/16 up to
//! 172.31.0.0/16, then 10.0.0.0/16 up to 10.255.0.0/16 (the default network, `bridge`,
//! tries Docker's `docker0` subnet 172.17.0.0/16 first). An endpoint gets the lowest
//! address of the range (the subnet unless `--ip-range`) that is not the network, the
//! broadcast or the gateway address and not held by another endpoint.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use hostctl_sdk::net::{LinkInfo, RouteInfo};
use hostctl_sdk::network::IpamRequest;
use hostctl_sdk::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

use crate::host::HostNet;
use crate::ipv4::{Subnet, parse_addr};

/// The name the daemon gives its default network (Docker's `docker0` network).
pub const DEFAULT_NETWORK: &str = "bridge";

/// The longest prefix a network may have: a /30 holds a gateway and one endpoint.
pub const MAX_PREFIX: u8 = 30;

/// A network's addresses: where endpoints live, their gateway, where they come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipam {
    pub subnet: Subnet,
    /// `None` when the network has no gateway (a macvlan network without `--gateway`).
    pub gateway: Option<Ipv4Addr>,
    /// `--ip-range`: endpoints get addresses from here only (a requested one may lie
    /// anywhere in the subnet, as in Docker).
    pub range: Option<Subnet>,
}

/// What a driver wants where the request is silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// Give the network a gateway (the subnet's first address) when none is asked for.
    pub gateway: bool,
}

/// The /16s tried, in order, when a network comes without `--subnet`.
pub fn pools(network_name: &str) -> impl Iterator<Item = Subnet> {
    let docker0 = (network_name == DEFAULT_NETWORK).then_some(17u8);
    let private_172 = docker0.into_iter().chain(18u8..=31).map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let private_10 = (0u8..=255).map(|b| Subnet::new(Ipv4Addr::new(10, b, 0, 0), 16));
    private_172.chain(private_10)
}

/// The subnets the host uses: the destinations of its routes (not the default route)
/// and the subnets of its links' IPv4 addresses.
pub fn host_subnets(links: &[LinkInfo], routes: &[RouteInfo]) -> Vec<Subnet> {
    let routed = routes.iter().filter_map(|r| Subnet::of_cidr(&r.destination)).filter(|s| s.prefix() > 0);
    let addressed = links.iter().flat_map(|l| &l.addresses).filter_map(|a| Subnet::of_cidr(a));
    routed.chain(addressed).collect()
}

/// The first of `candidates` that overlaps none of `in_use`.
pub fn choose_subnet(candidates: impl IntoIterator<Item = Subnet>, in_use: &[Subnet]) -> Option<Subnet> {
    candidates.into_iter().find(|c| !in_use.iter().any(|u| u.overlaps(*c)))
}

/// Resolve network `name`'s IPAM request against the networks the driver holds
/// (`held`: name and subnet), asking `host` about its routes and links only when a subnet
/// has to be chosen.
pub fn resolve(name: &str, request: &IpamRequest, held: &[(String, Subnet)], host: &impl HostNet, defaults: Defaults) -> Result<Ipam> {
    let subnet = match request.subnet.as_deref() {
        Some(text) => {
            let subnet = Subnet::parse("subnet", text)?;
            if subnet.prefix() == 0 || subnet.prefix() > MAX_PREFIX {
                return Err(Error::invalid(format!("subnet {subnet}: the prefix length must be 1 to {MAX_PREFIX}")));
            }
            if let Some((other, theirs)) = held.iter().find(|(_, s)| s.overlaps(subnet)) {
                return Err(Error::new(ErrorKind::AlreadyExists, format!("subnet {subnet} overlaps network {other:?} ({theirs})")));
            }
            subnet
        }
        None => {
            if request.gateway.is_some() || request.ip_range.is_some() {
                return Err(Error::invalid("a gateway or an ip-range needs a subnet: give --subnet too"));
            }
            let mut in_use = host_subnets(&host.links()?, &host.routes()?);
            in_use.extend(held.iter().map(|(_, s)| *s));
            choose_subnet(pools(name), &in_use).ok_or_else(|| {
                Error::new(
                    ErrorKind::Other,
                    "no free subnet among 172.18.0.0/16-172.31.0.0/16 and 10.0.0.0/16-10.255.0.0/16: give --subnet",
                )
            })?
        }
    };
    let gateway = match request.gateway.as_deref() {
        Some(text) => {
            let gateway = parse_addr("gateway", text)?;
            if !subnet.contains(gateway) || gateway == subnet.network() || gateway == subnet.broadcast() {
                return Err(Error::invalid(format!("gateway {gateway}: not a host address of subnet {subnet}")));
            }
            Some(gateway)
        }
        None => defaults.gateway.then(|| subnet.first_host()),
    };
    let range = match request.ip_range.as_deref() {
        Some(text) => {
            let range = Subnet::parse("ip-range", text)?;
            if !subnet.contains_subnet(range) {
                return Err(Error::invalid(format!("ip-range {range} is not inside subnet {subnet}")));
            }
            Some(range)
        }
        None => None,
    };
    Ok(Ipam { subnet, gateway, range })
}

impl Ipam {
    /// Addresses no endpoint gets: the network, the broadcast and the gateway address.
    fn reserved(&self, ip: Ipv4Addr) -> bool {
        ip == self.subnet.network() || ip == self.subnet.broadcast() || Some(ip) == self.gateway
    }

    /// The lowest address of the range that is neither reserved nor in `used`.
    pub fn allocate(&self, used: &BTreeSet<Ipv4Addr>) -> Result<Ipv4Addr> {
        let range = self.range.unwrap_or(self.subnet);
        (u32::from(range.network())..=u32::from(range.broadcast()))
            .map(Ipv4Addr::from)
            .find(|ip| !self.reserved(*ip) && !used.contains(ip))
            .ok_or_else(|| Error::new(ErrorKind::Other, format!("no free address left in {range}")))
    }

    /// Check an address an endpoint asked for: in the subnet, not reserved, not in `used`.
    pub fn check_requested(&self, ip: Ipv4Addr, used: &BTreeSet<Ipv4Addr>) -> Result<()> {
        let subnet = self.subnet;
        if !subnet.contains(ip) {
            return Err(Error::invalid(format!("address {ip} is not in subnet {subnet}")));
        }
        if ip == subnet.network() || ip == subnet.broadcast() {
            return Err(Error::invalid(format!("address {ip} is the network or broadcast address of {subnet}")));
        }
        if Some(ip) == self.gateway {
            return Err(Error::new(ErrorKind::AlreadyExists, format!("address {ip} is the gateway of {subnet}")));
        }
        if used.contains(&ip) {
            return Err(Error::new(ErrorKind::AlreadyExists, format!("address {ip} is already in use in {subnet}")));
        }
        Ok(())
    }
}

/// Parse an address an endpoint asks for: `172.18.0.5`, or `172.18.0.5/16` with the
/// subnet's own prefix.
pub fn parse_requested(text: &str, subnet: Subnet) -> Result<Ipv4Addr> {
    match text.split_once('/') {
        Some((ip, prefix)) if prefix == subnet.prefix().to_string() => parse_addr("address", ip),
        Some(_) => Err(Error::invalid(format!("address {text:?}: the prefix must be the subnet's (/{})", subnet.prefix()))),
        None => parse_addr("address", text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{FakeHost, link, route};

    fn net(text: &str) -> Subnet {
        Subnet::parse("subnet", text).unwrap()
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    fn request(subnet: Option<&str>, gateway: Option<&str>, ip_range: Option<&str>) -> IpamRequest {
        IpamRequest { subnet: subnet.map(Into::into), gateway: gateway.map(Into::into), ip_range: ip_range.map(Into::into) }
    }

    const GATEWAY: Defaults = Defaults { gateway: true };

    #[test]
    fn first_free_pool_skips_host_routes_addresses_and_held_networks() {
        let mut host = FakeHost::vm();
        host.routes.push(route("172.18.0.0/16", None, "docker1"));
        host.links.push(link("br-x", "bridge", &["172.19.0.1/16"]));
        host.routes.push(route("172.20.5.0/24", Some("10.0.2.9"), "eth0"));
        let held = vec![("web".to_owned(), net("172.21.0.0/16"))];
        let ipam = resolve("db", &request(None, None, None), &held, &host, GATEWAY).unwrap();
        assert_eq!(ipam.subnet, net("172.22.0.0/16"));
        assert_eq!(ipam.gateway, Some(ip("172.22.0.1")));
        assert_eq!(ipam.range, None);
    }

    #[test]
    fn pools_move_on_to_ten_slash_sixteens_and_ignore_the_default_route() {
        let mut host = FakeHost::vm();
        host.routes.push(route("172.16.0.0/12", None, "vpn0"));
        host.links.push(link("tun0", "tun", &["10.0.0.7/16"]));
        let ipam = resolve("x", &request(None, None, None), &[], &host, GATEWAY).unwrap();
        assert_eq!(ipam.subnet, net("10.1.0.0/16"));
    }

    #[test]
    fn the_default_network_tries_docker0s_subnet_first() {
        let host = FakeHost::vm();
        let ipam = resolve(DEFAULT_NETWORK, &request(None, None, None), &[], &host, GATEWAY).unwrap();
        assert_eq!(ipam.subnet, net("172.17.0.0/16"));
        assert_eq!(resolve("other", &request(None, None, None), &[], &host, GATEWAY).unwrap().subnet, net("172.18.0.0/16"));
    }

    #[test]
    fn every_pool_taken_is_a_clear_error() {
        let mut host = FakeHost::vm();
        host.routes.push(route("172.16.0.0/12", None, "a"));
        host.routes.push(route("10.0.0.0/8", None, "b"));
        let err = resolve("x", &request(None, None, None), &[], &host, GATEWAY).unwrap_err();
        assert!(err.message.contains("give --subnet"), "{}", err.message);
    }

    #[test]
    fn a_given_subnet_is_checked_not_chosen() {
        let host = FakeHost::vm();
        let held = vec![("web".to_owned(), net("192.168.0.0/16"))];
        let err = resolve("x", &request(Some("192.168.5.0/24"), None, None), &held, &host, GATEWAY).unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
        assert!(err.message.contains("\"web\""), "{}", err.message);
        for bad in ["10.9.0.0/31", "0.0.0.0/0", "10.9.0.1/24"] {
            let err = resolve("x", &request(Some(bad), None, None), &held, &host, GATEWAY).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{bad}");
        }
        // The host's own subnet may be given on purpose (a macvlan network on the LAN).
        let ipam = resolve("lan", &request(Some("10.0.2.0/24"), Some("10.0.2.2"), Some("10.0.2.128/25")), &held, &host, GATEWAY).unwrap();
        assert_eq!(ipam.gateway, Some(ip("10.0.2.2")));
        assert_eq!(ipam.range, Some(net("10.0.2.128/25")));
    }

    #[test]
    fn gateways_and_ranges_must_fit_the_subnet() {
        let host = FakeHost::vm();
        let s = Some("10.9.0.0/24");
        for (gateway, range) in
            [(Some("10.9.1.1"), None), (Some("10.9.0.0"), None), (Some("10.9.0.255"), None), (None, Some("10.9.0.0/23"))]
        {
            let err = resolve("x", &request(s, gateway, range), &[], &host, GATEWAY).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{gateway:?} {range:?}");
        }
        let err = resolve("x", &request(None, Some("10.9.0.1"), None), &[], &host, GATEWAY).unwrap_err();
        assert!(err.message.contains("needs a subnet"), "{}", err.message);
        let none = resolve("x", &request(s, None, None), &[], &host, Defaults { gateway: false }).unwrap();
        assert_eq!(none.gateway, None);
    }

    #[test]
    fn allocation_is_lowest_free_and_reuses_freed_addresses() {
        let ipam = Ipam { subnet: net("10.9.0.0/29"), gateway: Some(ip("10.9.0.1")), range: None };
        let mut used = BTreeSet::new();
        for want in ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"] {
            let got = ipam.allocate(&used).unwrap();
            assert_eq!(got, ip(want));
            used.insert(got);
        }
        assert!(ipam.allocate(&used).unwrap_err().message.contains("no free address"));
        used.remove(&ip("10.9.0.4"));
        assert_eq!(ipam.allocate(&used).unwrap(), ip("10.9.0.4"));
    }

    #[test]
    fn allocation_skips_a_gateway_anywhere_and_stays_in_the_range() {
        let ipam = Ipam { subnet: net("10.9.0.0/24"), gateway: Some(ip("10.9.0.2")), range: None };
        assert_eq!(ipam.allocate(&BTreeSet::new()).unwrap(), ip("10.9.0.1"));
        let ranged = Ipam { subnet: net("10.9.0.0/24"), gateway: Some(ip("10.9.0.1")), range: Some(net("10.9.0.128/30")) };
        let mut used = BTreeSet::new();
        for want in ["10.9.0.128", "10.9.0.129", "10.9.0.130", "10.9.0.131"] {
            used.insert(ranged.allocate(&used).unwrap());
            assert!(used.contains(&ip(want)));
        }
        assert!(ranged.allocate(&used).is_err());
        let whole = Ipam { subnet: net("10.9.0.0/30"), gateway: None, range: Some(net("10.9.0.0/30")) };
        assert_eq!(whole.allocate(&BTreeSet::new()).unwrap(), ip("10.9.0.1"), "never the network address");
    }

    #[test]
    fn requested_addresses_must_be_free_and_inside() {
        let ipam = Ipam { subnet: net("10.9.0.0/24"), gateway: Some(ip("10.9.0.1")), range: Some(net("10.9.0.128/25")) };
        let used = BTreeSet::from([ip("10.9.0.7")]);
        ipam.check_requested(ip("10.9.0.5"), &used).unwrap(); // outside the range is fine
        let kind = |text: &str| ipam.check_requested(ip(text), &used).unwrap_err().kind;
        assert_eq!(kind("10.9.1.5"), ErrorKind::InvalidArgument);
        assert_eq!(kind("10.9.0.0"), ErrorKind::InvalidArgument);
        assert_eq!(kind("10.9.0.255"), ErrorKind::InvalidArgument);
        assert_eq!(kind("10.9.0.1"), ErrorKind::AlreadyExists);
        assert_eq!(kind("10.9.0.7"), ErrorKind::AlreadyExists);
        assert_eq!(parse_requested("10.9.0.5/24", ipam.subnet).unwrap(), ip("10.9.0.5"));
        assert!(parse_requested("10.9.0.5/16", ipam.subnet).is_err());
        assert!(parse_requested("web", ipam.subnet).is_err());
    }
}
