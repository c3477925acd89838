//! Progress of long work (`load`, `import`) as Docker's JSON message stream: a channel
//! from the blocking thread doing the work to the HTTP response, throttled so a fast
//! layer does not send a message per read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hostctl_api::types::JsonMessage;
use tokio::sync::mpsc::Sender;

/// How often one object's progress is reported at most.
const EVERY: Duration = Duration::from_millis(100);

/// Where a long operation reports progress. Sending never blocks the work for long and
/// never fails it: a client that went away just stops receiving.
/// Clones report to the same place.
#[derive(Debug, Clone)]
pub struct Progress {
    tx: Option<Sender<JsonMessage>>,
    quiet: bool,
    last: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Progress {
    /// Report to `tx`; when `quiet`, only outcome lines are sent.
    pub fn new(tx: Sender<JsonMessage>, quiet: bool) -> Self {
        Progress { tx: Some(tx), quiet, last: Arc::default() }
    }

    /// A sink, for callers without a client (tests, recovery).
    pub fn none() -> Self {
        Progress { tx: None, quiet: true, last: Arc::default() }
    }

    /// `status` for object `id`: `current` of `total` bytes (sent at most every 100 ms,
    /// and always when done).
    pub fn bytes(&self, status: &str, id: &str, current: u64, total: u64) {
        if self.quiet {
            return;
        }
        let now = Instant::now();
        {
            let mut last = self.last.lock().expect("progress lock");
            let done = current >= total;
            if !done && last.get(id).is_some_and(|t| now.duration_since(*t) < EVERY) {
                return;
            }
            last.insert(id.to_owned(), now);
        }
        self.send(JsonMessage::progress(status, id, current, total));
    }

    /// An outcome line ("Loaded image: busybox:latest"); sent even when quiet.
    pub fn line(&self, text: &str) {
        self.send(JsonMessage::stream(format!("{text}\n")));
    }

    /// A status line (`import` prints the new image's ID this way, as Docker).
    pub fn status(&self, text: &str) {
        self.send(JsonMessage { status: Some(text.to_owned()), ..Default::default() });
    }

    /// The final message of a failed operation.
    pub fn fail(&self, error: hostctl_api::ApiError) {
        self.send(JsonMessage::failure(error.into()));
    }

    fn send(&self, message: JsonMessage) {
        if let Some(tx) = &self.tx {
            let _ = tx.blocking_send(message);
        }
    }
}
