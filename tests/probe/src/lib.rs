//! A storage-world probe for the plugin runtime's sandbox tests. It is not a driver:
//! `apply_layer` reads the whole layer stream, looks for a marker `probe:<word>` in its
//! bytes (a file named so inside a tar is enough), and misbehaves on request:
//!
//! - `probe:loop`    spins forever (the host's epoch deadline must stop it);
//! - `probe:balloon` allocates until the store's memory cap stops it;
//! - `probe:trap`    panics (a trap);
//! - `probe:trickle` (in the layer's first 4 KiB) reads the rest a byte at a time, 50 ms
//!   apart (progress on every read: only the call's budget can stop it);
//! - `probe:chown`   calls the `files.chown` import, which its manifest does not grant,
//!   and returns the host's answer as its error; `probe:denyOP` likewise calls the
//!   `files` import OP (chmod, whiteout, opaque, mknod, xattr, symlink, removetree);
//! - `probe:kv`      sets `probe-key` in its key-value store and reads it back, answering
//!   `kv round trip: <value>` as its error (or the host's refusal);
//! - `probe:kvget`   reads `probe-key` (from an earlier call), answering `kv holds: <value>`;
//! - anything else   succeeds, reporting the stream's sha256 as the DiffID.
//!
//! Every other call fails with a plain error: the probe holds no layers.

use std::io::Read;

use hostctl_sdk::storage::{AppliedLayer, DriverInfo, LayerStream, MountPlan, StorageDriver};
use hostctl_sdk::{Error, ErrorKind, Result, files, kv};
use sha2::{Digest, Sha256};

struct Probe;

fn no_layers() -> Error {
    Error::new(ErrorKind::Other, "the probe holds no layers")
}

fn marker(bytes: &[u8]) -> Option<&[u8]> {
    let at = bytes.windows(6).position(|w| w == b"probe:")?;
    let rest = &bytes[at + 6..];
    let end = rest.iter().position(|b| !b.is_ascii_lowercase()).unwrap_or(rest.len());
    Some(&rest[..end])
}

impl StorageDriver for Probe {
    fn info() -> DriverInfo {
        DriverInfo { name: "probe".into(), status: vec![] }
    }

    fn apply_layer(_id: String, _parent: Option<String>, mut layer: LayerStream<'_>) -> Result<AppliedLayer> {
        let mut bytes = layer.read_at_most(4096)?;
        if marker(&bytes) == Some(b"trickle") {
            while layer.read_at_most(1)?.len() == 1 {
                let since = std::time::Instant::now();
                while since.elapsed() < std::time::Duration::from_millis(50) {
                    std::hint::spin_loop();
                }
            }
            return Err(Error::new(ErrorKind::Other, "the trickle reached the end"));
        }
        if let Err(err) = layer.read_to_end(&mut bytes) {
            return Err(layer.take_host_error().unwrap_or_else(|| Error::io("reading the layer", err)));
        }
        match marker(&bytes) {
            Some(b"loop") => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some(b"balloon") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some(b"trap") => panic!("probe asked to trap"),
            Some(b"kv") => {
                kv::set("probe-key", b"value")?;
                let got = kv::get_str("probe-key")?.unwrap_or_default();
                Err(Error::new(ErrorKind::Other, format!("kv round trip: {got}")))
            }
            Some(b"kvget") => {
                let got = kv::get_str("probe-key")?.unwrap_or_else(|| "(nothing)".into());
                Err(Error::new(ErrorKind::Other, format!("kv holds: {got}")))
            }
            Some(b"chown") => match files::chown("anything", 1, 1) {
                Ok(()) => Err(Error::new(ErrorKind::Other, "chown was allowed")),
                Err(err) => Err(err),
            },
            Some(op) if op.starts_with(b"deny") => {
                let answer = match &op[4..] {
                    b"chmod" => files::chmod("anything", 0o4755),
                    b"whiteout" => files::whiteout("anything"),
                    b"opaque" => files::set_opaque("anything"),
                    b"mknod" => files::mknod("anything", files::NodeKind::Fifo, 0o644, 0, 0),
                    b"xattr" => files::set_xattr("anything", "user.probe", b"x"),
                    b"symlink" => files::symlink("/etc", "anything"),
                    b"removetree" => files::remove_tree("anything"),
                    other => return Err(Error::invalid(format!("no files op {}", String::from_utf8_lossy(other)))),
                };
                match answer {
                    Ok(()) => Err(Error::new(ErrorKind::Other, "the call was allowed")),
                    Err(err) => Err(err),
                }
            }
            _ => Ok(AppliedLayer {
                diff_id: format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
                size: bytes.len() as u64,
            }),
        }
    }

    fn create_layer(_id: String, _parent: Option<String>) -> Result<()> {
        Err(no_layers())
    }
    fn get(_id: String) -> Result<MountPlan> {
        Err(no_layers())
    }
    fn put(_id: String) -> Result<()> {
        Err(no_layers())
    }
    fn remove(_id: String) -> Result<()> {
        Ok(())
    }
    fn exists(_id: String) -> bool {
        false
    }
    fn metadata(_id: String) -> Result<Vec<(String, String)>> {
        Err(no_layers())
    }
}

hostctl_sdk::export_storage_driver!(Probe);
