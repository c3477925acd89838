//! `hostctl kill`: send a signal (SIGKILL by default) to running containers.

use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    /// Containers (names or ids)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn run(client: &Client, args: KillArgs) -> anyhow::Result<ExitCode> {
    let signal = args.signal.as_str();
    super::each(&args.containers, |c| async move { client.kill_container(&c, Some(signal)).await }).await
}
