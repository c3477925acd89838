//! IPv4 subnets in CIDR form (`172.18.0.0/16`), with what IPAM asks of them: parse,
//! contain, overlap, and the first, last and broadcast addresses. std's [`Ipv4Addr`] does
//! the dotted-quad parsing; a subnet is its network address as a `u32` and a prefix length.

use std::fmt;
use std::net::Ipv4Addr;

use hostctl_sdk::{Error, Result};
use serde::{Deserialize, Serialize};

/// An IPv4 subnet: a network address with no host bits set, and a prefix length 0..=32.
/// Kept (serde) in its CIDR text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    network: u32,
    prefix: u8,
}

/// The netmask of a prefix length.
fn mask(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) }
}

/// Split `a.b.c.d/n` into an address and a prefix length (one or two digits, <= 32).
fn split_cidr(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (addr, prefix) = text.split_once('/')?;
    if !(1..=2).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    Some((addr.parse().ok()?, prefix))
}

impl Subnet {
    /// The subnet `network/prefix`; host bits of `network` are cleared.
    pub fn new(network: Ipv4Addr, prefix: u8) -> Self {
        let prefix = prefix.min(32);
        Subnet { network: u32::from(network) & mask(prefix), prefix }
    }

    /// Parse a subnet a user wrote (`--subnet`, `--ip-range`): `a.b.c.d/n` with no host
    /// bits set, as Docker demands (`172.18.0.1/16` is refused, naming `172.18.0.0/16`).
    pub fn parse(what: &str, text: &str) -> Result<Self> {
        let (addr, prefix) =
            split_cidr(text).ok_or_else(|| Error::invalid(format!("{what} {text:?}: expected an IPv4 subnet like 172.18.0.0/16")))?;
        let subnet = Subnet::new(addr, prefix);
        if subnet.network() != addr {
            return Err(Error::invalid(format!("{what} {text:?}: host bits are set; did you mean {subnet}?")));
        }
        Ok(subnet)
    }

    /// The subnet an interface address or a route is on (`10.0.2.15/24` is on
    /// `10.0.2.0/24`); `None` for anything but IPv4 CIDR (IPv6 addresses, "default").
    pub fn of_cidr(text: &str) -> Option<Self> {
        let (addr, prefix) = split_cidr(text)?;
        Some(Subnet::new(addr, prefix))
    }

    pub fn prefix(self) -> u8 {
        self.prefix
    }

    /// The network address (all host bits clear).
    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(self.network)
    }

    /// The broadcast address (all host bits set); the last address of the subnet.
    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(self.network | !mask(self.prefix))
    }

    /// The first usable host address (network + 1), Docker's default gateway.
    pub fn first_host(self) -> Ipv4Addr {
        Ipv4Addr::from(self.network.saturating_add(1))
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.network
    }

    /// Whether every address of `other` is in `self`.
    pub fn contains_subnet(self, other: Subnet) -> bool {
        other.prefix >= self.prefix && self.contains(other.network())
    }

    /// Whether the two share any address (one contains the other: CIDR blocks nest).
    pub fn overlaps(self, other: Subnet) -> bool {
        self.contains_subnet(other) || other.contains_subnet(self)
    }

    /// `ip` with this subnet's prefix, in CIDR form (`172.18.0.2/16`).
    pub fn cidr_of(self, ip: Ipv4Addr) -> String {
        format!("{ip}/{}", self.prefix)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

impl TryFrom<String> for Subnet {
    type Error = String;
    fn try_from(text: String) -> std::result::Result<Self, String> {
        Subnet::parse("subnet", &text).map_err(|e| e.message)
    }
}

impl From<Subnet> for String {
    fn from(subnet: Subnet) -> String {
        subnet.to_string()
    }
}

/// Parse a plain IPv4 address a user wrote (`--gateway`, `--ip`, a port's host IP).
pub fn parse_addr(what: &str, text: &str) -> Result<Ipv4Addr> {
    text.parse().map_err(|_| Error::invalid(format!("{what} {text:?}: expected an IPv4 address like 172.18.0.2")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Subnet {
        Subnet::parse("subnet", text).unwrap()
    }

    #[test]
    fn subnets_parse_in_canonical_form_only() {
        let s = net("172.18.0.0/16");
        assert_eq!(s.to_string(), "172.18.0.0/16");
        assert_eq!(s.network(), Ipv4Addr::new(172, 18, 0, 0));
        assert_eq!(s.broadcast(), Ipv4Addr::new(172, 18, 255, 255));
        assert_eq!(s.first_host(), Ipv4Addr::new(172, 18, 0, 1));
        let err = Subnet::parse("subnet", "172.18.0.1/16").unwrap_err();
        assert!(err.message.contains("did you mean 172.18.0.0/16"), "{}", err.message);
        for bad in ["172.18.0.0", "172.18.0.0/33", "172.18.0/16", "fd00::/64", "172.18.0.0/016", "x/8", ""] {
            assert!(Subnet::parse("subnet", bad).is_err(), "{bad}");
        }
        assert_eq!(net("0.0.0.0/0").broadcast(), Ipv4Addr::BROADCAST);
        assert_eq!(net("10.1.2.3/32").broadcast(), Ipv4Addr::new(10, 1, 2, 3));
    }

    #[test]
    fn interface_addresses_name_their_subnet() {
        assert_eq!(Subnet::of_cidr("10.0.2.15/24"), Some(net("10.0.2.0/24")));
        assert_eq!(Subnet::of_cidr("fe80::1/64"), None);
        assert_eq!(Subnet::of_cidr("default"), None);
    }

    #[test]
    fn containment_and_overlap() {
        let big = net("10.0.0.0/8");
        let small = net("10.20.0.0/16");
        let other = net("172.18.0.0/16");
        assert!(big.contains_subnet(small) && !small.contains_subnet(big));
        assert!(big.overlaps(small) && small.overlaps(big));
        assert!(!big.overlaps(other));
        assert!(net("172.18.0.0/16").overlaps(net("172.18.3.0/24")));
        assert!(!net("172.18.0.0/16").overlaps(net("172.19.0.0/16")));
        assert!(small.contains(Ipv4Addr::new(10, 20, 255, 254)) && !small.contains(Ipv4Addr::new(10, 21, 0, 1)));
        assert_eq!(small.cidr_of(Ipv4Addr::new(10, 20, 0, 2)), "10.20.0.2/16");
    }

    #[test]
    fn plain_addresses_parse() {
        assert_eq!(parse_addr("gateway", "172.18.0.1").unwrap(), Ipv4Addr::new(172, 18, 0, 1));
        assert!(parse_addr("gateway", "172.18.0.1/16").is_err());
        assert!(parse_addr("gateway", "::1").is_err());
    }
}
