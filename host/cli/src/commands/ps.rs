//! `hostctl ps`: containers, as `docker ps` lists them.

use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;

use crate::output::{short_id, table, time_ago};

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: "table" or "json" (one JSON object per line)
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// `"sh -c 'sleep…"`: quoted, cut to 20 characters as Docker cuts it.
fn command_cell(command: &str, no_trunc: bool) -> String {
    if no_trunc || command.chars().count() <= 20 {
        format!("\"{command}\"")
    } else {
        format!("\"{}…\"", command.chars().take(19).collect::<String>())
    }
}

/// `0.0.0.0:8080->80/tcp, 0.0.0.0:8443->443/tcp`.
fn ports_cell(c: &hostctl_api::types::ContainerSummary) -> String {
    c.ports.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

pub async fn run(client: &Client, args: PsArgs) -> anyhow::Result<ExitCode> {
    let containers = client.containers(args.all).await?;
    let id = |full: &str| if args.no_trunc { full.to_owned() } else { short_id(full) };
    if args.quiet {
        for c in &containers {
            println!("{}", id(&c.id));
        }
        return Ok(ExitCode::SUCCESS);
    }
    match args.format.as_str() {
        "table" => {
            let rows: Vec<Vec<String>> = containers
                .iter()
                .map(|c| {
                    vec![
                        id(&c.id),
                        c.image.clone(),
                        command_cell(&c.command, args.no_trunc),
                        time_ago(c.created),
                        c.status.clone(),
                        ports_cell(c),
                        c.names.iter().map(|n| n.trim_start_matches('/')).collect::<Vec<_>>().join(","),
                    ]
                })
                .collect();
            print!("{}", table(&["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], &rows));
        }
        "json" => {
            for c in &containers {
                let line = serde_json::json!({
                    "ID": id(&c.id),
                    "Image": c.image,
                    "Command": command_cell(&c.command, args.no_trunc),
                    "RunningFor": time_ago(c.created),
                    "State": c.state,
                    "Status": c.status,
                    "Ports": ports_cell(c),
                    "Names": c.names.iter().map(|n| n.trim_start_matches('/')).collect::<Vec<_>>().join(","),
                });
                println!("{line}");
            }
        }
        other => anyhow::bail!("--format {other:?}: expected \"table\" or \"json\""),
    }
    Ok(ExitCode::SUCCESS)
}
