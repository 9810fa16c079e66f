//! berth: a multi-tenant plugin server for WebAssembly components.
//!
//! Requests to `/o/{org}/p/{plugin}/…` are served by a fresh instance of
//! the org's plugin component. The crate is built in layers, each importing
//! only those below it (`ARCHITECTURE.md` draws them):
//! - [`app`] and [`server`]: the composition root — sockets, the route
//!   table, shutdown;
//! - [`control`]: the management API, plugin lifecycle, dependencies,
//!   resolution, integrations;
//! - [`serve`]: the request path — callers, admission, headers, records,
//!   UI assets, the console;
//! - [`sandbox`]: engine, loader, fresh instances, fair CPU scheduling;
//! - [`capabilities`]: one unit per power a plugin may be granted;
//! - [`package`]: the plugin package format, manifest and signatures;
//! - [`common`]: settings, names, errors, metrics, limits.
//!
//! [`author`] holds the plugin author's commands (`berth plugin new|build|
//! pack|sign|verify`), and [`client`] the commands that act on a running
//! server (`berth login|org|token|plugin install …|registry|key|limits|audit`).

#![deny(missing_docs)]

pub mod app;
pub mod author;
pub mod capabilities;
pub mod client;
pub mod common;
pub mod control;
pub mod package;
pub mod sandbox;
pub mod serve;
pub mod server;

/// The WIT package this binary serves, embedded by `build.rs`.
pub mod wit_files {
    include!(concat!(env!("OUT_DIR"), "/wit_files.rs"));
}
