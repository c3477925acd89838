//! Docker's syntax for the container options whose values are more than a number or a
//! size, parsed the way Docker's CLI parses them, for `create`/`run` flags and `run -f`
//! files alike: `--device HOST[:CONTAINER][:rwm]`, `--ulimit NAME=SOFT[:HARD]`,
//! capability names (`net_admin` sent as `CAP_NET_ADMIN`, `all` as `ALL`) and
//! `--memory-swap` (a size, or -1 for unlimited swap). The daemon checks the values
//! again (what the host has, Docker's ranges): this is only their syntax.

use crate::types::{DeviceMapping, Ulimit};

/// The `--ulimit` names Docker knows (go-units' `ulimitNameMapping`).
pub const ULIMIT_NAMES: &[&str] =
    &["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"];

/// Whether `mode` is some of `r`, `w`, `m`, each at most once (Docker's `validDeviceMode`).
pub fn valid_device_mode(mode: &str) -> bool {
    let mut seen: Vec<char> = mode.chars().collect();
    seen.sort_unstable();
    seen.dedup();
    !mode.is_empty() && seen.len() == mode.len() && mode.chars().all(|c| "rwm".contains(c))
}

/// Parse `--device HOST[:CONTAINER][:PERMISSIONS]` as Docker's CLI does: a second part
/// that is a valid mode is the permissions (`/dev/fuse:rw`); the container path defaults
/// to the host path and must be absolute; the permissions default to `rwm`.
pub fn parse_device(text: &str) -> Result<DeviceMapping, String> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 || parts[0].is_empty() {
        return Err(format!("bad format for path: {text}"));
    }
    let (host, container, permissions) = match parts.as_slice() {
        [host, mode] if valid_device_mode(mode) => (*host, *host, *mode),
        [host, container] => (*host, *container, "rwm"),
        [host, container, mode] if valid_device_mode(mode) => (*host, *container, *mode),
        [_, _, mode] => return Err(format!("bad mode specified: {mode}")),
        _ => (parts[0], parts[0], "rwm"),
    };
    if !container.starts_with('/') {
        return Err(format!("{container} is not an absolute path"));
    }
    Ok(DeviceMapping { path_on_host: host.to_owned(), path_in_container: container.to_owned(), cgroup_permissions: permissions.to_owned() })
}

/// Parse `--ulimit NAME=SOFT[:HARD]` (go-units' `ParseUlimit`): the hard limit defaults
/// to the soft one; -1 is unlimited; the soft limit may not exceed the hard one.
pub fn parse_ulimit(text: &str) -> Result<Ulimit, String> {
    let (name, values) = text.split_once('=').ok_or_else(|| format!("invalid ulimit argument: {text}"))?;
    let number = |v: &str| v.parse::<i64>().map_err(|_| format!("invalid ulimit value {v:?} in {text}: expected an integer (-1 is unlimited)"));
    let (soft, hard) = match values.split(':').collect::<Vec<_>>().as_slice() {
        [soft] => (number(soft)?, number(soft)?),
        [soft, hard] => (number(soft)?, number(hard)?),
        _ => return Err(format!("too many limit value arguments - {values}, can only have up to two, `soft[:hard]`")),
    };
    let ulimit = Ulimit { name: name.to_owned(), soft, hard };
    check_ulimit(&ulimit)?;
    Ok(ulimit)
}

/// A ulimit's name is one Docker knows, its values -1 (unlimited) or not negative, the
/// soft one within the hard one.
pub fn check_ulimit(ulimit: &Ulimit) -> Result<(), String> {
    let Ulimit { name, soft, hard } = ulimit;
    if !ULIMIT_NAMES.contains(&name.as_str()) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    if *soft < -1 || *hard < -1 {
        return Err(format!("ulimit {name}={soft}:{hard}: a limit is -1 (unlimited) or not negative"));
    }
    let as_u64 = |v: i64| if v == -1 { u64::MAX } else { v as u64 };
    if as_u64(*soft) > as_u64(*hard) {
        return Err(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"));
    }
    Ok(())
}

/// A capability as Docker's CLI sends it: upper case, with `CAP_` (`ALL` stays `ALL`).
pub fn normalize_capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" || upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") }
}

/// Parse `--memory-swap`: `-1` (unlimited swap) or a size like `128m`.
pub fn parse_memory_swap(text: &str) -> Result<i64, String> {
    if text.trim() == "-1" {
        return Ok(-1);
    }
    let bytes = crate::units::parse_bytes(text).map_err(|_| format!("{text:?}: expected a size like 128m, or -1 for unlimited swap"))?;
    i64::try_from(bytes).map_err(|_| format!("{text:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(host: &str, container: &str, permissions: &str) -> DeviceMapping {
        DeviceMapping { path_on_host: host.into(), path_in_container: container.into(), cgroup_permissions: permissions.into() }
    }

    #[test]
    fn devices_parse_as_dockers_cli_parses_them() {
        assert_eq!(parse_device("/dev/fuse").unwrap(), device("/dev/fuse", "/dev/fuse", "rwm"));
        assert_eq!(parse_device("/dev/net/tun:/dev/tun:r").unwrap(), device("/dev/net/tun", "/dev/tun", "r"));
        assert_eq!(parse_device("/dev/loop-control:rw").unwrap(), device("/dev/loop-control", "/dev/loop-control", "rw"));
        assert_eq!(parse_device("/dev/fuse:rwx").unwrap_err(), "rwx is not an absolute path");
        assert_eq!(parse_device("/dev/fuse:/x:rwx").unwrap_err(), "bad mode specified: rwx");
        assert_eq!(parse_device("a:b:c:d").unwrap_err(), "bad format for path: a:b:c:d");
        assert_eq!(parse_device(":/x").unwrap_err(), "bad format for path: :/x");
        assert_eq!(parse_device("relative").unwrap_err(), "relative is not an absolute path");
    }

    #[test]
    fn device_modes_are_some_of_rwm_once_each() {
        for ok in ["r", "w", "m", "rw", "mwr", "rwm"] {
            assert!(valid_device_mode(ok), "{ok}");
        }
        for bad in ["", "rr", "x", "rwmr", "rwx"] {
            assert!(!valid_device_mode(bad), "{bad}");
        }
    }

    #[test]
    fn ulimits_parse_as_go_units_parses_them() {
        assert_eq!(parse_ulimit("nofile=1024:2048").unwrap(), Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 });
        assert_eq!(parse_ulimit("nproc=10").unwrap(), Ulimit { name: "nproc".into(), soft: 10, hard: 10 });
        assert_eq!(parse_ulimit("core=-1").unwrap(), Ulimit { name: "core".into(), soft: -1, hard: -1 });
        assert_eq!(parse_ulimit("core=0:-1").unwrap().hard, -1);
        assert_eq!(parse_ulimit("nofile=2048:1024").unwrap_err(), "ulimit soft limit must be less than or equal to hard limit: 2048 > 1024");
        assert_eq!(parse_ulimit("nofile=-1:1024").unwrap_err(), "ulimit soft limit must be less than or equal to hard limit: -1 > 1024");
        assert_eq!(parse_ulimit("bogus=1").unwrap_err(), "invalid ulimit type: bogus");
        assert_eq!(parse_ulimit("NOFILE=1").unwrap_err(), "invalid ulimit type: NOFILE");
        assert_eq!(parse_ulimit("nofile").unwrap_err(), "invalid ulimit argument: nofile");
        assert!(parse_ulimit("nofile=x").unwrap_err().contains("\"x\""));
        assert!(parse_ulimit("nofile=5:").is_err());
        assert!(parse_ulimit("nofile=1:2:3").unwrap_err().starts_with("too many limit value arguments"));
        assert!(parse_ulimit("nofile=-2").is_err());
    }

    #[test]
    fn capabilities_are_sent_as_dockers_cli_sends_them() {
        assert_eq!(normalize_capability("net_admin"), "CAP_NET_ADMIN");
        assert_eq!(normalize_capability("CAP_SYS_TIME"), "CAP_SYS_TIME");
        assert_eq!(normalize_capability("cap_chown"), "CAP_CHOWN");
        assert_eq!(normalize_capability("all"), "ALL");
    }

    #[test]
    fn memory_swap_is_a_size_or_minus_one() {
        assert_eq!(parse_memory_swap("-1").unwrap(), -1);
        assert_eq!(parse_memory_swap("128m").unwrap(), 128 << 20);
        assert_eq!(parse_memory_swap("1x").unwrap_err(), "\"1x\": expected a size like 128m, or -1 for unlimited swap");
        assert!(parse_memory_swap("-2").is_err());
    }
}
