//! The `headers` grant: which of a caller's credential headers
//! (`Authorization`, `Cookie`) reach the plugin's HTTP handler. Without it
//! the serve layer strips them (see `serve::plugin_headers`).

use crate::capabilities::capability::{Capability, missing, retain_declared};

/// The `headers` permission.
pub const CAPABILITY: Capability = Capability {
    permission: "headers",
    imports: &[],
    declared: |p| !p.headers.is_empty(),
    not_covered: |wanted, available| missing("headers", &wanted.headers, &available.headers),
    narrow: |granted, declared| retain_declared(&mut granted.headers, &declared.headers),
    forget: None,
};
