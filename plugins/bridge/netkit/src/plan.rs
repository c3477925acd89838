//! Plan pieces both drivers use: configuring the endpoint's link once it is in the
//! sandbox (address, up, default route), and [`describe`], one line of text per step
//! (for logs, and for tests that compare plans: the generated step types have no `==`).

use std::net::Ipv4Addr;

use hostctl_sdk::network::{Address, LinkKind, LinkRef, MacvlanMode, Netns, Route, Step};

/// Steps that configure `link` inside the sandbox: add `cidr`, bring it up, and route
/// the default through `gateway` when the network has one.
pub fn configure_in_sandbox(link: &str, cidr: &str, gateway: Option<Ipv4Addr>) -> Vec<Step> {
    let mut steps = vec![
        Step::AddAddress(Address { link: link.to_owned(), cidr: cidr.to_owned(), netns: Netns::Sandbox }),
        Step::LinkUp(LinkRef { link: link.to_owned(), netns: Netns::Sandbox }),
    ];
    if let Some(gateway) = gateway {
        steps.push(Step::AddRoute(Route {
            destination: "default".to_owned(),
            gateway: Some(gateway.to_string()),
            link: link.to_owned(),
            netns: Netns::Sandbox,
        }));
    }
    steps
}

fn ns(netns: Netns) -> &'static str {
    match netns {
        Netns::Host => "host",
        Netns::Sandbox => "sandbox",
    }
}

/// `step` as one line: `create-link hcv1a2b3c4d veth peer hcp1a2b3c4d mtu 1500`,
/// `add-route default via 172.18.0.1 dev eth0 (sandbox)`, …
pub fn describe(step: &Step) -> String {
    match step {
        Step::CreateLink(c) => {
            let kind = match &c.kind {
                LinkKind::Bridge => "bridge".to_owned(),
                LinkKind::Veth(peer) => format!("veth peer {peer}"),
                LinkKind::Macvlan(m) => {
                    let mode = match m.mode {
                        MacvlanMode::Bridge => "bridge",
                        MacvlanMode::Vepa => "vepa",
                        MacvlanMode::Private => "private",
                        MacvlanMode::Passthru => "passthru",
                    };
                    format!("macvlan parent {} mode {mode}", m.parent)
                }
            };
            let mtu = c.mtu.map(|m| format!(" mtu {m}")).unwrap_or_default();
            format!("create-link {} {kind}{mtu}", c.name)
        }
        Step::DeleteLink(name) => format!("delete-link {name}"),
        Step::SetMaster((link, bridge)) => format!("set-master {link} {bridge}"),
        Step::MoveToSandbox(m) => format!("move-to-sandbox {} as {}", m.link, m.rename),
        Step::AddAddress(a) => format!("add-address {} dev {} ({})", a.cidr, a.link, ns(a.netns)),
        Step::LinkUp(l) => format!("link-up {} ({})", l.link, ns(l.netns)),
        Step::AddRoute(r) => {
            let via = r.gateway.as_ref().map(|g| format!(" via {g}")).unwrap_or_default();
            format!("add-route {}{via} dev {} ({})", r.destination, r.link, ns(r.netns))
        }
        Step::PublishPort(p) => {
            format!("publish-port {} {}:{} -> {}:{}", p.protocol, p.host_ip, p.host_port, p.container_ip, p.container_port)
        }
        Step::UnpublishPort(p) => {
            format!("unpublish-port {} {}:{} -> {}:{}", p.protocol, p.host_ip, p.host_port, p.container_ip, p.container_port)
        }
    }
}

/// Every step of `plan`, described.
pub fn describe_all(plan: &[Step]) -> Vec<String> {
    plan.iter().map(describe).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_configuration_routes_only_through_a_gateway() {
        let with = configure_in_sandbox("eth0", "172.18.0.2/16", Some(Ipv4Addr::new(172, 18, 0, 1)));
        assert_eq!(
            describe_all(&with),
            [
                "add-address 172.18.0.2/16 dev eth0 (sandbox)",
                "link-up eth0 (sandbox)",
                "add-route default via 172.18.0.1 dev eth0 (sandbox)",
            ]
        );
        let without = configure_in_sandbox("eth0", "192.168.1.5/24", None);
        assert_eq!(describe_all(&without), ["add-address 192.168.1.5/24 dev eth0 (sandbox)", "link-up eth0 (sandbox)"]);
    }
}
