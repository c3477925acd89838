//! `hostctl daemon --detach`: start the daemon in the background and return once it
//! serves its socket. There is no systemd on these machines, so the daemon detaches
//! itself: it re-executes `hostctl daemon` without `--detach` in a new session, stdio to
//! the log file, and waits for `GET /_ping` to answer (or for the child to die, showing
//! the end of its log).

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::config::Config;

/// How long a first start may take (it compiles every plugin once).
const READY_WITHIN: Duration = Duration::from_secs(120);

pub fn detach(config: &Config) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the hostctl binary")?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).filter(|a| a != "--detach" && a != "-d").collect();
    let log_path = config.log_file.clone().unwrap_or_else(crate::daemon::default_detached_log);
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening the log {}", log_path.display()))?;
    let start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    let mut command = Command::new(exe);
    command.args(&args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    if config.log_file.is_none() {
        command.arg("--log-file").arg(&log_path);
    }
    // SAFETY: setsid(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| rustix::process::setsid().map(drop).map_err(std::io::Error::from));
    }
    let mut child = command.spawn().context("starting the daemon")?;
    let started = Instant::now();
    loop {
        if ping(&config.socket) {
            println!("hostctl daemon running, pid {}, socket {}, log {}", child.id(), config.socket.display(), log_path.display());
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("the daemon exited ({status}) before serving:\n{}", log_since(&log_path, start));
        }
        if started.elapsed() > READY_WITHIN {
            bail!("the daemon (pid {}) did not serve {} within {:?}; see {}", child.id(), config.socket.display(), READY_WITHIN, log_path.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a daemon answers `GET /_ping` on `socket`.
fn ping(socket: &Path) -> bool {
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(socket) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /_ping HTTP/1.1\r\nHost: hostctl\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

fn log_since(path: &Path, offset: u64) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(text.get(offset as usize..).unwrap_or_default()).trim_end().to_owned()
}
