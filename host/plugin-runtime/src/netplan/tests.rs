//! Plan checks and rollback against the [`Recorder`] fake: no root, no kernel.

use std::io;
use std::sync::Mutex;

use super::*;
use crate::network::LinkKind;

fn grants() -> Capabilities {
    Capabilities { links: vec!["hc-*".into(), "hcv*".into(), "hcp*".into()], parents: vec!["hcparent*".into()], ports: true, ..Default::default() }
}

fn port(host_port: u16) -> Port {
    Port { protocol: "tcp".into(), host_ip: "127.0.0.1".into(), host_port, container_ip: "172.18.0.2".into(), container_port: 80 }
}

/// A publisher that records and refuses host port 9999 as in use.
#[derive(Default)]
struct Publisher(Mutex<Vec<String>>);

impl PortPublisher for Publisher {
    fn publish(&self, port: &Port) -> io::Result<()> {
        self.0.lock().unwrap().push(format!("publish {}", port.host_port));
        if port.host_port == 9999 {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, "bind 127.0.0.1:9999: address already in use"));
        }
        Ok(())
    }
    fn unpublish(&self, port: &Port) {
        self.0.lock().unwrap().push(format!("unpublish {}", port.host_port));
    }
}

fn join_plan() -> Vec<Step> {
    vec![
        Step::CreateLink { name: "hcv1".into(), kind: LinkKind::Veth { peer: "hcp1".into() }, mtu: Some(1400) },
        Step::SetMaster { link: "hcv1".into(), bridge: "hc-br0".into() },
        Step::LinkUp { link: "hcv1".into(), netns: Netns::Host },
        Step::MoveToSandbox { link: "hcp1".into(), rename: "eth0".into() },
        Step::AddAddress { link: "eth0".into(), cidr: "172.18.0.2/16".into(), netns: Netns::Sandbox },
        Step::LinkUp { link: "eth0".into(), netns: Netns::Sandbox },
        Step::AddRoute { destination: "default".into(), gateway: Some("172.18.0.1".into()), link: "eth0".into(), netns: Netns::Sandbox },
    ]
}

/// The veth's peer is made in the sandbox as eth0 straight away: the move is fused in.
const JOIN_CALLS: [&str; 6] = [
    "create veth hcv1 eth0 (sandbox) mtu 1400",
    "set master hcv1 hc-br0",
    "set up hcv1 (host)",
    "add address 172.18.0.2/16 eth0 (sandbox)",
    "set up eth0 (sandbox)",
    "add route default via 172.18.0.1 dev eth0 (sandbox)",
];

fn run(plan: &[Step], grants: &Capabilities, sandbox: bool, net: &Recorder, ports: Option<&dyn PortPublisher>) -> Result<(), PluginError> {
    execute_with("bridge", grants, "join", plan, sandbox, net, ports)
}

#[test]
fn join_plan_is_performed_in_order() {
    let net = Recorder::new();
    run(&join_plan(), &grants(), true, &net, None).unwrap();
    assert_eq!(net.calls(), JOIN_CALLS);
}

#[test]
fn ungranted_link_refuses_the_whole_plan_before_anything_is_done() {
    let net = Recorder::new();
    let grants = Capabilities { links: vec!["hc-*".into()], ..Default::default() };
    let plan = [
        Step::CreateLink { name: "hc-br0".into(), kind: LinkKind::Bridge, mtu: None },
        Step::CreateLink { name: "eth9".into(), kind: LinkKind::Bridge, mtu: None },
    ];
    let err = run(&plan, &grants, false, &net, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
    assert_eq!(err.to_string(), r#"plugin "bridge": join: step create-link "eth9": link name not granted (links = ["hc-*"])"#);
    assert!(net.calls().is_empty(), "nothing was done: {:?}", net.calls());
}

#[test]
fn veth_peer_bridge_and_deleted_links_must_be_granted_too() {
    let net = Recorder::new();
    let cases = [
        (Step::CreateLink { name: "hcv1".into(), kind: LinkKind::Veth { peer: "eth0".into() }, mtu: None }, "veth peer \"eth0\": link name not granted"),
        (Step::SetMaster { link: "hcv1".into(), bridge: "docker0".into() }, "bridge \"docker0\": link name not granted"),
        (Step::DeleteLink { name: "eth0".into() }, "step delete-link \"eth0\": link name not granted"),
        (Step::MoveToSandbox { link: "eth0".into(), rename: "eth0".into() }, "link name not granted"),
        (Step::LinkUp { link: "eth0".into(), netns: Netns::Host }, "step link-up \"eth0\": link name not granted"),
        (Step::AddAddress { link: "eth0".into(), cidr: "10.0.0.1/8".into(), netns: Netns::Host }, "link name not granted"),
    ];
    for (step, expected) in cases {
        let err = run(&[step], &grants(), true, &net, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    assert!(net.calls().is_empty());
}

#[test]
fn macvlan_parent_must_be_granted() {
    let net = Recorder::new();
    let macvlan = |parent: &str, mode: &str| Step::CreateLink {
        name: "hc-m1".into(),
        kind: LinkKind::Macvlan { parent: parent.into(), mode: mode.into() },
        mtu: None,
    };
    let err = run(&[macvlan("eth0", "bridge")], &grants(), false, &net, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
    assert!(err.to_string().contains(r#"parent "eth0" not granted (parents = ["hcparent*"])"#), "{err}");
    run(&[macvlan("hcparent0", "passthru")], &grants(), false, &net, None).unwrap();
    assert_eq!(net.calls(), ["create macvlan hc-m1 on hcparent0 Passthru"]);
}

#[test]
fn ports_need_the_grant_and_a_publisher() {
    let net = Recorder::new();
    let publisher = Publisher::default();
    let no_ports = Capabilities { ports: false, ..grants() };
    let err = run(&[Step::PublishPort(port(8080))], &no_ports, false, &net, Some(&publisher)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
    assert!(err.to_string().contains("publishing ports not granted (ports = false)"), "{err}");
    let err = run(&[Step::PublishPort(port(8080))], &grants(), false, &net, None).unwrap_err();
    assert!(err.to_string().contains("no port publisher"), "{err}");
    assert!(publisher.0.lock().unwrap().is_empty());
    run(&[Step::PublishPort(port(8080)), Step::UnpublishPort(port(8081))], &grants(), false, &net, Some(&publisher)).unwrap();
    assert_eq!(*publisher.0.lock().unwrap(), ["publish 8080", "unpublish 8081"]);
}

#[test]
fn sandbox_step_without_a_sandbox_is_invalid() {
    let net = Recorder::new();
    let err = run(&join_plan(), &grants(), false, &net, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains(r#"step move-to-sandbox "hcp1" as "eth0": a sandbox step, but this operation has no sandbox"#), "{err}");
    assert!(net.calls().is_empty());
}

#[test]
fn default_route_on_the_host_is_never_granted() {
    let net = Recorder::new();
    let step = Step::AddRoute { destination: "default".into(), gateway: Some("10.0.0.1".into()), link: "hc-br0".into(), netns: Netns::Host };
    let err = run(&[step], &grants(), false, &net, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
    let step = Step::AddRoute { destination: "10.9.0.0/16".into(), gateway: None, link: "hc-br0".into(), netns: Netns::Host };
    run(&[step], &grants(), false, &net, None).unwrap();
    assert_eq!(net.calls(), ["add route 10.9.0.0/16 dev hc-br0 (host)"]);
}

#[test]
fn malformed_steps_are_invalid_arguments() {
    let net = Recorder::new();
    let sandbox = |link: &str, cidr: &str| Step::AddAddress { link: link.into(), cidr: cidr.into(), netns: Netns::Sandbox };
    let route = |dest: &str, gw: Option<&str>| Step::AddRoute { destination: dest.into(), gateway: gw.map(Into::into), link: "eth0".into(), netns: Netns::Sandbox };
    let cases = [
        (sandbox("eth0", "172.18.0.2"), "CIDR"),
        (sandbox("eth0", "fd00::2/64"), "CIDR"),
        (sandbox("this-name-is-too-long", "172.18.0.2/16"), "IFNAMSIZ"),
        (route("default", None), "needs a gateway"),
        (route("default", Some("gw")), "expected an IPv4 address"),
        (route("10.1.2.3/16", None), "host bits are set"),
        (Step::CreateLink { name: "hc-m1".into(), kind: LinkKind::Macvlan { parent: "hcparent0".into(), mode: "source".into() }, mtu: None }, "macvlan mode"),
        (Step::CreateLink { name: "hc-br0".into(), kind: LinkKind::Bridge, mtu: Some(10) }, "mtu 10"),
        (Step::PublishPort(Port { protocol: "sctp".into(), ..port(80) }), "expected tcp or udp"),
        (Step::PublishPort(Port { host_ip: "any".into(), ..port(80) }), "host ip"),
    ];
    let publisher = Publisher::default();
    for (step, expected) in cases {
        let err = run(&[step], &grants(), true, &net, Some(&publisher)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
    assert!(net.calls().is_empty());
}

#[test]
fn join_rolls_back_in_reverse_when_the_route_fails() {
    let net = Recorder::new();
    net.fail("add route", libc::EEXIST);
    let err = run(&join_plan(), &grants(), true, &net, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "an existing object is the caller's to fix");
    assert_eq!(
        err.to_string(),
        r#"plugin "bridge": join: step add-route default via 172.18.0.1 dev "eth0" in the sandbox: file exists"#
    );
    let calls = net.calls();
    assert_eq!(calls[..6], JOIN_CALLS);
    assert_eq!(calls[6..], ["delete address 172.18.0.2/16 eth0 (sandbox)", "set nomaster hcv1", "delete link hcv1 (host)"]);
}

#[test]
fn join_rolls_back_veth_on_address_failure() {
    let net = Recorder::new();
    net.fail("add address", libc::EADDRNOTAVAIL);
    let err = run(&join_plan(), &grants(), true, &net, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("step add-address 172.18.0.2/16 on \"eth0\" in the sandbox: cannot assign requested address"), "{err}");
    assert_eq!(net.calls()[4..], ["set nomaster hcv1", "delete link hcv1 (host)"]);
}

#[test]
fn a_macvlan_is_made_in_the_sandbox_and_deleted_there_on_rollback() {
    let net = Recorder::new();
    net.fail("add route", libc::ENETUNREACH);
    let plan = [
        Step::CreateLink { name: "hc-m1".into(), kind: LinkKind::Macvlan { parent: "hcparent0".into(), mode: "vepa".into() }, mtu: None },
        Step::MoveToSandbox { link: "hc-m1".into(), rename: "eth0".into() },
        Step::AddAddress { link: "eth0".into(), cidr: "192.168.7.2/24".into(), netns: Netns::Sandbox },
        Step::AddRoute { destination: "default".into(), gateway: Some("192.168.7.1".into()), link: "eth0".into(), netns: Netns::Sandbox },
    ];
    let err = run(&plan, &grants(), true, &net, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(
        net.calls(),
        [
            "create macvlan eth0 (sandbox) on hcparent0 Vepa",
            "add address 192.168.7.2/24 eth0 (sandbox)",
            "add route default via 192.168.7.1 dev eth0 (sandbox)",
            "delete address 192.168.7.2/24 eth0 (sandbox)",
            "delete link eth0 (sandbox)",
        ]
    );
    let net = Recorder::new();
    net.fail("create macvlan", libc::EEXIST);
    let err = run(&plan, &grants(), true, &net, None).unwrap_err();
    assert!(err.to_string().contains(r#"step create-link "hc-m1" (made in the sandbox as "eth0"): file exists"#), "{err}");
}

#[test]
fn a_peer_touched_before_its_move_is_moved_and_moved_back() {
    let net = Recorder::new();
    net.fail("add address", libc::EEXIST);
    let plan = [
        Step::CreateLink { name: "hcv1".into(), kind: LinkKind::Veth { peer: "hcp1".into() }, mtu: None },
        Step::LinkUp { link: "hcp1".into(), netns: Netns::Host },
        Step::MoveToSandbox { link: "hcp1".into(), rename: "eth0".into() },
        Step::AddAddress { link: "eth0".into(), cidr: "172.18.0.2/16".into(), netns: Netns::Sandbox },
    ];
    run(&plan, &grants(), true, &net, None).unwrap_err();
    assert_eq!(
        net.calls(),
        [
            "create veth hcv1 hcp1",
            "set up hcp1 (host)",
            "move hcp1 (host) as eth0",
            "add address 172.18.0.2/16 eth0 (sandbox)",
            "move eth0 (sandbox) as hcp1",
            "delete link hcv1 (host)",
        ]
    );
}

#[test]
fn a_failed_first_step_undoes_nothing() {
    let net = Recorder::new();
    net.fail("create veth", libc::EEXIST);
    let err = run(&join_plan(), &grants(), true, &net, None).unwrap_err();
    assert!(err.to_string().contains(r#"step create-link "hcv1" (its peer made in the sandbox as "eth0"): file exists"#), "{err}");
    assert_eq!(net.calls(), ["create veth hcv1 eth0 (sandbox) mtu 1400"]);
}

#[test]
fn published_ports_are_withdrawn_when_a_later_one_fails() {
    let net = Recorder::new();
    let publisher = Publisher::default();
    let plan = [Step::PublishPort(port(8080)), Step::PublishPort(port(8081)), Step::PublishPort(port(9999))];
    let err = run(&plan, &grants(), false, &net, Some(&publisher)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("step publish-port tcp/127.0.0.1:9999 to 172.18.0.2:80: bind 127.0.0.1:9999: address already in use"), "{err}");
    assert_eq!(*publisher.0.lock().unwrap(), ["publish 8080", "publish 8081", "publish 9999", "unpublish 8081", "unpublish 8080"]);
}

#[test]
fn a_rollback_that_fails_says_what_it_left() {
    let net = Recorder::new();
    net.fail("set up eth0", libc::EIO).fail("delete link", libc::EBUSY);
    let err = run(&join_plan(), &grants(), true, &net, None).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(r#"step link-up "eth0" in the sandbox: input/output error; rolling back failed too, left: link "hcv1" (device or resource busy)"#), "{text}");
    assert_eq!(net.calls().last().unwrap(), "delete link hcv1 (host)", "the rest of the rollback still ran");
}

#[test]
fn an_empty_plan_does_nothing() {
    let net = Recorder::new();
    run(&[], &Capabilities::default(), false, &net, None).unwrap();
    assert!(net.calls().is_empty());
}

#[test]
fn a_teardown_leaves_a_veth_whose_peer_is_in_the_sandbox_to_the_kernel() {
    let plan = [Step::DeleteLink { name: "hcv1".into() }, Step::DeleteLink { name: "hcv2".into() }];
    let actions = check::check(&plan, &grants(), true, false).unwrap();
    let net = Recorder::new();
    net.peer_in_sandbox("hcv1");
    perform("bridge", "leave", &plan, &actions, &net, None, true).unwrap();
    assert_eq!(net.calls(), ["delete link hcv2 (host)"], "hcv1 goes with the sandbox; hcv2 is not tied to it");
    let net = Recorder::new();
    net.peer_in_sandbox("hcv1");
    perform("bridge", "leave", &plan, &actions, &net, None, false).unwrap();
    assert_eq!(net.calls(), ["delete link hcv1 (host)", "delete link hcv2 (host)"], "outside a teardown every delete is done");
}
