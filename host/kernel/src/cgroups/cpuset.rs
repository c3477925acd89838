//! cpusets: the CPUs and memory nodes a container's processes may run on and allocate
//! from (`--cpuset-cpus`, `--cpuset-mems`; OCI `linux.resources.cpu.cpus` / `mems`).
//!
//! [`check`] validates a request as Docker's daemon does, with its words: the list
//! syntax (`0-3,6`), and only CPUs and nodes the host offers (the cpuset hierarchy's root
//! `cpuset.cpus`/`cpuset.mems` on v1, `cpuset.cpus.effective`/`cpuset.mems.effective`
//! of the unified root on v2, else `/sys/devices/system/{cpu,node}/online`). The daemon
//! calls it at create; the shim calls it again before making the cgroup.
//!
//! On v1 the cpuset hierarchy is used only when a container asks for a cpuset (a plain
//! start stays out of it): a new v1 cpuset cgroup starts with empty `cpuset.cpus` and
//! `cpuset.mems`, and no process may join it until both are set, so
//! [`prepare_v1`] copies them from the parent at every level it creates (or finds
//! empty), from the mount point down, before the container's own values are written.
//! On v2 the `cpuset` controller is enabled in the ancestors' `cgroup.subtree_control`
//! like the others (see [`super::v2`]).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::mountinfo::CgroupMounts;
use super::{CgroupError, LimitWrite, Limits};

/// Why a cpuset request is refused (Docker's words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpusetError {
    #[error("Invalid value {value} for cpuset {what}: {reason}")]
    Invalid { what: &'static str, value: String, reason: String },
    #[error("Requested CPUs are not available - requested {requested}, available: {available}")]
    CpusUnavailable { requested: String, available: String },
    #[error("Requested memory nodes are not available - requested {requested}, available: {available}")]
    MemsUnavailable { requested: String, available: String },
}

/// The CPUs and memory nodes the host offers, as list strings (`0-1`, `0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    pub cpus: String,
    pub mems: String,
}

/// The usual most CPUs of a Linux machine; a list may not name more (CVE-2018-20699:
/// `1-9223372036854775807` must not allocate a set that large), unless the host has more.
const DEFAULT_MAX: u32 = 8192;

impl Available {
    /// Read what this host offers; see the module docs.
    pub fn of_host() -> Available {
        let read = |path: &Path| fs::read_to_string(path).ok().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        let mounts = fs::read_to_string("/proc/self/mountinfo").map(|t| CgroupMounts::parse(&t)).unwrap_or_default();
        let (cpus, mems) = match (mounts.v1_with("cpuset"), &mounts.unified) {
            (Some(v1), _) => (v1.mount_point.join("cpuset.cpus"), v1.mount_point.join("cpuset.mems")),
            (None, Some(v2)) => (v2.mount_point.join("cpuset.cpus.effective"), v2.mount_point.join("cpuset.mems.effective")),
            (None, None) => ("/sys/devices/system/cpu/online".into(), "/sys/devices/system/node/online".into()),
        };
        Available {
            cpus: read(&cpus).or_else(|| read(Path::new("/sys/devices/system/cpu/online"))).unwrap_or_else(|| "0".into()),
            mems: read(&mems).or_else(|| read(Path::new("/sys/devices/system/node/online"))).unwrap_or_else(|| "0".into()),
        }
    }
}

/// Refuse `cpus` / `mems` (either may be empty: no restriction) that are not lists or
/// name CPUs or nodes this host does not offer.
pub fn check(cpus: &str, mems: &str) -> Result<(), CpusetError> {
    if cpus.is_empty() && mems.is_empty() {
        return Ok(());
    }
    check_against(cpus, mems, &Available::of_host())
}

/// [`check`] against `available`.
pub fn check_against(cpus: &str, mems: &str, available: &Available) -> Result<(), CpusetError> {
    let offered_cpus = parse_list(&available.cpus, 0).unwrap_or_default();
    let offered_mems = parse_list(&available.mems, 0).unwrap_or_default();
    let max = |offered: &BTreeSet<u32>| offered.last().copied().unwrap_or(0).max(DEFAULT_MAX);
    let requested = |what, value: &str, offered: &BTreeSet<u32>| {
        parse_list(value, max(offered)).map_err(|reason| CpusetError::Invalid { what, value: value.into(), reason })
    };
    if !requested("cpus", cpus, &offered_cpus)?.is_subset(&offered_cpus) {
        return Err(CpusetError::CpusUnavailable { requested: cpus.into(), available: available.cpus.clone() });
    }
    if !requested("mems", mems, &offered_mems)?.is_subset(&offered_mems) {
        return Err(CpusetError::MemsUnavailable { requested: mems.into(), available: available.mems.clone() });
    }
    Ok(())
}

/// The numbers of a list such as `0-3,6` (empty: none); none may exceed `max` (0: no
/// bound). Docker's syntax: comma-separated numbers and `low-high` ranges.
pub fn parse_list(value: &str, max: u32) -> Result<BTreeSet<u32>, String> {
    let mut set = BTreeSet::new();
    if value.is_empty() {
        return Ok(set);
    }
    let invalid = || format!("invalid format: {value}");
    for part in value.split(',') {
        let (low, high) = match part.split_once('-') {
            Some((low, high)) => (low, high),
            None => (part, part),
        };
        let number = |s: &str| s.parse::<u32>().map_err(|_| invalid());
        let (low, high) = (number(low)?, number(high)?);
        if high < low {
            return Err(invalid());
        }
        if max != 0 && high > max {
            return Err(format!("value of out range, maximum is {max}"));
        }
        set.extend(low..=high);
    }
    Ok(set)
}

/// The writes of `limits`' cpuset: the same files on v1 and v2.
pub(crate) fn writes(limits: &Limits) -> impl Iterator<Item = LimitWrite> + '_ {
    [("cpuset.cpus", &limits.cpuset_cpus), ("cpuset.mems", &limits.cpuset_mems)].into_iter().filter_map(|(file, value)| {
        let value = value.as_ref().filter(|v| !v.is_empty())?;
        Some(LimitWrite { controller: "cpuset", file, value: value.clone() })
    })
}

/// Make v1 cpuset cgroup `leaf` (below `mount_point`) and every missing level above it,
/// each with `cpuset.cpus` and `cpuset.mems` copied from its parent when empty.
pub(crate) fn prepare_v1(mount_point: &Path, leaf: &Path) -> Result<(), CgroupError> {
    let Ok(below) = leaf.strip_prefix(mount_point) else {
        return Err(CgroupError::BadPath { path: leaf.display().to_string() });
    };
    let mut dir = mount_point.to_path_buf();
    for part in below.components() {
        let parent = dir.clone();
        dir.push(part);
        super::make_dir(&dir)?;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let io = |op: String| {
                let dir = dir.clone();
                move |source| CgroupError::Io { dir, op, source }
            };
            let own = fs::read_to_string(dir.join(file)).map_err(io(format!("read {file}")))?;
            if own.trim().is_empty() {
                let inherited = fs::read_to_string(parent.join(file)).map_err(io(format!("read the parent's {file}")))?;
                super::write_file(&dir.join(file), inherited.trim().as_bytes()).map_err(io(format!("copy {file} from the parent")))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(cpus: &str, mems: &str) -> Available {
        Available { cpus: cpus.into(), mems: mems.into() }
    }

    #[test]
    fn lists_parse_as_dockers_do() {
        let set = |v: &str| parse_list(v, 0).unwrap().into_iter().collect::<Vec<_>>();
        assert_eq!(set("7"), [7]);
        assert_eq!(set("1-3"), [1, 2, 3]);
        assert_eq!(set("0,3-4,7,8-10"), [0, 3, 4, 7, 8, 9, 10]);
        assert_eq!(set("0-0,0,1-2"), [0, 1, 2]);
        assert_eq!(set("3,2,1"), [1, 2, 3]);
        assert!(set("").is_empty());
        for bad in ["a", "1-", "-1", "3-1", "1,,2", "1,", " 1", "1-2-3"] {
            assert_eq!(parse_list(bad, 0).unwrap_err(), format!("invalid format: {bad}"), "{bad:?}");
        }
        assert_eq!(parse_list("1-9223372036854775807", 8192).unwrap_err(), "invalid format: 1-9223372036854775807");
        assert_eq!(parse_list("0-9000", 8192).unwrap_err(), "value of out range, maximum is 8192");
    }

    #[test]
    fn cpus_and_mems_the_host_lacks_are_refused_with_dockers_words() {
        let two = host("0-1", "0");
        assert!(check_against("0", "", &two).is_ok());
        assert!(check_against("0-1", "0", &two).is_ok());
        assert!(check_against("", "", &two).is_ok());
        assert_eq!(
            check_against("0-7", "", &two).unwrap_err().to_string(),
            "Requested CPUs are not available - requested 0-7, available: 0-1"
        );
        assert_eq!(
            check_against("", "1", &two).unwrap_err().to_string(),
            "Requested memory nodes are not available - requested 1, available: 0"
        );
        assert_eq!(check_against("0-a", "", &two).unwrap_err().to_string(), "Invalid value 0-a for cpuset cpus: invalid format: 0-a");
        assert_eq!(check_against("", "x", &two).unwrap_err().to_string(), "Invalid value x for cpuset mems: invalid format: x");
    }

    #[test]
    fn this_host_offers_cpu_0() {
        let available = Available::of_host();
        assert!(parse_list(&available.cpus, 0).unwrap().contains(&0), "{available:?}");
        assert!(check("0", "0").is_ok());
    }
}
