//! `hostctl inspect`: Docker's inspect document of containers, as a JSON array, or
//! through a template (`-f '{{.State.Status}}'`).

use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Containers (names or ids)
    #[arg(required = true)]
    pub containers: Vec<String>,
    /// Format the output with a Go-style template: {{.State.Status}}, {{json .Config}}
    #[arg(short, long)]
    pub format: Option<String>,
}

pub async fn run(client: &Client, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut docs = Vec::new();
    for c in &args.containers {
        docs.push(client.inspect_container(c).await?);
    }
    crate::output::print_inspected(&docs, args.format.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
