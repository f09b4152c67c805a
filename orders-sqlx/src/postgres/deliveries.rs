//! The delivery port on PostgreSQL, where several instances share the work.
//!
//! - Event ids come from a sequence, and a transaction that took a smaller
//!   id may commit after one that took a larger: a cursor moved to the
//!   largest visible id would pass the smaller one for good. So the
//!   fan-out first finds a horizon: under `LOCK TABLE orders_order_events
//!   IN SHARE MODE` (which waits for every transaction writing events and
//!   holds new writers back for one index read) the largest committed id,
//!   below which no id can still appear. The lock is taken only when the
//!   log has moved past the cursor and some webhook exists, held for that
//!   one read, and waited for at most 100 ms (writers queue behind a
//!   waiting lock; the next round tries again). With no webhook the
//!   cursor passes every visible event at once: a webhook made later
//!   starts after them.
//! - Movers of one consumer queue on its row (`FOR UPDATE`); a webhook is
//!   read `FOR SHARE`, so one deleted meanwhile waits for the fan-out.
//! - A claim locks its rows `FOR UPDATE SKIP LOCKED`: concurrent claims
//!   pass over each other's rows, and one that finds a row just leased
//!   re-checks it and leaves it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::ids::{DeliveryId, EventId, WebhookId};
use orders_core::order::OrderEvent;
use orders_core::ports::{ClaimedDelivery, DeliveryStore, Lease, Page, PageRequest, StoreError};
use orders_core::webhook::{Delivery, NewWebhook, Webhook};
use sqlx::PgConnection;

use super::PgStore;
use crate::codec::{self, ts};
use crate::error;
use crate::outbox::{self, DeliveryRow, sql};
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

async fn insert_delivery(conn: &mut PgConnection, d: &Delivery) -> Result<(), StoreError> {
    let r = DeliveryRow::of(d)?;
    sqlx::query(sqlx::AssertSqlSafe(sql::INSERT_DELIVERY.as_str()))
        .bind(r.id)
        .bind(r.webhook_id)
        .bind(r.event_id)
        .bind(r.order_id)
        .bind(r.status)
        .bind(r.attempts)
        .bind(r.failures)
        .bind(r.next_attempt_at)
        .bind(r.since)
        .bind(r.last_error)
        .bind(r.created_at)
        .bind(r.delivered_at)
        .execute(&mut *conn)
        .await
        .map_err(error::any)?;
    Ok(())
}

/// The largest event id below which no event can still be committed, if
/// the log has moved past `position`; see the module docs.
async fn horizon(conn: &mut PgConnection, position: i64) -> Result<Option<i64>, StoreError> {
    let last: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM orders_order_events")
        .fetch_one(&mut *conn)
        .await
        .map_err(error::any)?;
    let Some(last) = last.filter(|last| *last > position) else {
        return Ok(None);
    };
    let any_webhook: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM orders_webhooks)")
        .fetch_one(&mut *conn)
        .await
        .map_err(error::any)?;
    if !any_webhook {
        // Nothing wants these events, nor can a webhook made later (it
        // starts after the last id visible then): no need to wait.
        return Ok(Some(last));
    }
    settled_horizon(conn).await
}

/// The largest event id below which no event can still be committed, read
/// under a brief `SHARE` lock on the log; `None` when writers held it past
/// the 100 ms wait (the next round tries again). Also the mailer's.
pub(super) async fn settled_horizon(conn: &mut PgConnection) -> Result<Option<i64>, StoreError> {
    // Writers queue behind a waiting SHARE lock: wait briefly, or try
    // again next round, so a slow writer never holds checkouts up.
    sqlx::query("SET LOCAL lock_timeout = '100ms'")
        .execute(&mut *conn)
        .await
        .map_err(error::any)?;
    let locked = sqlx::query("LOCK TABLE orders_order_events IN SHARE MODE")
        .execute(&mut *conn)
        .await;
    match locked {
        Ok(_) => {}
        // lock_not_available: the writers are still at it.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
            return Ok(None);
        }
        Err(e) => return Err(error::any(e)),
    }
    let settled: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM orders_order_events")
        .fetch_one(&mut *conn)
        .await
        .map_err(error::any)?;
    Ok(settled)
}

async fn fan_out(
    conn: &mut PgConnection,
    consumer: &str,
    limit: usize,
    now: DateTime<Utc>,
    horizon: i64,
) -> Result<usize, StoreError> {
    sqlx::query(sql::ADD_CONSUMER)
        .bind(consumer)
        .execute(&mut *conn)
        .await
        .map_err(error::any)?;
    let locked = format!("{} FOR UPDATE", sql::CONSUMER_POSITION);
    let position: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(locked))
        .bind(consumer)
        .fetch_one(&mut *conn)
        .await
        .map_err(error::any)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql::EVENTS_BETWEEN.as_str()))
        .bind(position)
        .bind(horizon)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    let events: Vec<OrderEvent> = rows.iter().map(codec::event).collect::<Result<_, _>>()?;
    let Some(last) = events.last().map(|e| e.id) else {
        return Ok(0);
    };
    let hooks = webhooks_locked(conn, "FOR SHARE").await?;
    if hooks.is_empty() {
        // None to record: pass every event up to the horizon at once.
        sqlx::query(sql::MOVE_CONSUMER)
            .bind(consumer)
            .bind(horizon)
            .execute(&mut *conn)
            .await
            .map_err(error::any)?;
        return Ok(usize::try_from(horizon - position).unwrap_or(0));
    }
    for event in &events {
        for delivery in Delivery::plan(event, &hooks, now) {
            insert_delivery(conn, &delivery).await?;
        }
    }
    sqlx::query(sql::MOVE_CONSUMER)
        .bind(consumer)
        .bind(codec::to_i64(last.get())?)
        .execute(&mut *conn)
        .await
        .map_err(error::any)?;
    Ok(events.len())
}

async fn claim(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease: &Lease,
    limit: usize,
    skip: &[WebhookId],
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let skip: Vec<&str> = skip.iter().map(WebhookId::as_str).collect();
    let sql = sql::claim("d.webhook_id = ANY($5)", "FOR UPDATE SKIP LOCKED");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ts(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(&lease.token)
        .bind(ts(lease.until))
        .bind(skip)
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
        let position: Option<i64> = sqlx::query_scalar(sql::CONSUMER_POSITION)
            .bind(consumer)
            .fetch_optional(&self.pool)
            .await
            .map_err(error::any)?;
        let horizon = pg_tx!(self, "delivery", |conn| async {
            Ok::<_, crate::error::Fail>(horizon(conn, position.unwrap_or(0)).await?)
        })?;
        let Some(horizon) = horizon else {
            return Ok(0);
        };
        pg_tx!(self, "delivery", |conn| async {
            Ok::<_, crate::error::Fail>(fan_out(conn, consumer, limit, now, horizon).await?)
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
        limit: usize,
        skip: &[WebhookId],
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        pg_tx!(self, "delivery", |conn| async {
            Ok::<_, crate::error::Fail>(claim(conn, now, lease, limit, skip).await?)
        })
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
}
