//! Record queries: filters on a record's top-level fields (equality and
//! ranges), an order (by id; creation order is id order, since ids are
//! given out in creation order), a cursor (the last id of the previous
//! page) and a page size — as `GET /o/{org}/api/{module}` takes them in
//! its query string.

use serde_json::Value;
use std::cmp::Ordering;

/// Most records one page holds.
pub const MAX_PAGE: usize = 1000;
/// Records in a page unless the query says otherwise.
pub const DEFAULT_PAGE: usize = 100;
/// Most filters one query may have.
pub const MAX_FILTERS: usize = 16;
/// Longest value one filter may compare with, in bytes of its text.
pub const MAX_FILTER_VALUE_BYTES: usize = 1024;

/// How a filter compares a field with its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// Equal (JSON equality).
    Eq,
    /// Not equal.
    Ne,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
}

impl Comparison {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            _ => return None,
        })
    }
}

/// One condition on a top-level field.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    /// The field, e.g. `amount`.
    pub field: String,
    /// How it compares.
    pub comparison: Comparison,
    /// With what.
    pub value: Value,
}

impl Filter {
    /// Whether `data` (a record's fields) satisfies this filter. Ranges
    /// compare numbers with numbers and strings with strings; a field that
    /// is absent or of another type satisfies only `ne`.
    pub fn accepts(&self, data: &Value) -> bool {
        let field = data.get(&self.field);
        let ordering = field.and_then(|field| compare(field, &self.value));
        match self.comparison {
            Comparison::Eq => field == Some(&self.value),
            Comparison::Ne => field != Some(&self.value),
            Comparison::Gt => ordering == Some(Ordering::Greater),
            Comparison::Gte => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
            Comparison::Lt => ordering == Some(Ordering::Less),
            Comparison::Lte => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        }
    }
}

/// How two JSON scalars of the same kind order.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// A query over one module's records of one org.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordQuery {
    /// Every one must hold.
    pub filters: Vec<Filter>,
    /// Newest first (by id) instead of oldest first.
    pub descending: bool,
    /// The cursor: only records past this id (in the query's order).
    pub after: Option<u64>,
    /// Most records in the page, 1 to [`MAX_PAGE`].
    pub limit: usize,
}

impl Default for RecordQuery {
    fn default() -> Self {
        Self {
            filters: Vec::new(),
            descending: false,
            after: None,
            limit: DEFAULT_PAGE,
        }
    }
}

impl RecordQuery {
    /// Whether a record's `data` satisfies every filter.
    pub fn accepts(&self, data: &Value) -> bool {
        self.filters.iter().all(|filter| filter.accepts(data))
    }

    /// Reads a URL query string: `order=id|-id|created_at|-created_at`,
    /// `limit=N`, `after=ID` (the cursor), and filters `field=value` or
    /// `field.OP=value` with OP one of `eq ne gt gte lt lte`. A value is
    /// read as JSON when it is a number, `true`, `false`, `null` or a
    /// quoted string (`"42"`), else as the string it is.
    pub fn from_url_query(query: &str) -> Result<Self, String> {
        let mut parsed = Self::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "order" => {
                    parsed.descending = match value.as_ref() {
                        "id" | "created_at" => false,
                        "-id" | "-created_at" => true,
                        other => {
                            return Err(format!(
                                "`order` is id, -id, created_at or -created_at, not `{other}`"
                            ));
                        }
                    }
                }
                "limit" => {
                    parsed.limit = value
                        .parse()
                        .ok()
                        .filter(|limit| (1..=MAX_PAGE).contains(limit))
                        .ok_or_else(|| format!("`limit` is a number from 1 to {MAX_PAGE}"))?;
                }
                "after" => {
                    let after = value
                        .parse()
                        .map_err(|_| "`after` is a record id".to_owned())?;
                    parsed.after = Some(after);
                }
                name => parsed.filters.push(filter(name, &value)?),
            }
        }
        if parsed.filters.len() > MAX_FILTERS {
            return Err(format!("at most {MAX_FILTERS} filters"));
        }
        Ok(parsed)
    }
}

/// Checks a filter's field name (1–64 of `A-Z a-z 0-9 _ -`) and the length
/// of the text of its value (at most [`MAX_FILTER_VALUE_BYTES`]).
pub fn check_filter(field: &str, value: &str) -> Result<(), String> {
    let valid = !field.is_empty()
        && field.len() <= 64
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(format!(
            "`{field}` is not a field name (1-64 of A-Z a-z 0-9 _ -)"
        ));
    }
    if value.len() > MAX_FILTER_VALUE_BYTES {
        return Err(format!(
            "a filter value is at most {MAX_FILTER_VALUE_BYTES} bytes"
        ));
    }
    Ok(())
}

/// The filter `name=value` names.
fn filter(name: &str, value: &str) -> Result<Filter, String> {
    let (field, comparison) = match name.rsplit_once('.') {
        Some((field, op)) => {
            let comparison = Comparison::parse(op)
                .ok_or_else(|| format!("`{op}` is not a comparison (eq ne gt gte lt lte)"))?;
            (field, comparison)
        }
        None => (name, Comparison::Eq),
    };
    check_filter(field, value)?;
    let value = match serde_json::from_str::<Value>(value) {
        Ok(json) if !json.is_object() && !json.is_array() => json,
        _ => Value::String(value.to_owned()),
    };
    Ok(Filter {
        field: field.to_owned(),
        comparison,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_queries_read_filters_order_cursor_and_limit() {
        let query = RecordQuery::from_url_query(
            "currency=EUR&amount.gte=100&amount.lt=1e3&order=-id&limit=5&after=40&phone=%2255%22",
        )
        .unwrap();
        assert!(query.descending);
        assert_eq!((query.after, query.limit), (Some(40), 5));
        assert_eq!(query.filters.len(), 4);
        assert!(query.accepts(&json!({"currency": "EUR", "amount": 250, "phone": "55"})));
        assert!(!query.accepts(&json!({"currency": "EUR", "amount": 1000, "phone": "55"})));
        assert!(!query.accepts(&json!({"currency": "EUR", "amount": "250", "phone": "55"})));
        assert!(!query.accepts(&json!({"currency": "USD", "amount": 250, "phone": "55"})));
        assert!(!query.accepts(&json!({"currency": "EUR", "amount": 250, "phone": 55})));

        for bad in [
            "limit=0",
            "limit=1001",
            "order=name",
            "after=x",
            "a.like=1",
            "a%20b=1",
            ".gt=1",
        ] {
            assert!(RecordQuery::from_url_query(bad).is_err(), "{bad}");
        }
        let absent = RecordQuery::from_url_query("email.ne=x@y.z").unwrap();
        assert!(absent.accepts(&json!({"name": "no email"})));
        assert_eq!(
            RecordQuery::from_url_query("").unwrap(),
            RecordQuery::default()
        );
    }
}
