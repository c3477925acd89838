//! What can go wrong with containers, and the API error kind each maps to.

use hostctl_api::{ApiError, ErrorKind};

use super::shim::ShimError;
use super::spec::SpecError;
use crate::images::ImageError;
use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// The container did not start; it keeps this exit code (127, 126, 125) as Docker does.
    #[error("container {id}: {message}")]
    StartFailed { id: String, message: String, exit_code: i32 },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A security option this host cannot honour (a bad capability, device, ulimit).
    #[error(transparent)]
    Security(#[from] super::security::SecurityError),
    #[error(transparent)]
    Shim(#[from] ShimError),
    #[error(transparent)]
    Plugin(#[from] hostctl_plugin_runtime::PluginError),
    #[error("{0}")]
    Network(String),
    #[error("container {id}: {what}: {source}")]
    Io {
        id: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl From<ContainerError> for ApiError {
    fn from(e: ContainerError) -> Self {
        let kind = match e {
            ContainerError::Image(ImageError::NotFound(name)) => {
                return ApiError::new(ErrorKind::NotFound, format!("no such image: {name} (there is no registry to pull from: load or import it first)"));
            }
            ContainerError::Image(image) => return image.into(),
            ContainerError::NotFound(_) => ErrorKind::NotFound,
            ContainerError::Invalid(_) => ErrorKind::InvalidArgument,
            ContainerError::Conflict(_) => ErrorKind::Conflict,
            ContainerError::StartFailed { exit_code: 126 | 127, .. } => ErrorKind::InvalidArgument,
            ContainerError::StartFailed { .. } => ErrorKind::Internal,
            ContainerError::Plugin(ref p) if p.kind() == hostctl_plugin_runtime::ErrorKind::PluginFailed => ErrorKind::PluginFailed,
            ContainerError::Network(_) | ContainerError::Security(_) => ErrorKind::InvalidArgument,
            ContainerError::Plugin(_)
            | ContainerError::State(_)
            | ContainerError::Spec(_)
            | ContainerError::Shim(_)
            | ContainerError::Io { .. } => ErrorKind::Internal,
        };
        ApiError::new(kind, e.to_string())
    }
}
