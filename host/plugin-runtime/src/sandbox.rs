//! One call into a plugin: a fresh store and instance, its limits, and what a failure
//! means.
//!
//! Every operation gets a new `Store` instantiated from the plugin's `InstancePre` (tens
//! of microseconds), so a trapped or poisoned instance never serves a second call and no
//! guest state leaks between operations. Each store has:
//! - a WASI context whose only pre-open is the plugin's root, as `/` (no network, no
//!   environment, stdout discarded, stderr kept in memory for the error message);
//! - a [`Limiter`] capping linear memory, tables and instances, which remembers when the
//!   memory cap was hit so the resulting trap is reported as what it is;
//! - an epoch deadline kept by a [`CallClock`]: the call stops after its timeout without
//!   progress, or once its budget of guest time (the timeout, plus time for the blobs it
//!   was lent) is spent; see [`crate::deadline`].
//!
//! [`PluginError`] is what callers see: always naming the plugin and the operation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostctl_kernel::confined::ConfinedDir;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::deadline::CallClock;
use crate::engine::ticks;
use crate::imports::kv::KvBackend;
use crate::manifest::{Capabilities, Kind};

/// How much of a plugin's stderr is kept for error messages (a panic message, say).
const STDERR_CAPACITY: usize = 64 * 1024;

/// The kind of a failure, as the daemon maps it to an API error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    InvalidArgument,
    /// A capability or path the plugin was not granted.
    Denied,
    Io,
    /// The plugin misbehaved: trapped, ran past its deadline or its memory.
    PluginFailed,
    Other,
}

/// A failed plugin call. Every message names the plugin and the operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The plugin answered with an error value.
    #[error("plugin {plugin:?}: {op}: {message}")]
    Driver { plugin: String, op: &'static str, kind: ErrorKind, message: String },
    /// The call ran past its deadline or its budget and was stopped.
    #[error("plugin {plugin:?}: {op}: stopped after {}ms: {why}", after.as_millis())]
    Deadline { plugin: String, op: &'static str, after: Duration, why: String },
    /// The plugin tried to grow its memory past its cap and trapped.
    #[error("plugin {plugin:?}: {op}: exceeded its memory limit of {} MiB", limit >> 20)]
    MemoryLimit { plugin: String, op: &'static str, limit: usize },
    /// The plugin trapped (a panic, an `unreachable`).
    #[error("plugin {plugin:?}: {op}: trapped: {message}")]
    Trap { plugin: String, op: &'static str, message: String },
    /// The host refused what the plugin asked (a mount outside its grants) or could not
    /// do it (a mount failed).
    #[error("plugin {plugin:?}: {op}: {message}")]
    Host { plugin: String, op: &'static str, kind: ErrorKind, message: String },
}

impl PluginError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            PluginError::Driver { kind, .. } | PluginError::Host { kind, .. } => *kind,
            PluginError::Deadline { .. } | PluginError::MemoryLimit { .. } | PluginError::Trap { .. } => ErrorKind::PluginFailed,
        }
    }
}

/// What every call of one loaded plugin shares.
pub(crate) struct Shared {
    pub name: String,
    #[allow(dead_code)]
    pub kind: Kind,
    pub grants: Capabilities,
    /// The plugin's root (storage and volume drivers): pre-opened for WASI, confined for
    /// `files`.
    pub root: Option<(PathBuf, Arc<ConfinedDir>)>,
    /// The daemon's store behind `hostctl:host/kv`.
    pub kv: Option<Arc<dyn KvBackend>>,
    /// The daemon's port publisher, for network plans' `publish-port` steps.
    pub ports: Option<Arc<dyn crate::netplan::PortPublisher>>,
    pub memory_limit: usize,
    pub call_timeout: Duration,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("name", &self.name).field("kind", &self.kind).finish()
    }
}

/// Caps a store's resources and remembers whether the memory cap was hit.
pub(crate) struct Limiter {
    inner: StoreLimits,
    memory_cap: usize,
    hit_memory_cap: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.hit_memory_cap = true;
            return Ok(false);
        }
        self.inner.memory_growing(current, desired, maximum)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// The data of one call's store.
pub struct PluginState {
    shared: Arc<Shared>,
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    limiter: Limiter,
    clock: CallClock,
    stderr: MemoryOutputPipe,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl PluginState {
    pub(crate) fn plugin_name(&self) -> &str {
        &self.shared.name
    }

    pub(crate) fn grants(&self) -> &Capabilities {
        &self.shared.grants
    }

    pub(crate) fn root(&self) -> Option<&ConfinedDir> {
        self.shared.root.as_ref().map(|(_, dir)| &**dir)
    }

    pub(crate) fn kv_backend(&self) -> Option<&dyn KvBackend> {
        self.shared.kv.as_deref()
    }

    /// The guest moved forward (read from a blob).
    pub(crate) fn note_progress(&mut self) {
        self.clock.progress(Instant::now());
    }

    /// The host worked for the guest since `since` (a `remove-tree`): not the guest's
    /// time.
    pub(crate) fn excuse_host_work(&mut self, since: Instant) {
        self.clock.excuse(since, Instant::now());
    }

    /// A blob of `bytes` is lent to this call: its budget grows accordingly.
    pub(crate) fn allow_stream(&mut self, bytes: u64) {
        self.clock.allow_stream(bytes);
    }

    /// What the guest said on stderr before failing: a Rust panic's location and
    /// message when there is one, else its last non-empty line.
    fn stderr_tail(&self) -> Option<String> {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        if let Some(at) = lines.iter().rposition(|l| l.contains("panicked at")) {
            let location = lines[at].split("panicked at").nth(1).unwrap_or("").trim().trim_end_matches(':');
            let message = lines.get(at + 1).filter(|l| !l.starts_with("note:")).copied().unwrap_or("");
            return Some(format!("panicked at {location}: {message}"));
        }
        lines.last().map(|l| (*l).to_owned())
    }
}

impl Shared {
    /// A store for one call, with limits and deadline armed.
    pub(crate) fn store(self: &Arc<Self>, engine: &wasmtime::Engine, op: &'static str) -> Result<Store<PluginState>, PluginError> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let mut wasi = WasiCtxBuilder::new();
        wasi.allow_blocking_current_thread(true)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .stderr(stderr.clone());
        if let Some((path, _)) = &self.root {
            wasi.preopened_dir(path, "/", FsPerms::ReadWrite).map_err(|e| PluginError::Host {
                plugin: self.name.clone(),
                op,
                kind: ErrorKind::Io,
                message: format!("opening its root {}: {e}", path.display()),
            })?;
        }
        let limiter = Limiter {
            inner: StoreLimitsBuilder::new().table_elements(100_000).instances(64).tables(64).memories(16).build(),
            memory_cap: self.memory_limit,
            hit_memory_cap: false,
        };
        let state = PluginState {
            shared: self.clone(),
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter,
            clock: CallClock::new(self.call_timeout, Instant::now()),
            stderr,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(ticks(self.call_timeout));
        store.epoch_deadline_callback(|mut ctx| match ctx.data_mut().clock.check(Instant::now()) {
            Ok(left) => Ok(UpdateDeadline::Continue(ticks(left))),
            Err(_) => Ok(UpdateDeadline::Interrupt),
        });
        Ok(store)
    }

    /// What a wasmtime error from `op` (started at `started`) means.
    pub(crate) fn failure(&self, op: &'static str, store: &Store<PluginState>, err: wasmtime::Error, started: Instant) -> PluginError {
        let plugin = self.name.clone();
        if store.data().limiter.hit_memory_cap {
            return PluginError::MemoryLimit { plugin, op, limit: self.memory_limit };
        }
        if matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            let why = match store.data().clock.stopped() {
                Some(stop) => stop.to_string(),
                None => format!("it exceeded its call deadline of {}ms", self.call_timeout.as_millis()),
            };
            return PluginError::Deadline { plugin, op, after: started.elapsed(), why };
        }
        let mut message = match err.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => err.root_cause().to_string().lines().next().unwrap_or("unknown failure").to_owned(),
        };
        if let Some(tail) = store.data().stderr_tail() {
            message = format!("{message} ({tail})");
        }
        PluginError::Trap { plugin, op, message }
    }

    /// One sandboxed call of `op`: a fresh store, an instance from `instantiate`, then `f`.
    /// Traps, deadlines and the memory cap become [`PluginError`]s naming the plugin.
    pub(crate) fn call<I, R>(
        self: &Arc<Self>,
        engine: &wasmtime::Engine,
        op: &'static str,
        instantiate: impl FnOnce(&mut Store<PluginState>) -> wasmtime::Result<I>,
        f: impl FnOnce(&I, &mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let started = Instant::now();
        let mut store = self.store(engine, op)?;
        let instance = match instantiate(&mut store) {
            Ok(instance) => instance,
            Err(err) => return Err(self.failure(op, &store, err, started)),
        };
        f(&instance, &mut store).map_err(|err| self.failure(op, &store, err, started))
    }

    /// The error a plugin answered with, as the runtime reports it.
    pub(crate) fn driver_error(&self, op: &'static str, e: crate::bindings::host::hostctl::types::types::Error) -> PluginError {
        use crate::bindings::host::hostctl::types::types::ErrorKind as W;
        let kind = match e.kind {
            W::NotFound => ErrorKind::NotFound,
            W::AlreadyExists => ErrorKind::AlreadyExists,
            W::InvalidArgument => ErrorKind::InvalidArgument,
            W::Denied => ErrorKind::Denied,
            W::Io => ErrorKind::Io,
            W::Other => ErrorKind::Other,
        };
        PluginError::Driver { plugin: self.name.clone(), op, kind, message: e.message }
    }

    /// A host-side refusal or failure on behalf of this plugin.
    pub(crate) fn host_error(&self, op: &'static str, kind: ErrorKind, message: impl Into<String>) -> PluginError {
        PluginError::Host { plugin: self.name.clone(), op, kind, message: message.into() }
    }
}
