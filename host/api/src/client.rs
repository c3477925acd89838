//! The client for the daemon's Unix socket: HTTP/1.1 + JSON, one connection per request
//! (connecting to a local socket costs microseconds).
//!
//! [`Client::from_host`] takes what `-H`/`HOSTCTL_HOST` say (`unix:///path` or a path).
//! Plain requests decode JSON; `load` and `import` stream a body up and a
//! [`MessageStream`] of [`JsonMessage`]s down, ending in an error message on failure;
//! `events` answers an [`EventStream`] of events (and lag notices) as they happen.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, Empty, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::error::{ApiError, ErrorBody, ErrorKind};
use crate::lines::JsonLines;
use crate::types::{ImageSummary, Info, JsonMessage, PluginSummary, Version};

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/hostctl/hostctl.sock";

type Body = BoxBody<Bytes, std::io::Error>;

/// A client of one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

/// What `hostctl import` asks for (Docker's `POST /images/create?fromSrc=-`).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `name[:tag]` to tag the image with, if any.
    pub reference: Option<String>,
    /// Dockerfile-style changes (`CMD ["sh"]`, `ENV K=V`, …).
    pub changes: Vec<String>,
    /// The history comment.
    pub message: Option<String>,
    /// Where the tar came from, for the history (a file name, or `-`).
    pub source: String,
}

impl Client {
    /// A client for the daemon at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client { socket: socket.into() }
    }

    /// A client for `host`: `unix:///path/to.sock` or a plain path.
    pub fn from_host(host: &str) -> Result<Self, ApiError> {
        if let Some(path) = host.strip_prefix("unix://") {
            return Ok(Client::new(path));
        }
        if host.starts_with('/') {
            return Ok(Client::new(host));
        }
        Err(ApiError::new(
            ErrorKind::InvalidArgument,
            format!("host {host:?}: expected unix:///path/to/hostctl.sock (hostctl listens on a Unix socket only)"),
        ))
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> Result<Response<Incoming>, ApiError> {
        let stream = UnixStream::connect(&self.socket).await.map_err(|e| {
            ApiError::new(
                ErrorKind::Unavailable,
                format!("cannot reach the hostctl daemon at {}: {e}; is `hostctl daemon` running?", self.socket.display()),
            )
        })?;
        let broken = |e: hyper::Error| ApiError::new(ErrorKind::Unavailable, format!("talking to the daemon: {e}"));
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(broken)?;
        tokio::spawn(connection);
        let response = sender.send_request(request).await.map_err(broken)?;
        // 304 (start of a running container, stop of a stopped one) is Docker's "nothing
        // to do", not a failure.
        if response.status().is_success() || response.status() == hyper::StatusCode::NOT_MODIFIED {
            Ok(response)
        } else {
            Err(error_from(response).await)
        }
    }

    pub(crate) fn request(method: Method, path: &str, body: Body) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "hostctl")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(body)
            .expect("request parts are valid")
    }

    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let response = self.send(Self::request(Method::GET, path, empty())).await?;
        let bytes = read_all(response).await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::new(ErrorKind::Internal, format!("GET {path}: bad answer from the daemon: {e}")))
    }

    /// POST a JSON body, decode a JSON answer.
    pub(crate) async fn post_json<T: DeserializeOwned>(&self, path: &str, body: Vec<u8>) -> Result<T, ApiError> {
        let body = http_body_util::Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed();
        let response = self.send(Self::request(Method::POST, path, body)).await?;
        let bytes = read_all(response).await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::new(ErrorKind::Internal, format!("POST {path}: bad answer from the daemon: {e}")))
    }

    /// `GET /_ping`.
    pub async fn ping(&self) -> Result<(), ApiError> {
        self.send(Self::request(Method::GET, "/_ping", empty())).await.map(|_| ())
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<Version, ApiError> {
        self.get_json("/version").await
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<Info, ApiError> {
        self.get_json("/info").await
    }

    /// `GET /images/json`.
    pub async fn images(&self, all: bool) -> Result<Vec<ImageSummary>, ApiError> {
        self.get_json(if all { "/images/json?all=1" } else { "/images/json" }).await
    }

    /// `GET /plugins`.
    pub async fn plugins(&self) -> Result<Vec<PluginSummary>, ApiError> {
        self.get_json("/plugins").await
    }

    /// `POST /images/load`: stream an image archive up, progress down.
    pub async fn load<S>(&self, archive: S, quiet: bool) -> Result<MessageStream, ApiError>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static,
    {
        let path = if quiet { "/images/load?quiet=1" } else { "/images/load" };
        self.post_stream(path, archive).await
    }

    /// `POST /images/create?fromSrc=-`: import a rootfs tar as a one-layer image.
    pub async fn import<S>(&self, tar: S, options: &ImportOptions) -> Result<MessageStream, ApiError>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static,
    {
        let mut query: Vec<(&str, &str)> = vec![("fromSrc", "-"), ("source", &options.source)];
        if let Some(reference) = &options.reference {
            query.push(("repo", reference));
        }
        if let Some(message) = &options.message {
            query.push(("message", message));
        }
        for change in &options.changes {
            query.push(("changes", change));
        }
        let query = serde_urlencoded::to_string(&query).expect("strings encode");
        self.post_stream(&format!("/images/create?{query}"), tar).await
    }

    /// `GET /events`: events as they happen, those `filters` let through, until `until`
    /// (Unix seconds or RFC 3339) if given, else until the daemon stops or the stream is
    /// dropped. `since` asks for replay (the daemon refuses it while it keeps no event log).
    /// Answers once the daemon has subscribed, so nothing published after this returns
    /// is missed.
    pub async fn events(&self, filters: &crate::events::Filters, since: Option<&str>, until: Option<&str>) -> Result<EventStream, ApiError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if !filters.is_empty() {
            query.push(("filters", filters.to_json()));
        }
        if let Some(since) = since {
            query.push(("since", since.to_owned()));
        }
        if let Some(until) = until {
            query.push(("until", until.to_owned()));
        }
        let path = match serde_urlencoded::to_string(&query).expect("strings encode") {
            q if q.is_empty() => "/events".to_owned(),
            q => format!("/events?{q}"),
        };
        let response = self.send(Self::request(Method::GET, &path, empty())).await?;
        Ok(EventStream { lines: crate::lines::JsonLines::new(response.into_body()) })
    }

    async fn post_stream<S>(&self, path: &str, upload: S) -> Result<MessageStream, ApiError>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static,
    {
        let body = BodyExt::boxed(StreamBody::new(upload.map(|chunk| chunk.map(Frame::data))));
        let mut request = Self::request(Method::POST, path, body);
        request.headers_mut().insert(hyper::header::CONTENT_TYPE, "application/x-tar".parse().expect("valid header"));
        let response = self.send(request).await?;
        Ok(MessageStream { lines: JsonLines::new(response.into_body()), failed: false })
    }
}

/// `name` as one URL path segment.
pub(crate) fn segment(name: &str) -> String {
    let mut out = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub(crate) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

async fn read_all(response: Response<Incoming>) -> Result<Bytes, ApiError> {
    response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::new(ErrorKind::Unavailable, format!("reading the daemon's answer: {e}")))
}

async fn error_from(response: Response<Incoming>) -> ApiError {
    let status = response.status().as_u16();
    let fallback = ErrorKind::from_status(status);
    match read_all(response).await {
        Ok(bytes) => match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => ApiError::new(body.kind.unwrap_or(fallback), body.message),
            Err(_) => ApiError::new(fallback, format!("daemon answered {status}: {}", String::from_utf8_lossy(&bytes).trim())),
        },
        Err(e) => e,
    }
}

/// Newline-separated [`JsonMessage`]s from a streamed response.
pub struct MessageStream {
    lines: JsonLines,
    failed: bool,
}

impl MessageStream {
    /// The next message; `None` at the end. A message carrying an error comes back as
    /// `Err` and ends the stream.
    pub async fn next(&mut self) -> Option<Result<JsonMessage, ApiError>> {
        if self.failed {
            return None;
        }
        let message = match self.lines.next::<JsonMessage>().await? {
            Ok(message) => message,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let failure = match (&message.error_detail, &message.error) {
            (Some(detail), _) => Some(ApiError::new(detail.kind.unwrap_or(ErrorKind::Internal), detail.message.clone())),
            (None, Some(error)) => Some(ApiError::new(ErrorKind::Internal, error.clone())),
            (None, None) => None,
        };
        match failure {
            Some(e) => {
                self.failed = true;
                Some(Err(e))
            }
            None => Some(Ok(message)),
        }
    }
}

/// The lines of `GET /events`: events, and notices that this reader fell behind.
pub struct EventStream {
    lines: crate::lines::JsonLines,
}

impl EventStream {
    /// The next line; `None` when the stream ends (`until` reached, the daemon stopped).
    pub async fn next(&mut self) -> Option<Result<crate::events::EventLine, ApiError>> {
        self.lines.next().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_unix_sockets() {
        assert_eq!(Client::from_host("unix:///tmp/x.sock").unwrap().socket(), Path::new("/tmp/x.sock"));
        assert_eq!(Client::from_host("/run/h.sock").unwrap().socket(), Path::new("/run/h.sock"));
        assert_eq!(Client::from_host("tcp://1.2.3.4:2375").unwrap_err().kind, ErrorKind::InvalidArgument);
    }
}
