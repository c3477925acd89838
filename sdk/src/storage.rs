//! Storage drivers: implement [`StorageDriver`], then `export_storage_driver!(MyDriver);`.
//!
//! The host calls a fresh instance for every operation, so a driver keeps its state on
//! disk under its root (WASI pre-opens it as `/`), not in memory. The contract, call by
//! call, is the WIT in `wit/storage/storage.wit`:
//!
//! - `apply_layer` creates a layer on a parent and unpacks a tar stream ([`LayerStream`],
//!   plain or gzip, verified against its digest by the host) into it, converting OCI
//!   whiteouts to whatever the driver's mounts understand;
//! - `create_layer` makes an empty writable layer for a container;
//! - `get` answers a [`MountPlan`]: the mounts (overlay, bind) the host checks against the
//!   driver's grants and performs, and which directory ends up as the rootfs.

use std::io;
use std::marker::PhantomData;

use crate::bindings::storage::exports::hostctl::storage::driver as guest;
use crate::bindings::host::hostctl::host::content::Blob;
use crate::{Error, Result};

pub use guest::{AppliedLayer, DriverInfo, Mount, MountPlan};

/// A storage driver. Every function is one call from the host; see the module docs.
pub trait StorageDriver {
    /// The driver's name as users see it (Docker's `Driver`) and status lines for `info`.
    fn info() -> DriverInfo;
    /// Create layer `id` on `parent` and apply the tar stream `layer` to it.
    fn apply_layer(id: String, parent: Option<String>, layer: LayerStream<'_>) -> Result<AppliedLayer>;
    /// Create an empty writable layer `id` on `parent`.
    fn create_layer(id: String, parent: Option<String>) -> Result<()>;
    /// The mounts that build layer `id`'s merged view.
    fn get(id: String) -> Result<MountPlan>;
    /// The host unmounted layer `id`'s merged view.
    fn put(id: String) -> Result<()>;
    /// Remove layer `id`; succeed if it is already (partly) gone.
    fn remove(id: String) -> Result<()>;
    /// Whether layer `id` exists.
    fn exists(id: String) -> bool;
    /// Docker's `GraphDriver.Data` for layer `id`.
    fn metadata(id: String) -> Result<Vec<(String, String)>>;
}

/// A layer tar as the host streams it: `std::io::Read` over the blob, which the host
/// verifies against its digest as it is read (a mismatch turns the end into an error).
pub struct LayerStream<'a> {
    blob: &'a Blob,
    chunk: Vec<u8>,
    pos: usize,
    host_error: Option<Error>,
}

/// Bytes asked of the host per read: large enough that crossings cost little next to
/// the file writes they feed, small enough that each read comes soon: a read is the
/// progress that keeps a call's deadline away, and 16 KiB of gzip can hold thousands of
/// files to write.
const CHUNK: u32 = 16 * 1024;

impl<'a> LayerStream<'a> {
    fn new(blob: &'a Blob) -> Self {
        LayerStream { blob, chunk: Vec::new(), pos: 0, host_error: None }
    }

    /// The digest (`sha256:<hex>`) the host verifies the stream against.
    pub fn digest(&self) -> String {
        self.blob.digest()
    }

    /// The length of the (possibly compressed) stream in bytes.
    pub fn size(&self) -> u64 {
        self.blob.size()
    }

    /// At most `len` bytes: what is left of the buffered chunk, else one read of `len`
    /// bytes from the host (empty at the verified end). For drivers that do their own
    /// chunking; `io::Read` reads 16 KiB from the host at a time.
    pub fn read_at_most(&mut self, len: u32) -> Result<Vec<u8>> {
        if self.pos < self.chunk.len() {
            let n = (len as usize).min(self.chunk.len() - self.pos);
            self.pos += n;
            return Ok(self.chunk[self.pos - n..self.pos].to_vec());
        }
        self.blob.read(len)
    }

    /// The error the host answered a read with (a digest mismatch, a short blob), if any.
    /// Prefer it to the `io::Error` a reader built on this stream reports.
    pub fn take_host_error(&mut self) -> Option<Error> {
        self.host_error.take()
    }
}

impl io::Read for LayerStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() {
            if let Some(err) = &self.host_error {
                return Err(io::Error::other(err.message.clone()));
            }
            match self.blob.read(CHUNK) {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Err(err) => {
                    let message = err.message.clone();
                    self.host_error = Some(err);
                    return Err(io::Error::other(message));
                }
            }
            if self.chunk.is_empty() {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Adapts a [`StorageDriver`] to the generated export trait; used by
/// [`export_storage_driver!`](crate::export_storage_driver).
#[doc(hidden)]
pub struct Export<T>(PhantomData<T>);

impl<T: StorageDriver> guest::Guest for Export<T> {
    fn info() -> DriverInfo {
        T::info()
    }
    fn apply_layer(id: String, parent: Option<String>, layer: &Blob) -> Result<AppliedLayer> {
        T::apply_layer(id, parent, LayerStream::new(layer))
    }
    fn create_layer(id: String, parent: Option<String>) -> Result<()> {
        T::create_layer(id, parent)
    }
    fn get(id: String) -> Result<MountPlan> {
        T::get(id)
    }
    fn put(id: String) -> Result<()> {
        T::put(id)
    }
    fn remove(id: String) -> Result<()> {
        T::remove(id)
    }
    fn exists(id: String) -> bool {
        T::exists(id)
    }
    fn metadata(id: String) -> Result<Vec<(String, String)>> {
        T::metadata(id)
    }
}

/// Export a [`StorageDriver`] as this component's `hostctl:storage/driver`.
///
/// ```ignore
/// struct Overlay2;
/// impl hostctl_sdk::storage::StorageDriver for Overlay2 { /* ... */ }
/// hostctl_sdk::export_storage_driver!(Overlay2);
/// ```
#[macro_export]
macro_rules! export_storage_driver {
    ($driver:ty) => {
        type __HostctlStorageDriver = $crate::storage::Export<$driver>;
        $crate::bindings::storage::export_storage_world!(
            __HostctlStorageDriver with_types_in $crate::bindings::storage
        );
    };
}
