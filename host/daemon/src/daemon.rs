//! Starting, serving and stopping the daemon.
//!
//! Start-up, in order: lock the pidfile (one daemon per pidfile), open the state store
//! (one daemon per data root), load every plugin, pick the storage driver, open the image
//! service (which cleans up what a crash left half-done), bind the socket (refusing one
//! another daemon serves), serve until SIGTERM or SIGINT, then remove socket and pidfile.
//! A start-up that fails after locking the pidfile removes it too ([`Pidfile`]).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use hostctl_kernel::mount::Kernel;
use hostctl_plugin_runtime::manifest::parse_size;
use hostctl_plugin_runtime::{Defaults, DriverInfo, Loader, Registry, StoragePlugin};
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

use crate::ports::PortProxy;
use crate::config::Config;
use crate::pidfile::Pidfile;
use crate::containers::{ContainerService, ContainersConfig};
use crate::events::EventBus;
use crate::images::ImageService;
use crate::networks::{NetworkService, NetworksConfig};
use crate::state::StateStore;
use crate::volumes::VolumeService;

/// Everything the API serves from.
pub struct Daemon {
    pub config: Config,
    pub registry: Registry,
    pub storage: Arc<StoragePlugin>,
    pub driver_info: DriverInfo,
    pub events: Arc<EventBus>,
    pub images: Arc<ImageService>,
    pub containers: ContainerService,
    pub networks: Arc<NetworkService>,
    pub volumes: VolumeService,
    /// Cancelled when the daemon starts to stop: long-lived streams (`/events`, `wait`,
    /// `logs -f`) end on it so the graceful shutdown does not wait for them.
    pub shutdown: CancellationToken,
    /// Keeps the wasmtime engine (and its epoch ticker) alive.
    _loader: Loader,
}

impl Daemon {
    /// Open everything under `config` (no socket yet).
    pub fn open(config: Config) -> anyhow::Result<Self> {
        let root = &config.data_root;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .with_context(|| format!("creating the data root {}", root.display()))?;
        let state = Arc::new(StateStore::open(&root.join("state.db"))?);
        let defaults = Defaults {
            memory_limit: parse_size(&config.plugins.memory_limit).map_err(|e| anyhow::anyhow!("[plugins] memory-limit: {e}"))?,
            call_timeout: Duration::from_millis(config.plugins.call_timeout_ms),
        };
        let mut loader = Loader::new(&root.join("plugins/cache"), &root.join("storage"), Arc::new(Kernel), defaults)?
            .with_volume_roots(&root.join("volumes"))
            .with_kv(state.clone());
        // Published ports are proxied by tasks on the daemon's runtime; opened outside one
        // (a tool reading the data root), nothing can be published.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            loader = loader.with_ports(Arc::new(PortProxy::new(runtime)));
        }
        let registry = Registry::load_dir(&loader, &config.plugins.dir);
        let driver = &config.storage.driver;
        let Some(storage) = registry.storage(driver) else {
            let why = registry
                .failures()
                .iter()
                .find(|f| f.dir.file_name().is_some_and(|n| n == driver.as_str()))
                .map(|f| format!("it failed to load: {}", f.error))
                .unwrap_or_else(|| format!("it is not installed in {}", config.plugins.dir.display()));
            bail!("storage driver plugin {driver:?} is not available: {why}");
        };
        let driver_info = storage.info()?;
        let events = Arc::new(EventBus::open(config.events.host.clone().unwrap_or_else(host_name), &root.join("events"), &config.events)?);
        let images = Arc::new(ImageService::open(&root.join("image"), state.clone(), storage.clone(), events.clone())?);
        let volumes = VolumeService::open(&registry, &config.volumes.driver, state.clone(), events.clone())?;
        let networks = Arc::new(NetworkService::new(
            state.clone(),
            events.clone(),
            &registry,
            NetworksConfig { default_bridge: config.networks.default_bridge.clone(), default_subnet: config.networks.default_subnet.clone() },
        ));
        if config.containers.cgroup_version != hostctl_kernel::cgroups::VersionChoice::Auto {
            hostctl_kernel::cgroups::Hierarchies::detect()
                .and_then(|h| h.choose(config.containers.cgroup_version))
                .context("config: [containers] cgroup-version")?;
        }
        let containers = ContainerService::new(
            ContainersConfig {
                root: root.join("containers"),
                cgroup_parent: config.containers.cgroup_parent.clone(),
                cgroup_version: config.containers.cgroup_version,
                hostctl: std::env::current_exe().context("finding the hostctl binary (it runs the shims)")?,
                netns_root: root.join("netns"),
                init_path: config.containers.init_path.clone(),
            },
            state,
            images.clone(),
            storage.clone(),
            events.clone(),
            registry.restart(&config.restart.plugin),
            networks.clone(),
            volumes.clone(),
        )?;
        Ok(Daemon {
            config,
            registry,
            storage,
            driver_info,
            events,
            images,
            containers,
            networks,
            volumes,
            shutdown: CancellationToken::new(),
            _loader: loader,
        })
    }
}

/// Run the daemon described by `config` until a signal stops it.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    // Held to the end, and removed then, however serving or start-up ends.
    let _pidfile = Pidfile::lock(&config.pidfile())?;
    let socket = config.socket.clone();
    let daemon = Arc::new(tokio::task::block_in_place(|| Daemon::open(config))?);
    let shutdown = daemon.shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        shutdown.cancel();
    });
    crate::events::start(&daemon.events, &daemon.config.events, daemon.shutdown.clone())?;
    daemon.networks.ensure_defaults().await?;
    daemon.containers.recover().await?;
    let listener = bind(&socket)?;
    tracing::info!(socket = %socket.display(), driver = %daemon.driver_info.name, "serving");
    let stopping = daemon.shutdown.clone().cancelled_owned();
    let served = axum::serve(listener, crate::api::router(daemon)).with_graceful_shutdown(stopping).await;
    let _ = std::fs::remove_file(&socket);
    tracing::info!("stopped");
    served.context("serving the API")
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

/// Bind the API socket: mode 0660, group `hostctl` when that group exists. A stale socket
/// file is replaced; one another daemon answers on is refused.
fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another daemon is already serving {}", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(gid) = group_id("hostctl") {
        rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))
            .with_context(|| format!("giving {} to group hostctl", path.display()))?;
    }
    Ok(listener)
}

/// The id of group `name` from /etc/group.
fn group_id(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then(|| fields.nth(1)?.parse().ok())?
    })
}

/// This machine's name, for event subjects: the kernel's hostname.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "localhost".into())
}

/// Where the daemon logs when detached and no log file is configured.
pub fn default_detached_log() -> PathBuf {
    PathBuf::from("/var/log/hostctl.log")
}
