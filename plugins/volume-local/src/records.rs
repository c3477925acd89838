//! What the driver remembers about each volume, in the host's key-value store: one key
//! per volume, `v/<name>`, holding its creation time, its options and the callers
//! (container ids) that mount it, as JSON. One key per volume keeps every change to a
//! volume a single write; the store's 4096 keys are 4096 volumes.
//!
//! [`Kv`] is the store as the driver uses it: the host's (`hostctl_sdk::kv`) in the
//! component, an in-memory one in unit tests.

use hostctl_sdk::{Error, Result};
use serde::{Deserialize, Serialize};

/// The key prefix of volume records.
const PREFIX: &str = "v/";

/// A key-value store.
pub trait Kv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    fn set(&self, key: &str, value: &[u8]) -> Result<()>;
    fn delete(&self, key: &str) -> Result<()>;
    fn keys(&self, prefix: &str) -> Result<Vec<String>>;
}

/// The host's store.
pub struct HostKv;

impl Kv for HostKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        hostctl_sdk::kv::get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        hostctl_sdk::kv::set(key, value)
    }
    fn delete(&self, key: &str) -> Result<()> {
        hostctl_sdk::kv::delete(key)
    }
    fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        hostctl_sdk::kv::keys(prefix)
    }
}

/// One volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// RFC 3339.
    pub created_at: String,
    /// The options it was created with, as given.
    pub options: Vec<(String, String)>,
    /// Who mounts it now, in the order they came.
    #[serde(default)]
    pub callers: Vec<String>,
}

/// Volume `name`'s record, if it exists.
pub fn load(kv: &dyn Kv, name: &str) -> Result<Option<Record>> {
    let Some(bytes) = kv.get(&key(name))? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::new(hostctl_sdk::ErrorKind::Other, format!("volume {name}: its record is unreadable: {e}")))
}

/// Volume `name`'s record, or not-found.
pub fn require(kv: &dyn Kv, name: &str) -> Result<Record> {
    load(kv, name)?.ok_or_else(|| Error::not_found(format!("no such volume: {name}")))
}

pub fn save(kv: &dyn Kv, name: &str, record: &Record) -> Result<()> {
    let bytes = serde_json::to_vec(record).expect("records serialize");
    kv.set(&key(name), &bytes)
}

pub fn delete(kv: &dyn Kv, name: &str) -> Result<()> {
    kv.delete(&key(name))
}

/// Every volume's name, in order.
pub fn names(kv: &dyn Kv) -> Result<Vec<String>> {
    Ok(kv.keys(PREFIX)?.into_iter().filter_map(|k| k.strip_prefix(PREFIX).map(str::to_owned)).collect())
}

fn key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// An in-memory store for unit tests.
#[cfg(test)]
#[derive(Default)]
pub struct MemoryKv(pub std::cell::RefCell<std::collections::BTreeMap<String, Vec<u8>>>);

#[cfg(test)]
impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.0.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.0.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.0.borrow_mut().remove(key);
        Ok(())
    }
    fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.0.borrow().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }
}
