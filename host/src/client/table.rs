//! Human output: columns padded to their widest cell, and JSON values
//! shown as plain text.

use std::fmt::Write as _;

/// A table of text cells under a header row.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with the column `headers`.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    /// One row per item of `items` (a JSON array; nothing otherwise), its
    /// cells from `cells`.
    pub fn rows_of(
        mut self,
        items: &serde_json::Value,
        cells: impl Fn(&serde_json::Value) -> Vec<String>,
    ) -> Self {
        for item in items.as_array().into_iter().flatten() {
            self.rows.push(cells(item));
        }
        self
    }

    /// The table as text, one line per row; the last column unpadded.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                (self.rows.iter())
                    .map(|row| row.get(c).map_or(0, |cell| cell.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line += cell;
                } else {
                    let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
                }
            }
            out += line.trim_end();
            out.push('\n');
        }
        out
    }
}

/// A JSON value as a cell: strings bare, `null` as `-`, others as JSON.
pub fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// A Unix time in seconds as RFC 3339 UTC, e.g. `2026-12-07T01:28:09Z`
/// (`-` if absent).
pub fn time(value: &serde_json::Value) -> String {
    value.as_u64().map_or_else(
        || "-".to_owned(),
        |secs| {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            humantime::format_rfc3339_seconds(at).to_string()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_are_padded_to_their_widest_cell() {
        let table = Table::new(&["NAME", "STATE"]).rows_of(
            &json!([{"n": "hello", "s": "active"}, {"n": "contact-rules", "s": null}]),
            |p| vec![text(&p["n"]), text(&p["s"])],
        );
        assert_eq!(
            table.render(),
            "NAME           STATE\nhello          active\ncontact-rules  -\n"
        );
    }

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(time(&json!(0)), "1970-01-01T00:00:00Z");
        assert_eq!(time(&json!(1_796_606_889)), "2026-12-07T01:28:09Z");
        assert_eq!(time(&json!(null)), "-");
    }
}
