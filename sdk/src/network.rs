//! Network drivers: implement [`NetworkDriver`], then `export_network_driver!(MyDriver);`.
//!
//! The contract (`wit/network/network.wit`) is Docker's remote network driver protocol.
//! Every operation that changes the kernel answers with a plan: a list of [`Step`]s the
//! host checks against the plugin's grants, performs in order, and undoes if one fails.
//! A driver keeps its state (addresses handed out) in [`crate::kv`], and may ask about
//! the host's links and routes with [`crate::net`]. Each call runs in a fresh instance.

use std::marker::PhantomData;

use crate::Result;
use crate::bindings::network::exports::hostctl::network::driver as guest;

pub use crate::bindings::network::hostctl::network::plan::{
    Address, CreateLink, LinkKind, LinkRef, Macvlan, MacvlanMode, MoveLink, Netns, Port, Route, Step,
};
pub use guest::{Capabilities, Endpoint, IpamRequest, Network, NetworkRequest, PortRequest};

/// A network driver. Every function is one call from the host.
pub trait NetworkDriver {
    fn capabilities() -> Capabilities;
    /// Create network `request.id`: choose its subnet (IPAM) and plan its devices.
    fn create_network(request: NetworkRequest) -> Result<Network>;
    /// Plan taking network `id` down and forget its state.
    fn delete_network(id: String) -> Result<Vec<Step>>;
    /// Allocate an address for endpoint `endpoint` of network `network`.
    fn create_endpoint(network: String, endpoint: String, address: Option<String>) -> Result<Endpoint>;
    /// Free the endpoint's address.
    fn delete_endpoint(network: String, endpoint: String) -> Result<()>;
    /// Plan connecting the endpoint into the sandbox.
    fn join(network: String, endpoint: String) -> Result<Vec<Step>>;
    /// Plan disconnecting it (the sandbox may be gone).
    fn leave(network: String, endpoint: String) -> Result<Vec<Step>>;
    /// Plan publishing `ports` of the endpoint.
    fn program_external_connectivity(network: String, endpoint: String, ports: Vec<PortRequest>) -> Result<Vec<Step>>;
    /// Plan withdrawing what was published.
    fn revoke_external_connectivity(network: String, endpoint: String) -> Result<Vec<Step>>;
}

/// Adapts a [`NetworkDriver`] to the generated export trait.
#[doc(hidden)]
pub struct Export<T>(PhantomData<T>);

impl<T: NetworkDriver> guest::Guest for Export<T> {
    fn get_capabilities() -> Capabilities {
        T::capabilities()
    }
    fn create_network(request: NetworkRequest) -> Result<Network> {
        T::create_network(request)
    }
    fn delete_network(id: String) -> Result<Vec<Step>> {
        T::delete_network(id)
    }
    fn create_endpoint(network: String, endpoint: String, address: Option<String>) -> Result<Endpoint> {
        T::create_endpoint(network, endpoint, address)
    }
    fn delete_endpoint(network: String, endpoint: String) -> Result<()> {
        T::delete_endpoint(network, endpoint)
    }
    fn join(network: String, endpoint: String) -> Result<Vec<Step>> {
        T::join(network, endpoint)
    }
    fn leave(network: String, endpoint: String) -> Result<Vec<Step>> {
        T::leave(network, endpoint)
    }
    fn program_external_connectivity(network: String, endpoint: String, ports: Vec<PortRequest>) -> Result<Vec<Step>> {
        T::program_external_connectivity(network, endpoint, ports)
    }
    fn revoke_external_connectivity(network: String, endpoint: String) -> Result<Vec<Step>> {
        T::revoke_external_connectivity(network, endpoint)
    }
}

/// Export a [`NetworkDriver`] as this component's `hostctl:network/driver`.
#[macro_export]
macro_rules! export_network_driver {
    ($driver:ty) => {
        type __HostctlNetworkDriver = $crate::network::Export<$driver>;
        $crate::bindings::network::export_network_world!(__HostctlNetworkDriver with_types_in $crate::bindings::network);
    };
}
