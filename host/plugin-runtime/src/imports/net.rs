//! `hostctl:host/net`: read-only questions about the host's links and routes.
//!
//! Each call checks the `net-query` grant, then asks the kernel over rtnetlink in the
//! host's network namespace (the calling thread's). A refusal is a `denied` error value;
//! a netlink failure or an answer that cannot be read is an `io` error value. Nothing
//! here changes the kernel: changes are plan steps.

use hostctl_kernel::netlink::{BlockingNetlink, Link, NetlinkError, Route};

use super::wit_error;
use crate::bindings::host::hostctl::host::net::{Host, LinkInfo, RouteInfo};
use crate::bindings::host::hostctl::types::types::{Error, ErrorKind};
use crate::sandbox::PluginState;

impl PluginState {
    /// A netlink connection in the host namespace, if `net-query` was granted.
    fn net_query(&self) -> Result<BlockingNetlink, Error> {
        if !self.grants().net_query {
            return Err(wit_error(
                ErrorKind::Denied,
                format!("plugin {:?} was not granted the net-query capability (set net-query = true under [capabilities])", self.plugin_name()),
            ));
        }
        BlockingNetlink::connect().map_err(failed)
    }
}

fn failed(e: NetlinkError) -> Error {
    wit_error(ErrorKind::Io, format!("net: {e}"))
}

fn link_info(l: Link) -> LinkInfo {
    LinkInfo {
        name: l.name,
        kind: l.kind,
        mtu: l.mtu,
        up: l.up,
        addresses: l.addresses.iter().map(ToString::to_string).collect(),
        master: l.master,
    }
}

fn route_info(r: Route) -> RouteInfo {
    RouteInfo { destination: r.destination_text(), gateway: r.gateway.map(|g| g.to_string()), link: r.link }
}

impl Host for PluginState {
    fn link(&mut self, name: String) -> Result<Option<LinkInfo>, Error> {
        Ok(self.net_query()?.link(&name).map_err(failed)?.map(link_info))
    }

    fn links(&mut self) -> Result<Vec<LinkInfo>, Error> {
        Ok(self.net_query()?.links().map_err(failed)?.into_iter().map(link_info).collect())
    }

    fn routes(&mut self) -> Result<Vec<RouteInfo>, Error> {
        Ok(self.net_query()?.routes().map_err(failed)?.into_iter().map(route_info).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_answers_read_as_the_wit_records() {
        let l = Link {
            index: 7,
            name: "hc-br0".into(),
            kind: "bridge".into(),
            mtu: 1500,
            up: true,
            addresses: vec!["172.18.0.1/16".parse().unwrap()],
            master: None,
            peer_index: None,
            peer_elsewhere: false,
        };
        let info = link_info(l);
        assert_eq!((info.name.as_str(), info.kind.as_str(), info.mtu, info.up), ("hc-br0", "bridge", 1500, true));
        assert_eq!(info.addresses, ["172.18.0.1/16"]);
        let r = route_info(Route::default_via("192.0.2.1".parse().unwrap(), Some("eth0")));
        assert_eq!((r.destination.as_str(), r.gateway.as_deref(), r.link.as_deref()), ("default", Some("192.0.2.1"), Some("eth0")));
        let e = failed(NetlinkError::Invalid { what: "x".into(), reason: "y".into() });
        assert!(matches!(e.kind, ErrorKind::Io));
    }

    /// A store of a network plugin named "probe-net" with `grants`, as a call gets it.
    fn with_state<T>(grants: crate::manifest::Capabilities, f: impl FnOnce(&mut PluginState) -> T) -> T {
        let engine = crate::engine::PluginEngine::new().unwrap();
        let shared = std::sync::Arc::new(crate::sandbox::Shared {
            name: "probe-net".into(),
            kind: crate::manifest::Kind::Network,
            grants,
            root: None,
            kv: None,
            ports: None,
            memory_limit: 16 << 20,
            call_timeout: std::time::Duration::from_secs(1),
        });
        let mut store = shared.store(engine.engine(), "test").unwrap();
        f(store.data_mut())
    }

    #[test]
    fn net_query_denied_without_the_grant() {
        with_state(Default::default(), |state| {
            for result in [state.links().map(|_| ()), state.routes().map(|_| ()), state.link("lo".into()).map(|_| ())] {
                let e = result.unwrap_err();
                assert!(matches!(e.kind, ErrorKind::Denied));
                assert!(e.message.contains(r#"plugin "probe-net" was not granted the net-query capability"#), "{}", e.message);
            }
        });
    }

    #[test]
    fn net_query_granted_reads_the_hosts_links_and_routes() {
        let grants = crate::manifest::Capabilities { net_query: true, ..Default::default() };
        with_state(grants, |state| {
            let lo = state.link("lo".into()).unwrap().expect("every namespace has lo");
            assert_eq!(lo.kind, "loopback");
            assert!(lo.addresses.contains(&"127.0.0.1/8".to_owned()), "{:?}", lo.addresses);
            assert!(state.link("hcnosuchlink".into()).unwrap().is_none());
            assert!(state.links().unwrap().iter().any(|l| l.name == "lo"));
            let routes = state.routes().unwrap();
            assert!(routes.iter().all(|r| r.destination == "default" || r.destination.contains('/')), "{routes:?}");
        });
    }
}
