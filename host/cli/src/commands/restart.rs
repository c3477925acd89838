//! `hostctl restart`: stop containers (the stop signal, then SIGKILL after the grace
//! period), then start them again.

use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before killing the container (default 10)
    #[arg(short = 't', long = "time")]
    pub time: Option<u64>,
    /// Containers (names or ids)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn run(client: &Client, args: RestartArgs) -> anyhow::Result<ExitCode> {
    let time = args.time;
    super::each(&args.containers, |c| async move { client.restart_container(&c, time).await }).await
}
