//! `hostctl rm`: remove containers, their writable layers, mounts and cgroups.

use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Containers (names or ids)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn run(client: &Client, args: RmArgs) -> anyhow::Result<ExitCode> {
    let force = args.force;
    super::each(&args.containers, |c| async move { client.remove_container(&c, force).await }).await
}
