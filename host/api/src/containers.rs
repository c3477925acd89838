//! The client's container calls (`POST /containers/create`, `…/start`, `…/wait`, `logs`,
//! …), Docker's Engine API paths.

use hyper::Method;

use crate::client::{Client, empty, segment};
use crate::error::{ApiError, ErrorBody, ErrorKind};
use crate::lines::JsonLines;
use crate::types::{ContainerCreate, ContainerCreated, ContainerSummary, ContainerWaitResponse, LogEntry};

/// What `logs` asks for.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    pub stdout: bool,
    pub stderr: bool,
}

/// A pending `wait`: the daemon answered its headers, so the wait is registered; the
/// status comes with the body.
pub struct Waiting {
    lines: JsonLines,
}

impl Waiting {
    /// The exit code, once the condition holds.
    pub async fn status(mut self) -> Result<i64, ApiError> {
        match self.lines.next::<ContainerWaitResponse>().await {
            Some(Ok(answer)) => match answer.error {
                Some(ErrorBody { message, kind }) => Err(ApiError::new(kind.unwrap_or(ErrorKind::Internal), message)),
                None => Ok(answer.status_code),
            },
            Some(Err(e)) => Err(e),
            None => Err(ApiError::new(ErrorKind::Unavailable, "the daemon ended the wait without an answer")),
        }
    }
}

/// A container's log lines.
pub struct LogStream {
    lines: JsonLines,
}

impl LogStream {
    pub async fn next(&mut self) -> Option<Result<LogEntry, ApiError>> {
        self.lines.next().await
    }
}

fn query(pairs: &[(&str, String)]) -> String {
    let q = serde_urlencoded::to_string(pairs).expect("strings encode");
    if q.is_empty() { q } else { format!("?{q}") }
}

impl Client {
    /// `POST /containers/create`.
    pub async fn create_container(&self, name: Option<&str>, config: &ContainerCreate) -> Result<ContainerCreated, ApiError> {
        let q = query(&name.map(|n| vec![("name", n.to_owned())]).unwrap_or_default());
        let body = serde_json::to_vec(config).expect("configs serialize");
        self.post_json(&format!("/containers/create{q}"), body).await
    }

    /// `POST /containers/{id}/start`; `false` if it was running already.
    pub async fn start_container(&self, id: &str) -> Result<bool, ApiError> {
        let response = self.send(Self::request(Method::POST, &format!("/containers/{}/start", segment(id)), empty())).await?;
        Ok(response.status() != hyper::StatusCode::NOT_MODIFIED)
    }

    /// `POST /containers/{id}/stop?t=`; `false` if it was not running.
    pub async fn stop_container(&self, id: &str, timeout: Option<u64>) -> Result<bool, ApiError> {
        let q = query(&timeout.map(|t| vec![("t", t.to_string())]).unwrap_or_default());
        let response = self.send(Self::request(Method::POST, &format!("/containers/{}/stop{q}", segment(id)), empty())).await?;
        Ok(response.status() != hyper::StatusCode::NOT_MODIFIED)
    }

    /// `POST /containers/{id}/restart?t=`: stop, then start.
    pub async fn restart_container(&self, id: &str, timeout: Option<u64>) -> Result<(), ApiError> {
        let q = query(&timeout.map(|t| vec![("t", t.to_string())]).unwrap_or_default());
        self.send(Self::request(Method::POST, &format!("/containers/{}/restart{q}", segment(id)), empty())).await.map(drop)
    }

    /// `POST /containers/{id}/kill?signal=`.
    pub async fn kill_container(&self, id: &str, signal: Option<&str>) -> Result<(), ApiError> {
        let q = query(&signal.map(|s| vec![("signal", s.to_owned())]).unwrap_or_default());
        self.send(Self::request(Method::POST, &format!("/containers/{}/kill{q}", segment(id)), empty())).await.map(drop)
    }

    /// `DELETE /containers/{id}?force=`.
    pub async fn remove_container(&self, id: &str, force: bool) -> Result<(), ApiError> {
        let q = if force { "?force=1" } else { "" };
        self.send(Self::request(Method::DELETE, &format!("/containers/{}{q}", segment(id)), empty())).await.map(drop)
    }

    /// `POST /containers/{id}/wait?condition=` (`not-running`, `next-exit`, `removed`).
    /// Returns once the daemon registered the wait.
    pub async fn wait_container(&self, id: &str, condition: &str) -> Result<Waiting, ApiError> {
        let path = format!("/containers/{}/wait?condition={condition}", segment(id));
        let response = self.send(Self::request(Method::POST, &path, empty())).await?;
        Ok(Waiting { lines: JsonLines::new(response.into_body()) })
    }

    /// `GET /containers/json`.
    pub async fn containers(&self, all: bool) -> Result<Vec<ContainerSummary>, ApiError> {
        self.get_json(if all { "/containers/json?all=1" } else { "/containers/json" }).await
    }

    /// `GET /containers/{id}/json`: Docker's inspect document.
    pub async fn inspect_container(&self, id: &str) -> Result<serde_json::Value, ApiError> {
        self.get_json(&format!("/containers/{}/json", segment(id))).await
    }

    /// `GET /containers/{id}/logs`.
    pub async fn logs(&self, id: &str, options: &LogsOptions) -> Result<LogStream, ApiError> {
        let mut pairs = vec![("stdout", (options.stdout as u8).to_string()), ("stderr", (options.stderr as u8).to_string())];
        if options.follow {
            pairs.push(("follow", "1".into()));
        }
        if let Some(n) = options.tail {
            pairs.push(("tail", n.to_string()));
        }
        let path = format!("/containers/{}/logs{}", segment(id), query(&pairs));
        let response = self.send(Self::request(Method::GET, &path, empty())).await?;
        Ok(LogStream { lines: JsonLines::new(response.into_body()) })
    }
}
