//! A bridge network's own configuration from its `-o` options: the bridge device's name
//! (`com.docker.network.bridge.name` or `bridge_name`, default `hc-br-<8 hex of the
//! network id>`) and its MTU (`com.docker.network.driver.mtu` or `mtu`).
//!
//! A name the user chooses must start with `hc-`: the plugin's grant covers `hc-*` (and
//! its veths, `hcv*`/`hcp*`), never every link name, so `-o bridge_name=docker1` is
//! refused here with a clear message rather than by the host halfway through the plan.

use hostctl_netkit::names::{self, check_ifname};
use hostctl_netkit::options::{self, MTU, Options};
use hostctl_sdk::{Error, Result};
use serde::{Deserialize, Serialize};

/// The prefix of default bridge names.
pub const DEFAULT_PREFIX: &str = "hc-br-";
/// The prefix every bridge name must have (the plugin's link grant).
pub const GRANTED_PREFIX: &str = "hc-";
/// Docker's keys for the bridge's name.
pub const NAME: &[&str] = &["com.docker.network.bridge.name", "bridge_name"];

/// What the driver records about a bridge network besides its IPAM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeConfig {
    /// The bridge device.
    pub bridge: String,
    /// The MTU of the bridge and of its endpoints' veths; the kernel's default if unset.
    pub mtu: Option<u32>,
}

impl BridgeConfig {
    /// The configuration of network `id` from its options.
    pub fn from_options(id: &str, given: &[(String, String)]) -> Result<Self> {
        let mut options = Options::new("bridge", given);
        let bridge = match options.take(NAME)? {
            Some(name) => {
                check_ifname("bridge name", &name)?;
                if !name.starts_with(GRANTED_PREFIX) {
                    return Err(Error::invalid(format!(
                        "bridge name {name:?}: this driver manages only links named {GRANTED_PREFIX}* (its grant); \
                         choose a name such as {GRANTED_PREFIX}{name}"
                    )));
                }
                name
            }
            None => names::link_name(DEFAULT_PREFIX, id),
        };
        let mtu = options.take(MTU)?.map(|m| options::parse_mtu(&m)).transpose()?;
        options.finish()?;
        Ok(BridgeConfig { bridge, mtu })
    }

    /// The options as resolved, for `network inspect` (Docker's keys).
    pub fn resolved_options(&self) -> Vec<(String, String)> {
        let mut resolved = vec![(NAME[0].to_owned(), self.bridge.clone())];
        if let Some(mtu) = self.mtu {
            resolved.push((MTU[0].to_owned(), mtu.to_string()));
        }
        resolved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostctl_sdk::ErrorKind;

    const ID: &str = "0123abcd5e6f00112233445566778899aabbccddeeff00112233445566778899";

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_name_the_bridge_after_the_network() {
        let config = BridgeConfig::from_options(ID, &[]).unwrap();
        assert_eq!(config, BridgeConfig { bridge: "hc-br-0123abcd".into(), mtu: None });
        assert!(config.bridge.len() <= names::IFNAMSIZ_MAX);
        assert_eq!(config.resolved_options(), given(&[("com.docker.network.bridge.name", "hc-br-0123abcd")]));
    }

    #[test]
    fn a_chosen_name_and_mtu_are_taken_under_dockers_keys() {
        let config = BridgeConfig::from_options(ID, &given(&[("com.docker.network.bridge.name", "hc-web"), ("mtu", "1400")])).unwrap();
        assert_eq!(config, BridgeConfig { bridge: "hc-web".into(), mtu: Some(1400) });
        let config =
            BridgeConfig::from_options(ID, &given(&[("bridge_name", "hc-db"), ("com.docker.network.driver.mtu", "9000")])).unwrap();
        assert_eq!(
            config.resolved_options(),
            given(&[("com.docker.network.bridge.name", "hc-db"), ("com.docker.network.driver.mtu", "9000")])
        );
    }

    #[test]
    fn names_outside_the_grant_or_ifnamsiz_and_unknown_options_are_refused() {
        let refuse = |pairs: &[(&str, &str)]| {
            let err = BridgeConfig::from_options(ID, &given(pairs)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{pairs:?}");
            err.message
        };
        assert!(refuse(&[("bridge_name", "docker1")]).contains("hc-docker1"));
        assert!(refuse(&[("bridge_name", "hc-much-too-long")]).contains("1 to 15"));
        assert!(refuse(&[("bridge_name", "hc-a/b")]).contains("'/'"));
        assert!(refuse(&[("mtu", "9")]).contains("68 to 65535"));
        assert!(refuse(&[("com.docker.network.bridge.enable_icc", "false")]).contains("not supported"));
    }
}
