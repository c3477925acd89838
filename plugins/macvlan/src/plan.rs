//! The macvlan driver's plans, as pure functions of what the driver recorded. A network
//! needs nothing on the host (its parent exists); an endpoint is a macvlan `hcm<8 hex>`
//! on the parent, moved into the sandbox as `eth0`, addressed, up, and routed through
//! the gateway if the network has one.

use std::net::Ipv4Addr;

use hostctl_netkit::names::{SANDBOX_IFNAME, link_name};
use hostctl_netkit::plan::configure_in_sandbox;
use hostctl_sdk::network::{CreateLink, LinkKind, Macvlan, MoveLink, Step};

use crate::config::MacvlanConfig;

/// The prefix of an endpoint's macvlan while it is on the host.
pub const MACVLAN_PREFIX: &str = "hcm";

/// Endpoint `endpoint`'s macvlan, before it moves into the sandbox.
pub fn macvlan_link(endpoint: &str) -> String {
    link_name(MACVLAN_PREFIX, endpoint)
}

/// Take the network down: nothing of its own is on the host but a macvlan of an endpoint
/// still recorded that never left it (deleting a missing link is fine).
pub fn delete_network(endpoints: &[String]) -> Vec<Step> {
    endpoints.iter().map(|e| Step::DeleteLink(macvlan_link(e))).collect()
}

/// Put endpoint `endpoint` (address `cidr`) on the parent and into the sandbox.
pub fn join(config: &MacvlanConfig, endpoint: &str, cidr: &str, gateway: Option<Ipv4Addr>) -> Vec<Step> {
    let link = macvlan_link(endpoint);
    let kind = LinkKind::Macvlan(Macvlan { parent: config.parent.clone(), mode: config.mode.to_plan() });
    let mut plan = vec![
        Step::CreateLink(CreateLink { name: link.clone(), kind, mtu: None }),
        Step::MoveToSandbox(MoveLink { link, rename: SANDBOX_IFNAME.to_owned() }),
    ];
    plan.extend(configure_in_sandbox(SANDBOX_IFNAME, cidr, gateway));
    plan
}

/// Disconnect the endpoint: its macvlan dies with the sandbox's netns; delete it from the
/// host in case it never left (a missing one is fine).
pub fn leave(endpoint: &str) -> Vec<Step> {
    vec![Step::DeleteLink(macvlan_link(endpoint))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use hostctl_netkit::names::IFNAMSIZ_MAX;
    use hostctl_netkit::plan::describe_all;

    const EP: &str = "1a2b3c4d00000000000000000000000000000000000000000000000000000000";

    #[test]
    fn join_puts_a_macvlan_on_the_parent_into_the_sandbox() {
        let config = MacvlanConfig { parent: "eth1".into(), mode: Mode::Vepa };
        let plan = join(&config, EP, "192.168.1.10/24", Some(Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!(
            describe_all(&plan),
            [
                "create-link hcm1a2b3c4d macvlan parent eth1 mode vepa",
                "move-to-sandbox hcm1a2b3c4d as eth0",
                "add-address 192.168.1.10/24 dev eth0 (sandbox)",
                "link-up eth0 (sandbox)",
                "add-route default via 192.168.1.1 dev eth0 (sandbox)",
            ]
        );
        let config = MacvlanConfig { parent: "eth1".into(), mode: Mode::Bridge };
        let plan = join(&config, EP, "192.168.1.10/24", None);
        assert_eq!(describe_all(&plan).last().unwrap(), "link-up eth0 (sandbox)", "no gateway, no default route");
    }

    #[test]
    fn leave_and_delete_only_sweep_macvlans_left_on_the_host() {
        assert_eq!(describe_all(&leave(EP)), ["delete-link hcm1a2b3c4d"]);
        assert!(delete_network(&[]).is_empty());
        assert_eq!(describe_all(&delete_network(&[EP.to_owned()])), ["delete-link hcm1a2b3c4d"]);
    }

    #[test]
    fn macvlan_names_fit_ifnamsiz() {
        for id in [EP, "web", &"f".repeat(64)] {
            assert!(macvlan_link(id).len() <= IFNAMSIZ_MAX, "{id}");
        }
    }
}
