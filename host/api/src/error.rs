//! Errors on the wire: Docker's `{"message": ...}` body plus a `kind`, mapped to HTTP
//! status in one function ([`ErrorKind::status`]) and to CLI exit codes in another
//! ([`ErrorKind::exit_code`]).

use serde::{Deserialize, Serialize};

/// What kind of failure an API error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The named object does not exist (404).
    NotFound,
    /// The object exists already (409).
    AlreadyExists,
    /// The request is malformed: a bad flag, a bad archive, a bad reference (400).
    InvalidArgument,
    /// The request conflicts with the current state (409).
    Conflict,
    /// A plugin the request needs refused or failed (500, with the plugin named).
    PluginFailed,
    /// The daemon cannot serve this now (503), or the CLI cannot reach it.
    Unavailable,
    /// Anything else (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status the daemon answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::AlreadyExists | ErrorKind::Conflict => 409,
            ErrorKind::InvalidArgument => 400,
            ErrorKind::Unavailable => 503,
            ErrorKind::PluginFailed | ErrorKind::Internal => 500,
        }
    }

    /// The kind a status means, for bodies that carry none.
    pub fn from_status(status: u16) -> Self {
        match status {
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            400 => ErrorKind::InvalidArgument,
            503 => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }

    /// The CLI's exit code: 2 for a request that was wrong (as for a usage error), 1 for
    /// everything else, as Docker's CLI does.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::InvalidArgument => 2,
            _ => 1,
        }
    }
}

/// The body of every error response (and `errorDetail` in streams).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
}

/// An error from the daemon, or from reaching it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError { kind, message: message.into() }
    }
}

impl From<ApiError> for ErrorBody {
    fn from(e: ApiError) -> Self {
        ErrorBody { message: e.message, kind: Some(e.kind) }
    }
}
