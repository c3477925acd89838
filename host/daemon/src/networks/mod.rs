//! The network service: networks (`network create/ls/inspect/rm`), and connecting
//! containers to them, with the policy in network plugins (bridge, macvlan).
//!
//! A network is a record in the state store (id, name, driver, subnet, gateway, options)
//! plus whatever its driver set up (a bridge device): the driver answers
//! `create-network` with a plan the plugin runtime checks against the driver's grants and
//! performs, undoing it if a step fails. Docker's `host` and `none` are listed too; they
//! have no driver.
//!
//! Connecting a container ([`NetworkService::attach`]) allocates its endpoint (the
//! driver's IPAM), performs the driver's join plan into the container's network
//! namespace, and publishes its ports; [`NetworkService::detach`] undoes it all. Calls to
//! one driver are serialized: its allocations (subnets, addresses, ports) live in its
//! key-value store, read and written across several calls. A subnet given to `create`
//! must not overlap another network's, whatever the drivers.
//! Every step publishes Docker's events: network `create`, `connect`, `disconnect`,
//! `destroy`.

mod error;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use hostctl_image::timestamp::format_rfc3339;
use hostctl_plugin_runtime::network::{PortRequest, Step};
use hostctl_plugin_runtime::{NetworkPlugin, Registry};
use rand::RngCore;
use serde::{Deserialize, Serialize};

pub use error::NetworkError;

use crate::events::EventBus;
use crate::state::{StateStore, Table};

/// The name of the network containers join when they name none.
pub const DEFAULT_NETWORK: &str = "bridge";

/// A network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// The plugin (`bridge`, `macvlan`), or `host`/`null` for Docker's two without one.
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    /// Driver options as the driver resolved them.
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339.
    pub created: String,
    /// The driver's plan that made it (a bridge device and its address), performed again
    /// at daemon start when what it made is gone (after a reboot).
    #[serde(default)]
    pub create_plan: Vec<Step>,
}

/// A container's place on a network, kept in the container's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network_id: String,
    pub network: String,
    pub endpoint_id: String,
    /// CIDR form.
    pub address: String,
    pub gateway: Option<String>,
    pub mac: Option<String>,
    /// Ports published for it.
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
}

/// A port to publish (`-p [ip:]host:container[/proto]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub protocol: String,
    pub host_ip: Option<String>,
    pub host_port: u16,
    pub container_port: u16,
}

/// What `create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
}

/// Options of the network service.
#[derive(Debug, Clone)]
pub struct NetworksConfig {
    /// The default network's bridge device.
    pub default_bridge: String,
    /// The default network's subnet (the driver picks a free one when absent).
    pub default_subnet: Option<String>,
}

/// The network service.
pub struct NetworkService {
    state: Arc<StateStore>,
    events: Arc<EventBus>,
    drivers: BTreeMap<String, Arc<NetworkPlugin>>,
    config: NetworksConfig,
    /// Per driver: serializes calls to it.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Docker's two networks that no driver provides.
const BUILTIN: &[(&str, &str)] = &[("host", "host"), ("none", "null")];

impl NetworkService {
    /// The service over every network plugin in `registry`.
    pub fn new(state: Arc<StateStore>, events: Arc<EventBus>, registry: &Registry, config: NetworksConfig) -> Self {
        let drivers = registry
            .plugins()
            .iter()
            .filter_map(|p| registry.network(&p.name).map(|n| (p.name.clone(), n)))
            .collect();
        NetworkService { state, events, drivers, config, locks: Mutex::default() }
    }

    fn lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.lock().expect("network locks").entry(id.to_owned()).or_default().clone()
    }

    fn driver(&self, name: &str) -> Result<Arc<NetworkPlugin>, NetworkError> {
        self.drivers.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.drivers.keys().map(String::as_str).collect();
            NetworkError::Invalid(format!("network driver {name:?} is not installed (network plugins: {})", known.join(", ")))
        })
    }

    fn records(&self) -> Result<Vec<NetworkRecord>, NetworkError> {
        Ok(self.state.list::<NetworkRecord>(Table::Networks)?.into_iter().map(|(_, r)| r).collect())
    }

    /// The network `name` names: its name, its id, or a unique id prefix.
    pub fn resolve(&self, name: &str) -> Result<NetworkRecord, NetworkError> {
        let records = self.records()?;
        if let Some(r) = records.iter().find(|r| r.name == name || r.id == name) {
            return Ok(r.clone());
        }
        let matches: Vec<&NetworkRecord> = records.iter().filter(|r| !name.is_empty() && r.id.starts_with(name)).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(NetworkError::NotFound(name.to_owned())),
            _ => Err(NetworkError::Invalid(format!("network id prefix {name:?} is ambiguous"))),
        }
    }

    /// Every network, the default one first.
    pub fn list(&self) -> Result<Vec<NetworkRecord>, NetworkError> {
        let mut records = self.records()?;
        records.sort_by(|a, b| (a.name != DEFAULT_NETWORK, &a.name).cmp(&(b.name != DEFAULT_NETWORK, &b.name)));
        Ok(records)
    }

    /// Start-up: networks whose links the host lost (a reboot) made again from their
    /// creation plans; then Docker's `host` and `none`, and the default `bridge` network
    /// if the bridge driver is installed and the network does not exist yet.
    pub async fn ensure_defaults(&self) -> Result<(), NetworkError> {
        self.restore().await;
        for (name, driver) in BUILTIN {
            if self.resolve(name).is_err() {
                let record = NetworkRecord {
                    id: random_id(),
                    name: (*name).to_owned(),
                    driver: (*driver).to_owned(),
                    subnet: None,
                    gateway: None,
                    ip_range: None,
                    options: BTreeMap::new(),
                    labels: BTreeMap::new(),
                    created: format_rfc3339(SystemTime::now()),
                    create_plan: Vec::new(),
                };
                self.state.write(|t| t.put(Table::Networks, &record.id, &record))?;
            }
        }
        if self.resolve(DEFAULT_NETWORK).is_err() && self.drivers.contains_key("bridge") {
            let request = CreateNetwork {
                name: DEFAULT_NETWORK.into(),
                driver: "bridge".into(),
                options: BTreeMap::from([("com.docker.network.bridge.name".to_owned(), self.config.default_bridge.clone())]),
                subnet: self.config.default_subnet.clone(),
                ..Default::default()
            };
            self.create(request).await?;
        }
        Ok(())
    }

    /// Perform again the creation plan of every network whose first created link is
    /// missing from the host. A failure is logged (containers on that network will fail
    /// to start, naming it) and does not stop the daemon.
    async fn restore(&self) {
        let Ok(records) = self.records() else { return };
        for record in records {
            let Some(link) = record.create_plan.iter().find_map(|s| match s {
                Step::CreateLink { name, .. } => Some(name.clone()),
                _ => None,
            }) else {
                continue;
            };
            if Path::new("/sys/class/net").join(&link).exists() {
                continue;
            }
            let Ok(driver) = self.driver(&record.driver) else {
                tracing::warn!(network = %record.name, driver = %record.driver, "cannot restore: its driver is not loaded");
                continue;
            };
            let plan = record.create_plan.clone();
            match blocking(move || driver.execute("restore network", &plan, None)).await {
                Ok(()) => tracing::info!(network = %record.name, link = %link, "restored what the host lost"),
                Err(err) => tracing::error!(network = %record.name, "restoring its links: {err}"),
            }
        }
    }

    /// `network create`.
    pub async fn create(&self, request: CreateNetwork) -> Result<NetworkRecord, NetworkError> {
        if request.name.is_empty() || !request.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err(NetworkError::Invalid(format!("invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", request.name)));
        }
        if self.resolve(&request.name).is_ok() {
            return Err(NetworkError::Conflict(format!("network with name {} already exists", request.name)));
        }
        let driver_name = if request.driver.is_empty() { "bridge".to_owned() } else { request.driver.clone() };
        if BUILTIN.iter().any(|(_, d)| *d == driver_name) {
            return Err(NetworkError::Invalid(format!("only one {driver_name} network may exist")));
        }
        let driver = self.driver(&driver_name)?;
        let lock = self.lock(&driver_name);
        let _held = lock.lock().await;
        if let Some(subnet) = &request.subnet {
            let wanted = Cidr::parse(subnet).ok_or_else(|| NetworkError::Invalid(format!("invalid subnet {subnet:?}: expected an IPv4 CIDR")))?;
            for other in self.records()? {
                if other.subnet.as_deref().and_then(Cidr::parse).is_some_and(|o| o.overlaps(wanted)) {
                    return Err(NetworkError::Conflict(format!(
                        "subnet {subnet} overlaps network {} ({})",
                        other.name,
                        other.subnet.unwrap_or_default()
                    )));
                }
            }
        }
        let id = random_id();
        let options: Vec<(String, String)> = request.options.clone().into_iter().collect();
        let (plugin, nid, name) = (driver.clone(), id.clone(), request.name.clone());
        let (subnet, gateway, range) = (request.subnet.clone(), request.gateway.clone(), request.ip_range.clone());
        let created = blocking(move || {
            let created = plugin.create_network(&nid, &name, &options, subnet.as_deref(), gateway.as_deref(), range.as_deref())?;
            if let Err(err) = plugin.execute("create network", &created.plan, None) {
                // The driver has its state for the network; let it forget it.
                let _ = plugin.delete_network(&nid);
                return Err(err);
            }
            Ok(created)
        })
        .await?;
        let record = NetworkRecord {
            id: id.clone(),
            name: request.name.clone(),
            driver: driver_name,
            subnet: Some(created.subnet),
            gateway: created.gateway,
            ip_range: request.ip_range.clone(),
            options: created.options.into_iter().collect(),
            labels: request.labels.clone(),
            created: format_rfc3339(SystemTime::now()),
            create_plan: created.plan.clone(),
        };
        self.state.write(|t| t.put(Table::Networks, &id, &record))?;
        self.events.publish("network", "create", &id, [("name", record.name.clone()), ("type", record.driver.clone())]);
        Ok(record)
    }

    /// `network rm`: refused while `users` (the containers that name it) is not empty.
    pub async fn remove(&self, name: &str, users: &[String]) -> Result<(), NetworkError> {
        let record = self.resolve(name)?;
        if BUILTIN.iter().any(|(n, _)| *n == record.name) || record.name == DEFAULT_NETWORK {
            return Err(NetworkError::Forbidden(format!("{} is a pre-defined network and cannot be removed", record.name)));
        }
        if !users.is_empty() {
            return Err(NetworkError::Conflict(format!(
                "network {} is in use by container{} {}",
                record.name,
                if users.len() > 1 { "s" } else { "" },
                users.join(", ")
            )));
        }
        let driver = self.driver(&record.driver)?;
        let lock = self.lock(&record.driver);
        let _held = lock.lock().await;
        let nid = record.id.clone();
        blocking(move || {
            let plan = driver.delete_network(&nid)?;
            driver.execute("delete network", &plan, None)
        })
        .await?;
        self.state.write(|t| t.delete(Table::Networks, &record.id))?;
        self.events.publish("network", "destroy", &record.id, [("name", record.name.clone()), ("type", record.driver.clone())]);
        Ok(())
    }

    /// Connect container `container` (named `container_name`) to `network` inside the
    /// network namespace at `netns`, publishing `ports`. Undone entirely if a step fails.
    pub async fn attach(
        &self,
        network: &str,
        container: &str,
        container_name: &str,
        netns: &Path,
        ports: &[PublishedPort],
    ) -> Result<Endpoint, NetworkError> {
        let record = self.resolve(network)?;
        let driver = self.driver(&record.driver)?;
        let lock = self.lock(&record.driver);
        let _held = lock.lock().await;
        let endpoint_id = random_id();
        let (plugin, nid, eid, sandbox) = (driver.clone(), record.id.clone(), endpoint_id.clone(), netns.to_owned());
        let requests: Vec<PortRequest> = ports
            .iter()
            .map(|p| PortRequest { protocol: p.protocol.clone(), host_ip: p.host_ip.clone(), host_port: p.host_port, container_port: p.container_port })
            .collect();
        let endpoint = blocking(move || {
            let t0 = std::time::Instant::now();
            let endpoint = plugin.create_endpoint(&nid, &eid, None)?;
            let t_endpoint = t0.elapsed();
            let undo_endpoint = || {
                let _ = plugin.delete_endpoint(&nid, &eid);
            };
            let joined = plugin.join(&nid, &eid).and_then(|plan| plugin.execute("join", &plan, Some(&sandbox)));
            if let Err(err) = joined {
                undo_endpoint();
                return Err(err);
            }
            tracing::debug!(
                endpoint = %eid,
                create_endpoint_ms = t_endpoint.as_secs_f64() * 1e3,
                join_ms = (t0.elapsed() - t_endpoint).as_secs_f64() * 1e3,
                "joined"
            );
            if !requests.is_empty() {
                let published = plugin
                    .program_external_connectivity(&nid, &eid, &requests)
                    .and_then(|plan| plugin.execute("program external connectivity", &plan, Some(&sandbox)));
                if let Err(err) = published {
                    // The driver recorded the ports before the plan failed (and was undone):
                    // revoke forgets them; its plan only withdraws what is published.
                    let _ = plugin
                        .revoke_external_connectivity(&nid, &eid)
                        .and_then(|plan| plugin.execute("revoke external connectivity", &plan, Some(&sandbox)));
                    let _ = plugin.leave(&nid, &eid).and_then(|plan| plugin.execute("leave", &plan, Some(&sandbox)));
                    undo_endpoint();
                    return Err(err);
                }
            }
            Ok(endpoint)
        })
        .await?;
        self.events.publish("network", "connect", &record.id, [("container", container.to_owned()), ("name", record.name.clone()), ("type", record.driver.clone())]);
        tracing::debug!(network = %record.name, container = container_name, address = %endpoint.address, "connected");
        Ok(Endpoint {
            network_id: record.id,
            network: record.name,
            endpoint_id,
            address: endpoint.address,
            gateway: endpoint.gateway,
            mac: endpoint.mac,
            ports: ports.to_vec(),
        })
    }

    /// Disconnect `endpoint` of `container` (its netns at `netns`, maybe gone already),
    /// before the caller destroys that netns. Best effort: every step is tried, the
    /// first failure reported.
    pub async fn detach(&self, endpoint: &Endpoint, container: &str, netns: &Path) -> Result<(), NetworkError> {
        let record = match self.resolve(&endpoint.network_id) {
            Ok(r) => r,
            Err(NetworkError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let driver = self.driver(&record.driver)?;
        let lock = self.lock(&record.driver);
        let _held = lock.lock().await;
        let (plugin, nid, eid, sandbox) = (driver, record.id.clone(), endpoint.endpoint_id.clone(), netns.to_owned());
        let had_ports = !endpoint.ports.is_empty();
        let sandbox_alive = sandbox.exists();
        blocking(move || {
            let sandbox = sandbox_alive.then_some(sandbox.as_path());
            let mut first: Option<hostctl_plugin_runtime::PluginError> = None;
            let mut note = |r: Result<(), hostctl_plugin_runtime::PluginError>| {
                if let Err(e) = r {
                    tracing::warn!("disconnecting: {e}");
                    first.get_or_insert(e);
                }
            };
            let t0 = std::time::Instant::now();
            if had_ports {
                note(plugin.revoke_external_connectivity(&nid, &eid).and_then(|plan| plugin.execute("revoke external connectivity", &plan, sandbox)));
            }
            let t_revoked = t0.elapsed();
            // The caller destroys the sandbox next: a veth into it goes with it.
            note(plugin.leave(&nid, &eid).and_then(|plan| match sandbox {
                Some(sandbox) => plugin.execute_teardown("leave", &plan, sandbox),
                None => plugin.execute("leave", &plan, None),
            }));
            let t_left = t0.elapsed();
            note(plugin.delete_endpoint(&nid, &eid));
            tracing::debug!(
                endpoint = %eid,
                revoke_ms = t_revoked.as_secs_f64() * 1e3,
                leave_ms = (t_left - t_revoked).as_secs_f64() * 1e3,
                delete_endpoint_ms = (t0.elapsed() - t_left).as_secs_f64() * 1e3,
                "disconnected"
            );
            first.map_or(Ok(()), Err)
        })
        .await?;
        self.events.publish("network", "disconnect", &record.id, [("container", container.to_owned()), ("name", record.name.clone()), ("type", record.driver.clone())]);
        Ok(())
    }
}

/// An IPv4 prefix, for overlap checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    base: u32,
    len: u32,
}

impl Cidr {
    fn parse(text: &str) -> Option<Cidr> {
        let (ip, len) = text.split_once('/')?;
        let ip: std::net::Ipv4Addr = ip.parse().ok()?;
        let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        Some(Cidr { base: u32::from(ip) & mask, len })
    }

    /// Two prefixes overlap when the shorter one contains the other's base.
    fn overlaps(self, other: Cidr) -> bool {
        let len = self.len.min(other.len);
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        self.base & mask == other.base & mask
    }
}

fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Run plugin work (sync, sandboxed calls and netlink) on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, hostctl_plugin_runtime::PluginError> + Send + 'static,
) -> Result<T, NetworkError> {
    tokio::task::spawn_blocking(f).await.expect("network work does not panic").map_err(NetworkError::from)
}

#[cfg(test)]
mod tests {
    use super::Cidr;

    #[test]
    fn subnets_overlap_when_one_contains_the_other() {
        let c = |t| Cidr::parse(t).unwrap();
        assert!(c("10.1.0.0/16").overlaps(c("10.1.2.0/24")));
        assert!(c("10.1.2.0/24").overlaps(c("10.1.0.0/16")));
        assert!(!c("10.1.0.0/16").overlaps(c("10.2.0.0/16")));
        assert!(c("10.1.2.3/24").overlaps(c("10.1.2.0/24")), "host bits are ignored");
        assert!(Cidr::parse("10.1.0.0/33").is_none() && Cidr::parse("nope").is_none());
    }
}
