//! The delivery statements that write many rows at once on SQLite: the
//! fan-out's insert of every delivery a batch of events makes, and the
//! worker's record of many finished attempts. One statement (and so one
//! trip to the database) per batch, in the caller's transaction, instead
//! of one per row.
//!
//! Both are built with [`sqlx::QueryBuilder`] (one value list a row); the
//! row values come from [`super::DeliveryRow`]. PostgreSQL binds one
//! array a column instead (`postgres::delivery_arrays`): one statement
//! text for any batch, prepared once per connection, where a value list's
//! text changes with its length and is parsed and planned again.

use std::collections::HashSet;

use orders_core::ports::{AttemptRecord, RecordOutcome, StoreError};
use orders_core::webhook::Delivery;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{DELIVERY_COLUMNS, DeliveryRow};
use crate::error;

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

/// Records `deliveries` (each at most once per webhook and event:
/// one already recorded is left as it is), a statement per
/// [`INSERT_CHUNK`] rows.
pub(crate) async fn insert_deliveries(
    conn: &mut SqliteConnection,
    deliveries: &[Delivery],
) -> Result<(), StoreError> {
    for chunk in deliveries.chunks(INSERT_CHUNK) {
        let rows = chunk
            .iter()
            .map(DeliveryRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "INSERT INTO orders_deliveries ({}) ",
            DELIVERY_COLUMNS
        ));
        query.push_values(rows, |mut row, r| {
            row.push_bind(r.id)
                .push_bind(r.webhook_id)
                .push_bind(r.event_id)
                .push_bind(r.order_id)
                .push_bind(r.status)
                .push_bind(r.attempts)
                .push_bind(r.failures)
                .push_bind(r.next_attempt_at)
                .push_bind(r.since)
                .push_bind(r.last_error)
                .push_bind(r.created_at)
                .push_bind(r.delivered_at);
        });
        query.push(" ON CONFLICT (webhook_id, event_id) DO NOTHING");
        query
            .build()
            .execute(&mut *conn)
            .await
            .map_err(error::any)?;
    }
    Ok(())
}

/// Stores every attempt of `records` whose delivery its lease
/// still holds, and says of each whether it did.
pub(crate) async fn record_batch(
    conn: &mut SqliteConnection,
    records: &[AttemptRecord],
) -> Result<Vec<RecordOutcome>, StoreError> {
    let mut stored = HashSet::new();
    for chunk in records.chunks(RECORD_CHUNK) {
        let rows = chunk
            .iter()
            .map(|r| DeliveryRow::of(&r.delivery).map(|row| (row, r.lease_token.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut query = QueryBuilder::<Sqlite>::new(RECORD_HEAD);
        query.push_values(rows, |mut row, (r, token)| {
            row.push_bind(r.id)
                .push_bind(r.status)
                .push_bind(r.attempts)
                .push_bind(r.failures)
                .push_bind(r.next_attempt_at)
                .push_bind(r.since)
                .push_bind(r.last_error)
                .push_bind(r.delivered_at)
                .push_bind(token);
        });
        query.push(RECORD_TAIL);
        let ids: Vec<String> = query
            .build_query_scalar()
            .fetch_all(&mut *conn)
            .await
            .map_err(error::any)?;
        stored.extend(ids);
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
        let mut query =
            QueryBuilder::<Sqlite>::new("SELECT id FROM orders_deliveries WHERE id IN (");
        let mut ids = query.separated(", ");
        for id in chunk {
            ids.push_bind(*id);
        }
        query.push(")");
        let found: Vec<String> = query
            .build_query_scalar()
            .fetch_all(&mut *conn)
            .await
            .map_err(error::any)?;
        existing.extend(found);
    }
    Ok(super::outcomes(records, &stored, &existing))
}
