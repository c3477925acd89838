//! `hostctl`: the daemon (`hostctl daemon`), the CLI and the per-container shim (`hostctl
//! shim`, hidden: the daemon runs it) in one binary. This file only dispatches: the daemon
//! lives in `hostctl-daemon`, the shim in `hostctl-shim`, every other verb in `hostctl-cli`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A container host: sandboxed WebAssembly plugins for storage, networks, volumes and
/// restart policy around a small kernel-facing core.
#[derive(Debug, Parser)]
#[command(name = "hostctl", version, propagate_version = true)]
struct Hostctl {
    #[command(flatten)]
    global: hostctl_cli::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hostctl daemon
    Daemon(hostctl_daemon::DaemonArgs),
    /// Run a container under a shim (used by the daemon)
    #[command(hide = true)]
    Shim(hostctl_shim::ShimCommand),
    #[command(flatten)]
    Cli(hostctl_cli::Command),
}

fn main() -> ExitCode {
    let args = Hostctl::parse();
    match args.command {
        Command::Daemon(daemon) => hostctl_daemon::main(daemon),
        // Before anything else can start a thread: the shim forks.
        Command::Shim(shim) => hostctl_shim::main(shim),
        Command::Cli(command) => hostctl_cli::main(args.global, command),
    }
}
