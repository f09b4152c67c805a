//! Webhook and delivery rows to domain values and back, shared by both
//! backends (the same columns and representations on each).

use chrono::{DateTime, Utc};
use orders_core::ids::{DeliveryId, EventId, OrderId, WebhookId};
use orders_core::ports::{ClaimLimits, DeliveryCounts, StoreError};
use orders_core::webhook::{
    Delivery, DeliveryStatus, EventFilter, Webhook, WebhookSecret, WebhookUrl,
};

use crate::codec::{Get, bad, ts};

#[cfg(feature = "sqlite")]
pub(crate) mod batch;

/// The columns [`webhook`] reads.
pub(crate) const WEBHOOK_COLUMNS: &str = "id, url, events, secret, created_at, after_event";

/// The columns [`delivery`] reads, in the order [`DeliveryRow`] binds them.
pub(crate) const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, order_id, status, attempts, failures, next_attempt_at, since, last_error, created_at, delivered_at";

fn instant(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| bad(what, e))
}

fn event_id(n: i64) -> Result<EventId, StoreError> {
    u64::try_from(n)
        .map(EventId::new)
        .map_err(|_| bad("event id", n))
}

/// The stored text of an event filter: a JSON array of its names.
pub(crate) fn events_text(filter: &EventFilter) -> String {
    serde_json::to_string(&filter.names()).expect("names serialise")
}

pub(crate) fn webhook(row: &impl Get) -> Result<Webhook, StoreError> {
    let names: Vec<String> =
        serde_json::from_str(&row.text("events")?).map_err(|e| bad("events", e))?;
    Ok(Webhook {
        id: WebhookId::parse(&row.text("id")?).map_err(|e| bad("webhook id", e))?,
        url: WebhookUrl::parse(&row.text("url")?).map_err(|e| bad("url", e))?,
        events: EventFilter::parse(&names).map_err(|e| bad("events", e))?,
        secret: WebhookSecret::from_stored(row.text("secret")?),
        created_at: instant("created_at", &row.text("created_at")?)?,
        after_event: row.opt_int("after_event")?.map(event_id).transpose()?,
    })
}

/// A row of [`sql::COUNTS`].
pub(crate) fn counts(row: &impl Get) -> Result<DeliveryCounts, StoreError> {
    let count = |col: &str| -> Result<u64, StoreError> {
        let n = row.int(col)?;
        u64::try_from(n).map_err(|_| bad(col, n))
    };
    Ok(DeliveryCounts {
        webhook_id: WebhookId::parse(&row.text("webhook_id")?).map_err(|e| bad("webhook id", e))?,
        pending: count("pending")?,
        dead: count("dead")?,
    })
}

pub(crate) fn delivery(row: &impl Get) -> Result<Delivery, StoreError> {
    let status = row.text("status")?;
    let count = |col: &str| -> Result<u32, StoreError> {
        let n = row.int(col)?;
        u32::try_from(n).map_err(|_| bad(col, n))
    };
    Ok(Delivery {
        id: DeliveryId::parse(&row.text("id")?).map_err(|e| bad("delivery id", e))?,
        webhook_id: WebhookId::parse(&row.text("webhook_id")?).map_err(|e| bad("webhook id", e))?,
        event_id: event_id(row.int("event_id")?)?,
        order_id: OrderId::parse(&row.text("order_id")?).map_err(|e| bad("order id", e))?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| bad("status", &status))?,
        attempts: count("attempts")?,
        failures: count("failures")?,
        next_attempt_at: instant("next_attempt_at", &row.text("next_attempt_at")?)?,
        since: instant("since", &row.text("since")?)?,
        last_error: row.opt_text("last_error")?,
        created_at: instant("created_at", &row.text("created_at")?)?,
        delivered_at: row
            .opt_text("delivered_at")?
            .map(|t| instant("delivered_at", &t))
            .transpose()?,
    })
}

/// A delivery as the values its columns take.
pub(crate) struct DeliveryRow {
    pub(crate) id: String,
    pub(crate) webhook_id: String,
    pub(crate) event_id: i64,
    pub(crate) order_id: String,
    pub(crate) status: &'static str,
    pub(crate) attempts: i64,
    pub(crate) failures: i64,
    pub(crate) next_attempt_at: String,
    pub(crate) since: String,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: String,
    pub(crate) delivered_at: Option<String>,
}

impl DeliveryRow {
    pub(crate) fn of(d: &Delivery) -> Result<Self, StoreError> {
        Ok(Self {
            id: d.id.as_str().to_owned(),
            webhook_id: d.webhook_id.as_str().to_owned(),
            event_id: crate::codec::to_i64(d.event_id.get())?,
            order_id: d.order_id.as_str().to_owned(),
            status: d.status.as_str(),
            attempts: i64::from(d.attempts),
            failures: i64::from(d.failures),
            next_attempt_at: ts(d.next_attempt_at),
            since: ts(d.since),
            last_error: d.last_error.clone(),
            created_at: ts(d.created_at),
            delivered_at: d.delivered_at.map(ts),
        })
    }

    /// The values of its columns, in order (SQLite's writes: see
    /// `outbox::batch`).
    #[cfg(feature = "sqlite")]
    pub(crate) fn columns(self) -> crate::outbox::batch::Columns {
        [
            self.id.into(),
            self.webhook_id.into(),
            self.event_id.into(),
            self.order_id.into(),
            self.status.to_owned().into(),
            self.attempts.into(),
            self.failures.into(),
            self.next_attempt_at.into(),
            self.since.into(),
            self.last_error.into(),
            self.created_at.into(),
            self.delivered_at.into(),
        ]
    }
}

/// Claimed deliveries with their events and webhooks, oldest event first;
/// a delivery whose event or webhook is missing is left out.
pub(crate) fn assemble(
    deliveries: Vec<Delivery>,
    events: Vec<orders_core::order::OrderEvent>,
    webhooks: Vec<Webhook>,
) -> Vec<orders_core::ports::ClaimedDelivery> {
    let mut claimed: Vec<_> = deliveries
        .into_iter()
        .filter_map(|delivery| {
            let event = events.iter().find(|e| e.id == delivery.event_id)?.clone();
            let webhook = webhooks
                .iter()
                .find(|w| w.id == delivery.webhook_id)?
                .clone();
            Some(orders_core::ports::ClaimedDelivery {
                delivery,
                event,
                webhook,
            })
        })
        .collect();
    claimed.sort_by_key(|c| c.event.id);
    claimed
}

/// The rooms of a claim: each webhook with deliveries in flight and the
/// room left to it, and the room of every other webhook, none more than
/// the claim's total (as the statements bind them).
pub(crate) fn rooms(limits: &ClaimLimits) -> (Vec<(&str, i64)>, i64) {
    let room = |n: usize| i64::try_from(n.min(limits.total)).unwrap_or(i64::MAX);
    let busy = limits
        .in_flight
        .iter()
        .map(|(id, _)| (id.as_str(), room(limits.room(id))))
        .collect();
    (busy, room(limits.per_webhook))
}

/// What became of each of `records`, given the ids a record statement
/// `stored` and, of the rest, those that still `exist` (their lease was
/// lost; the others are gone).
pub(crate) fn outcomes(
    records: &[orders_core::ports::AttemptRecord],
    stored: &std::collections::HashSet<String>,
    exist: &std::collections::HashSet<String>,
) -> Vec<orders_core::ports::RecordOutcome> {
    use orders_core::ports::RecordOutcome;
    records
        .iter()
        .map(|r| {
            let id = r.delivery.id.as_str();
            if stored.contains(id) {
                RecordOutcome::Recorded
            } else if exist.contains(id) {
                RecordOutcome::LeaseLost
            } else {
                RecordOutcome::Gone
            }
        })
        .collect()
}

/// Statements both backends run as written (`$n` placeholders).
pub(crate) mod sql {
    use std::sync::LazyLock;

    use super::{DELIVERY_COLUMNS, WEBHOOK_COLUMNS};

    pub(crate) static INSERT_WEBHOOK: &str = "INSERT INTO orders_webhooks (id, url, events, secret, created_at, after_event) \
         VALUES ($1, $2, $3, $4, $5, (SELECT max(id) FROM orders_order_events))";

    pub(crate) static WEBHOOK_BY_ID: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {WEBHOOK_COLUMNS} FROM orders_webhooks WHERE id = $1"));

    pub(crate) static WEBHOOKS: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {WEBHOOK_COLUMNS} FROM orders_webhooks ORDER BY seq DESC")
    });

    pub(crate) static DELETE_DELIVERIES_OF: &str =
        "DELETE FROM orders_deliveries WHERE webhook_id = $1";

    pub(crate) static DELETE_WEBHOOK: &str = "DELETE FROM orders_webhooks WHERE id = $1";

    pub(crate) static ADD_CONSUMER: &str = "INSERT INTO orders_consumers (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING";

    pub(crate) static CONSUMER_POSITION: &str =
        "SELECT position FROM orders_consumers WHERE name = $1";

    #[cfg(feature = "sqlite")]
    pub(crate) static MOVE_CONSUMER: &str =
        "UPDATE orders_consumers SET position = $2 WHERE name = $1";

    /// Events after `$1` up to `$2`, oldest first, at most `$3` (SQLite's
    /// cursor: PostgreSQL's follows transaction ids).
    #[cfg(feature = "sqlite")]
    pub(crate) static EVENTS_BETWEEN: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {} FROM orders_order_events WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3",
            crate::codec::EVENT_COLUMNS
        )
    });

    /// Whether delivery `d` is due at `$1`: pending, its time come, not
    /// leased, and the earliest pending delivery of its (webhook, order).
    /// `{fence}` ends the subquery of that last test (see
    /// [`CLAIM_POSTGRES`]).
    macro_rules! due {
        ($fence:literal) => {
            concat!(
                "d.status = 'pending' AND d.next_attempt_at <= $1 ",
                "AND (d.lease_until IS NULL OR d.lease_until <= $1) ",
                "AND d.event_id = (SELECT e.event_id FROM orders_deliveries e ",
                "WHERE e.status = 'pending' AND e.webhook_id = d.webhook_id ",
                "AND e.order_id = d.order_id ORDER BY e.event_id LIMIT 1",
                $fence,
                ")"
            )
        };
    }

    /// Claims under token `$3` until `$4` the deliveries due at `$1`,
    /// oldest event first, at most `$2` in all and, of each webhook, its
    /// room: the one `$5` (a JSON object of webhook id to room) gives it,
    /// else `$6`. Each webhook's due deliveries are numbered in event
    /// order, and those beyond its room are left (SQLite's one writer is
    /// the lock).
    #[cfg(feature = "sqlite")]
    pub(crate) static CLAIM_SQLITE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE orders_deliveries SET lease_token = $3, lease_until = $4 WHERE id IN ( \
                SELECT x.id FROM ( \
                    SELECT d.id, d.event_id, d.webhook_id, \
                           row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.event_id) AS n \
                    FROM orders_deliveries d WHERE {}) x \
                WHERE x.n <= COALESCE((SELECT r.value FROM json_each($5) r WHERE r.key = x.webhook_id), $6) \
                ORDER BY x.event_id LIMIT $2) \
             RETURNING {DELIVERY_COLUMNS}",
            due!("")
        )
    });

    /// Claims under token `$3` until `$4` the deliveries due at `$1`,
    /// oldest event first, at most `$2` in all and, of each webhook, its
    /// room: the one the arrays `$5` (webhook ids) and `$6` (rooms) give
    /// it, else `$7`. One `LATERAL` per webhook takes its oldest due
    /// deliveries up to its room, locking them `FOR UPDATE SKIP LOCKED`:
    /// concurrent claims pass over each other's rows, and one that finds a
    /// row just leased re-checks it and leaves it. The ids chosen are
    /// gathered into an array first (`= ANY (ARRAY (…))`), so the update
    /// finds each by its key: as a join, the planner (which cannot know the
    /// rooms) guessed thousands of rows and read the whole table. The test
    /// for an earlier pending delivery of the same order ends in `OFFSET
    /// 0`, which keeps it a subplan run per row with all three columns as
    /// its index condition: turned into an anti-join, on statistics taken
    /// while the table was small, it compared every row of the webhook's
    /// backlog with every other (tens of milliseconds a claim at a few
    /// thousand pending).
    #[cfg(feature = "postgres")]
    pub(crate) static CLAIM_POSTGRES: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE orders_deliveries SET lease_token = $3, lease_until = $4 WHERE id = ANY (ARRAY ( \
                SELECT x.id FROM orders_webhooks w \
                LEFT JOIN unnest($5::text[], $6::int8[]) AS r (webhook_id, room) \
                  ON r.webhook_id = w.id \
                CROSS JOIN LATERAL ( \
                    SELECT d.id, d.event_id FROM orders_deliveries d \
                    WHERE d.webhook_id = w.id AND {} \
                    ORDER BY d.event_id LIMIT COALESCE(r.room, $7) \
                    FOR UPDATE OF d SKIP LOCKED) x \
                ORDER BY x.event_id LIMIT $2)) \
             RETURNING {DELIVERY_COLUMNS}",
            due!(" OFFSET 0")
        )
    });

    /// Stores an attempt's result (`$2` to `$8`) on `$1` if token `$9`
    /// still holds its lease, and ends the lease.
    pub(crate) static RECORD_ATTEMPT: &str = "UPDATE orders_deliveries SET status = $2, attempts = $3, failures = $4, \
         next_attempt_at = $5, since = $6, last_error = $7, delivered_at = $8, \
         lease_token = NULL, lease_until = NULL \
         WHERE id = $1 AND lease_token = $9";

    pub(crate) static DELIVERY_EXISTS: &str =
        "SELECT count(*) FROM orders_deliveries WHERE id = $1";

    pub(crate) static DELIVERY_OF: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {DELIVERY_COLUMNS} FROM orders_deliveries WHERE id = $1 AND webhook_id = $2"
        )
    });

    /// Makes `$1` pending again with a new window `$2` if it is dead.
    pub(crate) static RETRY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE orders_deliveries SET status = 'pending', failures = 0, next_attempt_at = $2, \
             since = $2, lease_token = NULL, lease_until = NULL \
             WHERE id = $1 AND status = 'dead' RETURNING {DELIVERY_COLUMNS}"
        )
    });

    /// A webhook's deliveries before event `$2`, newest first, `$3` of them.
    pub(crate) static DELIVERIES_PAGE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {DELIVERY_COLUMNS} FROM orders_deliveries \
             WHERE webhook_id = $1 AND event_id < $2 ORDER BY event_id DESC LIMIT $3"
        )
    });

    /// Whether any pending delivery is due at `$1` and not leased (the
    /// SQLite worker's read before it takes the write lock).
    #[cfg(feature = "sqlite")]
    pub(crate) static ANY_DUE: &str = "SELECT EXISTS (SELECT 1 FROM orders_deliveries \
         WHERE status = 'pending' AND next_attempt_at <= $1 \
           AND (lease_until IS NULL OR lease_until <= $1))";

    pub(crate) static PENDING: &str =
        "SELECT count(*) FROM orders_deliveries WHERE status = 'pending'";

    /// Per webhook with any: its pending and its dead deliveries.
    pub(crate) static COUNTS: &str = "SELECT webhook_id, \
         sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending, \
         sum(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS dead \
         FROM orders_deliveries WHERE status IN ('pending', 'dead') \
         GROUP BY webhook_id ORDER BY webhook_id";
}

/// The delivery statements (recording an attempt under its lease,
/// retrying a dead delivery, deleting a webhook) as functions over sqlx's
/// connection type: PostgreSQL's (SQLite runs its own, in
/// `sqlite::deliveries`, on the writer's connection).
#[cfg(feature = "postgres")]
macro_rules! shared_delivery_fns {
    ($conn:ty) => {
        async fn record(
            conn: &mut $conn,
            d: &::orders_core::webhook::Delivery,
            token: &str,
        ) -> Result<(), ::orders_core::ports::StoreError> {
            let r = $crate::outbox::DeliveryRow::of(d)?;
            let done = sqlx::query($crate::outbox::sql::RECORD_ATTEMPT)
                .bind(r.id)
                .bind(r.status)
                .bind(r.attempts)
                .bind(r.failures)
                .bind(r.next_attempt_at)
                .bind(r.since)
                .bind(r.last_error)
                .bind(r.delivered_at)
                .bind(token)
                .execute(&mut *conn)
                .await
                .map_err($crate::error::any)?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
            let exists: i64 = sqlx::query_scalar($crate::outbox::sql::DELIVERY_EXISTS)
                .bind(d.id.as_str())
                .fetch_one(&mut *conn)
                .await
                .map_err($crate::error::any)?;
            Err(if exists == 0 {
                ::orders_core::ports::StoreError::NotFound
            } else {
                ::orders_core::ports::StoreError::Conflict
            })
        }

        async fn retry(
            conn: &mut $conn,
            webhook: &::orders_core::ids::WebhookId,
            delivery: &::orders_core::ids::DeliveryId,
            now: ::chrono::DateTime<::chrono::Utc>,
        ) -> Result<::orders_core::webhook::Delivery, ::orders_core::ports::StoreError> {
            let found = sqlx::query(sqlx::AssertSqlSafe(
                $crate::outbox::sql::DELIVERY_OF.as_str(),
            ))
            .bind(delivery.as_str())
            .bind(webhook.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err($crate::error::any)?;
            if found.is_none() {
                return Err(::orders_core::ports::StoreError::NotFound);
            }
            let row = sqlx::query(sqlx::AssertSqlSafe($crate::outbox::sql::RETRY.as_str()))
                .bind(delivery.as_str())
                .bind($crate::codec::ts(now))
                .fetch_optional(&mut *conn)
                .await
                .map_err($crate::error::any)?;
            row.as_ref()
                .map($crate::outbox::delivery)
                .transpose()?
                .ok_or(::orders_core::ports::StoreError::Conflict)
        }

        async fn delete(
            conn: &mut $conn,
            id: &::orders_core::ids::WebhookId,
        ) -> Result<(), ::orders_core::ports::StoreError> {
            sqlx::query($crate::outbox::sql::DELETE_DELIVERIES_OF)
                .bind(id.as_str())
                .execute(&mut *conn)
                .await
                .map_err($crate::error::any)?;
            let done = sqlx::query($crate::outbox::sql::DELETE_WEBHOOK)
                .bind(id.as_str())
                .execute(&mut *conn)
                .await
                .map_err($crate::error::any)?;
            if done.rows_affected() == 0 {
                return Err(::orders_core::ports::StoreError::NotFound);
            }
            Ok(())
        }
    };
}
#[cfg(feature = "postgres")]
pub(crate) use shared_delivery_fns;
