//! `berth:plugin/log`: plugin log lines, kept in the plugin's ring for its
//! org's admins to read ([`ring`]) and forwarded to the host's `tracing`
//! output tagged with the org and plugin they came from — with control
//! characters escaped ([`escape`]) and at most the plugin's rate
//! ([`throttle`]); lines over it are dropped, counted in
//! `berth_plugin_log_lines_dropped_total` and summarized in both places.
//! The host's output takes only lines at or above the level in force for
//! target `plugin` (by default `warn`, see `main.rs`).

mod escape;
pub mod ring;
mod throttle;

pub use ring::{LogRing, PluginLogs, RingSize};
pub use throttle::LogThrottle;

use crate::capabilities::bindings::v0_2_0::log::{Field, Host, Level};
use crate::common::ids::PluginIdentity;
use crate::common::metrics::PluginMetrics;
use std::fmt::Write as _;
use std::sync::Arc;
use tracing::Level as Severity;

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
/// Most fields kept from one line; further ones are dropped.
const MAX_FIELDS: usize = 16;
/// Longest field name kept, in bytes after escaping.
const MAX_FIELD_KEY_BYTES: usize = 64;
/// Longest field value kept, in bytes after escaping.
const MAX_FIELD_VALUE_BYTES: usize = 1024;

impl LogState {
    /// Writes one plugin line at `level` with `fields` into the plugin's
    /// ring and, if the log filter takes it, the host's output (the fields
    /// as `key=value` pairs in the line's `fields` attribute) — unless the
    /// plugin is over its rate.
    pub fn write(&mut self, level: Severity, message: &str, fields: &[(String, String)]) {
        if !self.throttle.admit() {
            self.metrics.log_line_dropped();
            return;
        }
        let message = escape::sanitize(message, MAX_MESSAGE_BYTES);
        let fields = sanitize_fields(fields);
        // The check is the callsite's cached interest: lines the filter
        // discards cost no formatting.
        let to_output = match level {
            Severity::TRACE => tracing::enabled!(target: "plugin", Severity::TRACE),
            Severity::DEBUG => tracing::enabled!(target: "plugin", Severity::DEBUG),
            Severity::INFO => tracing::enabled!(target: "plugin", Severity::INFO),
            Severity::WARN => tracing::enabled!(target: "plugin", Severity::WARN),
            Severity::ERROR => tracing::enabled!(target: "plugin", Severity::ERROR),
        };
        if to_output {
            self.forward(level, &message, &fields);
        }
        let ring = self.throttle.ring();
        ring.push(
            level_name(level),
            ring::EntryKind::Line,
            message.into_owned(),
            fields,
        );
    }

    /// Writes one sanitized line to the host's output.
    fn forward(&self, level: Severity, message: &str, fields: &[(String, String)]) {
        let fields = render_fields(fields);
        let fields = fields.as_deref().map(tracing::field::display);
        let (org, plugin) = (&self.identity.org, &self.identity.plugin);
        match level {
            Severity::TRACE => tracing::trace!(target: "plugin", org, plugin, fields, "{message}"),
            Severity::DEBUG => tracing::debug!(target: "plugin", org, plugin, fields, "{message}"),
            Severity::INFO => tracing::info!(target: "plugin", org, plugin, fields, "{message}"),
            Severity::WARN => tracing::warn!(target: "plugin", org, plugin, fields, "{message}"),
            Severity::ERROR => tracing::error!(target: "plugin", org, plugin, fields, "{message}"),
        }
    }
}

/// The lowercase name of `level`, as the ring keeps it.
fn level_name(level: Severity) -> &'static str {
    match level {
        Severity::TRACE => "trace",
        Severity::DEBUG => "debug",
        Severity::INFO => "info",
        Severity::WARN => "warn",
        Severity::ERROR => "error",
    }
}

/// At most [`MAX_FIELDS`] of `fields`, each escaped and cut like a message
/// (a space or `=` in a key becomes `_`).
fn sanitize_fields(fields: &[(String, String)]) -> Vec<(String, String)> {
    (fields.iter().take(MAX_FIELDS))
        .map(|(key, value)| {
            (
                escape::sanitize(key, MAX_FIELD_KEY_BYTES).replace([' ', '='], "_"),
                escape::sanitize(value, MAX_FIELD_VALUE_BYTES).into_owned(),
            )
        })
        .collect()
}

/// Sanitized `fields` as `key=value` pairs separated by spaces; `None` if
/// there are none.
fn render_fields(fields: &[(String, String)]) -> Option<String> {
    if fields.is_empty() {
        return None;
    }
    let mut rendered = String::new();
    for (key, value) in fields {
        let separator = if rendered.is_empty() { "" } else { " " };
        write!(rendered, "{separator}{key}={value:?}").expect("writing to a String");
    }
    Some(rendered)
}

/// The host's severity for a `berth:plugin/log` level (any API version).
macro_rules! severity_of {
    ($level:ident) => {
        impl From<$level> for ::tracing::Level {
            fn from(level: $level) -> Self {
                match level {
                    $level::Trace => ::tracing::Level::TRACE,
                    $level::Debug => ::tracing::Level::DEBUG,
                    $level::Info => ::tracing::Level::INFO,
                    $level::Warn => ::tracing::Level::WARN,
                    $level::Error => ::tracing::Level::ERROR,
                }
            }
        }
    };
}
pub(crate) use severity_of;

severity_of!(Level);

impl Host for LogState {
    fn log(&mut self, level: Level, message: String) {
        self.write(level.into(), &message, &[]);
    }

    fn log_fields(&mut self, level: Level, message: String, fields: Vec<Field>) {
        let fields: Vec<(String, String)> = fields.into_iter().map(|f| (f.key, f.value)).collect();
        self.write(level.into(), &message, &fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_escaped_cut_and_bounded() {
        assert_eq!(render_fields(&[]), None);
        let fields = [
            ("contact id".to_owned(), "42".to_owned()),
            ("note".to_owned(), "a\nb \"q\"".to_owned()),
        ];
        let rendered = render_fields(&sanitize_fields(&fields)).unwrap();
        assert!(
            rendered.starts_with(r#"contact_id="42" note=""#),
            "{rendered}"
        );
        assert!(!rendered.contains('\n'), "{rendered}");
        let many: Vec<(String, String)> = (0..40)
            .map(|i| (format!("k{i}"), "x".repeat(5000)))
            .collect();
        let rendered = render_fields(&sanitize_fields(&many)).unwrap();
        assert_eq!(rendered.matches('=').count(), MAX_FIELDS);
        assert!(rendered.len() < MAX_FIELDS * (MAX_FIELD_VALUE_BYTES + 16));
    }
}
