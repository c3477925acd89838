//! # volume-local
//!
//! hostctl's bundled volume driver: Docker's `local` driver as a WebAssembly component,
//! written against `hostctl-sdk` only. The host pre-opens the driver's root as `/` and
//! calls a fresh instance for every operation, so everything the driver knows lives on
//! disk (the volumes' directories) and in the host's key-value store (their records).
//!
//! A tour:
//! - [`options`]: volume names and Docker's `local` options (`type`, `device`, `o`),
//!   checked at create: a plain directory, a tmpfs, or a bind of a host directory.
//! - [`records`]: each volume's creation time, options and callers, in the host's kv.
//! - [`driver`]: create, remove, mount and unmount by caller, path, get and list; the
//!   mount plans that make a data directory a tmpfs or a bind.
//! - [`time`]: the creation time as RFC 3339.
//!
//! Capabilities used (`plugin.toml`): `kv`; mounts `tmpfs` and `bind`; `bind-sources`
//! `["/*"]` (like Docker's, this driver binds any host directory the operator names).

mod driver;
mod options;
mod records;
mod time;

use hostctl_sdk::Result;
use hostctl_sdk::volume::{Capabilities, MountPlan, Volume, VolumeDriver};

use crate::driver::Root;
use crate::records::HostKv;

/// Docker's `local` volume driver.
struct Local;

fn root() -> Root {
    Root("/".into())
}

impl VolumeDriver for Local {
    fn capabilities() -> Capabilities {
        driver::capabilities()
    }

    fn create(name: String, options: Vec<(String, String)>) -> Result<Volume> {
        driver::create(&HostKv, &root(), &name, options, time::now_rfc3339())
    }

    fn remove(name: String) -> Result<()> {
        driver::remove(&HostKv, &root(), &name)
    }

    fn mount(name: String, caller: String) -> Result<MountPlan> {
        driver::mount(&HostKv, &root(), &name, &caller)
    }

    fn unmount(name: String, caller: String) -> Result<Vec<String>> {
        driver::unmount(&HostKv, &name, &caller)
    }

    fn path(name: String) -> Result<Option<String>> {
        driver::path(&HostKv, &name)
    }

    fn get(name: String) -> Result<Volume> {
        driver::get(&HostKv, &name)
    }

    fn list() -> Result<Vec<Volume>> {
        driver::list(&HostKv)
    }
}

hostctl_sdk::export_volume_driver!(Local);
