//! The mail store port on SQLite. One writer at a time: event ids are
//! committed in id order, so the mailer's cursor may pass every event it
//! sees, and a claim (one `UPDATE … RETURNING` on the writer) cannot meet
//! another.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::ids::{DeliveryId, OrderId};
use orders_core::mail::{MAIL_CONSUMER, Mail};
use orders_core::order::OrderEvent;
use orders_core::ports::{ClaimedMail, Lease, MailStore, StoreError};
use orders_core::webhook::DeliveryStatus;
use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::codec::{self, ts};
use crate::error;
use crate::mails::{self, sql};
use crate::outbox::sql as cursor;

async fn fan_out(
    conn: &mut SqliteConnection,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    sqlx::query(cursor::ADD_CONSUMER)
        .bind(MAIL_CONSUMER)
        .execute(&mut *conn)
        .await
        .map_err(error::any)?;
    let position: i64 = sqlx::query_scalar(cursor::CONSUMER_POSITION)
        .bind(MAIL_CONSUMER)
        .fetch_one(&mut *conn)
        .await
        .map_err(error::any)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(cursor::EVENTS_BETWEEN.as_str()))
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
    insert_mails(conn, &events, now).await?;
    sqlx::query(cursor::MOVE_CONSUMER)
        .bind(MAIL_CONSUMER)
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
    limit: usize,
) -> Result<Vec<ClaimedMail>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql::claim("")))
        .bind(ts(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(&lease.token)
        .bind(ts(lease.until))
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    let claimed: Vec<Mail> = rows.iter().map(mails::mail).collect::<Result<_, _>>()?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = claimed
        .iter()
        .map(|m| codec::to_i64(m.event_id.get()))
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
    let events: Vec<OrderEvent> = rows.iter().map(codec::event).collect::<Result<_, _>>()?;
    Ok(mails::assemble(claimed, &events))
}

crate::mails::shared_mail_fns!(SqliteConnection, sqlx::Sqlite);

#[async_trait]
impl MailStore for SqliteStore {
    async fn fan_out_mail(&self, limit: usize, now: DateTime<Utc>) -> Result<usize, StoreError> {
        // A read first: an idle worker never takes the file's write lock.
        let position: Option<i64> = sqlx::query_scalar(cursor::CONSUMER_POSITION)
            .bind(MAIL_CONSUMER)
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
            .several("mail", (limit, now), |conn, (limit, now)| {
                Box::pin(async move { Ok(fan_out(conn, *limit, *now).await?) })
            })
            .await
    }

    async fn claim_mails(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: usize,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        // A read first: with nothing due, no write lock.
        let due: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM orders_mails WHERE status = 'pending' \
             AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1))",
        )
        .bind(ts(now))
        .fetch_one(&self.reader)
        .await
        .map_err(error::any)?;
        if !due {
            return Ok(Vec::new());
        }
        self.batcher
            .several(
                "mail",
                (now, lease.clone(), limit),
                |conn, (now, lease, limit)| {
                    Box::pin(async move { Ok(claim(conn, *now, lease, *limit).await?) })
                },
            )
            .await
    }

    async fn record_mail_attempt(&self, mail: &Mail, lease_token: &str) -> Result<(), StoreError> {
        self.batcher
            .several(
                "mail",
                (mail.clone(), lease_token.to_owned()),
                |conn, (mail, lease_token)| {
                    Box::pin(async move { Ok(record_mail(conn, mail, lease_token).await?) })
                },
            )
            .await
    }

    async fn retry_mail(&self, id: &DeliveryId, now: DateTime<Utc>) -> Result<Mail, StoreError> {
        self.batcher
            .several("mail", (id.clone(), now), |conn, (id, now)| {
                Box::pin(async move { Ok(retry_mail_row(conn, id, *now).await?) })
            })
            .await
    }

    async fn order_mails(&self, order: &OrderId) -> Result<Vec<Mail>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql::OF_ORDER.as_str()))
            .bind(order.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        rows.iter().map(mails::mail).collect()
    }

    async fn pending_mails(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql::PENDING)
            .fetch_one(&self.reader)
            .await
            .map_err(error::any)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn dead_mails(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql::DEAD)
            .fetch_one(&self.reader)
            .await
            .map_err(error::any)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn mails_in_status(
        &self,
        status: DeliveryStatus,
        limit: usize,
    ) -> Result<Vec<Mail>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql::IN_STATUS.as_str()))
            .bind(status.as_str())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        rows.iter().map(mails::mail).collect()
    }
}
