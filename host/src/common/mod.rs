//! The ground floor: what every layer uses — operator settings, names and
//! identities, metrics and usage series (kept per plugin), JSON errors
//! (with schema problems field by field), HTTP body helpers, per-org
//! limits and the token bucket behind rate limits, per-org slots for heavy
//! management work, and the process's open-file limit. Nothing here
//! imports a higher layer.

pub mod admission;
pub mod bodies;
pub mod error;
pub mod ids;
pub mod metrics;
pub mod open_files;
pub mod org_slots;
pub mod per_plugin;
pub mod request_body;
pub mod schema_fields;
pub mod settings;
pub mod token_bucket;
pub mod usage;
