//! # hostctl-api
//!
//! What goes over the daemon's socket, and the client that sends it. The CLI depends on
//! this crate only; the daemon serves these types.
//!
//! - [`types`]: the JSON documents, named and shaped as Docker's Engine API has them
//!   (`ImageSummary`, `JsonMessage` for streamed progress, `Version`, `Info`), plus
//!   hostctl's own (`PluginSummary`).
//! - [`error`]: errors on the wire: a message and a kind, mapped to HTTP status and to
//!   CLI exit codes in one place each.
//! - [`events`]: what travels with events: Docker's event filters (parsed and matched
//!   the same way by the daemon and by `hostctl events --nats`), `since`/`until` times,
//!   the lines of the `/events` stream, and the NATS subject of an event.
//! - [`client`]: the Unix-socket client (`-H unix:///…` / `HOSTCTL_HOST`); its container
//!   calls are in [`containers`], its network calls and types in [`networks`]; [`lines`]
//!   reads streamed newline-delimited JSON.
//! - [`volumes`]: Docker's `Volume` documents and the client's volume calls.
//! - [`units`]: Docker's sizes and durations, parsed and shown as go-units does.
//! - [`options`]: Docker's syntax for `--device`, `--ulimit`, capability names and
//!   `--memory-swap`, shared by the CLI's flags and `run -f` files.
//! - [`toml_file`]: TOML parsing whose errors name `file:line:col` and the key, used for
//!   the daemon's config, plugin manifests and container specs.

pub mod client;
pub mod containers;
pub mod error;
pub mod events;
pub mod lines;
pub mod networks;
pub mod options;
pub mod toml_file;
pub mod types;
pub mod units;
pub mod volumes;

pub use client::{Client, DEFAULT_SOCKET, EventStream, ImportOptions, MessageStream};
pub use error::{ApiError, ErrorBody, ErrorKind};
