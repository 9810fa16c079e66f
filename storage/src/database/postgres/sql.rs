//! The SQL for each [`Snapshot`](super::super::tables::Snapshot) and
//! [`Changes`](super::super::tables::Changes) operation on a table, built
//! from its description: one PostgreSQL table per registry table, one
//! column per key part and a `value` column (see `migrations/`).

use super::super::tables::{Part, PartKind, Scan, Table, ValueKind};
use crate::StorageError;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// A statement's parameters.
pub(super) type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// The key columns, comma-separated.
fn key_columns(table: &Table) -> String {
    let names: Vec<_> = table.key.iter().map(|column| column.name).collect();
    names.join(", ")
}

/// `c1 = $1 AND c2 = $2 …` over the first `count` key columns.
fn equal_to_params(table: &Table, count: usize) -> Vec<String> {
    (table.key.iter().take(count).enumerate())
        .map(|(index, column)| format!("{} = ${}", column.name, index + 1))
        .collect()
}

/// Reads one value by its whole key.
pub(super) fn select_one(table: &Table) -> String {
    format!(
        "SELECT value FROM {} WHERE {}",
        table.name,
        equal_to_params(table, table.key.len()).join(" AND ")
    )
}

/// Tells whether a whole key is present, without reading its value.
pub(super) fn select_exists(table: &Table) -> String {
    format!(
        "SELECT 1 FROM {} WHERE {}",
        table.name,
        equal_to_params(table, table.key.len()).join(" AND ")
    )
}

/// The `WHERE` clause (possibly empty) selecting what `scan` covers, and its
/// parameters.
fn scan_filter(table: &Table, scan: &Scan) -> Result<(String, Params), StorageError> {
    let mut conditions = equal_to_params(table, scan.prefix.len());
    let mut params = key_params(&scan.prefix)?;
    if let Some(next) = table.key.get(scan.prefix.len()) {
        for (bound, operator) in [(&scan.from, ">="), (&scan.to, "<=")] {
            if let Some(part) = bound {
                params.push(part_param(part)?);
                conditions.push(format!("{} {operator} ${}", next.name, params.len()));
            }
        }
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    Ok((filter, params))
}

/// The key columns in `scan`'s order, for `ORDER BY`.
fn order_by(table: &Table, scan: &Scan) -> String {
    let direction = if scan.reverse { " DESC" } else { "" };
    let columns: Vec<_> = (table.key.iter())
        .map(|column| format!("{}{direction}", column.name))
        .collect();
    columns.join(", ")
}

/// Reads at most `page` entries `scan` covers, keys and values, in its
/// order, past the key `after` (the last of the previous page) if given.
pub(super) fn select_page(
    table: &Table,
    scan: &Scan,
    after: Option<&[Part]>,
    page: usize,
) -> Result<(String, Params), StorageError> {
    let (mut filter, mut params) = scan_filter(table, scan)?;
    if let Some(after) = after {
        let first = params.len() + 1;
        params.extend(key_params(after)?);
        let placeholders: Vec<_> = (first..params.len() + 1).map(|n| format!("${n}")).collect();
        let beyond = if scan.reverse { "<" } else { ">" };
        filter += if filter.is_empty() {
            " WHERE "
        } else {
            " AND "
        };
        filter += &format!(
            "({}) {beyond} ({})",
            key_columns(table),
            placeholders.join(", ")
        );
    }
    params.push(Box::new(i64::try_from(page).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT {}, value FROM {}{filter} ORDER BY {} LIMIT ${}",
        key_columns(table),
        table.name,
        order_by(table, scan),
        params.len()
    );
    Ok((sql, params))
}

/// Reads the keys of what `scan` covers, in its order.
pub(super) fn select_keys(table: &Table, scan: &Scan) -> Result<(String, Params), StorageError> {
    let (filter, params) = scan_filter(table, scan)?;
    let sql = format!(
        "SELECT {} FROM {}{filter} ORDER BY {}",
        key_columns(table),
        table.name,
        order_by(table, scan)
    );
    Ok((sql, params))
}

/// Stores one value, replacing what its key held.
pub(super) fn upsert(table: &Table) -> String {
    let columns = key_columns(table);
    let count = table.key.len();
    let placeholders: Vec<_> = (1..=count).map(|n| format!("${n}")).collect();
    let value = format!("${}", count + 1);
    format!(
        "INSERT INTO {name} ({columns}, value) VALUES ({}, {value}) \
         ON CONFLICT ({columns}) DO UPDATE SET value = EXCLUDED.value",
        placeholders.join(", "),
        name = table.name,
    )
}

/// Removes one value by its whole key, returning it.
pub(super) fn delete_one(table: &Table) -> String {
    format!(
        "DELETE FROM {} WHERE {} RETURNING value",
        table.name,
        equal_to_params(table, table.key.len()).join(" AND ")
    )
}

/// Removes what `scan` covers.
pub(super) fn delete_scan(table: &Table, scan: &Scan) -> Result<(String, Params), StorageError> {
    let (filter, params) = scan_filter(table, scan)?;
    Ok((format!("DELETE FROM {}{filter}", table.name), params))
}

/// A key part as a parameter.
fn part_param(part: &Part) -> Result<Box<dyn ToSql + Sync + Send>, StorageError> {
    Ok(match part {
        Part::Text(text) => Box::new(text.clone()),
        Part::Number(n) => Box::new(i64::try_from(*n).unwrap_or(i64::MAX)),
    })
}

/// A key's parts as parameters.
pub(super) fn key_params(key: &[Part]) -> Result<Params, StorageError> {
    key.iter().map(part_param).collect()
}

/// A value (as the typed queries encode it) as a parameter.
pub(super) fn value_param(
    table: &Table,
    value: &[u8],
) -> Result<Box<dyn ToSql + Sync + Send>, StorageError> {
    let text =
        || String::from_utf8(value.to_vec()).map_err(|e| StorageError::Corrupt(e.to_string()));
    Ok(match table.value {
        ValueKind::Json | ValueKind::Text => Box::new(text()?),
        ValueKind::Bytes => Box::new(value.to_vec()),
        ValueKind::Number => {
            let n = super::super::tables::number_value(value)?;
            Box::new(i64::try_from(n).map_err(|e| StorageError::Corrupt(e.to_string()))?)
        }
    })
}

/// The value in column `index` of `row`, encoded as the typed queries expect.
pub(super) fn row_value(table: &Table, row: &Row, index: usize) -> Vec<u8> {
    match table.value {
        ValueKind::Json | ValueKind::Text => row.get::<_, String>(index).into_bytes(),
        ValueKind::Bytes => row.get(index),
        ValueKind::Number => (row.get::<_, i64>(index) as u64).to_be_bytes().to_vec(),
    }
}

/// The key in the leading columns of `row`.
pub(super) fn row_key(table: &Table, row: &Row) -> Vec<Part> {
    (table.key.iter().enumerate())
        .map(|(index, column)| match column.kind {
            PartKind::Text => Part::Text(row.get(index)),
            PartKind::Number => Part::Number(row.get::<_, i64>(index) as u64),
        })
        .collect()
}
