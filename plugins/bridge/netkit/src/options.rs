//! A network's `-o key=value` driver options. A driver takes the keys it knows (each
//! under its aliases, `com.docker.network.bridge.name` or `bridge_name`) and refuses
//! the rest: an option silently ignored (`-o parnet=eth1`) is a network that is not
//! what its creator asked for.

use hostctl_sdk::{Error, Result};

/// The options of one create-network call.
#[derive(Debug)]
pub struct Options {
    driver: &'static str,
    given: Vec<(String, String)>,
    known: Vec<&'static str>,
}

impl Options {
    /// `driver` names the driver in messages.
    pub fn new(driver: &'static str, given: &[(String, String)]) -> Self {
        Options { driver, given: given.to_vec(), known: Vec::new() }
    }

    /// The value given under any of `aliases` (removed from what is left); the same
    /// option given twice with different values is an error.
    pub fn take(&mut self, aliases: &[&'static str]) -> Result<Option<String>> {
        self.known.extend_from_slice(aliases);
        let (mine, rest): (Vec<_>, Vec<_>) = self.given.drain(..).partition(|(k, _)| aliases.contains(&k.as_str()));
        self.given = rest;
        let mut value: Option<(String, String)> = None;
        for (key, v) in mine {
            match &value {
                Some((first, seen)) if *seen != v => {
                    return Err(Error::invalid(format!("{}: options {first}={seen:?} and {key}={v:?} disagree", self.driver)));
                }
                _ => value = Some((key, v)),
            }
        }
        Ok(value.map(|(_, v)| v))
    }

    /// Refuse any option not taken.
    pub fn finish(self) -> Result<()> {
        match self.given.first() {
            None => Ok(()),
            Some((key, _)) => {
                Err(Error::invalid(format!("{}: option {key:?} is not supported (supported: {})", self.driver, self.known.join(", "))))
            }
        }
    }
}

/// Docker's MTU option keys.
pub const MTU: &[&str] = &["com.docker.network.driver.mtu", "mtu"];

/// Parse an MTU: 68 (IPv4's minimum) to 65535.
pub fn parse_mtu(text: &str) -> Result<u32> {
    text.parse::<u32>()
        .ok()
        .filter(|m| (68..=65535).contains(m))
        .ok_or_else(|| Error::invalid(format!("mtu {text:?}: expected a number from 68 to 65535")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn known_options_are_taken_under_any_alias() {
        let mut o = Options::new("bridge", &given(&[("mtu", "1400"), ("bridge_name", "hc-x")]));
        assert_eq!(o.take(MTU).unwrap().as_deref(), Some("1400"));
        assert_eq!(o.take(&["com.docker.network.bridge.name", "bridge_name"]).unwrap().as_deref(), Some("hc-x"));
        assert_eq!(o.take(&["absent"]).unwrap(), None);
        o.finish().unwrap();
    }

    #[test]
    fn unknown_and_disagreeing_options_are_refused() {
        let mut o = Options::new("macvlan", &given(&[("parnet", "eth0")]));
        o.take(&["parent"]).unwrap();
        let err = o.finish().unwrap_err();
        assert_eq!(err.message, "macvlan: option \"parnet\" is not supported (supported: parent)");
        let mut o = Options::new("bridge", &given(&[("mtu", "1400"), ("com.docker.network.driver.mtu", "1500")]));
        assert!(o.take(MTU).unwrap_err().message.contains("disagree"));
        let mut o = Options::new("bridge", &given(&[("mtu", "1400"), ("mtu", "1400")]));
        assert_eq!(o.take(MTU).unwrap().as_deref(), Some("1400"));
    }

    #[test]
    fn mtus_are_bounded() {
        assert_eq!(parse_mtu("1500").unwrap(), 1500);
        for bad in ["67", "65536", "-1", "big", ""] {
            assert!(parse_mtu(bad).is_err(), "{bad}");
        }
    }
}
