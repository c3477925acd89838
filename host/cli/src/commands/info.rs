//! `hostctl info`: the storage driver, image count, data root and plugins.

use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Output format: "text" or "json"
    #[arg(long, default_value = "text")]
    pub format: String,
}

pub async fn run(client: &Client, args: InfoArgs) -> anyhow::Result<ExitCode> {
    let info = client.info().await?;
    if args.format == "json" {
        println!("{}", serde_json::to_string(&info)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Images: {}", info.images);
    println!("Storage Driver: {} (plugin {})", info.driver, info.driver_plugin);
    for (key, value) in &info.driver_status {
        println!(" {key}: {value}");
    }
    println!("Plugins: {}", info.plugins.join(", "));
    println!("Hostctl Root Dir: {}", info.docker_root_dir);
    Ok(ExitCode::SUCCESS)
}
