//! The plugin's private key-value store, kept by the host in its state store so driver
//! state (address allocations, who mounts a volume) survives daemon restarts. Needs
//! `kv = true` under `[capabilities]`. Keys ≤ 256 bytes, values ≤ 64 KiB, ≤ 4096 keys.

use crate::Result;
use crate::bindings::host::hostctl::host::kv as host;

/// The value at `key`.
pub fn get(key: &str) -> Result<Option<Vec<u8>>> {
    host::get(key)
}

/// The value at `key` as UTF-8 text (`None` if absent or not text).
pub fn get_str(key: &str) -> Result<Option<String>> {
    Ok(get(key)?.and_then(|v| String::from_utf8(v).ok()))
}

/// Set `key` to `value`.
pub fn set(key: &str, value: &[u8]) -> Result<()> {
    host::set(key, value)
}

/// Remove `key` (absent is fine).
pub fn delete(key: &str) -> Result<()> {
    host::delete(key)
}

/// Every key starting with `prefix`, in order.
pub fn keys(prefix: &str) -> Result<Vec<String>> {
    host::keys(prefix)
}
