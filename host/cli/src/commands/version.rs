//! `hostctl version`: the client's and the daemon's versions.

use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;

#[derive(Debug, Args)]
pub struct VersionArgs {}

pub async fn run(client: &Client, _args: VersionArgs) -> anyhow::Result<ExitCode> {
    println!("Client:\n Version:      {}\n OS/Arch:      {}/{}", env!("CARGO_PKG_VERSION"), std::env::consts::OS, std::env::consts::ARCH);
    let server = client.version().await?;
    println!(
        "\nServer:\n Version:      {}\n API version:  {}\n OS/Arch:      {}/{}\n Kernel:       {}",
        server.version, server.api_version, server.os, server.arch, server.kernel_version
    );
    Ok(ExitCode::SUCCESS)
}
