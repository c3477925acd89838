//! The precompiled-component cache.
//!
//! Compiling a driver takes ~100 ms; loading it precompiled takes well under a
//! millisecond. Each component is compiled once and its machine code kept under the data
//! root as `<wasm sha256>-<engine hash>.cwasm`: the wasm's digest pins the input, and
//! wasmtime's `precompile_compatibility_hash` pins the engine version and configuration,
//! so a stale or foreign entry is never picked up. Files are written whole (temp file, then
//! rename) in a root-only directory.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Why a component could not be compiled or cached.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("compiling {what}: {message}")]
    Compile { what: String, message: String },
    #[error("precompiled cache {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where a loaded component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Compiled now (and written to the cache).
    Compiled,
    /// Loaded precompiled from the cache.
    Cache,
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    /// Use (and create, mode 0700) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let dir = dir.into();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| CacheError::Io { path: dir.clone(), source })?;
        Ok(ComponentCache { dir })
    }

    /// The cache file for a wasm with digest `sha256` under `engine`.
    pub fn entry(&self, engine: &Engine, sha256: &str) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()))
    }

    /// The component for `wasm` (whose digest is `sha256`): from the cache when present
    /// and loadable, else compiled and cached. Returns where it came from and how long it took.
    pub fn load(&self, engine: &Engine, sha256: &str, wasm: &[u8], what: &str) -> Result<(Component, Origin, Duration), CacheError> {
        let entry = self.entry(engine, sha256);
        let started = Instant::now();
        if entry.exists() {
            // SAFETY: the file is machine code this cache wrote itself from
            // `Component::serialize`, in a root-only directory, under a name that binds the
            // wasm's digest and the engine's compatibility hash.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok((component, Origin::Cache, started.elapsed())),
                Err(err) => tracing::warn!(path = %entry.display(), "discarding unusable precompiled component: {err}"),
            }
        }
        let component = Component::new(engine, wasm)
            .map_err(|e| CacheError::Compile { what: what.to_owned(), message: format!("{e:#}") })?;
        let compiled_in = started.elapsed();
        let bytes = component
            .serialize()
            .map_err(|e| CacheError::Compile { what: what.to_owned(), message: format!("serializing: {e:#}") })?;
        write_atomically(&entry, &bytes).map_err(|source| CacheError::Io { path: entry.clone(), source })?;
        Ok((component, Origin::Compiled, compiled_in))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

use std::os::unix::fs::DirBuilderExt;

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().expect("cache entries live in the cache dir");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
