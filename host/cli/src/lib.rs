//! # hostctl-cli
//!
//! The `hostctl` command line, Docker's dialect: the same verbs, flags, table columns and
//! exit codes. It talks to the daemon only through [`hostctl_api::Client`].
//!
//! [`GlobalArgs`] holds what every command shares (`-H/--host`, `HOSTCTL_HOST`,
//! `--debug`); [`Command`] is the verb, one module per verb under [`commands`], each
//! holding its clap struct and its handler. [`output`] formats sizes, times and tables as
//! Docker's CLI does; [`progress`] renders streamed progress on a terminal;
//! [`spec_file`] reads `run -f spec.toml`; [`security_opt`] turns `--security-opt
//! seccomp=FILE` into the profile's JSON, as Docker's CLI sends it; [`template`] is
//! `inspect -f`.

pub mod commands;
pub mod output;
pub mod progress;
pub mod security_opt;
pub mod spec_file;
pub mod template;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use hostctl_api::{ApiError, Client, DEFAULT_SOCKET, ErrorKind};

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Daemon socket to connect to (unix:///path)
    #[arg(short = 'H', long = "host", env = "HOSTCTL_HOST", global = true, default_value_t = format!("unix://{DEFAULT_SOCKET}"))]
    pub host: String,
    /// Print the error kind and more detail on failure
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,
}

/// The CLI's verbs (`hostctl daemon` is added by the binary).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    Run(commands::run::RunArgs),
    /// Create a new container
    Create(commands::create::CreateArgs),
    /// Start one or more stopped containers
    Start(commands::start::StartArgs),
    /// List containers
    Ps(commands::ps::PsArgs),
    /// Fetch the logs of a container
    Logs(commands::logs::LogsArgs),
    /// Stop one or more running containers
    Stop(commands::stop::StopArgs),
    /// Kill one or more running containers
    Kill(commands::kill::KillArgs),
    /// Restart one or more containers
    Restart(commands::restart::RestartArgs),
    /// Remove one or more containers
    Rm(commands::rm::RmArgs),
    /// Return low-level information on containers
    Inspect(commands::inspect::InspectArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(commands::wait::WaitArgs),
    /// Get real time events from the daemon (or, with --nats, from every host on a NATS server)
    Events(commands::events::EventsArgs),
    /// List images
    Images(commands::images::ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(commands::import::ImportArgs),
    /// Load an image from a tar archive (docker save or OCI layout) or STDIN
    Load(commands::load::LoadArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(commands::network::NetworkCommand),
    /// Manage plugins
    #[command(subcommand)]
    Plugin(commands::plugin::PluginCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(commands::volume::VolumeCommand),
    /// Display system-wide information
    Info(commands::info::InfoArgs),
    /// Show the hostctl version information
    Version(commands::version::VersionArgs),
}

/// Run `command`; the exit code follows the error's kind.
pub fn main(global: GlobalArgs, command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("Error: starting the CLI's runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let debug = global.debug;
    match runtime.block_on(run(global, command)) {
        Ok(code) => code,
        Err(err) => {
            let (kind, message) = match err.downcast_ref::<ApiError>() {
                Some(api) => (api.kind, api.message.clone()),
                None => (ErrorKind::Internal, format!("{err:#}")),
            };
            eprintln!("Error: {message}");
            if debug {
                eprintln!("  kind: {kind:?}");
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
            }
            ExitCode::from(kind.exit_code() as u8)
        }
    }
}

async fn run(global: GlobalArgs, command: Command) -> anyhow::Result<ExitCode> {
    let client = Client::from_host(&global.host)?;
    match command {
        Command::Run(args) => commands::run::run(&client, args).await,
        Command::Create(args) => commands::create::run(&client, args).await,
        Command::Start(args) => commands::start::run(&client, args).await,
        Command::Ps(args) => commands::ps::run(&client, args).await,
        Command::Logs(args) => commands::logs::run(&client, args).await,
        Command::Stop(args) => commands::stop::run(&client, args).await,
        Command::Kill(args) => commands::kill::run(&client, args).await,
        Command::Restart(args) => commands::restart::run(&client, args).await,
        Command::Rm(args) => commands::rm::run(&client, args).await,
        Command::Inspect(args) => commands::inspect::run(&client, args).await,
        Command::Wait(args) => commands::wait::run(&client, args).await,
        Command::Events(args) => commands::events::run(&client, args).await,
        Command::Images(args) => commands::images::run(&client, args).await,
        Command::Import(args) => commands::import::run(&client, args).await,
        Command::Load(args) => commands::load::run(&client, args).await,
        Command::Network(cmd) => commands::network::run(&client, cmd).await,
        Command::Plugin(cmd) => commands::plugin::run(&client, cmd).await,
        Command::Volume(cmd) => commands::volume::run(&client, cmd).await,
        Command::Info(args) => commands::info::run(&client, args).await,
        Command::Version(args) => commands::version::run(&client, args).await,
    }
}
