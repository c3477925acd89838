//! The long-lived shim, from its fork to the start report.
//!
//! It leaves the daemon's world first: a new session (no terminal, no process group to
//! be signalled with), child subreaper (orphans of the container come to it), stdio on
//! `/dev/null`, every inherited descriptor but the report pipe closed, the bundle as
//! working directory. Its own failures go to `shim.log` in the bundle.
//!
//! Then, still single-threaded: read `config.json`, create the cgroup with its limits,
//! open the output pipes and the log, and start the container
//! ([`hostctl_kernel::container::start`]). On success it writes `shim.pid`, binds
//! `shim.sock` and reports [`Started`]; on failure it removes the cgroup, reports
//! [`StartFailed`] and exits.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;

use hostctl_kernel::cgroups::{Cgroup, Hierarchies};
use hostctl_kernel::container::{self, Config, StartFailure, Stdio, sys};
use oci_spec::runtime::Spec;
use rustix::fs::{Mode, OFlags};

use crate::bundle::Bundle;
use crate::log::JsonLog;
use crate::protocol::StartFailed;
use crate::serve::Running;
use crate::start::Report;

/// The shim's own log (`shim.log`): one line per event worth a human's attention.
#[derive(Debug)]
pub struct ShimLog(Option<File>);

impl ShimLog {
    fn open(bundle: &Bundle) -> ShimLog {
        let file = OpenOptions::new().create(true).append(true).mode(0o640).open(bundle.dir().join("shim.log"));
        ShimLog(file.ok())
    }

    /// Append `message` with a timestamp.
    pub fn line(&self, message: impl std::fmt::Display) {
        if let Some(mut file) = self.0.as_ref() {
            let _ = writeln!(file, "{} {message}", crate::time::now());
        }
    }
}

/// The shim's life; the process's exit code.
pub fn run(bundle: Bundle, id: &str, report: OwnedFd) -> i32 {
    if let Err(e) = detach(&bundle, &report) {
        send(&report, &Report::Failed(StartFailed { message: format!("shim: {e}"), exit_code: 125 }));
        return 1;
    }
    let log = ShimLog::open(&bundle);
    match start(&bundle, id, &log) {
        Err(failure) => {
            log.line(format_args!("start failed: {}", failure.message));
            send(&report, &Report::Failed(StartFailed { message: failure.message, exit_code: failure.exit_code }));
            1
        }
        Ok(running) => {
            send(&report, &Report::Started(running.started()));
            drop(report);
            running.serve(&log)
        }
    }
}

fn send(report: &OwnedFd, what: &Report) {
    let text = serde_json::to_vec(what).expect("the report serializes");
    let _ = rustix::io::write(report, &text);
}

/// Leave the daemon's session, descriptors and working directory.
fn detach(bundle: &Bundle, report: &OwnedFd) -> std::io::Result<()> {
    rustix::process::setsid()?;
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    sys::close_all_but(report.as_raw_fd())?;
    let null = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&null)?;
    std::env::set_current_dir(bundle.dir())
}

fn runtime(message: impl std::fmt::Display) -> StartFailure {
    StartFailure::new(125, message.to_string())
}

/// Everything up to a running container; on failure nothing is left.
fn start(bundle: &Bundle, id: &str, log: &ShimLog) -> Result<Running, StartFailure> {
    let spec = Spec::load(bundle.config()).map_err(|e| runtime(format!("config.json: {e}")))?;
    let mut config = Config::from_spec(&spec).map_err(runtime)?;
    for ignored in &config.ignored {
        log.line(format_args!("not applied: {ignored}"));
    }
    let path = config.cgroups_path.clone().unwrap_or_else(|| format!("/hostctl/{id}"));
    let hierarchies = Hierarchies::detect().and_then(|h| h.choose(config.cgroup_version));
    let cgroup = hierarchies.and_then(|h| h.create(&path, &config.limits)).map_err(runtime)?;
    config.show_cgroup(&cgroup);
    match start_in(bundle, &config, &cgroup) {
        Ok(running) => Ok(running),
        Err(failure) => {
            if let Err(e) = cgroup.remove() {
                log.line(format_args!("removing the cgroup: {e}"));
            }
            Err(failure)
        }
    }
}

fn start_in(bundle: &Bundle, config: &Config, cgroup: &Cgroup) -> Result<Running, StartFailure> {
    fn io(what: &'static str) -> impl Fn(std::io::Error) -> StartFailure {
        move |e| runtime(format!("shim: {what}: {e}"))
    }
    let handles = cgroup.join_handles().map_err(runtime)?;
    let container_log = OpenOptions::new().create(true).append(true).mode(0o640).open(bundle.log()).map_err(io("open container.log"))?;
    let pipe = || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| io("output pipe")(e.into()));
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    for fd in [&stdout_read, &stderr_read] {
        rustix::fs::fcntl_setfl(fd, OFlags::NONBLOCK).map_err(|e| io("output pipe")(e.into()))?;
    }
    let stdin = rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| io("open /dev/null")(e.into()))?;
    let stdio = Stdio { stdin, stdout: stdout_write, stderr: stderr_write };

    let started = container::start(config, stdio, Some(&handles))?;
    let started_at = crate::time::now();
    let running = Running::new(
        bundle.clone(),
        started,
        started_at,
        cgroup.clone(),
        [stdout_read, stderr_read],
        JsonLog::new(container_log),
        !config.new_pid_namespace,
    );
    let listener = write_pid_and_bind(bundle);
    match listener {
        Ok(listener) => Ok(running.listening(listener)),
        Err(message) => {
            running.kill_and_reap();
            Err(runtime(message))
        }
    }
}

/// `shim.pid` (replaced atomically; not fsynced: a pid means nothing after a crash of
/// the machine), then `shim.sock`, bound by its name relative to the
/// bundle (the shim's working directory), so a long data-root path cannot exceed the
/// 108 bytes of a socket address.
fn write_pid_and_bind(bundle: &Bundle) -> Result<UnixListener, String> {
    let pid = format!("{}\n", std::process::id());
    write_replacing(bundle.dir(), "shim.pid", pid.as_bytes(), false).map_err(|e| format!("shim: write shim.pid: {e}"))?;
    let _ = std::fs::remove_file("shim.sock");
    let listener = UnixListener::bind("shim.sock").map_err(|e| format!("shim: bind shim.sock: {e}"));
    let listener = listener.and_then(|l| l.set_nonblocking(true).map(|()| l).map_err(|e| format!("shim: shim.sock: {e}")));
    if listener.is_err() {
        let _ = std::fs::remove_file(bundle.shim_pid());
    }
    listener
}

/// Write `dir/name` so that a crash leaves either the old file or the new one: a
/// temporary file, fsync, rename, fsync of the directory.
pub fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    write_replacing(dir, name, bytes, true)
}

/// Write a temporary file and rename it over `dir/name`, so readers never see a partial
/// file; with `durable`, fsync the file before and the directory after the rename.
fn write_replacing(dir: &Path, name: &str, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = OpenOptions::new().create(true).write(true).truncate(true).mode(0o644).open(&tmp)?;
    file.write_all(bytes)?;
    if durable {
        file.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    if durable {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}
