//! Loading one plugin directory: manifest, pinned component, compiled code, checked
//! contract, ready-to-instantiate `InstancePre`.
//!
//! The steps, each with its own refusal:
//! 1. `plugin.toml` parses and is well-formed (`manifest`);
//! 2. the component's sha256 equals the manifest's pin (a modified wasm is refused);
//! 3. the component is compiled, or loaded precompiled from the cache (`cache`);
//! 4. every `hostctl:` interface it imports or exports is one this host speaks, and it
//!    exports its kind's world (a storage plugin exports `hostctl:storage/driver@0.1.0`);
//! 5. its imports link (WASI plus the `hostctl:host` capabilities), giving an
//!    `InstancePre` from which every call instantiates in microseconds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hostctl_kernel::confined::ConfinedDir;
use hostctl_kernel::mount::Mounter;
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};

use crate::bindings::{self, SPOKEN};
use crate::cache::{CacheError, ComponentCache, Origin};
use crate::engine::PluginEngine;
use crate::manifest::{Capabilities, Kind, Manifest, ManifestError, parse_size};
use crate::sandbox::{PluginState, Shared};
use crate::imports::kv::KvBackend;
use crate::netplan::PortPublisher;
use crate::network::NetworkPlugin;
use crate::restart::RestartPlugin;
use crate::storage::StoragePlugin;
use crate::volume::VolumePlugin;

/// Why a plugin was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("plugin {name:?}: reading {}: {source}", path.display())]
    Wasm {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("plugin {name:?}: plugin.toml pins no sha256; install the plugin so its component is pinned")]
    Unpinned { name: String },
    #[error("plugin {name:?}: {file} has sha256 {actual} but plugin.toml pins {expected}: refusing a modified component")]
    DigestMismatch { name: String, file: String, expected: String, actual: String },
    #[error("plugin {name:?}: {source}")]
    Cache {
        name: String,
        #[source]
        source: CacheError,
    },
    #[error("plugin {name:?}: {message}")]
    Incompatible { name: String, message: String },
    #[error("plugin {name:?}: root {}: {message}", path.display())]
    Root { name: String, path: PathBuf, message: String },
}

/// Sandbox limits for plugins whose manifest does not set its own.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub memory_limit: usize,
    pub call_timeout: Duration,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults { memory_limit: 256 << 20, call_timeout: Duration::from_secs(10) }
    }
}

/// What the daemon reports about a loaded plugin (`GET /plugins`).
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub kind: Kind,
    pub version: String,
    pub description: String,
    pub sha256: String,
    pub capabilities: Capabilities,
    pub dir: PathBuf,
    /// Compiled now, or loaded precompiled from the cache.
    pub origin: Origin,
    /// Time spent compiling or loading the component.
    pub load_time: Duration,
}

/// A loaded plugin, by kind.
#[derive(Debug)]
pub enum Plugin {
    Storage(Arc<StoragePlugin>),
    Network(Arc<NetworkPlugin>),
    Volume(Arc<VolumePlugin>),
    Restart(Arc<RestartPlugin>),
}

impl Plugin {
    /// The storage driver, if this plugin is one.
    pub fn storage(self) -> Option<Arc<StoragePlugin>> {
        match self {
            Plugin::Storage(p) => Some(p),
            _ => None,
        }
    }
}

/// Loads plugins into one engine.
pub struct Loader {
    engine: PluginEngine,
    cache: ComponentCache,
    /// WASI and every `hostctl:host` interface: one linker serves every kind.
    linker: Linker<PluginState>,
    storage_roots: PathBuf,
    volume_roots: PathBuf,
    mounter: Arc<dyn Mounter>,
    kv: Option<Arc<dyn KvBackend>>,
    ports: Option<Arc<dyn PortPublisher>>,
    defaults: Defaults,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader").field("cache", &self.cache).field("storage_roots", &self.storage_roots).finish()
    }
}

impl Loader {
    /// A loader whose precompiled code lives in `cache_dir`, whose storage drivers each get
    /// `storage_roots/<name>` as their root, and whose mounts go through `mounter`.
    pub fn new(cache_dir: &Path, storage_roots: &Path, mounter: Arc<dyn Mounter>, defaults: Defaults) -> Result<Self, LoadError> {
        let setup = |message: String| LoadError::Incompatible { name: "(runtime)".into(), message };
        let engine = PluginEngine::new().map_err(|e| setup(format!("starting wasmtime: {e}")))?;
        let cache = ComponentCache::new(cache_dir).map_err(|source| LoadError::Cache { name: "(runtime)".into(), source })?;
        let mut linker = Linker::new(engine.engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| setup(format!("linking WASI: {e}")))?;
        bindings::host::Imports::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)
            .map_err(|e| setup(format!("linking hostctl:host: {e}")))?;
        let volume_roots = storage_roots.parent().map_or_else(|| storage_roots.join("volumes"), |p| p.join("volumes"));
        Ok(Loader { engine, cache, linker, storage_roots: storage_roots.to_owned(), volume_roots, mounter, kv: None, ports: None, defaults })
    }

    /// Keep plugins' `hostctl:host/kv` stores in `kv` (without one, `kv` calls fail).
    pub fn with_kv(mut self, kv: Arc<dyn KvBackend>) -> Self {
        self.kv = Some(kv);
        self
    }

    /// Publish network plans' ports through `ports` (without one, a plan with a
    /// `publish-port` step is refused before anything is done).
    pub fn with_ports(mut self, ports: Arc<dyn PortPublisher>) -> Self {
        self.ports = Some(ports);
        self
    }

    /// Give volume drivers `dir/<name>` as their roots (default: `volumes` beside the
    /// storage roots).
    pub fn with_volume_roots(mut self, dir: &Path) -> Self {
        self.volume_roots = dir.to_owned();
        self
    }

    /// Load the plugin in `dir`.
    pub fn load(&self, dir: &Path) -> Result<(Plugin, PluginInfo), LoadError> {
        let manifest = Manifest::read(dir)?;
        let name = manifest.name.clone();
        let expected = manifest.sha256.clone().ok_or_else(|| LoadError::Unpinned { name: name.clone() })?;
        let file = manifest.wasm_file();
        let path = dir.join(&file);
        let wasm = std::fs::read(&path).map_err(|source| LoadError::Wasm { name: name.clone(), path: path.clone(), source })?;
        let actual = hex::encode(Sha256::digest(&wasm));
        if actual != expected {
            return Err(LoadError::DigestMismatch { name, file, expected, actual });
        }
        let engine = self.engine.engine();
        let (component, origin, load_time) = self
            .cache
            .load(engine, &actual, &wasm, &format!("plugin {name:?}"))
            .map_err(|source| LoadError::Cache { name: name.clone(), source })?;
        check_contract(engine, &component, &manifest)?;
        let memory_limit = match &manifest.limits.memory {
            Some(size) => parse_size(size).expect("checked when the manifest was read"),
            None => self.defaults.memory_limit,
        };
        let call_timeout = manifest.limits.call_timeout_ms.map_or(self.defaults.call_timeout, Duration::from_millis);
        let info = PluginInfo {
            name: name.clone(),
            kind: manifest.kind,
            version: manifest.version.clone(),
            description: manifest.description.clone(),
            sha256: actual,
            capabilities: manifest.capabilities.clone(),
            dir: dir.to_owned(),
            origin,
            load_time,
        };
        let root = match manifest.kind {
            Kind::Storage => Some(self.root(&self.storage_roots, &name)?),
            Kind::Volume => Some(self.root(&self.volume_roots, &name)?),
            Kind::Network | Kind::Restart => None,
        };
        let shared = Arc::new(Shared {
            name: name.clone(),
            kind: manifest.kind,
            grants: manifest.capabilities.clone(),
            root,
            kv: self.kv.clone(),
            ports: self.ports.clone(),
            memory_limit,
            call_timeout,
        });
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Incompatible { name: name.clone(), message: format!("linking: {e:#}") })?;
        let linking = |e: wasmtime::Error| LoadError::Incompatible { name: name.clone(), message: format!("linking: {e:#}") };
        let engine = engine.clone();
        let plugin = match manifest.kind {
            Kind::Storage => {
                let pre = bindings::storage::StorageDriverPre::new(instance_pre).map_err(linking)?;
                Plugin::Storage(Arc::new(StoragePlugin::new(shared, engine, pre, self.mounter.clone())))
            }
            Kind::Network => {
                let pre = bindings::network::NetworkDriverPre::new(instance_pre).map_err(linking)?;
                Plugin::Network(Arc::new(NetworkPlugin::new(shared, engine, pre)))
            }
            Kind::Volume => {
                let pre = bindings::volume::VolumeDriverPre::new(instance_pre).map_err(linking)?;
                Plugin::Volume(Arc::new(VolumePlugin::new(shared, engine, pre, self.mounter.clone())))
            }
            Kind::Restart => {
                let pre = bindings::restart::RestartPolicyPre::new(instance_pre).map_err(linking)?;
                Plugin::Restart(Arc::new(RestartPlugin::new(shared, engine, pre)))
            }
        };
        Ok((plugin, info))
    }

    /// `<roots>/<name>`, created (0700) and opened as a confinement root.
    fn root(&self, roots: &Path, name: &str) -> Result<(PathBuf, Arc<ConfinedDir>), LoadError> {
        use std::os::unix::fs::DirBuilderExt;
        let path = roots.join(name);
        let err = |message: String| LoadError::Root { name: name.to_owned(), path: path.clone(), message };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&path).map_err(|e| err(e.to_string()))?;
        let dir = ConfinedDir::open(&path).map_err(|e| err(e.to_string()))?;
        Ok((path, Arc::new(dir)))
    }
}

/// Step 4: the `hostctl:` interfaces the component uses are ones this host speaks, and
/// it exports its kind's world.
fn check_contract(engine: &wasmtime::Engine, component: &Component, manifest: &Manifest) -> Result<(), LoadError> {
    let incompatible = |message: String| LoadError::Incompatible { name: manifest.name.clone(), message };
    let ty = component.component_type();
    for (import, _) in ty.imports(engine) {
        if import.starts_with("hostctl:") && !SPOKEN.contains(&import) {
            return Err(incompatible(format!("it imports {import}, which this host does not provide (it speaks {})", spoken_versions(import))));
        }
    }
    let wanted = match manifest.kind {
        Kind::Storage => "hostctl:storage/driver@0.1.0",
        Kind::Network => "hostctl:network/driver@0.1.0",
        Kind::Volume => "hostctl:volume/driver@0.1.0",
        Kind::Restart => "hostctl:restart/policy@0.1.0",
    };
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    if exports.contains(&wanted) {
        return Ok(());
    }
    let unversioned = wanted.split('@').next().expect("split yields one part");
    match exports.iter().find(|e| e.split('@').next() == Some(unversioned)) {
        Some(other) => Err(incompatible(format!("it exports {other}, but this host speaks {wanted}"))),
        None => Err(incompatible(format!("it does not export {wanted}; is it a {} plugin?", manifest.kind))),
    }
}

/// The versions this host speaks of the package `name` belongs to.
fn spoken_versions(name: &str) -> String {
    let package = name.split('/').next().unwrap_or(name);
    let versions: Vec<&str> = SPOKEN.iter().copied().filter(|s| s.starts_with(package)).collect();
    if versions.is_empty() { format!("no version of {package}") } else { versions.join(", ") }
}
