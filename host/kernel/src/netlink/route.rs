//! IPv4 routes of the main table (`RTM_NEWROUTE`, `RTM_DELROUTE`, `RTM_GETROUTE`).

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use futures_util::TryStreamExt;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType};

use super::{Ipv4Cidr, Netlink, NetlinkError, Result};

/// An IPv4 route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `None` is the default route (`0.0.0.0/0`).
    pub destination: Option<Ipv4Cidr>,
    pub gateway: Option<Ipv4Addr>,
    /// The output link.
    pub link: Option<String>,
}

impl Route {
    /// `default via GATEWAY [dev LINK]`.
    pub fn default_via(gateway: Ipv4Addr, link: Option<&str>) -> Self {
        Route { destination: None, gateway: Some(gateway), link: link.map(str::to_owned) }
    }

    /// The destination as `ip route` prints it: "default" or a CIDR.
    pub fn destination_text(&self) -> String {
        self.destination.map_or_else(|| "default".to_owned(), |d| d.to_string())
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.destination_text())?;
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(link) = &self.link {
            write!(f, " dev {link}")?;
        }
        Ok(())
    }
}

impl Netlink {
    /// `ip route add ROUTE`: a route without a gateway is link-scoped (on-link), as
    /// `ip route add 10.1.0.0/16 dev br0` makes it.
    pub async fn add_route(&self, route: &Route) -> Result<()> {
        let message = self.route_message(route, false).await?;
        self.handle().route().add(message).execute().await.map_err(|e| NetlinkError::kernel(format!("add route {route}"), e))
    }

    /// `ip route del ROUTE`.
    pub async fn delete_route(&self, route: &Route) -> Result<()> {
        let message = self.route_message(route, true).await?;
        self.handle().route().del(message).execute().await.map_err(|e| NetlinkError::kernel(format!("delete route {route}"), e))
    }

    /// Every IPv4 unicast route of the main table.
    pub async fn routes(&self) -> Result<Vec<Route>> {
        let messages: Vec<RouteMessage> = self
            .handle()
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::kernel("list routes", e))?;
        let names: HashMap<u32, String> = self.links().await?.into_iter().map(|l| (l.index, l.name)).collect();
        Ok(messages
            .into_iter()
            .filter(|m| table_of(m) == u32::from(RouteHeader::RT_TABLE_MAIN) && m.header.kind == RouteType::Unicast)
            .map(|m| {
                let (mut destination, mut gateway, mut link) = (None, None, None);
                for attr in &m.attributes {
                    match attr {
                        RouteAttribute::Destination(RouteAddress::Inet(a)) => {
                            destination = Some(Ipv4Cidr { address: *a, prefix: m.header.destination_prefix_length })
                        }
                        RouteAttribute::Gateway(RouteAddress::Inet(a)) => gateway = Some(*a),
                        RouteAttribute::Oif(i) => link = names.get(i).cloned(),
                        _ => {}
                    }
                }
                if m.header.destination_prefix_length == 0 {
                    destination = None;
                }
                Route { destination, gateway, link }
            })
            .collect())
    }

    /// The message for `route`. A delete matches any protocol and scope, as `ip route
    /// del` does.
    async fn route_message(&self, route: &Route, delete: bool) -> Result<RouteMessage> {
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new();
        if let Some(d) = route.destination {
            b = b.destination_prefix(d.address, d.prefix);
        }
        if let Some(gw) = route.gateway {
            b = b.gateway(gw);
        }
        if let Some(link) = &route.link {
            b = b.output_interface(self.index(link).await?);
        }
        if delete {
            b = b.protocol(RouteProtocol::Unspec).scope(RouteScope::NoWhere);
        } else if route.gateway.is_none() {
            if route.link.is_none() {
                return Err(NetlinkError::Invalid { what: format!("route {route}"), reason: "needs a gateway or a link".into() });
            }
            b = b.scope(RouteScope::Link);
        }
        Ok(b.build())
    }
}

/// The table of a route: the header's, or `RTA_TABLE` for tables past 255.
fn table_of(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_print_like_ip_route() {
        let r = Route::default_via(Ipv4Addr::new(172, 18, 0, 1), Some("eth0"));
        assert_eq!(r.to_string(), "default via 172.18.0.1 dev eth0");
        let r = Route { destination: Some("10.1.0.0/16".parse().unwrap()), gateway: None, link: Some("br0".into()) };
        assert_eq!(r.to_string(), "10.1.0.0/16 dev br0");
        assert_eq!(r.destination_text(), "10.1.0.0/16");
    }
}
