//! `/images`: list (`GET /images/json`), load an archive (`POST /images/load`), import a
//! rootfs tar (`POST /images/create?fromSrc=-`, as Docker).
//!
//! Load and import stream both ways: the request body is read on a blocking thread as
//! the work consumes it, and progress flows back as JSON messages while it runs. A
//! failure after the response started is the stream's last message (Docker's
//! `errorDetail`), carrying the error's kind.

use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::{StreamExt, TryStreamExt};
use hostctl_api::types::{ImageSummary, JsonMessage};
use serde::Deserialize;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::Failure;
use crate::daemon::Daemon;
use crate::images::ImportRequest;
use crate::progress::Progress;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    all: Option<String>,
}

pub async fn list(State(daemon): State<Arc<Daemon>>, Query(query): Query<ListQuery>) -> Result<Json<Vec<ImageSummary>>, Failure> {
    let all = query.all.as_deref().is_some_and(|v| v == "1" || v == "true");
    let images = tokio::task::spawn_blocking(move || daemon.images.list(all)).await.map_err(|e| hostctl_api::ApiError::new(hostctl_api::ErrorKind::Internal, e.to_string()))??;
    Ok(Json(images))
}

#[derive(Debug, Default, Deserialize)]
pub struct LoadQuery {
    #[serde(default)]
    quiet: Option<String>,
}

pub async fn load(State(daemon): State<Arc<Daemon>>, Query(query): Query<LoadQuery>, body: Body) -> Response {
    let quiet = query.quiet.as_deref().is_some_and(|v| v == "1" || v == "true");
    streamed(body, quiet, move |reader, progress| {
        let loaded = daemon.images.load(reader, progress)?;
        for image in loaded {
            if image.tags.is_empty() {
                progress.line(&format!("Loaded image ID: {}", image.id));
            }
            for tag in &image.tags {
                progress.line(&format!("Loaded image: {tag}"));
            }
        }
        Ok(())
    })
}

/// Docker's `POST /images/create` query; only `fromSrc=-` (import from the body) is
/// served: there is no registry to pull from.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateQuery {
    from_src: Option<String>,
    from_image: Option<String>,
    repo: Option<String>,
    tag: Option<String>,
    message: Option<String>,
    source: Option<String>,
}

pub async fn create(State(daemon): State<Arc<Daemon>>, axum::extract::RawQuery(raw): axum::extract::RawQuery, body: Body) -> Result<Response, Failure> {
    let raw = raw.unwrap_or_default();
    let query: CreateQuery = serde_urlencoded::from_str(&raw)
        .map_err(|e| hostctl_api::ApiError::new(hostctl_api::ErrorKind::InvalidArgument, format!("query: {e}")))?;
    // `changes` repeats, which a struct cannot hold: collect it separately.
    let changes: Vec<String> = serde_urlencoded::from_str::<Vec<(String, String)>>(&raw)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == "changes")
        .map(|(_, v)| v)
        .collect();
    if query.from_image.is_some() {
        return Err(hostctl_api::ApiError::new(
            hostctl_api::ErrorKind::InvalidArgument,
            "pulling images from a registry is not supported yet; use `hostctl load` or `hostctl import`",
        )
        .into());
    }
    if query.from_src.as_deref() != Some("-") {
        return Err(hostctl_api::ApiError::new(hostctl_api::ErrorKind::InvalidArgument, "import reads the image from the request body: use fromSrc=-").into());
    }
    let reference = match (query.repo, query.tag) {
        (Some(repo), Some(tag)) if !tag.is_empty() => Some(format!("{repo}:{tag}")),
        (repo, _) => repo.filter(|r| !r.is_empty()),
    };
    let request = ImportRequest { reference, changes, message: query.message, source: query.source.unwrap_or_else(|| "-".into()) };
    Ok(streamed(body, false, move |reader, progress| {
        let id = daemon.images.import(reader, &request, progress)?;
        progress.status(&id.to_string());
        Ok(())
    }))
}

/// Run `work` on a blocking thread over the request body, streaming its progress back.
fn streamed<F>(body: Body, quiet: bool, work: F) -> Response
where
    F: FnOnce(&mut dyn Read, &Progress) -> Result<(), crate::images::ImageError> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<JsonMessage>(64);
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut reader = SyncIoBridge::new(StreamReader::new(stream));
    tokio::task::spawn_blocking(move || {
        let progress = Progress::new(tx, quiet);
        if let Err(err) = work(&mut reader, &progress) {
            let err: hostctl_api::ApiError = err.into();
            tracing::warn!(kind = ?err.kind, "{}", err.message);
            progress.fail(err);
            // Read the rest of the upload so the client's send completes and it sees
            // the error message rather than a broken pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        }
    });
    let lines = tokio_stream_from(rx).map(|message| {
        let mut line = serde_json::to_vec(&message).expect("messages serialize");
        line.push(b'\n');
        Ok::<_, std::io::Error>(bytes::Bytes::from(line))
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(lines))
        .expect("response parts are valid")
}

fn tokio_stream_from<T: Send + 'static>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
