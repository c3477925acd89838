//! The range checks Docker's daemon makes on a create request's resource limits, with
//! its words: a memory limit below 6 MiB, and more CPUs than the host has (or fewer
//! than the kernel's least CFS quota), are refused at `create` rather than failing, or
//! starving the container, at `start`.

use hostctl_api::types::HostConfig;

/// Docker's `linuxMinMemory`.
pub const MIN_MEMORY: i64 = 6 << 20;

/// The fewest CPUs `--cpus` may ask for: a CFS quota of 1 ms per 100 ms period, the
/// least the kernel takes.
const MIN_NANO_CPUS: i64 = 10_000_000;

/// Refuse limits outside Docker's ranges on a host with `cpus` CPUs.
pub fn check(host_config: &HostConfig, cpus: u32) -> Result<(), String> {
    if host_config.memory != 0 && host_config.memory < MIN_MEMORY {
        return Err("minimum memory limit allowed is 6MB".into());
    }
    let nano = host_config.nano_cpus;
    if nano != 0 && !(MIN_NANO_CPUS..=i64::from(cpus) * 1_000_000_000).contains(&nano) {
        return Err(format!("range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"));
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

    fn limits(memory: i64, nano_cpus: i64) -> HostConfig {
        HostConfig { memory, nano_cpus, ..HostConfig::default() }
    }

    #[test]
    fn memory_below_6_mib_is_refused_with_dockers_words() {
        assert_eq!(check(&limits(MIN_MEMORY - 1, 0), 2).unwrap_err(), "minimum memory limit allowed is 6MB");
        assert!(check(&limits(-1, 0), 2).is_err());
        assert!(check(&limits(MIN_MEMORY, 0), 2).is_ok());
        assert!(check(&limits(0, 0), 2).is_ok(), "0 is unlimited");
    }

    #[test]
    fn cpus_beyond_the_hosts_are_refused_with_dockers_words() {
        assert_eq!(
            check(&limits(0, 2_500_000_000), 2).unwrap_err(),
            "range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        assert!(check(&limits(0, 2_000_000_000), 2).is_ok());
        assert!(check(&limits(0, 10_000_000), 2).is_ok());
        assert!(check(&limits(0, 9_999_999), 2).is_err(), "below a quota of 1 ms per period");
        assert!(check(&limits(0, -1), 2).is_err());
        assert!(check(&limits(0, 0), 2).is_ok(), "0 is unlimited");
    }

    #[test]
    fn the_host_has_a_cpu() {
        assert!(host_cpus() >= 1);
    }
}
