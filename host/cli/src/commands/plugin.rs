//! `hostctl plugin ls`: the plugins the daemon loaded (or failed to), with their kind,
//! version, what they were granted, and whether their code came from the cache.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use hostctl_api::Client;

use crate::output::table;

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List plugins
    #[command(alias = "list")]
    Ls(LsArgs),
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Output format: "table" or "json" (one JSON object per line)
    #[arg(long, default_value = "table")]
    pub format: String,
}

pub async fn run(client: &Client, command: PluginCommand) -> anyhow::Result<ExitCode> {
    let PluginCommand::Ls(args) = command;
    let plugins = client.plugins().await?;
    match args.format.as_str() {
        "table" => {
            let rows: Vec<Vec<String>> = plugins
                .iter()
                .map(|p| {
                    let grants: Vec<String> = p.capabilities.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", v.join(","))).collect();
                    vec![
                        p.name.clone(),
                        p.kind.clone(),
                        p.version.clone(),
                        p.enabled.to_string(),
                        if grants.is_empty() { "-".into() } else { grants.join(" ") },
                        p.error.clone().unwrap_or_else(|| format!("{} in {:.1}ms", p.origin, p.load_time_ms)),
                    ]
                })
                .collect();
            print!("{}", table(&["NAME", "KIND", "VERSION", "ENABLED", "CAPABILITIES", "STATUS"], &rows));
        }
        "json" => {
            for p in &plugins {
                println!("{}", serde_json::to_string(p)?);
            }
        }
        other => anyhow::bail!("--format {other:?}: expected \"table\" or \"json\""),
    }
    Ok(ExitCode::SUCCESS)
}
