//! `inspect`: Docker's inspect document of a container, the parts hostctl has, built
//! from its record alone, so it reads the same whatever state the container is in and
//! across daemon restarts: `Mounts` from the mount points resolved at create (not from
//! what is bound now), `HostConfig.Binds` as the `-v`s were written, `GraphDriver.Data`
//! as the storage driver describes the writable layer (asked at inspect: it is the
//! driver's to know, and a create need not pay for it).

use std::collections::BTreeMap;

use hostctl_api::types::RestartPolicy;
use hostctl_plugin_runtime::StoragePlugin;

use super::attach::MountPoint;
use super::records::{ContainerRecord, Status};
use super::{ContainerError, ContainerService};

impl ContainerService {
    /// `GET /containers/{id}/json`: Docker's inspect document, the parts hostctl has.
    /// It calls the storage driver: run it off the async threads.
    pub fn inspect(&self, name: &str) -> Result<serde_json::Value, ContainerError> {
        let r = self.resolve(name)?;
        let bundle = self.bundle(&r.id);
        let s = &r.state;
        let zero = "0001-01-01T00:00:00Z".to_owned();
        let mut doc = serde_json::json!({
            "Id": r.id,
            "Created": r.created,
            "Path": r.command.first(),
            "Args": r.command.get(1..).unwrap_or_default(),
            "State": {
                "Status": s.status.as_str(),
                "Running": s.status == Status::Running,
                "Paused": false,
                "Restarting": s.restarting,
                "OOMKilled": s.oom_killed,
                "Dead": s.status == Status::Dead,
                "Pid": s.pid,
                "ExitCode": s.exit_code,
                "Error": s.error,
                "StartedAt": s.started_at.clone().unwrap_or_else(|| zero.clone()),
                "FinishedAt": s.finished_at.clone().unwrap_or(zero),
            },
            "RestartCount": r.restart_count,
            "Image": r.image_id.to_string(),
            "Name": format!("/{}", r.name),
            "LogPath": bundle.log(),
            "HostnamePath": bundle.hostname_file(),
            "HostsPath": bundle.hosts_file(),
            "Driver": self.inner.storage.name(),
            "GraphDriver": {
                "Name": self.inner.storage.name(),
                "Data": self.graph_data(&r),
            },
            "Mounts": r.mount_points.iter().map(MountPoint::to_api).collect::<Vec<_>>(),
            "NetworkSettings": {
                "SandboxKey": r.netns,
                "IPAddress": r.endpoints.first().and_then(|e| e.address.split('/').next()).unwrap_or(""),
                "Networks": r.endpoints.iter().map(|e| (e.network.clone(), serde_json::json!({
                    "NetworkID": e.network_id,
                    "EndpointID": e.endpoint_id,
                    "IPAddress": e.address.split('/').next(),
                    "IPPrefixLen": e.address.split('/').nth(1).and_then(|p| p.parse::<u8>().ok()),
                    "Gateway": e.gateway,
                    "MacAddress": e.mac.clone().unwrap_or_default(),
                }))).collect::<serde_json::Map<_, _>>(),
                "Ports": r.host_config.port_bindings,
            },
            "Config": {
                "Hostname": r.hostname,
                "User": r.user,
                "Env": r.env,
                "Cmd": r.command,
                "Image": r.image,
                "WorkingDir": r.working_dir,
                "Labels": r.labels,
                "StopSignal": r.stop_signal,
            },
            "HostConfig": {
                "Memory": r.host_config.memory,
                "MemorySwap": r.host_config.memory_swap,
                "MemoryReservation": r.host_config.memory_reservation,
                "NanoCpus": r.host_config.nano_cpus,
                "CpuShares": r.host_config.cpu_shares,
                "CpuQuota": r.host_config.cpu_quota,
                "CpuPeriod": r.host_config.cpu_period,
                "CpusetCpus": r.host_config.cpuset_cpus,
                "CpusetMems": r.host_config.cpuset_mems,
                "PidsLimit": r.host_config.pids_limit,
                "AutoRemove": r.host_config.auto_remove,
                "NetworkMode": if r.host_config.network_mode.is_empty() { "none" } else { r.host_config.network_mode.as_str() },
                "CgroupParent": self.inner.config.cgroup_parent,
                "RestartPolicy": r.host_config.restart_policy.clone().unwrap_or(RestartPolicy { name: "no".into(), maximum_retry_count: 0 }),
                // The -v strings as written; null without any, as Docker's.
                "Binds": (!r.host_config.binds.is_empty()).then_some(&r.host_config.binds),
                // The --security-opt strings as sent (a profile as its JSON); null without any.
                "SecurityOpt": (!r.host_config.security_opt.is_empty()).then_some(&r.host_config.security_opt),
                // As the request had them (Docker's: CapAdd/CapDrop null when not asked
                // for, Devices and Ulimits lists, Init absent unless set).
                "CapAdd": r.host_config.cap_add,
                "CapDrop": r.host_config.cap_drop,
                "Privileged": r.host_config.privileged,
                "ReadonlyRootfs": r.host_config.readonly_rootfs,
                "Devices": r.host_config.devices,
                "Ulimits": r.host_config.ulimits,
                "ShmSize": r.host_config.shm_size,
            },
            "CgroupPath": r.cgroup_path,
            "ShimPid": s.shim_pid,
        });
        if let Some(init) = r.host_config.init {
            doc["HostConfig"]["Init"] = init.into();
        }
        Ok(doc)
    }

    /// `GraphDriver.Data`: the driver's description of the container's writable layer;
    /// null if it cannot give one.
    fn graph_data(&self, r: &ContainerRecord) -> Option<serde_json::Value> {
        let data = graph_driver_data(&self.inner.storage, &r.id);
        (!data.is_empty()).then(|| serde_json::json!(data))

    }
}


/// Layer `id` as the storage driver describes it (Docker's `GraphDriver.Data`), its
/// directories (the `…Dir` keys, `LowerDir` a `:`-list) made absolute beneath the
/// driver's root. Empty, and logged, if the driver cannot say.
fn graph_driver_data(storage: &StoragePlugin, id: &str) -> BTreeMap<String, String> {
    let pairs = match storage.metadata(id) {
        Ok(pairs) => pairs,
        Err(err) => {
            tracing::warn!(container = %id, "describing its writable layer: {err}");
            return BTreeMap::new();
        }
    };
    absolute_dirs(&storage.root(), pairs)
}

fn absolute_dirs(root: &std::path::Path, pairs: Vec<(String, String)>) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(key, value)| {
            let value = if key.ends_with("Dir") {
                value.split(':').map(|dir| root.join(dir).display().to_string()).collect::<Vec<_>>().join(":")
            } else {
                value
            };
            (key, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_dirs_are_made_absolute_beneath_the_drivers_root() {
        let pairs = vec![
            ("LowerDir".to_owned(), "a/diff:b/diff".to_owned()),
            ("MergedDir".to_owned(), "c/merged".to_owned()),
            ("Other".to_owned(), "kept".to_owned()),
        ];
        let data = absolute_dirs(std::path::Path::new("/var/lib/hostctl/storage/overlay2-store"), pairs);
        assert_eq!(data["LowerDir"], "/var/lib/hostctl/storage/overlay2-store/a/diff:/var/lib/hostctl/storage/overlay2-store/b/diff");
        assert_eq!(data["MergedDir"], "/var/lib/hostctl/storage/overlay2-store/c/merged");
        assert_eq!(data["Other"], "kept");
    }
}
