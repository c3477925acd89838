//! The network-driver conformance suite: the cases every `hostctl:network/driver`
//! component must pass, run through the real plugin runtime, its plan executor and the
//! real kernel (root), as containerd runs one suite against any snapshotter.
//!
//! A third party checks a driver with one line in a test file; a driver that needs
//! options to create a network gets them, with [`PARENT`] standing for a scratch veth the
//! fixture creates on the host (a macvlan parent, say):
//!
//! ```ignore
//! hostctl_tests::network_conformance!("/path/to/my-driver");       // plugin.toml + .wasm
//! hostctl_tests::network_conformance!(Bundled("macvlan"), &[("parent", PARENT)]);
//! ```
//!
//! Each case gets a [`Fixture`]: a temp dir (`hostctl-test-network-*`) with the code
//! cache, the plugin loaded with an in-memory kv store and a recording port publisher,
//! a /24 of 10.233.0.0/16 of its own, and what it made (networks, sandboxes, links named
//! by its plans) taken down when it drops, also after a failure. The cases look only at
//! what the contract (`wit/network/network.wit`) promises: answers and error kinds, plans
//! the host accepts and performs, the address and default route inside the sandbox, and
//! no link of the driver's left on the host at the end. They never name a driver's links.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use hostctl_kernel::mount::Kernel;
use hostctl_kernel::netlink::BlockingNetlink;
use hostctl_kernel::netns;
use hostctl_plugin_runtime::network::{CreatedNetwork, Endpoint, LinkKind, Port, PortRequest, Step};
use hostctl_plugin_runtime::{Defaults, ErrorKind, Loader, MemoryKv, NetworkPlugin, Plugin, PluginError, PortPublisher};
use sha2::{Digest, Sha256};

pub use super::storage::{Bundled, PluginDir};

/// In a driver's options, the name of a scratch veth the fixture creates on the host.
pub const PARENT: &str = "{parent}";

/// Records the ports a plan publishes and withdraws (the daemon's proxy would forward).
#[derive(Default)]
pub struct RecordingPorts(Mutex<Vec<String>>);

impl RecordingPorts {
    /// `publish tcp 0.0.0.0:8080 -> 10.233.1.2:80`, `unpublish …`, in order.
    pub fn calls(&self) -> Vec<String> {
        self.0.lock().expect("ports").clone()
    }
}

fn port_text(p: &Port) -> String {
    format!("{} {}:{} -> {}:{}", p.protocol, p.host_ip, p.host_port, p.container_ip, p.container_port)
}

impl PortPublisher for RecordingPorts {
    fn publish(&self, port: &Port) -> std::io::Result<()> {
        self.0.lock().expect("ports").push(format!("publish {}", port_text(port)));
        Ok(())
    }
    fn unpublish(&self, port: &Port) {
        self.0.lock().expect("ports").push(format!("unpublish {}", port_text(port)));
    }
}

/// A fresh 64-hex id, as the daemon makes them.
pub fn random_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let seed = format!("{}-{}-{:?}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), std::time::SystemTime::now());
    hex::encode(Sha256::digest(seed.as_bytes()))
}

/// An IPv4 CIDR as (address, prefix).
fn cidr(text: &str) -> (Ipv4Addr, u8) {
    let (ip, prefix) = text.split_once('/').unwrap_or_else(|| panic!("{text:?} is not in CIDR form"));
    (ip.parse().unwrap_or_else(|_| panic!("{text:?}: not IPv4")), prefix.parse().unwrap_or_else(|_| panic!("{text:?}: bad prefix")))
}

/// Whether `ip` is in `subnet` (CIDR).
pub fn in_subnet(ip: Ipv4Addr, subnet: &str) -> bool {
    let (net, prefix) = cidr(subnet);
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(net) & mask
}

fn overlap(a: &str, b: &str) -> bool {
    in_subnet(cidr(a).0, b) || in_subnet(cidr(b).0, a)
}

/// Links a plan creates on the host (both ends of a veth pair).
fn created_links(plan: &[Step]) -> Vec<String> {
    let mut names = Vec::new();
    for step in plan {
        if let Step::CreateLink { name, kind, .. } = step {
            names.push(name.clone());
            if let LinkKind::Veth { peer } = kind {
                names.push(peer.clone());
            }
        }
    }
    names
}

/// One case's world.
pub struct Fixture {
    plugin: Arc<NetworkPlugin>,
    ports: Arc<RecordingPorts>,
    options: Vec<(String, String)>,
    parent: Option<String>,
    subnet_base: u8,
    networks: RefCell<Vec<String>>,
    sandboxes: RefCell<Vec<PathBuf>>,
    links: RefCell<Vec<String>>,
    _loader: Loader,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// `plugin` loaded in a fresh temp dir; `options` are given to every network, with
    /// [`PARENT`] replaced by a scratch veth created now. Panics (failing the case) if the
    /// plugin does not load as a network driver.
    pub fn new(plugin: &impl PluginDir, options: &[(&str, &str)]) -> Fixture {
        static FIXTURES: AtomicU32 = AtomicU32::new(0);
        let dir = tempfile::Builder::new().prefix("hostctl-test-network-").tempdir().expect("creating the fixture dir");
        let plugin_dir = plugin.plugin_dir(dir.path());
        let ports = Arc::new(RecordingPorts::default());
        let loader = Loader::new(&dir.path().join("cache"), &dir.path().join("storage"), Arc::new(Kernel), Defaults::default())
            .unwrap_or_else(|e| panic!("starting the plugin runtime: {e}"))
            .with_kv(Arc::new(MemoryKv::default()))
            .with_ports(ports.clone());
        let (loaded, _info) = loader.load(&plugin_dir).unwrap_or_else(|e| panic!("loading {}: {e}", plugin_dir.display()));
        let Plugin::Network(plugin) = loaded else { panic!("{} is not a network plugin", plugin_dir.display()) };
        let parent = options.iter().any(|(_, v)| *v == PARENT).then(|| {
            let id = random_id();
            let (name, peer) = (format!("hctp{}", &id[..8]), format!("hctq{}", &id[..8]));
            let nl = BlockingNetlink::connect().expect("netlink");
            nl.create_veth(&name, &peer, None).unwrap_or_else(|e| panic!("creating the scratch parent {name}: {e}"));
            nl.set_up(&name, true).expect("setting the scratch parent up");
            name
        });
        let options = options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), if *v == PARENT { parent.clone().expect("a parent") } else { (*v).to_owned() }))
            .collect();
        let subnet_base = FIXTURES.fetch_add(1, Ordering::Relaxed) as u8;
        Fixture {
            plugin,
            ports,
            options,
            parent,
            subnet_base,
            networks: RefCell::default(),
            sandboxes: RefCell::default(),
            links: RefCell::default(),
            _loader: loader,
            dir,
        }
    }

    pub fn plugin(&self) -> &NetworkPlugin {
        &self.plugin
    }

    /// What the port publisher was asked, in order.
    pub fn port_calls(&self) -> Vec<String> {
        self.ports.calls()
    }

    /// The fixture's own /24 (`n` picks one of its neighbours for a second network).
    pub fn subnet(&self, n: u8) -> String {
        format!("10.233.{}.0/24", self.subnet_base.wrapping_add(n.wrapping_mul(64)))
    }

    /// Ask for network `id` (the fixture's options, the given IPAM), recording it for
    /// clean-up if it is created. The plan is not performed.
    pub fn try_create(&self, id: &str, subnet: Option<&str>, gateway: Option<&str>) -> Result<CreatedNetwork, PluginError> {
        let created = self.plugin.create_network(id, &format!("conf-{}", &id[..8]), &self.options, subnet, gateway, None)?;
        self.networks.borrow_mut().push(id.to_owned());
        Ok(created)
    }

    /// Create a network on the fixture's subnet `n` and perform its plan; its id.
    pub fn network(&self, n: u8) -> (String, CreatedNetwork) {
        let id = random_id();
        let created = self.try_create(&id, Some(&self.subnet(n)), None).unwrap_or_else(|e| panic!("create network: {e}"));
        self.execute("create network", &created.plan, None).unwrap_or_else(|e| panic!("performing create network's plan: {e}"));
        (id, created)
    }

    /// Perform `plan`, remembering the links it creates.
    pub fn execute(&self, op: &'static str, plan: &[Step], sandbox: Option<&Path>) -> Result<(), PluginError> {
        self.links.borrow_mut().extend(created_links(plan));
        self.plugin.execute(op, plan, sandbox)
    }

    /// Delete network `id` and perform the plan.
    pub fn delete_network(&self, id: &str) {
        let plan = self.plugin.delete_network(id).unwrap_or_else(|e| panic!("delete network: {e}"));
        self.networks.borrow_mut().retain(|n| n != id);
        self.execute("delete network", &plan, None).unwrap_or_else(|e| panic!("performing delete network's plan: {e}"));
    }

    /// A fresh sandbox (a persistent netns with lo up), removed when the fixture drops.
    pub fn sandbox(&self) -> PathBuf {
        let path = self.dir.path().join("netns").join(&random_id()[..12]);
        netns::create(&path).unwrap_or_else(|e| panic!("creating a sandbox: {e}"));
        self.sandboxes.borrow_mut().push(path.clone());
        path
    }

    /// Links named by this fixture's plans that exist on the host now.
    pub fn links_left(&self) -> Vec<String> {
        let nl = BlockingNetlink::connect().expect("netlink");
        let links = self.links.borrow();
        nl.links().expect("listing links").into_iter().map(|l| l.name).filter(|n| links.contains(n)).collect()
    }

    /// Create an endpoint, join it to a new sandbox and perform the plan.
    pub fn joined(&self, network: &str) -> (String, Endpoint, PathBuf) {
        let endpoint = random_id();
        let ep = self.plugin.create_endpoint(network, &endpoint, None).unwrap_or_else(|e| panic!("create endpoint: {e}"));
        let sandbox = self.sandbox();
        let plan = self.plugin.join(network, &endpoint).unwrap_or_else(|e| panic!("join: {e}"));
        self.execute("join", &plan, Some(&sandbox)).unwrap_or_else(|e| panic!("performing join's plan: {e}"));
        (endpoint, ep, sandbox)
    }

    /// Leave and delete the endpoint, performing the leave plan.
    pub fn unjoin(&self, network: &str, endpoint: &str, sandbox: &Path) {
        let plan = self.plugin.leave(network, endpoint).unwrap_or_else(|e| panic!("leave: {e}"));
        self.execute("leave", &plan, Some(sandbox)).unwrap_or_else(|e| panic!("performing leave's plan: {e}"));
        self.plugin.delete_endpoint(network, endpoint).unwrap_or_else(|e| panic!("delete endpoint: {e}"));
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for id in self.networks.take() {
            if let Ok(plan) = self.plugin.delete_network(&id) {
                let _ = self.execute("delete network", &plan, None);
            }
        }
        for sandbox in self.sandboxes.take() {
            let _ = netns::remove(&sandbox);
        }
        if let Ok(nl) = BlockingNetlink::connect() {
            for link in self.links.take().iter().chain(&self.parent) {
                let _ = nl.delete_link(link);
            }
        }
    }
}

fn kind(result: Result<impl std::fmt::Debug, PluginError>) -> ErrorKind {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.kind(),
    }
}

// ---- the contract: answers and error kinds ----

/// `get-capabilities` answers a scope Docker knows.
pub fn scope_is_local_or_global(fx: &Fixture) {
    let scope = fx.plugin().scope().expect("capabilities");
    assert!(scope == "local" || scope == "global", "scope {scope:?}");
}

/// A network asked for with a subnet has exactly it; its gateway, if any, is inside.
/// (One network at a time: a driver may allow one per parent, as Docker's macvlan.)
pub fn network_gets_the_subnet_it_asks_for(fx: &Fixture) {
    let id = random_id();
    let created = fx.try_create(&id, Some(&fx.subnet(0)), None).expect("create network");
    assert_eq!(created.subnet, fx.subnet(0));
    if let Some(gateway) = &created.gateway {
        assert!(in_subnet(gateway.parse().expect("an IPv4 gateway"), &created.subnet), "gateway {gateway}");
    }
    fx.delete_network(&id);
    let gateway = fx.subnet(1).replace(".0/24", ".9");
    let created = fx.try_create(&random_id(), Some(&fx.subnet(1)), Some(&gateway)).expect("create network with a gateway");
    assert_eq!(created.gateway.as_deref(), Some(gateway.as_str()), "the gateway asked for");
}

/// Without a subnet the driver picks one that overlaps no route the host had.
pub fn network_without_a_subnet_gets_one_no_host_route_uses(fx: &Fixture) {
    let routes = BlockingNetlink::connect().expect("netlink").routes().expect("routes");
    let created = fx.try_create(&random_id(), None, None).expect("create network without a subnet");
    for route in routes.iter().filter_map(|r| r.destination) {
        assert!(!overlap(&created.subnet, &route.to_string()), "{} overlaps the host's route to {route}", created.subnet);
    }
}

/// One id, one network.
pub fn existing_network_id_is_already_exists(fx: &Fixture) {
    let id = random_id();
    fx.try_create(&id, Some(&fx.subnet(0)), None).expect("create network");
    assert_eq!(kind(fx.try_create(&id, Some(&fx.subnet(1)), None)), ErrorKind::AlreadyExists);
}

/// Malformed subnets and gateways outside the subnet are invalid arguments.
pub fn malformed_ipam_is_invalid_argument(fx: &Fixture) {
    for subnet in ["10.233.0.0/33", "nonsense", "10.233.0/24"] {
        assert_eq!(kind(fx.try_create(&random_id(), Some(subnet), None)), ErrorKind::InvalidArgument, "subnet {subnet}");
    }
    assert_eq!(kind(fx.try_create(&random_id(), Some(&fx.subnet(0)), Some("192.0.2.1"))), ErrorKind::InvalidArgument);
}

/// Endpoints get distinct host addresses of the subnet, in CIDR form with its prefix,
/// never its network, broadcast or gateway address.
pub fn endpoints_get_distinct_addresses_in_the_subnet(fx: &Fixture) {
    let (id, net) = fx.network(0);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let ep = fx.plugin().create_endpoint(&id, &random_id(), None).expect("create endpoint");
        let (ip, prefix) = cidr(&ep.address);
        assert_eq!(prefix, 24, "{}", ep.address);
        assert!(in_subnet(ip, &net.subnet), "{} outside {}", ep.address, net.subnet);
        let last = ip.octets()[3];
        assert!(last != 0 && last != 255, "{} is the network or broadcast address", ep.address);
        assert_ne!(Some(ip.to_string()), net.gateway, "an endpoint got the gateway");
        assert_eq!(ep.gateway, net.gateway, "the endpoint's gateway is the network's");
        assert!(!seen.contains(&ip), "{ip} handed out twice");
        seen.push(ip);
    }
}

/// A requested address is given, held, and free again once its endpoint is deleted; one
/// outside the subnet is an invalid argument.
pub fn requested_addresses_are_held_until_deleted(fx: &Fixture) {
    let (id, net) = fx.network(0);
    let wanted = net.subnet.replace(".0/24", ".77");
    let first = random_id();
    let ep = fx.plugin().create_endpoint(&id, &first, Some(&wanted)).expect("create endpoint at .77");
    assert_eq!(ep.address, format!("{wanted}/24"));
    assert_eq!(kind(fx.plugin().create_endpoint(&id, &random_id(), Some(&wanted))), ErrorKind::AlreadyExists);
    assert_eq!(kind(fx.plugin().create_endpoint(&id, &random_id(), Some("192.0.2.7"))), ErrorKind::InvalidArgument);
    fx.plugin().delete_endpoint(&id, &first).expect("delete endpoint");
    fx.plugin().create_endpoint(&id, &random_id(), Some(&wanted)).expect("the freed address again");
}

/// Operations on a network or endpoint the driver does not hold are not-found.
pub fn unknown_networks_and_endpoints_are_not_found(fx: &Fixture) {
    let unknown = random_id();
    assert_eq!(kind(fx.plugin().create_endpoint(&unknown, &random_id(), None)), ErrorKind::NotFound);
    assert_eq!(kind(fx.plugin().join(&unknown, &random_id())), ErrorKind::NotFound);
    assert_eq!(kind(fx.plugin().delete_network(&unknown)), ErrorKind::NotFound);
    let (id, _) = fx.network(0);
    assert_eq!(kind(fx.plugin().join(&id, &random_id())), ErrorKind::NotFound);
    assert_eq!(kind(fx.plugin().delete_endpoint(&id, &random_id())), ErrorKind::NotFound);
}

// ---- plans against the kernel ----

/// A network's plans are granted by its own manifest, and delete-network takes away
/// every link create-network made.
pub fn network_plans_are_granted_and_leave_nothing(fx: &Fixture) {
    let (id, _) = fx.network(0);
    fx.delete_network(&id);
    assert_eq!(fx.links_left(), Vec::<String>::new());
}

/// After join, the sandbox has a link up with the endpoint's address and, when the
/// network has a gateway, a default route through it; after leave, delete-endpoint and
/// delete-network, no link of the driver's is left on the host.
pub fn join_wires_the_sandbox_and_leave_unwires_it(fx: &Fixture) {
    let (id, net) = fx.network(0);
    let (endpoint, ep, sandbox) = fx.joined(&id);
    let inside = BlockingNetlink::connect_in(&sandbox).expect("netlink in the sandbox");
    let links = inside.links().expect("links in the sandbox");
    let link = links.iter().find(|l| l.addresses.iter().any(|a| a.to_string() == ep.address));
    let link = link.unwrap_or_else(|| panic!("no link in the sandbox has {}: {links:?}", ep.address));
    assert!(link.up, "{} is down", link.name);
    if let Some(gateway) = &net.gateway {
        let routes = inside.routes().expect("routes in the sandbox");
        let default = routes.iter().find(|r| r.destination.is_none());
        let via = default.and_then(|r| r.gateway).map(|g| g.to_string());
        assert_eq!(via.as_deref(), Some(gateway.as_str()), "default route: {routes:?}");
    }
    fx.unjoin(&id, &endpoint, &sandbox);
    fx.delete_network(&id);
    assert_eq!(fx.links_left(), Vec::<String>::new());
}

/// Leave can be asked twice (the daemon retries after a crash): both plans perform.
pub fn leave_is_retryable(fx: &Fixture) {
    let (id, _) = fx.network(0);
    let (endpoint, _, sandbox) = fx.joined(&id);
    for _ in 0..2 {
        let plan = fx.plugin().leave(&id, &endpoint).expect("leave");
        fx.execute("leave", &plan, Some(&sandbox)).expect("performing leave's plan");
    }
}

/// Ports are either published (plan steps the host performs, withdrawn exactly by
/// revoke) or refused as an invalid argument; never silently dropped half-way.
pub fn ports_are_published_and_revoked_or_refused(fx: &Fixture) {
    let (id, _) = fx.network(0);
    let (endpoint, ep, sandbox) = fx.joined(&id);
    let port = PortRequest { protocol: "tcp".into(), host_ip: Some("127.0.0.1".into()), host_port: 18080, container_port: 80 };
    match fx.plugin().program_external_connectivity(&id, &endpoint, &[port]) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}"),
        Ok(plan) => {
            fx.execute("program external connectivity", &plan, Some(&sandbox)).expect("publishing");
            let ip = cidr(&ep.address).0;
            assert_eq!(fx.port_calls(), [format!("publish tcp 127.0.0.1:18080 -> {ip}:80")]);
            let plan = fx.plugin().revoke_external_connectivity(&id, &endpoint).expect("revoke");
            fx.execute("revoke external connectivity", &plan, Some(&sandbox)).expect("withdrawing");
            assert_eq!(fx.port_calls()[1..], [format!("unpublish tcp 127.0.0.1:18080 -> {ip}:80")]);
        }
    }
    let plan = fx.plugin().revoke_external_connectivity(&id, &endpoint).expect("revoke with nothing published");
    assert!(plan.iter().all(|s| !matches!(s, Step::PublishPort(_))), "revoke publishes nothing: {plan:?}");
}

/// One `#[test]` per conformance case for the network plugin `$plugin` (a
/// [`PluginDir`]: a path to an installed plugin, or [`Bundled`]), with `$options` (a
/// `&[(&str, &str)]`, [`PARENT`] for a scratch parent link) given to every network.
#[macro_export]
macro_rules! network_conformance {
    ($plugin:expr $(,)?) => {
        $crate::network_conformance!($plugin, &[]);
    };
    ($plugin:expr, $options:expr $(,)?) => {
        $crate::network_conformance!(@cases $plugin, $options;
            scope_is_local_or_global,
            network_gets_the_subnet_it_asks_for,
            network_without_a_subnet_gets_one_no_host_route_uses,
            existing_network_id_is_already_exists,
            malformed_ipam_is_invalid_argument,
            endpoints_get_distinct_addresses_in_the_subnet,
            requested_addresses_are_held_until_deleted,
            unknown_networks_and_endpoints_are_not_found,
            network_plans_are_granted_and_leave_nothing,
            join_wires_the_sandbox_and_leave_unwires_it,
            leave_is_retryable,
            ports_are_published_and_revoked_or_refused,
        );
    };
    (@cases $plugin:expr, $options:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let fixture = $crate::conformance::network::Fixture::new(&$plugin, $options);
                $crate::conformance::network::$case(&fixture);
            }
        )*
    };
}

/// The bundled network drivers against the suite (root, and `scripts/build-plugins`
/// first): `cargo test --release -p hostctl-tests --lib conformance::network`.
#[cfg(test)]
mod bundled {
    mod bridge {
        use crate::conformance::network::Bundled;
        crate::network_conformance!(Bundled("bridge"));
    }

    mod macvlan {
        use crate::conformance::network::{Bundled, PARENT};
        crate::network_conformance!(Bundled("macvlan"), &[("parent", PARENT)]);
    }
}
