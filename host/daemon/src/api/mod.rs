//! The HTTP API on the Unix socket: routes, and errors as Docker's `{"message"}` with a
//! `kind`, mapped to status by [`hostctl_api::ErrorKind::status`]. One module per
//! resource: [`containers`], [`images`], [`networks`], [`plugins`], [`system`], [`volumes`].

pub mod containers;
pub mod events;
pub mod images;
pub mod networks;
pub mod plugins;
pub mod system;
pub mod volumes;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hostctl_api::{ApiError, ErrorBody};

use crate::daemon::Daemon;

/// Every route the daemon serves.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(events::stream))
        .route("/plugins", get(plugins::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/{id}", axum::routing::delete(containers::remove))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/{id}", get(networks::inspect).delete(networks::remove))
        .route("/images/json", get(images::list))
        .route("/images/load", post(images::load))
        .route("/images/create", post(images::create))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/{name}", get(volumes::inspect).delete(volumes::remove))
        .with_state(daemon)
}

/// A failed request: becomes the error response.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl<E: Into<ApiError>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.into())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(kind = ?self.0.kind, "{}", self.0.message);
        }
        (status, axum::Json(ErrorBody::from(self.0))).into_response()
    }
}
