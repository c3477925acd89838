//! Network links (`RTM_NEWLINK`, `RTM_DELLINK`, `RTM_GETLINK`): bridges, veth pairs and
//! macvlans; masters, state, MTU, moving into another namespace; and reading them back.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::str::FromStr;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
    MacVlanMode as NlMacvlanMode,
};
use rtnetlink::{LinkBridge, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth};

use super::{Ipv4Cidr, Netlink, NetlinkError, Result, check_link_name};

/// A macvlan's mode (`ip link add … type macvlan mode MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacvlanMode {
    Bridge,
    Vepa,
    Private,
    Passthru,
}

impl FromStr for MacvlanMode {
    type Err = NetlinkError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "bridge" => Ok(MacvlanMode::Bridge),
            "vepa" => Ok(MacvlanMode::Vepa),
            "private" => Ok(MacvlanMode::Private),
            "passthru" => Ok(MacvlanMode::Passthru),
            other => Err(NetlinkError::Invalid {
                what: format!("macvlan mode {other:?}"),
                reason: "expected bridge, vepa, private or passthru".into(),
            }),
        }
    }
}

impl From<MacvlanMode> for NlMacvlanMode {
    fn from(m: MacvlanMode) -> Self {
        match m {
            MacvlanMode::Bridge => NlMacvlanMode::Bridge,
            MacvlanMode::Vepa => NlMacvlanMode::Vepa,
            MacvlanMode::Private => NlMacvlanMode::Private,
            MacvlanMode::Passthru => NlMacvlanMode::Passthrough,
        }
    }
}

/// A link as `ip -4 addr` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The kernel's kind (`IFLA_INFO_KIND`: "bridge", "veth", "macvlan", …), "loopback"
    /// for `lo`, or "device" for a plain device (a NIC) that has none.
    pub kind: String,
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Its IPv4 addresses.
    pub addresses: Vec<Ipv4Cidr>,
    /// The bridge (or other master) it is attached to.
    pub master: Option<String>,
    /// The index of the link it is tied to (`IFLA_LINK`: a veth's peer, a macvlan's
    /// parent), in `peer_elsewhere`'s namespace when that is set.
    pub peer_index: Option<u32>,
    /// That link lives in another network namespace (`IFLA_LINK_NETNSID` is present).
    pub peer_elsewhere: bool,
}

impl Netlink {
    /// `ip link add NAME type bridge [mtu MTU]` (left down).
    pub async fn create_bridge(&self, name: &str, mtu: Option<u32>) -> Result<()> {
        check_link_name(name)?;
        let mut b = LinkMessageBuilder::<LinkBridge>::new(name);
        if let Some(mtu) = mtu {
            b = b.mtu(mtu);
        }
        self.add(format!("create bridge {name:?}"), b.build()).await
    }

    /// `ip link add NAME [mtu MTU] type veth peer PEER [mtu MTU]`: both ends get the MTU.
    pub async fn create_veth(&self, name: &str, peer: &str, mtu: Option<u32>) -> Result<()> {
        check_link_name(name)?;
        check_link_name(peer)?;
        let mut peer_msg = LinkMessageBuilder::<LinkUnspec>::new().name(peer.to_owned());
        let mut b = LinkVeth::new(name, peer);
        if let Some(mtu) = mtu {
            peer_msg = peer_msg.mtu(mtu);
            b = b.mtu(mtu);
        }
        let b = b.set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())));
        self.add(format!("create veth {name:?} (peer {peer:?})"), b.build()).await
    }

    /// `ip link add NAME type veth peer PEER netns NETNS`: the peer is created directly
    /// in the namespace open at `netns`, which spares moving it there (a move waits for
    /// the kernel's RCU grace periods, ~10-20 ms; this takes well under one).
    pub async fn create_veth_peer_in(&self, name: &str, peer: &str, netns: BorrowedFd<'_>, mtu: Option<u32>) -> Result<()> {
        check_link_name(name)?;
        check_link_name(peer)?;
        let mut peer_msg = LinkMessageBuilder::<LinkUnspec>::new().name(peer.to_owned()).setns_by_fd(netns.as_raw_fd());
        let mut b = LinkVeth::new(name, peer);
        if let Some(mtu) = mtu {
            peer_msg = peer_msg.mtu(mtu);
            b = b.mtu(mtu);
        }
        let b = b.set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())));
        self.add(format!("create veth {name:?} (peer {peer:?} in another netns)"), b.build()).await
    }

    /// `ip link add NAME link PARENT type macvlan mode MODE [mtu MTU]`.
    pub async fn create_macvlan(&self, name: &str, parent: &str, mode: MacvlanMode, mtu: Option<u32>) -> Result<()> {
        check_link_name(name)?;
        let parent_index = self.index(parent).await?;
        let mut b = LinkMacVlan::new(name, parent_index, mode.into());
        if let Some(mtu) = mtu {
            b = b.mtu(mtu);
        }
        self.add(format!("create macvlan {name:?} on {parent:?}"), b.build()).await
    }

    /// `ip link add NAME link PARENT netns NETNS type macvlan mode MODE`: the macvlan is
    /// created in the namespace open at `netns`, on a parent of this one.
    pub async fn create_macvlan_in(&self, name: &str, parent: &str, mode: MacvlanMode, netns: BorrowedFd<'_>, mtu: Option<u32>) -> Result<()> {
        check_link_name(name)?;
        let parent_index = self.index(parent).await?;
        let mut b = LinkMacVlan::new(name, parent_index, mode.into()).setns_by_fd(netns.as_raw_fd());
        if let Some(mtu) = mtu {
            b = b.mtu(mtu);
        }
        self.add(format!("create macvlan {name:?} on {parent:?} in another netns"), b.build()).await
    }

    /// `ip link del NAME`; a link that does not exist is not an error (deleting one end
    /// of a veth pair deletes the other, so rollbacks may find it gone).
    pub async fn delete_link(&self, name: &str) -> Result<()> {
        let index = match self.index(name).await {
            Ok(index) => index,
            Err(NetlinkError::NoSuchLink { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        match self.handle().link().del(index).execute().await {
            Err(rtnetlink::Error::NetlinkError(m)) if m.to_io().raw_os_error() == Some(libc::ENODEV) => Ok(()),
            other => other.map_err(|e| NetlinkError::kernel(format!("delete link {name:?}"), e)),
        }
    }

    /// `ip link set LINK master MASTER`, or `nomaster` with `None`.
    pub async fn set_master(&self, link: &str, master: Option<&str>) -> Result<()> {
        let index = self.index(link).await?;
        let (b, op) = match master {
            Some(m) => (LinkUnspec::new_with_index(index).controller(self.index(m).await?), format!("set {link:?} master {m:?}")),
            None => (LinkUnspec::new_with_index(index).nocontroller(), format!("set {link:?} nomaster")),
        };
        self.change(op, b.build()).await
    }

    /// `ip link set LINK up|down`.
    pub async fn set_up(&self, link: &str, up: bool) -> Result<()> {
        let b = LinkUnspec::new_with_index(self.index(link).await?);
        let b = if up { b.up() } else { b.down() };
        self.change(format!("set {link:?} {}", if up { "up" } else { "down" }), b.build()).await
    }

    /// `ip link set LINK mtu MTU`.
    pub async fn set_mtu(&self, link: &str, mtu: u32) -> Result<()> {
        let b = LinkUnspec::new_with_index(self.index(link).await?).mtu(mtu);
        self.change(format!("set {link:?} mtu {mtu}"), b.build()).await
    }

    /// `ip link set LINK netns NETNS name RENAME`: move the link into the namespace open
    /// at `netns` and rename it there, in one message (the kernel moves, then renames).
    pub async fn move_to_netns(&self, link: &str, netns: BorrowedFd<'_>, rename: &str) -> Result<()> {
        check_link_name(rename)?;
        let index = self.index(link).await?;
        let b = LinkUnspec::new_with_index(index).setns_by_fd(netns.as_raw_fd()).name(rename.to_owned());
        self.change(format!("move {link:?} into another netns as {rename:?}"), b.build()).await
    }

    /// The link named `name`, with its addresses and master: asked of the kernel for that
    /// link alone (a host with many containers has many links).
    pub async fn link(&self, name: &str) -> Result<Option<Link>> {
        check_link_name(name)?;
        let Some(message) = self.one_link(self.handle().link().get().match_name(name.to_owned()).execute(), name).await? else {
            return Ok(None);
        };
        let index = message.header.index;
        let addresses = self.addresses_of(index).await?;
        let master = match controller_of(&message) {
            Some(master) => self.one_link(self.handle().link().get().match_index(master).execute(), name).await?.as_ref().and_then(name_of),
            None => None,
        };
        Ok(link_of(&message, master, addresses))
    }

    /// Every link of the namespace, in index order.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let messages: Vec<LinkMessage> = self
            .handle()
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::kernel("list links", e))?;
        let mut addresses = self.addresses_by_index().await?;
        let names: HashMap<u32, String> = messages.iter().filter_map(|m| Some((m.header.index, name_of(m)?))).collect();
        let mut links: Vec<Link> = messages
            .iter()
            .filter_map(|m| {
                let master = controller_of(m).and_then(|i| names.get(&i).cloned());
                link_of(m, master, addresses.remove(&m.header.index).unwrap_or_default())
            })
            .collect();
        links.sort_by_key(|l| l.index);
        Ok(links)
    }

    /// The one answer of a `match_name`/`match_index` query; `None` when the kernel
    /// knows no such link (`ENODEV`).
    async fn one_link(
        &self,
        mut found: impl futures_util::Stream<Item = std::result::Result<LinkMessage, rtnetlink::Error>> + Unpin,
        name: &str,
    ) -> Result<Option<LinkMessage>> {
        match found.try_next().await {
            Ok(m) => Ok(m),
            Err(rtnetlink::Error::NetlinkError(m)) if m.to_io().raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(NetlinkError::kernel(format!("find link {name:?}"), e)),
        }
    }

    /// The index of link `name`.
    pub(crate) async fn index(&self, name: &str) -> Result<u32> {
        check_link_name(name)?;
        match self.one_link(self.handle().link().get().match_name(name.to_owned()).execute(), name).await? {
            Some(m) => Ok(m.header.index),
            None => Err(NetlinkError::NoSuchLink { name: name.to_owned() }),
        }
    }

    /// `RTM_NEWLINK` with `NLM_F_CREATE | NLM_F_EXCL`.
    async fn add(&self, op: String, message: LinkMessage) -> Result<()> {
        self.handle().link().add(message).execute().await.map_err(|e| NetlinkError::kernel(op, e))
    }

    /// `RTM_NEWLINK` on an existing link, as `ip link set` sends it.
    async fn change(&self, op: String, message: LinkMessage) -> Result<()> {
        self.handle().link().change(message).execute().await.map_err(|e| NetlinkError::kernel(op, e))
    }
}

/// A [`Link`] from the kernel's message, its master's name and its addresses.
fn link_of(m: &LinkMessage, master: Option<String>, addresses: Vec<Ipv4Cidr>) -> Option<Link> {
    let name = name_of(m)?;
    let (mut kind, mut mtu, mut peer_index, mut peer_elsewhere) = (None, 0, None, false);
    for attr in &m.attributes {
        match attr {
            LinkAttribute::Mtu(v) => mtu = *v,
            LinkAttribute::Link(i) => peer_index = Some(*i),
            LinkAttribute::LinkNetNsId(_) => peer_elsewhere = true,
            LinkAttribute::LinkInfo(infos) => {
                kind = infos.iter().find_map(|i| match i {
                    LinkInfo::Kind(k) => Some(kind_name(k)),
                    _ => None,
                })
            }
            _ => {}
        }
    }
    let kind = kind.unwrap_or_else(|| if m.header.flags.contains(LinkFlags::Loopback) { "loopback" } else { "device" }.to_owned());
    Some(Link { index: m.header.index, name, kind, mtu, up: m.header.flags.contains(LinkFlags::Up), addresses, master, peer_index, peer_elsewhere })
}

/// The index of the link's master (`IFLA_MASTER`).
fn controller_of(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

fn name_of(m: &LinkMessage) -> Option<String> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn kind_name(k: &InfoKind) -> String {
    k.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macvlan_modes_parse_like_ip() {
        assert_eq!("passthru".parse::<MacvlanMode>().unwrap(), MacvlanMode::Passthru);
        assert_eq!(NlMacvlanMode::from(MacvlanMode::Private), NlMacvlanMode::Private);
        let err = "source".parse::<MacvlanMode>().unwrap_err().to_string();
        assert!(err.contains("expected bridge, vepa, private or passthru"), "{err}");
    }

    #[test]
    fn kinds_read_as_the_kernel_names_them() {
        assert_eq!(kind_name(&InfoKind::MacVlan), "macvlan");
        assert_eq!(kind_name(&InfoKind::Veth), "veth");
        assert_eq!(kind_name(&InfoKind::Bridge), "bridge");
    }
}
