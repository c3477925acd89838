//! What a container is attached to while it runs, besides its rootfs: volumes and host
//! directories bound into it (`-v`), and its network (a network namespace of its own,
//! connected by the network's driver, with its published ports).
//!
//! What `-v` asks for is resolved once, at create ([`ContainerService::mount_points`]: a
//! named volume is made then if missing, as `docker create -v` does, so its data
//! directory is known) and kept in the record's `mount_points` in every state, for
//! inspect; what is bound while the container runs is kept apart, in `mounts`.
//! [`ContainerService::attach`] sets them up at start, recording each in the container's
//! record before relying on it; [`ContainerService::release`] undoes them when the
//! container exits, fails to start, or is found at daemon start with leftovers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::records::ContainerRecord;
use super::{ContainerError, ContainerService};
use crate::networks::PublishedPort;
use crate::volumes::VolumeError;

/// A volume or host directory bound into a container (Docker's `MountPoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    /// "volume" or "bind".
    pub kind: String,
    /// The volume's name (volumes only).
    pub name: Option<String>,
    /// The host directory: the bound one, or the volume's data directory.
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
    /// The volume's driver (volumes only).
    #[serde(default)]
    pub driver: String,
    /// The `-v`'s mode as written: "", "ro" or "rw".
    #[serde(default)]
    pub mode: String,
}

impl MountPoint {
    /// As inspect shows it.
    pub fn to_api(&self) -> hostctl_api::types::MountPoint {
        hostctl_api::types::MountPoint {
            kind: self.kind.clone(),
            name: self.name.clone().unwrap_or_default(),
            source: self.source.display().to_string(),
            destination: self.destination.clone(),
            driver: self.driver.clone(),
            mode: self.mode.clone(),
            rw: !self.read_only,
            // How `spec` binds them; Docker shows none for a volume.
            propagation: if self.kind == "bind" { "rprivate".into() } else { String::new() },
        }
    }
}

/// One `-v` as written: `name:/path[:ro]` or `/host/dir:/path[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    /// "", "ro" or "rw", as written.
    pub mode: String,
}

impl Bind {
    /// Parse Docker's `-v SRC:DST[:ro|rw]`.
    pub fn parse(text: &str) -> Result<Bind, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let (source, destination, mode) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, m] => (*s, *d, *m),
            _ => return Err(format!("invalid volume {text:?}: expected NAME:/path[:ro] or /host/dir:/path[:ro]")),
        };
        let read_only = match mode {
            "" | "rw" => false,
            "ro" => true,
            other => return Err(format!("invalid volume {text:?}: mode {other:?} is not ro or rw")),
        };
        if !destination.starts_with('/') || destination.split('/').any(|c| c == "..") {
            return Err(format!("invalid volume {text:?}: the container path must be absolute"));
        }
        if source.is_empty() || (!source.starts_with('/') && source.contains('/')) {
            return Err(format!("invalid volume {text:?}: the source is a volume name or an absolute host path"));
        }
        Ok(Bind { source: source.to_owned(), destination: destination.to_owned(), read_only, mode: mode.to_owned() })
    }

    /// A host directory (not a named volume).
    pub fn is_host_dir(&self) -> bool {
        self.source.starts_with('/')
    }
}

/// A network mode that is a network (not `none`/`host`).
pub(super) fn network_of(record: &ContainerRecord) -> Option<&str> {
    match record.host_config.network_mode.as_str() {
        "" | "none" | "host" => None,
        name => Some(name),
    }
}

impl ContainerService {
    /// Where the network namespace of container `id` is kept.
    pub(super) fn netns_path(&self, id: &str) -> PathBuf {
        self.inner.config.netns_root.join(id)
    }

    /// What `binds` (`-v`s) ask for, as inspect shows it from create on. A named volume
    /// that does not exist is created with the default driver, as `docker create -v`
    /// does, so its data directory and driver are known before the first start.
    pub(super) async fn mount_points(&self, binds: &[String]) -> Result<Vec<MountPoint>, ContainerError> {
        let mut points = Vec::with_capacity(binds.len());
        for text in binds {
            let bind = Bind::parse(text).map_err(ContainerError::Invalid)?;
            let (kind, name, source, driver) = if bind.is_host_dir() {
                ("bind", None, PathBuf::from(&bind.source), String::new())
            } else {
                let volumes = &self.inner.volumes;
                let volume = match volumes.inspect(&bind.source).await {
                    Err(VolumeError::NotFound(_)) => volumes.create(Some(bind.source.clone()), None, BTreeMap::new(), BTreeMap::new()).await,
                    found => found,
                }
                .map_err(|e| ContainerError::Invalid(e.to_string()))?;
                ("volume", Some(bind.source), PathBuf::from(volume.mountpoint), volume.driver)
            };
            points.push(MountPoint {
                kind: kind.into(),
                name,
                source,
                destination: bind.destination,
                read_only: bind.read_only,
                driver,
                mode: bind.mode,
            });
        }
        Ok(points)
    }

    /// Bind volumes and host directories, then create the network namespace and connect
    /// it. Everything done is recorded in `record` (and saved) as it is done; on failure
    /// the caller releases.
    pub(super) async fn attach(&self, record: &mut ContainerRecord) -> Result<(), ContainerError> {
        for text in record.host_config.binds.clone() {
            let bind = Bind::parse(&text).map_err(ContainerError::Invalid)?;
            let point = if bind.is_host_dir() {
                // Docker creates a missing host directory for -v.
                std::fs::create_dir_all(&bind.source)
                    .map_err(|source| ContainerError::Io { id: record.id.clone(), what: "creating a -v host directory", source })?;
                MountPoint {
                    kind: "bind".into(),
                    name: None,
                    source: PathBuf::from(&bind.source),
                    destination: bind.destination,
                    read_only: bind.read_only,
                    driver: String::new(),
                    mode: bind.mode,
                }
            } else {
                let source = self.inner.volumes.mount(&bind.source, &record.id, true).await.map_err(|e| ContainerError::Invalid(e.to_string()))?;
                MountPoint {
                    kind: "volume".into(),
                    name: Some(bind.source.clone()),
                    source,
                    destination: bind.destination,
                    read_only: bind.read_only,
                    driver: String::new(),
                    mode: bind.mode,
                }
            };
            // What inspect shows follows what is bound (a volume removed and made again
            // since create has a new data directory); a record from before mount points
            // were kept gets them here.
            match record.mount_points.iter_mut().find(|p| p.destination == point.destination) {
                Some(known) => known.source = point.source.clone(),
                None => record.mount_points.push(point.clone()),
            }
            record.mounts.push(point);
            self.save(record)?;
        }
        let Some(network) = network_of(record).map(str::to_owned) else { return Ok(()) };
        let netns = self.netns_path(&record.id);
        if record.netns.as_ref() != Some(&netns) {
            record.netns = Some(netns.clone());
            self.save(record)?;
        }
        let path = netns.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            hostctl_kernel::netns::create(&path).map_err(std::io::Error::other)
        })
        .await
        .expect("no panic")
        .map_err(|source| ContainerError::Io { id: record.id.clone(), what: "creating its network namespace", source })?;
        let ports = published_ports(record)?;
        let endpoint = self
            .inner
            .networks
            .attach(&network, &record.id, &record.name, &netns, &ports)
            .await
            .map_err(|e| ContainerError::Network(e.to_string()))?;
        record.endpoints.push(endpoint);
        self.save(record)?;
        Ok(())
    }

    /// Undo [`ContainerService::attach`]: disconnect, remove the network namespace, unbind
    /// volumes. Best effort; failures are logged. The caller saves the record (with the
    /// rootfs unmounted too: one commit for the whole teardown).
    pub(super) async fn release(&self, record: &mut ContainerRecord) {
        let netns = record.netns.clone().unwrap_or_else(|| self.netns_path(&record.id));
        for endpoint in std::mem::take(&mut record.endpoints) {
            if let Err(err) = self.inner.networks.detach(&endpoint, &record.id, &netns).await {
                tracing::warn!(container = %record.id, network = %endpoint.network, "disconnecting: {err}");
            }
        }
        if let Some(path) = record.netns.take() {
            let removed = tokio::task::spawn_blocking(move || hostctl_kernel::netns::remove(&path)).await.expect("no panic");
            if let Err(err) = removed {
                tracing::warn!(container = %record.id, "removing its network namespace: {err}");
            }
        }
        for point in std::mem::take(&mut record.mounts) {
            if let Some(name) = &point.name
                && let Err(err) = self.inner.volumes.unmount(name, &record.id).await
            {
                tracing::warn!(container = %record.id, volume = %name, "unmounting: {err}");
            }
        }
    }
}

/// The container's `-p`s as ports to publish.
fn published_ports(record: &ContainerRecord) -> Result<Vec<PublishedPort>, ContainerError> {
    let mut ports = Vec::new();
    for (container, bindings) in &record.host_config.port_bindings {
        let (port, protocol) = container.split_once('/').unwrap_or((container, "tcp"));
        let container_port: u16 = port.parse().map_err(|_| ContainerError::Invalid(format!("invalid container port {container:?}")))?;
        for b in bindings {
            let host_port: u16 = match b.host_port.as_str() {
                "" | "0" => free_port(protocol, &b.host_ip)?,
                text => text.parse().map_err(|_| ContainerError::Invalid(format!("invalid host port {text:?}")))?,
            };
            ports.push(PublishedPort {
                protocol: protocol.to_owned(),
                host_ip: (!b.host_ip.is_empty()).then(|| b.host_ip.clone()),
                host_port,
                container_port,
            });
        }
    }
    Ok(ports)
}

/// A host port that is free now, for `-p CONTAINER-PORT` (the kernel's pick from its
/// ephemeral range, as Docker's allocator picks from the same range).
fn free_port(protocol: &str, host_ip: &str) -> Result<u16, ContainerError> {
    let ip = if host_ip.is_empty() { "0.0.0.0" } else { host_ip };
    let bound = match protocol {
        "udp" => std::net::UdpSocket::bind((ip, 0)).and_then(|s| s.local_addr()),
        _ => std::net::TcpListener::bind((ip, 0)).and_then(|s| s.local_addr()),
    };
    bound.map(|a| a.port()).map_err(|e| ContainerError::Invalid(format!("no free host port on {ip}/{protocol}: {e}")))
}

/// Fill in the MAC address of the container's endpoint when its driver chose none (the
/// kernel did), from the container's own view of its links: the sysfs it mounted in its
/// network namespace, read through its root (`/proc/<pid>/root/sys/class/net`) right
/// after its start. Only an Ethernet link with an address counts; with more than one
/// such link, which is the endpoint's is not known, and the MAC stays unknown.
pub(super) fn learn_mac(record: &mut ContainerRecord, pid: i32) {
    let [endpoint] = record.endpoints.as_mut_slice() else { return };
    if endpoint.mac.is_some() {
        return;
    }
    let macs = ethernet_macs(&Path::new("/proc").join(pid.to_string()).join("root/sys/class/net"));
    if let [mac] = macs.as_slice() {
        endpoint.mac = Some(mac.clone());
    }
}

/// The addresses of the Ethernet links (`type` 1, ARPHRD_ETHER) under a sysfs
/// `class/net` directory, but the all-zero ones of tunnel devices.
fn ethernet_macs(class_net: &Path) -> Vec<String> {
    let read = |link: &Path, file: &str| std::fs::read_to_string(link.join(file)).map(|s| s.trim().to_owned()).unwrap_or_default();
    let mut macs = Vec::new();
    for entry in std::fs::read_dir(class_net).into_iter().flatten().flatten() {
        let link = entry.path();
        let mac = read(&link, "address");
        if read(&link, "type") == "1" && mac.len() == 17 && mac != "00:00:00:00:00:00" {
            macs.push(mac);
        }
    }
    macs
}

/// The container's address on its (first) network, without the prefix length.
pub(super) fn address(record: &ContainerRecord) -> Option<&str> {
    record.endpoints.first()?.address.split('/').next()
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_as_dockers_dash_v() {
        assert_eq!(
            Bind::parse("data:/data").unwrap(),
            Bind { source: "data".into(), destination: "/data".into(), read_only: false, mode: String::new() }
        );
        let b = Bind::parse("/srv/x:/x:ro").unwrap();
        assert!(b.is_host_dir() && b.read_only && b.mode == "ro");
        assert_eq!(Bind::parse("data:/data:rw").unwrap().mode, "rw");
        assert!(Bind::parse("data:relative").is_err());
        assert!(Bind::parse("data:/x:rx").is_err());
        assert!(Bind::parse("a/b:/x").is_err());
        assert!(Bind::parse("/x").is_err());
    }

    #[test]
    fn mount_points_show_as_dockers() {
        let bind = MountPoint {
            kind: "bind".into(),
            name: None,
            source: "/srv/x".into(),
            destination: "/x".into(),
            read_only: true,
            driver: String::new(),
            mode: "ro".into(),
        };
        assert_eq!(
            serde_json::to_value(bind.to_api()).unwrap(),
            serde_json::json!({"Type": "bind", "Source": "/srv/x", "Destination": "/x", "Mode": "ro", "RW": false, "Propagation": "rprivate"})
        );
        let volume = MountPoint { kind: "volume".into(), name: Some("www".into()), driver: "volume-local".into(), read_only: false, mode: String::new(), ..bind };
        assert_eq!(
            serde_json::to_value(volume.to_api()).unwrap(),
            serde_json::json!({"Type": "volume", "Name": "www", "Source": "/srv/x", "Destination": "/x", "Driver": "volume-local", "Mode": "", "RW": true, "Propagation": ""})
        );
    }

    #[test]
    fn the_mac_is_an_ethernet_links_and_not_a_tunnels() {
        let dir = tempfile::tempdir().unwrap();
        let link = |name: &str, kind: &str, address: &str| {
            let at = dir.path().join(name);
            std::fs::create_dir(&at).unwrap();
            std::fs::write(at.join("type"), format!("{kind}\n")).unwrap();
            std::fs::write(at.join("address"), format!("{address}\n")).unwrap();
        };
        link("lo", "772", "00:00:00:00:00:00");
        link("tunl0", "768", "00:00:00:00");
        link("gretap0", "1", "00:00:00:00:00:00");
        link("eth0", "1", "8a:3b:51:0c:22:7f");
        assert_eq!(ethernet_macs(dir.path()), ["8a:3b:51:0c:22:7f"]);
        assert!(ethernet_macs(&dir.path().join("missing")).is_empty());
    }
}
