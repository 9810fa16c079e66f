//! berth: a multi-tenant plugin server for WebAssembly components.
//!
//! Requests to `/o/{org}/p/{plugin}/…` are served by a fresh instance of
//! the org's plugin component. Modules, one per box of the architecture in
//! `DESIGN.md`:
//! - [`config`]: every setting and its default;
//! - [`engine`]: the wasmtime engine and epoch ticker;
//! - [`loader`]: validate, compile/cache, pre-instantiate components;
//! - [`runtime`]: a fresh store and instance per request, with limits;
//!   [`scheduler`]: fair shares of guest CPU between orgs;
//! - [`admission`]: per-org concurrency and rate limits (429);
//!   [`front_door`]: every plugin instance admitted under them;
//!   [`bodies`]: body size caps and holding an admission until a response
//!   is streamed;
//! - [`host_api`]: the `berth:plugin` host interfaces; [`outbound`]:
//!   plugins' outgoing HTTP under their `network` grant;
//! - [`router`]: tenant paths and the per-org plugin table;
//!   [`plugin_headers`]: what crosses between callers and plugins in
//!   headers (credentials in, a sandbox out); [`tenant_keys`]: who may
//!   reach an org's plugin and module routes;
//! - [`package`]: ZIP + manifest parsing and validation under limits;
//! - [`plugin_files`]: plugins' preopened directories; [`plugin_config`]:
//!   per-org settings and secrets;
//! - [`dependencies`]: an org's dependency graph and its rules;
//!   [`resolver`]: choosing versions to install (PubGrub);
//! - [`lifecycle`]: install, activate, deactivate, uninstall (atomic steps);
//! - [`api`]: the management API; [`app`]: request dispatch;
//!   [`server`]: sockets and shutdown; [`tls`]: rustls termination;
//! - [`metrics`]: Prometheus metrics at `/metrics`;
//! - [`modules`]: the module registry (built-in `contacts`, `invoices`,
//!   plus what plugins register), its record routes and hook dispatch;
//!   [`extensions`]: calls into plugins' non-HTTP exports (lifecycle,
//!   hooks, integration); [`integrations`]: connectors in the management API;
//! - [`error`]: errors as JSON responses; [`ids`]: org/plugin names;
//! - [`ui`]: UI plugins' assets and the org's merged UI manifest;
//!   [`console`]: the embedded web console at `/console/`;
//! - [`signing`]: package signatures (minisign); [`author`]: `berth
//!   keygen` and `berth plugin sign|verify`;
//! - [`token_bucket`]: the rate limiter behind request rates and plugin
//!   log lines;
//! - [`demo`]: the embedded default org.

pub mod admission;
pub mod api;
pub mod app;
pub mod auth;
pub mod author;
pub mod bodies;
pub mod config;
pub mod console;
pub mod demo;
pub mod dependencies;
pub mod engine;
pub mod error;
pub mod extensions;
pub mod front_door;
pub mod grants;
pub mod host_api;
pub mod ids;
pub mod integrations;
pub mod lifecycle;
pub mod loader;
pub mod metrics;
pub mod modules;
pub mod outbound;
pub mod package;
pub mod permissions;
pub mod plugin_config;
pub mod plugin_files;
pub mod plugin_headers;
pub mod resolver;
pub mod router;
pub mod runtime;
pub mod scheduler;
pub mod server;
pub mod signing;
pub mod tenant_keys;
pub mod tls;
pub mod token_bucket;
pub mod ui;

/// The WIT package this binary serves, embedded by `build.rs`.
pub mod wit_files {
    include!(concat!(env!("OUT_DIR"), "/wit_files.rs"));
}
