//! The delivery statements that write many rows at once on PostgreSQL:
//! the fan-out's insert of every delivery a batch of events makes, and the
//! worker's record of many finished attempts, each one statement that
//! binds one array a column and reads it back as rows (`unnest`).
//!
//! The statement's text is the same for any number of rows, so each
//! connection parses and plans it once and keeps it prepared; a list of
//! values per row (SQLite's way, `outbox::batch`) makes a new text for
//! each length, parsed and planned every time, which under load cost more
//! than the writes themselves.

use std::collections::HashSet;

use orders_core::ports::{AttemptRecord, RecordOutcome, StoreError};
use orders_core::webhook::Delivery;
use sqlx::PgConnection;

use crate::error;
use crate::outbox::{self, DELIVERY_COLUMNS, DeliveryRow};

/// Inserts the rows of the arrays `$1`…`$12`, one a column in
/// [`DELIVERY_COLUMNS`] order, leaving any (webhook, event) already there.
static INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO orders_deliveries ({DELIVERY_COLUMNS}) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], \
                              $6::int8[], $7::int8[], $8::text[], $9::text[], $10::text[], \
                              $11::text[], $12::text[]) \
         ON CONFLICT (webhook_id, event_id) DO NOTHING"
    )
});

/// Stores each attempt of the arrays `$1`…`$9` (id, status, attempts,
/// failures, next attempt, since, last error, delivered at, lease token)
/// on its delivery if the delivery is still held under the attempt's
/// token, ends the lease, and returns the ids it stored.
const RECORD: &str = "UPDATE orders_deliveries SET status = v.status, attempts = v.attempts, \
     failures = v.failures, next_attempt_at = v.next, since = v.since, last_error = v.error, \
     delivered_at = v.delivered, lease_token = NULL, lease_until = NULL \
     FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::text[], \
                 $7::text[], $8::text[], $9::text[]) \
          AS v (id, status, attempts, failures, next, since, error, delivered, token) \
     WHERE orders_deliveries.id = v.id AND orders_deliveries.lease_token = v.token \
     RETURNING orders_deliveries.id";

/// Of the ids `$1`, those that exist.
const EXISTING: &str = "SELECT id FROM orders_deliveries WHERE id = ANY($1)";

/// Records `deliveries` (each at most once per webhook and event: one
/// already recorded is left as it is), in one statement.
pub(super) async fn insert_deliveries(
    conn: &mut PgConnection,
    deliveries: &[Delivery],
) -> Result<(), StoreError> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let rows = deliveries
        .iter()
        .map(DeliveryRow::of)
        .collect::<Result<Vec<_>, _>>()?;
    let mut c = InsertColumns::with_capacity(rows.len());
    for r in rows {
        c.push(r);
    }
    sqlx::query(sqlx::AssertSqlSafe(INSERT.as_str()))
        .bind(c.id)
        .bind(c.webhook_id)
        .bind(c.event_id)
        .bind(c.order_id)
        .bind(c.status)
        .bind(c.attempts)
        .bind(c.failures)
        .bind(c.next_attempt_at)
        .bind(c.since)
        .bind(c.last_error)
        .bind(c.created_at)
        .bind(c.delivered_at)
        .execute(&mut *conn)
        .await
        .map_err(error::any)?;
    Ok(())
}

/// Stores every attempt of `records` whose delivery its lease still
/// holds, and says of each whether it did.
pub(super) async fn record_batch(
    conn: &mut PgConnection,
    records: &[AttemptRecord],
) -> Result<Vec<RecordOutcome>, StoreError> {
    let mut c = RecordColumns::with_capacity(records.len());
    for record in records {
        c.push(DeliveryRow::of(&record.delivery)?, &record.lease_token);
    }
    let stored: Vec<String> = sqlx::query_scalar(RECORD)
        .bind(c.id)
        .bind(c.status)
        .bind(c.attempts)
        .bind(c.failures)
        .bind(c.next_attempt_at)
        .bind(c.since)
        .bind(c.last_error)
        .bind(c.delivered_at)
        .bind(c.token)
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    let stored: HashSet<String> = stored.into_iter().collect();
    // Of those not stored: which still exist (their lease was lost) and
    // which are gone.
    let missed: Vec<&str> = records
        .iter()
        .map(|r| r.delivery.id.as_str())
        .filter(|id| !stored.contains(*id))
        .collect();
    let exist: HashSet<String> = if missed.is_empty() {
        HashSet::new()
    } else {
        sqlx::query_scalar::<_, String>(EXISTING)
            .bind(missed)
            .fetch_all(&mut *conn)
            .await
            .map_err(error::any)?
            .into_iter()
            .collect()
    };
    Ok(outbox::outcomes(records, &stored, &exist))
}

/// [`DeliveryRow`]s as one array a column, for [`INSERT`].
struct InsertColumns {
    id: Vec<String>,
    webhook_id: Vec<String>,
    event_id: Vec<i64>,
    order_id: Vec<String>,
    status: Vec<&'static str>,
    attempts: Vec<i64>,
    failures: Vec<i64>,
    next_attempt_at: Vec<String>,
    since: Vec<String>,
    last_error: Vec<Option<String>>,
    created_at: Vec<String>,
    delivered_at: Vec<Option<String>>,
}

impl InsertColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            id: Vec::with_capacity(n),
            webhook_id: Vec::with_capacity(n),
            event_id: Vec::with_capacity(n),
            order_id: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            attempts: Vec::with_capacity(n),
            failures: Vec::with_capacity(n),
            next_attempt_at: Vec::with_capacity(n),
            since: Vec::with_capacity(n),
            last_error: Vec::with_capacity(n),
            created_at: Vec::with_capacity(n),
            delivered_at: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, r: DeliveryRow) {
        self.id.push(r.id);
        self.webhook_id.push(r.webhook_id);
        self.event_id.push(r.event_id);
        self.order_id.push(r.order_id);
        self.status.push(r.status);
        self.attempts.push(r.attempts);
        self.failures.push(r.failures);
        self.next_attempt_at.push(r.next_attempt_at);
        self.since.push(r.since);
        self.last_error.push(r.last_error);
        self.created_at.push(r.created_at);
        self.delivered_at.push(r.delivered_at);
    }
}

/// Attempts as one array a column, for [`RECORD`].
struct RecordColumns {
    id: Vec<String>,
    status: Vec<&'static str>,
    attempts: Vec<i64>,
    failures: Vec<i64>,
    next_attempt_at: Vec<String>,
    since: Vec<String>,
    last_error: Vec<Option<String>>,
    delivered_at: Vec<Option<String>>,
    token: Vec<String>,
}

impl RecordColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            id: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            attempts: Vec::with_capacity(n),
            failures: Vec::with_capacity(n),
            next_attempt_at: Vec::with_capacity(n),
            since: Vec::with_capacity(n),
            last_error: Vec::with_capacity(n),
            delivered_at: Vec::with_capacity(n),
            token: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, r: DeliveryRow, token: &str) {
        self.id.push(r.id);
        self.status.push(r.status);
        self.attempts.push(r.attempts);
        self.failures.push(r.failures);
        self.next_attempt_at.push(r.next_attempt_at);
        self.since.push(r.since);
        self.last_error.push(r.last_error);
        self.delivered_at.push(r.delivered_at);
        self.token.push(token.to_owned());
    }
}
