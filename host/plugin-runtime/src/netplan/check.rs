//! Checking a network plan against the plugin's grants, before anything is done.
//!
//! Every step becomes an [`Action`] with its arguments parsed (names within IFNAMSIZ,
//! CIDRs, gateways, macvlan modes, ports), or the whole plan is refused:
//! - a link on the host (created, changed, deleted, moved) must match `links`; both
//!   ends of a veth pair and the bridge of `set-master` too;
//! - a macvlan's parent must match `parents`;
//! - publishing or withdrawing a port needs `ports = true` (and a publisher);
//! - inside the sandbox (the container's own namespace, which the plugin furnishes) any
//!   link name is fine, but a sandbox step needs a sandbox;
//! - a default route in the host namespace is never granted: it would take the host's
//!   traffic.

use std::net::{IpAddr, Ipv4Addr};

use hostctl_kernel::netlink::{Ipv4Cidr, MacvlanMode, Route, check_link_name};

use crate::manifest::Capabilities;
use crate::network::{LinkKind, Netns, Port, Step};
use crate::sandbox::ErrorKind;

/// A step, checked and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    CreateBridge { name: String, mtu: Option<u32> },
    CreateVeth { name: String, peer: String, mtu: Option<u32> },
    CreateMacvlan { name: String, parent: String, mode: MacvlanMode, mtu: Option<u32> },
    DeleteLink { name: String },
    SetMaster { link: String, bridge: String },
    MoveToSandbox { link: String, rename: String },
    AddAddress { netns: Netns, link: String, cidr: Ipv4Cidr },
    LinkUp { netns: Netns, link: String },
    AddRoute { netns: Netns, route: Route },
    PublishPort(Port),
    UnpublishPort(Port),
}

/// Why a plan was refused: the kind and the message after `plugin "x": op: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub kind: ErrorKind,
    pub message: String,
}

/// Check every step of `plan`; the first refusal refuses the plan.
pub(crate) fn check(plan: &[Step], grants: &Capabilities, has_sandbox: bool, has_publisher: bool) -> Result<Vec<Action>, Refusal> {
    plan.iter()
        .map(|step| {
            check_step(step, grants, has_sandbox, has_publisher)
                .map_err(|(kind, reason)| Refusal { kind, message: format!("step {}: {reason}", label(step)) })
        })
        .collect()
}

type Checked<T> = Result<T, (ErrorKind, String)>;

fn check_step(step: &Step, grants: &Capabilities, has_sandbox: bool, has_publisher: bool) -> Checked<Action> {
    let sandbox = |netns: Netns| {
        if netns == Netns::Sandbox && !has_sandbox {
            return Err((ErrorKind::InvalidArgument, "a sandbox step, but this operation has no sandbox".to_owned()));
        }
        Ok(netns)
    };
    let link_in = |netns: Netns, name: &str| match netns {
        Netns::Host => host_link(grants, name),
        Netns::Sandbox => valid_name(name),
    };
    let ports = |port: &Port| {
        if !grants.ports {
            return Err((ErrorKind::Denied, "publishing ports not granted (ports = false)".to_owned()));
        }
        if !has_publisher {
            return Err((ErrorKind::Other, "this host publishes no ports (no port publisher is configured)".to_owned()));
        }
        check_port(port)
    };
    Ok(match step {
        Step::CreateLink { name, kind, mtu } => {
            host_link(grants, name)?;
            if let Some(mtu) = mtu
                && !(68..=65535).contains(mtu)
            {
                return Err((ErrorKind::InvalidArgument, format!("mtu {mtu}: expected 68 to 65535")));
            }
            let (name, mtu) = (name.clone(), *mtu);
            match kind {
                LinkKind::Bridge => Action::CreateBridge { name, mtu },
                LinkKind::Veth { peer } => {
                    host_link(grants, peer).map_err(|(k, r)| (k, format!("veth peer {peer:?}: {r}")))?;
                    Action::CreateVeth { name, peer: peer.clone(), mtu }
                }
                LinkKind::Macvlan { parent, mode } => {
                    if !grants.may_use_parent(parent) {
                        return Err((ErrorKind::Denied, format!("parent {parent:?} not granted (parents = {:?})", grants.parents)));
                    }
                    valid_name(parent)?;
                    let mode = mode.parse::<MacvlanMode>().map_err(|e| (ErrorKind::InvalidArgument, e.to_string()))?;
                    Action::CreateMacvlan { name, parent: parent.clone(), mode, mtu }
                }
            }
        }
        Step::DeleteLink { name } => {
            host_link(grants, name)?;
            Action::DeleteLink { name: name.clone() }
        }
        Step::SetMaster { link, bridge } => {
            host_link(grants, link)?;
            host_link(grants, bridge).map_err(|(k, r)| (k, format!("bridge {bridge:?}: {r}")))?;
            Action::SetMaster { link: link.clone(), bridge: bridge.clone() }
        }
        Step::MoveToSandbox { link, rename } => {
            sandbox(Netns::Sandbox)?;
            host_link(grants, link)?;
            valid_name(rename)?;
            Action::MoveToSandbox { link: link.clone(), rename: rename.clone() }
        }
        Step::AddAddress { link, cidr, netns } => {
            let netns = sandbox(*netns)?;
            link_in(netns, link)?;
            let cidr = cidr.parse::<Ipv4Cidr>().map_err(|e| (ErrorKind::InvalidArgument, e.to_string()))?;
            Action::AddAddress { netns, link: link.clone(), cidr }
        }
        Step::LinkUp { link, netns } => {
            let netns = sandbox(*netns)?;
            link_in(netns, link)?;
            Action::LinkUp { netns, link: link.clone() }
        }
        Step::AddRoute { destination, gateway, link, netns } => {
            let netns = sandbox(*netns)?;
            link_in(netns, link)?;
            let route = route(destination, gateway.as_deref(), link)?;
            if netns == Netns::Host && route.destination.is_none() {
                return Err((ErrorKind::Denied, "a default route in the host namespace is never granted".to_owned()));
            }
            Action::AddRoute { netns, route }
        }
        Step::PublishPort(port) => {
            ports(port)?;
            Action::PublishPort(port.clone())
        }
        Step::UnpublishPort(port) => {
            ports(port)?;
            Action::UnpublishPort(port.clone())
        }
    })
}

/// A host link the plugin may create, change or delete.
fn host_link(grants: &Capabilities, name: &str) -> Checked<()> {
    if !grants.may_manage_link(name) {
        return Err((ErrorKind::Denied, format!("link name not granted (links = {:?})", grants.links)));
    }
    valid_name(name)
}

fn valid_name(name: &str) -> Checked<()> {
    check_link_name(name).map_err(|e| (ErrorKind::InvalidArgument, e.to_string()))
}

fn route(destination: &str, gateway: Option<&str>, link: &str) -> Checked<Route> {
    let invalid = |reason: String| (ErrorKind::InvalidArgument, reason);
    let destination = match destination {
        "default" => None,
        cidr => {
            let cidr = cidr.parse::<Ipv4Cidr>().map_err(|e| invalid(e.to_string()))?;
            if cidr.network() != cidr.address {
                return Err(invalid(format!("destination {cidr}: host bits are set (the network is {}/{})", cidr.network(), cidr.prefix)));
            }
            Some(cidr)
        }
    };
    let gateway = gateway
        .map(|g| g.parse::<Ipv4Addr>().map_err(|_| invalid(format!("gateway {g:?}: expected an IPv4 address"))))
        .transpose()?;
    if destination.is_none() && gateway.is_none() {
        return Err(invalid("a default route needs a gateway".to_owned()));
    }
    Ok(Route { destination, gateway, link: Some(link.to_owned()) })
}

fn check_port(port: &Port) -> Checked<()> {
    let invalid = |reason: String| Err((ErrorKind::InvalidArgument, reason));
    if port.protocol != "tcp" && port.protocol != "udp" {
        return invalid(format!("protocol {:?}: expected tcp or udp", port.protocol));
    }
    if port.host_ip.parse::<IpAddr>().is_err() {
        return invalid(format!("host ip {:?}: expected an IP address", port.host_ip));
    }
    if port.container_ip.parse::<IpAddr>().is_err() {
        return invalid(format!("container ip {:?}: expected an IP address", port.container_ip));
    }
    if port.host_port == 0 || port.container_port == 0 {
        return invalid("port 0: expected 1 to 65535".to_owned());
    }
    Ok(())
}

/// How a step is named in messages: its WIT name and what it acts on.
pub(crate) fn label(step: &Step) -> String {
    let place = |netns: &Netns| if *netns == Netns::Sandbox { " in the sandbox" } else { "" };
    match step {
        Step::CreateLink { name, .. } => format!("create-link {name:?}"),
        Step::DeleteLink { name } => format!("delete-link {name:?}"),
        Step::SetMaster { link, bridge } => format!("set-master {link:?} {bridge:?}"),
        Step::MoveToSandbox { link, rename } => format!("move-to-sandbox {link:?} as {rename:?}"),
        Step::AddAddress { link, cidr, netns } => format!("add-address {cidr} on {link:?}{}", place(netns)),
        Step::LinkUp { link, netns } => format!("link-up {link:?}{}", place(netns)),
        Step::AddRoute { destination, gateway, link, netns } => {
            let via = gateway.as_ref().map(|g| format!(" via {g}")).unwrap_or_default();
            format!("add-route {destination}{via} dev {link:?}{}", place(netns))
        }
        Step::PublishPort(p) => format!("publish-port {}", port_text(p)),
        Step::UnpublishPort(p) => format!("unpublish-port {}", port_text(p)),
    }
}

pub(crate) fn port_text(p: &Port) -> String {
    format!("{}/{}:{} to {}:{}", p.protocol, p.host_ip, p.host_port, p.container_ip, p.container_port)
}
