//! The embedded backend: each [`Table`] is a redb table of the same name,
//! keyed by the tuple of its key columns (`(&str, u64)` for an org's audit
//! log), so files written before the backends were split open unchanged.

use super::tables::{Changes, Flow, Part, PartKind, Scan, Snapshot, Table, ValueKind, Visit};
use crate::StorageError;
use redb::{ReadableTable, TableDefinition};
use std::borrow::Cow;

/// Wraps a redb error.
pub(crate) fn db_err(error: impl Into<redb::Error>) -> StorageError {
    StorageError::Database(error.into())
}

/// A read snapshot.
pub(crate) struct RedbRead(pub redb::ReadTransaction);

/// An open write transaction.
pub(crate) struct RedbWrite<'t>(pub &'t redb::WriteTransaction);

/// Creates every table in `tables` that does not exist yet.
pub(crate) fn create_tables(
    txn: &redb::WriteTransaction,
    tables: &[&Table],
) -> Result<(), StorageError> {
    for table in tables {
        dispatch(table, Create(txn))?;
    }
    Ok(())
}

/// A redb key type made of a table's key columns.
trait KeyShape: redb::Key + 'static {
    /// The key holding `parts`.
    fn key(parts: &[Part]) -> Self::SelfType<'_>;
    /// Writes the parts of `key` into `parts`, reusing its strings (a scan
    /// decodes every key it passes, so it allocates only for the first).
    fn parts_into(key: Self::SelfType<'_>, parts: &mut Vec<Part>);
}

/// Sets `parts[index]` to the text `value`, reusing the string there.
fn set_text(parts: &mut Vec<Part>, index: usize, value: &str) {
    match parts.get_mut(index) {
        Some(Part::Text(text)) => {
            text.clear();
            text.push_str(value);
        }
        Some(part) => *part = value.into(),
        None => parts.push(value.into()),
    }
}

/// Sets `parts[index]` to the number `value`.
fn set_number(parts: &mut Vec<Part>, index: usize, value: u64) {
    match parts.get_mut(index) {
        Some(part) => *part = Part::Number(value),
        None => parts.push(Part::Number(value)),
    }
}

impl KeyShape for &'static str {
    fn key(parts: &[Part]) -> &str {
        parts[0].text()
    }
    fn parts_into(key: &str, parts: &mut Vec<Part>) {
        set_text(parts, 0, key);
    }
}

impl KeyShape for (&'static str, &'static str) {
    fn key(parts: &[Part]) -> (&str, &str) {
        (parts[0].text(), parts[1].text())
    }
    fn parts_into((a, b): (&str, &str), parts: &mut Vec<Part>) {
        set_text(parts, 0, a);
        set_text(parts, 1, b);
    }
}

impl KeyShape for (&'static str, u64) {
    fn key(parts: &[Part]) -> (&str, u64) {
        (parts[0].text(), parts[1].number())
    }
    fn parts_into((a, n): (&str, u64), parts: &mut Vec<Part>) {
        set_text(parts, 0, a);
        set_number(parts, 1, n);
    }
}

impl KeyShape for (&'static str, &'static str, &'static str) {
    fn key(parts: &[Part]) -> (&str, &str, &str) {
        (parts[0].text(), parts[1].text(), parts[2].text())
    }
    fn parts_into((a, b, c): (&str, &str, &str), parts: &mut Vec<Part>) {
        set_text(parts, 0, a);
        set_text(parts, 1, b);
        set_text(parts, 2, c);
    }
}

impl KeyShape for (&'static str, &'static str, u64) {
    fn key(parts: &[Part]) -> (&str, &str, u64) {
        (parts[0].text(), parts[1].text(), parts[2].number())
    }
    fn parts_into((a, b, n): (&str, &str, u64), parts: &mut Vec<Part>) {
        set_text(parts, 0, a);
        set_text(parts, 1, b);
        set_number(parts, 2, n);
    }
}

/// A redb value type holding a table's values.
trait ValueShape: redb::Value + 'static {
    /// The value `bytes` encode (see [`ValueKind`]).
    fn value(bytes: &[u8]) -> Result<Self::SelfType<'_>, StorageError>;
    /// The bytes encoding `value`, borrowed where they are stored as is.
    fn bytes<'a>(value: Self::SelfType<'a>) -> Cow<'a, [u8]>;
}

impl ValueShape for &'static [u8] {
    fn value(bytes: &[u8]) -> Result<&[u8], StorageError> {
        Ok(bytes)
    }
    fn bytes<'a>(value: Self::SelfType<'a>) -> Cow<'a, [u8]> {
        Cow::Borrowed(value)
    }
}

impl ValueShape for u64 {
    fn value(bytes: &[u8]) -> Result<u64, StorageError> {
        super::tables::number_value(bytes)
    }
    fn bytes<'a>(value: Self::SelfType<'a>) -> Cow<'a, [u8]> {
        Cow::Owned(value.to_be_bytes().to_vec())
    }
}

impl ValueShape for &'static str {
    fn value(bytes: &[u8]) -> Result<&str, StorageError> {
        std::str::from_utf8(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
    }
    fn bytes<'a>(value: Self::SelfType<'a>) -> Cow<'a, [u8]> {
        Cow::Borrowed(value.as_bytes())
    }
}

/// Something done to one table, whatever its redb key and value types.
trait TableOp {
    type Output;
    fn run<K: KeyShape, V: ValueShape>(self, table: TableDefinition<'static, K, V>)
    -> Self::Output;
}

/// Runs `op` on `table` with the redb types its description calls for.
fn dispatch<O: TableOp>(table: &Table, op: O) -> O::Output {
    use PartKind::{Number, Text};
    let kinds: Vec<PartKind> = table.key.iter().map(|column| column.kind).collect();
    let name = table.name;
    let document = matches!(table.value, ValueKind::Json | ValueKind::Bytes);
    match (kinds.as_slice(), table.value) {
        ([Text], _) if document => op.run(TableDefinition::<&str, &[u8]>::new(name)),
        ([Text], ValueKind::Number) => op.run(TableDefinition::<&str, u64>::new(name)),
        ([Text], ValueKind::Text) => op.run(TableDefinition::<&str, &str>::new(name)),
        ([Text, Text], _) if document => op.run(TableDefinition::<(&str, &str), &[u8]>::new(name)),
        ([Text, Text], ValueKind::Number) => {
            op.run(TableDefinition::<(&str, &str), u64>::new(name))
        }
        ([Text, Text], ValueKind::Text) => op.run(TableDefinition::<(&str, &str), &str>::new(name)),
        ([Text, Number], _) if document => op.run(TableDefinition::<(&str, u64), &[u8]>::new(name)),
        ([Text, Text, Text], _) if document => {
            op.run(TableDefinition::<(&str, &str, &str), &[u8]>::new(name))
        }
        ([Text, Text, Number], _) if document => {
            op.run(TableDefinition::<(&str, &str, u64), &[u8]>::new(name))
        }
        _ => unreachable!("no redb table has the shape of {table:?}"),
    }
}

/// The lowest (or, with `high`, highest) key a scan of `table` can visit.
/// A highest key exists only when the parts after the prefix are numbers,
/// which is so for every scan that runs in reverse.
fn bound(table: &Table, scan: &Scan, high: bool) -> Vec<Part> {
    let mut parts = scan.prefix.clone();
    let given = if high { &scan.to } else { &scan.from };
    for (index, column) in table.key.iter().enumerate().skip(parts.len()) {
        let part = match (given, column.kind, high) {
            (Some(part), _, _) if index == scan.prefix.len() => part.clone(),
            (_, PartKind::Text, false) => Part::Text(String::new()),
            (_, PartKind::Number, false) => Part::Number(0),
            (_, PartKind::Number, true) => Part::Number(u64::MAX),
            (_, PartKind::Text, true) => {
                unreachable!("{} scanned in reverse over text", table.name)
            }
        };
        parts.push(part);
    }
    parts
}

/// Visits what `scan` covers in `redb_table`.
fn scan_in<K: KeyShape, V: ValueShape>(
    redb_table: &impl ReadableTable<K, V>,
    table: &Table,
    scan: &Scan,
    visit: &mut Visit<'_>,
) -> Result<(), StorageError> {
    let low = bound(table, scan, false);
    let mut parts = Vec::with_capacity(table.key.len());
    let mut step = |entry: Result<
        (redb::AccessGuard<'_, K>, redb::AccessGuard<'_, V>),
        redb::StorageError,
    >| {
        let (key, value) = entry.map_err(db_err)?;
        K::parts_into(key.value(), &mut parts);
        if !scan.covers(&parts) {
            return Ok(Flow::Break(()));
        }
        visit(&parts, &V::bytes(value.value()))
    };
    if scan.reverse {
        let high = bound(table, scan, true);
        let range = redb_table
            .range(K::key(&low)..=K::key(&high))
            .map_err(db_err)?;
        for entry in range.rev() {
            if step(entry)?.is_break() {
                break;
            }
        }
    } else {
        for entry in redb_table.range(K::key(&low)..).map_err(db_err)? {
            if step(entry)?.is_break() {
                break;
            }
        }
    }
    Ok(())
}

/// Opens a table in a write transaction, creating it if missing.
struct Create<'t>(&'t redb::WriteTransaction);

impl TableOp for Create<'_> {
    type Output = Result<(), StorageError>;
    fn run<K: KeyShape, V: ValueShape>(
        self,
        table: TableDefinition<'static, K, V>,
    ) -> Self::Output {
        self.0.open_table(table).map_err(db_err)?;
        Ok(())
    }
}

/// Either kind of transaction, for reading.
#[derive(Clone, Copy)]
enum Txn<'t> {
    Read(&'t redb::ReadTransaction),
    Write(&'t redb::WriteTransaction),
}

/// Reads one value.
struct Get<'a>(Txn<'a>, &'a [Part]);

impl TableOp for Get<'_> {
    type Output = Result<Option<Vec<u8>>, StorageError>;
    fn run<K: KeyShape, V: ValueShape>(
        self,
        table: TableDefinition<'static, K, V>,
    ) -> Self::Output {
        fn get<K: KeyShape, V: ValueShape>(
            table: &impl ReadableTable<K, V>,
            key: &[Part],
        ) -> Result<Option<Vec<u8>>, StorageError> {
            Ok(table
                .get(K::key(key))
                .map_err(db_err)?
                .map(|value| V::bytes(value.value()).into_owned()))
        }
        match self.0 {
            Txn::Read(txn) => get(&txn.open_table(table).map_err(db_err)?, self.1),
            Txn::Write(txn) => get(&txn.open_table(table).map_err(db_err)?, self.1),
        }
    }
}

/// Visits a range.
struct ScanOp<'a, 'v>(Txn<'a>, &'a Table, &'a Scan, &'a mut Visit<'v>);

impl TableOp for ScanOp<'_, '_> {
    type Output = Result<(), StorageError>;
    fn run<K: KeyShape, V: ValueShape>(self, def: TableDefinition<'static, K, V>) -> Self::Output {
        let ScanOp(txn, table, scan, visit) = self;
        match txn {
            Txn::Read(txn) => scan_in(&txn.open_table(def).map_err(db_err)?, table, scan, visit),
            Txn::Write(txn) => scan_in(&txn.open_table(def).map_err(db_err)?, table, scan, visit),
        }
    }
}

/// Stores one value.
struct Put<'a>(&'a redb::WriteTransaction, &'a [Part], &'a [u8]);

impl TableOp for Put<'_> {
    type Output = Result<(), StorageError>;
    fn run<K: KeyShape, V: ValueShape>(
        self,
        table: TableDefinition<'static, K, V>,
    ) -> Self::Output {
        let mut table = self.0.open_table(table).map_err(db_err)?;
        table
            .insert(K::key(self.1), V::value(self.2)?)
            .map_err(db_err)?;
        Ok(())
    }
}

/// Removes one value.
struct Delete<'a>(&'a redb::WriteTransaction, &'a [Part]);

impl TableOp for Delete<'_> {
    type Output = Result<Option<Vec<u8>>, StorageError>;
    fn run<K: KeyShape, V: ValueShape>(
        self,
        table: TableDefinition<'static, K, V>,
    ) -> Self::Output {
        let mut table = self.0.open_table(table).map_err(db_err)?;
        let removed = table.remove(K::key(self.1)).map_err(db_err)?;
        Ok(removed.map(|value| V::bytes(value.value()).into_owned()))
    }
}

impl Snapshot for RedbRead {
    fn get(&self, table: &Table, key: &[Part]) -> Result<Option<Vec<u8>>, StorageError> {
        dispatch(table, Get(Txn::Read(&self.0), key))
    }

    fn scan(&self, table: &Table, scan: &Scan, visit: &mut Visit<'_>) -> Result<(), StorageError> {
        dispatch(table, ScanOp(Txn::Read(&self.0), table, scan, visit))
    }
}

impl Snapshot for RedbWrite<'_> {
    fn get(&self, table: &Table, key: &[Part]) -> Result<Option<Vec<u8>>, StorageError> {
        dispatch(table, Get(Txn::Write(self.0), key))
    }

    fn scan(&self, table: &Table, scan: &Scan, visit: &mut Visit<'_>) -> Result<(), StorageError> {
        dispatch(table, ScanOp(Txn::Write(self.0), table, scan, visit))
    }
}

impl Changes for RedbWrite<'_> {
    fn put(&mut self, table: &Table, key: &[Part], value: &[u8]) -> Result<(), StorageError> {
        dispatch(table, Put(self.0, key, value))
    }

    fn delete(&mut self, table: &Table, key: &[Part]) -> Result<Option<Vec<u8>>, StorageError> {
        dispatch(table, Delete(self.0, key))
    }

    fn announce(&mut self, _channel: &str, _payload: &str) -> Result<(), StorageError> {
        // A lone node has no one to tell.
        Ok(())
    }

    fn delete_all(&mut self, table: &Table, scan: &Scan) -> Result<(), StorageError> {
        for key in self.keys(table, scan)? {
            self.delete(table, &key)?;
        }
        Ok(())
    }
}
