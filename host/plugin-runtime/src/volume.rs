//! A loaded volume driver, as the daemon calls it: one sandboxed call per operation of
//! `hostctl:volume/driver`, answers converted to the runtime's own types.

use std::path::PathBuf;
use std::sync::Arc;

use hostctl_kernel::mount::Mounter;
use wasmtime::Store;

use crate::bindings::volume::exports::hostctl::volume::driver::{self as wit, Guest};
use crate::bindings::volume::{VolumeDriver, VolumeDriverPre};
use crate::sandbox::{PluginError, PluginState, Shared};

/// One mount a volume driver asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    /// "tmpfs" or "bind".
    pub fstype: String,
    pub source: String,
    pub target: String,
    pub options: Vec<String>,
}

/// What `mount` answers: mounts to make, and the data directory (driver-root-relative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMountPlan {
    pub mounts: Vec<VolumeMount>,
    pub path: String,
}

/// A volume as the driver describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    /// The data directory, relative to the driver's root.
    pub path: String,
    pub created_at: String,
    pub options: Vec<(String, String)>,
    pub status: Vec<(String, String)>,
}

/// A loaded volume driver.
pub struct VolumePlugin {
    pub(crate) shared: Arc<Shared>,
    engine: wasmtime::Engine,
    pre: VolumeDriverPre<PluginState>,
    pub(crate) mounter: Arc<dyn Mounter>,
}

impl std::fmt::Debug for VolumePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumePlugin").field("name", &self.shared.name).finish()
    }
}

type Answer<T> = wasmtime::Result<Result<T, crate::bindings::host::hostctl::types::types::Error>>;

fn volume(v: wit::Volume) -> Volume {
    Volume { name: v.name, path: v.path, created_at: v.created_at, options: v.options, status: v.status }
}

impl VolumePlugin {
    pub(crate) fn new(shared: Arc<Shared>, engine: wasmtime::Engine, pre: VolumeDriverPre<PluginState>, mounter: Arc<dyn Mounter>) -> Self {
        VolumePlugin { shared, engine, pre, mounter }
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The driver's root directory on the host.
    pub fn root(&self) -> PathBuf {
        self.shared.root.as_ref().map(|(p, _)| p.clone()).expect("volume plugins have a root")
    }

    fn call<T>(&self, op: &'static str, f: impl FnOnce(&Guest, &mut Store<PluginState>) -> Answer<T>) -> Result<T, PluginError> {
        self.shared
            .call(&self.engine, op, |s| self.pre.instantiate(s), |i: &VolumeDriver, s| f(i.hostctl_volume_driver(), s))?
            .map_err(|e| self.shared.driver_error(op, e))
    }

    /// The driver's scope ("local").
    pub fn scope(&self) -> Result<String, PluginError> {
        let caps = self.shared.call(&self.engine, "capabilities", |s| self.pre.instantiate(s), |i: &VolumeDriver, s| {
            i.hostctl_volume_driver().call_get_capabilities(s)
        })?;
        Ok(caps.scope)
    }

    pub fn create(&self, name: &str, options: &[(String, String)]) -> Result<Volume, PluginError> {
        self.call("create volume", |g, s| g.call_create(s, name, options)).map(volume)
    }

    pub fn remove(&self, name: &str) -> Result<(), PluginError> {
        self.call("remove volume", |g, s| g.call_remove(s, name))
    }

    /// The driver's plan for mounting `name` for `caller` (not performed).
    pub fn mount_plan(&self, name: &str, caller: &str) -> Result<VolumeMountPlan, PluginError> {
        let plan = self.call("mount volume", |g, s| g.call_mount(s, name, caller))?;
        Ok(VolumeMountPlan {
            mounts: plan
                .mounts
                .into_iter()
                .map(|m| VolumeMount { fstype: m.fstype, source: m.source, target: m.target, options: m.options })
                .collect(),
            path: plan.path,
        })
    }

    /// The targets to unmount now that `caller` is done with `name`.
    pub fn unmount_targets(&self, name: &str, caller: &str) -> Result<Vec<String>, PluginError> {
        self.call("unmount volume", |g, s| g.call_unmount(s, name, caller))
    }

    pub fn path(&self, name: &str) -> Result<Option<String>, PluginError> {
        self.call("volume path", |g, s| g.call_path(s, name))
    }

    pub fn get(&self, name: &str) -> Result<Volume, PluginError> {
        self.call("get volume", |g, s| g.call_get(s, name)).map(volume)
    }

    pub fn list(&self) -> Result<Vec<Volume>, PluginError> {
        self.call("list volumes", |g, s| g.call_list_volumes(s)).map(|v| v.into_iter().map(volume).collect())
    }
}
