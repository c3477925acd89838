//! `hostctl daemon`'s flags. Each overrides the config file's key of the same name.

use std::path::PathBuf;

use clap::Args;

use crate::config::Config;

#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// Config file (TOML; every key optional) [default: /etc/hostctl/hostctl.toml]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Root of persistent state: images, layers, the state store, the plugin cache
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Unix socket to serve the API on
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Pidfile (locked while the daemon runs)
    #[arg(long)]
    pub pidfile: Option<PathBuf>,
    /// Directory of installed plugins
    #[arg(long)]
    pub plugin_dir: Option<PathBuf>,
    /// Storage driver plugin
    #[arg(long)]
    pub storage_driver: Option<String>,
    /// Log level: error, warn, info, debug, trace
    #[arg(long)]
    pub log_level: Option<String>,
    /// Log to this file instead of stderr
    #[arg(long)]
    pub log_file: Option<PathBuf>,
    /// Run in the background: return once the daemon serves its socket
    #[arg(short, long)]
    pub detach: bool,
}

impl DaemonArgs {
    /// The config file with these flags applied.
    pub fn apply(&self, mut config: Config) -> Config {
        if let Some(v) = &self.data_root {
            config.data_root = v.clone();
        }
        if let Some(v) = &self.socket {
            config.socket = v.clone();
        }
        if let Some(v) = &self.pidfile {
            config.pidfile = Some(v.clone());
        }
        if let Some(v) = &self.plugin_dir {
            config.plugins.dir = v.clone();
        }
        if let Some(v) = &self.storage_driver {
            config.storage.driver = v.clone();
        }
        if let Some(v) = &self.log_level {
            config.log_level = v.clone();
        }
        if let Some(v) = &self.log_file {
            config.log_file = Some(v.clone());
        }
        config
    }
}
