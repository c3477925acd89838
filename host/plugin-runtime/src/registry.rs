//! Every plugin installed in a directory, loaded at daemon start.
//!
//! Plugins live one per subdirectory (`<plugin dir>/<name>/plugin.toml` + the `.wasm`).
//! A plugin that fails to load is logged and listed with its reason; it does not stop the
//! others or the daemon. The daemon looks drivers up here by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::loader::{LoadError, Loader, Plugin, PluginInfo};
use crate::network::NetworkPlugin;
use crate::restart::RestartPlugin;
use crate::storage::StoragePlugin;
use crate::volume::VolumePlugin;

/// A plugin directory that did not load, and why.
#[derive(Debug)]
pub struct LoadFailure {
    pub dir: PathBuf,
    pub error: LoadError,
}

/// The loaded plugins.
#[derive(Debug, Default)]
pub struct Registry {
    storage: BTreeMap<String, Arc<StoragePlugin>>,
    network: BTreeMap<String, Arc<NetworkPlugin>>,
    volume: BTreeMap<String, Arc<VolumePlugin>>,
    restart: BTreeMap<String, Arc<RestartPlugin>>,
    infos: Vec<PluginInfo>,
    failures: Vec<LoadFailure>,
}

impl Registry {
    /// Load every plugin under `dir` (a missing directory holds no plugins).
    pub fn load_dir(loader: &Loader, dir: &Path) -> Self {
        let mut registry = Registry::default();
        let mut dirs: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("plugin.toml").is_file()).collect(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => {
                tracing::error!(dir = %dir.display(), "reading the plugin directory: {err}");
                Vec::new()
            }
        };
        dirs.sort();
        for plugin_dir in dirs {
            registry.add(loader, &plugin_dir);
        }
        registry
    }

    /// Load one more plugin from `dir`, recording a failure instead of returning it.
    pub fn add(&mut self, loader: &Loader, dir: &Path) {
        match loader.load(dir) {
            Ok((plugin, info)) => {
                tracing::info!(plugin = info.name, kind = %info.kind, origin = ?info.origin, ms = info.load_time.as_secs_f64() * 1e3, "plugin loaded");
                match plugin {
                    Plugin::Storage(p) => {
                        self.storage.insert(info.name.clone(), p);
                    }
                    Plugin::Network(p) => {
                        self.network.insert(info.name.clone(), p);
                    }
                    Plugin::Volume(p) => {
                        self.volume.insert(info.name.clone(), p);
                    }
                    Plugin::Restart(p) => {
                        self.restart.insert(info.name.clone(), p);
                    }
                }
                self.infos.retain(|i| i.name != info.name);
                self.infos.push(info);
            }
            Err(error) => {
                tracing::error!(dir = %dir.display(), "plugin not loaded: {error}");
                self.failures.push(LoadFailure { dir: dir.to_owned(), error });
            }
        }
    }

    /// The storage driver named `name`.
    pub fn storage(&self, name: &str) -> Option<Arc<StoragePlugin>> {
        self.storage.get(name).cloned()
    }

    /// The network driver named `name`.
    pub fn network(&self, name: &str) -> Option<Arc<NetworkPlugin>> {
        self.network.get(name).cloned()
    }

    /// The volume driver named `name`.
    pub fn volume(&self, name: &str) -> Option<Arc<VolumePlugin>> {
        self.volume.get(name).cloned()
    }

    /// The restart policy plugin named `name`.
    pub fn restart(&self, name: &str) -> Option<Arc<RestartPlugin>> {
        self.restart.get(name).cloned()
    }

    /// Every loaded plugin.
    pub fn plugins(&self) -> &[PluginInfo] {
        &self.infos
    }

    /// Every plugin directory that failed to load.
    pub fn failures(&self) -> &[LoadFailure] {
        &self.failures
    }
}
