//! The security half of a container's spec, from what create
//! [granted](crate::containers::security::Granted) it and its `HostConfig`: the
//! capability sets; the rlimits; the init (`/sbin/docker-init -- CMD…`, the host's tini
//! bound read-only); device nodes and their device cgroup rules; and what `--privileged`
//! changes, as Docker's: every host device with `a *:* rwm`, `/proc`, `/sys` and the
//! cgroup mount writable, no masked or read-only paths (and no default seccomp profile:
//! the spec passes the flag on).

use std::path::Path;

use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxCapabilitiesBuilder, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup,
    LinuxDeviceCgroupBuilder, LinuxDeviceType, Mount, MountBuilder, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
};

use crate::containers::devices::{self, DeviceNode};
use crate::containers::records::ContainerRecord;
use crate::containers::resources::DEFAULT_SHM_SIZE;
use crate::containers::security::{INIT_IN_CONTAINER, Rlimit};

/// The bounding, effective and permitted sets (`CAP_…` names); no inheritable or ambient
/// ones, as Docker has had it since CVE-2022-24769 (an inheritable set lets a file with
/// inheritable capabilities gain them across exec).
pub(super) fn capabilities(names: &[String]) -> Result<LinuxCapabilities, String> {
    let set: Capabilities = names
        .iter()
        .map(|name| serde_json::from_value::<Capability>(serde_json::Value::String(name.clone())).map_err(|e| format!("capability {name}: {e}")))
        .collect::<Result<_, _>>()?;
    LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()
        .map_err(|e| e.to_string())
}

/// `process.rlimits`.
pub(super) fn rlimits(rlimits: &[Rlimit]) -> Result<Vec<PosixRlimit>, String> {
    rlimits
        .iter()
        .map(|r| {
            let typ: PosixRlimitType = serde_json::from_value(serde_json::Value::String(r.kind.clone())).map_err(|e| format!("{}: {e}", r.kind))?;
            PosixRlimitBuilder::default().typ(typ).soft(r.soft).hard(r.hard).build().map_err(|e| e.to_string())
        })
        .collect()
}

/// The command line: the command, or Docker's init running it (`--init`).
pub(super) fn args(record: &ContainerRecord) -> Vec<String> {
    match record.granted.init {
        Some(_) => [INIT_IN_CONTAINER.to_owned(), "--".to_owned()].into_iter().chain(record.command.iter().cloned()).collect(),
        None => record.command.clone(),
    }
}

/// The init's read-only bind, if the container has one.
pub(super) fn init_mount(record: &ContainerRecord) -> Result<Option<Mount>, String> {
    let Some(init) = &record.granted.init else { return Ok(None) };
    let mount = MountBuilder::default()
        .destination(INIT_IN_CONTAINER)
        .typ("bind")
        .source(init)
        .options(vec!["bind".into(), "ro".into()])
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Some(mount))
}

/// What `--privileged` and `--shm-size` change in Docker's default mounts.
pub(super) fn adjust_mounts(mounts: &mut [Mount], record: &ContainerRecord) {
    let privileged = record.host_config.privileged;
    for m in mounts.iter_mut() {
        let destination = m.destination().clone();
        let mut options = m.options().clone().unwrap_or_default();
        if destination == Path::new("/dev/shm") {
            // (0 only in a record made before create filled in Docker's default.)
            let size = if record.host_config.shm_size > 0 { record.host_config.shm_size } else { DEFAULT_SHM_SIZE };
            options.retain(|o| !o.starts_with("size="));
            options.push(format!("size={size}"));
        }
        if privileged && (["/proc", "/sys"].map(Path::new).contains(&destination.as_path()) || m.typ().as_deref() == Some("cgroup")) {
            options.retain(|o| o != "ro");
        }
        m.set_options(Some(options));
    }
}

/// `linux.devices` and the device cgroup rules that go with them: the `--device` nodes
/// with their permissions; when privileged, every host device and `a *:* rwm`.
pub(super) fn devices(record: &ContainerRecord) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), String> {
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    if record.host_config.privileged {
        // Every host device, then the mappings' nodes (replacing a host one at the same
        // path); all of them usable.
        let mapped: Vec<DeviceNode> = record.granted.devices.iter().map(|d| d.node.clone()).collect();
        nodes = devices::host_devices();
        nodes.retain(|n| !mapped.iter().any(|m| m.path == n.path));
        nodes.extend(mapped);
        rules.push(LinuxDeviceCgroupBuilder::default().allow(true).access("rwm").build().map_err(|e| e.to_string())?);
    } else {
        for granted in &record.granted.devices {
            nodes.push(granted.node.clone());
            rules.push(rule(&granted.node, &granted.permissions)?);
        }
    }
    let nodes = nodes.iter().map(linux_device).collect::<Result<_, _>>()?;
    Ok((nodes, rules))
}

fn kind(node: &DeviceNode) -> LinuxDeviceType {
    if node.kind == 'b' { LinuxDeviceType::B } else { LinuxDeviceType::C }
}

fn linux_device(node: &DeviceNode) -> Result<LinuxDevice, String> {
    LinuxDeviceBuilder::default()
        .path(&node.path)
        .typ(kind(node))
        .major(node.major)
        .minor(node.minor)
        .file_mode(node.file_mode)
        .uid(node.uid)
        .gid(node.gid)
        .build()
        .map_err(|e| e.to_string())
}

fn rule(node: &DeviceNode, permissions: &str) -> Result<LinuxDeviceCgroup, String> {
    LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(kind(node))
        .major(node.major)
        .minor(node.minor)
        .access(permissions)
        .build()
        .map_err(|e| e.to_string())
}
