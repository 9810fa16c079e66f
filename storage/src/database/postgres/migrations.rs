//! Versioned schema migrations, run at start-up. Every node runs them under
//! one transaction-scoped advisory lock, so nodes starting together apply
//! each migration exactly once; a node older than the schema refuses to
//! start rather than misread it.

use super::Open;
use crate::StorageError;

/// Every migration, by version. Never edit one that has shipped: add the next.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("migrations/0001_registry.sql"))];

/// The advisory lock key all nodes take while migrating ("berth" in ASCII).
const MIGRATION_LOCK: i64 = 0x62_65_72_74_68;

/// Brings the schema in `open` (a fresh transaction) up to the newest
/// version this berth knows, and commits.
pub(super) fn run(open: Open) -> Result<(), StorageError> {
    open.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &vec![Box::new(MIGRATION_LOCK)],
    )?;
    open.batch(
        "CREATE TABLE IF NOT EXISTS berth_schema (
            version bigint PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )?;
    let rows = open.query(
        "SELECT coalesce(max(version), 0) FROM berth_schema",
        &Vec::new(),
    )?;
    let current: i64 = rows[0].get(0);
    let newest = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if current > newest {
        return Err(StorageError::Postgres(format!(
            "the registry's schema is version {current}, newer than this berth knows \
             ({newest}): upgrade berth on this node"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        open.batch(sql)?;
        open.execute(
            "INSERT INTO berth_schema (version) VALUES ($1)",
            &vec![Box::new(*version)],
        )?;
    }
    open.finish("COMMIT")
}
