//! The mail store port on PostgreSQL, where several instances share the
//! work, as the webhook deliveries do (`deliveries.rs` says why each lock):
//! the fan-out moves the mailer's `(txid, id)` cursor over the events of
//! transactions below the horizon, with no lock a writer waits for, movers
//! queue on the cursor's row, and claims lock their rows `FOR UPDATE SKIP
//! LOCKED`, so two instances never hold one mail at once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::ids::{DeliveryId, OrderId};
use orders_core::mail::{MAIL_CONSUMER, Mail};
use orders_core::order::OrderEvent;
use orders_core::ports::{ClaimedMail, Lease, MailStore, StoreError};
use orders_core::webhook::DeliveryStatus;
use sqlx::PgConnection;

use super::PgStore;
use super::deliveries::{may_have_news, move_cursor, settled_events};
use crate::codec::{self, ts};
use crate::error;
use crate::mails::{self, sql};

async fn fan_out(
    conn: &mut PgConnection,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let Some(settled) = settled_events(conn, MAIL_CONSUMER, limit).await? else {
        return Ok(0);
    };
    insert_mails(conn, &settled.events, now).await?;
    move_cursor(conn, MAIL_CONSUMER, settled.last).await?;
    Ok(settled.events.len())
}

async fn claim(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease: &Lease,
    limit: usize,
) -> Result<Vec<ClaimedMail>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql::claim("FOR UPDATE SKIP LOCKED")))
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
        "SELECT {} FROM orders_order_events WHERE id = ANY($1)",
        codec::EVENT_COLUMNS
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    let events: Vec<OrderEvent> = rows.iter().map(codec::event).collect::<Result<_, _>>()?;
    Ok(mails::assemble(claimed, &events))
}

crate::mails::shared_mail_fns!(PgConnection, sqlx::Postgres);

#[async_trait]
impl MailStore for PgStore {
    async fn fan_out_mail(&self, limit: usize, now: DateTime<Utc>) -> Result<usize, StoreError> {
        if !may_have_news(&self.pool, MAIL_CONSUMER).await? {
            return Ok(0);
        }
        pg_tx!(self, "mail", |conn| async {
            Ok::<_, crate::error::Fail>(fan_out(conn, limit, now).await?)
        })
    }

    async fn claim_mails(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: usize,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        pg_tx!(self, "mail", |conn| async {
            Ok::<_, crate::error::Fail>(claim(conn, now, lease, limit).await?)
        })
    }

    async fn record_mail_attempt(&self, mail: &Mail, lease_token: &str) -> Result<(), StoreError> {
        pg_tx!(self, "mail", |conn| async {
            Ok::<_, crate::error::Fail>(record_mail(conn, mail, lease_token).await?)
        })
    }

    async fn retry_mail(&self, id: &DeliveryId, now: DateTime<Utc>) -> Result<Mail, StoreError> {
        pg_tx!(self, "mail", |conn| async {
            Ok::<_, crate::error::Fail>(retry_mail_row(conn, id, now).await?)
        })
    }

    async fn order_mails(&self, order: &OrderId) -> Result<Vec<Mail>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql::OF_ORDER.as_str()))
            .bind(order.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(error::any)?;
        rows.iter().map(mails::mail).collect()
    }

    async fn pending_mails(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql::PENDING)
            .fetch_one(&self.pool)
            .await
            .map_err(error::any)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn dead_mails(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(sql::DEAD)
            .fetch_one(&self.pool)
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
            .fetch_all(&self.pool)
            .await
            .map_err(error::any)?;
        rows.iter().map(mails::mail).collect()
    }
}
