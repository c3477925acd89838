//! `/volumes`: Docker's Engine API paths for volumes: `POST /volumes/create`,
//! `GET /volumes?filters=`, `GET /volumes/{name}`, `DELETE /volumes/{name}?force=`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hostctl_api::volumes::{Volume, VolumeCreate, VolumeList};
use hostctl_api::{ApiError, ErrorKind};
use serde::Deserialize;

use super::Failure;
use crate::daemon::Daemon;
use crate::events::Filters;

/// The body is optional (`{}` and nothing both create an anonymous volume with the
/// default driver), and a malformed one is an invalid argument with the reason.
pub async fn create(State(daemon): State<Arc<Daemon>>, body: Bytes) -> Result<(StatusCode, Json<Volume>), Failure> {
    let request: VolumeCreate = if body.iter().all(u8::is_ascii_whitespace) {
        VolumeCreate::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::new(ErrorKind::InvalidArgument, format!("volume create: {e}")))?
    };
    let name = Some(request.name).filter(|n| !n.is_empty());
    let driver = Some(request.driver).filter(|d| !d.is_empty());
    let volume = daemon.volumes.create(name, driver, request.driver_opts, request.labels).await?;
    Ok((StatusCode::CREATED, Json(volume)))
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    filters: Option<String>,
}

pub async fn list(State(daemon): State<Arc<Daemon>>, Query(query): Query<ListQuery>) -> Result<Json<VolumeList>, Failure> {
    let filters = Filters::from_json(query.filters.as_deref().unwrap_or(""))?;
    let volumes = daemon.volumes.list(filters).await?;
    Ok(Json(VolumeList { volumes, warnings: Vec::new() }))
}

pub async fn inspect(State(daemon): State<Arc<Daemon>>, Path(name): Path<String>) -> Result<Json<Volume>, Failure> {
    Ok(Json(daemon.volumes.inspect(&name).await?))
}

#[derive(Debug, Default, Deserialize)]
pub struct RemoveQuery {
    force: Option<String>,
}

pub async fn remove(State(daemon): State<Arc<Daemon>>, Path(name): Path<String>, Query(query): Query<RemoveQuery>) -> Result<StatusCode, Failure> {
    let force = query.force.as_deref().is_some_and(|v| matches!(v, "1" | "true" | "True"));
    daemon.volumes.remove(&name, force).await?;
    Ok(StatusCode::NO_CONTENT)
}
