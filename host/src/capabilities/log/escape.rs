//! Plugin log messages made safe for the host's log: characters that could
//! break a line or restyle a terminal are written as escapes, so a plugin
//! cannot start a line of its own (one that names another org, say), and
//! the message is cut to a bounded length.

use std::borrow::Cow;
use std::fmt::Write;

/// `message` with every control character escaped (`\n`, `\r`, `\t`, others
/// as `\u{…}`), and Unicode line separators and bidirectional formatting
/// characters too, cut at `max` bytes without splitting a character or
/// an escape.
pub fn sanitize(message: &str, max: usize) -> Cow<'_, str> {
    if message.len() <= max && !message.chars().any(needs_escape) {
        return Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(message.len().min(max));
    let mut piece = String::new();
    for c in message.chars() {
        piece.clear();
        if needs_escape(c) {
            match c {
                '\n' => piece.push_str("\\n"),
                '\r' => piece.push_str("\\r"),
                '\t' => piece.push_str("\\t"),
                _ => write!(piece, "\\u{{{:x}}}", u32::from(c)).expect("writing to a String"),
            }
        } else {
            piece.push(c);
        }
        if out.len() + piece.len() > max {
            break;
        }
        out.push_str(&piece);
    }
    Cow::Owned(out)
}

/// Whether `c` must not reach the log as it is: C0 and C1 controls and
/// DEL (newline, carriage return, escape, …), the Unicode line and
/// paragraph separators, and bidirectional formatting characters (which
/// can make a terminal show text in another order than it was written).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn plain_text_passes_unchanged_and_unallocated() {
        let text = "GET /echo/héllo → 200";
        assert!(matches!(sanitize(text, 100), std::borrow::Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn line_breaks_and_terminal_controls_are_escaped() {
        let forged = "ok\nINFO plugin: approved org=\"victim\"\r\x1b[2K\t\u{0}\u{7f}\u{85}";
        assert_eq!(
            sanitize(forged, 1000),
            "ok\\nINFO plugin: approved org=\"victim\"\\r\\u{1b}[2K\\t\\u{0}\\u{7f}\\u{85}"
        );
        assert_eq!(
            sanitize("a\u{2028}b\u{202e}c\u{2066}d", 1000),
            "a\\u{2028}b\\u{202e}c\\u{2066}d"
        );
    }

    #[test]
    fn cutting_never_splits_a_character_or_an_escape() {
        assert_eq!(sanitize("héllo", 2), "h");
        assert_eq!(sanitize("héllo", 3), "hé");
        assert_eq!(sanitize("short", 100), "short");
        assert_eq!(sanitize("ab\ncd", 3), "ab");
        assert_eq!(sanitize("ab\ncd", 4), "ab\\n");
        assert_eq!(sanitize("a\u{1b}", 6), "a");
    }
}
