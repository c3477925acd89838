//! hostctl's image formats and content store: everything about images that needs no
//! daemon, no plugin runtime and no kernel. The daemon's image service builds on it.
//!
//! Content is named by [`digest`]: a sha256 [`Digest`](digest::Digest) written
//! `sha256:<hex>`, computed while bytes stream ([`Hasher`](digest::Hasher),
//! [`HashingReader`](digest::HashingReader)). People name images by [`reference`]
//! (`name[:tag]` under Docker's grammar, kept in Docker's familiar form: `busybox:1`
//! for `docker.io/library/busybox:1`).
//!
//! An image is a [`config`] (the JSON document whose sha256 is the image ID, kept
//! byte-exact beside a parsed view) plus layers, each a tar of filesystem changes that
//! [`layer`] knows how to sniff, decompress and verify against its DiffID; a stack of
//! layers is identified by [`chain`] IDs. [`timestamp`] reads and writes the RFC 3339
//! times configs carry.
//!
//! Blobs live in the [`blobs`] content store: by digest under one root, written through
//! a temp file that is hashed, verified and fsynced before it is linked into place, and
//! read back through a reader that fails at EOF if the bytes no longer match.
//!
//! Images arrive in two ways. `hostctl load` reads an [`archive`] (`docker save`, legacy
//! or Docker ≥ 25, or an OCI image layout) into a staging area, resolves and verifies every
//! image, then commits its blobs to the store. `hostctl import` stores one rootfs tar
//! ([`layer::import_layer`]) and describes it with a config from [`import`], to which
//! `--change` instructions from [`change`] apply.
//!
//! Tar framing is checked for truncation everywhere a tar is read (the `tar` crate alone
//! takes a cut archive for a short one), and a header the crate refuses is reported as a
//! [`TarFault`](layer::TarFault) (not a tar at all, or corrupt at a byte offset after a
//! named entry) instead of in the crate's words, which quote the header's raw bytes; see
//! the crate-private `tarstream` module.

pub mod archive;
pub mod blobs;
pub mod chain;
pub mod change;
pub mod config;
pub mod digest;
pub mod import;
pub mod layer;
pub mod reference;
mod tarstream;

/// RFC 3339 times, from the workspace's one time module.
pub use hostctl_time as timestamp;

pub use archive::{ArchiveError, ArchiveImage, ArchiveLayer, Committed, Staging};
pub use blobs::{BlobError, BlobStore, VerifiedReader};
pub use config::ImageConfig;
pub use digest::Digest;
pub use layer::Compression;
pub use reference::Reference;
