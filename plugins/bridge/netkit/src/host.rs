//! What a network driver asks of the host, behind two traits so every operation runs
//! natively under `cargo test`: [`Kv`] (the plugin's private key-value store,
//! `hostctl_sdk::kv`) and [`HostNet`] (read-only link and route queries,
//! `hostctl_sdk::net`). [`Sdk`] is the real host inside the component; [`FakeHost`]
//! keeps keys in memory and answers with the links and routes a test gives it.

use std::cell::RefCell;
use std::collections::BTreeMap;

use hostctl_sdk::net::{LinkInfo, RouteInfo};
use hostctl_sdk::{Result, kv, net};

/// A key-value store private to the plugin (`hostctl:host/kv`).
pub trait Kv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    fn set(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Remove `key`; absent is fine.
    fn delete(&self, key: &str) -> Result<()>;
    /// Every key starting with `prefix`, in order.
    fn keys(&self, prefix: &str) -> Result<Vec<String>>;
}

/// Read-only questions about the host's network namespace (`hostctl:host/net`).
pub trait HostNet {
    fn link(&self, name: &str) -> Result<Option<LinkInfo>>;
    fn links(&self) -> Result<Vec<LinkInfo>>;
    /// The IPv4 routes of the main table.
    fn routes(&self) -> Result<Vec<RouteInfo>>;
}

/// The host itself, through the SDK's imports (only callable inside the component).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sdk;

impl Kv for Sdk {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        kv::get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        kv::set(key, value)
    }
    fn delete(&self, key: &str) -> Result<()> {
        kv::delete(key)
    }
    fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        kv::keys(prefix)
    }
}

impl HostNet for Sdk {
    fn link(&self, name: &str) -> Result<Option<LinkInfo>> {
        net::link(name)
    }
    fn links(&self) -> Result<Vec<LinkInfo>> {
        net::links()
    }
    fn routes(&self) -> Result<Vec<RouteInfo>> {
        net::routes()
    }
}

/// A host for tests: keys in memory, links and routes as given.
#[derive(Debug, Default)]
pub struct FakeHost {
    pub kv: RefCell<BTreeMap<String, Vec<u8>>>,
    pub links: Vec<LinkInfo>,
    pub routes: Vec<RouteInfo>,
}

impl FakeHost {
    /// A host with `lo`, and `eth0` at `10.0.2.15/24` behind a default route, as a VM has.
    pub fn vm() -> Self {
        FakeHost {
            kv: RefCell::default(),
            links: vec![link("lo", "loopback", &["127.0.0.1/8"]), link("eth0", "ether", &["10.0.2.15/24", "fe80::1/64"])],
            routes: vec![route("default", Some("10.0.2.2"), "eth0"), route("10.0.2.0/24", None, "eth0")],
        }
    }

    /// The keys held, in order (what a test checks the layout with).
    pub fn keys_held(&self) -> Vec<String> {
        self.kv.borrow().keys().cloned().collect()
    }
}

/// A link of `kind`, up, MTU 1500, with `addresses`.
pub fn link(name: &str, kind: &str, addresses: &[&str]) -> LinkInfo {
    LinkInfo {
        name: name.to_owned(),
        kind: kind.to_owned(),
        mtu: 1500,
        up: true,
        addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
        master: None,
    }
}

/// A route to `destination` ("default" or a CIDR).
pub fn route(destination: &str, gateway: Option<&str>, link: &str) -> RouteInfo {
    RouteInfo { destination: destination.to_owned(), gateway: gateway.map(str::to_owned), link: Some(link.to_owned()) }
}

impl Kv for FakeHost {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.kv.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.kv.borrow_mut().insert(key.to_owned(), value.to_owned());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.kv.borrow_mut().remove(key);
        Ok(())
    }
    fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.kv.borrow().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }
}

impl HostNet for FakeHost {
    fn link(&self, name: &str) -> Result<Option<LinkInfo>> {
        Ok(self.links.iter().find(|l| l.name == name).cloned())
    }
    fn links(&self) -> Result<Vec<LinkInfo>> {
        Ok(self.links.clone())
    }
    fn routes(&self) -> Result<Vec<RouteInfo>> {
        Ok(self.routes.clone())
    }
}
