//! # hostctl-api
//!
//! What goes over the daemon's socket, and the client the CLI uses to send it.
//!
//! - [`toml_file`]: TOML parsing whose errors name `file:line:col` and the key.
pub mod toml_file;
