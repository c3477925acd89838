//! `hostctl inspect`: Docker's inspect document of containers, as a JSON array.

use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Containers (names or ids)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn run(client: &Client, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut docs = Vec::new();
    for c in &args.containers {
        docs.push(client.inspect_container(c).await?);
    }
    println!("{}", serde_json::to_string_pretty(&docs)?);
    Ok(ExitCode::SUCCESS)
}
