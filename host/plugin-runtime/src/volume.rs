//! A loaded volume driver, as the daemon calls it: one sandboxed call per operation of
//! `hostctl:volume/driver`, answers converted to the runtime's own types, with the host's
//! side of the contract added:
//! - [`VolumePlugin::mount`] asks the driver for its plan, checks it against the grants
//!   ([`plan::check_volume`]: tmpfs and binds only as granted, host directories by their
//!   real path against `bind-sources`, targets beneath the driver's root), performs it
//!   through the kernel layer, and on any failure unmounts what it did and tells the
//!   driver the caller is not mounting after all; it answers the absolute data directory;
//! - [`VolumePlugin::unmount`] tells the driver the caller is done and unmounts the
//!   targets it answers (those already unmounted are skipped, so a retry after a crash
//!   completes);
//! - [`VolumePlugin::remove`] refuses while something is still mounted on the volume's
//!   data directory, so no driver's recursive delete can reach into a bound host directory
//!   that a lost unmount left behind; [`VolumePlugin::unmount_leftover`] clears that.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hostctl_kernel::confined::ConfinedDir;
use hostctl_kernel::mount::Mounter;
use wasmtime::Store;

use crate::bindings::volume::exports::hostctl::volume::driver::{self as wit, Guest};
use crate::bindings::volume::{VolumeDriver, VolumeDriverPre};
use crate::plan::{self, PlannedMount};
use crate::sandbox::{ErrorKind, PluginError, PluginState, Shared};

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

    /// Remove volume `name` and its data; refused while its data directory is a mount.
    pub fn remove(&self, name: &str) -> Result<(), PluginError> {
        let op = "remove volume";
        match self.get(name) {
            Ok(volume) if self.is_mounted(op, name, &volume.path)? => {
                return Err(self.shared.host_error(
                    op,
                    ErrorKind::Other,
                    format!("volume {name}: its data directory {} is still mounted", volume.path),
                ));
            }
            // A volume the driver does not know is its own to answer for.
            Ok(_) | Err(_) => {}
        }
        self.call(op, |g, s| g.call_remove(s, name))
    }

    /// Mount volume `name` for `caller` (a container id): the driver's plan, checked and
    /// performed; the absolute path of the volume's data directory. On failure nothing
    /// stays mounted and the driver no longer counts `caller`.
    pub fn mount(&self, name: &str, caller: &str) -> Result<PathBuf, PluginError> {
        let plan = self.mount_plan(name, caller)?;
        let performed = self.perform(name, &plan);
        if performed.is_err()
            && let Err(err) = self.unmount_targets(name, caller)
        {
            tracing::warn!(plugin = self.name(), volume = name, caller, "taking back a failed mount: {err}");
        }
        performed
    }

    /// `caller` is done with volume `name`: tell the driver, then unmount the targets it
    /// answers, in its order. Targets no longer mounted are skipped.
    pub fn unmount(&self, name: &str, caller: &str) -> Result<(), PluginError> {
        let op = "unmount volume";
        let targets = self.unmount_targets(name, caller)?;
        let mut first_error = None;
        for target in &targets {
            let outcome = plan::relative(target)
                .map_err(|reason| self.shared.host_error(op, ErrorKind::Denied, format!("volume {name}: {reason}")))
                .and_then(|target| self.unmount_if_mounted(op, name, &target));
            if let Err(err) = outcome {
                tracing::warn!(plugin = self.name(), volume = name, target, "{err}");
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Unmount what is left mounted on volume `name`'s data directory when no caller
    /// uses it (a crash between the driver forgetting its last caller and the host's
    /// unmount). Answers whether there was something.
    pub fn unmount_leftover(&self, name: &str) -> Result<bool, PluginError> {
        let op = "unmount volume";
        let volume = self.get(name)?;
        let target = plan::relative(&volume.path)
            .map_err(|reason| self.shared.host_error(op, ErrorKind::Denied, format!("volume {name}: {reason}")))?;
        if !self.is_mounted(op, name, &target)? {
            return Ok(false);
        }
        self.unmount_if_mounted(op, name, &target)?;
        Ok(true)
    }

    /// Check `plan` and perform it; the absolute data directory.
    fn perform(&self, name: &str, plan: &VolumeMountPlan) -> Result<PathBuf, PluginError> {
        let op = "mount volume";
        let planned: Vec<PlannedMount> = plan
            .mounts
            .iter()
            .map(|m| PlannedMount { fstype: m.fstype.clone(), source: m.source.clone(), target: m.target.clone(), options: m.options.clone() })
            .collect();
        let specs = plan::check_volume(&planned, &self.shared.grants, real_path)
            .map_err(|reason| self.shared.host_error(op, ErrorKind::Denied, format!("volume {name}: {reason}")))?;
        let root = self.confined_root();
        let mut done: Vec<&str> = Vec::new();
        for spec in &specs {
            if let Err(err) = self.mounter.mount(root, spec) {
                self.undo(&done);
                return Err(self.shared.host_error(op, ErrorKind::Io, format!("volume {name}: {err}")));
            }
            done.push(spec.target());
        }
        self.resolve_dir(&plan.path).map_err(|message| {
            self.undo(&done);
            self.shared.host_error(op, ErrorKind::Denied, format!("volume {name}: {message}"))
        })
    }

    fn undo(&self, targets: &[&str]) {
        for target in targets.iter().rev() {
            if let Err(err) = self.mounter.unmount(self.confined_root(), target) {
                tracing::warn!(plugin = self.name(), target, "rolling back a mount: {err}");
            }
        }
    }

    fn is_mounted(&self, op: &'static str, name: &str, target: &str) -> Result<bool, PluginError> {
        self.mounter
            .is_mounted(self.confined_root(), target)
            .map_err(|e| self.shared.host_error(op, ErrorKind::Io, format!("volume {name}: {e}")))
    }

    fn unmount_if_mounted(&self, op: &'static str, name: &str, target: &str) -> Result<(), PluginError> {
        if !self.is_mounted(op, name, target)? {
            tracing::debug!(plugin = self.name(), volume = name, target, "already unmounted");
            return Ok(());
        }
        self.mounter
            .unmount(self.confined_root(), target)
            .map_err(|e| self.shared.host_error(op, ErrorKind::Io, format!("volume {name}: {e}")))
    }

    fn confined_root(&self) -> &ConfinedDir {
        &self.shared.root.as_ref().expect("volume plugins have a root").1
    }

    /// The absolute path of `path` (relative to the root), checked to lie beneath it.
    fn resolve_dir(&self, path: &str) -> Result<PathBuf, String> {
        let root = self.confined_root();
        let fd = root.open_mounted_dir(path).map_err(|e| format!("data directory: {e}"))?;
        let real = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|e| format!("data directory {path:?}: {e}"))?;
        if !real.starts_with(root.path()) {
            return Err(format!("data directory {path:?} is not beneath the driver's root"));
        }
        Ok(real)
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

/// The real path of host directory `path`: every symlink and `..` resolved.
fn real_path(path: &Path) -> Result<PathBuf, String> {
    let real = std::fs::canonicalize(path).map_err(|e| format!("bind source {:?}: {e}", path.display()))?;
    if !real.is_dir() {
        return Err(format!("bind source {:?} is not a directory", path.display()));
    }
    Ok(real)
}
