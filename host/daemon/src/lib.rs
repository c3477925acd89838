//! # hostctl-daemon
//!
//! `hostctl daemon`: the API server on a Unix socket and the services behind it.
//!
//! - [`config`] and [`args`]: the TOML config (every key optional) and the flags that
//!   override it.
//! - [`daemon`]: start-up (state store, plugins, storage driver, socket), serving, and
//!   shutdown; [`pidfile`], one daemon per pidfile, removed however the daemon ends;
//!   [`detach`] for `--detach`.
//! - [`state`]: the redb state store, where intent is recorded before kernel or disk
//!   objects are created.
//! - [`containers`]: the container service: lifecycle, supervision through shims,
//!   logs, and re-adoption after a daemon restart.
//! - [`networks`]: the network service: networks provided by network plugins, and
//!   connecting containers to them.
//! - [`images`]: the image service: `load`, `import`, `images`, layers applied by the
//!   storage plugin, rootfs mounts, and crash recovery.
//! - [`volumes`]: the volume service: volumes by name, provided by volume plugins, and
//!   the mounts containers use.
//! - [`ports`]: published ports (`-p`), relayed by a userland proxy as docker-proxy does.
//! - [`events`]: the event bus every lifecycle step publishes on.
//! - [`api`]: the HTTP handlers, one module per resource; [`progress`] streams Docker's
//!   JSON messages for long work.

pub mod api;
pub mod args;
pub mod config;
pub mod containers;
pub mod daemon;
pub mod detach;
pub mod events;
pub mod images;
pub mod networks;
pub mod pidfile;
pub mod ports;
pub mod progress;
pub mod state;
pub mod volumes;

use std::process::ExitCode;

pub use args::DaemonArgs;
pub use config::Config;

/// `hostctl daemon`.
pub fn main(args: DaemonArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hostctl daemon: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: DaemonArgs) -> anyhow::Result<()> {
    let config = args.apply(Config::load(args.config.as_deref())?);
    if args.detach {
        return detach::detach(&config);
    }
    init_logging(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("hostctl-daemon").build()?;
    runtime.block_on(daemon::serve(config))
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(format!("{},wasmtime=warn,cranelift=warn,async_nats=warn", config.log_level))
        .map_err(|e| anyhow::anyhow!("log-level {:?}: {e}", config.log_level))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    match &config.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            builder.with_ansi(false).with_writer(std::sync::Mutex::new(file)).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}
