//! Volume drivers: implement [`VolumeDriver`], then `export_volume_driver!(MyDriver);`.
//!
//! The contract (`wit/volume/volume.wit`) is Docker's volume plugin protocol. A volume's
//! data is a directory under the driver's root (WASI pre-opens it as `/`); where it must
//! be a mount (tmpfs, a bind of a host directory), `mount` answers a [`MountPlan`] the host
//! checks against the grants and performs. Who mounts what is the driver's to remember
//! (in [`crate::kv`]): the host calls a fresh instance each time.

use std::marker::PhantomData;

use crate::Result;
use crate::bindings::volume::exports::hostctl::volume::driver as guest;

pub use guest::{Capabilities, MountPlan, MountSpec, Volume};

/// A volume driver. Every function is one call from the host.
pub trait VolumeDriver {
    fn capabilities() -> Capabilities;
    fn create(name: String, options: Vec<(String, String)>) -> Result<Volume>;
    fn remove(name: String) -> Result<()>;
    fn mount(name: String, caller: String) -> Result<MountPlan>;
    fn unmount(name: String, caller: String) -> Result<Vec<String>>;
    fn path(name: String) -> Result<Option<String>>;
    fn get(name: String) -> Result<Volume>;
    fn list() -> Result<Vec<Volume>>;
}

/// Adapts a [`VolumeDriver`] to the generated export trait.
#[doc(hidden)]
pub struct Export<T>(PhantomData<T>);

impl<T: VolumeDriver> guest::Guest for Export<T> {
    fn get_capabilities() -> Capabilities {
        T::capabilities()
    }
    fn create(name: String, options: Vec<(String, String)>) -> Result<Volume> {
        T::create(name, options)
    }
    fn remove(name: String) -> Result<()> {
        T::remove(name)
    }
    fn mount(name: String, caller: String) -> Result<MountPlan> {
        T::mount(name, caller)
    }
    fn unmount(name: String, caller: String) -> Result<Vec<String>> {
        T::unmount(name, caller)
    }
    fn path(name: String) -> Result<Option<String>> {
        T::path(name)
    }
    fn get(name: String) -> Result<Volume> {
        T::get(name)
    }
    fn list_volumes() -> Result<Vec<Volume>> {
        T::list()
    }
}

/// Export a [`VolumeDriver`] as this component's `hostctl:volume/driver`.
#[macro_export]
macro_rules! export_volume_driver {
    ($driver:ty) => {
        type __HostctlVolumeDriver = $crate::volume::Export<$driver>;
        $crate::bindings::volume::export_volume_world!(__HostctlVolumeDriver with_types_in $crate::bindings::volume);
    };
}
