//! The delivery statements that write many rows at once on SQLite: the
//! fan-out's insert of every delivery a batch of events makes, and the
//! worker's record of many finished attempts. One statement (and so one
//! trip to the database) per batch, in the caller's transaction, instead
//! of one per row.
//!
//! Both run on the SQLite writer's inline connection (`sqlite::inline`),
//! built as one value list a row; the row values come from
//! [`super::DeliveryRow`]. PostgreSQL binds one
//! array a column instead (`postgres::delivery_arrays`): one statement
//! text for any batch, prepared once per connection, where a value list's
//! text changes with its length and is parsed and planned again.

use std::collections::HashSet;

use orders_core::ports::{AttemptRecord, RecordOutcome, StoreError};
use orders_core::webhook::Delivery;
use rusqlite::Connection;
use rusqlite::types::Value;

use super::{DELIVERY_COLUMNS, DeliveryRow};
use crate::codec::Get;
use crate::error::Fail;
use crate::sqlite::inline::{Build, Stmt};

/// The most deliveries one insert statement carries: 12 values a row
/// stays under SQLite's limit of 32,766 bound values.
pub(crate) const INSERT_CHUNK: usize = 1_000;

/// The most attempts one record statement carries (9 values a row).
pub(crate) const RECORD_CHUNK: usize = 1_000;

/// The head of the record statement: the attempts as a table `v` of
/// (id, status, attempts, failures, next_attempt_at, since, last_error,
/// delivered_at, lease token), the rows of which [`RECORD_TAIL`] updates.
pub(crate) const RECORD_HEAD: &str = "WITH v (v_id, v_status, v_attempts, v_failures, v_next, \
     v_since, v_error, v_delivered, v_token) AS (";

/// Stores each attempt on its delivery if the delivery is still held under
/// the attempt's token, ends the lease, and returns the ids it stored.
pub(crate) const RECORD_TAIL: &str = ") UPDATE orders_deliveries SET status = v_status, \
     attempts = v_attempts, failures = v_failures, next_attempt_at = v_next, since = v_since, \
     last_error = v_error, delivered_at = v_delivered, lease_token = NULL, lease_until = NULL \
     FROM v WHERE orders_deliveries.id = v_id AND orders_deliveries.lease_token = v_token \
     RETURNING id";

/// An outbox row (a delivery or a mail) as the values of its columns,
/// in the order of [`DELIVERY_COLUMNS`] and of
/// [`MAIL_COLUMNS`](crate::mails::MAIL_COLUMNS), which differ only in the
/// second (the webhook, the mail's kind).
pub(crate) type Columns = [Value; 12];

/// The columns an attempt stores of `row`, in the order of both
/// `RECORD_ATTEMPT` statements and of [`RECORD_HEAD`]: id, status,
/// attempts, failures, next attempt, since, last error, delivered at.
fn attempt(row: Columns) -> [Value; 8] {
    let [
        id,
        _,
        _,
        _,
        status,
        attempts,
        failures,
        next,
        since,
        error,
        _,
        delivered,
    ] = row;
    [
        id, status, attempts, failures, next, since, error, delivered,
    ]
}

/// Inserts `rows` into `table` (its `columns`), each at most once (a row
/// whose `unique` columns are taken is left as it is), a statement per
/// [`INSERT_CHUNK`] rows, on the SQLite writer's inline connection.
pub(crate) fn insert_rows(
    conn: &Connection,
    table: &str,
    columns: &str,
    unique: &str,
    rows: &[Columns],
) -> Result<(), Fail> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut q = Build::default();
        q.push(&format!("INSERT INTO {table} ({columns}) VALUES "));
        for (i, row) in chunk.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            for (k, value) in row.iter().enumerate() {
                if k > 0 {
                    q.push(", ");
                }
                q.bind(value.clone());
            }
            q.push(")");
        }
        q.push(&format!(" ON CONFLICT ({unique}) DO NOTHING"));
        q.stmt().execute(conn)?;
    }
    Ok(())
}

/// Records `deliveries` (each at most once per webhook and event:
/// one already recorded is left as it is).
pub(crate) fn insert_deliveries(conn: &Connection, deliveries: &[Delivery]) -> Result<(), Fail> {
    let rows = deliveries
        .iter()
        .map(|d| DeliveryRow::of(d).map(DeliveryRow::columns))
        .collect::<Result<Vec<_>, _>>()?;
    insert_rows(
        conn,
        "orders_deliveries",
        DELIVERY_COLUMNS,
        "webhook_id, event_id",
        &rows,
    )
}

/// Stores the attempt of `row` (`record`, a `RECORD_ATTEMPT` statement)
/// if its lease (`token`) still holds it; if not, `NotFound` when
/// `exists` (counting the rows of an id) finds none, else `Conflict`.
pub(crate) fn record_one(
    conn: &Connection,
    record: &'static str,
    exists: &'static str,
    row: Columns,
    token: &str,
) -> Result<(), Fail> {
    let id = row[0].clone();
    let done = attempt(row)
        .into_iter()
        .fold(Stmt::new(record), Stmt::bind)
        .bind(token.to_owned())
        .execute(conn)?;
    if done == 1 {
        return Ok(());
    }
    let found = Stmt::new(exists)
        .bind(id)
        .fetch_optional(conn)?
        .map(|row| row.first_int())
        .transpose()?
        .unwrap_or(0);
    Err(if found == 0 {
        StoreError::NotFound
    } else {
        StoreError::Conflict
    }
    .into())
}

/// Stores every attempt of `records` whose delivery its lease
/// still holds, and says of each whether it did.
pub(crate) fn record_batch(
    conn: &Connection,
    records: &[AttemptRecord],
) -> Result<Vec<RecordOutcome>, Fail> {
    let mut stored = HashSet::new();
    for chunk in records.chunks(RECORD_CHUNK) {
        let mut q = Build::default();
        q.push(RECORD_HEAD).push("VALUES ");
        for (i, record) in chunk.iter().enumerate() {
            let row = DeliveryRow::of(&record.delivery)?.columns();
            q.push(if i == 0 { "(" } else { ", (" });
            for (k, value) in attempt(row).into_iter().enumerate() {
                if k > 0 {
                    q.push(", ");
                }
                q.bind(value);
            }
            q.next(record.lease_token.as_str()).push(")");
        }
        q.push(RECORD_TAIL);
        for row in q.stmt().fetch_all(conn)? {
            stored.insert(row.text("id")?);
        }
    }
    // Of those not stored: which still exist (their lease was
    // lost) and which are gone.
    let missed: Vec<&str> = records
        .iter()
        .map(|r| r.delivery.id.as_str())
        .filter(|id| !stored.contains(*id))
        .collect();
    let mut existing = HashSet::new();
    for chunk in missed.chunks(RECORD_CHUNK) {
        let mut q = Build::default();
        q.push("SELECT id FROM orders_deliveries WHERE id IN (");
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(*id);
        }
        q.push(")");
        for row in q.stmt().fetch_all(conn)? {
            existing.insert(row.text("id")?);
        }
    }
    Ok(super::outcomes(records, &stored, &existing))
}
