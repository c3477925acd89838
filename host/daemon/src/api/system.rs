//! `/_ping`, `/version`, `/info`: the daemon as a whole.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use hostctl_api::types::{Info, Version};

use super::Failure;
use crate::daemon::Daemon;

/// The API version this daemon speaks (Docker's numbering is not implied).
pub const API_VERSION: &str = "0.1";

pub async fn ping() -> &'static str {
    "OK"
}

pub async fn version() -> Json<Version> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Json(Version {
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: API_VERSION.into(),
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        kernel_version: kernel.trim().into(),
    })
}

pub async fn info(State(daemon): State<Arc<Daemon>>) -> Result<Json<Info>, Failure> {
    let images = daemon.images.count()?;
    Ok(Json(Info {
        driver: daemon.driver_info.name.clone(),
        driver_plugin: daemon.storage.name().to_owned(),
        driver_status: daemon.driver_info.status.clone(),
        images,
        docker_root_dir: daemon.config.data_root.display().to_string(),
        plugins: daemon.registry.plugins().iter().map(|p| p.name.clone()).collect(),
    }))
}
