//! The security and resource keys of a `run -f` file (`cap-add`, `cap-drop`,
//! `privileged`, `read-only`, `devices`, `ulimits`, `init`; `[resources]` `memory-swap`,
//! `memory-reservation`, `cpu-shares`, `cpu-quota`, `cpu-period`, `cpuset-cpus`,
//! `cpuset-mems`, `shm-size`), in the flags' syntax, into the request's `HostConfig`;
//! a bad value is an error at its own place (`devices[1]`, `resources.shm-size`).

use std::fmt;
use std::ops::Range;

use hostctl_api::options::{normalize_capability, parse_device, parse_memory_swap, parse_ulimit};
use hostctl_api::toml_file::TomlError;
use hostctl_api::types::HostConfig;
use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::SpecFile;

/// `memory-swap`: a size (`"128m"`), or -1 for unlimited swap (as a number or a string).
#[derive(Debug, Clone, PartialEq)]
pub enum MemorySwap {
    Size(String),
    Bytes(i64),
}

impl<'de> Deserialize<'de> for MemorySwap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = MemorySwap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size like \"128m\", or -1 for unlimited swap")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<MemorySwap, E> {
                Ok(MemorySwap::Size(text.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<MemorySwap, E> {
                Ok(MemorySwap::Bytes(bytes))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Put the file's security and resource keys into `hc`; `at` makes an error at a span.
pub(super) fn apply(file: &SpecFile, hc: &mut HostConfig, at: &impl Fn(Range<usize>, &str, String) -> TomlError) -> Result<(), TomlError> {
    hc.cap_add = file.cap_add.as_ref().map(|names| names.iter().map(|n| normalize_capability(n)).collect());
    hc.cap_drop = file.cap_drop.as_ref().map(|names| names.iter().map(|n| normalize_capability(n)).collect());
    hc.privileged = file.privileged.unwrap_or(false);
    hc.readonly_rootfs = file.read_only.unwrap_or(false);
    hc.init = file.init;
    for (i, text) in file.devices.iter().flatten().enumerate() {
        let device = parse_device(text.get_ref()).map_err(|e| at(text.span(), &format!("devices[{i}]"), format!("{:?}: {e}", text.get_ref())))?;
        hc.devices.push(device);
    }
    for (i, text) in file.ulimits.iter().flatten().enumerate() {
        let ulimit = parse_ulimit(text.get_ref()).map_err(|e| at(text.span(), &format!("ulimits[{i}]"), format!("{:?}: {e}", text.get_ref())))?;
        if hc.ulimits.iter().any(|u| u.name == ulimit.name) {
            return Err(at(text.span(), &format!("ulimits[{i}]"), format!("{:?}: {} is given twice", text.get_ref(), ulimit.name)));
        }
        hc.ulimits.push(ulimit);
    }
    let r = &file.resources;
    if let Some(swap) = &r.memory_swap {
        hc.memory_swap = match swap.get_ref() {
            MemorySwap::Size(text) => parse_memory_swap(text).map_err(|e| at(swap.span(), "resources.memory-swap", e))?,
            MemorySwap::Bytes(bytes) if *bytes >= -1 => *bytes,
            MemorySwap::Bytes(bytes) => return Err(at(swap.span(), "resources.memory-swap", format!("{bytes}: expected a size like \"128m\", or -1 for unlimited swap"))),
        };
    }
    for (key, value, field) in [("memory-reservation", &r.memory_reservation, &mut hc.memory_reservation), ("shm-size", &r.shm_size, &mut hc.shm_size)] {
        if let Some(text) = value {
            let bytes = hostctl_api::units::parse_bytes(text.get_ref()).map_err(|e| at(text.span(), &format!("resources.{key}"), e))?;
            *field = i64::try_from(bytes).map_err(|_| at(text.span(), &format!("resources.{key}"), format!("{:?}: too large", text.get_ref())))?;
        }
    }
    hc.cpu_shares = r.cpu_shares.unwrap_or(0);
    hc.cpu_quota = r.cpu_quota.unwrap_or(0);
    hc.cpu_period = r.cpu_period.unwrap_or(0);
    hc.cpuset_cpus = r.cpuset_cpus.clone().unwrap_or_default();
    hc.cpuset_mems = r.cpuset_mems.clone().unwrap_or_default();
    Ok(())
}

#[cfg(test)]
mod tests {
    use hostctl_api::types::{DeviceMapping, Ulimit};

    use super::super::tests::{error, parse};

    #[test]
    fn security_and_resource_keys_become_the_request() {
        let spec = parse(
            "cap-add = [\"net_admin\"]\ncap-drop = [\"all\"]\nprivileged = true\nread-only = true\ninit = true\n\
             devices = [\"/dev/fuse\", \"/dev/net/tun:/dev/tun:r\"]\nulimits = [\"nofile=1024:2048\"]\n\
             [resources]\nmemory = \"64m\"\nmemory-swap = \"128m\"\nmemory-reservation = \"32m\"\ncpu-shares = 512\n\
             cpu-quota = 50000\ncpu-period = 100000\ncpuset-cpus = \"0-1\"\ncpuset-mems = \"0\"\nshm-size = \"16m\"\n",
        )
        .unwrap();
        let hc = spec.create.host_config;
        assert_eq!((hc.cap_add.unwrap(), hc.cap_drop.unwrap()), (vec!["CAP_NET_ADMIN".to_owned()], vec!["ALL".to_owned()]));
        assert!(hc.privileged && hc.readonly_rootfs && hc.init == Some(true));
        assert_eq!(hc.devices[1], DeviceMapping { path_on_host: "/dev/net/tun".into(), path_in_container: "/dev/tun".into(), cgroup_permissions: "r".into() });
        assert_eq!(hc.ulimits, [Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 }]);
        assert_eq!((hc.memory_swap, hc.memory_reservation, hc.shm_size), (128 << 20, 32 << 20, 16 << 20));
        assert_eq!((hc.cpu_shares, hc.cpu_quota, hc.cpu_period), (512, 50_000, 100_000));
        assert_eq!((hc.cpuset_cpus.as_str(), hc.cpuset_mems.as_str()), ("0-1", "0"));
        assert_eq!(parse("[resources]\nmemory-swap = -1\n").unwrap().create.host_config.memory_swap, -1);
        let none = parse("image = \"busybox\"\n").unwrap().create.host_config;
        assert_eq!((none.cap_add, none.init, none.privileged), (None, None, false));
    }

    #[test]
    fn a_bad_security_or_resource_value_names_its_place_and_key() {
        assert_eq!(error("devices = [\"/dev/fuse\", \"/dev/fuse:rwx\"]\n"), "web.toml:1:25: devices[1]: \"/dev/fuse:rwx\": rwx is not an absolute path");
        assert_eq!(error("ulimits = [\"nofile=2:1\"]\n"), "web.toml:1:12: ulimits[0]: \"nofile=2:1\": ulimit soft limit must be less than or equal to hard limit: 2 > 1");
        assert_eq!(error("ulimits = [\"bogus=1\"]\n"), "web.toml:1:12: ulimits[0]: \"bogus=1\": invalid ulimit type: bogus");
        assert_eq!(error("ulimits = [\"nproc=1\", \"nproc=2\"]\n"), "web.toml:1:23: ulimits[1]: \"nproc=2\": nproc is given twice");
        assert_eq!(error("[resources]\nmemory-swap = \"1x\"\n"), "web.toml:2:15: resources.memory-swap: \"1x\": expected a size like 128m, or -1 for unlimited swap");
        assert_eq!(error("[resources]\nmemory-swap = -2\n"), "web.toml:2:15: resources.memory-swap: -2: expected a size like \"128m\", or -1 for unlimited swap");
        assert_eq!(error("[resources]\nmemory-swap = true\n"), "web.toml:2:15: resources.memory-swap: expected a size like \"128m\", or -1 for unlimited swap, found a boolean");
        assert_eq!(error("[resources]\nshm-size = \"lots\"\n"), "web.toml:2:12: resources.shm-size: \"lots\": expected a size like 64m or 1g");
        assert_eq!(error("privileged = \"yes\"\n"), "web.toml:1:14: privileged: expected a boolean, found a string \"yes\"");
        assert_eq!(error("[resources]\ncpu-shares = \"x\"\n"), "web.toml:2:14: resources.cpu-shares: expected an integer, found a string \"x\"");
    }
}
