//! The host side of the capability interfaces plugins import (`hostctl:host/*`).
//!
//! Each import checks the calling plugin's grants first, then calls into
//! `hostctl-kernel`. A denied or failed call is an error value returned to the guest;
//! only a broken resource handle traps.
//!
//! - [`log`]: lines in the daemon's log, tagged with the plugin's name.
//! - [`files`]: privileged file operations confined to the plugin's root.
//! - [`content`]: blobs streamed to the plugin and verified against their digest.
//! - [`kv`]: a key-value store private to each plugin, kept by the daemon.
//! - [`net`]: read-only questions about the host's links and routes.

pub mod content;
pub mod files;
pub mod kv;
pub mod log;
pub mod net;

use crate::bindings::host::hostctl::types::types::{Error as WitError, ErrorKind as WitErrorKind};

/// A `hostctl:types/error` value for the guest.
pub(crate) fn wit_error(kind: WitErrorKind, message: impl Into<String>) -> WitError {
    WitError { kind, message: message.into() }
}

impl crate::bindings::host::hostctl::types::types::Host for crate::sandbox::PluginState {}
