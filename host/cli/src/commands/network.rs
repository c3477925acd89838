//! `hostctl network`: create, list, inspect and remove networks, Docker's way.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use hostctl_api::Client;
use hostctl_api::networks::{Ipam, IpamConfig, NetworkCreate};

use crate::output::{short_id, table};

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the network (bridge, macvlan)
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format
    #[arg(long)]
    pub subnet: Option<String>,
    /// Gateway for the subnet
    #[arg(long)]
    pub gateway: Option<String>,
    /// Allocate container addresses from a sub-range
    #[arg(long)]
    pub ip_range: Option<String>,
    /// Driver specific options (key=value)
    #[arg(short = 'o', long = "opt")]
    pub options: Vec<String>,
    /// Metadata (key=value)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: "table" or "json"
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub networks: Vec<String>,
    /// Format the output with a Go-style template: {{.State.Status}}, {{json .Config}}
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(required = true)]
    pub networks: Vec<String>,
}

fn pairs(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (i.clone(), String::new()),
        })
        .collect()
}

pub async fn run(client: &Client, command: NetworkCommand) -> anyhow::Result<ExitCode> {
    match command {
        NetworkCommand::Create(args) => {
            let config = if args.subnet.is_some() || args.gateway.is_some() || args.ip_range.is_some() {
                vec![IpamConfig { subnet: args.subnet, gateway: args.gateway, ip_range: args.ip_range }]
            } else {
                Vec::new()
            };
            let created = client
                .create_network(&NetworkCreate {
                    name: args.name,
                    driver: args.driver,
                    ipam: Ipam { driver: "default".into(), config },
                    options: pairs(&args.options),
                    labels: pairs(&args.labels),
                })
                .await?;
            println!("{}", created.id);
        }
        NetworkCommand::Ls(args) => {
            let networks = client.networks().await?;
            if args.quiet {
                for n in &networks {
                    println!("{}", short_id(&n.id));
                }
            } else if args.format == "json" {
                for n in &networks {
                    println!("{}", serde_json::json!({"ID": short_id(&n.id), "Name": n.name, "Driver": n.driver, "Scope": n.scope}));
                }
            } else {
                let rows: Vec<Vec<String>> =
                    networks.iter().map(|n| vec![short_id(&n.id), n.name.clone(), n.driver.clone(), n.scope.clone()]).collect();
                print!("{}", table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows));
            }
        }
        NetworkCommand::Inspect(args) => {
            return super::inspect_each(&args.networks, "network", args.format.as_deref(), |n| async move { client.inspect_network(&n).await }).await;
        }
        NetworkCommand::Rm(args) => {
            return super::each(&args.networks, |n| async move { client.remove_network(&n).await }).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}
