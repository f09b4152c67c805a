//! The delivery port on PostgreSQL, where several instances share the work.
//!
//! - Event ids come from a sequence, and a transaction that took a smaller
//!   id may commit after one that took a larger: a cursor moved to the
//!   largest visible id would pass the smaller one for good. So a
//!   consumer's cursor is `(txid, id)`: the writing transaction of the
//!   last event passed (each event records it, `pg_current_xact_id()`),
//!   then its id, and the fan-out passes only events whose transaction is
//!   older than every transaction still running in this database (like
//!   `pg_snapshot_xmin(pg_current_snapshot())`, but a transaction of
//!   another database of the cluster does not count: see `HORIZON`).
//!   Those transactions are all finished, so no event can still appear
//!   behind the cursor; and the fan-out takes no lock a writer waits for
//!   (a table lock to find a settled id would queue every checkout behind
//!   it while it waited for the writers). The price: a transaction of
//!   this database that stays open (with an id: it has written) holds
//!   the fan-out back, not the checkouts, until it ends. With no webhook
//!   the cursor passes every settled event at once: a webhook made later
//!   starts after them.
//!   The mailer's cursor ([`super::mails`]) moves the same way
//!   ([`settled_events`]). A read on the pool comes first
//!   ([`may_have_news`]): a consumer already past the newest event opens
//!   no transaction.
//! - Movers of one consumer queue on its row (`FOR UPDATE`); a webhook is
//!   read `FOR SHARE`, so one deleted meanwhile waits for the fan-out.
//! - The deliveries of a fan-out go in with one `INSERT`, and many
//!   finished attempts with one `UPDATE`, each binding one array a column
//!   ([`super::delivery_arrays`]).
//! - A claim is one statement (`sql::CLAIM_POSTGRES`): per webhook, its
//!   oldest due deliveries up to its room, locked `FOR UPDATE SKIP
//!   LOCKED`: concurrent claims pass over each other's rows, and one that
//!   finds a row just leased re-checks it and leaves it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::ids::{DeliveryId, EventId, WebhookId};
use orders_core::order::OrderEvent;
use orders_core::ports::{
    AttemptRecord, ClaimLimits, ClaimedDelivery, DeliveryCounts, DeliveryStore, Lease, Page,
    PageRequest, RecordOutcome, StoreError,
};
use orders_core::webhook::{Delivery, NewWebhook, Webhook};
use sqlx::{PgConnection, Row};

use super::PgStore;
use super::delivery_arrays::{insert_deliveries, record_batch};
use crate::codec::{self, ts};
use crate::error;
use crate::outbox::{self, sql};
use crate::rows;

async fn webhooks(conn: &mut PgConnection) -> Result<Vec<Webhook>, StoreError> {
    webhooks_locked(conn, "").await
}

/// The webhooks, their rows locked with `lock`.
async fn webhooks_locked(conn: &mut PgConnection, lock: &str) -> Result<Vec<Webhook>, StoreError> {
    let sql = format!("{} {lock}", sql::WEBHOOKS.as_str());
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    rows.iter().map(outbox::webhook).collect()
}

/// The horizon: every event of a transaction below it is committed (or
/// rolled back) and visible to the statements that follow, and none can
/// still appear. It is the least of the next transaction id of this
/// statement's snapshot and the transactions now running in this
/// database (`pg_stat_activity`, with prepared ones): a transaction of
/// another database cannot write our tables, so it does not hold the
/// fan-out back. `backend_xid` is 32 bits; it is widened against the
/// snapshot's (64-bit) next id, from which a running id is never more
/// than 2^31 away. Read in a statement of its own, before the events: a
/// transaction that ends between the two is then visible to the second.
const HORIZON: &str = "WITH s AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next), \
     running AS ( \
       SELECT backend_xid AS x FROM pg_stat_activity \
        WHERE datname = current_database() AND pid <> pg_backend_pid() \
          AND backend_xid IS NOT NULL \
       UNION ALL \
       SELECT transaction FROM pg_prepared_xacts WHERE database = current_database()) \
     SELECT LEAST(s.next, min(s.next - (((s.next % 4294967296) - r.x::text::bigint \
                                        + 4294967296) % 4294967296))) \
     FROM s LEFT JOIN running r ON true GROUP BY s.next";

/// The events after the cursor `(txid, id)` (`$1`, `$2`), in that order,
/// at most `$3`, of transactions below the horizon `$4`, with their `txid`.
static EVENTS_SETTLED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {}, txid FROM orders_order_events \
         WHERE (txid, id) > ($1, $2) AND txid < $4 \
         ORDER BY txid, id LIMIT $3",
        codec::EVENT_COLUMNS
    )
});

/// The last event of transactions below the horizon `$1`.
const LAST_SETTLED: &str = "SELECT txid, id FROM orders_order_events \
     WHERE txid < $1 ORDER BY txid DESC, id DESC LIMIT 1";

const CONSUMER_CURSOR: &str =
    "SELECT position, position_txid FROM orders_consumers WHERE name = $1 FOR UPDATE";

const MOVE_CURSOR: &str =
    "UPDATE orders_consumers SET position = $2, position_txid = $3 WHERE name = $1";

pub(super) async fn move_cursor(
    conn: &mut PgConnection,
    consumer: &str,
    (txid, id): (i64, i64),
) -> Result<(), StoreError> {
    sqlx::query(MOVE_CURSOR)
        .bind(consumer)
        .bind(id)
        .bind(txid)
        .execute(&mut *conn)
        .await
        .map_err(error::any)?;
    Ok(())
}

/// The settled events after a consumer's cursor, read by
/// [`settled_events`] with the cursor's row locked.
pub(super) struct Settled {
    /// The events, in cursor order (`txid`, then id).
    pub(super) events: Vec<OrderEvent>,
    /// The cursor's place after the last of them.
    pub(super) last: (i64, i64),
    /// The horizon they were read below.
    pub(super) horizon: i64,
}

/// Up to `limit` events after the cursor of `consumer` (made at the
/// beginning of the log if new), of transactions below the horizon, with
/// the cursor's row locked `FOR UPDATE` until the transaction ends (movers
/// of one consumer queue there); `None` when there is none.
pub(super) async fn settled_events(
    conn: &mut PgConnection,
    consumer: &str,
    limit: usize,
) -> Result<Option<Settled>, StoreError> {
    sqlx::query(sql::ADD_CONSUMER)
        .bind(consumer)
        .execute(&mut *conn)
        .await
        .map_err(error::any)?;
    let (position, position_txid): (i64, i64) = sqlx::query_as(CONSUMER_CURSOR)
        .bind(consumer)
        .fetch_one(&mut *conn)
        .await
        .map_err(error::any)?;
    let horizon: i64 = sqlx::query_scalar(HORIZON)
        .fetch_one(&mut *conn)
        .await
        .map_err(error::any)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(EVENTS_SETTLED.as_str()))
        .bind(position_txid)
        .bind(position)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(horizon)
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    let Some(last_row) = rows.last() else {
        return Ok(None);
    };
    let last: (i64, i64) = (
        last_row.try_get("txid").map_err(error::any)?,
        last_row.try_get("id").map_err(error::any)?,
    );
    let events = rows.iter().map(codec::event).collect::<Result<_, _>>()?;
    Ok(Some(Settled {
        events,
        last,
        horizon,
    }))
}

/// The newest event of the log in cursor order, and where `consumer`'s
/// cursor stands.
const CURSOR_AND_NEWEST: &str = "SELECT \
     (SELECT position_txid FROM orders_consumers WHERE name = $1) AS position_txid, \
     (SELECT position FROM orders_consumers WHERE name = $1) AS position, \
     newest.txid, newest.id \
     FROM (SELECT txid, id FROM orders_order_events ORDER BY txid DESC, id DESC LIMIT 1) newest";

/// Whether the log may hold an event `consumer`'s cursor has not passed:
/// a read on the pool, so that an idle worker opens no transaction and
/// locks no row.
pub(super) async fn may_have_news(pool: &sqlx::PgPool, consumer: &str) -> Result<bool, StoreError> {
    let row: Option<(Option<i64>, Option<i64>, i64, i64)> = sqlx::query_as(CURSOR_AND_NEWEST)
        .bind(consumer)
        .fetch_optional(pool)
        .await
        .map_err(error::any)?;
    Ok(match row {
        // An empty log.
        None => false,
        Some((Some(txid), Some(id), newest_txid, newest_id)) => {
            (newest_txid, newest_id) > (txid, id)
        }
        Some(_) => true,
    })
}

async fn fan_out(
    conn: &mut PgConnection,
    consumer: &str,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let Some(Settled {
        events,
        last,
        horizon,
    }) = settled_events(conn, consumer, limit).await?
    else {
        return Ok(0);
    };
    let hooks = webhooks_locked(conn, "FOR SHARE").await?;
    if hooks.is_empty() {
        // None to record: pass every settled event at once (a webhook
        // made later starts after the last event committed then).
        let settled: Option<(i64, i64)> = sqlx::query_as(LAST_SETTLED)
            .bind(horizon)
            .fetch_optional(&mut *conn)
            .await
            .map_err(error::any)?;
        move_cursor(conn, consumer, settled.map_or(last, |s| s.max(last))).await?;
        return Ok(events.len());
    }
    let deliveries: Vec<Delivery> = events
        .iter()
        .flat_map(|event| Delivery::plan(event, &hooks, now))
        .collect();
    insert_deliveries(conn, &deliveries).await?;
    move_cursor(conn, consumer, last).await?;
    Ok(events.len())
}

/// Claims as [`DeliveryStore::claim_deliveries`] says, without a
/// transaction of its own: the claim is one statement, and what follows
/// reads what does not change (events) or what a claim need not hold
/// still (a webhook deleted meanwhile takes its deliveries with it, and
/// its claimed ones are left out).
async fn claim(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease: &Lease,
    limits: &ClaimLimits,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let (busy, room) = outbox::rooms(limits);
    let (ids, rooms): (Vec<&str>, Vec<i64>) = busy.into_iter().unzip();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql::CLAIM_POSTGRES.as_str()))
        .bind(ts(now))
        .bind(i64::try_from(limits.total).unwrap_or(i64::MAX))
        .bind(&lease.token)
        .bind(ts(lease.until))
        .bind(ids)
        .bind(rooms)
        .bind(room)
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    let deliveries: Vec<Delivery> = rows
        .iter()
        .map(outbox::delivery)
        .collect::<Result<_, _>>()?;
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = deliveries
        .iter()
        .map(|d| codec::to_i64(d.event_id.get()))
        .collect::<Result<_, _>>()?;
    let sql = format!(
        "SELECT {} FROM orders_order_events WHERE id = ANY($1)",
        codec::EVENT_COLUMNS
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    let events = rows.iter().map(codec::event).collect::<Result<_, _>>()?;
    Ok(outbox::assemble(deliveries, events, webhooks(conn).await?))
}

crate::outbox::shared_delivery_fns!(PgConnection);

#[async_trait]
impl DeliveryStore for PgStore {
    async fn insert_webhook(&self, new: &NewWebhook) -> Result<Webhook, StoreError> {
        let events = outbox::events_text(&new.events);
        pg_tx!(self, "webhook", |conn| async {
            sqlx::query(sql::INSERT_WEBHOOK)
                .bind(new.id.as_str())
                .bind(new.url.as_str())
                .bind(&events)
                .bind(new.secret.expose())
                .bind(ts(new.created_at))
                .execute(&mut *conn)
                .await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(sql::WEBHOOK_BY_ID.as_str()))
                .bind(new.id.as_str())
                .fetch_one(&mut *conn)
                .await?;
            Ok::<_, crate::error::Fail>(outbox::webhook(&row)?)
        })
    }

    async fn webhook(&self, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(sql::WEBHOOK_BY_ID.as_str()))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(error::any)?;
        row.as_ref().map(outbox::webhook).transpose()
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(error::any)?;
        webhooks(&mut conn).await
    }

    async fn delete_webhook(&self, id: &WebhookId) -> Result<(), StoreError> {
        pg_tx!(self, "webhook", |conn| async {
            Ok::<_, crate::error::Fail>(delete(conn, id).await?)
        })
    }

    async fn fan_out(
        &self,
        consumer: &str,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        if !may_have_news(&self.pool, consumer).await? {
            return Ok(0);
        }
        pg_tx!(self, "delivery", |conn| async {
            Ok::<_, crate::error::Fail>(fan_out(conn, consumer, limit, now).await?)
        })
    }

    async fn consumer_position(&self, consumer: &str) -> Result<Option<EventId>, StoreError> {
        let position: Option<i64> = sqlx::query_scalar(sql::CONSUMER_POSITION)
            .bind(consumer)
            .fetch_optional(&self.pool)
            .await
            .map_err(error::any)?;
        Ok(position
            .and_then(|p| u64::try_from(p).ok())
            .filter(|p| *p > 0)
            .map(EventId::new))
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limits: &ClaimLimits,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        if limits.total == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.acquire().await.map_err(error::any)?;
        claim(&mut conn, now, lease, limits).await
    }

    async fn record_attempt(
        &self,
        delivery: &Delivery,
        lease_token: &str,
    ) -> Result<(), StoreError> {
        pg_tx!(self, "delivery", |conn| async {
            Ok::<_, crate::error::Fail>(record(conn, delivery, lease_token).await?)
        })
    }

    async fn record_attempts(
        &self,
        records: &[AttemptRecord],
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        pg_tx!(self, "delivery", |conn| async {
            Ok::<_, crate::error::Fail>(record_batch(conn, records).await?)
        })
    }

    async fn retry_delivery(
        &self,
        webhook: &WebhookId,
        delivery: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError> {
        pg_tx!(self, "delivery", |conn| async {
            Ok::<_, crate::error::Fail>(retry(conn, webhook, delivery, now).await?)
        })
    }

    async fn deliveries(
        &self,
        webhook: &WebhookId,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let before = codec::cursor_position(page.cursor.as_ref())?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql::DELIVERIES_PAGE.as_str()))
            .bind(webhook.as_str())
            .bind(before)
            .bind(limit as i64 + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(error::any)?;
        let (rows, next_cursor) = rows::page_cut(rows, limit, "event_id")?;
        let items = rows
            .iter()
            .map(outbox::delivery)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn pending_deliveries(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql::PENDING)
            .fetch_one(&self.pool)
            .await
            .map_err(error::any)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delivery_counts(&self) -> Result<Vec<DeliveryCounts>, StoreError> {
        let rows = sqlx::query(sql::COUNTS)
            .fetch_all(&self.pool)
            .await
            .map_err(error::any)?;
        rows.iter().map(outbox::counts).collect()
    }
}
