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
use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::codec::{self, ts};
use crate::error;
use crate::outbox::batch::{insert_deliveries, record_batch};
use crate::outbox::{self, sql};
use crate::rows;

async fn webhooks(conn: &mut SqliteConnection) -> Result<Vec<Webhook>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql::WEBHOOKS.as_str()))
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    rows.iter().map(outbox::webhook).collect()
}

async fn fan_out(
    conn: &mut SqliteConnection,
    consumer: &str,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    sqlx::query(sql::ADD_CONSUMER)
        .bind(consumer)
        .execute(&mut *conn)
        .await
        .map_err(error::any)?;
    let position: i64 = sqlx::query_scalar(sql::CONSUMER_POSITION)
        .bind(consumer)
        .fetch_one(&mut *conn)
        .await
        .map_err(error::any)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql::EVENTS_BETWEEN.as_str()))
        .bind(position)
        .bind(i64::MAX)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    let events: Vec<OrderEvent> = rows.iter().map(codec::event).collect::<Result<_, _>>()?;
    let Some(last) = events.last().map(|e| e.id) else {
        return Ok(0);
    };
    let hooks = webhooks(conn).await?;
    let deliveries: Vec<Delivery> = events
        .iter()
        .flat_map(|event| Delivery::plan(event, &hooks, now))
        .collect();
    insert_deliveries(conn, &deliveries).await?;
    sqlx::query(sql::MOVE_CONSUMER)
        .bind(consumer)
        .bind(codec::to_i64(last.get())?)
        .execute(&mut *conn)
        .await
        .map_err(error::any)?;
    Ok(events.len())
}

async fn claim(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
    lease: &Lease,
    limits: &ClaimLimits,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let (busy, room) = outbox::rooms(limits);
    let busy: serde_json::Map<String, serde_json::Value> = busy
        .into_iter()
        .map(|(id, room)| (id.to_owned(), room.into()))
        .collect();
    let busy = serde_json::Value::Object(busy).to_string();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql::CLAIM_SQLITE.as_str()))
        .bind(ts(now))
        .bind(i64::try_from(limits.total).unwrap_or(i64::MAX))
        .bind(&lease.token)
        .bind(ts(lease.until))
        .bind(busy)
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
        "SELECT {} FROM orders_order_events WHERE id IN (SELECT value FROM json_each($1))",
        codec::EVENT_COLUMNS
    );
    let json = serde_json::to_string(&ids).map_err(|e| StoreError::Backend(e.to_string()))?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(json)
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    let events = rows.iter().map(codec::event).collect::<Result<_, _>>()?;
    Ok(outbox::assemble(deliveries, events, webhooks(conn).await?))
}

crate::outbox::shared_delivery_fns!(SqliteConnection);

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn insert_webhook(&self, new: &NewWebhook) -> Result<Webhook, StoreError> {
        let events = outbox::events_text(&new.events);
        self.batcher
            .several("webhook", (new.clone(), events), |conn, (new, events)| {
                Box::pin(async move {
                    sqlx::query(sql::INSERT_WEBHOOK)
                        .bind(new.id.as_str())
                        .bind(new.url.as_str())
                        .bind(events.as_str())
                        .bind(new.secret.expose())
                        .bind(ts(new.created_at))
                        .execute(&mut *conn)
                        .await?;
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql::WEBHOOK_BY_ID.as_str()))
                        .bind(new.id.as_str())
                        .fetch_one(&mut *conn)
                        .await?;
                    Ok(outbox::webhook(&row)?)
                })
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
        let mut conn = self.reader.acquire().await.map_err(error::any)?;
        webhooks(&mut conn).await
    }

    async fn delete_webhook(&self, id: &WebhookId) -> Result<(), StoreError> {
        self.batcher
            .several("webhook", id.clone(), |conn, id| {
                Box::pin(async move { Ok(delete(conn, id).await?) })
            })
            .await
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
                |conn, (consumer, limit, now)| {
                    Box::pin(async move { Ok(fan_out(conn, consumer, *limit, *now).await?) })
                },
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
                |conn, (now, lease, limits)| {
                    Box::pin(async move { Ok(claim(conn, *now, lease, limits).await?) })
                },
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
                |conn, (delivery, lease_token)| {
                    Box::pin(async move { Ok(record(conn, delivery, lease_token).await?) })
                },
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
                Box::pin(async move { Ok(record_batch(conn, records).await?) })
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
                |conn, (webhook, delivery, now)| {
                    Box::pin(async move { Ok(retry(conn, webhook, delivery, *now).await?) })
                },
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
