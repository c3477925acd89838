//! One module per verb: its clap arguments and its handler.

pub mod create;
pub mod events;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod load;
pub mod logs;
pub mod network;
pub mod plugin;
pub mod ps;
pub mod restart;
pub mod rm;
pub mod run;
pub mod start;
pub mod stop;
pub mod version;
pub mod volume;
pub mod wait;

use std::future::Future;
use std::process::ExitCode;

use hostctl_api::ApiError;

/// Run `op` on each named container, printing the name as given on success (as Docker's
/// `stop`, `kill`, `rm`, `start` do) and the error otherwise; fails if any failed.
pub(crate) async fn each<'a, F, Fut>(containers: &'a [String], op: F) -> anyhow::Result<ExitCode>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), ApiError>> + 'a,
{
    let mut last_error = None;
    for c in containers {
        match op(c.clone()).await {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("Error: {}", e.message);
                last_error = Some(e);
            }
        }
    }
    match last_error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => Ok(ExitCode::from(e.kind.exit_code() as u8)),
    }
}
