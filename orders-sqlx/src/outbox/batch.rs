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

/// The most deliveries one insert statement carries: 12 values a row
/// stays under SQLite's (32,766) and PostgreSQL's (65,535) limits on
/// bound values.
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

/// The delivery batch functions over one backend: `$conn` its connection,
/// `$db` its database type.
macro_rules! batch_delivery_fns {
    ($conn:ty, $db:ty) => {
        /// Records `deliveries` (each at most once per webhook and event:
        /// one already recorded is left as it is), a statement per
        /// [`INSERT_CHUNK`](crate::outbox::batch::INSERT_CHUNK) rows.
        async fn insert_deliveries(
            conn: &mut $conn,
            deliveries: &[::orders_core::webhook::Delivery],
        ) -> Result<(), ::orders_core::ports::StoreError> {
            for chunk in deliveries.chunks($crate::outbox::batch::INSERT_CHUNK) {
                let rows = chunk
                    .iter()
                    .map($crate::outbox::DeliveryRow::of)
                    .collect::<Result<Vec<_>, _>>()?;
                let mut query = sqlx::QueryBuilder::<$db>::new(format!(
                    "INSERT INTO orders_deliveries ({}) ",
                    $crate::outbox::DELIVERY_COLUMNS
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
                    .map_err($crate::error::any)?;
            }
            Ok(())
        }

        /// Stores every attempt of `records` whose delivery its lease
        /// still holds, and says of each whether it did.
        async fn record_batch(
            conn: &mut $conn,
            records: &[::orders_core::ports::AttemptRecord],
        ) -> Result<Vec<::orders_core::ports::RecordOutcome>, ::orders_core::ports::StoreError> {
            let mut stored = ::std::collections::HashSet::new();
            for chunk in records.chunks($crate::outbox::batch::RECORD_CHUNK) {
                let rows = chunk
                    .iter()
                    .map(|r| {
                        $crate::outbox::DeliveryRow::of(&r.delivery)
                            .map(|row| (row, r.lease_token.clone()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut query = sqlx::QueryBuilder::<$db>::new($crate::outbox::batch::RECORD_HEAD);
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
                query.push($crate::outbox::batch::RECORD_TAIL);
                let ids: Vec<String> = query
                    .build_query_scalar()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err($crate::error::any)?;
                stored.extend(ids);
            }
            // Of those not stored: which still exist (their lease was
            // lost) and which are gone.
            let missed: Vec<&str> = records
                .iter()
                .map(|r| r.delivery.id.as_str())
                .filter(|id| !stored.contains(*id))
                .collect();
            let mut existing = ::std::collections::HashSet::new();
            for chunk in missed.chunks($crate::outbox::batch::RECORD_CHUNK) {
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id FROM orders_deliveries WHERE id IN (",
                );
                let mut ids = query.separated(", ");
                for id in chunk {
                    ids.push_bind(*id);
                }
                query.push(")");
                let found: Vec<String> = query
                    .build_query_scalar()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err($crate::error::any)?;
                existing.extend(found);
            }
            Ok($crate::outbox::outcomes(records, &stored, &existing))
        }
    };
}
pub(crate) use batch_delivery_fns;
