//! `berth:plugin/log`: plugin log lines, forwarded to the host's `tracing`
//! output tagged with the org and plugin they came from.

use super::berth::plugin::log::{Host, Level};
use crate::runtime::PluginState;

/// Longest message kept from one log call; the rest is cut off so a plugin
/// cannot flood the host's log with a single call.
const MAX_MESSAGE_BYTES: usize = 4096;

impl Host for PluginState {
    fn log(&mut self, level: Level, message: String) {
        let message = truncate_at_char_boundary(&message, MAX_MESSAGE_BYTES);
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

/// The longest prefix of `text` that fits in `max` bytes without splitting a character.
fn truncate_at_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate_at_char_boundary;

    #[test]
    fn truncation_never_splits_a_character() {
        assert_eq!(truncate_at_char_boundary("héllo", 2), "h");
        assert_eq!(truncate_at_char_boundary("héllo", 3), "hé");
        assert_eq!(truncate_at_char_boundary("short", 100), "short");
    }
}
