//! The security options of a create request (but `--security-opt`, see
//! [`super::seccomp`]), checked against this host and resolved once, at `create`, into
//! what the container is [`Granted`], from which its spec is built at every start: its
//! capabilities (`CapAdd`/`CapDrop`/`Privileged`, with Docker's order from moby's
//! `oci/caps`), its `--device` nodes (see [`super::devices`]), its `--ulimit`s as
//! `setrlimit` takes them, and the init `--init` binds in.
//!
//! "Every capability" is this host's bounding set, not what the kernel knows: a
//! capability the host lacks (`CAP_SYS_RESOURCE` on this project's machines) is refused
//! when asked for by name, as Docker refuses it ("not supported by your kernel or not
//! available in the current environment"). A ulimit whose hard limit is above the
//! daemon's own is refused too when the daemon cannot raise it (no `CAP_SYS_RESOURCE`):
//! Docker passes it on and runc's `setrlimit` fails at start.

use std::path::{Path, PathBuf};

use hostctl_api::types::HostConfig;
use hostctl_kernel::container::capabilities;
use serde::{Deserialize, Serialize};

use super::devices::{self, DeviceError, GrantedDevice};

/// Where Docker binds its init inside the container (`/sbin/docker-init`).
pub const INIT_IN_CONTAINER: &str = "/sbin/docker-init";

/// Why a request's security options cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("invalid {field}: unknown capability: {name:?}")]
    UnknownCapability { field: &'static str, name: String },
    #[error("invalid {field}: capability not supported by your kernel or not available in the current environment: {name:?}")]
    UnavailableCapability { field: &'static str, name: String },
    #[error("{0}")]
    Ulimit(String),
    #[error("ulimit {name}={soft}:{hard}: the hard limit is above this host's {host}, and the daemon cannot raise it (it lacks CAP_SYS_RESOURCE)")]
    UlimitAboveHost { name: String, soft: i64, hard: i64, host: u64 },
    #[error("ulimit {0} is given twice")]
    UlimitTwice(String),
    #[error("--init: there is no init binary at {} ([containers] init-path): install Debian's tini, or point init-path at a static tini", .0.display())]
    NoInit(PathBuf),
    #[error(transparent)]
    Device(#[from] DeviceError),
}

/// One `setrlimit` of the container's process (`process.rlimits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// `RLIMIT_NOFILE`, …
    pub kind: String,
    /// `u64::MAX` is unlimited.
    pub soft: u64,
    pub hard: u64,
}

/// What `create` resolved from the request's security options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Granted {
    /// The bounding, effective and permitted sets (`CAP_…`, by number).
    pub capabilities: Vec<String>,
    /// `--device` nodes as found on the host, with their cgroup permissions.
    pub devices: Vec<GrantedDevice>,
    pub rlimits: Vec<Rlimit>,
    /// The host's init binary, bound at [`INIT_IN_CONTAINER`] (`--init`).
    pub init: Option<PathBuf>,
}

impl Default for Granted {
    /// Docker's defaults (also what a record written before these options means).
    fn default() -> Self {
        Granted {
            capabilities: capabilities::DOCKER_DEFAULT.iter().map(|c| (*c).to_owned()).collect(),
            devices: Vec::new(),
            rlimits: Vec::new(),
            init: None,
        }
    }
}

/// What the host offers, as the checks need it (a fake in unit tests).
#[derive(Debug, Clone)]
pub struct Host {
    /// The bounding set: every capability a container can be given.
    pub bounding: u64,
    /// Whether the daemon (and so a container's init) may raise hard rlimits.
    pub can_raise_rlimits: bool,
    /// The daemon's hard limit of a ulimit (`nofile`, …); `u64::MAX` is unlimited.
    pub hard_limit: fn(&str) -> u64,
}

impl Host {
    /// This host, as the daemon sees it.
    pub fn detect() -> Host {
        let effective = rustix::thread::capabilities(None).map(|c| c.effective).unwrap_or(rustix::thread::CapabilitySet::empty());
        Host {
            bounding: capabilities::bounding_set(),
            can_raise_rlimits: effective.contains(rustix::thread::CapabilitySet::SYS_RESOURCE),
            hard_limit: |name| resource(name).and_then(|r| rustix::process::getrlimit(r).maximum).unwrap_or(u64::MAX),
        }
    }
}

/// Check and resolve the security options of `config`; `init_path` is the daemon's
/// `[containers] init-path`.
pub fn resolve(config: &HostConfig, init_path: &Path, host: &Host) -> Result<Granted, SecurityError> {
    let init = match config.init {
        Some(true) if init_path.is_file() => Some(init_path.to_owned()),
        Some(true) => return Err(SecurityError::NoInit(init_path.to_owned())),
        _ => None,
    };
    let mut granted = Vec::new();
    for mapping in &config.devices {
        granted.extend(devices::resolve(mapping)?);
    }
    Ok(Granted {
        capabilities: tweak_capabilities(config, host.bounding)?,
        devices: granted,
        rlimits: rlimits(config, host)?,
        init,
    })
}

/// Docker's `TweakCapabilities`: every available capability when privileged; else
/// `CapAdd` ALL (minus `CapDrop`), or `CapDrop` ALL (then `CapAdd`), or the default set
/// minus `CapDrop` plus `CapAdd`. Both lists are checked in any case.
fn tweak_capabilities(config: &HostConfig, bounding: u64) -> Result<Vec<String>, SecurityError> {
    let adds = normalize("CapAdd", config.cap_add.as_deref().unwrap_or_default(), bounding)?;
    let drops = normalize("CapDrop", config.cap_drop.as_deref().unwrap_or_default(), bounding)?;
    let all = || capabilities::names_in(bounding);
    let mut caps: Vec<String> = if config.privileged {
        all()
    } else if adds.iter().any(|c| c == "ALL") {
        all().into_iter().filter(|c| !drops.contains(c)).collect()
    } else if drops.iter().any(|c| c == "ALL") {
        adds
    } else {
        let defaults = capabilities::DOCKER_DEFAULT.iter().map(|c| (*c).to_owned()).filter(|c| !drops.contains(c));
        defaults.chain(adds).collect()
    };
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    Ok(caps)
}

/// Docker's `NormalizeLegacyCapabilities`: upper case, `CAP_` prefixed, `ALL` kept; a
/// name the kernel does not know, or this host cannot grant, is refused.
fn normalize(field: &'static str, names: &[String], bounding: u64) -> Result<Vec<String>, SecurityError> {
    let known = capabilities::known();
    let available = capabilities::names_in(bounding);
    names
        .iter()
        .map(|name| {
            let name = hostctl_api::options::normalize_capability(name);
            if name == "ALL" || available.contains(&name) {
                Ok(name)
            } else if known.contains(&name) {
                Err(SecurityError::UnavailableCapability { field, name })
            } else {
                Err(SecurityError::UnknownCapability { field, name })
            }
        })
        .collect()
}

/// The request's ulimits as rlimits, each checked, none above what the host allows.
fn rlimits(config: &HostConfig, host: &Host) -> Result<Vec<Rlimit>, SecurityError> {
    let mut out: Vec<Rlimit> = Vec::new();
    for ulimit in &config.ulimits {
        hostctl_api::options::check_ulimit(ulimit).map_err(SecurityError::Ulimit)?;
        let kind = format!("RLIMIT_{}", ulimit.name.to_ascii_uppercase());
        if out.iter().any(|r| r.kind == kind) {
            return Err(SecurityError::UlimitTwice(ulimit.name.clone()));
        }
        let value = |v: i64| u64::try_from(v).unwrap_or(u64::MAX);
        let (soft, hard) = (value(ulimit.soft), value(ulimit.hard));
        let host_hard = (host.hard_limit)(&ulimit.name);
        if hard > host_hard && !host.can_raise_rlimits {
            return Err(SecurityError::UlimitAboveHost { name: ulimit.name.clone(), soft: ulimit.soft, hard: ulimit.hard, host: host_hard });
        }
        out.push(Rlimit { kind, soft, hard });
    }
    Ok(out)
}

/// The resource a Docker ulimit name stands for.
fn resource(name: &str) -> Option<rustix::process::Resource> {
    use rustix::process::Resource as R;
    Some(match name {
        "core" => R::Core,
        "cpu" => R::Cpu,
        "data" => R::Data,
        "fsize" => R::Fsize,
        "locks" => R::Locks,
        "memlock" => R::Memlock,
        "msgqueue" => R::Msgqueue,
        "nice" => R::Nice,
        "nofile" => R::Nofile,
        "nproc" => R::Nproc,
        "rss" => R::Rss,
        "rtprio" => R::Rtprio,
        "rttime" => R::Rttime,
        "sigpending" => R::Sigpending,
        "stack" => R::Stack,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostctl_api::types::Ulimit;

    /// This project's machines: every capability up to 40 but `CAP_SYS_RESOURCE` (24),
    /// a hard `nofile` of 20000, no `CAP_SYS_RESOURCE` to raise it.
    fn host() -> Host {
        Host { bounding: 0x1fffeffffff, can_raise_rlimits: false, hard_limit: |name| if name == "nofile" { 20_000 } else { u64::MAX } }
    }

    fn caps(add: &[&str], drop: &[&str], privileged: bool) -> Result<Vec<String>, SecurityError> {
        let list = |l: &[&str]| (!l.is_empty()).then(|| l.iter().map(|s| (*s).to_owned()).collect());
        let config = HostConfig { cap_add: list(add), cap_drop: list(drop), privileged, ..HostConfig::default() };
        tweak_capabilities(&config, host().bounding)
    }

    fn mask(names: &[String]) -> u64 {
        capabilities::mask_of(names.iter().map(String::as_str)).0
    }

    #[test]
    fn no_tweaks_is_dockers_default_set() {
        assert_eq!(mask(&caps(&[], &[], false).unwrap()), 0xa80425fb);
        assert_eq!(Granted::default().capabilities, caps(&[], &[], false).unwrap());
    }

    #[test]
    fn drop_all_then_add_keeps_only_the_added() {
        assert!(caps(&[], &["ALL"], false).unwrap().is_empty());
        assert_eq!(caps(&["net_admin"], &["all"], false).unwrap(), ["CAP_NET_ADMIN"]);
    }

    #[test]
    fn add_and_drop_change_the_default_set_in_any_spelling() {
        let got = caps(&["NET_ADMIN", "cap_sys_time"], &["CAP_CHOWN", "mknod"], false).unwrap();
        assert_eq!(mask(&got), 0xa80425fb & !(1 << 0) & !(1 << 27) | 1 << 12 | 1 << 25);
    }

    #[test]
    fn add_all_is_the_bounding_set_minus_the_drops() {
        let got = caps(&["ALL"], &["NET_RAW"], false).unwrap();
        assert_eq!(mask(&got), 0x1fffeffffff & !(1 << 13));
    }

    #[test]
    fn privileged_is_the_bounding_set_whatever_is_dropped() {
        assert_eq!(mask(&caps(&[], &["ALL"], true).unwrap()), 0x1fffeffffff);
    }

    #[test]
    fn unknown_and_unavailable_capabilities_are_refused_by_name() {
        assert_eq!(caps(&["foo"], &[], false).unwrap_err().to_string(), "invalid CapAdd: unknown capability: \"CAP_FOO\"");
        assert_eq!(
            caps(&[], &["SYS_RESOURCE"], false).unwrap_err().to_string(),
            "invalid CapDrop: capability not supported by your kernel or not available in the current environment: \"CAP_SYS_RESOURCE\""
        );
        assert!(caps(&["bogus"], &[], true).is_err(), "checked even when privileged, as Docker");
    }

    fn ulimits(list: &[(&str, i64, i64)]) -> Result<Vec<Rlimit>, SecurityError> {
        let ulimits = list.iter().map(|(name, soft, hard)| Ulimit { name: (*name).into(), soft: *soft, hard: *hard }).collect();
        rlimits(&HostConfig { ulimits, ..HostConfig::default() }, &host())
    }

    #[test]
    fn ulimits_become_rlimits_with_minus_one_unlimited() {
        let got = ulimits(&[("nofile", 1024, 2048), ("core", -1, -1)]).unwrap();
        assert_eq!(got, [Rlimit { kind: "RLIMIT_NOFILE".into(), soft: 1024, hard: 2048 }, Rlimit { kind: "RLIMIT_CORE".into(), soft: u64::MAX, hard: u64::MAX }]);
    }

    #[test]
    fn bad_ulimits_are_refused_by_name() {
        assert_eq!(ulimits(&[("nofile", 2048, 1024)]).unwrap_err().to_string(), "ulimit soft limit must be less than or equal to hard limit: 2048 > 1024");
        assert_eq!(ulimits(&[("bogus", 1, 1)]).unwrap_err().to_string(), "invalid ulimit type: bogus");
        assert_eq!(ulimits(&[("nproc", 1, 1), ("nproc", 2, 2)]).unwrap_err().to_string(), "ulimit nproc is given twice");
        assert_eq!(
            ulimits(&[("nofile", 1024, 30_000)]).unwrap_err().to_string(),
            "ulimit nofile=1024:30000: the hard limit is above this host's 20000, and the daemon cannot raise it (it lacks CAP_SYS_RESOURCE)"
        );
        assert!(ulimits(&[("nofile", 1024, -1)]).is_err(), "unlimited is above 20000");
        assert!(ulimits(&[("nofile", 20_000, 20_000)]).is_ok());
        let raising = Host { can_raise_rlimits: true, ..host() };
        let ulimits = vec![Ulimit { name: "nofile".into(), soft: 1, hard: 30_000 }];
        assert!(rlimits(&HostConfig { ulimits, ..HostConfig::default() }, &raising).is_ok());
    }

    #[test]
    fn init_is_refused_when_its_binary_is_missing() {
        let config = HostConfig { init: Some(true), ..HostConfig::default() };
        let err = resolve(&config, Path::new("/nonexistent/tini-static"), &host()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--init: there is no init binary at /nonexistent/tini-static ([containers] init-path): install Debian's tini, or point init-path at a static tini"
        );
        let found = resolve(&config, Path::new("/bin/sh"), &host()).unwrap();
        assert_eq!(found.init.as_deref(), Some(Path::new("/bin/sh")));
        let off = HostConfig { init: Some(false), ..HostConfig::default() };
        assert_eq!(resolve(&off, Path::new("/nonexistent"), &host()).unwrap().init, None);
    }

    #[test]
    fn the_detected_host_has_a_bounding_set() {
        let host = Host::detect();
        assert_ne!(host.bounding, 0);
        assert!((host.hard_limit)("nofile") > 0);
    }
}
