//! cgroup v2: one unified hierarchy; a controller's files exist in a cgroup only when
//! its parent lists the controller in `cgroup.subtree_control`. Device rules are not
//! files here but a BPF program ([`super::bpf`]).

use std::fs;
use std::path::Path;

use super::{CgroupError, LimitWrite, Limits};

/// The file writes that apply `limits` in the unified hierarchy. v1 values are
/// converted as runc converts them (`cpu.shares` to `cpu.weight`, memory+swap to
/// `memory.swap.max`).
pub fn writes(limits: &Limits) -> Vec<LimitWrite> {
    let w = |controller, file, value: String| LimitWrite { controller, file, value };
    let max = |v: i64| if v < 0 { "max".to_string() } else { v.to_string() };
    let mut out = Vec::new();
    if let Some(memory) = limits.memory {
        out.push(w("memory", "memory.max", max(memory)));
    }
    if let Some(swap) = limits.memory_swap {
        let value = match limits.memory {
            _ if swap < 0 => "max".to_string(),
            Some(memory) if memory >= 0 => (swap - memory).max(0).to_string(),
            _ => swap.to_string(),
        };
        out.push(w("memory", "memory.swap.max", value));
    }
    if let Some(reservation) = limits.memory_reservation {
        out.push(w("memory", "memory.low", max(reservation)));
    }
    if let Some(shares) = limits.cpu_shares.filter(|s| *s > 0) {
        out.push(w("cpu", "cpu.weight", shares_to_weight(shares).to_string()));
    }
    if limits.cpu_quota.is_some() || limits.cpu_period.is_some() {
        let quota = limits.cpu_quota.filter(|q| *q > 0).map_or("max".to_string(), |q| q.to_string());
        let period = limits.cpu_period.unwrap_or(100_000);
        out.push(w("cpu", "cpu.max", format!("{quota} {period}")));
    }
    out.extend(super::cpuset::writes(limits));
    if let Some(pids) = limits.pids {
        out.push(w("pids", "pids.max", if pids > 0 { pids.to_string() } else { "max".into() }));
    }
    out
}

/// The limit of `limits` that only v1 has a file for, if any: v2 has no swappiness, and
/// no way to keep the OOM killer away (runc refuses both too).
pub fn not_on_v2(limits: &Limits) -> Option<&'static str> {
    if limits.memory_swappiness.is_some() {
        Some("memory swappiness")
    } else if limits.disable_oom_killer {
        Some("disabling the OOM killer")
    } else {
        None
    }
}

/// v1 `cpu.shares` (2..262144, default 1024) to v2 `cpu.weight` (1..10000, default 100).
fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// Enable `wanted` controllers (those the mount offers) and those `writes` need in
/// `cgroup.subtree_control` of every ancestor of `leaf`, from the mount point down. A
/// controller a write needs but the hierarchy does not offer is an error; others are
/// skipped.
pub(crate) fn enable_controllers(
    mount_point: &Path,
    leaf: &Path,
    wanted: &[&str],
    writes: &[LimitWrite],
) -> Result<(), CgroupError> {
    fn io_err(dir: &Path, op: String) -> impl FnOnce(std::io::Error) -> CgroupError {
        let dir = dir.to_path_buf();
        move |source| CgroupError::Io { dir, op, source }
    }
    let available = fs::read_to_string(mount_point.join("cgroup.controllers"))
        .map_err(io_err(mount_point, "read cgroup.controllers".into()))?;
    let available: Vec<&str> = available.split_whitespace().collect();
    let mut enable: Vec<&str> = wanted.iter().copied().filter(|c| available.contains(c)).collect();
    for write in writes {
        if !enable.contains(&write.controller) {
            enable.push(write.controller);
        }
    }
    if let Some(missing) = writes.iter().find(|w| !available.contains(&w.controller)) {
        let (path, controller, file) = (leaf.display().to_string(), missing.controller, missing.file);
        return Err(CgroupError::MissingController { path, controller, file });
    }
    if enable.is_empty() {
        return Ok(());
    }
    let Ok(below) = leaf.strip_prefix(mount_point) else { return Ok(()) };
    let mut dir = mount_point.to_path_buf();
    let parents: Vec<_> = below.components().collect();
    for (i, part) in parents.iter().enumerate() {
        let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
        for controller in &enable {
            if !enabled.split_whitespace().any(|c| c == *controller) {
                super::write_file(&dir.join("cgroup.subtree_control"), format!("+{controller}").as_bytes())
                    .map_err(io_err(&dir, format!("enable +{controller} in cgroup.subtree_control")))?;
            }
        }
        if i + 1 < parents.len() {
            dir.push(part);
            super::make_dir(&dir)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(limits: &Limits) -> Vec<(String, String)> {
        writes(limits).into_iter().map(|w| (w.file.to_string(), w.value)).collect()
    }

    #[test]
    fn limits_convert_to_v2_files() {
        let limits = Limits {
            memory: Some(16 << 20),
            memory_swap: Some(32 << 20),
            cpu_shares: Some(1024),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            pids: Some(10),
            ..Limits::default()
        };
        let want = [
            ("memory.max", "16777216"),
            ("memory.swap.max", "16777216"),
            ("cpu.weight", "39"),
            ("cpu.max", "50000 100000"),
            ("pids.max", "10"),
        ];
        assert_eq!(files(&limits), want.map(|(f, v)| (f.to_string(), v.to_string())));
    }

    #[test]
    fn unlimited_values_are_max() {
        let limits = Limits { memory: Some(-1), memory_swap: Some(-1), cpu_period: Some(50_000), pids: Some(-1), ..Limits::default() };
        let want = [("memory.max", "max"), ("memory.swap.max", "max"), ("cpu.max", "max 50000"), ("pids.max", "max")];
        assert_eq!(files(&limits), want.map(|(f, v)| (f.to_string(), v.to_string())));
    }

    #[test]
    fn reservation_and_cpuset_convert_and_v1_only_settings_are_named() {
        let limits = Limits { memory_reservation: Some(8 << 20), cpuset_cpus: Some("1".into()), ..Limits::default() };
        assert_eq!(files(&limits), [("memory.low".into(), "8388608".into()), ("cpuset.cpus".into(), "1".into())]);
        assert_eq!(not_on_v2(&limits), None);
        assert_eq!(not_on_v2(&Limits { memory_swappiness: Some(0), ..Limits::default() }), Some("memory swappiness"));
        assert_eq!(not_on_v2(&Limits { disable_oom_killer: true, ..Limits::default() }), Some("disabling the OOM killer"));
    }

    #[test]
    fn shares_bounds_map_to_weight_bounds() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
    }
}
