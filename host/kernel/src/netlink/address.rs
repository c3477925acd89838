//! IPv4 addresses on links (`RTM_NEWADDR`, `RTM_DELADDR`, `RTM_GETADDR`), and the CIDR
//! notation they are written in.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use futures_util::TryStreamExt;
use rtnetlink::AddressMessageBuilder;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};

use super::{Netlink, NetlinkError, Result};

/// An IPv4 address with its prefix length, as in `172.18.0.2/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Cidr {
    pub address: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Cidr {
    pub fn new(address: Ipv4Addr, prefix: u8) -> Result<Self> {
        if prefix > 32 {
            return Err(NetlinkError::Invalid { what: format!("prefix /{prefix}"), reason: "an IPv4 prefix is 0 to 32".into() });
        }
        Ok(Ipv4Cidr { address, prefix })
    }

    /// The network address (host bits cleared): `172.18.0.0` for `172.18.0.2/16`.
    pub fn network(&self) -> Ipv4Addr {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
        Ipv4Addr::from(u32::from(self.address) & mask)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = NetlinkError;
    fn from_str(s: &str) -> Result<Self> {
        let invalid = || NetlinkError::Invalid { what: format!("address {s:?}"), reason: "expected IPv4 CIDR notation, like 172.18.0.2/16".into() };
        let (address, prefix) = s.split_once('/').ok_or_else(invalid)?;
        let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        Ipv4Cidr::new(address, prefix).map_err(|_| invalid())
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl Netlink {
    /// `ip addr add CIDR dev LINK` (with the broadcast address, as `brd +` gives it).
    pub async fn add_address(&self, link: &str, cidr: Ipv4Cidr) -> Result<()> {
        let index = self.index(link).await?;
        self.handle()
            .address()
            .add(index, IpAddr::V4(cidr.address), cidr.prefix)
            .execute()
            .await
            .map_err(|e| NetlinkError::kernel(format!("add address {cidr} to {link:?}"), e))
    }

    /// `ip addr del CIDR dev LINK`.
    pub async fn delete_address(&self, link: &str, cidr: Ipv4Cidr) -> Result<()> {
        let index = self.index(link).await?;
        let message = AddressMessageBuilder::<Ipv4Addr>::new().index(index).address(cidr.address, cidr.prefix).build();
        self.handle()
            .address()
            .del(message)
            .execute()
            .await
            .map_err(|e| NetlinkError::kernel(format!("delete address {cidr} from {link:?}"), e))
    }

    /// Every IPv4 address of the namespace, by link index.
    pub(crate) async fn addresses_by_index(&self) -> Result<HashMap<u32, Vec<Ipv4Cidr>>> {
        let messages: Vec<AddressMessage> =
            self.handle().address().get().execute().try_collect().await.map_err(|e| NetlinkError::kernel("list addresses", e))?;
        Ok(by_index(messages))
    }

    /// The IPv4 addresses of link `index` alone.
    pub(crate) async fn addresses_of(&self, index: u32) -> Result<Vec<Ipv4Cidr>> {
        let messages: Vec<AddressMessage> = self
            .handle()
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::kernel("list addresses", e))?;
        Ok(by_index(messages).remove(&index).unwrap_or_default())
    }
}

/// IPv4 addresses by link index.
fn by_index(messages: Vec<AddressMessage>) -> HashMap<u32, Vec<Ipv4Cidr>> {
    let mut by_index: HashMap<u32, Vec<Ipv4Cidr>> = HashMap::new();
    for m in messages {
        // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's on
        // point-to-point links); fall back to IFA_ADDRESS when there is no local.
        let local = m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(v)) => Some(*v),
            _ => None,
        });
        let address = local.or_else(|| {
            m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(IpAddr::V4(v)) => Some(*v),
                _ => None,
            })
        });
        if let Some(address) = address {
            by_index.entry(m.header.index).or_default().push(Ipv4Cidr { address, prefix: m.header.prefix_len });
        }
    }
    by_index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_print() {
        let c: Ipv4Cidr = "172.18.0.2/16".parse().unwrap();
        assert_eq!(c.to_string(), "172.18.0.2/16");
        assert_eq!(c.network(), Ipv4Addr::new(172, 18, 0, 0));
        assert_eq!("0.0.0.0/0".parse::<Ipv4Cidr>().unwrap().network(), Ipv4Addr::UNSPECIFIED);
        for bad in ["172.18.0.2", "172.18.0.2/33", "fd00::1/64", "x/8", "10.0.0.1/"] {
            let err = bad.parse::<Ipv4Cidr>().unwrap_err().to_string();
            assert!(err.contains("CIDR"), "{bad}: {err}");
        }
    }
}
