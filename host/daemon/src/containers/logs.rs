//! A container's log, as its shim writes it (Docker's json-file: one
//! `{"log","stream","time"}` object per line), read back for `hostctl logs` and for the
//! output of a foreground `hostctl run`.
//!
//! Following reads what is there, then polls for more every few milliseconds (and at
//! once when the container's state changes) until the container is no longer running and everything it wrote has been read. The shim writes
//! the log before it records the exit, so nothing written is ever missed; the daemon
//! creates the (empty) log with the bundle, so a follower opened before the start holds
//! the file even if the container is removed before its first read.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use hostctl_api::types::LogEntry;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

/// How often a follower looks for more output.
const POLL: Duration = Duration::from_millis(10);

/// What `logs` asks for.
#[derive(Debug, Clone)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines (before following).
    pub tail: Option<usize>,
    pub stdout: bool,
    pub stderr: bool,
}

/// Send the log at `path` to `tx` as `options` say. `running` tells whether the container
/// may still write; it is asked only when following and at the end of what is there.
/// `changed` resolves when the container's state may have changed (its exit), so a
/// follower ends at once rather than at its next poll.
pub async fn send<F: Future<Output = ()>>(
    path: PathBuf,
    options: LogOptions,
    running: impl Fn() -> bool,
    mut changed: impl FnMut() -> F,
    tx: mpsc::Sender<LogEntry>,
) {
    let wanted = |e: &LogEntry| (e.stream == "stdout" && options.stdout) || (e.stream == "stderr" && options.stderr);
    let mut file = tokio::fs::File::open(&path).await.ok();
    let mut offset = 0u64;
    let mut partial = Vec::new();
    // What is there now, cut to the tail.
    let mut first: VecDeque<LogEntry> = VecDeque::new();
    if let Some(f) = file.as_mut() {
        for entry in read_more(f, &mut offset, &mut partial).await.into_iter().filter(|e| wanted(e)) {
            first.push_back(entry);
            if let Some(n) = options.tail
                && first.len() > n
            {
                first.pop_front();
            }
        }
    }
    for entry in first {
        if tx.send(entry).await.is_err() {
            return;
        }
    }
    if !options.follow {
        return;
    }
    loop {
        // Ask before reading: if it had stopped, this read is the last one needed.
        let still_running = running();
        if file.is_none() {
            file = tokio::fs::File::open(&path).await.ok();
        }
        if let Some(f) = file.as_mut() {
            for entry in read_more(f, &mut offset, &mut partial).await.into_iter().filter(|e| wanted(e)) {
                if tx.send(entry).await.is_err() {
                    return;
                }
            }
        }
        if !still_running {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = changed() => {}
            _ = tx.closed() => return,
        }
    }
}

/// The entries appended since `offset` (complete lines only; a partial one waits in
/// `partial`).
async fn read_more(file: &mut tokio::fs::File, offset: &mut u64, partial: &mut Vec<u8>) -> Vec<LogEntry> {
    let mut bytes = Vec::new();
    if file.seek(std::io::SeekFrom::Start(*offset)).await.is_err() || file.read_to_end(&mut bytes).await.is_err() {
        return Vec::new();
    }
    *offset += bytes.len() as u64;
    partial.extend_from_slice(&bytes);
    let mut entries = Vec::new();
    while let Some(at) = partial.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = partial.drain(..=at).collect();
        match serde_json::from_slice::<LogEntry>(&line) {
            Ok(entry) => entries.push(entry),
            Err(e) => tracing::warn!("skipping a malformed log line: {e}"),
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, stream: &str) -> String {
        format!("{}\n", serde_json::json!({"log": format!("{text}\n"), "stream": stream, "time": "2026-01-01T00:00:00.000000000Z"}))
    }

    async fn collect(path: PathBuf, options: LogOptions) -> Vec<String> {
        let (tx, mut rx) = mpsc::channel(100);
        send(path, options, || false, std::future::pending, tx).await;
        let mut out = Vec::new();
        while let Some(e) = rx.recv().await {
            out.push(format!("{}:{}", e.stream, e.log.trim_end()));
        }
        out
    }

    #[tokio::test]
    async fn tail_and_stream_filters_apply() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        std::fs::write(&path, [line("a", "stdout"), line("b", "stderr"), line("c", "stdout")].concat()).unwrap();
        let all = LogOptions { follow: false, tail: None, stdout: true, stderr: true };
        assert_eq!(collect(path.clone(), all.clone()).await, ["stdout:a", "stderr:b", "stdout:c"]);
        assert_eq!(collect(path.clone(), LogOptions { tail: Some(1), ..all.clone() }).await, ["stdout:c"]);
        assert_eq!(collect(path.clone(), LogOptions { stderr: false, ..all.clone() }).await, ["stdout:a", "stdout:c"]);
        // Following a stopped container ends after what is there.
        assert_eq!(collect(path, LogOptions { follow: true, ..all }).await.len(), 3);
    }
}
