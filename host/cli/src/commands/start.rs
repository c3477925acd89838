//! `hostctl start`: start created or stopped containers.

use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Containers (names or ids)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn run(client: &Client, args: StartArgs) -> anyhow::Result<ExitCode> {
    super::each(&args.containers, |c| async move { client.start_container(&c).await.map(drop) }).await
}
