//! The daemon's side of a shim: starting one (`hostctl shim start`) and talking to it on
//! its socket. See `hostctl_shim::protocol` for the contract.

use std::path::Path;
use std::time::Duration;

use hostctl_shim::bundle::Bundle;
use hostctl_shim::protocol::{ExitInfo, Request, Response, StartFailed, Started};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Why talking to a shim failed.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The container did not start; what its shim said.
    #[error("{}", .0.message)]
    StartFailed(StartFailed),
    #[error("starting the shim: {0}")]
    Spawn(String),
    #[error("shim {}: {message}", socket.display())]
    Talk { socket: std::path::PathBuf, message: String },
}

/// Run `hostctl shim start` for `bundle` and return once the container runs.
pub async fn start(hostctl: &Path, bundle: &Bundle, id: &str) -> Result<Started, ShimError> {
    let out = tokio::process::Command::new(hostctl)
        .arg("shim")
        .arg("start")
        .arg("--bundle")
        .arg(bundle.dir())
        .arg("--id")
        .arg(id)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| ShimError::Spawn(format!("{}: {e}", hostctl.display())))?;
    let line = String::from_utf8_lossy(&out.stdout);
    let line = line.lines().last().unwrap_or("");
    if out.status.success() {
        return serde_json::from_str(line).map_err(|e| ShimError::Spawn(format!("bad answer {line:?}: {e}")));
    }
    match serde_json::from_str::<StartFailed>(line) {
        Ok(failed) => Err(ShimError::StartFailed(failed)),
        Err(_) => Err(ShimError::Spawn(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))),
    }
}

/// Connect to the shim of `bundle`. A socket path may not exceed 107 bytes (`sun_path`),
/// and bundle paths under a deep data root do; so the shim binds `shim.sock` relative to
/// its bundle, and the daemon connects through `/proc/self/fd/<bundle dir>/shim.sock`,
/// which is always short.
async fn connect(bundle: &Bundle) -> std::io::Result<UnixStream> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_DIRECTORY).open(bundle.dir())?;
    let path = format!("/proc/self/fd/{}/shim.sock", dir.as_raw_fd());
    let stream = UnixStream::connect(&path).await;
    drop(dir);
    stream
}

/// Send one request to the shim of `bundle` and read its answer.
pub async fn request(bundle: &Bundle, request: &Request) -> Result<Response, ShimError> {
    let socket = bundle.socket();
    let talk = |message: String| ShimError::Talk { socket: socket.clone(), message };
    let mut stream = connect(bundle).await.map_err(|e| talk(format!("connecting: {e}")))?;
    let mut line = serde_json::to_vec(request).expect("requests serialize");
    line.push(b'\n');
    stream.write_all(&line).await.map_err(|e| talk(format!("writing: {e}")))?;
    let mut answer = String::new();
    let n = BufReader::new(stream).read_line(&mut answer).await.map_err(|e| talk(format!("reading: {e}")))?;
    if n == 0 {
        return Err(talk("it closed the connection without answering".into()));
    }
    serde_json::from_str(&answer).map_err(|e| talk(format!("bad answer {answer:?}: {e}")))
}

/// Send `signal` to the container's init.
pub async fn kill(bundle: &Bundle, signal: i32) -> Result<(), ShimError> {
    match request(bundle, &Request::Kill { signal }).await? {
        Response::Ok | Response::Exited(_) => Ok(()),
        Response::Error { message } => Err(ShimError::Talk { socket: bundle.socket(), message }),
        other => Err(ShimError::Talk { socket: bundle.socket(), message: format!("unexpected answer {other:?}") }),
    }
}

/// Wait for the container of `bundle` to exit. A container that ended before we asked
/// has its exit in `exit.json` already (its shim may be gone); a shim that is not
/// listening yet (just started) is asked again for a moment.
pub async fn wait(bundle: &Bundle) -> Result<ExitInfo, ShimError> {
    let socket = bundle.socket();
    let mut attempts = 0;
    loop {
        if let Some(info) = recorded_exit(bundle) {
            return Ok(info);
        }
        match request(bundle, &Request::Wait).await {
            Ok(Response::Exited(info)) => return Ok(info),
            Ok(other) => return Err(ShimError::Talk { socket, message: format!("unexpected answer {other:?}") }),
            Err(e) if attempts < 400 => {
                attempts += 1;
                if attempts == 1 {
                    tracing::debug!("waiting for the shim: {e}");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// How the container ended, as its shim recorded it in the bundle (if it did).
pub fn recorded_exit(bundle: &Bundle) -> Option<ExitInfo> {
    let text = std::fs::read(bundle.exit()).ok()?;
    serde_json::from_slice(&text).ok()
}
