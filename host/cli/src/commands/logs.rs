//! `hostctl logs`: a container's output, from its json-file log.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;
use hostctl_api::containers::LogsOptions;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs (or "all")
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Container (name or id)
    pub container: String,
}

pub async fn run(client: &Client, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let tail = match args.tail.as_str() {
        "all" => None,
        n => Some(n.parse::<usize>().map_err(|_| anyhow::anyhow!("--tail {n:?}: expected a number or \"all\""))?),
    };
    let mut stream = client.logs(&args.container, &LogsOptions { follow: args.follow, tail, stdout: true, stderr: true }).await?;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    while let Some(entry) = stream.next().await {
        let entry = entry?;
        let sink: &mut dyn Write = if entry.stream == "stderr" { &mut err } else { &mut out };
        if args.timestamps {
            write!(sink, "{} ", entry.time)?;
        }
        sink.write_all(entry.log.as_bytes())?;
        sink.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
