//! The daemon's state store: one redb database (`<data-root>/state.db`), transactional
//! and crash-safe. Values are JSON documents keyed by string, in a few named tables.
//!
//! Operations that create kernel or disk objects record their intent here first (a layer
//! in state `applying`, say) and their outcome after, so the next start can tell what a
//! crash left half-done and undo it.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A table of the state store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Image id (hex) -> image record.
    Images,
    /// `name:tag` -> image id (hex).
    Tags,
    /// Layer chain id (hex) -> layer record.
    Layers,
    /// Container id -> container record.
    Containers,
    /// `<plugin>\0<key>` -> a plugin's value (`hostctl:host/kv`).
    PluginKv,
    /// Volume name -> volume record.
    Volumes,
    /// Network id -> network record.
    Networks,
}

impl Table {
    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(match self {
            Table::Images => "images",
            Table::Tags => "tags",
            Table::Layers => "layers",
            Table::Containers => "containers",
            Table::PluginKv => "plugin_kv",
            Table::Volumes => "volumes",
            Table::Networks => "networks",
        })
    }
}

/// Why the state store failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state store {}: another hostctl daemon is using this data root", path.display())]
    InUse { path: PathBuf },
    #[error("state store {}: {message}", path.display())]
    Db { path: PathBuf, message: String },
    #[error("state store: {table:?}/{key}: {message}")]
    Corrupt { table: Table, key: String, message: String },
}

/// The open state store.
#[derive(Debug)]
pub struct StateStore {
    db: Database,
    path: PathBuf,
}

/// A write transaction: everything in it commits together or not at all.
pub struct Txn<'a> {
    txn: redb::WriteTransaction,
    path: &'a Path,
}

impl StateStore {
    /// Open (or create) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StateError::InUse { path: path.to_owned() },
            e => StateError::Db { path: path.to_owned(), message: e.to_string() },
        })?;
        let store = StateStore { db, path: path.to_owned() };
        // Create every table so reads never meet a missing one.
        store.write(|txn| {
            for table in [Table::Images, Table::Tags, Table::Layers, Table::Containers, Table::PluginKv, Table::Volumes, Table::Networks] {
                txn.txn.open_table(table.definition()).map_err(|e| txn.db_err(e))?;
            }
            Ok(())
        })?;
        Ok(store)
    }

    fn db_err(&self, e: impl std::fmt::Display) -> StateError {
        StateError::Db { path: self.path.clone(), message: e.to_string() }
    }

    /// The value at `key` in `table`.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.db_err(e))?;
        let t = txn.open_table(table.definition()).map_err(|e| self.db_err(e))?;
        match t.get(key).map_err(|e| self.db_err(e))? {
            Some(v) => decode(table, key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Every `(key, value)` in `table`, in key order.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.db_err(e))?;
        let t = txn.open_table(table.definition()).map_err(|e| self.db_err(e))?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(|e| self.db_err(e))? {
            let (k, v) = entry.map_err(|e| self.db_err(e))?;
            out.push((k.value().to_owned(), decode(table, k.value(), v.value())?));
        }
        Ok(out)
    }

    /// Run `f` in one write transaction, committed if it returns `Ok`.
    pub fn write<R>(&self, f: impl FnOnce(&mut Txn<'_>) -> Result<R, StateError>) -> Result<R, StateError> {
        let txn = self.db.begin_write().map_err(|e| self.db_err(e))?;
        let mut txn = Txn { txn, path: &self.path };
        let out = f(&mut txn)?;
        txn.txn.commit().map_err(|e| self.db_err(e))?;
        Ok(out)
    }
}

impl Txn<'_> {
    fn db_err(&self, e: impl std::fmt::Display) -> StateError {
        StateError::Db { path: self.path.to_owned(), message: e.to_string() }
    }

    /// Set `key` in `table` to `value`.
    pub fn put<T: Serialize>(&mut self, table: Table, key: &str, value: &T) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(value).expect("state values serialize");
        let mut t = self.txn.open_table(table.definition()).map_err(|e| self.db_err(e))?;
        t.insert(key, bytes.as_slice()).map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// Remove `key` from `table` (no error if absent).
    pub fn delete(&mut self, table: Table, key: &str) -> Result<(), StateError> {
        let mut t = self.txn.open_table(table.definition()).map_err(|e| self.db_err(e))?;
        t.remove(key).map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// The value at `key`, as this transaction sees it.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>, StateError> {
        let t = self.txn.open_table(table.definition()).map_err(|e| self.db_err(e))?;
        let value = t.get(key).map_err(|e| self.db_err(e))?;
        value.map(|v| decode(table, key, v.value())).transpose()
    }
}

/// Plugins' key-value stores (`hostctl:host/kv`), each plugin's keys apart, in the state
/// store so they survive restarts.
impl hostctl_plugin_runtime::KvBackend for StateStore {
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.get::<Vec<u8>>(Table::PluginKv, &kv_key(plugin, key)).map_err(|e| e.to_string())
    }

    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), String> {
        self.write(|t| t.put(Table::PluginKv, &kv_key(plugin, key), &value)).map_err(|e| e.to_string())
    }

    fn delete(&self, plugin: &str, key: &str) -> Result<(), String> {
        self.write(|t| t.delete(Table::PluginKv, &kv_key(plugin, key))).map_err(|e| e.to_string())
    }

    fn keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>, String> {
        let start = kv_key(plugin, prefix);
        Ok(self
            .list::<Vec<u8>>(Table::PluginKv)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter_map(|(k, _)| k.starts_with(&start).then(|| k[plugin.len() + 1..].to_owned()))
            .collect())
    }

    fn count(&self, plugin: &str) -> Result<usize, String> {
        self.keys(plugin, "").map(|k| k.len())
    }
}

/// Plugin names cannot hold a NUL, so `<plugin>\0<key>` keeps every plugin's keys apart.
fn kv_key(plugin: &str, key: &str) -> String {
    format!("{plugin}\0{key}")
}

fn decode<T: DeserializeOwned>(table: Table, key: &str, bytes: &[u8]) -> Result<T, StateError> {
    serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt { table, key: key.to_owned(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_commit_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state.db")).unwrap();
        store.write(|t| t.put(Table::Tags, "a:latest", &"1")).unwrap();
        let failed: Result<(), StateError> = store.write(|t| {
            t.put(Table::Tags, "b:latest", &"2")?;
            Err(StateError::Corrupt { table: Table::Tags, key: "x".into(), message: "abort".into() })
        });
        assert!(failed.is_err());
        let tags: Vec<(String, String)> = store.list(Table::Tags).unwrap();
        assert_eq!(tags, vec![("a:latest".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn plugins_keys_are_kept_apart() {
        use hostctl_plugin_runtime::KvBackend;
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state.db")).unwrap();
        store.set("bridge", "net/a", b"1").unwrap();
        store.set("bridge", "net/b", b"2").unwrap();
        store.set("bridgex", "net/c", b"3").unwrap();
        assert_eq!(store.keys("bridge", "net/").unwrap(), ["net/a", "net/b"]);
        assert_eq!(KvBackend::get(&store, "bridge", "net/a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(store.count("bridgex").unwrap(), 1);
        KvBackend::delete(&store, "bridge", "net/a").unwrap();
        assert_eq!(store.keys("bridge", "").unwrap(), ["net/b"]);
    }

    #[test]
    fn a_second_open_of_the_same_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let _first = StateStore::open(&path).unwrap();
        assert!(matches!(StateStore::open(&path), Err(StateError::InUse { .. })));
    }
}
