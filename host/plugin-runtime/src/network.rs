//! A loaded network driver, as the daemon calls it: one sandboxed call per operation of
//! `hostctl:network/driver`, answers converted to the runtime's own types. A plan
//! ([`Step`]s) is checked against the grants and performed by the network plan executor.

use std::sync::Arc;

use wasmtime::Store;

use crate::bindings::network::exports::hostctl::network::driver::{self as wit, Guest};
use crate::bindings::network::hostctl::network::plan as witplan;
use crate::bindings::network::{NetworkDriver, NetworkDriverPre};
use crate::sandbox::{PluginError, PluginState, Shared};

/// Where a step acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Netns {
    Host,
    /// The container's network namespace.
    Sandbox,
}

/// What `CreateLink` makes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LinkKind {
    Bridge,
    Veth { peer: String },
    Macvlan { parent: String, mode: String },
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Port {
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: String,
    pub container_port: u16,
}

/// One step of a network plan. Serializable: the daemon keeps a network's creation
/// plan, to perform it again when the host lost what it made (a reboot).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Step {
    CreateLink { name: String, kind: LinkKind, mtu: Option<u32> },
    DeleteLink { name: String },
    SetMaster { link: String, bridge: String },
    MoveToSandbox { link: String, rename: String },
    AddAddress { link: String, cidr: String, netns: Netns },
    LinkUp { link: String, netns: Netns },
    AddRoute { destination: String, gateway: Option<String>, link: String, netns: Netns },
    PublishPort(Port),
    UnpublishPort(Port),
}

/// A network the driver created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedNetwork {
    pub subnet: String,
    pub gateway: Option<String>,
    pub options: Vec<(String, String)>,
    pub plan: Vec<Step>,
}

/// An endpoint's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: String,
    pub gateway: Option<String>,
    pub mac: Option<String>,
}

/// A port to publish (`-p host:container/proto`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub protocol: String,
    pub host_ip: Option<String>,
    pub host_port: u16,
    pub container_port: u16,
}

/// A loaded network driver.
pub struct NetworkPlugin {
    pub(crate) shared: Arc<Shared>,
    engine: wasmtime::Engine,
    pre: NetworkDriverPre<PluginState>,
}

impl std::fmt::Debug for NetworkPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkPlugin").field("name", &self.shared.name).finish()
    }
}

type Answer<T> = wasmtime::Result<Result<T, crate::bindings::host::hostctl::types::types::Error>>;

impl NetworkPlugin {
    pub(crate) fn new(shared: Arc<Shared>, engine: wasmtime::Engine, pre: NetworkDriverPre<PluginState>) -> Self {
        NetworkPlugin { shared, engine, pre }
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The plugin's grants (the plan executor checks steps against them).
    pub fn grants(&self) -> &crate::manifest::Capabilities {
        &self.shared.grants
    }

    fn call<T>(&self, op: &'static str, f: impl FnOnce(&Guest, &mut Store<PluginState>) -> Answer<T>) -> Result<T, PluginError> {
        self.shared
            .call(&self.engine, op, |s| self.pre.instantiate(s), |i: &NetworkDriver, s| f(i.hostctl_network_driver(), s))?
            .map_err(|e| self.shared.driver_error(op, e))
    }

    /// The driver's scope ("local").
    pub fn scope(&self) -> Result<String, PluginError> {
        let caps = self.shared.call(&self.engine, "capabilities", |s| self.pre.instantiate(s), |i: &NetworkDriver, s| {
            i.hostctl_network_driver().call_get_capabilities(s)
        })?;
        Ok(caps.scope)
    }

    pub fn create_network(
        &self,
        id: &str,
        name: &str,
        options: &[(String, String)],
        subnet: Option<&str>,
        gateway: Option<&str>,
        ip_range: Option<&str>,
    ) -> Result<CreatedNetwork, PluginError> {
        let request = wit::NetworkRequest {
            id: id.to_owned(),
            name: name.to_owned(),
            options: options.to_vec(),
            ipam: wit::IpamRequest {
                subnet: subnet.map(str::to_owned),
                gateway: gateway.map(str::to_owned),
                ip_range: ip_range.map(str::to_owned),
            },
        };
        let n = self.call("create network", |g, s| g.call_create_network(s, &request))?;
        Ok(CreatedNetwork { subnet: n.subnet, gateway: n.gateway, options: n.options, plan: steps(n.plan) })
    }

    pub fn delete_network(&self, id: &str) -> Result<Vec<Step>, PluginError> {
        self.call("delete network", |g, s| g.call_delete_network(s, id)).map(steps)
    }

    pub fn create_endpoint(&self, network: &str, endpoint: &str, address: Option<&str>) -> Result<Endpoint, PluginError> {
        let e = self.call("create endpoint", |g, s| g.call_create_endpoint(s, network, endpoint, address))?;
        Ok(Endpoint { address: e.address, gateway: e.gateway, mac: e.mac })
    }

    pub fn delete_endpoint(&self, network: &str, endpoint: &str) -> Result<(), PluginError> {
        self.call("delete endpoint", |g, s| g.call_delete_endpoint(s, network, endpoint))
    }

    pub fn join(&self, network: &str, endpoint: &str) -> Result<Vec<Step>, PluginError> {
        self.call("join", |g, s| g.call_join(s, network, endpoint)).map(steps)
    }

    pub fn leave(&self, network: &str, endpoint: &str) -> Result<Vec<Step>, PluginError> {
        self.call("leave", |g, s| g.call_leave(s, network, endpoint)).map(steps)
    }

    pub fn program_external_connectivity(&self, network: &str, endpoint: &str, ports: &[PortRequest]) -> Result<Vec<Step>, PluginError> {
        let ports: Vec<wit::PortRequest> = ports
            .iter()
            .map(|p| wit::PortRequest {
                protocol: p.protocol.clone(),
                host_ip: p.host_ip.clone(),
                host_port: p.host_port,
                container_port: p.container_port,
            })
            .collect();
        self.call("program external connectivity", |g, s| g.call_program_external_connectivity(s, network, endpoint, &ports)).map(steps)
    }

    pub fn revoke_external_connectivity(&self, network: &str, endpoint: &str) -> Result<Vec<Step>, PluginError> {
        self.call("revoke external connectivity", |g, s| g.call_revoke_external_connectivity(s, network, endpoint)).map(steps)
    }
}

fn netns(n: witplan::Netns) -> Netns {
    match n {
        witplan::Netns::Host => Netns::Host,
        witplan::Netns::Sandbox => Netns::Sandbox,
    }
}

fn steps(plan: Vec<witplan::Step>) -> Vec<Step> {
    plan.into_iter()
        .map(|step| match step {
            witplan::Step::CreateLink(c) => Step::CreateLink {
                name: c.name,
                kind: match c.kind {
                    witplan::LinkKind::Bridge => LinkKind::Bridge,
                    witplan::LinkKind::Veth(peer) => LinkKind::Veth { peer },
                    witplan::LinkKind::Macvlan(m) => LinkKind::Macvlan {
                        parent: m.parent,
                        mode: match m.mode {
                            witplan::MacvlanMode::Bridge => "bridge",
                            witplan::MacvlanMode::Vepa => "vepa",
                            witplan::MacvlanMode::Private => "private",
                            witplan::MacvlanMode::Passthru => "passthru",
                        }
                        .to_owned(),
                    },
                },
                mtu: c.mtu,
            },
            witplan::Step::DeleteLink(name) => Step::DeleteLink { name },
            witplan::Step::SetMaster((link, bridge)) => Step::SetMaster { link, bridge },
            witplan::Step::MoveToSandbox(m) => Step::MoveToSandbox { link: m.link, rename: m.rename },
            witplan::Step::AddAddress(a) => Step::AddAddress { link: a.link, cidr: a.cidr, netns: netns(a.netns) },
            witplan::Step::LinkUp(l) => Step::LinkUp { link: l.link, netns: netns(l.netns) },
            witplan::Step::AddRoute(r) => Step::AddRoute { destination: r.destination, gateway: r.gateway, link: r.link, netns: netns(r.netns) },
            witplan::Step::PublishPort(p) => Step::PublishPort(port(p)),
            witplan::Step::UnpublishPort(p) => Step::UnpublishPort(port(p)),
        })
        .collect()
}

fn port(p: witplan::Port) -> Port {
    Port { protocol: p.protocol, host_ip: p.host_ip, host_port: p.host_port, container_ip: p.container_ip, container_port: p.container_port }
}
