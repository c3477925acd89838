//! What can go wrong with networks, and the API error kind each maps to.

use hostctl_api::{ApiError, ErrorKind};
use hostctl_plugin_runtime::PluginError;

use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> Self {
        let kind = match &e {
            NetworkError::NotFound(_) => ErrorKind::NotFound,
            NetworkError::Invalid(_) | NetworkError::Forbidden(_) => ErrorKind::InvalidArgument,
            NetworkError::Conflict(_) => ErrorKind::Conflict,
            NetworkError::Plugin(p) => match p.kind() {
                hostctl_plugin_runtime::ErrorKind::NotFound => ErrorKind::NotFound,
                hostctl_plugin_runtime::ErrorKind::AlreadyExists => ErrorKind::Conflict,
                hostctl_plugin_runtime::ErrorKind::InvalidArgument | hostctl_plugin_runtime::ErrorKind::Denied => ErrorKind::InvalidArgument,
                hostctl_plugin_runtime::ErrorKind::PluginFailed => ErrorKind::PluginFailed,
                _ => ErrorKind::Internal,
            },
            NetworkError::State(_) | NetworkError::Io { .. } => ErrorKind::Internal,
        };
        ApiError::new(kind, e.to_string())
    }
}
