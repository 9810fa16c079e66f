//! The control path: the management API and what it drives — the plugin
//! lifecycle, dependency graph and version resolution, integrations,
//! plugin logs, and the embedded demo org.

pub mod api;
pub mod api_routes;
pub mod api_types;
pub mod demo;
pub mod dependencies;
pub mod integrations;
pub mod lifecycle;
pub mod openapi;
pub mod plugin_logs;
pub mod registry_watch;
pub mod resolver;
pub mod status;
