//! A create request's resource limits: Docker's defaults filled in ([`adapt`]:
//! `MemorySwap` twice `Memory`, a 64 MiB `/dev/shm`) and Docker's range checks, with its
//! words (moby's `verifyPlatformContainerResources`), made at `create` rather than
//! failing, or starving the container, at `start`: memory, swap and reservation, CPUs,
//! CFS period and quota, CPU shares, cpuset CPUs and memory nodes against the host's
//! (the kernel crate's [`cpuset::check`], which the shim makes again), `/dev/shm`'s size.

use hostctl_api::types::HostConfig;
use hostctl_kernel::cgroups::cpuset::{self, Available};

/// Docker's `linuxMinMemory`.
pub const MIN_MEMORY: i64 = 6 << 20;

/// Docker's default `/dev/shm` size (`config.DefaultShmSize`).
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// The fewest CPUs `--cpus` may ask for: a CFS quota of 1 ms per 100 ms period, the
/// least the kernel takes.
const MIN_NANO_CPUS: i64 = 10_000_000;

/// What the host has, as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// CPUs this daemon may run on (Go's `runtime.NumCPU`, which Docker counts).
    pub cpus: u32,
    /// The CPUs and memory nodes a container's cpuset may name (`0-1`, `0`).
    pub cpuset: Available,
}

impl Host {
    /// This host.
    pub fn detect() -> Host {
        Host { cpus: host_cpus(), cpuset: Available::of_host() }
    }
}

/// Fill in Docker's defaults (moby's `adaptContainerSettings`), after [`check`].
pub fn adapt(config: &mut HostConfig) {
    if config.memory > 0 && config.memory_swap == 0 {
        config.memory_swap = config.memory * 2;
    }
    if config.shm_size == 0 {
        config.shm_size = DEFAULT_SHM_SIZE;
    }
}

/// Refuse limits outside Docker's ranges on `host`.
pub fn check(config: &HostConfig, host: &Host) -> Result<(), String> {
    check_memory(config)?;
    check_cpu(config, host)?;
    cpuset::check_against(&config.cpuset_cpus, &config.cpuset_mems, &host.cpuset).map_err(|e| e.to_string())?;
    if config.shm_size < 0 {
        return Err(format!("ShmSize {}: SHM size can not be less than 0", config.shm_size));
    }
    Ok(())
}

fn check_memory(c: &HostConfig) -> Result<(), String> {
    if c.memory != 0 && c.memory < MIN_MEMORY {
        return Err("minimum memory limit allowed is 6MB".into());
    }
    if c.memory_swap < -1 {
        return Err(format!("MemorySwap {}: expected -1 (unlimited swap), 0 (twice the memory limit) or a size", c.memory_swap));
    }
    if c.memory > 0 && c.memory_swap > 0 && c.memory_swap < c.memory {
        return Err(format!("MemorySwap {}: Minimum memoryswap limit should be larger than memory limit, see usage", c.memory_swap));
    }
    if c.memory == 0 && c.memory_swap > 0 {
        return Err(format!("MemorySwap {}: You should always set the Memory limit when using Memoryswap limit, see usage", c.memory_swap));
    }
    if c.memory_reservation < 0 {
        return Err(format!("MemoryReservation {}: a memory reservation is a size, not negative", c.memory_reservation));
    }
    if c.memory_reservation > 0 && c.memory_reservation < MIN_MEMORY {
        return Err(format!("MemoryReservation {}: Minimum memory reservation allowed is 6MB", c.memory_reservation));
    }
    if c.memory > 0 && c.memory_reservation > 0 && c.memory < c.memory_reservation {
        return Err(format!("MemoryReservation {}: Minimum memory limit can not be less than memory reservation limit, see usage", c.memory_reservation));
    }
    Ok(())
}

fn check_cpu(c: &HostConfig, host: &Host) -> Result<(), String> {
    if c.nano_cpus > 0 && c.cpu_period > 0 {
        return Err("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
    }
    if c.nano_cpus > 0 && c.cpu_quota > 0 {
        return Err("Conflicting options: Nano CPUs and CPU Quota cannot both be set".into());
    }
    let (nano, cpus) = (c.nano_cpus, host.cpus);
    if nano != 0 && !(MIN_NANO_CPUS..=i64::from(cpus) * 1_000_000_000).contains(&nano) {
        return Err(format!("range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"));
    }
    if c.cpu_shares < 0 {
        return Err(format!("invalid CPU shares ({}): value must be a positive integer", c.cpu_shares));
    }
    if c.cpu_period != 0 && !(1000..=1_000_000).contains(&c.cpu_period) {
        return Err(format!("CpuPeriod {}: CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)", c.cpu_period));
    }
    if c.cpu_quota < -1 || (c.cpu_quota > 0 && c.cpu_quota < 1000) {
        return Err(format!("CpuQuota {}: CPU cfs quota can not be less than 1ms (i.e. 1000)", c.cpu_quota));
    }
    Ok(())
}

/// The CPUs this daemon may run on (Go's `runtime.NumCPU`, which Docker counts).
pub fn host_cpus() -> u32 {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => set.count().max(1),
        Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host { cpus: 2, cpuset: Available { cpus: "0-1".into(), mems: "0".into() } }
    }

    fn limits(memory: i64, nano_cpus: i64) -> HostConfig {
        HostConfig { memory, nano_cpus, ..HostConfig::default() }
    }

    fn refusal(config: HostConfig) -> String {
        check(&config, &host()).unwrap_err()
    }

    #[test]
    fn memory_below_6_mib_is_refused_with_dockers_words() {
        assert_eq!(check(&limits(MIN_MEMORY - 1, 0), &host()).unwrap_err(), "minimum memory limit allowed is 6MB");
        assert!(check(&limits(-1, 0), &host()).is_err());
        assert!(check(&limits(MIN_MEMORY, 0), &host()).is_ok());
        assert!(check(&limits(0, 0), &host()).is_ok(), "0 is unlimited");
    }

    #[test]
    fn cpus_beyond_the_hosts_are_refused_with_dockers_words() {
        assert_eq!(check(&limits(0, 2_500_000_000), &host()).unwrap_err(), "range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
        assert!(check(&limits(0, 2_000_000_000), &host()).is_ok());
        assert!(check(&limits(0, 10_000_000), &host()).is_ok());
        assert!(check(&limits(0, 9_999_999), &host()).is_err(), "below a quota of 1 ms per period");
        assert!(check(&limits(0, -1), &host()).is_err());
        assert!(check(&limits(0, 0), &host()).is_ok(), "0 is unlimited");
    }

    #[test]
    fn swap_needs_memory_and_at_least_as_much() {
        let swap = |memory, memory_swap| HostConfig { memory, memory_swap, ..HostConfig::default() };
        assert_eq!(refusal(swap(64 << 20, 32 << 20)), "MemorySwap 33554432: Minimum memoryswap limit should be larger than memory limit, see usage");
        assert_eq!(refusal(swap(0, 64 << 20)), "MemorySwap 67108864: You should always set the Memory limit when using Memoryswap limit, see usage");
        assert!(refusal(swap(64 << 20, -2)).starts_with("MemorySwap -2: "));
        for ok in [swap(64 << 20, -1), swap(64 << 20, 64 << 20), swap(0, -1), swap(64 << 20, 0)] {
            assert!(check(&ok, &host()).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn a_reservation_is_at_least_6_mib_and_within_the_limit() {
        let reserve = |memory, memory_reservation| HostConfig { memory, memory_reservation, ..HostConfig::default() };
        assert_eq!(refusal(reserve(0, 1 << 20)), "MemoryReservation 1048576: Minimum memory reservation allowed is 6MB");
        assert_eq!(
            refusal(reserve(64 << 20, 128 << 20)),
            "MemoryReservation 134217728: Minimum memory limit can not be less than memory reservation limit, see usage"
        );
        assert!(refusal(reserve(0, -1)).starts_with("MemoryReservation -1: "));
        assert!(check(&reserve(64 << 20, 32 << 20), &host()).is_ok());
    }

    #[test]
    fn cfs_period_quota_and_shares_have_dockers_ranges() {
        let cpu = |cpu_period, cpu_quota, cpu_shares| HostConfig { cpu_period, cpu_quota, cpu_shares, ..HostConfig::default() };
        assert_eq!(refusal(cpu(999, 0, 0)), "CpuPeriod 999: CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
        assert!(refusal(cpu(1_000_001, 0, 0)).starts_with("CpuPeriod 1000001: "));
        assert_eq!(refusal(cpu(0, 999, 0)), "CpuQuota 999: CPU cfs quota can not be less than 1ms (i.e. 1000)");
        assert!(refusal(cpu(0, -2, 0)).starts_with("CpuQuota -2: "));
        assert_eq!(refusal(cpu(0, 0, -5)), "invalid CPU shares (-5): value must be a positive integer");
        for ok in [cpu(100_000, 50_000, 512), cpu(0, -1, 2), cpu(1000, 1000, 262_144)] {
            assert!(check(&ok, &host()).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn cpus_conflict_with_period_and_quota_as_in_docker() {
        let both = |cpu_period, cpu_quota| HostConfig { nano_cpus: 500_000_000, cpu_period, cpu_quota, ..HostConfig::default() };
        assert_eq!(refusal(both(100_000, 0)), "Conflicting options: Nano CPUs and CPU Period cannot both be set");
        assert_eq!(refusal(both(0, 50_000)), "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    }

    #[test]
    fn cpusets_must_parse_and_name_what_the_host_has() {
        let set = |cpuset_cpus: &str, cpuset_mems: &str| HostConfig { cpuset_cpus: cpuset_cpus.into(), cpuset_mems: cpuset_mems.into(), ..HostConfig::default() };
        assert_eq!(refusal(set("0-x", "")), "Invalid value 0-x for cpuset cpus: invalid format: 0-x");
        assert_eq!(refusal(set("2", "")), "Requested CPUs are not available - requested 2, available: 0-1");
        assert_eq!(refusal(set("", "1")), "Requested memory nodes are not available - requested 1, available: 0");
        assert_eq!(refusal(set("", "1-0")), "Invalid value 1-0 for cpuset mems: invalid format: 1-0");
        for ok in [set("0", "0"), set("0-1", ""), set("1,0", "0")] {
            assert!(check(&ok, &host()).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn docker_defaults_fill_swap_and_shm() {
        let mut config = limits(64 << 20, 0);
        adapt(&mut config);
        assert_eq!((config.memory_swap, config.shm_size), (128 << 20, 64 << 20));
        let mut unlimited = HostConfig { memory: 64 << 20, memory_swap: -1, shm_size: 1 << 20, ..HostConfig::default() };
        adapt(&mut unlimited);
        assert_eq!((unlimited.memory_swap, unlimited.shm_size), (-1, 1 << 20));
        assert_eq!(refusal(HostConfig { shm_size: -1, ..HostConfig::default() }), "ShmSize -1: SHM size can not be less than 0");
    }

    #[test]
    fn the_host_has_a_cpu_and_a_cpuset() {
        let host = Host::detect();
        assert!(host.cpus >= 1);
        assert!(cpuset::parse_list(&host.cpuset.cpus, 0).unwrap().contains(&0), "{host:?}");
        assert!(cpuset::parse_list(&host.cpuset.mems, 0).unwrap().contains(&0), "{host:?}");
    }
}
