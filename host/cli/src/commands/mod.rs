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

use hostctl_api::{ApiError, ErrorKind};

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

/// Docker's `inspect` of named objects: those found as one JSON array (`[]` when none
/// is) or through `format`, an error line `Error: No such {what}: NAME` for each name
/// that matches none, and exit 1 if any did not; other errors end it at once.
pub(crate) async fn inspect_each<T, F, Fut>(names: &[String], what: &str, format: Option<&str>, fetch: F) -> anyhow::Result<ExitCode>
where
    T: serde::Serialize,
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut found = Vec::new();
    let mut missing = None;
    for name in names {
        match fetch(name.clone()).await {
            Ok(doc) => found.push(doc),
            Err(err) if err.kind == ErrorKind::NotFound => {
                eprintln!("Error: No such {what}: {name}");
                missing = Some(err);
            }
            Err(err) => return Err(err.into()),
        }
    }
    crate::output::print_inspected(&found, format)?;
    Ok(match missing {
        None => ExitCode::SUCCESS,
        Some(err) => ExitCode::from(err.kind.exit_code() as u8),
    })
}
