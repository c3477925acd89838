//! The bridge driver's plans, as pure functions of what the driver recorded:
//!
//! - create-network: create the bridge (MTU), give it the gateway address, bring it up;
//! - delete-network: delete the host ends of endpoints still recorded, then the bridge;
//! - join: a veth pair `hcv<8 hex>`/`hcp<8 hex>`, the host end enslaved to the bridge
//!   and up, the peer moved into the sandbox as `eth0`, addressed, up, default route
//!   through the gateway;
//! - leave: delete the host end (the peer dies with it, or with the sandbox's netns).

use std::net::Ipv4Addr;

use hostctl_netkit::ipv4::Subnet;
use hostctl_netkit::names::{SANDBOX_IFNAME, link_name};
use hostctl_netkit::plan::configure_in_sandbox;
use hostctl_sdk::network::{Address, CreateLink, LinkKind, LinkRef, MoveLink, Netns, Step};

use crate::config::BridgeConfig;

/// The prefix of an endpoint's veth end that stays on the host, on the bridge.
pub const VETH_HOST_PREFIX: &str = "hcv";
/// The prefix of the peer that moves into the sandbox (and is renamed `eth0` there).
pub const VETH_PEER_PREFIX: &str = "hcp";

/// Endpoint `endpoint`'s veth end on the host.
pub fn veth_host(endpoint: &str) -> String {
    link_name(VETH_HOST_PREFIX, endpoint)
}

/// Endpoint `endpoint`'s veth peer, before it moves into the sandbox.
pub fn veth_peer(endpoint: &str) -> String {
    link_name(VETH_PEER_PREFIX, endpoint)
}

/// Bring the network's bridge up with `gateway` as its address on `subnet`.
pub fn create_network(config: &BridgeConfig, subnet: Subnet, gateway: Option<Ipv4Addr>) -> Vec<Step> {
    let bridge = &config.bridge;
    let mut plan = vec![Step::CreateLink(CreateLink { name: bridge.clone(), kind: LinkKind::Bridge, mtu: config.mtu })];
    if let Some(gateway) = gateway {
        plan.push(Step::AddAddress(Address { link: bridge.clone(), cidr: subnet.cidr_of(gateway), netns: Netns::Host }));
    }
    plan.push(Step::LinkUp(LinkRef { link: bridge.clone(), netns: Netns::Host }));
    plan
}

/// Take the network down: the host ends of `endpoints` still recorded, then the bridge.
pub fn delete_network(config: &BridgeConfig, endpoints: &[String]) -> Vec<Step> {
    endpoints.iter().map(|e| Step::DeleteLink(veth_host(e))).chain([Step::DeleteLink(config.bridge.clone())]).collect()
}

/// Connect endpoint `endpoint` (address `cidr`) to the bridge and into the sandbox.
pub fn join(config: &BridgeConfig, endpoint: &str, cidr: &str, gateway: Option<Ipv4Addr>) -> Vec<Step> {
    let (host, peer) = (veth_host(endpoint), veth_peer(endpoint));
    let mut plan = vec![
        Step::CreateLink(CreateLink { name: host.clone(), kind: LinkKind::Veth(peer.clone()), mtu: config.mtu }),
        Step::SetMaster((host.clone(), config.bridge.clone())),
        Step::LinkUp(LinkRef { link: host, netns: Netns::Host }),
        Step::MoveToSandbox(MoveLink { link: peer, rename: SANDBOX_IFNAME.to_owned() }),
    ];
    plan.extend(configure_in_sandbox(SANDBOX_IFNAME, cidr, gateway));
    plan
}

/// Disconnect endpoint `endpoint`: delete its host end (a missing one is fine).
pub fn leave(endpoint: &str) -> Vec<Step> {
    vec![Step::DeleteLink(veth_host(endpoint))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostctl_netkit::names::IFNAMSIZ_MAX;
    use hostctl_netkit::plan::describe_all;

    const EP: &str = "1a2b3c4d00000000000000000000000000000000000000000000000000000000";

    fn config(mtu: Option<u32>) -> BridgeConfig {
        BridgeConfig { bridge: "hc-br-0123abcd".into(), mtu }
    }

    #[test]
    fn create_network_brings_up_an_addressed_bridge() {
        let subnet = Subnet::parse("subnet", "172.18.0.0/16").unwrap();
        let plan = create_network(&config(Some(1400)), subnet, Some(Ipv4Addr::new(172, 18, 0, 1)));
        assert_eq!(
            describe_all(&plan),
            [
                "create-link hc-br-0123abcd bridge mtu 1400",
                "add-address 172.18.0.1/16 dev hc-br-0123abcd (host)",
                "link-up hc-br-0123abcd (host)"
            ]
        );
    }

    #[test]
    fn delete_network_deletes_leftover_veths_then_the_bridge() {
        assert_eq!(describe_all(&delete_network(&config(None), &[])), ["delete-link hc-br-0123abcd"]);
        let plan = delete_network(&config(None), &[EP.to_owned()]);
        assert_eq!(describe_all(&plan), ["delete-link hcv1a2b3c4d", "delete-link hc-br-0123abcd"]);
    }

    #[test]
    fn join_wires_a_veth_from_the_bridge_to_eth0() {
        let plan = join(&config(None), EP, "172.18.0.2/16", Some(Ipv4Addr::new(172, 18, 0, 1)));
        assert_eq!(
            describe_all(&plan),
            [
                "create-link hcv1a2b3c4d veth peer hcp1a2b3c4d",
                "set-master hcv1a2b3c4d hc-br-0123abcd",
                "link-up hcv1a2b3c4d (host)",
                "move-to-sandbox hcp1a2b3c4d as eth0",
                "add-address 172.18.0.2/16 dev eth0 (sandbox)",
                "link-up eth0 (sandbox)",
                "add-route default via 172.18.0.1 dev eth0 (sandbox)",
            ]
        );
        let with_mtu = join(&config(Some(9000)), EP, "172.18.0.2/16", None);
        assert_eq!(describe_all(&with_mtu)[0], "create-link hcv1a2b3c4d veth peer hcp1a2b3c4d mtu 9000");
        assert_eq!(with_mtu.len(), 6, "no gateway, no default route");
    }

    #[test]
    fn leave_deletes_the_host_end_only() {
        assert_eq!(describe_all(&leave(EP)), ["delete-link hcv1a2b3c4d"]);
    }

    #[test]
    fn veth_names_fit_ifnamsiz_for_any_id() {
        for id in [EP, "web", "x", &"f".repeat(64)] {
            assert!(veth_host(id).len() <= IFNAMSIZ_MAX && veth_peer(id).len() <= IFNAMSIZ_MAX, "{id}");
            assert_ne!(veth_host(id), veth_peer(id));
        }
    }
}
