//! The volume service: `volume create`, `ls`, `inspect`, `rm`, and the mounts containers
//! use (`-v NAME:/path`), each volume provided by a volume plugin (`volume-local` unless
//! `[volumes] driver` or the request names another; Docker's `local` means it too).
//!
//! The state store holds one record per volume ([`records`]): its driver, options,
//! labels, creation time, data directory, and the containers that use it. Every change
//! records its intent before the driver or the kernel is asked, and every change and
//! driver call is serialized by one lock (drivers keep their own state in their kv
//! store, read-modify-write). Drivers are called on blocking threads: a call is
//! microseconds of wasm plus, for a mount, a few syscalls.
//!
//! What the container service calls: [`VolumeService::mount`] for a container id (the
//! caller the driver counts; creating a missing volume with the default driver if asked,
//! as `docker run -v name:/path` does), which answers the absolute data directory to bind
//! into the container, and [`VolumeService::unmount`] when the container stops. Both are
//! idempotent per (volume, container). A volume a container mounts is in use: `rm` (with
//! or without `force`, as Docker's) refuses it. Users survive daemon restarts, as the
//! mounts of running containers do.
//!
//! Events: `volume create` and `destroy` (attribute `driver`), `mount` and `unmount`
//! (`driver`, `container`).
//!
//! Recovery ([`VolumeService::open`]): a volume left `Creating` is removed again; a use
//! left `Mounting` or `Unmounting` is unmounted (the container never got the volume, or
//! was done with it); a volume no container uses keeps nothing mounted on its data
//! directory.

mod error;
mod filters;
pub mod records;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hostctl_api::volumes::Volume;
use hostctl_image::timestamp::format_rfc3339;
use hostctl_plugin_runtime::manifest::Kind;
use hostctl_plugin_runtime::{Registry, VolumePlugin};
use rand::RngCore;

pub use error::VolumeError;
pub use filters::VolumeFilter;
use records::{UseState, VolumeRecord, VolumeState};

use crate::events::{EventBus, Filters};
use crate::state::{StateStore, Table};

/// The bundled driver Docker's name `local` stands for.
pub const LOCAL_DRIVER: &str = "volume-local";

/// The volume service; cheap to clone (all clones share one state).
#[derive(Clone)]
pub struct VolumeService {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<StateStore>,
    drivers: BTreeMap<String, Arc<VolumePlugin>>,
    default_driver: String,
    events: Arc<EventBus>,
    lock: Mutex<()>,
}

impl VolumeService {
    /// The service over every volume plugin in `registry`, creating volumes with
    /// `default_driver` unless told otherwise; undoes what a crash left half-done. A
    /// default driver that is not loaded is no error here: creating a volume says so.
    pub fn open(registry: &Registry, default_driver: &str, state: Arc<StateStore>, events: Arc<EventBus>) -> Result<Self, VolumeError> {
        let drivers = registry
            .plugins()
            .iter()
            .filter(|info| info.kind == Kind::Volume)
            .filter_map(|info| registry.volume(&info.name).map(|p| (info.name.clone(), p)))
            .collect();
        let inner = Inner { state, drivers, default_driver: default_driver.to_owned(), events, lock: Mutex::new(()) };
        inner.recover()?;
        Ok(VolumeService { inner: Arc::new(inner) })
    }

    /// `POST /volumes/create`. Without a name, one is generated (64 hex digits, as
    /// Docker's); without a driver, the default. A volume of that name that exists with
    /// the same driver is answered as it is (Docker's idempotent create).
    pub async fn create(
        &self,
        name: Option<String>,
        driver: Option<String>,
        options: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    ) -> Result<Volume, VolumeError> {
        self.blocking(move |inner| {
            let _lock = inner.lock();
            inner.create(name.as_deref(), driver.as_deref().unwrap_or(""), options, labels).map(|r| r.to_api())
        })
        .await
    }

    /// `GET /volumes/{name}`: the record, with what the driver says in `Status`.
    pub async fn inspect(&self, name: &str) -> Result<Volume, VolumeError> {
        let name = name.to_owned();
        self.blocking(move |inner| {
            let record = inner.require(&name)?;
            let mut volume = record.to_api();
            if let Some(driver) = inner.drivers.get(&record.driver) {
                match driver.get(&name) {
                    Ok(described) => volume.status = described.status.into_iter().collect(),
                    Err(err) => tracing::warn!(volume = name, "asking the driver about it: {err}"),
                }
            }
            Ok(volume)
        })
        .await
    }

    /// `GET /volumes`: the volumes `filters` let through, by name.
    pub async fn list(&self, filters: Filters) -> Result<Vec<Volume>, VolumeError> {
        let filter = VolumeFilter::new(filters)?;
        self.blocking(move |inner| {
            let records = inner.state.list::<VolumeRecord>(Table::Volumes)?;
            Ok(records
                .into_iter()
                .map(|(_, r)| r)
                .filter(|r| r.state == VolumeState::Ready && filter.matches(r))
                .map(|r| r.to_api())
                .collect())
        })
        .await
    }

    /// `DELETE /volumes/{name}`. Refused while a container uses it, `force` or not (as
    /// Docker's); `force` makes a missing volume no error and drops the record even if
    /// the driver fails to remove the volume.
    pub async fn remove(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        let name = name.to_owned();
        self.blocking(move |inner| {
            let _lock = inner.lock();
            inner.remove(&name, force)
        })
        .await
    }

    /// Mount volume `name` for container `container_id`; the absolute data directory to
    /// bind into the container. A missing volume is created with the default driver if
    /// `create_if_missing` (publishing `create`), else is not found. Mounting again for
    /// the same container answers the same directory.
    pub async fn mount(&self, name: &str, container_id: &str, create_if_missing: bool) -> Result<PathBuf, VolumeError> {
        let (name, container) = (name.to_owned(), container_id.to_owned());
        self.blocking(move |inner| {
            let _lock = inner.lock();
            inner.mount(&name, &container, create_if_missing)
        })
        .await
    }

    /// Container `container_id` is done with volume `name`. A container that does not
    /// use it is no error; a volume that does not exist is.
    pub async fn unmount(&self, name: &str, container_id: &str) -> Result<(), VolumeError> {
        let (name, container) = (name.to_owned(), container_id.to_owned());
        self.blocking(move |inner| {
            let _lock = inner.lock();
            inner.unmount(&name, &container)
        })
        .await
    }

    /// The containers that use volume `name` now.
    pub fn users(&self, name: &str) -> Result<Vec<String>, VolumeError> {
        Ok(self.inner.require(name)?.user_ids())
    }

    /// How many volumes there are.
    pub fn count(&self) -> Result<usize, VolumeError> {
        Ok(self.inner.state.list::<VolumeRecord>(Table::Volumes)?.len())
    }

    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&Inner) -> Result<T, VolumeError> + Send + 'static) -> Result<T, VolumeError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner)).await.map_err(|e| VolumeError::Internal(format!("a volume task failed: {e}")))?
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The driver `requested` names: the default when empty, `volume-local` for
    /// Docker's `local` (unless a plugin is called that).
    fn driver(&self, requested: &str) -> Result<(String, Arc<VolumePlugin>), VolumeError> {
        let name = match requested {
            "" => self.default_driver.as_str(),
            "local" if !self.drivers.contains_key("local") => LOCAL_DRIVER,
            other => other,
        };
        match self.drivers.get(name) {
            Some(plugin) => Ok((name.to_owned(), plugin.clone())),
            None => {
                let loaded: Vec<&str> = self.drivers.keys().map(String::as_str).collect();
                let reason = if loaded.is_empty() {
                    "no volume plugin is loaded".to_owned()
                } else {
                    format!("no volume plugin of that name is loaded (loaded: {})", loaded.join(", "))
                };
                Err(VolumeError::NoDriver { driver: name.to_owned(), reason })
            }
        }
    }

    fn require(&self, name: &str) -> Result<VolumeRecord, VolumeError> {
        match self.state.get::<VolumeRecord>(Table::Volumes, name)? {
            Some(record) if record.state == VolumeState::Ready => Ok(record),
            _ => Err(VolumeError::NotFound(name.to_owned())),
        }
    }

    fn save(&self, record: &VolumeRecord) -> Result<(), VolumeError> {
        Ok(self.state.write(|t| t.put(Table::Volumes, &record.name, record))?)
    }

    fn publish<'a>(&self, action: &str, record: &VolumeRecord, extra: impl IntoIterator<Item = (&'a str, String)>) {
        let attributes = std::iter::once(("driver", record.driver.clone())).chain(extra);
        self.events.publish("volume", action, &record.name, attributes);
    }

    fn create(
        &self,
        name: Option<&str>,
        requested_driver: &str,
        options: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    ) -> Result<VolumeRecord, VolumeError> {
        let name = match name.filter(|n| !n.is_empty()) {
            Some(name) => check_name(name)?,
            None => generated_name(),
        };
        let (driver, plugin) = self.driver(requested_driver)?;
        if let Some(existing) = self.state.get::<VolumeRecord>(Table::Volumes, &name)? {
            if existing.driver != driver {
                return Err(VolumeError::Conflict(format!(
                    "volume {name} exists already with driver {:?}; remove it first to create it with driver {driver:?}",
                    existing.driver
                )));
            }
            return Ok(existing);
        }
        let mut record = VolumeRecord {
            name: name.clone(),
            driver,
            scope: String::new(),
            created_at: now(),
            options,
            labels,
            mountpoint: PathBuf::new(),
            state: VolumeState::Creating,
            users: BTreeMap::new(),
        };
        self.save(&record)?;
        let created = plugin.scope().and_then(|scope| {
            let options: Vec<(String, String)> = record.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            Ok((scope, plugin.create(&name, &options)?))
        });
        let outcome = created.map_err(VolumeError::from).and_then(|(scope, volume)| {
            let data = data_dir(&plugin.root(), &volume.path)
                .ok_or_else(|| VolumeError::Internal(format!("volume {name}: driver {:?} answered the data directory {:?}, which is not beneath its root", record.driver, volume.path)))?;
            Ok((scope, data))
        });
        match outcome {
            Ok((scope, mountpoint)) => {
                record.scope = scope;
                record.mountpoint = mountpoint;
                record.state = VolumeState::Ready;
                self.save(&record)?;
                self.publish("create", &record, []);
                Ok(record)
            }
            Err(err) => {
                // Undo: the driver's volume if it made one (not one it had already), the record.
                if !matches!(&err, VolumeError::Plugin(p) if p.kind() == hostctl_plugin_runtime::ErrorKind::AlreadyExists)
                    && let Err(cleanup) = plugin.remove(&name)
                    && cleanup.kind() != hostctl_plugin_runtime::ErrorKind::NotFound
                {
                    tracing::warn!(volume = name, "removing a volume whose create failed: {cleanup}");
                }
                self.state.write(|t| t.delete(Table::Volumes, &name))?;
                Err(err)
            }
        }
    }

    fn remove(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        let record = match self.require(name) {
            Ok(record) => record,
            Err(VolumeError::NotFound(_)) if force => return Ok(()),
            Err(err) => return Err(err),
        };
        if !record.users.is_empty() {
            return Err(VolumeError::InUse { name: name.to_owned(), users: record.user_ids() });
        }
        let removed = self.driver(&record.driver).map_err(VolumeError::from).and_then(|(_, plugin)| match plugin.remove(name) {
            Err(err) if err.kind() == hostctl_plugin_runtime::ErrorKind::NotFound => Ok(()),
            other => Ok(other?),
        });
        match removed {
            Ok(()) => {}
            Err(err) if force => tracing::warn!(volume = name, "dropping the volume although its driver failed to remove it: {err}"),
            Err(err) => return Err(err),
        }
        self.state.write(|t| t.delete(Table::Volumes, name))?;
        self.publish("destroy", &record, []);
        Ok(())
    }

    fn mount(&self, name: &str, container: &str, create_if_missing: bool) -> Result<PathBuf, VolumeError> {
        if container.is_empty() {
            return Err(VolumeError::Invalid(format!("volume {name}: mounting needs a container id")));
        }
        let mut record = match self.require(name) {
            Err(VolumeError::NotFound(_)) if create_if_missing => self.create(Some(name), "", BTreeMap::new(), BTreeMap::new())?,
            other => other?,
        };
        if record.users.get(container) == Some(&UseState::Mounted) {
            return Ok(record.mountpoint);
        }
        let (_, plugin) = self.driver(&record.driver)?;
        record.users.insert(container.to_owned(), UseState::Mounting);
        self.save(&record)?;
        match plugin.mount(name, container) {
            Ok(path) => {
                record.users.insert(container.to_owned(), UseState::Mounted);
                self.save(&record)?;
                self.publish("mount", &record, [("container", container.to_owned())]);
                Ok(path)
            }
            Err(err) => {
                // The runtime undid the mount and the driver's count of this container.
                record.users.remove(container);
                self.save(&record)?;
                Err(err.into())
            }
        }
    }

    fn unmount(&self, name: &str, container: &str) -> Result<(), VolumeError> {
        let mut record = self.require(name)?;
        if !record.users.contains_key(container) {
            return Ok(());
        }
        let (_, plugin) = self.driver(&record.driver)?;
        record.users.insert(container.to_owned(), UseState::Unmounting);
        self.save(&record)?;
        plugin.unmount(name, container)?;
        record.users.remove(container);
        self.save(&record)?;
        if record.users.is_empty() {
            self.unmount_leftover(&plugin, name);
        }
        self.publish("unmount", &record, [("container", container.to_owned())]);
        Ok(())
    }

    /// With no user left, nothing should be mounted on the data directory.
    fn unmount_leftover(&self, plugin: &VolumePlugin, name: &str) {
        match plugin.unmount_leftover(name) {
            Ok(true) => tracing::warn!(volume = name, "unmounted what was left mounted on its data directory"),
            Ok(false) => {}
            Err(err) => tracing::warn!(volume = name, "checking its data directory for a leftover mount: {err}"),
        }
    }

    /// Start-up: undo what a crash left half-done (see the module docs).
    fn recover(&self) -> Result<(), VolumeError> {
        for (name, mut record) in self.state.list::<VolumeRecord>(Table::Volumes)? {
            let plugin = match self.driver(&record.driver) {
                Ok((_, plugin)) => plugin,
                Err(err) if record.state == VolumeState::Creating => {
                    tracing::warn!(volume = name, "dropping a volume a crash left half-created: {err}");
                    self.state.write(|t| t.delete(Table::Volumes, &name))?;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(volume = name, "not checked at start-up: {err}");
                    continue;
                }
            };
            if record.state == VolumeState::Creating {
                tracing::warn!(volume = name, "removing a volume a crash left half-created");
                if let Err(err) = plugin.remove(&name)
                    && err.kind() != hostctl_plugin_runtime::ErrorKind::NotFound
                {
                    tracing::warn!(volume = name, "{err}");
                }
                self.state.write(|t| t.delete(Table::Volumes, &name))?;
                continue;
            }
            let unfinished: Vec<String> = record.users.iter().filter(|(_, s)| **s != UseState::Mounted).map(|(c, _)| c.clone()).collect();
            for container in &unfinished {
                tracing::warn!(volume = name, container, "unmounting a mount a crash left half-done");
                if let Err(err) = plugin.unmount(&name, container) {
                    tracing::warn!(volume = name, container, "{err}");
                }
                record.users.remove(container);
            }
            if !unfinished.is_empty() {
                self.save(&record)?;
            }
            if record.users.is_empty() {
                self.unmount_leftover(&plugin, &name);
            }
        }
        Ok(())
    }
}

/// A name the service can key and route by; the driver checks its own rules after.
fn check_name(name: &str) -> Result<String, VolumeError> {
    if name.len() > 255 || name.contains('/') || name.chars().any(char::is_control) || name == "." || name == ".." {
        return Err(VolumeError::Invalid(format!("volume name {name:?}: expected letters, digits, '_', '.' and '-'")));
    }
    Ok(name.to_owned())
}

/// Docker's anonymous volume names: 64 random hex digits.
fn generated_name() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Now, in RFC 3339 with whole seconds (as Docker shows `CreatedAt`).
fn now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    format_rfc3339(UNIX_EPOCH + Duration::from_secs(secs))
}

/// `root/path` for a driver-relative `path` that stays beneath `root`.
fn data_dir(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    let plain = relative.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    (plain && !path.is_empty()).then(|| root.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_64_hex_digits() {
        let (a, b) = (generated_name(), generated_name());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn data_dirs_stay_beneath_the_root() {
        let root = Path::new("/var/lib/hostctl/volumes/volume-local");
        assert_eq!(data_dir(root, "data/_data").unwrap(), root.join("data/_data"));
        for bad in ["", "/etc", "../x", "a/../../b"] {
            assert!(data_dir(root, bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn names_that_would_break_keys_or_paths_are_refused() {
        for bad in ["a/b", "..", "a\nb", &"x".repeat(256)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("my-data_1.0").unwrap();
    }
}
