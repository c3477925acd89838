//! `hostctl shim start --bundle DIR --id ID`: what the daemon runs to start a container.
//!
//! It forks the long-lived shim ([`crate::supervisor`]) and waits on a pipe for its
//! report: the shim writes one JSON [`Report`] once the container's command has been
//! exec'd (or has failed to be), then closes the pipe. This process prints the
//! [`Started`] or [`StartFailed`] line on stdout and exits 0 or 1; the shim carries on
//! in its own session, re-parented away from the daemon.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hostctl_kernel::container::sys;
use serde::{Deserialize, Serialize};

use crate::bundle::Bundle;
use crate::protocol::{StartFailed, Started};

/// What the shim tells the start command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    Started(Started),
    Failed(StartFailed),
}

/// Run the start command; see the module docs.
pub fn run(bundle: &Path, id: &str) -> ExitCode {
    let report = start(bundle, id);
    let (line, code) = match &report {
        Report::Started(started) => (serde_json::to_string(started), ExitCode::SUCCESS),
        Report::Failed(failed) => (serde_json::to_string(failed), ExitCode::from(1)),
    };
    println!("{}", line.expect("the report serializes"));
    code
}

fn failed(message: String) -> Report {
    Report::Failed(StartFailed { message, exit_code: 125 })
}

/// A container id names its default cgroup and shows in paths: a plain word.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !id.starts_with(['.', '-']);
    if ok { Ok(()) } else { Err(format!("container id {id:?}: expected letters, digits, '_', '.', '-'")) }
}

fn start(bundle: &Path, id: &str) -> Report {
    if let Err(message) = check_id(id) {
        return failed(message);
    }
    let dir: PathBuf = match std::path::absolute(bundle) {
        Ok(dir) if dir.join("config.json").is_file() => dir,
        _ => return failed(format!("bundle {}: no config.json there", bundle.display())),
    };
    if let Err(e) = sys::ensure_single_threaded() {
        return failed(format!("shim start: {e}"));
    }
    let (read, write) = match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
        Ok(pipe) => pipe,
        Err(e) => return failed(format!("shim start: report pipe: {e}")),
    };
    // SAFETY: checked single-threaded just above.
    let shim = match unsafe { sys::fork() } {
        Err(e) => return failed(format!("shim start: fork: {e}")),
        Ok(None) => {
            drop(read);
            sys::exit_now(crate::supervisor::run(Bundle::new(dir), id, write))
        }
        Ok(Some(pid)) => pid,
    };
    drop(write);
    let mut text = Vec::new();
    let _ = std::fs::File::from(read).read_to_end(&mut text);
    let report = serde_json::from_slice::<Report>(&text).unwrap_or_else(|_| {
        failed(format!("the shim exited without reporting; see {}", Bundle::new(&dir).dir().join("shim.log").display()))
    });
    if let Report::Failed(_) = report {
        // The shim has cleaned up and exits: do not leave a zombie behind.
        let pid = rustix::process::Pid::from_raw(shim);
        let _ = rustix::process::waitpid(pid, rustix::process::WaitOptions::empty());
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_words() {
        assert!(check_id("3f2a9c").is_ok());
        assert!(check_id("web_1.blue-x").is_ok());
        for bad in ["", "a/b", "..", "-x", "a b", &"x".repeat(129)] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reports_round_trip() {
        let report = Report::Failed(StartFailed { message: "m".into(), exit_code: 127 });
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), report);
    }
}
