//! The cluster backend: the registry in one PostgreSQL database that every
//! node shares. Each registry table is a PostgreSQL table (see
//! `migrations/`); each write is one `SERIALIZABLE` transaction and each
//! read one `REPEATABLE READ` snapshot, so the guarantees of the embedded
//! backend hold across nodes: a change is all or nothing, and two
//! transactions that would interleave badly end with one refused as
//! [`StorageError::Conflict`], having written nothing.
//!
//! berth's lifecycle code is synchronous, and so is this interface. The
//! connections (`tokio-postgres`, pooled by `deadpool-postgres`) are driven
//! by a runtime of their own, and each call waits for its answer on the
//! calling thread, whatever runtime that thread belongs to.

use super::tables::{Changes, Scan, Snapshot, Table, Visit};
use crate::StorageError;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use std::future::Future;
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

mod migrations;
mod sql;
mod watch;

/// How many times a write transaction runs before a conflict is reported.
pub(crate) const ATTEMPTS: u32 = 16;

/// How one attempt at a write ended, when not committed.
enum Attempt<E> {
    /// Another transaction got in the way: try again.
    Conflict,
    /// Anything else, reported as it is.
    Failed(E),
}

/// The advisory lock key of lifecycle steps ("bwrite" in ASCII).
const WRITERS_LOCK: i64 = 0x62_77_72_69_74_65;

/// Holds off other nodes' lifecycle steps (see [`Postgres::lock_writers`]).
pub struct WritersLock {
    client: Object,
}

impl Drop for WritersLock {
    fn drop(&mut self) {
        let params: sql::Params = vec![Box::new(WRITERS_LOCK)];
        // If this fails the connection is broken, and its session's locks
        // went with it.
        let _ = wait(
            self.client
                .execute("SELECT pg_advisory_unlock($1)", &borrowed(&params)),
        );
    }
}

/// Most entries a scan reads in one round trip.
const SCAN_PAGE: usize = 256;

/// Most connections one node holds.
const POOL_SIZE: usize = 32;
/// How long a call waits for a connection (to connect, or for one to free up).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of connections to the registry database.
pub(crate) struct Postgres {
    pool: Pool,
    /// Where the registry is, for connections of its own.
    config: tokio_postgres::Config,
    /// Drives the connections; shut down without waiting when dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

/// Waits on this thread for `future`, which needs no runtime of its own.
fn wait<F: Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

/// A PostgreSQL error as a storage error: a serialization failure or a
/// deadlock is a [`StorageError::Conflict`].
pub(crate) fn pg_err(error: tokio_postgres::Error) -> StorageError {
    match error.code() {
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StorageError::Conflict
        }
        _ => match error.as_db_error() {
            // Class 08 (connection exception), 57P (operator intervention:
            // shutdown, restart).
            Some(db)
                if !["08", "57P"]
                    .iter()
                    .any(|c| db.code().code().starts_with(c)) =>
            {
                StorageError::Postgres(format!("{}: {}", db.code().code(), db.message()))
            }
            Some(db) => StorageError::Unavailable(db.message().to_owned()),
            None => StorageError::Unavailable(error.to_string()),
        },
    }
}

impl Postgres {
    /// Connects to the database at `url` (`postgres://USER@HOST:PORT/DB`)
    /// and brings its schema up to date.
    pub fn connect(url: &str) -> Result<Self, StorageError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StorageError::Postgres(format!("registry URL {url:?}: {e}")))?;
        // Which node a connection is, in `pg_stat_activity`.
        config.application_name(format!("berth-{}", std::process::id()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("berth-postgres")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Postgres(format!("start the connection runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECTION_TIMEOUT))
            .create_timeout(Some(CONNECTION_TIMEOUT))
            .recycle_timeout(Some(CONNECTION_TIMEOUT))
            .build()
            .map_err(|e| StorageError::Postgres(format!("connection pool: {e}")))?;
        let postgres = Self {
            pool,
            config,
            runtime: Some(runtime),
        };
        migrations::run(Open::begin(postgres.connection()?, "")?)?;
        Ok(postgres)
    }

    /// A connection from the pool.
    fn connection(&self) -> Result<Object, StorageError> {
        let pool = self.pool.clone();
        let runtime = self.runtime.as_ref().expect("running until dropped");
        wait(runtime.spawn(async move { pool.get().await }))
            .map_err(|e| StorageError::Unavailable(format!("connection task: {e}")))?
            .map_err(|e| StorageError::Unavailable(format!("connect: {e}")))
    }

    /// Runs `body` in one `SERIALIZABLE` transaction, committed only if it
    /// returns `Ok`; runs it again, up to [`ATTEMPTS`] times in all, while
    /// the transaction ends in a [`StorageError::Conflict`].
    pub fn write<T, E: From<StorageError>>(
        &self,
        mut body: impl FnMut(&mut dyn Changes) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut attempt = 1;
        loop {
            match self.write_once(&mut body) {
                Err(Attempt::Conflict) if attempt < ATTEMPTS => {
                    // Spread colliding writers apart: a random wait below a
                    // ceiling that doubles with each attempt (0.5 ms, 1 ms,
                    // … up to 64 ms).
                    let ceiling = 500u64 << attempt.min(7);
                    let wait = u64::from(getrandom::u32().unwrap_or(0)) % ceiling;
                    std::thread::sleep(Duration::from_micros(wait));
                    attempt += 1;
                }
                Err(Attempt::Conflict) => return Err(StorageError::Conflict.into()),
                Err(Attempt::Failed(error)) => return Err(error),
                Ok(value) => return Ok(value),
            }
        }
    }

    /// One attempt at [`Self::write`].
    fn write_once<T, E: From<StorageError>>(
        &self,
        body: &mut impl FnMut(&mut dyn Changes) -> Result<T, E>,
    ) -> Result<T, Attempt<E>> {
        let conflict_or = |error: StorageError| match error {
            StorageError::Conflict => Attempt::Conflict,
            error => Attempt::Failed(error.into()),
        };
        let mut open = Open::begin(
            self.connection().map_err(conflict_or)?,
            "ISOLATION LEVEL SERIALIZABLE",
        )
        .map_err(conflict_or)?;
        let outcome = body(&mut open);
        if open.conflicted.get() {
            return Err(Attempt::Conflict);
        }
        let value = outcome.map_err(Attempt::Failed)?;
        open.finish("COMMIT").map_err(conflict_or)?;
        Ok(value)
    }

    /// Starts watching for changes (see [`watch`]); events arrive on the
    /// returned channel until it is dropped.
    pub fn watch(&self) -> tokio::sync::mpsc::UnboundedReceiver<super::tables::RegistryEvent> {
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let runtime = self.runtime.as_ref().expect("running until dropped");
        runtime.spawn(watch::run(self.config.clone(), events));
        receiver
    }

    /// Waits until no other node runs a lifecycle step, and keeps them out
    /// until the returned lock drops (or this node's connection ends).
    pub fn lock_writers(&self) -> Result<WritersLock, StorageError> {
        let client = self.connection()?;
        let params: sql::Params = vec![Box::new(WRITERS_LOCK)];
        let lock = wait(client.execute("SELECT pg_advisory_lock($1)", &borrowed(&params)));
        lock.map_err(pg_err)?;
        Ok(WritersLock { client })
    }

    /// A consistent snapshot for reading, held until dropped.
    pub fn read(&self) -> Result<Open, StorageError> {
        Open::begin(
            self.connection()?,
            "ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A connection inside a transaction, rolled back when dropped unfinished.
pub(crate) struct Open {
    client: Object,
    finished: bool,
    /// Whether a statement failed for a conflict: the whole transaction
    /// is void, whatever its body made of the error.
    conflicted: std::cell::Cell<bool>,
}

impl Open {
    /// Begins a transaction of `kind` on `client`.
    fn begin(client: Object, kind: &str) -> Result<Self, StorageError> {
        wait(client.batch_execute(&format!("BEGIN {kind}"))).map_err(pg_err)?;
        Ok(Self {
            client,
            finished: false,
            conflicted: std::cell::Cell::new(false),
        })
    }

    /// Ends the transaction with `statement` (`COMMIT`).
    fn finish(mut self, statement: &str) -> Result<(), StorageError> {
        self.finished = true;
        self.checked(wait(self.client.batch_execute(statement)))
    }

    /// `result` as a storage error, noting a conflict.
    fn checked<T>(&self, result: Result<T, tokio_postgres::Error>) -> Result<T, StorageError> {
        result.map_err(|error| {
            let error = pg_err(error);
            if matches!(error, StorageError::Conflict) {
                self.conflicted.set(true);
            }
            error
        })
    }

    /// Runs `sql`, one or more statements without parameters.
    fn batch(&self, sql: &str) -> Result<(), StorageError> {
        self.checked(wait(self.client.batch_execute(sql)))
    }

    /// Runs `sql` with `params`, returning how many rows it changed.
    fn execute(&self, sql: &str, params: &sql::Params) -> Result<u64, StorageError> {
        let statement = self.checked(wait(self.client.prepare_cached(sql)))?;
        self.checked(wait(self.client.execute(&statement, &borrowed(params))))
    }

    /// Runs `sql` with `params`, returning its rows.
    fn query(
        &self,
        sql: &str,
        params: &sql::Params,
    ) -> Result<Vec<tokio_postgres::Row>, StorageError> {
        let statement = self.checked(wait(self.client.prepare_cached(sql)))?;
        self.checked(wait(self.client.query(&statement, &borrowed(params))))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if !self.finished {
            // Nothing to report to: a connection whose rollback failed is
            // broken, and the pool replaces it.
            let _ = wait(self.client.batch_execute("ROLLBACK"));
        }
    }
}

/// `params` as the driver takes them.
fn borrowed(params: &sql::Params) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|param| param.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl Snapshot for Open {
    fn contains(&self, table: &Table, key: &[super::tables::Part]) -> Result<bool, StorageError> {
        let rows = self.query(&sql::select_exists(table), &sql::key_params(key)?)?;
        Ok(!rows.is_empty())
    }

    fn get(
        &self,
        table: &Table,
        key: &[super::tables::Part],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let rows = self.query(&sql::select_one(table), &sql::key_params(key)?)?;
        Ok(rows.first().map(|row| sql::row_value(table, row, 0)))
    }

    fn keys(
        &self,
        table: &Table,
        scan: &Scan,
    ) -> Result<Vec<Vec<super::tables::Part>>, StorageError> {
        let (sql, params) = sql::select_keys(table, scan)?;
        let rows = self.query(&sql, &params)?;
        Ok(rows.iter().map(|row| sql::row_key(table, row)).collect())
    }

    fn scan(&self, table: &Table, scan: &Scan, visit: &mut Visit<'_>) -> Result<(), StorageError> {
        // Page by page, so a scan that stops early reads little more
        // than it visits.
        let page = scan.limit.map_or(SCAN_PAGE, |n| n.clamp(1, SCAN_PAGE));
        let value_column = table.key.len();
        let mut after: Option<Vec<super::tables::Part>> = None;
        loop {
            let (sql, params) = sql::select_page(table, scan, after.as_deref(), page)?;
            let rows = self.query(&sql, &params)?;
            for row in &rows {
                let key = sql::row_key(table, row);
                if visit(&key, &sql::row_value(table, row, value_column))?.is_break() {
                    return Ok(());
                }
                after = Some(key);
            }
            if rows.len() < page {
                return Ok(());
            }
        }
    }
}

impl Changes for Open {
    fn put(
        &mut self,
        table: &Table,
        key: &[super::tables::Part],
        value: &[u8],
    ) -> Result<(), StorageError> {
        let mut params = sql::key_params(key)?;
        params.push(sql::value_param(table, value)?);
        self.execute(&sql::upsert(table), &params)?;
        Ok(())
    }

    fn delete(
        &mut self,
        table: &Table,
        key: &[super::tables::Part],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let rows = self.query(&sql::delete_one(table), &sql::key_params(key)?)?;
        Ok(rows.first().map(|row| sql::row_value(table, row, 0)))
    }

    fn delete_all(&mut self, table: &Table, scan: &Scan) -> Result<(), StorageError> {
        let (sql, params) = sql::delete_scan(table, scan)?;
        self.execute(&sql, &params)?;
        Ok(())
    }

    fn announce(&mut self, channel: &str, payload: &str) -> Result<(), StorageError> {
        let params: sql::Params = vec![Box::new(channel.to_owned()), Box::new(payload.to_owned())];
        self.query("SELECT pg_notify($1, $2)", &params)?;
        Ok(())
    }
}
