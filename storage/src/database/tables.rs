//! What the registry's typed queries need from a backend: ordered tables of
//! (composite key → value), read in a snapshot and changed in a transaction.
//!
//! Every table is described once, by a [`Table`]: its name, its key columns
//! (text or number, compared column by column, text byte by byte) and the
//! kind of its value. A backend ([`super::redb_backend`],
//! [`super::postgres`]) maps that description onto its own storage; the
//! typed queries in [`super`] are written once, against [`Snapshot`] and
//! [`Changes`], and never know which backend they talk to.

use crate::StorageError;

/// The kind of one key column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PartKind {
    /// A string, ordered byte by byte.
    Text,
    /// An unsigned integer below 2^63.
    Number,
}

/// The kind of a table's values, as the typed queries encode them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// A JSON document (a record).
    Json,
    /// Opaque bytes (plugin key-value data).
    Bytes,
    /// An unsigned integer, as 8 big-endian bytes.
    Number,
    /// A UTF-8 string.
    Text,
}

/// One key column: its name (a PostgreSQL column) and kind.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Column {
    /// Column name.
    pub name: &'static str,
    /// What it holds.
    pub kind: PartKind,
}

/// A registry table.
#[derive(Debug)]
pub(crate) struct Table {
    /// Its name, the same in every backend.
    pub name: &'static str,
    /// Its key columns, most significant first.
    pub key: &'static [Column],
    /// What its values are.
    pub value: ValueKind,
}

/// A text key column named `name`.
pub(crate) const fn text(name: &'static str) -> Column {
    Column {
        name,
        kind: PartKind::Text,
    }
}

/// A number key column named `name`.
pub(crate) const fn number(name: &'static str) -> Column {
    Column {
        name,
        kind: PartKind::Number,
    }
}

/// One part of a key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Part {
    /// A text column's value.
    Text(String),
    /// A number column's value.
    Number(u64),
}

impl Part {
    /// The text, for a text column.
    pub fn text(&self) -> &str {
        match self {
            Part::Text(text) => text,
            Part::Number(n) => panic!("key part {n} is not text"),
        }
    }

    /// The number, for a number column.
    pub fn number(&self) -> u64 {
        match self {
            Part::Number(n) => *n,
            Part::Text(text) => panic!("key part {text:?} is not a number"),
        }
    }
}

impl From<&str> for Part {
    fn from(text: &str) -> Self {
        Part::Text(text.to_owned())
    }
}

impl From<u64> for Part {
    fn from(n: u64) -> Self {
        Part::Number(n)
    }
}

/// Builds a key from its parts: `key!["org", 3u64]`.
macro_rules! key {
    ($($part:expr),* $(,)?) => {
        [$($crate::database::tables::Part::from($part)),*]
    };
}
pub(crate) use key;

/// Which entries of a table a scan visits: those whose key starts with
/// `prefix`, whose next part lies within `from..=to` (either end open),
/// in key order or, with `reverse`, the other way.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Leading key parts every visited entry has.
    pub prefix: Vec<Part>,
    /// The lowest next part, if bounded below.
    pub from: Option<Part>,
    /// The highest next part, if bounded above.
    pub to: Option<Part>,
    /// Whether to visit from the highest key down.
    pub reverse: bool,
    /// At most how many entries the caller will visit, if it knows: a
    /// backend may fetch no more.
    pub limit: Option<usize>,
}

impl Scan {
    /// Every entry whose key starts with `prefix`, in order.
    pub fn prefix(prefix: impl IntoIterator<Item = Part>) -> Self {
        Self {
            prefix: prefix.into_iter().collect(),
            ..Self::default()
        }
    }

    /// From `from` on (inclusive), in the next key part.
    pub fn from(mut self, from: Option<Part>) -> Self {
        self.from = from;
        self
    }

    /// Up to `to` (inclusive), in the next key part.
    pub fn to(mut self, to: Option<Part>) -> Self {
        self.to = to;
        self
    }

    /// At most `limit` entries will be visited.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Highest key first.
    pub fn reversed(mut self) -> Self {
        self.reverse = true;
        self
    }

    /// Whether `key` (whole) is one this scan visits, judged by its prefix
    /// and its next part.
    pub fn covers(&self, key: &[Part]) -> bool {
        let Some(next) = key.get(self.prefix.len()) else {
            return false;
        };
        key.starts_with(&self.prefix)
            && self.from.as_ref().is_none_or(|from| next >= from)
            && self.to.as_ref().is_none_or(|to| next <= to)
    }
}

/// Whether a scan goes on after an entry.
pub(crate) type Flow = std::ops::ControlFlow<()>;

/// What a scan does with each entry it visits: its whole key and value.
pub(crate) type Visit<'a> = dyn FnMut(&[Part], &[u8]) -> Result<Flow, StorageError> + 'a;

/// The channel a shared registry announces changed orgs on
/// ([`Changes::announce`]).
pub(crate) const CHANGES_CHANNEL: &str = "berth_registry";

/// What a node hears about a shared registry (see
/// [`crate::Database::watch`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryEvent {
    /// Connected (again): anything may have changed; compare everything.
    Resync,
    /// A lifecycle step on some node changed this org.
    Changed(String),
    /// The registry cannot be reached; what is served may be stale.
    Lost,
}

/// Reading one consistent state of the registry.
pub(crate) trait Snapshot {
    /// The value under `key` in `table`.
    fn get(&self, table: &Table, key: &[Part]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Whether `key` is in `table` (without reading its value, where the
    /// backend can).
    fn contains(&self, table: &Table, key: &[Part]) -> Result<bool, StorageError> {
        Ok(self.get(table, key)?.is_some())
    }

    /// The keys of every entry `scan` covers, in its order (without reading
    /// values, where the backend can).
    fn keys(&self, table: &Table, scan: &Scan) -> Result<Vec<Vec<Part>>, StorageError> {
        let mut keys = Vec::new();
        self.scan(table, scan, &mut |key, _| {
            keys.push(key.to_vec());
            Ok(Flow::Continue(()))
        })?;
        Ok(keys)
    }

    /// Visits the entries of `table` that `scan` covers, in its order,
    /// until `visit` breaks.
    fn scan(&self, table: &Table, scan: &Scan, visit: &mut Visit<'_>) -> Result<(), StorageError>;
}

/// Changing the registry within one transaction.
pub(crate) trait Changes: Snapshot {
    /// Stores `value` under `key`, replacing what was there.
    fn put(&mut self, table: &Table, key: &[Part], value: &[u8]) -> Result<(), StorageError>;

    /// Removes `key`; returns its value if it was there.
    fn delete(&mut self, table: &Table, key: &[Part]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Removes every entry `scan` covers.
    fn delete_all(&mut self, table: &Table, scan: &Scan) -> Result<(), StorageError>;

    /// Tells every node watching `channel` `payload` once (and only if)
    /// the transaction commits.
    fn announce(&mut self, channel: &str, payload: &str) -> Result<(), StorageError>;
}

/// Reads a value of kind [`ValueKind::Number`].
pub(crate) fn number_value(bytes: &[u8]) -> Result<u64, StorageError> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt(format!("a number of {} bytes", bytes.len())))?;
    Ok(u64::from_be_bytes(bytes))
}
