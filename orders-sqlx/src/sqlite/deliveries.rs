//! The delivery port on SQLite. One writer at a time: event ids are
//! committed in id order, so the consumer's cursor may pass every event it
//! sees, and a claim (one `UPDATE … RETURNING` on the writer) cannot meet
//! another.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::ids::{DeliveryId, EventId, WebhookId};
use orders_core::order::OrderEvent;
use orders_core::ports::{
    AttemptRecord, ClaimLimits, ClaimedDelivery, DeliveryCounts, DeliveryStore, Lease, Page,
    PageRequest, RecordOutcome, StoreError,
};
use orders_core::webhook::{Delivery, NewWebhook, Webhook};
use rusqlite::Connection;

use super::SqliteStore;
use super::inline::Stmt;
use crate::codec::{self, ts};
use crate::error::{self, Fail};
use crate::outbox::batch::{insert_deliveries, record_batch, record_one};
use crate::outbox::{self, sql};
use crate::rows;
use crate::statements::Bind;

/// Every webhook, newest first.
fn webhooks(conn: &Connection) -> Result<Vec<Webhook>, Fail> {
    let rows = Stmt::new(sql::WEBHOOKS.as_str()).fetch_all(conn)?;
    Ok(rows.iter().map(outbox::webhook).collect::<Result<_, _>>()?)
}

/// The events after `consumer`'s position (at most `limit`) made into
/// deliveries, the position moved past them; how many events it took.
fn fan_out(
    conn: &Connection,
    consumer: &str,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<usize, Fail> {
    let events = next_events(conn, consumer, limit)?;
    let Some(last) = events.last().map(|e| e.id) else {
        return Ok(0);
    };
    let hooks = webhooks(conn)?;
    let deliveries: Vec<Delivery> = events
        .iter()
        .flat_map(|event| Delivery::plan(event, &hooks, now))
        .collect();
    insert_deliveries(conn, &deliveries)?;
    move_consumer(conn, consumer, last)?;
    Ok(events.len())
}

/// The events after `consumer`'s position, oldest first, at most
/// `limit` (the consumer is added at 0 if new).
pub(super) fn next_events(
    conn: &Connection,
    consumer: &str,
    limit: usize,
) -> Result<Vec<OrderEvent>, Fail> {
    Stmt::new(sql::ADD_CONSUMER).text(consumer).execute(conn)?;
    let position = Stmt::new(sql::CONSUMER_POSITION)
        .text(consumer)
        .fetch_optional(conn)?
        .ok_or_else(|| StoreError::Backend(format!("no consumer {consumer:?}")))?
        .first_int()?;
    let rows = Stmt::new(sql::EVENTS_BETWEEN.as_str())
        .int(position)
        .int(i64::MAX)
        .int(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(conn)?;
    Ok(rows.iter().map(codec::event).collect::<Result<_, _>>()?)
}

/// Moves `consumer`'s position to event `last`.
pub(super) fn move_consumer(conn: &Connection, consumer: &str, last: EventId) -> Result<(), Fail> {
    Stmt::new(sql::MOVE_CONSUMER)
        .text(consumer)
        .int(codec::to_i64(last.get())?)
        .execute(conn)?;
    Ok(())
}

/// The events `ids` (in any order).
pub(super) fn events_of(
    conn: &Connection,
    ids: impl Iterator<Item = EventId>,
) -> Result<Vec<OrderEvent>, Fail> {
    let ids: Vec<i64> = ids
        .map(|id| codec::to_i64(id.get()))
        .collect::<Result<_, _>>()?;
    let json = serde_json::to_string(&ids).map_err(|e| StoreError::Backend(e.to_string()))?;
    let rows = Stmt::new(EVENTS_OF.as_str()).text(&json).fetch_all(conn)?;
    Ok(rows.iter().map(codec::event).collect::<Result<_, _>>()?)
}

/// Leases the deliveries due at `now` that `limits` leave room for.
fn claim(
    conn: &Connection,
    now: DateTime<Utc>,
    lease: &Lease,
    limits: &ClaimLimits,
) -> Result<Vec<ClaimedDelivery>, Fail> {
    let (busy, room) = outbox::rooms(limits);
    let busy: serde_json::Map<String, serde_json::Value> = busy
        .into_iter()
        .map(|(id, room)| (id.to_owned(), room.into()))
        .collect();
    let busy = serde_json::Value::Object(busy).to_string();
    let rows = Stmt::new(sql::CLAIM_SQLITE.as_str())
        .text(&ts(now))
        .int(i64::try_from(limits.total).unwrap_or(i64::MAX))
        .text(&lease.token)
        .text(&ts(lease.until))
        .text(&busy)
        .int(room)
        .fetch_all(conn)?;
    let deliveries: Vec<Delivery> = rows
        .iter()
        .map(outbox::delivery)
        .collect::<Result<_, _>>()?;
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let events = events_of(conn, deliveries.iter().map(|d| d.event_id))?;
    Ok(outbox::assemble(deliveries, events, webhooks(conn)?))
}

/// The events whose ids are in the JSON array `$1`.
static EVENTS_OF: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {} FROM orders_order_events WHERE id IN (SELECT value FROM json_each($1))",
        codec::EVENT_COLUMNS
    )
});

/// Stores delivery `d`'s attempt if its lease (`token`) still holds it.
fn record(conn: &Connection, d: &Delivery, token: &str) -> Result<(), Fail> {
    let row = outbox::DeliveryRow::of(d)?.columns();
    record_one(conn, sql::RECORD_ATTEMPT, sql::DELIVERY_EXISTS, row, token)
}

/// Makes dead delivery `delivery` of `webhook` pending again.
fn retry(
    conn: &Connection,
    webhook: &WebhookId,
    delivery: &DeliveryId,
    now: DateTime<Utc>,
) -> Result<Delivery, Fail> {
    let found = Stmt::new(sql::DELIVERY_OF.as_str())
        .text(delivery.as_str())
        .text(webhook.as_str())
        .fetch_optional(conn)?;
    if found.is_none() {
        return Err(StoreError::NotFound.into());
    }
    let row = Stmt::new(sql::RETRY.as_str())
        .text(delivery.as_str())
        .text(&ts(now))
        .fetch_optional(conn)?;
    Ok(row
        .as_ref()
        .map(outbox::delivery)
        .transpose()?
        .ok_or(StoreError::Conflict)?)
}

/// Deletes webhook `id` and its deliveries.
fn delete(conn: &Connection, id: &WebhookId) -> Result<(), Fail> {
    Stmt::new(sql::DELETE_DELIVERIES_OF)
        .text(id.as_str())
        .execute(conn)?;
    let done = Stmt::new(sql::DELETE_WEBHOOK)
        .text(id.as_str())
        .execute(conn)?;
    if done == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(())
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn insert_webhook(&self, new: &NewWebhook) -> Result<Webhook, StoreError> {
        let events = outbox::events_text(&new.events);
        self.batcher
            .several("webhook", (new.clone(), events), |conn, (new, events)| {
                Stmt::new(sql::INSERT_WEBHOOK)
                    .text(new.id.as_str())
                    .text(new.url.as_str())
                    .text(events)
                    .text(new.secret.expose())
                    .text(&ts(new.created_at))
                    .execute(conn)?;
                let row = Stmt::new(sql::WEBHOOK_BY_ID.as_str())
                    .text(new.id.as_str())
                    .fetch_optional(conn)?
                    .ok_or_else(|| StoreError::Backend("the webhook vanished".into()))?;
                Ok(outbox::webhook(&row)?)
            })
            .await
    }

    async fn webhook(&self, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(sql::WEBHOOK_BY_ID.as_str()))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(error::any)?;
        row.as_ref().map(outbox::webhook).transpose()
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql::WEBHOOKS.as_str()))
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        rows.iter().map(outbox::webhook).collect()
    }

    async fn delete_webhook(&self, id: &WebhookId) -> Result<(), StoreError> {
        self.batcher.several("webhook", id.clone(), delete).await
    }

    async fn fan_out(
        &self,
        consumer: &str,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        // A read first: an idle worker never takes the file's write lock.
        let position: Option<i64> = sqlx::query_scalar(sql::CONSUMER_POSITION)
            .bind(consumer)
            .fetch_optional(&self.reader)
            .await
            .map_err(error::any)?;
        let last: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM orders_order_events")
            .fetch_one(&self.reader)
            .await
            .map_err(error::any)?;
        if last.is_none_or(|last| last <= position.unwrap_or(0)) {
            return Ok(0);
        }
        self.batcher
            .several(
                "delivery",
                (consumer.to_owned(), limit, now),
                |conn, (consumer, limit, now)| fan_out(conn, consumer, *limit, *now),
            )
            .await
    }

    async fn consumer_position(&self, consumer: &str) -> Result<Option<EventId>, StoreError> {
        let position: Option<i64> = sqlx::query_scalar(sql::CONSUMER_POSITION)
            .bind(consumer)
            .fetch_optional(&self.reader)
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
        // A read first: with nothing due, no write lock.
        let due: bool = sqlx::query_scalar(sql::ANY_DUE)
            .bind(ts(now))
            .fetch_one(&self.reader)
            .await
            .map_err(error::any)?;
        if !due {
            return Ok(Vec::new());
        }
        self.batcher
            .several(
                "delivery",
                (now, lease.clone(), limits.clone()),
                |conn, (now, lease, limits)| claim(conn, *now, lease, limits),
            )
            .await
    }

    async fn record_attempt(
        &self,
        delivery: &Delivery,
        lease_token: &str,
    ) -> Result<(), StoreError> {
        self.batcher
            .several(
                "delivery",
                (delivery.clone(), lease_token.to_owned()),
                |conn, (delivery, lease_token)| record(conn, delivery, lease_token),
            )
            .await
    }

    async fn record_attempts(
        &self,
        records: &[AttemptRecord],
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.batcher
            .several("delivery", records.to_vec(), |conn, records| {
                record_batch(conn, records)
            })
            .await
    }

    async fn retry_delivery(
        &self,
        webhook: &WebhookId,
        delivery: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError> {
        self.batcher
            .several(
                "delivery",
                (webhook.clone(), delivery.clone(), now),
                |conn, (webhook, delivery, now)| retry(conn, webhook, delivery, *now),
            )
            .await
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
            .fetch_all(&self.reader)
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
            .fetch_one(&self.reader)
            .await
            .map_err(error::any)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delivery_counts(&self) -> Result<Vec<DeliveryCounts>, StoreError> {
        let rows = sqlx::query(sql::COUNTS)
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        rows.iter().map(outbox::counts).collect()
    }
}
