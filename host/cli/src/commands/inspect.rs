//! `hostctl inspect`: Docker's inspect document of containers, as a JSON array, or
//! through a template (`-f '{{.State.Status}}'`); a name that matches none is an error
//! line for it, as Docker's ([`super::inspect_each`]).

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
    // `docker inspect` looks for any kind of object, hence its word for a missing one.
    super::inspect_each(&args.containers, "object", args.format.as_deref(), |c| async move { client.inspect_container(&c).await }).await
}
