//! What can go wrong in the image service, and how each failure maps to an API error kind.

use hostctl_api::{ApiError, ErrorKind};
use hostctl_image::ArchiveError;
use hostctl_image::blobs::BlobError;
use hostctl_image::change::ChangeError;
use hostctl_image::layer::LayerError;
use hostctl_image::reference::ReferenceError;
use hostctl_plugin_runtime::PluginError;

use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("layer {layer}: the storage driver read DiffID {actual}, but the image config says {expected}")]
    DiffIdMismatch { layer: String, expected: String, actual: String },
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        let kind = match &e {
            ImageError::Archive(ArchiveError::Io { .. }) | ImageError::Blob(_) | ImageError::State(_) => ErrorKind::Internal,
            ImageError::Archive(ArchiveError::Blob(_)) => ErrorKind::Internal,
            ImageError::Archive(_) | ImageError::Layer(_) | ImageError::Reference(_) | ImageError::Change(_) => ErrorKind::InvalidArgument,
            ImageError::DiffIdMismatch { .. } | ImageError::Invalid(_) => ErrorKind::InvalidArgument,
            ImageError::NotFound(_) => ErrorKind::NotFound,
            ImageError::Plugin(p) => match p.kind() {
                hostctl_plugin_runtime::ErrorKind::NotFound => ErrorKind::NotFound,
                hostctl_plugin_runtime::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
                hostctl_plugin_runtime::ErrorKind::InvalidArgument | hostctl_plugin_runtime::ErrorKind::Denied => ErrorKind::InvalidArgument,
                _ => ErrorKind::PluginFailed,
            },
        };
        ApiError::new(kind, e.to_string())
    }
}
