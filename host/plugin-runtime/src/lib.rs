//! # hostctl-plugin-runtime
//!
//! The only code in hostctl that knows wasmtime. It loads plugins (WebAssembly components)
//! and calls them in a sandbox; the daemon sees plain Rust types and [`PluginError`]s.
//!
//! Loading ([`loader`], [`registry`]): a plugin is a directory with `plugin.toml`
//! ([`manifest`]: name, kind, version, the component's sha256, the capabilities granted)
//! and the component. The component is compiled once and cached precompiled ([`cache`]),
//! checked against the WIT versions this host speaks, and linked into an `InstancePre`.
//!
//! Calling ([`sandbox`], [`storage`]): each call instantiates a fresh store with a memory
//! cap and an epoch deadline ([`engine`] ticks the epoch, [`deadline`] keeps each call's
//! idle limit and budget), and turns traps into errors that
//! name the plugin: a looping, ballooning or panicking plugin fails one operation and the
//! daemon keeps serving.
//!
//! Host capabilities ([`imports`]): what plugins may call back: `log`, `files` (privileged
//! file operations confined to the plugin's root, each behind a grant) and `content`
//! (blobs streamed and verified by digest). A denied call is an error value for the guest,
//! never a trap.
//!
//! The kinds: [`storage`] drivers answer with mount plans ([`plan`] checks them against
//! the grants before the kernel layer performs them); [`network`] drivers with plans of
//! link, address and route steps, which [`netplan`] checks, performs and rolls back;
//! [`volume`] drivers with mount plans for their data
//! directories; [`restart`] policies with a decision per exit.
//!
//! The generated bindings live in one private module, `bindings`.

mod bindings;
pub mod cache;
pub mod deadline;
pub mod engine;
pub mod imports;
pub mod loader;
pub mod manifest;
pub mod netplan;
pub mod network;
pub mod plan;
pub mod registry;
pub mod restart;
pub mod sandbox;
pub mod storage;
pub mod volume;

pub use imports::content::BlobSource;
pub use imports::kv::{KvBackend, MemoryKv};
pub use netplan::PortPublisher;
pub use network::NetworkPlugin;
pub use restart::RestartPlugin;
pub use volume::VolumePlugin;
pub use loader::{Defaults, LoadError, Loader, Plugin, PluginInfo};
pub use registry::Registry;
pub use sandbox::{ErrorKind, PluginError};
pub use storage::{AppliedLayer, DriverInfo, MountedLayer, StoragePlugin};
