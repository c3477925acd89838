//! `hostctl:host/log`: a plugin's lines in the daemon's log, tagged with its name and
//! cut to [`MAX_LINE`] bytes so a chatty or hostile plugin cannot flood it.

use crate::bindings::host::hostctl::host::log::{Host, Level};
use crate::sandbox::PluginState;

/// Longest line kept from a plugin.
pub const MAX_LINE: usize = 2048;

impl Host for PluginState {
    fn log(&mut self, level: Level, mut message: String) {
        if message.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = self.plugin_name();
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}
