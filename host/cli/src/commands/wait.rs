//! `hostctl wait`: block until containers stop, then print their exit codes.

use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Containers (names or ids)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn run(client: &Client, args: WaitArgs) -> anyhow::Result<ExitCode> {
    for c in &args.containers {
        let code = client.wait_container(c, "not-running").await?.status().await?;
        println!("{code}");
    }
    Ok(ExitCode::SUCCESS)
}
