//! `linux.resources` of a container's spec, from its `HostConfig` as Docker's
//! `getMemoryResources`/`getCPUResources` fill it: memory limit, reservation and
//! memory+swap; CPU shares, CFS quota and period (`--cpus` is a quota per 100 ms period,
//! which `--cpu-period`/`--cpu-quota` would conflict with: refused at create), cpuset
//! CPUs and memory nodes; pids; and the device cgroup rules made by the security half.

use hostctl_api::types::HostConfig;
use oci_spec::runtime::{LinuxCpuBuilder, LinuxDeviceCgroup, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder};

/// CFS period for `--cpus` (Docker's).
pub const CPU_PERIOD: u64 = 100_000;

/// The container's cgroup limits; `devices` are its device cgroup rules.
pub(super) fn build(hc: &HostConfig, devices: Vec<LinuxDeviceCgroup>) -> Result<LinuxResources, String> {
    let e = |e: oci_spec::OciSpecError| e.to_string();
    let mut resources = LinuxResourcesBuilder::default().devices(devices);
    if hc.memory > 0 || hc.memory_reservation > 0 || hc.memory_swap > 0 {
        let mut memory = LinuxMemoryBuilder::default();
        if hc.memory > 0 {
            memory = memory.limit(hc.memory);
        }
        if hc.memory_reservation > 0 {
            memory = memory.reservation(hc.memory_reservation);
        }
        // -1 (unlimited swap) is the kernel's default: left unset, as Docker does.
        if hc.memory_swap > 0 {
            memory = memory.swap(hc.memory_swap);
        }
        resources = resources.memory(memory.build().map_err(e)?);
    }
    let mut cpu = LinuxCpuBuilder::default();
    let mut any_cpu = false;
    if hc.cpu_shares > 0 {
        cpu = cpu.shares(hc.cpu_shares as u64);
        any_cpu = true;
    }
    if hc.nano_cpus > 0 {
        let quota = (hc.nano_cpus as u128 * CPU_PERIOD as u128 / 1_000_000_000) as i64;
        cpu = cpu.quota(quota).period(CPU_PERIOD);
        any_cpu = true;
    }
    if hc.cpu_period > 0 {
        cpu = cpu.period(hc.cpu_period as u64);
        any_cpu = true;
    }
    if hc.cpu_quota != 0 {
        cpu = cpu.quota(hc.cpu_quota);
        any_cpu = true;
    }
    if !hc.cpuset_cpus.is_empty() {
        cpu = cpu.cpus(hc.cpuset_cpus.clone());
        any_cpu = true;
    }
    if !hc.cpuset_mems.is_empty() {
        cpu = cpu.mems(hc.cpuset_mems.clone());
        any_cpu = true;
    }
    if any_cpu {
        resources = resources.cpu(cpu.build().map_err(e)?);
    }
    if hc.pids_limit > 0 {
        resources = resources.pids(LinuxPidsBuilder::default().limit(hc.pids_limit).build().map_err(e)?);
    }
    resources.build().map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(hc: HostConfig) -> serde_json::Value {
        serde_json::to_value(build(&hc, Vec::new()).unwrap()).unwrap()
    }

    #[test]
    fn memory_reservation_and_swap_reach_the_spec() {
        let got = json(HostConfig { memory: 64 << 20, memory_swap: 128 << 20, memory_reservation: 32 << 20, ..HostConfig::default() });
        assert_eq!(got["memory"], serde_json::json!({"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20}));
        let unlimited = json(HostConfig { memory: 64 << 20, memory_swap: -1, ..HostConfig::default() });
        assert_eq!(unlimited["memory"], serde_json::json!({"limit": 64 << 20}), "-1 leaves swap unlimited");
    }

    #[test]
    fn cpu_shares_period_quota_and_cpuset_reach_the_spec() {
        let got = json(HostConfig {
            cpu_shares: 512,
            cpu_period: 50_000,
            cpu_quota: 25_000,
            cpuset_cpus: "0".into(),
            cpuset_mems: "0".into(),
            ..HostConfig::default()
        });
        assert_eq!(got["cpu"], serde_json::json!({"shares": 512, "period": 50_000, "quota": 25_000, "cpus": "0", "mems": "0"}));
        let cpus = json(HostConfig { nano_cpus: 500_000_000, ..HostConfig::default() });
        assert_eq!(cpus["cpu"], serde_json::json!({"period": 100_000, "quota": 50_000}));
    }

    #[test]
    fn nothing_asked_is_nothing_set() {
        let got = json(HostConfig::default());
        assert!(got.get("memory").is_none() && got.get("cpu").is_none() && got.get("pids").is_none(), "{got}");
    }
}
