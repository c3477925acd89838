//! The container service: `create`, `start`, `stop`, `kill`, `rm`, `wait`, `ps`, `logs`,
//! `inspect`, and the supervision of running containers through their shims.
//!
//! A container's life, and who does what:
//! - **create** checks its limits against Docker's ranges ([`resources`]), resolves its
//!   capabilities, devices, ulimits and init against the host ([`security`]), records the
//!   container (state store) and asks the storage plugin for its writable layer on the
//!   image's top layer; publishes `create`.
//! - **start** mounts the rootfs (the storage plugin's mount plan), records the mount,
//!   writes the bundle (`config.json`, an OCI runtime spec, see [`spec`]), and runs
//!   `hostctl shim start` ([`shim`]), which returns once the command exec'd. The daemon
//!   records `running`, publishes `start`, and a monitor task waits on the shim's socket.
//! - **exit** (seen by the monitor, or at the next daemon start from `exit.json`): the
//!   daemon records `exited` with the code and OOM flag, unmounts the rootfs, publishes
//!   `oom` (if so) and `die` (exitCode, execDuration), wakes waiters, and for `--rm`
//!   removes the container (`destroy`).
//! - **stop** sends the stop signal, waits, then SIGKILL (`kill` events for each), and
//!   publishes `stop` once the exit is handled; **kill** sends one signal.
//! - **rm** removes the writable layer, the bundle and the record (`destroy`); `-f` kills
//!   a running container first.
//!
//! The shim owns the container's process, log and cgroups; the daemon can die at any
//! point. [`ContainerService::recover`] re-adopts running containers (or learns their exit
//! from `exit.json`) and undoes half-finished starts (a rootfs mounted for a container
//! that is not running).

pub mod attach;
mod devices;
mod error;
mod inspect;
pub mod logs;
mod names;
pub mod records;
mod resources;
mod restart;
pub mod seccomp;
mod security;
mod shim;
pub mod signals;
pub mod spec;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hostctl_api::types::{ContainerCreate, ContainerSummary, PortSummary};
use hostctl_image::timestamp::{format_rfc3339, parse_rfc3339};
use hostctl_plugin_runtime::{RestartPlugin, StoragePlugin};
use hostctl_shim::bundle::Bundle;
use hostctl_shim::protocol::ExitInfo;
use rand::RngCore;
use tokio::sync::watch;

pub use error::ContainerError;
use records::{ContainerRecord, State, Status};

use crate::events::EventBus;
use crate::images::ImageService;
use crate::networks::{DEFAULT_NETWORK, NetworkService};
use crate::volumes::VolumeService;
use crate::state::{StateStore, Table};

/// The PATH a container gets when neither its image nor its request sets one (Docker's).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long `stop` waits after the stop signal before SIGKILL, unless told (Docker's).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What waiters of one container see change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitState {
    /// How many exits have been handled (a waiter for the next exit waits for this to grow).
    pub exits: u64,
    pub exit_code: i32,
    pub running: bool,
    /// How many times it started (0: created, never started yet).
    pub starts: u64,
    pub removed: bool,
}

/// What `wait` waits for (Docker's `condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Return at once if not running, else at the next exit.
    NotRunning,
    /// Return at the next exit.
    NextExit,
    /// Return once the container is removed.
    Removed,
}

/// Options of the container service.
#[derive(Debug, Clone)]
pub struct ContainersConfig {
    /// Where bundles live (`<data-root>/containers`).
    pub root: PathBuf,
    /// The parent of each container's cgroup, relative to each hierarchy's root.
    pub cgroup_parent: String,
    /// The cgroup version containers are placed in (`[containers] cgroup-version`).
    pub cgroup_version: hostctl_kernel::cgroups::VersionChoice,
    /// The `hostctl` binary that runs shims.
    pub hostctl: PathBuf,
    /// Where containers' network namespaces are kept (`<data-root>/netns`).
    pub netns_root: PathBuf,
    /// The static init `--init` binds in (`[containers] init-path`).
    pub init_path: PathBuf,
}

/// The container service; cheap to clone (all clones share one state).
/// The next change of a container's state, as a log follower awaits it.
pub type Change = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

#[derive(Clone)]
pub struct ContainerService {
    inner: Arc<Inner>,
}

struct Inner {
    config: ContainersConfig,
    state: Arc<StateStore>,
    images: Arc<ImageService>,
    storage: Arc<StoragePlugin>,
    events: Arc<EventBus>,
    /// The restart policy plugin, if one is loaded.
    restart: Option<Arc<RestartPlugin>>,
    networks: Arc<NetworkService>,
    volumes: VolumeService,
    /// Restarts waiting for their delay, by container.
    pending: Mutex<HashMap<String, tokio_util::sync::CancellationToken>>,
    /// Containers a user is stopping or killing: their next exit is not the policy's.
    user_stopping: Mutex<HashSet<String>>,
    /// Containers a restart policy is starting right now (past their delay).
    restarting_now: Mutex<HashSet<String>>,
    /// Per container: its exit state, for waiters.
    watches: Mutex<HashMap<String, watch::Sender<ExitState>>>,
    /// Per container: serializes start, exit handling and removal.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ContainerService {
    /// Open the service. Call [`ContainerService::recover`] once the runtime runs.
    pub fn new(
        config: ContainersConfig,
        state: Arc<StateStore>,
        images: Arc<ImageService>,
        storage: Arc<StoragePlugin>,
        events: Arc<EventBus>,
        restart: Option<Arc<RestartPlugin>>,
        networks: Arc<NetworkService>,
        volumes: VolumeService,
    ) -> Result<Self, ContainerError> {
        std::fs::create_dir_all(&config.root).map_err(|source| ContainerError::Io { id: String::new(), what: "creating the containers dir", source })?;
        Ok(ContainerService {
            inner: Arc::new(Inner {
                config,
                state,
                images,
                storage,
                events,
                restart,
                networks,
                volumes,
                pending: Mutex::default(),
                user_stopping: Mutex::default(),
                restarting_now: Mutex::default(),
                watches: Mutex::default(),
                locks: Mutex::default(),
            }),
        })
    }

    fn bundle(&self, id: &str) -> Bundle {
        Bundle::new(self.inner.config.root.join(id))
    }

    fn lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.inner.locks.lock().expect("locks").entry(id.to_owned()).or_default().clone()
    }

    fn watch(&self, record: &ContainerRecord) -> watch::Receiver<ExitState> {
        let mut watches = self.inner.watches.lock().expect("watches");
        watches
            .entry(record.id.clone())
            .or_insert_with(|| {
                watch::channel(ExitState {
                    exits: 0,
                    exit_code: record.state.exit_code,
                    running: record.state.status == Status::Running,
                    starts: u64::from(record.state.status != Status::Created),
                    removed: false,
                })
                .0
            })
            .subscribe()
    }

    fn notify(&self, id: &str, f: impl FnOnce(&mut ExitState)) {
        if let Some(tx) = self.inner.watches.lock().expect("watches").get(id) {
            tx.send_modify(f);
        }
    }

    fn save(&self, record: &ContainerRecord) -> Result<(), ContainerError> {
        self.inner.state.write(|t| t.put(Table::Containers, &record.id, record))?;
        Ok(())
    }

    /// Every container record.
    fn records(&self) -> Result<Vec<ContainerRecord>, ContainerError> {
        Ok(self.inner.state.list::<ContainerRecord>(Table::Containers)?.into_iter().map(|(_, r)| r).collect())
    }

    /// The containers on network `network` now: (id, name, its endpoint there).
    pub fn on_network(&self, network: &str) -> Result<Vec<(String, String, crate::networks::Endpoint)>, ContainerError> {
        Ok(self
            .records()?
            .into_iter()
            .filter_map(|r| {
                let endpoint = r.endpoints.into_iter().find(|e| e.network == network)?;
                Some((r.id, r.name, endpoint))
            })
            .collect())
    }

    /// The container `name` names: a full id, a unique id prefix, or a name (`/` optional).
    pub fn resolve(&self, name: &str) -> Result<ContainerRecord, ContainerError> {
        if let Some(record) = self.inner.state.get::<ContainerRecord>(Table::Containers, name)? {
            return Ok(record);
        }
        let records = self.records()?;
        let bare = name.strip_prefix('/').unwrap_or(name);
        if let Some(record) = records.iter().find(|r| r.name == bare) {
            return Ok(record.clone());
        }
        let matches: Vec<&ContainerRecord> = records.iter().filter(|r| !name.is_empty() && r.id.starts_with(name)).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ContainerError::NotFound(name.to_owned())),
            _ => Err(ContainerError::Invalid(format!("container id prefix {name:?} is ambiguous"))),
        }
    }

    /// Publish `action` about `record`, with Docker's attributes (name, image, its labels)
    /// and `extra`.
    fn publish(&self, record: &ContainerRecord, action: &str, extra: impl IntoIterator<Item = (&'static str, String)>) {
        let mut attrs: Vec<(&str, String)> = vec![("name", record.name.clone()), ("image", record.image.clone())];
        attrs.extend(record.labels.iter().map(|(k, v)| (k.as_str(), v.clone())));
        for (k, v) in extra {
            attrs.push((k, v));
        }
        self.inner.events.publish("container", action, &record.id, attrs);
    }

    /// `POST /containers/create`.
    pub async fn create(&self, name: Option<&str>, request: ContainerCreate) -> Result<ContainerRecord, ContainerError> {
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => names::validate(n).map_err(ContainerError::Invalid)?,
            None => loop {
                let candidate = names::generate();
                if self.resolve(&candidate).is_err() {
                    break candidate;
                }
            },
        };
        let mut request = request;
        request.host_config.network_mode = match request.host_config.network_mode.as_str() {
            // Docker's default: the `bridge` network, when its driver is installed.
            "" | "default" => {
                if self.inner.networks.resolve(DEFAULT_NETWORK).is_ok() { DEFAULT_NETWORK.to_owned() } else { "none".to_owned() }
            }
            "none" | "host" => request.host_config.network_mode.clone(),
            name => self.inner.networks.resolve(name).map_err(|e| ContainerError::Network(e.to_string()))?.name,
        };
        for bind in &request.host_config.binds {
            attach::Bind::parse(bind).map_err(ContainerError::Invalid)?;
        }
        resources::check(&request.host_config, &resources::Host::detect()).map_err(ContainerError::Invalid)?;
        resources::adapt(&mut request.host_config);
        let granted = security::resolve(&request.host_config, &self.inner.config.init_path, &security::Host::detect())?;
        let security = seccomp::SecurityOptions::parse(&request.host_config.security_opt).map_err(ContainerError::Invalid)?;
        seccomp::check(&security).map_err(ContainerError::Invalid)?;
        let images = self.inner.images.clone();
        let image_name = request.image.clone();
        let (image, image_config) = tokio::task::spawn_blocking(move || {
            let record = images.resolve(&image_name)?;
            let config = images.container_config(&record)?;
            Ok::<_, crate::images::ImageError>((record, config))
        })
        .await
        .expect("image lookup does not panic")?;

        let mut id_bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut id_bytes);
        let id = hex::encode(id_bytes);
        let entrypoint = match &request.entrypoint {
            Some(e) => e.clone(),
            None => image_config.entrypoint.clone().unwrap_or_default(),
        };
        let cmd = if !request.cmd.is_empty() {
            request.cmd.clone()
        } else if request.entrypoint.is_some() {
            Vec::new()
        } else {
            image_config.cmd.clone().unwrap_or_default()
        };
        let command: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if command.is_empty() {
            return Err(ContainerError::Invalid(format!("no command specified: image {} has no Cmd or Entrypoint", request.image)));
        }
        let hostname = request.hostname.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| id[..12].to_owned());
        let env = merge_env(image_config.env.clone().unwrap_or_default(), &request.env, &hostname);
        let mut labels = image_config.labels.clone().unwrap_or_default();
        labels.extend(request.labels.clone());
        let record = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            created: format_rfc3339(SystemTime::now()),
            image: request.image.clone(),
            image_id: image.id,
            command,
            env,
            working_dir: request.working_dir.clone().filter(|w| !w.is_empty()).or(image_config.working_dir.clone()).unwrap_or_default(),
            hostname,
            user: request.user.clone().or(image_config.user.clone()).unwrap_or_default(),
            labels,
            stop_signal: image_config.stop_signal.clone().unwrap_or_else(|| "SIGTERM".into()),
            host_config: request.host_config.clone(),
            granted,
            cgroup_path: format!("/{}/{id}", self.inner.config.cgroup_parent.trim_matches('/')),
            state: State::created(),
            rootfs: None,
            restart_count: 0,
            restart_delay_ms: 0,
            stopped_by_user: false,
            netns: None,
            endpoints: Vec::new(),
            mounts: Vec::new(),
            mount_points: Vec::new(),
            security,
        };
        self.validate_restart(&record).await?;
        if !record.working_dir.is_empty() && !record.working_dir.starts_with('/') {
            return Err(ContainerError::Invalid(format!("working directory {:?} is not an absolute path", record.working_dir)));
        }
        let mut record = record;
        record.mount_points = self.mount_points(&record.host_config.binds).await?;
        let lock = self.lock(&id);
        let _held = lock.lock().await;
        // The record is written first, so a name is taken before anything is made.
        self.inner.state.write(|t| {
            let taken = t.get::<ContainerRecord>(Table::Containers, &id)?.is_some();
            if taken {
                return Err(crate::state::StateError::Corrupt { table: Table::Containers, key: id.clone(), message: "id collision".into() });
            }
            t.put(Table::Containers, &id, &record)
        })?;
        if self.records()?.iter().any(|r| r.name == name && r.id != id) {
            self.inner.state.write(|t| t.delete(Table::Containers, &id))?;
            return Err(ContainerError::Conflict(format!("the container name \"/{name}\" is already in use")));
        }
        let storage = self.inner.storage.clone();
        let top = image.layers.last().map(|c| c.hex());
        let layer_id = id.clone();
        let made = tokio::task::spawn_blocking(move || storage.create_layer(&layer_id, top.as_deref())).await.expect("no panic");
        // The bundle, with its (empty) log: a foreground `run` opens the log before the
        // container starts, and reads it to the end through that handle even when the
        // container is gone, with its bundle, before the first read (`run --rm true`).
        let bundle = self.bundle(&id);
        let made = made.map_err(ContainerError::from).and_then(|()| {
            std::fs::create_dir_all(bundle.dir())
                .and_then(|()| {
                    use std::os::unix::fs::OpenOptionsExt;
                    std::fs::OpenOptions::new().create(true).append(true).mode(0o640).open(bundle.log()).map(drop)
                })
                .map_err(|source| ContainerError::Io { id: id.clone(), what: "creating its bundle", source })
        });
        if let Err(err) = made {
            self.forget(&record).await;
            return Err(err);
        }
        self.watch(&record);
        self.publish(&record, "create", []);
        Ok(record)
    }

    /// Remove what `create` made for `record` (no events: it never existed for users).
    async fn forget(&self, record: &ContainerRecord) {
        let storage = self.inner.storage.clone();
        let id = record.id.clone();
        let _ = tokio::task::spawn_blocking(move || storage.remove(&id)).await;
        let _ = std::fs::remove_dir_all(self.bundle(&record.id).dir());
        let _ = self.inner.state.write(|t| t.delete(Table::Containers, &record.id));
    }

    /// `POST /containers/{id}/start`: a manual start, which resets the restart count.
    /// `Ok(false)` if it was running already.
    pub async fn start(&self, name: &str) -> Result<bool, ContainerError> {
        let id = self.resolve(name)?.id;
        self.cancel_restart(&id);
        self.start_inner(&id, true).await
    }

    /// Start `id`; a `manual` start resets its restart count and its "stopped by a user".
    pub(super) async fn start_inner(&self, id: &str, manual: bool) -> Result<bool, ContainerError> {
        let id = id.to_owned();
        let lock = self.lock(&id);
        let _held = lock.lock().await;
        let mut record = self.resolve(&id)?;
        if record.state.status == Status::Running {
            return Ok(false);
        }
        if manual {
            record.restart_count = 0;
            record.restart_delay_ms = 0;
            record.stopped_by_user = false;
        }
        record.state.restarting = false;
        let bundle = self.bundle(&id);
        let t0 = std::time::Instant::now();
        // Mount, and record the mount before relying on it.
        let storage = self.inner.storage.clone();
        let layer = id.clone();
        let mounted = tokio::task::spawn_blocking(move || storage.mount(&layer)).await.expect("no panic")?;
        record.rootfs = Some(mounted.clone());
        // Where its network namespace will be, saved with the mount (one commit less).
        if attach::network_of(&record).is_some() {
            record.netns = Some(self.netns_path(&id));
        }
        let t_mount = t0.elapsed();
        self.save(&record)?;
        let attached = self.attach(&mut record).await;
        let t_saved = t0.elapsed();
        let started = async {
            attached?;
            let _ = std::fs::remove_file(bundle.exit());
            write_file(&bundle.hostname_file(), &format!("{}\n", record.hostname), &id)?;
            let hosts = if record.host_config.network_mode == "host" {
                std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| spec::hosts_file(&record.hostname, None))
            } else {
                spec::hosts_file(&record.hostname, attach::address(&record))
            };
            write_file(&bundle.hosts_file(), &hosts, &id)?;
            let mut config = spec::build(&record, &mounted.rootfs, &bundle)?;
            if self.inner.config.cgroup_version != hostctl_kernel::cgroups::VersionChoice::Auto {
                let annotations = config.annotations_mut().get_or_insert_with(Default::default);
                annotations.insert(hostctl_kernel::cgroups::VERSION_ANNOTATION.into(), self.inner.config.cgroup_version.to_string());
            }
            let json = serde_json::to_vec_pretty(&config).expect("specs serialize");
            std::fs::write(bundle.config(), json).map_err(|source| ContainerError::Io { id: id.clone(), what: "writing config.json", source })?;
            Ok::<_, ContainerError>(shim::start(&self.inner.config.hostctl, &bundle, &id).await)
        }
        .await;
        let failure = match started {
            Ok(Ok(started)) => Ok(started),
            Ok(Err(shim::ShimError::StartFailed(f))) => Err((f.message, f.exit_code)),
            Ok(Err(other)) => Err((other.to_string(), 125)),
            Err(other) => Err((other.to_string(), 125)),
        };
        let t_shim = t0.elapsed();
        let started = match failure {
            Ok(started) => started,
            Err((message, exit_code)) => {
                self.release(&mut record).await;
                self.unmount(&mut record).await;
                record.state.exit_code = exit_code;
                record.state.error = message.clone();
                self.save(&record)?;
                return Err(ContainerError::StartFailed { id, message, exit_code });
            }
        };
        record.state = State {
            status: Status::Running,
            pid: started.pid,
            shim_pid: started.shim_pid,
            exit_code: 0,
            oom_killed: false,
            restarting: false,
            error: String::new(),
            started_at: Some(started.started_at),
            finished_at: None,
        };
        attach::learn_mac(&mut record, started.pid);
        self.save(&record)?;
        tracing::debug!(
            container = %id,
            mount_ms = t_mount.as_secs_f64() * 1e3,
            attach_ms = (t_saved - t_mount).as_secs_f64() * 1e3,
            shim_ms = (t_shim - t_saved).as_secs_f64() * 1e3,
            total_ms = t0.elapsed().as_secs_f64() * 1e3,
            "started"
        );
        self.watch(&record);
        self.notify(&id, |s| {
            s.running = true;
            s.starts += 1;
        });
        self.publish(&record, "start", []);
        self.monitor(id);
        Ok(true)
    }

    /// Wait on the shim for the container's exit, then handle it.
    fn monitor(&self, id: String) {
        let this = self.clone();
        tokio::spawn(async move {
            let bundle = this.bundle(&id);
            let info = match shim::wait(&bundle).await {
                Ok(info) => info,
                Err(err) => match shim::recorded_exit(&bundle) {
                    Some(info) => info,
                    None => {
                        tracing::error!(container = %id, "lost its shim without an exit record: {err}");
                        this.mark_dead(&id, &err.to_string()).await;
                        return;
                    }
                },
            };
            if let Err(err) = this.handle_exit(&id, info).await {
                tracing::error!(container = %id, "handling its exit: {err}");
            }
        });
    }

    /// Publish `oom`/`die`, record the exit and unmount, wake waiters, auto-remove.
    async fn handle_exit(&self, id: &str, info: ExitInfo) -> Result<(), ContainerError> {
        let auto_remove;
        let exited;
        {
            let lock = self.lock(id);
            let _held = lock.lock().await;
            let Ok(mut record) = self.resolve(id) else { return Ok(()) };
            if record.state.status != Status::Running {
                return Ok(());
            }
            if info.oom_killed {
                self.publish(&record, "oom", []);
            }
            // Docker's order: the container is exited (so whoever reads `die` and inspects
            // at once sees it so), then `die`, then the network disconnects and volume
            // unmounts. A crash in between leaves an exited record still holding its
            // rootfs and netns, which recovery tears down at the next start.
            record.state.status = Status::Exited;
            record.state.exit_code = info.exit_code;
            record.state.oom_killed = info.oom_killed;
            record.state.pid = 0;
            record.state.shim_pid = 0;
            record.state.finished_at = Some(info.finished_at.clone());
            self.save(&record)?;
            let duration = exec_duration(&info.started_at, &info.finished_at);
            self.publish(&record, "die", [("exitCode", info.exit_code.to_string()), ("execDuration", duration.to_string())]);
            self.release(&mut record).await;
            self.unmount(&mut record).await;
            self.save(&record)?;
            self.notify(id, |s| {
                s.exits += 1;
                s.exit_code = info.exit_code;
                s.running = false;
            });
            auto_remove = record.host_config.auto_remove;
            exited = record;
        }
        if auto_remove {
            self.remove(id, false).await?;
        } else {
            self.after_exit(exited).await?;
        }
        Ok(())
    }

    /// A running container whose shim vanished without an exit record.
    async fn mark_dead(&self, id: &str, why: &str) {
        let lock = self.lock(id);
        let _held = lock.lock().await;
        let Ok(mut record) = self.resolve(id) else { return };
        record.state.status = Status::Dead;
        record.state.exit_code = 255;
        record.state.error = format!("its shim vanished: {why}");
        record.state.finished_at = Some(format_rfc3339(SystemTime::now()));
        let _ = self.save(&record);
        self.publish(&record, "die", [("exitCode", "255".to_owned())]);
        self.release(&mut record).await;
        self.unmount(&mut record).await;
        let _ = self.save(&record);
        self.notify(id, |s| {
            s.exits += 1;
            s.exit_code = 255;
            s.running = false;
        });
    }

    /// Unmount `record`'s rootfs if it is mounted (best effort, logged), and forget it;
    /// the caller saves the record.
    async fn unmount(&self, record: &mut ContainerRecord) {
        if let Some(mounted) = record.rootfs.take() {
            let storage = self.inner.storage.clone();
            let id = record.id.clone();
            let done = tokio::task::spawn_blocking(move || storage.unmount(&id, &mounted)).await.expect("no panic");
            if let Err(err) = done {
                tracing::error!(container = %record.id, "unmounting its rootfs: {err}");
            }
        }
    }

    /// `POST /containers/{id}/kill`: send `signal` (a number) to the container.
    pub async fn kill(&self, name: &str, signal: i32) -> Result<(), ContainerError> {
        let record = self.resolve(name)?;
        if record.state.status != Status::Running {
            // A user's kill also cancels a restart that is waiting.
            if self.cancel_restart(&record.id) {
                self.mark_stopped_by_user(&record.id);
                return Ok(());
            }
            return Err(ContainerError::Conflict(format!("container {} is not running", record.name)));
        }
        // As Docker's: SIGKILL and the container's stop signal end it for good (its
        // restart policy waits for the next start); another signal (SIGUSR1, SIGHUP)
        // leaves the policy in place, should the container exit on it.
        let stop_signal = signals::parse(&record.stop_signal).unwrap_or(libc::SIGTERM);
        if signal == libc::SIGKILL || signal == stop_signal {
            self.user_stops(&record.id);
        }
        self.signal(&record, signal).await
    }

    /// Send `signal` to a running container (no policy bookkeeping).
    async fn signal(&self, record: &ContainerRecord, signal: i32) -> Result<(), ContainerError> {
        self.publish(record, "kill", [("signal", signal.to_string())]);
        shim::kill(&self.bundle(&record.id), signal).await?;
        Ok(())
    }

    /// A user stopped a container that was not running (its waiting restart cancelled).
    fn mark_stopped_by_user(&self, id: &str) {
        if let Ok(mut record) = self.resolve(id) {
            record.stopped_by_user = true;
            record.state.restarting = false;
            let _ = self.save(&record);
        }
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after `timeout`.
    /// `Ok(false)` if it was not running.
    pub async fn stop(&self, name: &str, timeout: Option<Duration>) -> Result<bool, ContainerError> {
        let record = self.resolve(name)?;
        if record.state.status != Status::Running {
            // A restart waiting for its delay, or already starting the container: the
            // user's stop wins (the starting one sees it, and its exit is not restarted).
            if self.user_stops(&record.id) || self.inner.restarting_now.lock().expect("restarting_now").contains(&record.id) {
                self.mark_stopped_by_user(&record.id);
                self.publish(&record, "stop", []);
                return Ok(true);
            }
            self.inner.user_stopping.lock().expect("user_stopping").remove(&record.id);
            return Ok(false);
        }
        self.user_stops(&record.id);
        let signal = signals::parse(&record.stop_signal).unwrap_or(libc::SIGTERM);
        let exited = self.waiter(&record.id, WaitCondition::NotRunning)?;
        tokio::pin!(exited);
        if self.signal(&record, signal).await.is_ok() {
            let grace = tokio::time::sleep(timeout.unwrap_or(DEFAULT_STOP_TIMEOUT));
            tokio::select! {
                _ = &mut exited => {}
                _ = grace => {
                    if self.signal(&record, libc::SIGKILL).await.is_ok() {
                        exited.await;
                    }
                }
            }
        } else {
            // It exited between our look and the signal.
            exited.await;
        }
        self.publish(&record, "stop", []);
        Ok(true)
    }

    /// `POST /containers/{id}/wait`: the exit code once `condition` holds.
    pub async fn wait(&self, name: &str, condition: WaitCondition) -> Result<i32, ContainerError> {
        Ok(self.waiter(name, condition)?.await)
    }

    /// A future of the exit code once `condition` holds, measured from now (not from its
    /// first poll: a `stop` that signals before it polls must not miss a quick exit).
    pub fn waiter(&self, name: &str, condition: WaitCondition) -> Result<impl Future<Output = i32> + Send + 'static, ContainerError> {
        let record = self.resolve(name)?;
        let mut rx = self.watch(&record);
        let start = *rx.borrow_and_update();
        Ok(async move {
            let mut now = start;
            loop {
                match condition {
                    WaitCondition::NotRunning if !now.running => return now.exit_code,
                    WaitCondition::NextExit if now.exits > start.exits => return now.exit_code,
                    WaitCondition::Removed if now.removed => return now.exit_code,
                    _ => {}
                }
                if rx.changed().await.is_err() {
                    // The container is gone: its last state is the answer.
                    return rx.borrow().exit_code;
                }
                now = *rx.borrow_and_update();
            }
        })
    }

    /// `DELETE /containers/{id}`: remove a stopped container (`force` kills it first).
    pub async fn remove(&self, name: &str, force: bool) -> Result<(), ContainerError> {
        let record = self.resolve(name)?;
        if record.state.status == Status::Running {
            if !force {
                return Err(ContainerError::Conflict(format!(
                    "you cannot remove a running container {}: stop it first, or remove it with --force",
                    record.name
                )));
            }
            let exited = self.waiter(&record.id, WaitCondition::NotRunning)?;
            self.user_stops(&record.id);
            if self.signal(&record, libc::SIGKILL).await.is_ok() {
                exited.await;
            }
        }
        let id = record.id.clone();
        let lock = self.lock(&id);
        let _held = lock.lock().await;
        let Ok(mut record) = self.resolve(&id) else { return Ok(()) };
        self.cancel_restart(&id);
        self.unmount(&mut record).await;
        let storage = self.inner.storage.clone();
        let layer = id.clone();
        tokio::task::spawn_blocking(move || storage.remove(&layer)).await.expect("no panic")?;
        match std::fs::remove_dir_all(self.bundle(&id).dir()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ContainerError::Io { id, what: "removing its bundle", source: e });
            }
            _ => {}
        }
        self.inner.state.write(|t| t.delete(Table::Containers, &id))?;
        self.publish(&record, "destroy", []);
        self.notify(&id, |s| s.removed = true);
        self.inner.watches.lock().expect("watches").remove(&id);
        self.inner.locks.lock().expect("locks").remove(&id);
        Ok(())
    }

    /// `GET /containers/json`.
    pub fn list(&self, all: bool) -> Result<Vec<ContainerSummary>, ContainerError> {
        let mut records = self.records()?;
        records.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(records
            .into_iter()
            .filter(|r| all || r.state.status == Status::Running)
            .map(|r| ContainerSummary {
                names: vec![format!("/{}", r.name)],
                image: r.image.clone(),
                image_id: r.image_id.to_string(),
                command: r.command.join(" "),
                created: parse_rfc3339(&r.created).ok().and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs() as i64),
                state: r.state.status.as_str().to_owned(),
                status: status_line(&r.state),
                labels: r.labels.clone(),
                ports: r
                    .endpoints
                    .iter()
                    .flat_map(|e| &e.ports)
                    .map(|p| PortSummary {
                        ip: p.host_ip.clone().unwrap_or_else(|| "0.0.0.0".into()),
                        private_port: p.container_port,
                        public_port: p.host_port,
                        protocol: p.protocol.clone(),
                    })
                    .collect(),
                id: r.id,
            })
            .collect())
    }

    /// The names of containers attached to network `network_id` now (with an endpoint on
    /// it, as Docker's "active endpoints"; a stopped container holds none).
    pub fn users_of_network(&self, network_id: &str) -> Result<Vec<String>, ContainerError> {
        Ok(self.records()?.into_iter().filter(|r| r.endpoints.iter().any(|e| e.network_id == network_id)).map(|r| r.name).collect())
    }

    /// The bundle's log file and whether the container may still write to it: while it
    /// runs, and before its first start (a foreground `run` follows the log before it
    /// starts the container).
    /// With it: a future that resolves when the container's state changes (an exit),
    /// for a follower to end without waiting for its next poll.
    pub fn log_source(&self, name: &str) -> Result<(PathBuf, impl Fn() -> bool + Send + Sync + 'static, impl FnMut() -> Change + Send + 'static), ContainerError> {
        let record = self.resolve(name)?;
        let rx = self.watch(&record);
        let mut changes = rx.clone();
        let running = move || {
            let s = rx.borrow();
            s.running || (s.starts == 0 && !s.removed)
        };
        let changed = move || {
            let mut rx = changes.clone();
            changes.mark_unchanged();
            Box::pin(async move {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }) as Change
        };
        Ok((self.bundle(&record.id).log(), running, changed))
    }

    /// Start-up: re-adopt running containers, learn exits that happened while the daemon
    /// was down, undo half-finished starts. Runs inside the tokio runtime (it starts
    /// monitors).
    pub async fn recover(&self) -> Result<(), ContainerError> {
        let records = self.records()?;
        let known: std::collections::HashSet<String> = records.iter().map(|r| r.id.clone()).collect();
        for mut record in records {
            self.watch(&record);
            let bundle = self.bundle(&record.id);
            match record.state.status {
                Status::Running => {
                    if let Some(info) = shim::recorded_exit(&bundle) {
                        tracing::info!(container = %record.id, code = info.exit_code, "exited while the daemon was down");
                        self.handle_exit(&record.id, info).await?;
                    } else if bundle.socket().exists() {
                        tracing::info!(container = %record.id, "re-adopting");
                        self.monitor(record.id.clone());
                    } else {
                        self.mark_dead(&record.id, "no shim socket and no exit record at daemon start").await;
                    }
                }
                _ if record.rootfs.is_some() || record.netns.is_some() || !record.endpoints.is_empty() || !record.mounts.is_empty() => {
                    tracing::warn!(container = %record.id, "undoing a start a crash left half-done");
                    self.release(&mut record).await;
                    self.unmount(&mut record).await;
                    let _ = self.save(&record);
                }
                _ => {}
            }
        }
        self.restart_at_daemon_start().await?;
        // Bundles without a record: a create that a crash cut short.
        for entry in std::fs::read_dir(&self.inner.config.root).into_iter().flatten().flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&id) {
                tracing::warn!(container = %id, "removing a bundle with no record");
                let storage = self.inner.storage.clone();
                let layer = id.clone();
                let _ = tokio::task::spawn_blocking(move || storage.remove(&layer)).await;
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(())
    }
}

/// The image's Env, then the request's `K=V`s replacing same-named ones, PATH if neither
/// had it, and HOSTNAME (as Docker sets it).
fn merge_env(image: Vec<String>, request: &[String], hostname: &str) -> Vec<String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for entry in image.iter().chain(request) {
        let key = entry.split('=').next().unwrap_or(entry).to_owned();
        if !env.contains_key(&key) {
            order.push(key.clone());
        }
        env.insert(key, entry.clone());
    }
    if !env.contains_key("PATH") {
        order.insert(0, "PATH".into());
        env.insert("PATH".into(), DEFAULT_PATH.into());
    }
    if !env.contains_key("HOSTNAME") {
        order.insert(1.min(order.len()), "HOSTNAME".into());
        env.insert("HOSTNAME".into(), format!("HOSTNAME={hostname}"));
    }
    order.into_iter().filter_map(|k| env.remove(&k)).collect()
}

/// Whole seconds between two RFC 3339 times (Docker's `execDuration`).
fn exec_duration(started: &str, finished: &str) -> u64 {
    match (parse_rfc3339(started), parse_rfc3339(finished)) {
        (Ok(s), Ok(f)) => f.duration_since(s).map_or(0, |d| d.as_secs()),
        _ => 0,
    }
}

/// `docker ps`'s STATUS: "Up 2 minutes", "Exited (0) 3 seconds ago", "Created".
fn status_line(state: &State) -> String {
    let since = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| parse_rfc3339(t).ok())
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map(hostctl_api::units::human_duration)
            .unwrap_or_default()
    };
    match state.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", since(&state.started_at)),
        Status::Exited if state.restarting => format!("Restarting ({}) {} ago", state.exit_code, since(&state.finished_at)),
        Status::Exited => format!("Exited ({}) {} ago", state.exit_code, since(&state.finished_at)),
        Status::Dead => "Dead".into(),
    }
}

fn write_file(path: &Path, text: &str, id: &str) -> Result<(), ContainerError> {
    std::fs::write(path, text).map_err(|source| ContainerError::Io { id: id.to_owned(), what: "writing its bundle", source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_merges_as_docker_does() {
        let env = merge_env(vec!["PATH=/bin".into(), "A=1".into()], &["A=2".into(), "B=3".into()], "h");
        assert_eq!(env, ["PATH=/bin", "HOSTNAME=h", "A=2", "B=3"]);
        let env = merge_env(vec![], &[], "h");
        assert_eq!(env, [DEFAULT_PATH, "HOSTNAME=h"]);
    }

    #[test]
    fn statuses_read_like_dockers() {
        let mut s = State::created();
        assert_eq!(status_line(&s), "Created");
        s.status = Status::Exited;
        s.exit_code = 3;
        s.finished_at = Some(format_rfc3339(SystemTime::now()));
        assert_eq!(status_line(&s), "Exited (3) Less than a second ago");
    }
}
