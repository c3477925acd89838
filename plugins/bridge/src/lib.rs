//! # bridge
//!
//! hostctl's bundled network driver, Docker's `bridge`: a Linux bridge per network with
//! the gateway address on it, a veth pair per endpoint (the host end on the bridge, the
//! peer moved into the container as `eth0`), local IPAM, and published ports. It is a
//! WebAssembly component written against `hostctl-sdk` alone, and it only describes:
//! every kernel change is a plan of steps the host checks against the grants in
//! `plugin.toml` and performs. Each call runs in a fresh instance, so the driver's state
//! (networks, addresses, published ports) lives in its kv store.
//!
//! A tour:
//!
//! - [`config`]: the `-o` options (the bridge's name, `hc-br-<8 hex>` by default, and its
//!   MTU), and why chosen names must start with `hc-`.
//! - [`plan`]: the plans for create/delete-network and join/leave, as pure functions.
//! - [`ports`]: published ports: checks, clashes with other endpoints' ports, the
//!   publish and unpublish steps.
//! - [`driver`]: the operations over the host's kv and net queries (real or fake).
//!
//! IPv4 subnets, IPAM, the kv layout, endpoints' addresses and the sandbox's steps are
//! shared with the macvlan driver through `hostctl-netkit` (in `netkit/`).
//!
//! Capabilities used (`plugin.toml`): `kv`, `net-query`, `links` `hc-*`, `hcv*`, `hcp*`,
//! `ports`.

mod config;
mod driver;
mod plan;
mod ports;

use hostctl_netkit::endpoint;
use hostctl_netkit::host::Sdk;
use hostctl_netkit::store::Store;
use hostctl_sdk::Result;
use hostctl_sdk::network::{Capabilities, Endpoint, Network, NetworkDriver, NetworkRequest, PortRequest, Step};

/// Docker's bridge driver.
struct Bridge;

impl NetworkDriver for Bridge {
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
        endpoint::create(&Store::new(&Sdk), &network, &endpoint, address.as_deref(), &[])
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
        driver::program_external_connectivity(&Sdk, &network, &endpoint, &ports)
    }

    fn revoke_external_connectivity(network: String, endpoint: String) -> Result<Vec<Step>> {
        driver::revoke_external_connectivity(&Sdk, &network, &endpoint)
    }
}

hostctl_sdk::export_network_driver!(Bridge);
