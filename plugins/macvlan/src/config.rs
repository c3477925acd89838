//! A macvlan network's own configuration from its `-o` options, as Docker's: `parent`
//! (required: the host link the containers' macvlans sit on) and `macvlan_mode`
//! (`bridge` by default, `vepa`, `private` or `passthru`). The MTU is the parent's.

use hostctl_netkit::names::check_ifname;
use hostctl_netkit::options::Options;
use hostctl_sdk::network::MacvlanMode;
use hostctl_sdk::{Error, Result};
use serde::{Deserialize, Serialize};

/// Docker's option keys.
pub const PARENT: &str = "parent";
pub const MODE: &str = "macvlan_mode";

/// How macvlans on one parent reach each other (the kernel's macvlan modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Endpoints on the parent talk to each other directly (Docker's default).
    Bridge,
    /// Traffic between endpoints goes out to the switch (which must hairpin it).
    Vepa,
    /// Endpoints on the parent never talk to each other.
    Private,
    /// The one endpoint takes over the parent.
    Passthru,
}

impl Mode {
    fn parse(text: &str) -> Result<Self> {
        match text {
            "bridge" => Ok(Mode::Bridge),
            "vepa" => Ok(Mode::Vepa),
            "private" => Ok(Mode::Private),
            "passthru" => Ok(Mode::Passthru),
            other => Err(Error::invalid(format!("{MODE} {other:?}: expected bridge, vepa, private or passthru"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Bridge => "bridge",
            Mode::Vepa => "vepa",
            Mode::Private => "private",
            Mode::Passthru => "passthru",
        }
    }

    /// The plan's form of the mode.
    pub fn to_plan(self) -> MacvlanMode {
        match self {
            Mode::Bridge => MacvlanMode::Bridge,
            Mode::Vepa => MacvlanMode::Vepa,
            Mode::Private => MacvlanMode::Private,
            Mode::Passthru => MacvlanMode::Passthru,
        }
    }
}

/// What the driver records about a macvlan network besides its IPAM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacvlanConfig {
    pub parent: String,
    pub mode: Mode,
}

impl MacvlanConfig {
    pub fn from_options(given: &[(String, String)]) -> Result<Self> {
        let mut options = Options::new("macvlan", given);
        let parent = options.take(&[PARENT])?.ok_or_else(|| {
            Error::invalid("macvlan: option parent is required: the host link the containers' macvlans go on (-o parent=eth1)")
        })?;
        check_ifname(PARENT, &parent)?;
        let mode = options.take(&[MODE])?.map(|m| Mode::parse(&m)).transpose()?.unwrap_or(Mode::Bridge);
        options.finish()?;
        Ok(MacvlanConfig { parent, mode })
    }

    /// The options as resolved, for `network inspect`.
    pub fn resolved_options(&self) -> Vec<(String, String)> {
        vec![(PARENT.to_owned(), self.parent.clone()), (MODE.to_owned(), self.mode.as_str().to_owned())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostctl_sdk::ErrorKind;

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn parent_is_required_and_mode_defaults_to_bridge() {
        let config = MacvlanConfig::from_options(&given(&[("parent", "eth1")])).unwrap();
        assert_eq!(config, MacvlanConfig { parent: "eth1".into(), mode: Mode::Bridge });
        assert_eq!(config.resolved_options(), given(&[("parent", "eth1"), ("macvlan_mode", "bridge")]));
        let err = MacvlanConfig::from_options(&[]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains("parent is required"), "{}", err.message);
    }

    #[test]
    fn every_kernel_mode_is_taken_and_nothing_else() {
        for mode in ["bridge", "vepa", "private", "passthru"] {
            let config = MacvlanConfig::from_options(&given(&[("parent", "eth1"), ("macvlan_mode", mode)])).unwrap();
            assert_eq!(config.mode.as_str(), mode);
        }
        for bad in [
            &[("parent", "eth1"), ("macvlan_mode", "Bridge")][..],
            &[("parent", "eth1"), ("macvlan_mode", "source")],
            &[("parent", "a/b")],
            &[("parent", "eth1"), ("mtu", "1400")],
        ] {
            assert_eq!(MacvlanConfig::from_options(&given(bad)).unwrap_err().kind, ErrorKind::InvalidArgument, "{bad:?}");
        }
    }
}
