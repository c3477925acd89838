//! `hostctl:host/net`: read-only questions about the host's links and routes.
use super::wit_error;
use crate::bindings::host::hostctl::host::net::{Host, LinkInfo, RouteInfo};
use crate::bindings::host::hostctl::types::types::{Error, ErrorKind};
use crate::sandbox::PluginState;

impl Host for PluginState {
    fn link(&mut self, _name: String) -> Result<Option<LinkInfo>, Error> {
        Err(wit_error(ErrorKind::Other, "hostctl:host/net is not implemented yet"))
    }
    fn links(&mut self) -> Result<Vec<LinkInfo>, Error> {
        Err(wit_error(ErrorKind::Other, "hostctl:host/net is not implemented yet"))
    }
    fn routes(&mut self) -> Result<Vec<RouteInfo>, Error> {
        Err(wit_error(ErrorKind::Other, "hostctl:host/net is not implemented yet"))
    }
}
