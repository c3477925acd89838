//! `hostctl:host/kv`: a key-value store private to each plugin, kept by the daemon (in
//! its state store, through [`KvBackend`]) so driver state survives restarts.
//!
//! The import checks the `kv` grant and the limits (keys ≤ [`MAX_KEY`] bytes, values ≤
//! [`MAX_VALUE`], ≤ [`MAX_KEYS`] keys per plugin) before the backend is asked; every
//! failure is an error value for the guest.

use super::wit_error;
use crate::bindings::host::hostctl::host::kv::Host;
use crate::bindings::host::hostctl::types::types::{Error, ErrorKind};
use crate::sandbox::PluginState;

pub const MAX_KEY: usize = 256;
pub const MAX_VALUE: usize = 64 * 1024;
pub const MAX_KEYS: usize = 4096;

/// Where plugins' keys live. Every call names the plugin; implementations keep each
/// plugin's keys apart.
pub trait KvBackend: Send + Sync {
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, String>;
    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), String>;
    fn delete(&self, plugin: &str, key: &str) -> Result<(), String>;
    /// Keys of `plugin` starting with `prefix`, in order.
    fn keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>, String>;
    /// How many keys `plugin` holds.
    fn count(&self, plugin: &str) -> Result<usize, String>;
}

/// A [`KvBackend`] in memory: for tools and tests that run plugins without a daemon (the
/// daemon's backend is its state store). Keys are lost when it is dropped.
#[derive(Debug, Default)]
pub struct MemoryKv(std::sync::Mutex<std::collections::BTreeMap<(String, String), Vec<u8>>>);

impl KvBackend for MemoryKv {
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.lock().expect("kv lock").get(&(plugin.to_owned(), key.to_owned())).cloned())
    }
    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), String> {
        self.0.lock().expect("kv lock").insert((plugin.to_owned(), key.to_owned()), value.to_vec());
        Ok(())
    }
    fn delete(&self, plugin: &str, key: &str) -> Result<(), String> {
        self.0.lock().expect("kv lock").remove(&(plugin.to_owned(), key.to_owned()));
        Ok(())
    }
    fn keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>, String> {
        let kv = self.0.lock().expect("kv lock");
        Ok(kv.keys().filter(|(p, k)| p == plugin && k.starts_with(prefix)).map(|(_, k)| k.clone()).collect())
    }
    fn count(&self, plugin: &str) -> Result<usize, String> {
        Ok(self.0.lock().expect("kv lock").keys().filter(|(p, _)| p == plugin).count())
    }
}

impl PluginState {
    fn kv(&self) -> Result<&dyn KvBackend, Error> {
        if !self.grants().kv {
            return Err(wit_error(
                ErrorKind::Denied,
                format!("plugin {:?} was not granted the kv capability (set kv = true under [capabilities])", self.plugin_name()),
            ));
        }
        self.kv_backend()
            .ok_or_else(|| wit_error(ErrorKind::Other, format!("plugin {:?}: no key-value store is configured", self.plugin_name())))
    }
}

fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(wit_error(ErrorKind::InvalidArgument, format!("kv key of {} bytes: keys are 1 to {MAX_KEY} bytes", key.len())));
    }
    Ok(())
}

fn failed(e: String) -> Error {
    wit_error(ErrorKind::Io, format!("kv: {e}"))
}

impl Host for PluginState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, Error> {
        check_key(&key)?;
        self.kv()?.get(self.plugin_name(), &key).map_err(failed)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), Error> {
        check_key(&key)?;
        if value.len() > MAX_VALUE {
            return Err(wit_error(ErrorKind::InvalidArgument, format!("kv key {key:?}: a value of {} bytes is over {MAX_VALUE}", value.len())));
        }
        let kv = self.kv()?;
        let plugin = self.plugin_name();
        if kv.get(plugin, &key).map_err(failed)?.is_none() && kv.count(plugin).map_err(failed)? >= MAX_KEYS {
            return Err(wit_error(ErrorKind::InvalidArgument, format!("kv key {key:?}: the plugin holds {MAX_KEYS} keys already")));
        }
        kv.set(plugin, &key, &value).map_err(failed)
    }

    fn delete(&mut self, key: String) -> Result<(), Error> {
        check_key(&key)?;
        self.kv()?.delete(self.plugin_name(), &key).map_err(failed)
    }

    fn keys(&mut self, prefix: String) -> Result<Vec<String>, Error> {
        self.kv()?.keys(self.plugin_name(), &prefix).map_err(failed)
    }
}
