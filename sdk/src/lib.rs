//! # hostctl-sdk
//!
//! Write hostctl plugins in Rust, as WebAssembly components, without touching the
//! generated bindings.
//!
//! A plugin implements one trait per world and exports it with one macro:
//!
//! - [`storage`]: the [`storage::StorageDriver`] trait and [`export_storage_driver!`], for
//!   drivers that lay image layers out on disk and answer the host with mount plans.
//! - [`network`]: [`network::NetworkDriver`] and [`export_network_driver!`]: networks,
//!   endpoints and their addresses, answered with plans of link, address and route steps.
//! - [`volume`]: [`volume::VolumeDriver`] and [`export_volume_driver!`]: volumes as
//!   directories of the driver's root, mounted by plans where they must be mounts.
//! - [`restart`]: [`restart::RestartPolicy`] and [`export_restart_policy!`]: whether and
//!   when to restart a container that exited.
//!
//! What a plugin may ask of the host, each behind a grant in its `plugin.toml`:
//! - [`kv`]: a private key-value store the host keeps for the plugin.
//! - [`net`]: read-only questions about the host's links and routes.
//! - [`files`]: the privileged file operations a driver may ask the host for (chown, chmod,
//!   whiteouts, opaque directories, device nodes, xattrs, symlinks), confined to the
//!   driver's root and each needing a grant in the plugin's `plugin.toml`.
//! - [`log`]: lines in the daemon's log, tagged with the plugin's name.
//! - [`Error`] and [`ErrorKind`]: what every call returns on failure.
//!
//! Build a plugin for `wasm32-wasip2` (`cargo build --target wasm32-wasip2 --release`);
//! the `.wasm` it produces is a component the host loads as is. The WIT contract these
//! wrap lives in the repository's `wit/` folder; the generated code is in one private
//! module, `bindings` (host interfaces generated once, one module per world).

extern crate self as hostctl_sdk;

#[doc(hidden)]
pub mod bindings;
mod error;
pub mod files;
pub mod kv;
pub mod log;
pub mod net;
pub mod network;
pub mod restart;
pub mod storage;
pub mod volume;

pub use error::{Error, ErrorKind, Result};

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}
