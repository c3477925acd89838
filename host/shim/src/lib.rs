//! # hostctl-shim
//!
//! The process that parents one container, as containerd-shim or conmon do: it starts
//! the container from an OCI bundle, holds its stdio and writes its log, reaps it,
//! records how it ended, and answers the daemon on a Unix socket. The daemon can be
//! killed and restarted without the container noticing.
//!
//! - [`bundle`]: the files of a container's bundle directory.
//! - [`protocol`]: the start handshake and the control protocol.
//! - [`start`]: `hostctl shim start`: forks the shim and prints how the start went.
//! - [`supervisor`]: the shim itself: detaches, makes the cgroup, starts the container
//!   (through `hostctl_kernel::container`), reports, then serves until the container exits.
//! - [`serve`]: the shim's poll loop: output to the log, requests on `shim.sock`, the
//!   container's exit.
//! - [`log`]: Docker's json-file log format; [`time`]: its timestamps.

pub mod bundle;
pub mod log;
pub mod protocol;
pub mod serve;
pub mod start;
pub mod supervisor;
pub mod time;

use std::path::PathBuf;
use std::process::ExitCode;

/// `hostctl shim ...`: run by the daemon, not by people.
#[derive(Debug, clap::Args)]
pub struct ShimCommand {
    #[command(subcommand)]
    pub action: ShimAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum ShimAction {
    /// Start the container of a bundle under a new shim; print one JSON line (Started or
    /// StartFailed) and exit 0 or 1
    Start {
        /// The bundle directory (config.json; the shim's files go here too)
        #[arg(long)]
        bundle: PathBuf,
        /// The container's id (names its default cgroup, /hostctl/<id>)
        #[arg(long)]
        id: String,
    },
}

/// Run a shim command. The process must still be single-threaded (the `hostctl`
/// binary starts no threads before dispatching here).
pub fn main(command: ShimCommand) -> ExitCode {
    match command.action {
        ShimAction::Start { bundle, id } => start::run(&bundle, &id),
    }
}
