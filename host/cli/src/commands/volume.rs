//! `hostctl volume create|ls|inspect|rm`: volumes, as `docker volume` manages them.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use hostctl_api::events::Filters;
use hostctl_api::volumes::{Volume, VolumeCreate};
use hostctl_api::{ApiError, Client, ErrorKind};

use crate::output::table;

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Volume driver name (default: the daemon's, volume-local; "local" means volume-local)
    #[arg(short, long)]
    pub driver: Option<String>,
    /// Set driver specific options (type=tmpfs, device=tmpfs, o=size=64m, ...)
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", value_name = "NAME")]
    pub name_flag: Option<String>,
    /// Volume name (generated when absent)
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "dangling=true", "driver=volume-local", "label=k=v", "name=part")
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Output format: "table" or "json" (one JSON object per line)
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Volumes
    #[arg(required = true)]
    pub volumes: Vec<String>,
    /// Format the output with a Go-style template: {{.State.Status}}, {{json .Config}}
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not fail when a volume does not exist (a volume in use is refused either way)
    #[arg(short, long)]
    pub force: bool,
    /// Volumes
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

pub async fn run(client: &Client, command: VolumeCommand) -> anyhow::Result<ExitCode> {
    match command {
        VolumeCommand::Create(args) => create(client, args).await,
        VolumeCommand::Ls(args) => ls(client, args).await,
        VolumeCommand::Inspect(args) => inspect(client, args).await,
        VolumeCommand::Rm(args) => {
            let force = args.force;
            super::each(&args.volumes, |v| async move { client.remove_volume(&v, force).await }).await
        }
    }
}

/// `KEY=VALUE` flags as a map (a later one wins); `what` names the flag in errors.
fn pairs(flags: &[String], what: &str) -> Result<BTreeMap<String, String>, ApiError> {
    flags
        .iter()
        .map(|flag| match flag.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            // Docker's labels may be a bare key.
            None if what == "--label" && !flag.is_empty() => Ok((flag.clone(), String::new())),
            _ => Err(ApiError::new(ErrorKind::InvalidArgument, format!("{what} {flag:?}: expected KEY=VALUE"))),
        })
        .collect()
}

async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let name = match (args.name_flag, args.name) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::new(ErrorKind::InvalidArgument, format!("conflicting options: either specify --name {a:?} or provide the name {b:?} as an argument")).into());
        }
        (a, b) => a.or(b).unwrap_or_default(),
    };
    let request = VolumeCreate {
        name,
        driver: args.driver.unwrap_or_default(),
        driver_opts: pairs(&args.opt, "--opt")?,
        labels: pairs(&args.label, "--label")?,
    };
    let volume = client.create_volume(&request).await?;
    println!("{}", volume.name);
    Ok(ExitCode::SUCCESS)
}

fn labels_cell(volume: &Volume) -> String {
    volume.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

async fn ls(client: &Client, args: LsArgs) -> anyhow::Result<ExitCode> {
    let filters = Filters::from_flags(&args.filter).map_err(ApiError::from)?;
    let list = client.volumes(&filters).await?;
    for warning in &list.warnings {
        eprintln!("WARNING: {warning}");
    }
    if args.quiet {
        for v in &list.volumes {
            println!("{}", v.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    match args.format.as_str() {
        "table" => {
            let rows: Vec<Vec<String>> = list.volumes.iter().map(|v| vec![v.driver.clone(), v.name.clone()]).collect();
            print!("{}", table(&["DRIVER", "VOLUME NAME"], &rows));
        }
        "json" => {
            for v in &list.volumes {
                let line = serde_json::json!({
                    "Availability": "N/A",
                    "Driver": v.driver,
                    "Group": "N/A",
                    "Labels": labels_cell(v),
                    "Links": v.usage_data.map_or("N/A".to_owned(), |u| u.ref_count.to_string()),
                    "Mountpoint": v.mountpoint,
                    "Name": v.name,
                    "Scope": v.scope,
                    "Size": "N/A",
                    "Status": "N/A",
                });
                println!("{line}");
            }
        }
        other => anyhow::bail!("--format {other:?}: expected \"table\" or \"json\""),
    }
    Ok(ExitCode::SUCCESS)
}

async fn inspect(client: &Client, args: InspectArgs) -> anyhow::Result<ExitCode> {
    super::inspect_each(&args.volumes, "volume", args.format.as_deref(), |name| async move { client.inspect_volume(&name).await }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_labels_are_key_value_pairs() {
        let opts = pairs(&["type=tmpfs".into(), "o=size=64m,uid=1000".into()], "--opt").unwrap();
        assert_eq!(opts["o"], "size=64m,uid=1000");
        assert!(pairs(&["type".into()], "--opt").is_err());
        assert_eq!(pairs(&["flag".into()], "--label").unwrap()["flag"], "");
    }
}
