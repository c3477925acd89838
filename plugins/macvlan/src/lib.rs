//! # macvlan
//!
//! hostctl's bundled network driver, Docker's `macvlan`: containers sit directly on a
//! parent link's L2 network (`-o parent=eth1`), each behind a macvlan of its own with its
//! own MAC address, in one of the kernel's modes (`-o macvlan_mode=bridge|vepa|private|
//! passthru`). It is a WebAssembly component written against `hostctl-sdk` alone; it
//! describes, the host acts: creating a network plans nothing (the parent exists), a
//! join plans the macvlan on the parent and its configuration inside the container.
//! State (networks, addresses) lives in the driver's kv store.
//!
//! A tour:
//!
//! - [`config`]: the `-o` options: `parent` (required) and `macvlan_mode`.
//! - [`plan`]: the join, leave and delete-network plans, as pure functions.
//! - [`driver`]: the operations over the host's kv and net queries (real or fake): the
//!   parent must exist and serve one network; a network gets a gateway (and its
//!   containers a default route) only if `--gateway` gives one; no published ports.
//!
//! IPv4 subnets, IPAM, the kv layout, endpoints' addresses and the sandbox's steps are
//! shared with the bridge driver through `hostctl-netkit` (`plugins/bridge/netkit/`).
//!
//! Capabilities used (`plugin.toml`): `kv`, `net-query`, `links` `hcm*`, `parents` `*`.

mod config;
mod driver;
mod plan;

use hostctl_netkit::endpoint;
use hostctl_netkit::host::Sdk;
use hostctl_netkit::names::check_id;
use hostctl_netkit::store::Store;
use hostctl_sdk::Result;
use hostctl_sdk::network::{Capabilities, Endpoint, Network, NetworkDriver, NetworkRequest, PortRequest, Step};

/// Docker's macvlan driver.
struct Macvlan;

impl NetworkDriver for Macvlan {
    fn capabilities() -> Capabilities {
        Capabilities { scope: "local".into() }
    }

    fn create_network(request: NetworkRequest) -> Result<Network> {
        driver::create_network(&Sdk, &request).map_err(|e| e.context(format!("network {:?}", request.name)))
    }

    fn delete_network(id: String) -> Result<Vec<Step>> {
        driver::delete_network(&Sdk, &id)
    }

    fn create_endpoint(network: String, endpoint: String, address: Option<String>) -> Result<Endpoint> {
        driver::create_endpoint(&Sdk, &network, &endpoint, address.as_deref())
    }

    fn delete_endpoint(network: String, endpoint: String) -> Result<()> {
        endpoint::delete(&Store::new(&Sdk), &network, &endpoint)
    }

    fn join(network: String, endpoint: String) -> Result<Vec<Step>> {
        driver::join(&Sdk, &network, &endpoint)
    }

    fn leave(network: String, endpoint: String) -> Result<Vec<Step>> {
        driver::leave(&network, &endpoint)
    }

    fn program_external_connectivity(network: String, endpoint: String, ports: Vec<PortRequest>) -> Result<Vec<Step>> {
        driver::program_external_connectivity(&network, &endpoint, &ports)
    }

    fn revoke_external_connectivity(network: String, endpoint: String) -> Result<Vec<Step>> {
        check_id("network", &network)?;
        check_id("endpoint", &endpoint)?;
        Ok(Vec::new())
    }
}

hostctl_sdk::export_network_driver!(Macvlan);
