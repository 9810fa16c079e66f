//! The request path: what stands between a client and a plugin — who the
//! caller is (`auth`, `tenant_keys`), admission under the org's limits
//! (`front_door`), headers in and out (`plugin_headers`), tenant paths,
//! module record routes and their hooks, UI assets, the console, TLS.

pub mod auth;
pub mod console;
pub mod front_door;
pub mod hooks;
pub mod plugin_headers;
pub mod records;
pub mod status;
pub mod tenant_keys;
pub mod tenant_path;
pub mod tls;
pub mod ui;
