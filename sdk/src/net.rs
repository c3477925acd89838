//! Read-only questions about the host's network: links and routes (to choose a subnet
//! that collides with nothing, or check a macvlan parent exists). Needs `net-query = true`
//! under `[capabilities]`. Changing anything is a plan step (see [`crate::network`]).

use crate::Result;
use crate::bindings::host::hostctl::host::net as host;

pub use host::{LinkInfo, RouteInfo};

/// The host link named `name`, if it exists.
pub fn link(name: &str) -> Result<Option<LinkInfo>> {
    host::link(name)
}

/// Every link of the host.
pub fn links() -> Result<Vec<LinkInfo>> {
    host::links()
}

/// Every IPv4 route of the host's main table.
pub fn routes() -> Result<Vec<RouteInfo>> {
    host::routes()
}
