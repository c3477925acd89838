//! Lines in the daemon's log, tagged by the host with the plugin's name.

use crate::bindings::host::hostctl::host::log as host;

pub use host::Level;

/// Log `message` at `level`.
pub fn log(level: Level, message: &str) {
    host::log(level, message);
}

/// Log at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Log at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Log at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}
