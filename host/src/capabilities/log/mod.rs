//! `berth:plugin/log`: plugin log lines, forwarded to the host's `tracing`
//! output tagged with the org and plugin they came from — with control
//! characters escaped ([`escape`]) and at most the plugin's rate
//! ([`throttle`]); lines over it are dropped, counted in
//! `berth_plugin_log_lines_dropped_total` and summarized. Lines below the
//! level in force for target `plugin` (by default `warn`, see `main.rs`)
//! are discarded before they cost any budget or formatting.

mod escape;
mod throttle;

pub use throttle::LogThrottle;

use crate::capabilities::bindings::berth::plugin::log::{Host, Level};
use crate::common::ids::PluginIdentity;
use crate::common::metrics::PluginMetrics;
use std::sync::Arc;

/// One instance's log capability: whose lines these are, and the budget
/// shared by all instances of the plugin.
pub struct LogState {
    /// Who is logging.
    pub identity: Arc<PluginIdentity>,
    /// The plugin's shared log budget.
    pub throttle: Arc<LogThrottle>,
    /// The plugin's metrics (dropped lines).
    pub metrics: Arc<PluginMetrics>,
}

/// Longest message kept from one log call, in bytes after escaping; the rest
/// is cut off so a plugin cannot flood the host's log with a single call.
const MAX_MESSAGE_BYTES: usize = 4096;

impl Host for LogState {
    fn log(&mut self, level: Level, message: String) {
        // Lines the log filter would discard anyway cost no budget and no
        // formatting (the check is the callsite's cached interest).
        let enabled = match level {
            Level::Trace => tracing::enabled!(target: "plugin", tracing::Level::TRACE),
            Level::Debug => tracing::enabled!(target: "plugin", tracing::Level::DEBUG),
            Level::Info => tracing::enabled!(target: "plugin", tracing::Level::INFO),
            Level::Warn => tracing::enabled!(target: "plugin", tracing::Level::WARN),
            Level::Error => tracing::enabled!(target: "plugin", tracing::Level::ERROR),
        };
        if !enabled {
            return;
        }
        if !self.throttle.admit() {
            self.metrics.log_line_dropped();
            return;
        }
        let message = escape::sanitize(&message, MAX_MESSAGE_BYTES);
        let (org, plugin) = (&self.identity.org, &self.identity.plugin);
        match level {
            Level::Trace => tracing::trace!(target: "plugin", org, plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", org, plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", org, plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", org, plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", org, plugin, "{message}"),
        }
    }
}
