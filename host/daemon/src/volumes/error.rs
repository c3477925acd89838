//! What can go wrong with volumes, and the API error kind each maps to.

use hostctl_api::events::FilterError;
use hostctl_api::{ApiError, ErrorKind};
use hostctl_plugin_runtime::PluginError;

use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("no such volume: {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// Docker's words: `remove data: volume is in use - [id, ...]`.
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    InUse { name: String, users: Vec<String> },
    #[error("{0}")]
    Conflict(String),
    #[error("volume driver {driver:?} is not available: {reason}")]
    NoDriver { driver: String, reason: String },
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("volume service: {0}")]
    Internal(String),
}

impl From<VolumeError> for ApiError {
    fn from(e: VolumeError) -> Self {
        let kind = match &e {
            VolumeError::NotFound(_) | VolumeError::NoDriver { .. } => ErrorKind::NotFound,
            VolumeError::Invalid(_) | VolumeError::Filter(_) => ErrorKind::InvalidArgument,
            VolumeError::InUse { .. } | VolumeError::Conflict(_) => ErrorKind::Conflict,
            VolumeError::State(_) | VolumeError::Internal(_) => ErrorKind::Internal,
            VolumeError::Plugin(p) => match p.kind() {
                hostctl_plugin_runtime::ErrorKind::NotFound => ErrorKind::NotFound,
                hostctl_plugin_runtime::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
                // A bind source outside the driver's grants is a request this host refuses.
                hostctl_plugin_runtime::ErrorKind::InvalidArgument | hostctl_plugin_runtime::ErrorKind::Denied => ErrorKind::InvalidArgument,
                _ => ErrorKind::PluginFailed,
            },
        };
        ApiError::new(kind, e.to_string())
    }
}
