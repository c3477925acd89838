//! `hostctl:host/files`: privileged file operations inside the plugin's root.
//!
//! Each call checks the grant named in `plugin.toml` (`[capabilities] files`), then runs
//! the operation through [`hostctl_kernel::confined::ConfinedDir`], which refuses any path
//! leading outside the root. Refusals come back to the guest as `denied` errors.

use hostctl_kernel::confined::{ConfinedError, NodeKind as KernelNodeKind};

use super::wit_error;
use crate::bindings::host::hostctl::host::files::{Host, NodeKind};
use crate::bindings::host::hostctl::types::types::{Error, ErrorKind};
use crate::manifest::FileCapability;
use crate::sandbox::PluginState;

impl PluginState {
    /// Run `op` on the plugin's root if `cap` was granted.
    fn confined(
        &self,
        cap: FileCapability,
        op: impl FnOnce(&hostctl_kernel::confined::ConfinedDir) -> Result<(), ConfinedError>,
    ) -> Result<(), Error> {
        if !self.grants().files.contains(&cap) {
            return Err(wit_error(
                ErrorKind::Denied,
                format!("plugin {:?} was not granted the files capability \"{cap}\" (add it to [capabilities] files)", self.plugin_name()),
            ));
        }
        let Some(root) = self.root() else {
            return Err(wit_error(ErrorKind::Denied, format!("plugin {:?} has no root directory", self.plugin_name())));
        };
        op(root).map_err(|e| wit_error(if e.is_denial() { ErrorKind::Denied } else { ErrorKind::Io }, e.to_string()))
    }
}

impl Host for PluginState {
    fn chown(&mut self, path: String, uid: u32, gid: u32) -> Result<(), Error> {
        self.confined(FileCapability::Chown, |root| root.chown(&path, uid, gid))
    }

    fn chmod(&mut self, path: String, mode: u32) -> Result<(), Error> {
        self.confined(FileCapability::Chmod, |root| root.chmod(&path, mode))
    }

    fn whiteout(&mut self, path: String) -> Result<(), Error> {
        self.confined(FileCapability::Whiteout, |root| root.whiteout(&path))
    }

    fn set_opaque(&mut self, path: String) -> Result<(), Error> {
        self.confined(FileCapability::Opaque, |root| root.set_opaque(&path))
    }

    fn mknod(&mut self, path: String, kind: NodeKind, mode: u32, major: u32, minor: u32) -> Result<(), Error> {
        let kind = match kind {
            NodeKind::CharDevice => KernelNodeKind::CharDevice,
            NodeKind::BlockDevice => KernelNodeKind::BlockDevice,
            NodeKind::Fifo => KernelNodeKind::Fifo,
        };
        self.confined(FileCapability::Mknod, |root| root.mknod(&path, kind, mode, major, minor))
    }

    fn set_xattr(&mut self, path: String, name: String, value: Vec<u8>) -> Result<(), Error> {
        self.confined(FileCapability::Xattr, |root| root.set_xattr(&path, &name, &value))
    }

    fn symlink(&mut self, target: String, path: String) -> Result<(), Error> {
        self.confined(FileCapability::Symlink, |root| root.symlink(&target, &path))
    }

    fn remove_tree(&mut self, path: String) -> Result<(), Error> {
        let since = std::time::Instant::now();
        let removed = self.confined(FileCapability::RemoveTree, |root| root.remove_tree(&path));
        self.excuse_host_work(since);
        removed
    }
}
