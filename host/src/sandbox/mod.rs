//! The sandbox: the wasmtime engine, loading and pre-instantiating
//! components, one fresh instance per call with its capabilities and
//! limits, fair CPU shares between orgs, and the table of mounted plugins.

pub mod active_plugins;
pub mod calls;
pub mod engine;
pub mod exports;
pub mod instance_state;
pub mod loader;
pub mod probation;
pub mod runtime;
pub mod scheduler;
