//! The wasmtime configuration every policy runs under: fuel, the pooling
//! allocator and the memory cap. One file for the two places that need it:
//! the library, which loads the precompiled module, and the build script,
//! which precompiles it (`#[path]`-included there). wasmtime refuses a
//! precompiled module whose engine was configured differently, so they must
//! not drift.

use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Linear memory cap per instance.
const MAX_MEMORY_BYTES: usize = 1 << 20;
/// What the module uses: one 64 KiB page (its stack is set to 16 KiB at build time).
const MODULE_MEMORY_BYTES: usize = 64 << 10;
/// Pooled instance slots: a Lambda container serves one request at a time,
/// and the default pool reserves far more virtual memory than arm64 Lambda
/// allows. A few slots leave room for a test's or a job's parallel calls.
const POOL_SLOTS: u32 = 4;

pub fn config() -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(POOL_SLOTS)
        .total_memories(POOL_SLOTS)
        .total_tables(POOL_SLOTS)
        .max_memory_size(MAX_MEMORY_BYTES)
        .max_core_instance_size(64 << 10)
        // Reset a returned slot with memset rather than madvise: for a
        // one-page memory that saves a system call per decision.
        .linear_memory_keep_resident(MODULE_MEMORY_BYTES)
        .table_keep_resident(MODULE_MEMORY_BYTES);
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        // Reserve only what the cap needs, not wasmtime's 4 GiB default.
        .memory_reservation(MAX_MEMORY_BYTES as u64)
        .memory_guard_size(64 << 10)
        .max_wasm_stack(256 << 10);
    config
}
