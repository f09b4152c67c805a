//! Writes run by the writer task itself, on a rusqlite connection of its
//! own, rather than sent statement by statement to sqlx's worker thread.
//!
//! sqlx runs a SQLite connection on a thread of its own: every statement
//! is a trip there and back, and on a small machine the trips (two thread
//! wake-ups each, and one more for each row a statement returns) cost
//! several times what SQLite spends on the statement. Under load the
//! single writer is what the writes queue for, so its trips are what limit
//! them. So every write runs on a connection the writer task owns, in the
//! task itself ([`Batcher`](super::batch::Batcher)): a few tens of
//! microseconds of SQLite work and no hand-off.
//!
//! The connection reaches the same database as the writer pool's: the
//! file the pool's connection names, or the pool's shared in-memory
//! database. It takes the pool connection's pragmas (`synchronous`, the
//! busy timeout, …) and the writer's checkpoint setting. The writer holds
//! the pool's connection while a batch runs, so a host's
//! queries on [`SqliteStore::pool`](super::SqliteStore::pool), and an
//! in-memory store's reads, wait for the batch as they always have.
//!
//! [`Stmt`] and [`Row`] mirror sqlx's query and row closely enough for the
//! store's shared statements: a statement text of one or more statements
//! with `?`, `?N` and `$N` parameters bound as sqlx binds them, and rows
//! read by column name through [`Get`].

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use orders_core::ports::StoreError;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags};
use sqlx::SqliteConnection;

use crate::codec::Get;
use crate::error::Fail;
use crate::statements::Bind;

/// Prepared statements the inline connection keeps (the writes' texts;
/// a placement's differ by its number of lines).
const STATEMENT_CACHE: usize = 128;

/// A statement text and its arguments, as sqlx's `query(…).bind(…)`.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    sql: Cow<'static, str>,
    args: Vec<Value>,
}

impl Stmt {
    /// `sql`, one statement or several separated by `;`.
    pub(crate) fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    /// `sql` with its arguments already bound, in order.
    pub(crate) fn with_args(sql: String, args: Vec<Value>) -> Self {
        Self {
            sql: sql.into(),
            args,
        }
    }

    /// Binds the next argument.
    pub(crate) fn bind(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }

    /// The statements' rows affected (as sqlx's `execute`), returned rows
    /// read and dropped.
    pub(crate) fn execute(&self, conn: &Connection) -> Result<u64, Fail> {
        let mut affected = 0;
        self.run(conn, |_| {}, &mut affected)?;
        Ok(affected)
    }

    /// Every row the statements return, in order.
    pub(crate) fn fetch_all(&self, conn: &Connection) -> Result<Vec<Row>, Fail> {
        let mut rows = Vec::new();
        self.run(conn, |row| rows.push(row), &mut 0)?;
        Ok(rows)
    }

    /// The first row the statements return, if any (they all run).
    pub(crate) fn fetch_optional(&self, conn: &Connection) -> Result<Option<Row>, Fail> {
        Ok(self.fetch_all(conn)?.into_iter().next())
    }

    /// Runs each statement of the text in turn, binding the arguments as
    /// sqlx does: `?N` and `$N` take the N-th, and each bare `?` the next
    /// after the last bare one, counted over the whole text.
    fn run(
        &self,
        conn: &Connection,
        mut row: impl FnMut(Row),
        affected: &mut u64,
    ) -> Result<(), Fail> {
        let mut positional = 0;
        for sql in statements(&self.sql) {
            let mut stmt = conn.prepare_cached(sql).map_err(Fail::Lite)?;
            for param in 1..=stmt.parameter_count() {
                let n = match stmt.parameter_name(param) {
                    None => {
                        positional += 1;
                        positional
                    }
                    Some(name) => name[1..].parse::<usize>().map_err(|_| {
                        StoreError::Backend(format!("unsupported parameter {name}"))
                    })?,
                };
                // Unbound parameters are NULL, as with sqlx.
                if let Some(value) = n.checked_sub(1).and_then(|i| self.args.get(i)) {
                    stmt.raw_bind_parameter(param, value).map_err(Fail::Lite)?;
                }
            }
            if stmt.column_count() == 0 {
                stmt.raw_execute().map_err(Fail::Lite)?;
            } else {
                let columns: Arc<[String]> =
                    stmt.column_names().into_iter().map(str::to_owned).collect();
                let mut rows = stmt.raw_query();
                while let Some(r) = rows.next().map_err(Fail::Lite)? {
                    let values = (0..columns.len())
                        .map(|i| r.get::<usize, Value>(i))
                        .collect::<Result<_, _>>()
                        .map_err(Fail::Lite)?;
                    row(Row {
                        columns: columns.clone(),
                        values,
                    });
                }
            }
            if !stmt.readonly() {
                *affected += conn.changes();
            }
        }
        Ok(())
    }
}

impl Bind for Stmt {
    fn text(self, value: &str) -> Self {
        self.bind(value.to_owned())
    }
    fn opt_text(self, value: Option<&str>) -> Self {
        self.bind(value.map(str::to_owned))
    }
    fn int(self, value: i64) -> Self {
        self.bind(value)
    }
    fn opt_int(self, value: Option<i64>) -> Self {
        self.bind(value)
    }
    fn flag(self, value: bool) -> Self {
        self.bind(value)
    }
}

/// The statements of `sql`, split at each `;` outside quotes, blank ones
/// left out.
fn statements(sql: &str) -> impl Iterator<Item = &str> {
    let mut quote = None;
    let mut start = 0;
    let mut cuts = Vec::new();
    for (i, c) in sql.char_indices() {
        match (quote, c) {
            (None, '\'' | '"' | '`') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ';') => {
                cuts.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    cuts.push(&sql[start..]);
    cuts.into_iter().filter(|s| !s.trim().is_empty())
}

/// A row read off an inline statement, by column name.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    fn value(&self, col: &str) -> Result<ValueRef<'_>, StoreError> {
        self.columns
            .iter()
            .position(|c| c == col)
            .map(|i| ValueRef::from(&self.values[i]))
            .ok_or_else(|| StoreError::Backend(format!("no column {col:?} in the row")))
    }

    /// The first column's value as an integer (as sqlx's `query_scalar`).
    pub(crate) fn first_int(&self) -> Result<i64, StoreError> {
        match self.values.first() {
            Some(Value::Integer(i)) => Ok(*i),
            other => Err(StoreError::Backend(format!(
                "expected an integer, found {other:?}"
            ))),
        }
    }
}

fn mismatch(col: &str, expected: &str, found: ValueRef<'_>) -> StoreError {
    StoreError::Backend(format!(
        "column {col:?}: expected {expected}, found {:?}",
        found.data_type()
    ))
}

impl Get for Row {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.opt_text(col)?
            .ok_or_else(|| StoreError::Backend(format!("column {col:?} is NULL")))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        match self.value(col)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => String::from_utf8(t.to_vec())
                .map(Some)
                .map_err(|e| StoreError::Backend(format!("column {col:?}: {e}"))),
            other => Err(mismatch(col, "text", other)),
        }
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.opt_int(col)?
            .ok_or_else(|| StoreError::Backend(format!("column {col:?} is NULL")))
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        match self.value(col)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(i) => Ok(Some(i)),
            other => Err(mismatch(col, "an integer", other)),
        }
    }
    fn flag(&self, col: &str) -> Result<bool, StoreError> {
        Ok(self.int(col)? != 0)
    }
}

/// A value [`Build`] binds.
pub(crate) trait Arg {
    /// The value bound.
    fn value(self) -> Value;
}

impl Arg for &str {
    fn value(self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl Arg for String {
    fn value(self) -> Value {
        Value::Text(self)
    }
}

impl Arg for Option<String> {
    fn value(self) -> Value {
        self.map_or(Value::Null, Value::Text)
    }
}

impl Arg for Value {
    fn value(self) -> Value {
        self
    }
}

impl Arg for i64 {
    fn value(self) -> Value {
        Value::Integer(self)
    }
}

/// A statement text built with its arguments, each bound as `?` in order.
#[derive(Debug, Default)]
pub(crate) struct Build {
    sql: String,
    args: Vec<Value>,
}

impl Build {
    /// Appends `sql` to the text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Binds `value` as the next `?`.
    pub(crate) fn bind(&mut self, value: impl Arg) -> &mut Self {
        self.sql.push('?');
        self.args.push(value.value());
        self
    }

    /// `, ?` with `value` bound: the next of a list of values.
    pub(crate) fn next(&mut self, value: impl Arg) -> &mut Self {
        self.push(", ").bind(value)
    }

    /// The statement built.
    pub(crate) fn stmt(self) -> Stmt {
        Stmt::with_args(self.sql, self.args)
    }
}

/// The writer's inline connection.
#[derive(Debug)]
pub(super) struct Lite {
    pub(super) conn: Connection,
    /// How long a batch waits for another connection's write lock (the
    /// pool's busy timeout). SQLite's own busy handler would sleep in the
    /// writer task, holding a thread of the runtime, so the connection has
    /// none and the writer waits between attempts instead.
    pub(super) busy: Duration,
}

/// Opens the inline connection to the database `pooled` (the writer pool's
/// connection) is on, with its pragmas, and `autocheckpoint` pages.
pub(super) async fn open(
    pooled: &mut SqliteConnection,
    memory_name: &std::path::Path,
    autocheckpoint: &str,
) -> Result<Lite, StoreError> {
    let (file, synchronous, busy, cache_size, temp_store): (String, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT (SELECT file FROM pragma_database_list WHERE name = 'main'), \
             (SELECT synchronous FROM pragma_synchronous), \
             (SELECT timeout FROM pragma_busy_timeout), \
             (SELECT cache_size FROM pragma_cache_size), \
             (SELECT temp_store FROM pragma_temp_store)",
        )
        .fetch_one(&mut *pooled)
        .await
        .map_err(crate::error::any)?;
    let conn = if file.is_empty() {
        // The pool's shared in-memory database, by the name sqlx gave it.
        Connection::open_with_flags(
            memory_name,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_MEMORY
                | OpenFlags::SQLITE_OPEN_SHARED_CACHE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
    } else {
        Connection::open_with_flags(
            &file,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
    }
    .map_err(|e| StoreError::Unavailable(format!("cannot open the inline writer: {e}")))?;
    set_up(&conn, synchronous, cache_size, temp_store, autocheckpoint)
        .map_err(|e| StoreError::Unavailable(format!("cannot set up the inline writer: {e}")))?;
    if file.is_empty() {
        // A private in-memory database cannot be reached from here: the
        // new connection would be another, empty one.
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let theirs: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
            .fetch_one(&mut *pooled)
            .await
            .map_err(crate::error::any)?;
        if tables != theirs {
            return Err(StoreError::Unavailable(
                "the in-memory database is not shared: open it as sqlite::memory: \
                 (or with shared_cache(true))"
                    .into(),
            ));
        }
    }
    Ok(Lite {
        conn,
        busy: Duration::from_millis(u64::try_from(busy).unwrap_or(0)),
    })
}

/// The pool connection's pragmas on `conn`, foreign keys on, no busy
/// handler (see [`Lite::busy`]), and the writer's checkpoint setting.
fn set_up(
    conn: &Connection,
    synchronous: i64,
    cache_size: i64,
    temp_store: i64,
    autocheckpoint: &str,
) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::ZERO)?;
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous}; \
         PRAGMA cache_size = {cache_size}; PRAGMA temp_store = {temp_store}; \
         PRAGMA wal_autocheckpoint = {autocheckpoint};"
    ))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_semicolons_outside_quotes() {
        let sql = "UPDATE t SET a = ';'; INSERT INTO t VALUES (\"x;y\");\n  ; SELECT 1";
        let parts: Vec<&str> = statements(sql).collect();
        assert_eq!(
            parts,
            [
                "UPDATE t SET a = ';'",
                " INSERT INTO t VALUES (\"x;y\")",
                " SELECT 1"
            ]
        );
    }

    #[test]
    fn arguments_bind_as_sqlx_binds_them_across_statements() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a, b)").unwrap();
        // `$2` is the second argument; the bare `?` after it the third,
        // since the bare ones count on over the whole text.
        let affected = Stmt::new("INSERT INTO t VALUES (?, ?); INSERT INTO t VALUES ($2, ?)")
            .int(1)
            .text("one")
            .int(3)
            .execute(&conn)
            .unwrap();
        assert_eq!(affected, 2);
        let first = Stmt::new("SELECT a, b FROM t WHERE typeof(a) = ?1")
            .text("integer")
            .fetch_all(&conn)
            .unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].int("a").unwrap(), 1);
        assert_eq!(first[0].text("b").unwrap(), "one");
        let second = Stmt::new("SELECT a, b FROM t WHERE typeof(a) = 'text'")
            .fetch_optional(&conn)
            .unwrap()
            .unwrap();
        assert_eq!(second.text("a").unwrap(), "one");
        assert_eq!(second.int("b").unwrap(), 3);
        assert!(second.int("a").is_err(), "text does not read as an integer");
        assert!(second.text("missing").is_err());
        assert!(
            Stmt::new("SELECT 1 WHERE 0")
                .fetch_optional(&conn)
                .unwrap()
                .is_none()
        );
    }
}
