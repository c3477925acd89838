//! A loaded storage driver, as the daemon calls it.
//!
//! [`StoragePlugin`] wraps the generated bindings of `hostctl:storage/driver`: each method
//! is one sandboxed call (see `sandbox`), with the host's side of the contract added:
//! - `apply_layer` lends the driver a verified blob stream and refuses a success that did
//!   not read the blob to its verified end; on any failure it asks the driver (in a fresh
//!   instance) to remove what it wrote;
//! - `mount` asks the driver for its mount plan, checks it against the grants (`plan`),
//!   performs it through the kernel layer, and unmounts what it did if a later step fails;
//!   `unmount` undoes a mount and tells the driver (`put`).

use std::path::PathBuf;
use std::sync::Arc;

use hostctl_kernel::mount::Mounter;
use serde::{Deserialize, Serialize};
use wasmtime::Store;
use wasmtime::component::Resource;

use crate::bindings::storage::exports::hostctl::storage::driver::{Guest, MountPlan};
use crate::bindings::host::hostctl::types::types::Error as WitError;
use crate::bindings::storage::{StorageDriver, StorageDriverPre};
use crate::imports::content::{BlobSource, BlobStream, StreamState};
use crate::plan::{self, PlannedMount};
use crate::sandbox::{ErrorKind, PluginError, PluginState, Shared};

/// What the driver says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverInfo {
    pub name: String,
    pub status: Vec<(String, String)>,
}

/// A layer the driver applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedLayer {
    /// `sha256:<hex>` of the uncompressed tar, as the driver computed it.
    pub diff_id: String,
    pub size: u64,
}

/// A layer's merged view, mounted: where it is and what to unmount later. The daemon
/// records it (serialized) before relying on it, so a crash can be cleaned up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountedLayer {
    /// Absolute path of the merged view (beneath the driver's root).
    pub rootfs: PathBuf,
    /// Mount targets relative to the driver's root, in mount order.
    pub targets: Vec<String>,
}

/// A loaded storage driver.
pub struct StoragePlugin {
    shared: Arc<Shared>,
    engine: wasmtime::Engine,
    pre: StorageDriverPre<PluginState>,
    mounter: Arc<dyn Mounter>,
}

impl std::fmt::Debug for StoragePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoragePlugin").field("name", &self.shared.name).finish()
    }
}

type Call<R> = wasmtime::Result<Result<R, WitError>>;

impl StoragePlugin {
    pub(crate) fn new(shared: Arc<Shared>, engine: wasmtime::Engine, pre: StorageDriverPre<PluginState>, mounter: Arc<dyn Mounter>) -> Self {
        StoragePlugin { shared, engine, pre, mounter }
    }

    /// The plugin's name (from its manifest).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The driver's root directory on the host.
    pub fn root(&self) -> PathBuf {
        self.shared.root.as_ref().map(|(p, _)| p.clone()).expect("storage plugins have a root")
    }

    /// One sandboxed call of `op`.
    fn call<R>(&self, op: &'static str, f: impl FnOnce(&Guest, &mut Store<PluginState>) -> wasmtime::Result<R>) -> Result<R, PluginError> {
        self.shared.call(&self.engine, op, |s| self.pre.instantiate(s), |i: &StorageDriver, s| f(i.hostctl_storage_driver(), s))
    }

    /// A call whose answer is `result<T, error>`.
    fn call_driver<T>(&self, op: &'static str, f: impl FnOnce(&Guest, &mut Store<PluginState>) -> Call<T>) -> Result<T, PluginError> {
        self.call(op, f)?.map_err(|e| self.driver_error(op, e))
    }

    fn driver_error(&self, op: &'static str, e: WitError) -> PluginError {
        self.shared.driver_error(op, e)
    }

    /// Who the driver is.
    pub fn info(&self) -> Result<DriverInfo, PluginError> {
        let info = self.call("info", |g, s| g.call_info(s))?;
        Ok(DriverInfo { name: info.name, status: info.status })
    }

    /// Create layer `id` on `parent` from the tar in `blob`. The driver must read `blob`
    /// to its verified end; on any failure, what it wrote is removed (an `id` that exists
    /// already is refused first, so that clean-up never touches an existing layer).
    pub fn apply_layer(&self, id: &str, parent: Option<&str>, blob: Box<dyn BlobSource>) -> Result<AppliedLayer, PluginError> {
        let op = "apply layer";
        // The clean-up below removes what this call created; it must never be an existing
        // layer, so an id that is taken is refused before the driver is asked.
        if self.exists(id)? {
            return Err(self.shared.host_error(op, ErrorKind::AlreadyExists, format!("layer {id} exists already")));
        }
        let outcome = self
            .call(op, |g, s| {
                s.data_mut().allow_stream(blob.size());
                let owned = s.data_mut().table.push(BlobStream::new(blob))?;
                let lent = Resource::<BlobStream>::new_borrow(owned.rep());
                let answer = g.call_apply_layer(&mut *s, id, parent, lent)?;
                let stream = s.data_mut().table.delete(owned)?;
                Ok((answer, stream))
            })
            .and_then(|(answer, stream)| {
                let applied = answer.map_err(|e| self.driver_error(op, e))?;
                match stream.state() {
                    StreamState::Verified => Ok(AppliedLayer { diff_id: applied.diff_id, size: applied.size }),
                    StreamState::Failed(message) => {
                        Err(self.shared.host_error(op, ErrorKind::InvalidArgument, format!("layer {id}: {message}")))
                    }
                    StreamState::Reading => Err(self.shared.host_error(
                        op,
                        ErrorKind::Other,
                        format!("layer {id}: the driver returned before reading the layer to its end, so it was never verified"),
                    )),
                }
            });
        if outcome.is_err()
            && let Err(cleanup) = self.remove(id)
        {
            tracing::warn!(plugin = self.name(), layer = id, "removing a failed layer: {cleanup}");
        }
        outcome
    }

    /// Create an empty writable layer `id` on `parent`.
    pub fn create_layer(&self, id: &str, parent: Option<&str>) -> Result<(), PluginError> {
        self.call_driver("create layer", |g, s| g.call_create_layer(s, id, parent))
    }

    /// Remove layer `id` (succeeds when it is already gone).
    pub fn remove(&self, id: &str) -> Result<(), PluginError> {
        self.call_driver("remove layer", |g, s| g.call_remove(s, id))
    }

    /// Whether the driver holds layer `id`.
    pub fn exists(&self, id: &str) -> Result<bool, PluginError> {
        self.call("exists", |g, s| g.call_exists(s, id))
    }

    /// Docker's `GraphDriver.Data` for layer `id`.
    pub fn metadata(&self, id: &str) -> Result<Vec<(String, String)>, PluginError> {
        self.call_driver("metadata", |g, s| g.call_metadata(s, id))
    }

    /// Ask the driver for layer `id`'s mount plan, check it, and perform it.
    pub fn mount(&self, id: &str) -> Result<MountedLayer, PluginError> {
        let op = "mount";
        let MountPlan { mounts, rootfs } = self.call_driver(op, |g, s| g.call_get(s, id))?;
        let planned: Vec<PlannedMount> = mounts
            .into_iter()
            .map(|m| PlannedMount { fstype: m.fstype, source: m.source, target: m.target, options: m.options })
            .collect();
        let specs = plan::check(&planned, &self.shared.grants)
            .map_err(|reason| self.shared.host_error(op, ErrorKind::Denied, format!("layer {id}: {reason}")))?;
        let root = self.confined_root();
        let mut done: Vec<String> = Vec::new();
        for spec in &specs {
            if let Err(err) = self.mounter.mount(root, spec) {
                self.undo(&done);
                return Err(self.shared.host_error(op, ErrorKind::Io, format!("layer {id}: {err}")));
            }
            done.push(spec.target().to_owned());
        }
        match self.resolve_rootfs(&rootfs) {
            Ok(path) => Ok(MountedLayer { rootfs: path, targets: done }),
            Err(message) => {
                self.undo(&done);
                Err(self.shared.host_error(op, ErrorKind::Denied, format!("layer {id}: {message}")))
            }
        }
    }

    /// Undo [`StoragePlugin::mount`] of layer `id`, then tell the driver.
    pub fn unmount(&self, id: &str, mounted: &MountedLayer) -> Result<(), PluginError> {
        let root = self.confined_root();
        for target in mounted.targets.iter().rev() {
            self.mounter
                .unmount(root, target)
                .map_err(|e| self.shared.host_error("unmount", ErrorKind::Io, format!("layer {id}: {e}")))?;
        }
        self.call_driver("put", |g, s| g.call_put(s, id))
    }

    fn undo(&self, targets: &[String]) {
        for target in targets.iter().rev() {
            if let Err(err) = self.mounter.unmount(self.confined_root(), target) {
                tracing::warn!(plugin = self.name(), target, "rolling back a mount: {err}");
            }
        }
    }

    fn confined_root(&self) -> &hostctl_kernel::confined::ConfinedDir {
        &self.shared.root.as_ref().expect("storage plugins have a root").1
    }

    /// The absolute path of the plan's rootfs, checked to lie beneath the root.
    fn resolve_rootfs(&self, rootfs: &str) -> Result<PathBuf, String> {
        let root = self.confined_root();
        let fd = root.open_mounted_dir(rootfs).map_err(|e| format!("rootfs: {e}"))?;
        let path = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)))
            .map_err(|e| format!("rootfs {rootfs:?}: {e}"))?;
        if !path.starts_with(root.path()) {
            return Err(format!("rootfs {rootfs:?} is not beneath the driver's root"));
        }
        Ok(path)
    }
}
