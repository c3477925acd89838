//! `hostctl run`: create and start a container; in the foreground, stream its output and
//! exit with its exit code, as `docker run` does.
//!
//! Order matters: the wait for the next exit and the log stream are registered with the
//! daemon before the container starts, so neither the first line of output nor a quick
//! exit (nor the removal of a `--rm` container) can slip past.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use hostctl_api::containers::LogsOptions;
use hostctl_api::{ApiError, Client};

use super::create::ContainerFlags;

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub container: ContainerFlags,
}

/// Docker's exit code for a `run` that failed before the command could run.
const FAILED_TO_RUN: u8 = 125;

pub async fn run(client: &Client, args: RunArgs) -> anyhow::Result<ExitCode> {
    let request = match args.container.request() {
        Ok(request) => request,
        Err(e) => return Ok(fail(&e, FAILED_TO_RUN)),
    };
    let detach = args.detach || request.detach.unwrap_or(false);
    let created = match client.create_container(request.name.as_deref(), &request.create).await {
        Ok(c) => c,
        Err(e) => return Ok(fail(&e, FAILED_TO_RUN)),
    };
    let id = created.id;
    if detach {
        if let Err(e) = client.start_container(&id).await {
            return Ok(fail(&e, start_failure_code(client, &id).await));
        }
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    // As Docker's CLI: with --rm, the exit code once the container is removed, so a
    // `ps -a` right after `run --rm` no longer lists it.
    let condition = if request.create.host_config.auto_remove { "removed" } else { "next-exit" };
    let waiting = client.wait_container(&id, condition).await?;
    let mut logs = client.logs(&id, &LogsOptions { follow: true, tail: None, stdout: true, stderr: true }).await?;
    if let Err(e) = client.start_container(&id).await {
        let code = start_failure_code(client, &id).await;
        if request.create.host_config.auto_remove {
            let _ = client.remove_container(&id, true).await;
        }
        return Ok(fail(&e, code));
    }
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    while let Some(entry) = logs.next().await {
        let entry = entry?;
        let sink: &mut dyn Write = if entry.stream == "stderr" { &mut err } else { &mut out };
        sink.write_all(entry.log.as_bytes())?;
        sink.flush()?;
    }
    let code = waiting.status().await?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// 126 or 127 when the command could not be run (not executable, not found), as the
/// daemon recorded it; 125 otherwise.
async fn start_failure_code(client: &Client, id: &str) -> u8 {
    match client.inspect_container(id).await {
        Ok(doc) => match doc["State"]["ExitCode"].as_i64() {
            Some(code @ (126 | 127)) => code as u8,
            _ => FAILED_TO_RUN,
        },
        Err(_) => FAILED_TO_RUN,
    }
}

fn fail(e: &ApiError, code: u8) -> ExitCode {
    eprintln!("Error: {}", e.message);
    ExitCode::from(code)
}
