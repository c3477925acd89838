//! The wasmtime engine every plugin shares, and the epoch ticker behind call deadlines.
//!
//! Configuration follows DESIGN.md's measurements: the component model without its
//! async/concurrency machinery (`concurrency_support(false)`: guest->host calls ~4x
//! cheaper), epoch interruption for deadlines, Cranelift optimising for speed. One
//! background thread bumps the epoch every [`TICK`]; each call's deadline is a number of
//! ticks, so a deadline costs a counter check in guest code and nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, OptLevel};

/// How often the epoch advances: the granularity of call deadlines.
pub const TICK: Duration = Duration::from_millis(10);

/// The engine's configuration. Also part of the precompiled cache's key (through
/// `Engine::precompile_compatibility_hash`).
pub fn config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.concurrency_support(false);
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    config
}

/// The shared engine plus its epoch ticker; the ticker stops when this is dropped.
#[derive(Debug)]
pub struct PluginEngine {
    engine: Engine,
    stop: Arc<AtomicBool>,
}

impl PluginEngine {
    /// Build the engine and start its ticker thread.
    pub fn new() -> wasmtime::Result<Self> {
        let engine = Engine::new(&config())?;
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let stop_flag = stop.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| wasmtime::format_err!("starting the epoch thread: {e}"))?;
        Ok(PluginEngine { engine, stop })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Ticks for a deadline of `d` (at least one).
pub fn ticks(d: Duration) -> u64 {
    (d.as_millis() / TICK.as_millis()).max(1) as u64
}
