//! Capabilities: the powers a plugin instance may be given, one unit each
//! (key-value data, settings and secrets, directories, the network, modules,
//! log, dependencies). A unit owns its import gate, its grant-coverage rule,
//! its per-instance state and the `berth:plugin` host interface behind it.
//! See `ARCHITECTURE.md` for where this layer sits.
//!
//! Bindings are generated from `wit/` ([`bindings`]) for every released
//! API version; the newest is implemented by the units, older ones by
//! adapters over it (`api_0_1_0`). [`add_to_linker`] wires both versions of
//! each interface to its unit's state ([`instance`]).

mod api_0_1_0;
pub mod bindings;
pub mod capability;
pub mod config;
pub mod coverage;
pub mod dependencies;
pub mod files;
#[cfg(test)]
pub(crate) mod fixture;
pub mod gates;
pub mod headers;
pub mod instance;
pub mod kv;
pub mod log;
pub mod modules;
pub mod network;
pub mod records;
pub mod routes;
pub mod ui;
pub mod units;
pub mod wasi;

pub use capability::Capability;
pub use instance::{Grantee, HasCapabilities, HostServices, InstanceCapabilities, add_to_linker};
pub use units::ALL;
