//! Newline-delimited JSON from a streamed response body: the shape of every long answer
//! the daemon gives (`load` and `import` progress, `events`, container `logs`).

use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorKind};

/// Lines of a response body, decoded one JSON value at a time.
pub struct JsonLines {
    body: Incoming,
    buf: Vec<u8>,
    done: bool,
}

impl JsonLines {
    pub fn new(body: Incoming) -> Self {
        JsonLines { body, buf: Vec::new(), done: false }
    }

    /// The next non-blank line, raw; `None` at the end of the body.
    pub async fn next_line(&mut self) -> Option<Result<Vec<u8>, ApiError>> {
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=at).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(Ok(line));
            }
            if self.done {
                if self.buf.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                return Some(Ok(std::mem::take(&mut self.buf)));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    self.buf.clear();
                    return Some(Err(ApiError::new(ErrorKind::Unavailable, format!("the daemon's answer broke off: {e}"))));
                }
                None => self.done = true,
            }
        }
    }

    /// The next line decoded as a `T`.
    pub async fn next<T: DeserializeOwned>(&mut self) -> Option<Result<T, ApiError>> {
        let line = match self.next_line().await? {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        Some(serde_json::from_slice(&line).map_err(|e| {
            ApiError::new(ErrorKind::Internal, format!("bad line from the daemon ({e}): {}", String::from_utf8_lossy(&line).trim()))
        }))
    }
}
