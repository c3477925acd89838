//! `hostctl:host/content`: a blob streamed to a plugin, verified while it reads.
//!
//! The host wraps a [`BlobSource`] (the image store's verifying reader) in a
//! [`BlobStream`] resource and lends it to the call. Reads count as progress for the
//! call's deadline (a layer of any size may take as long as it keeps moving). The
//! source turns its end into an error when the digest does not match; the stream
//! remembers that, and the host refuses a call that returned success without reaching a
//! verified end.

use std::io::Read;

use wasmtime::component::Resource;

use super::wit_error;
use crate::bindings::host::hostctl::host::content::{Host, HostBlob};
use crate::bindings::host::hostctl::types::types::{Error, ErrorKind};
use crate::sandbox::PluginState;

/// Bytes the host hands over per read at most, whatever the guest asks for.
const MAX_READ: u32 = 1 << 20;

/// A stored blob as a plugin may read it: bytes that are verified against `digest` by
/// the time the reader reports its end (an `InvalidData` error instead, on a mismatch).
pub trait BlobSource: Read + Send {
    /// `sha256:<hex>`.
    fn digest(&self) -> String;
    /// Length in bytes.
    fn size(&self) -> u64;
}

/// How far a plugin got through a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamState {
    Reading,
    /// The source reported a verified end.
    Verified,
    /// The source failed (digest mismatch, short blob, I/O): the message.
    Failed(String),
}

/// The host's side of a `blob` resource.
pub struct BlobStream {
    source: Box<dyn BlobSource>,
    state: StreamState,
}

impl BlobStream {
    pub fn new(source: Box<dyn BlobSource>) -> Self {
        BlobStream { source, state: StreamState::Reading }
    }

    pub fn state(&self) -> &StreamState {
        &self.state
    }
}

impl Host for PluginState {}

impl HostBlob for PluginState {
    fn digest(&mut self, blob: Resource<BlobStream>) -> wasmtime::Result<String> {
        Ok(self.table.get(&blob)?.source.digest())
    }

    fn size(&mut self, blob: Resource<BlobStream>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&blob)?.source.size())
    }

    fn read(&mut self, blob: Resource<BlobStream>, len: u32) -> wasmtime::Result<Result<Vec<u8>, Error>> {
        let stream = self.table.get_mut(&blob)?;
        match &stream.state {
            StreamState::Verified => return Ok(Ok(Vec::new())),
            StreamState::Failed(message) => return Ok(Err(wit_error(ErrorKind::InvalidArgument, message.clone()))),
            StreamState::Reading => {}
        }
        let mut buf = vec![0u8; len.clamp(1, MAX_READ) as usize];
        let answer = loop {
            match stream.source.read(&mut buf) {
                Ok(0) => {
                    stream.state = StreamState::Verified;
                    break Ok(Vec::new());
                }
                Ok(n) => {
                    buf.truncate(n);
                    break Ok(buf);
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    let message = format!("blob {}: {err}", stream.source.digest());
                    stream.state = StreamState::Failed(message.clone());
                    let kind = if err.kind() == std::io::ErrorKind::InvalidData { ErrorKind::InvalidArgument } else { ErrorKind::Io };
                    break Err(wit_error(kind, message));
                }
            }
        };
        self.note_progress();
        Ok(answer)
    }

    fn drop(&mut self, blob: Resource<BlobStream>) -> wasmtime::Result<()> {
        self.table.delete(blob)?;
        Ok(())
    }
}
