//! # overlay2-store
//!
//! hostctl's bundled storage driver: image layers and containers' writable layers laid
//! out on disk exactly as Docker's `overlay2` lays them out, mounted with overlayfs.
//! It is a WebAssembly component written against `hostctl-sdk` only; the host pre-opens
//! the driver's root as `/`, calls a fresh instance for every operation (so everything
//! lives on disk, nothing in memory), and performs the mounts that [`plan`] describes.
//!
//! A tour, in the order a layer lives:
//!
//! - [`layout`]: layer ids, the `l/` short links, the `link` and `lower` files: naming
//!   and reading Docker's overlay2 layout.
//! - [`layer`]: creating a layer so that a half-made one is never taken for a finished
//!   one, and removing it (also when only part of it exists).
//! - [`stream`]: the layer stream, sniffed (gzip or plain; zstd and xz refused),
//!   decompressed and hashed into the DiffID as it is read.
//! - [`apply`]: the tar's entries written into `diff/`, OCI whiteouts turned into overlay
//!   whiteouts, with [`paths`] (entry name normalisation, whiteout names) and [`tree`]
//!   (every write confined to the layer, later entries replacing earlier ones).
//! - [`plan`]: `get`'s mount plans (a read-write overlay for a layer with parents, a bind
//!   of `diff/` for a base layer), `put`, and Docker's `GraphDriver.Data`.
//! - [`host`]: the privileged file operations and the log, behind a trait so that all of
//!   the above runs natively under `cargo test` against a fake.
//!
//! Capabilities used (`plugin.toml`): files `chown`, `chmod`, `whiteout`, `opaque`,
//! `mknod`, `xattr`, `symlink`; mounts `overlay`, `bind`.

mod apply;
mod host;
mod layer;
mod layout;
mod paths;
mod plan;
mod stream;
#[cfg(test)]
mod testutil;
mod tree;

use hostctl_sdk::Result;
use hostctl_sdk::storage::{AppliedLayer, DriverInfo, LayerStream, MountPlan, StorageDriver};

use crate::host::{Host, Root, Sdk};
use crate::layer::Role;

/// The overlay2 storage driver.
struct Overlay2;

impl StorageDriver for Overlay2 {
    fn info() -> DriverInfo {
        let fact = |key: &str, value: &str| (key.to_owned(), value.to_owned());
        DriverInfo {
            name: "overlay2".into(),
            status: vec![
                fact(
                    "Layout",
                    "overlay2 (l/ short links, diff, link, lower, work, merged)",
                ),
                fact("Layer Compression", "gzip, none"),
                fact("Max Layer Depth", &layout::MAX_DEPTH.to_string()),
                fact("Using metacopy", "false"),
                fact("Overlay Index", "off"),
            ],
        }
    }

    fn apply_layer(
        id: String,
        parent: Option<String>,
        mut layer: LayerStream<'_>,
    ) -> Result<AppliedLayer> {
        let (root, host) = (Root::wasi(), Sdk);
        let new = layer::create(&root, &host, &id, parent.as_deref(), Role::Image)?;
        let applied = apply::unpack(&root, &host, &id, &mut layer).and_then(|applied| {
            new.commit(&root)?;
            Ok(applied)
        });
        applied.map_err(|err| {
            // The host's own error (digest mismatch, short blob) says what went wrong
            // better than the parse error it caused.
            let err = layer
                .take_host_error()
                .unwrap_or(err)
                .context(format!("applying layer \"{id}\""));
            host.debug(&format!("{}; removing what was written", err.message));
            new.discard(&root, &host);
            err
        })
    }

    fn create_layer(id: String, parent: Option<String>) -> Result<()> {
        let (root, host) = (Root::wasi(), Sdk);
        let new = layer::create(&root, &host, &id, parent.as_deref(), Role::Container)?;
        new.commit(&root).inspect_err(|_| new.discard(&root, &host))
    }

    fn get(id: String) -> Result<MountPlan> {
        plan::get(&Root::wasi(), &id)
    }

    fn put(id: String) -> Result<()> {
        plan::put(&Root::wasi(), &id)
    }

    fn remove(id: String) -> Result<()> {
        layer::remove(&Root::wasi(), &Sdk, &id)
    }

    fn exists(id: String) -> bool {
        layout::exists(&Root::wasi(), &id)
    }

    fn metadata(id: String) -> Result<Vec<(String, String)>> {
        plan::metadata(&Root::wasi(), &id)
    }
}

hostctl_sdk::export_storage_driver!(Overlay2);
