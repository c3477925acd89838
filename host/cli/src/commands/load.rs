//! `hostctl load`: send a `docker save` archive or an OCI image layout (a tar, from a
//! file or stdin) to the daemon, which verifies and stores it.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;

use crate::progress::{file_stream, render};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

pub async fn run(client: &Client, args: LoadArgs) -> anyhow::Result<ExitCode> {
    let input = args.input.unwrap_or_else(|| "-".into());
    if input == "-" && std::io::stdin().is_terminal() {
        anyhow::bail!("requested load from stdin, but stdin is a terminal; use -i FILE or pipe an archive in");
    }
    let stream = client.load(file_stream(&input).await?, args.quiet).await?;
    if args.quiet {
        let mut stream = stream;
        while let Some(message) = stream.next().await {
            message?;
        }
    } else {
        render(stream).await?;
    }
    Ok(ExitCode::SUCCESS)
}
