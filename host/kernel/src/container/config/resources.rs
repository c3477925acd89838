//! `linux.resources` of an OCI spec, as cgroup [`Limits`]: every field is applied or
//! refused with its name, never skipped. Applied: memory (limit, reservation, swap,
//! swappiness, disableOOMKiller), cpu (shares, quota, period, cpus, mems), pids, device
//! rules. Refused: the kernel memory limits (deprecated by the kernel), cpu burst, idle
//! and realtime, and blockIO, hugepageLimits, network, rdma and unified. Also the
//! [`VERSION_ANNOTATION`] that places the container in a cgroup version.

use oci_spec::runtime::{LinuxDeviceType, LinuxResources, Spec};

use super::{SpecError, invalid};
use crate::cgroups::{DeviceRule, Limits, VERSION_ANNOTATION, VersionChoice, cpuset};

/// The limits `resources` asks for, after Docker's device rules.
pub(super) fn limits(resources: &LinuxResources) -> Result<Limits, SpecError> {
    let mut limits = Limits::default();
    if let Some(memory) = resources.memory() {
        let refuse = |field: &str, why: &str| Err(invalid(format!("linux.resources.memory.{field}"), why));
        if memory.kernel().is_some() {
            return refuse("kernel", "kernel memory limits are deprecated by the kernel and not supported");
        }
        if memory.kernel_tcp().is_some() {
            return refuse("kernelTCP", "kernel memory limits are deprecated by the kernel and not supported");
        }
        if memory.use_hierarchy() == Some(false) {
            return refuse("useHierarchy", "the kernel always accounts memory hierarchically");
        }
        if memory.check_before_update() == Some(true) {
            return refuse("checkBeforeUpdate", "updating a container's limits is not supported");
        }
        if let Some(swappiness) = memory.swappiness().filter(|s| *s > 100) {
            return refuse("swappiness", &format!("{swappiness} is outside 0..=100"));
        }
        limits.memory = memory.limit();
        limits.memory_reservation = memory.reservation();
        limits.memory_swap = memory.swap();
        limits.memory_swappiness = memory.swappiness();
        limits.disable_oom_killer = memory.disable_oom_killer().unwrap_or(false);
    }
    if let Some(cpu) = resources.cpu() {
        let refuse = |field: &str| Err(invalid(format!("linux.resources.cpu.{field}"), "not supported"));
        if cpu.burst().is_some() {
            return refuse("burst");
        }
        if cpu.idle().is_some() {
            return refuse("idle");
        }
        if cpu.realtime_runtime().is_some() || cpu.realtime_period().is_some() {
            return refuse("realtimeRuntime/realtimePeriod");
        }
        limits.cpu_shares = cpu.shares();
        limits.cpu_quota = cpu.quota();
        limits.cpu_period = cpu.period();
        for (field, value) in [("cpus", cpu.cpus()), ("mems", cpu.mems())] {
            if let Err(reason) = cpuset::parse_list(value.as_deref().unwrap_or(""), 0) {
                return Err(invalid(format!("linux.resources.cpu.{field}"), format!("{:?}: {reason}", value.as_deref().unwrap_or(""))));
            }
        }
        limits.cpuset_cpus = cpu.cpus().clone().filter(|c| !c.is_empty());
        limits.cpuset_mems = cpu.mems().clone().filter(|m| !m.is_empty());
    }
    if let Some(pids) = resources.pids() {
        limits.pids = Some(pids.limit());
    }
    // Docker's rules first, so a spec without any still gets Docker's isolation; the
    // spec's rules (`--device-cgroup-rule`, `--privileged`'s `a *:* rwm`) come after.
    limits.devices = DeviceRule::docker_defaults();
    for (i, rule) in resources.devices().as_deref().unwrap_or_default().iter().enumerate() {
        let field = || format!("linux.resources.devices[{i}]");
        let kind = match rule.typ() {
            None | Some(LinuxDeviceType::A) => 'a',
            Some(LinuxDeviceType::C | LinuxDeviceType::U) => 'c',
            Some(LinuxDeviceType::B) => 'b',
            Some(LinuxDeviceType::P) => return Err(invalid(field(), "type p (a FIFO) is not a device the devices cgroup controls")),
        };
        let access = rule.access().clone().unwrap_or_else(|| "rwm".into());
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            return Err(invalid(field(), format!("access {access:?} is not some of rwm")));
        }
        limits.devices.push(DeviceRule { allow: rule.allow(), kind, major: rule.major(), minor: rule.minor(), access });
    }
    let present = [
        ("blockIO", resources.block_io().as_ref().is_some_and(|b| *b != Default::default())),
        ("hugepageLimits", resources.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty())),
        ("network", resources.network().as_ref().is_some_and(|n| *n != Default::default())),
        ("rdma", resources.rdma().as_ref().is_some_and(|r| !r.is_empty())),
        ("unified", resources.unified().as_ref().is_some_and(|u| !u.is_empty())),
    ];
    if let Some((field, _)) = present.iter().find(|(_, set)| *set) {
        return Err(invalid(format!("linux.resources.{field}"), "not supported"));
    }
    Ok(limits)
}

/// The cgroup version the spec's [`VERSION_ANNOTATION`] asks for (absent: auto).
pub(super) fn cgroup_version(spec: &Spec) -> Result<VersionChoice, SpecError> {
    match spec.annotations().as_ref().and_then(|a| a.get(VERSION_ANNOTATION)) {
        None => Ok(VersionChoice::Auto),
        Some(value) => value.parse().map_err(|reason: String| invalid(format!("annotations {VERSION_ANNOTATION}"), reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder, SpecBuilder,
    };

    fn refused(resources: LinuxResourcesBuilder) -> String {
        limits(&resources.build().unwrap()).unwrap_err().to_string()
    }

    #[test]
    fn memory_cpu_and_cpuset_fields_become_limits() {
        let memory = LinuxMemoryBuilder::default().limit(64i64 << 20).reservation(32i64 << 20).swap(-1i64).swappiness(0u64).disable_oom_killer(true);
        let cpu = LinuxCpuBuilder::default().shares(512u64).quota(-1i64).period(100_000u64).cpus("0-1").mems("");
        let resources = LinuxResourcesBuilder::default().memory(memory.build().unwrap()).cpu(cpu.build().unwrap()).build().unwrap();
        let got = limits(&resources).unwrap();
        let want = Limits {
            memory: Some(64 << 20),
            memory_reservation: Some(32 << 20),
            memory_swap: Some(-1),
            memory_swappiness: Some(0),
            disable_oom_killer: true,
            cpu_shares: Some(512),
            cpu_quota: Some(-1),
            cpu_period: Some(100_000),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: None,
            devices: DeviceRule::docker_defaults(),
            ..Limits::default()
        };
        assert_eq!(got, want);
    }

    #[test]
    fn what_is_not_applied_is_refused_by_its_field() {
        let memory = |m: LinuxMemoryBuilder| LinuxResourcesBuilder::default().memory(m.build().unwrap());
        let cpu = |c: LinuxCpuBuilder| LinuxResourcesBuilder::default().cpu(c.build().unwrap());
        let cases = [
            (memory(LinuxMemoryBuilder::default().kernel(1i64 << 20)), "config.json: linux.resources.memory.kernel: kernel memory limits are deprecated by the kernel and not supported"),
            (memory(LinuxMemoryBuilder::default().kernel_tcp(1i64 << 20)), "config.json: linux.resources.memory.kernelTCP: kernel memory limits"),
            (memory(LinuxMemoryBuilder::default().swappiness(101u64)), "config.json: linux.resources.memory.swappiness: 101 is outside 0..=100"),
            (memory(LinuxMemoryBuilder::default().use_hierarchy(false)), "linux.resources.memory.useHierarchy"),
            (cpu(LinuxCpuBuilder::default().realtime_runtime(1000i64)), "config.json: linux.resources.cpu.realtimeRuntime/realtimePeriod: not supported"),
            (cpu(LinuxCpuBuilder::default().burst(1000u64)), "linux.resources.cpu.burst: not supported"),
            (cpu(LinuxCpuBuilder::default().idle(1i64)), "linux.resources.cpu.idle: not supported"),
            (cpu(LinuxCpuBuilder::default().cpus("0-a")), "config.json: linux.resources.cpu.cpus: \"0-a\": invalid format: 0-a"),
            (cpu(LinuxCpuBuilder::default().mems("1,")), "linux.resources.cpu.mems: \"1,\": invalid format: 1,"),
            (
                LinuxResourcesBuilder::default().block_io(LinuxBlockIoBuilder::default().weight(100u16).build().unwrap()),
                "config.json: linux.resources.blockIO: not supported",
            ),
            (LinuxResourcesBuilder::default().unified(HashMap::from([("memory.high".to_string(), "1".to_string())])), "linux.resources.unified: not supported"),
            (
                LinuxResourcesBuilder::default().devices(vec![LinuxDeviceCgroupBuilder::default().typ(LinuxDeviceType::P).allow(true).build().unwrap()]),
                "linux.resources.devices[0]: type p (a FIFO)",
            ),
        ];
        for (resources, want) in cases {
            let err = refused(resources);
            assert!(err.starts_with(want) || err.contains(want), "{err}");
        }
        // An empty block is no request.
        let empty = LinuxResourcesBuilder::default().block_io(LinuxBlockIoBuilder::default().build().unwrap()).unified(HashMap::new());
        assert!(limits(&empty.build().unwrap()).is_ok());
    }

    #[test]
    fn the_version_annotation_is_auto_v1_or_v2() {
        let spec = |value: Option<&str>| {
            let annotations: HashMap<String, String> = value.map(|v| HashMap::from([(VERSION_ANNOTATION.to_string(), v.to_string())])).unwrap_or_default();
            SpecBuilder::default().annotations(annotations).build().unwrap()
        };
        assert_eq!(cgroup_version(&spec(None)).unwrap(), VersionChoice::Auto);
        assert_eq!(cgroup_version(&spec(Some("v2"))).unwrap(), VersionChoice::V2);
        assert_eq!(
            cgroup_version(&spec(Some("2"))).unwrap_err().to_string(),
            "config.json: annotations io.hostctl.cgroup-version: cgroup version \"2\": expected auto, v1 or v2"
        );
    }
}
