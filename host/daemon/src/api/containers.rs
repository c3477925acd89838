//! `/containers`: Docker's Engine API paths for the container lifecycle.
//!
//! `wait` answers its headers as soon as the waiter is registered and its body when the
//! condition holds, so a client may start the container after the headers and never miss
//! the exit (this is how `hostctl run` waits). `logs` streams newline-delimited
//! [`LogEntry`] JSON, following the log until the container stops when asked.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hostctl_api::types::{ContainerCreate, ContainerCreated, ContainerSummary, ContainerWaitResponse, LogEntry};
use hostctl_api::{ApiError, ErrorKind};
use serde::Deserialize;

use super::Failure;
use crate::containers::logs::{self, LogOptions};
use crate::containers::{WaitCondition, signals};
use crate::daemon::Daemon;

/// `"1"`, `"true"` and `"True"` are true, as Docker reads boolean query values.
fn truthy(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| matches!(v, "1" | "true" | "True"))
}

#[derive(Debug, Default, Deserialize)]
pub struct CreateQuery {
    name: Option<String>,
}

pub async fn create(
    State(daemon): State<Arc<Daemon>>,
    Query(query): Query<CreateQuery>,
    Json(body): Json<ContainerCreate>,
) -> Result<(StatusCode, Json<ContainerCreated>), Failure> {
    let record = daemon.containers.create(query.name.as_deref(), body).await?;
    Ok((StatusCode::CREATED, Json(ContainerCreated { id: record.id, warnings: Vec::new() })))
}

pub async fn start(State(daemon): State<Arc<Daemon>>, Path(id): Path<String>) -> Result<StatusCode, Failure> {
    Ok(if daemon.containers.start(&id).await? { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED })
}

#[derive(Debug, Default, Deserialize)]
pub struct StopQuery {
    t: Option<u64>,
}

pub async fn stop(State(daemon): State<Arc<Daemon>>, Path(id): Path<String>, Query(q): Query<StopQuery>) -> Result<StatusCode, Failure> {
    let stopped = daemon.containers.stop(&id, q.t.map(Duration::from_secs)).await?;
    Ok(if stopped { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED })
}

pub async fn restart(State(daemon): State<Arc<Daemon>>, Path(id): Path<String>, Query(q): Query<StopQuery>) -> Result<StatusCode, Failure> {
    daemon.containers.restart(&id, q.t.map(Duration::from_secs)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
pub struct KillQuery {
    signal: Option<String>,
}

pub async fn kill(State(daemon): State<Arc<Daemon>>, Path(id): Path<String>, Query(q): Query<KillQuery>) -> Result<StatusCode, Failure> {
    let signal = match &q.signal {
        Some(s) => signals::parse(s).map_err(|e| ApiError::new(ErrorKind::InvalidArgument, e))?,
        None => libc::SIGKILL,
    };
    daemon.containers.kill(&id, signal).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
pub struct RemoveQuery {
    force: Option<String>,
}

pub async fn remove(State(daemon): State<Arc<Daemon>>, Path(id): Path<String>, Query(q): Query<RemoveQuery>) -> Result<StatusCode, Failure> {
    daemon.containers.remove(&id, truthy(&q.force)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
pub struct WaitQuery {
    condition: Option<String>,
}

pub async fn wait(State(daemon): State<Arc<Daemon>>, Path(id): Path<String>, Query(q): Query<WaitQuery>) -> Result<Response, Failure> {
    let condition = match q.condition.as_deref().unwrap_or("not-running") {
        "not-running" | "" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => {
            return Err(ApiError::new(ErrorKind::InvalidArgument, format!("wait condition {other:?}: expected not-running, next-exit or removed")).into());
        }
    };
    let waiter = daemon.containers.waiter(&id, condition)?;
    let shutdown = daemon.shutdown.clone();
    let body = futures_util::stream::once(async move {
        let answer = tokio::select! {
            code = waiter => ContainerWaitResponse { status_code: code as i64, error: None },
            _ = shutdown.cancelled() => ContainerWaitResponse {
                status_code: -1,
                error: Some(ApiError::new(ErrorKind::Unavailable, "the daemon is stopping; the container goes on running").into()),
            },
        };
        let mut line = serde_json::to_vec(&answer).expect("serializes");
        line.push(b'\n');
        Ok::<_, std::io::Error>(bytes::Bytes::from(line))
    });
    Ok(Response::builder().header("content-type", "application/json").body(Body::from_stream(body)).expect("valid response"))
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    all: Option<String>,
}

pub async fn list(State(daemon): State<Arc<Daemon>>, Query(q): Query<ListQuery>) -> Result<Json<Vec<ContainerSummary>>, Failure> {
    Ok(Json(daemon.containers.list(truthy(&q.all))?))
}

pub async fn inspect(State(daemon): State<Arc<Daemon>>, Path(id): Path<String>) -> Result<Json<serde_json::Value>, Failure> {
    let doc = tokio::task::spawn_blocking(move || daemon.containers.inspect(&id)).await.expect("no panic")?;
    Ok(Json(doc))
}

#[derive(Debug, Default, Deserialize)]
pub struct LogsQuery {
    follow: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    tail: Option<String>,
}

pub async fn logs(State(daemon): State<Arc<Daemon>>, Path(id): Path<String>, Query(q): Query<LogsQuery>) -> Result<Response, Failure> {
    let (path, running, changed) = daemon.containers.log_source(&id)?;
    let tail = match q.tail.as_deref() {
        None | Some("all") | Some("") => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| ApiError::new(ErrorKind::InvalidArgument, format!("tail {n:?}: expected a number or \"all\"")))?),
    };
    // Neither stream named means both, as `docker logs` asks.
    let (stdout, stderr) = match (truthy(&q.stdout), truthy(&q.stderr)) {
        (false, false) => (true, true),
        both => both,
    };
    let options = LogOptions { follow: truthy(&q.follow), tail, stdout, stderr };
    let (tx, rx) = tokio::sync::mpsc::channel::<LogEntry>(256);
    let shutdown = daemon.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = logs::send(path, options, running, changed, tx) => {}
            _ = shutdown.cancelled() => {}
        }
    });
    let lines = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) }).map(|entry| {
        let mut line = serde_json::to_vec(&entry).expect("entries serialize");
        line.push(b'\n');
        Ok::<_, std::io::Error>(bytes::Bytes::from(line))
    });
    Ok(Response::builder().header("content-type", "application/json").body(Body::from_stream(lines)).expect("valid response").into_response())
}
