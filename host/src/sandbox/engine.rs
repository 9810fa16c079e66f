//! The one wasmtime [`Engine`] berth serves with, and its epoch ticker.
//!
//! Configured for serving: the pooling instance allocator (slots reserved up
//! front, so a fresh instance per request costs microseconds), copy-on-write
//! memory images, and epoch interruption so runaway guests can be stopped.

use crate::common::settings::Limits;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Core wasm instances budgeted per component instance in the pool
/// (wasm32-wasip2 components carry a few adapter shims beside the main module).
const CORE_INSTANCES_PER_COMPONENT: u32 = 8;
/// Core wasm instances one component instance may create: componentize-py's
/// CPython components create 14 (interpreter, libc, adapters, bindings).
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Tables per component instance, for the same reason.
const TABLES_PER_COMPONENT: u32 = 8;

/// Bytes of each linear memory reset in place (only the pages the guest
/// touched, found with Linux's `PAGEMAP_SCAN` where available) instead of
/// being unmapped when its slot is freed. Keeping the pages a request dirtied
/// resident avoids a page fault per touched page on the next request and the
/// cross-core TLB shootdown `madvise` costs on every free.
const MEMORY_KEEP_RESIDENT: usize = 4 << 20;
/// The same for tables (function tables are touched on every call through them).
const TABLE_KEEP_RESIDENT: usize = 64 << 10;
/// Freed slots whose remaining pages are decommitted in one batch.
const DECOMMIT_BATCH: usize = 32;

/// Builds the serving engine, sized from `limits`.
pub fn build_engine(limits: &Limits) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(limits.max_instances)
        .total_core_instances(limits.max_instances * CORE_INSTANCES_PER_COMPONENT)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .total_memories(limits.max_instances)
        .max_memories_per_component(2)
        .total_tables(limits.max_instances * TABLES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .total_stacks(limits.max_instances)
        .max_memory_size(limits.max_memory_bytes)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto)
        .decommit_batch_size(DECOMMIT_BATCH);

    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .memory_init_cow(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| anyhow::anyhow!("configuring the wasm engine: {e}"))
}

/// A stable fingerprint of everything that makes a precompiled artifact
/// loadable by `engine` (wasmtime version, target, compiler settings): the
/// SHA-256 of wasmtime's compatibility hash input, the same in every run of
/// the same build (unlike `DefaultHasher`, whose algorithm may change).
pub fn engine_fingerprint(engine: &Engine) -> String {
    let mut input = HashInput::default();
    engine.precompile_compatibility_hash().hash(&mut input);
    berth_storage::Digest::of(&input.0).to_hex()
}

/// A [`Hasher`] that only collects what is hashed, to digest it afterwards.
#[derive(Default)]
struct HashInput(Vec<u8>);

impl Hasher for HashInput {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// Unused: the fingerprint digests the collected bytes instead.
    fn finish(&self) -> u64 {
        0
    }
}

/// Advances the engine's epoch at a fixed interval on a dedicated thread,
/// until dropped. CPU deadlines are counted in these ticks.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine` every `limits.epoch_tick()`.
    pub fn start(engine: Engine, limits: &Limits) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let interval = limits.epoch_tick();
        let thread = std::thread::Builder::new()
            .name("berth-epoch".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(interval);
                        engine.increment_epoch();
                    }
                }
            })
            .expect("spawning the epoch thread");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
