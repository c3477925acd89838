//! cgroup v1: each controller has its own files in its own hierarchy
//! (`memory.limit_in_bytes`, `cpu.cfs_quota_us`, `pids.max`, ...).

use super::{LimitWrite, Limits};

/// The file writes that apply `limits` in v1 hierarchies, in the order they must happen
/// (the memory limit before memory+swap, the CFS period before the quota).
pub fn writes(limits: &Limits) -> Vec<LimitWrite> {
    let w = |controller, file, value: String| LimitWrite { controller, file, value };
    let mut out = Vec::new();
    if let Some(memory) = limits.memory {
        out.push(w("memory", "memory.limit_in_bytes", memory.to_string()));
    }
    if let Some(swap) = limits.memory_swap {
        // Without swap accounting (swapaccount=0) the file does not exist: refused then.
        out.push(w("memory", "memory.memsw.limit_in_bytes", swap.to_string()));
    }
    if let Some(reservation) = limits.memory_reservation {
        out.push(w("memory", "memory.soft_limit_in_bytes", reservation.to_string()));
    }
    if let Some(swappiness) = limits.memory_swappiness {
        out.push(w("memory", "memory.swappiness", swappiness.to_string()));
    }
    if limits.disable_oom_killer {
        out.push(w("memory", "memory.oom_control", "1".into()));
    }
    if let Some(shares) = limits.cpu_shares {
        out.push(w("cpu", "cpu.shares", shares.to_string()));
    }
    if let Some(period) = limits.cpu_period {
        out.push(w("cpu", "cpu.cfs_period_us", period.to_string()));
    }
    if let Some(quota) = limits.cpu_quota {
        out.push(w("cpu", "cpu.cfs_quota_us", quota.to_string()));
    }
    out.extend(super::cpuset::writes(limits));
    if let Some(pids) = limits.pids {
        out.push(w("pids", "pids.max", if pids > 0 { pids.to_string() } else { "max".into() }));
    }
    for rule in &limits.devices {
        out.push(w("devices", if rule.allow { "devices.allow" } else { "devices.deny" }, rule.line()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(limits: &Limits) -> Vec<(String, String)> {
        writes(limits).into_iter().map(|w| (format!("{}/{}", w.controller, w.file), w.value)).collect()
    }

    #[test]
    fn memory_cpu_and_pids_limits_map_to_their_files_in_order() {
        let limits = Limits {
            memory: Some(16 << 20),
            memory_swap: Some(32 << 20),
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            pids: Some(10),
            ..Limits::default()
        };
        let got = files(&limits);
        let want = [
            ("memory/memory.limit_in_bytes", "16777216"),
            ("memory/memory.memsw.limit_in_bytes", "33554432"),
            ("cpu/cpu.shares", "512"),
            ("cpu/cpu.cfs_period_us", "100000"),
            ("cpu/cpu.cfs_quota_us", "50000"),
            ("pids/pids.max", "10"),
        ];
        assert_eq!(got, want.map(|(f, v)| (f.to_string(), v.to_string())));
    }

    #[test]
    fn reservation_swappiness_oom_and_cpuset_map_to_their_files() {
        let limits = Limits {
            memory_reservation: Some(8 << 20),
            memory_swappiness: Some(10),
            disable_oom_killer: true,
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            ..Limits::default()
        };
        let want = [
            ("memory/memory.soft_limit_in_bytes", "8388608"),
            ("memory/memory.swappiness", "10"),
            ("memory/memory.oom_control", "1"),
            ("cpuset/cpuset.cpus", "0-1"),
            ("cpuset/cpuset.mems", "0"),
        ];
        assert_eq!(files(&limits), want.map(|(f, v)| (f.to_string(), v.to_string())));
        let empty = Limits { cpuset_cpus: Some(String::new()), ..Limits::default() };
        assert!(writes(&empty).is_empty(), "an empty cpuset is no cpuset");
    }

    #[test]
    fn device_rules_are_written_one_per_line_in_order() {
        let limits = Limits { devices: crate::cgroups::DeviceRule::docker_defaults(), ..Limits::default() };
        let got = files(&limits);
        assert_eq!(got[0], ("devices/devices.deny".into(), "a *:* rwm".into()));
        assert_eq!(got[1], ("devices/devices.allow".into(), "c *:* m".into()));
        assert_eq!(got[3], ("devices/devices.allow".into(), "c 1:3 rwm".into()));
        assert_eq!(got.last().unwrap(), &("devices/devices.allow".into(), "c 136:* rwm".into()));
    }

    #[test]
    fn unlimited_pids_is_max_and_no_limits_write_nothing() {
        assert_eq!(files(&Limits { pids: Some(0), ..Limits::default() }), [("pids/pids.max".into(), "max".into())]);
        assert!(writes(&Limits::default()).is_empty());
    }
}
